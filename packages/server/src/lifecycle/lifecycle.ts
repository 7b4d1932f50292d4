/** RUNNING -> DRAINING -> CLOSED. */
export type LifecycleState = 'running' | 'draining' | 'closed';

export class Lifecycle {
  private current: LifecycleState = 'running';
  private readonly listeners = new Set<(state: LifecycleState) => void>();

  get state(): LifecycleState {
    return this.current;
  }

  get accepting(): boolean {
    return this.current === 'running';
  }

  set(next: LifecycleState): void {
    if (next === this.current) return;
    this.current = next;
    for (const l of this.listeners) l(next);
  }

  onChange(listener: (state: LifecycleState) => void): void {
    this.listeners.add(listener);
  }
}
