interface WindowLike {
  addEventListener(type: string, listener: () => void): void;
  removeEventListener(type: string, listener: () => void): void;
}

/** Browsers: calls `listener` when the network comes back (`online` event). Returns the unsubscribe, or undefined outside browsers. */
export function onNetworkOnline(listener: () => void): (() => void) | undefined {
  const win = (globalThis as { window?: WindowLike }).window;
  if (!win || typeof win.addEventListener !== 'function') return undefined;
  win.addEventListener('online', listener);
  return () => win.removeEventListener('online', listener);
}
