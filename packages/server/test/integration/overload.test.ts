import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { errorInfo } from '@intelgraph/websocket-protocol';
import { closeAll, connect, connectError, request, sleep } from '../helpers/clients.js';
import { startTestServer, type TestServer } from '../helpers/in-process.js';

/** Keeps this process's event loop (the in-process server's) busy for `ms` at a time, every `everyMs`, until stopped. */
function saturate(ms: number, everyMs: number): () => void {
  const timer = setInterval(() => {
    const end = performance.now() + ms;
    while (performance.now() < end) {
      // a loop that does nothing else: the server's lag, as a saturated core would cause it
    }
  }, everyMs);
  return () => clearInterval(timer);
}

describe('overload admission (OVERLOAD_LAG_MS)', () => {
  let srv: TestServer;
  beforeAll(async () => {
    srv = await startTestServer({ OVERLOAD_LAG_MS: '100', OVERLOAD_RETRY_AFTER_MS: '700' });
  });
  afterAll(() => srv?.close());
  afterEach(closeAll);

  it('refuses new handshakes with a retryable OVERLOADED and a jittered retryAfterMs while the loop lags, serves connected clients, and admits again once it recovers', { timeout: 60_000 }, async () => {
    expect(errorInfo('OVERLOADED')).toMatchObject({ httpStatus: 503, retryable: true, reconnect: 'retry' });
    const { socket: connected } = await connect(srv.url, { claims: { sub: 'early' } });
    expect(await request(connected, 'room:join', { room: 'lobby' })).toMatchObject({ success: true });

    const stop = saturate(250, 300);
    try {
      // The guard reads the lag every 100 ms: let it see a few stalls.
      await sleep(1000);
      const refused = await connectError(srv.url, { claims: { sub: 'late' } });
      expect(refused.message).toBe('OVERLOADED');
      expect(refused.data.code).toBe('OVERLOADED');
      expect(refused.data.retryAfterMs).toBeGreaterThanOrEqual(700);
      expect(refused.data.retryAfterMs).toBeLessThanOrEqual(1400);
      // The client already connected is still served.
      expect(await request(connected, 'room:send', { room: 'lobby', payload: { n: 1 } })).toMatchObject({ success: true });
    } finally {
      stop();
    }

    // Once the loop keeps time again (a second without a stall), a handshake goes through.
    let admitted = false;
    const deadline = Date.now() + 30_000;
    while (!admitted && Date.now() < deadline) {
      admitted = await connect(srv.url, { claims: { sub: 'later' } }).then(
        () => true,
        (err: { data?: { code?: string } }) => {
          expect(err.data?.code).toBe('OVERLOADED');
          return false;
        },
      );
      if (!admitted) await sleep(200);
    }
    expect(admitted).toBe(true);
    const metrics = await srv.server.metrics.registry.getSingleMetricAsString('websocket_rate_limited_total');
    expect(metrics).toMatch(/scope="overloaded"[^\n]* [1-9]/);
  });
});
