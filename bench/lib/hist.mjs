/**
 * A latency histogram with ~1% relative precision (log buckets of microseconds),
 * small enough to ship between processes as a plain array and merge by addition.
 */
const SCALE = 100; // buckets per e-fold
const SIZE = Math.ceil(Math.log(600e6) * SCALE) + 2; // up to 10 minutes

export function newHist() {
  return { counts: new Array(SIZE).fill(0), n: 0, sum: 0, max: 0 };
}

/** Records one latency in milliseconds. */
export function record(h, ms) {
  const us = ms > 0 ? ms * 1000 : 0;
  const i = Math.min(SIZE - 1, Math.floor(Math.log1p(us) * SCALE));
  h.counts[i]++;
  h.n++;
  h.sum += ms;
  if (ms > h.max) h.max = ms;
}

export function merge(into, from) {
  for (let i = 0; i < SIZE; i++) into.counts[i] += from.counts[i] ?? 0;
  into.n += from.n;
  into.sum += from.sum;
  if (from.max > into.max) into.max = from.max;
  return into;
}

/** The q-quantile (0..1) in milliseconds, or null without samples. */
export function quantile(h, q) {
  if (h.n === 0) return null;
  const rank = Math.max(1, Math.ceil(q * h.n));
  let seen = 0;
  for (let i = 0; i < SIZE; i++) {
    seen += h.counts[i];
    if (seen >= rank) return Math.expm1((i + 0.5) / SCALE) / 1000;
  }
  return h.max;
}

export function summary(h) {
  return {
    samples: h.n,
    p50Ms: round(quantile(h, 0.5)),
    p99Ms: round(quantile(h, 0.99)),
    maxMs: round(h.n ? h.max : null),
    meanMs: round(h.n ? h.sum / h.n : null),
  };
}

export function round(v, digits = 2) {
  if (v === null || v === undefined || !Number.isFinite(v)) return null;
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}
