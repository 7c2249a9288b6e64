// Regression (found by the simulator's hostile peer, test/sim/hostile-peer.test.ts): a packet number the data
// sender used for data, acknowledged by the receiver for *another* packet that arrived under the same number
// (sealed by a third party holding the session keys; in the plaintext teaching mode, by anyone), makes the
// sender believe those bytes arrived. It then waited for DONE forever, probing, while the receiver — holding
// the FIN, lacking the bytes — acknowledged every probe: neither side ever ended. The receiver now gives up
// when no new data has arrived for the idle timeout (E_TIMEOUT, CLOSE to the sender): both ends close.
import { describe, expect, it } from 'vitest';
import { integrityOnlyProtection, PLAINTEXT_LABEL } from '../../../src/crypto/index.js';
import { createRng } from '../../../src/impair/index.js';
import {
  Connection,
  type ConnectionEvent,
  decodeFrames,
  decodeHeader,
  encodeFrames,
  encodeHeader,
  HEADER_BYTES,
  MemorySink,
  MemorySource,
  Op,
  PacketType,
} from '../../../src/protocol/index.js';

const plain = integrityOnlyProtection(PLAINTEXT_LABEL);
const ONE_WAY_MS = 10;

/** A GET of `size` bytes in lockstep over a 10 ms path; `tamper` may replace a server datagram. */
function run(size: number, tamper: (d: Uint8Array) => Uint8Array, limitMs: number) {
  const file = createRng(7).bytes(size);
  const sink = new MemorySink(size);
  const client = Connection.client(
    { rng: createRng(1), clientSecurity: { mode: 'plaintext' }, probeDatagramBytes: [] },
    0,
    { op: Op.Get, resume: false, force: false, compression: 0, path: 'f', sizeBytes: 0, ranges: [] },
    { sink },
  );
  let server: Connection | undefined;
  const inFlight: Array<{ at: number; to: 'client' | 'server'; bytes: Uint8Array }> = [];
  const events: Record<'client' | 'server', ConnectionEvent[]> = { client: [], server: [] };
  const drain = (who: 'client' | 'server', now: number) => {
    const c = who === 'client' ? client : server;
    if (!c) return;
    for (let d = c.pollTransmit(now); d; d = c.pollTransmit(now))
      inFlight.push({
        at: now + ONE_WAY_MS,
        to: who === 'client' ? 'server' : 'client',
        bytes: who === 'server' ? tamper(d) : d,
      });
    for (let e = c.pollEvent(); e; e = c.pollEvent()) {
      events[who].push(e);
      if (e.type === 'request') c.accept(now, { sizeBytes: size, source: new MemorySource(file) });
      else if (e.type === 'verify') c.verified(now, Buffer.compare(Buffer.from(sink.data), Buffer.from(file)) === 0);
    }
  };
  let now = 0;
  drain('client', now);
  while (now <= limitMs && !(client.closed && server?.closed)) {
    const times = [client.pollTimeout(), server?.pollTimeout(), ...inFlight.map((p) => p.at)].filter(
      (t): t is number => t !== undefined,
    );
    if (times.length === 0) break;
    now = Math.max(now, Math.min(...times));
    for (const p of inFlight.filter((q) => q.at <= now)) {
      inFlight.splice(inFlight.indexOf(p), 1);
      if (p.to === 'client') client.handleDatagram(now, p.bytes);
      else if (!server) server = Connection.server({ rng: createRng(2), probeDatagramBytes: [] }, now, p.bytes);
      else server.handleDatagram(now, p.bytes);
      drain(p.to, now);
    }
    client.handleTimeout(now);
    drain('client', now);
    server?.handleTimeout(now);
    drain('server', now);
  }
  return { now, client, server, events, sink, file };
}

describe('a packet number answered for a packet the sender did not send', () => {
  it('the third DATA packet is replaced by a PING under its number: both sides end, no file accepted', () => {
    let dataPackets = 0;
    let forged = -1;
    const tamper = (d: Uint8Array) => {
      const h = decodeHeader(d);
      if (!h.ok || h.value.type !== PacketType.Data) return d;
      const payload = plain.open(d.subarray(0, HEADER_BYTES), h.value.packetNumber, d.subarray(HEADER_BYTES));
      const frames = payload && decodeFrames(payload);
      if (!frames?.ok || !frames.value.some((f) => f.type === 'data') || ++dataPackets !== 3) return d;
      forged = h.value.packetNumber;
      const header = encodeHeader({ type: PacketType.Data, connectionId: h.value.connectionId, packetNumber: forged });
      return plain.seal(header, forged, encodeFrames([{ type: 'ping' }]));
    };
    const r = run(64 << 10, tamper, 10 * 60_000);
    expect(forged).toBeGreaterThan(0);
    // the sender was misled: it holds every byte for acknowledged
    expect(r.server?.sender?.allAcked).toBe(true);
    // both ended, well within the ten minutes: the receiver after the idle timeout without new data
    expect(r.client.closed).toBe(true);
    expect(r.server?.closed).toBe(true);
    expect(r.now).toBeLessThan(60_000);
    const end = r.events.client.find((e) => e.type === 'closed');
    expect(end).toMatchObject({ type: 'closed', ok: false, code: 'E_TIMEOUT' });
    expect(r.events.server.find((e) => e.type === 'closed')).toMatchObject({ ok: false, code: 'E_TIMEOUT' });
    expect(r.events.client.some((e) => e.type === 'verify')).toBe(false);
  });

  it('without tampering the same transfer completes (the new deadline does not fire on a live transfer)', () => {
    const r = run(64 << 10, (d) => d, 10 * 60_000);
    expect(r.events.client.find((e) => e.type === 'closed')).toEqual({ type: 'closed', ok: true });
    expect(Buffer.compare(Buffer.from(r.sink.data), Buffer.from(r.file))).toBe(0);
  });
});
