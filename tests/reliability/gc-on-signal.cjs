// Preloaded into a server process by the fuzz and soak runs, never by the server itself:
//   NODE_OPTIONS="--expose-gc --require tests/reliability/gc-on-signal.cjs"
// SIGUSR2 runs a full garbage collection, so the next GET /stats reports the heap that is really retained.
'use strict';
process.on('SIGUSR2', () => {
  if (typeof globalThis.gc === 'function') globalThis.gc();
});
