/**
 * A lean load client speaking the Socket.IO v5 / Engine.IO v4 wire protocol directly over
 * `ws` (websocket transport only, default namespace). It does what socket.io-client does on
 * the wire — open, CONNECT with auth, answer pings, events with acks — but reads the send
 * timestamp of `room:message` without parsing the whole packet, so that a load-generator
 * process can receive far more messages per second than with socket.io-client, and the
 * measured latency is the server's, not the client's queue.
 */
import WebSocket from 'ws';

const MESSAGE_PREFIX = '42["room:message",';

/** Reads the number after `key` (e.g. '"t":') from index `from`; NaN when absent. */
function numberAfter(s, key, from) {
  const i = s.indexOf(key, from);
  if (i < 0) return NaN;
  let j = i + key.length;
  let k = j;
  while (k < s.length) {
    const c = s.charCodeAt(k);
    if ((c >= 48 && c <= 57) || c === 46 || c === 45 || c === 101 || c === 43) k++;
    else break;
  }
  return Number(s.slice(j, k));
}

export class WireClient {
  /**
   * @param {string} url  http://host:port
   * @param {{ auth?: object, localAddress?: string, timeoutMs: number, onRoomMessage(t: number, p: number): void }} o
   */
  constructor(url, o) {
    this.o = o;
    this.url = `${url.replace(/^http/, 'ws')}/socket.io/?EIO=4&transport=websocket`;
    this.acks = new Map();
    this.seq = 0;
    this.connected = false;
    this.listeners = { disconnect: [] };
  }

  on(event, fn) {
    (this.listeners[event] ??= []).push(fn);
  }

  connect() {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(this.url, { perMessageDeflate: false, ...(this.o.localAddress && { localAddress: this.o.localAddress }) });
      this.ws = ws;
      let settled = false;
      const settle = (err) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (err) {
          ws.terminate();
          reject(err);
        } else resolve(this);
      };
      const timer = setTimeout(() => settle(new Error('connect timeout')), this.o.timeoutMs);
      ws.on('error', (err) => settle(err));
      ws.on('close', () => {
        const was = this.connected;
        this.connected = false;
        settle(new Error('closed during connect'));
        if (was) for (const fn of this.listeners.disconnect) fn('transport close');
      });
      ws.on('message', (data) => {
        const s = data.toString();
        switch (s.charCodeAt(0)) {
          case 48: // '0' engine.io open
            ws.send(this.o.auth ? `40${JSON.stringify(this.o.auth)}` : '40');
            return;
          case 50: // '2' ping
            ws.send('3');
            return;
          case 52: // '4' socket.io packet
            return this.packet(s, settle);
          default:
            return;
        }
      });
    });
  }

  packet(s, settle) {
    switch (s.charCodeAt(1)) {
      case 50: {
        // '2' EVENT
        if (s.startsWith(MESSAGE_PREFIX)) {
          const at = s.indexOf('"payload":', MESSAGE_PREFIX.length);
          if (at >= 0) this.o.onRoomMessage(numberAfter(s, '"t":', at), numberAfter(s, '"p":', at));
        }
        return;
      }
      case 51: {
        // '3' ACK: 43<id>[...]
        let k = 2;
        while (k < s.length && s.charCodeAt(k) >= 48 && s.charCodeAt(k) <= 57) k++;
        const id = Number(s.slice(2, k));
        const fn = this.acks.get(id);
        if (!fn) return;
        this.acks.delete(id);
        let args;
        try {
          args = JSON.parse(s.slice(k));
        } catch {
          args = [];
        }
        fn(args[0]);
        return;
      }
      case 48: // '0' CONNECT
        this.connected = true;
        settle();
        return;
      case 52: {
        // '4' CONNECT_ERROR
        let msg = 'connect_error';
        let data;
        try {
          data = JSON.parse(s.slice(2));
          msg = data.message ?? msg;
        } catch {
          // keep the generic message
        }
        settle(Object.assign(new Error(msg), { data: data?.data }));
        return;
      }
      case 49: // '1' DISCONNECT
        this.ws.close();
        return;
      default:
        return;
    }
  }

  /** Emits an event; `ack` receives the first argument of the server's ack. */
  emit(event, data, ack) {
    if (!this.connected) return;
    if (ack) {
      const id = ++this.seq;
      this.acks.set(id, ack);
      this.ws.send(`42${id}${JSON.stringify([event, data])}`);
    } else this.ws.send(`42${JSON.stringify([event, data])}`);
  }

  request(event, data, timeoutMs) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${event}: ack timeout`)), timeoutMs);
      this.emit(event, data, (res) => {
        clearTimeout(timer);
        resolve(res);
      });
      if (!this.connected) {
        clearTimeout(timer);
        reject(new Error(`${event}: not connected`));
      }
    });
  }

  disconnect() {
    this.connected = false;
    try {
      if (this.ws.readyState === WebSocket.OPEN) this.ws.send('41');
      this.ws.close();
    } catch {
      this.ws.terminate();
    }
  }
}
