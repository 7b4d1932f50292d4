/** Removes the listener it was returned for (calling it again does nothing). */
export type Unsubscribe = () => void;

/** A map of event names to listener signatures. */
export type EventMap<E> = { [K in keyof E]: (...args: never[]) => void };

/** The `emit` of an emitter of `E`, for the parts that report through it. */
export type Emit<E extends EventMap<E>> = <K extends keyof E>(event: K, ...args: Parameters<E[K]>) => boolean;

interface Registration {
  fn: (...args: unknown[]) => void;
  original: unknown;
  once: boolean;
}

/** A minimal typed event emitter that works the same in browsers and Node. */
export class TypedEmitter<E extends EventMap<E>> {
  private readonly registry = new Map<keyof E, Registration[]>();

  /** Calls `listener` for every `event`; returns the function that removes it. */
  on<K extends keyof E>(event: K, listener: E[K]): Unsubscribe {
    return this.add(event, listener, false);
  }

  /** Calls `listener` for the next `event` only; returns the function that removes it before then. */
  once<K extends keyof E>(event: K, listener: E[K]): Unsubscribe {
    return this.add(event, listener, true);
  }

  /** Removes `listener` from `event`, or every listener of `event` when none is given. */
  off<K extends keyof E>(event: K, listener?: E[K]): this {
    if (listener === undefined) {
      this.registry.delete(event);
      return this;
    }
    const list = this.registry.get(event);
    if (!list) return this;
    const i = list.findIndex((r) => r.original === listener);
    if (i >= 0) list.splice(i, 1);
    if (list.length === 0) this.registry.delete(event);
    return this;
  }

  listenerCount<K extends keyof E>(event: K): number {
    return this.registry.get(event)?.length ?? 0;
  }

  /**
   * Calls the listeners of `event` in registration order. A listener that throws does not stop the
   * others nor the client: its error is rethrown asynchronously (an uncaught error, as for a timer callback).
   */
  protected emit<K extends keyof E>(event: K, ...args: Parameters<E[K]>): boolean {
    const list = this.registry.get(event);
    if (!list || list.length === 0) return false;
    for (const reg of [...list]) {
      if (reg.once) this.remove(event, reg);
      try {
        reg.fn(...(args as unknown[]));
      } catch (err) {
        queueMicrotask(() => {
          throw err;
        });
      }
    }
    return true;
  }

  private add<K extends keyof E>(event: K, listener: E[K], once: boolean): Unsubscribe {
    if (typeof listener !== 'function') throw new TypeError('listener must be a function');
    const list = this.registry.get(event) ?? [];
    const registration: Registration = { fn: listener as unknown as (...args: unknown[]) => void, original: listener, once };
    list.push(registration);
    this.registry.set(event, list);
    return () => this.remove(event, registration);
  }

  /** Removes this one registration (the same listener may be registered more than once). */
  private remove<K extends keyof E>(event: K, registration: Registration): void {
    const list = this.registry.get(event);
    const i = list ? list.indexOf(registration) : -1;
    if (!list || i < 0) return;
    list.splice(i, 1);
    if (list.length === 0) this.registry.delete(event);
  }
}
