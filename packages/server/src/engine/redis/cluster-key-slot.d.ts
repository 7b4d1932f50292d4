/** cluster-key-slot (the key-to-slot hash ioredis itself routes by) ships no types: its one function used here. */
declare module 'cluster-key-slot' {
  /** The Redis Cluster slot (0-16383) of `key`, its hash tag honoured. */
  export default function calculateSlot(key: string | Buffer): number;
}
