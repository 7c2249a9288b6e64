// The relay measures itself on loopback: a burst sent faster than it reads, into a tiny receive buffer, is
// dropped by the kernel at the relay's socket — the relay's report counts those drops (and every datagram is
// either dropped there or seen by the impairment), and the lab's notice says so loudly. A clean low-rate run
// reports no drops and its lateness. Counts and shapes only: no tight timing.
import { createSocket, type Socket } from 'node:dgram';
import { describe, expect, it } from 'vitest';
import { parseNetem } from '../../src/impair/index.js';
import { relayOverhead, relayOverheadNotice } from '../../src/lab/relay-overhead.js';
import { type RelayReport, type RunningRelay, startRelay } from '../../src/transport/index.js';

const HOST = '127.0.0.1';

function bound(): Promise<Socket> {
  return new Promise((ok) => {
    const s = createSocket('udp4');
    s.bind(0, HOST, () => ok(s));
  });
}

/** Polls the relay's report until `ready` holds (bounded: 10 s). */
async function reportWhen(relay: RunningRelay, ready: (r: RelayReport) => boolean): Promise<RelayReport> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const r = relay.report();
    if (ready(r)) return r;
    if (Date.now() > deadline) throw new Error(`relay report never got ready: ${JSON.stringify(r.self)}`);
    await new Promise((ok) => setTimeout(ok, 20));
  }
}

describe('relay self-measurement on loopback', () => {
  it.skipIf(process.platform !== 'linux')(
    'a burst into a tiny receive buffer: the relay reports its socket drops and the lab notice warns',
    async () => {
      const sink = await bound();
      const up = parseNetem('delay 5ms');
      const down = parseNetem('delay 5ms');
      const relay = await startRelay({
        listenHost: HOST,
        targetHost: HOST,
        targetPort: sink.address().port,
        up,
        down,
        recvBufferBytes: 2048, // the kernel's minimum: a datagram or two
      });
      const sender = await bound();
      try {
        // the warm-up datagram binds the upstream socket; then a bounded burst, sent before the relay can read
        sender.send(Buffer.alloc(10), relay.port, HOST);
        await reportWhen(relay, (r) => r.upStats.packets === 1);
        const count = 2000;
        for (let i = 0; i < count; i++) sender.send(Buffer.alloc(1200, i), relay.port, HOST);
        const r = await reportWhen(
          relay,
          (x) => x.upStats.packets - 1 + (x.self.up.socket_drops ?? 0) === count && x.self.up.socket_drops! > 0,
        );
        // every datagram of the burst either reached the impairment or was dropped at the relay's socket
        expect(r.self.up.socket_drops).toBeGreaterThan(0);
        expect(r.upStats.packets - 1 + r.self.up.socket_drops!).toBe(count);
        expect(r.upStats.lost).toBe(0); // no configured loss: the loss is the relay's socket, not the impairment
        const o = relayOverhead(r, up, down)!;
        expect(o.loud).toBe(true);
        const notice = relayOverheadNotice([{ id: 'burst', overhead: o }])!;
        expect(notice).toMatch(
          /^WARN: the userspace relay added p50 [\d.]+ ms \/ p99 [\d.]+ ms beyond the configured delay/,
        );
        expect(notice).toContain(
          `its sockets dropped ${r.self.up.socket_drops} datagrams before shaping (not part of the configured loss)`,
        );
      } finally {
        sender.close();
        sink.close();
        await relay.close();
      }
    },
    30_000,
  );

  it('a clean low-rate run: no drops, every release measured, lateness small', async () => {
    const sink = await bound();
    const up = parseNetem('delay 2ms');
    const down = parseNetem('');
    const relay = await startRelay({ listenHost: HOST, targetHost: HOST, targetPort: sink.address().port, up, down });
    const sender = await bound();
    try {
      const count = 100;
      let got = 0;
      let next: (() => void) | undefined;
      sink.on('message', () => {
        got++;
        next?.();
      });
      for (let i = 0; i < count; i++) {
        // one in flight at a time: the next leaves when the previous arrived (bounded: 5 s each)
        await new Promise<void>((ok, fail) => {
          const t = setTimeout(() => fail(new Error(`datagram ${i} did not arrive in 5 s`)), 5000);
          next = () => {
            clearTimeout(t);
            ok();
          };
          sender.send(Buffer.alloc(500, i), relay.port, HOST);
        });
      }
      expect(got).toBe(count);
      const r = relay.report();
      const s = r.self.up.lateness;
      expect(s.count).toBe(count);
      expect(s.p50_ms).toBeLessThanOrEqual(s.p99_ms);
      expect(s.p99_ms).toBeLessThanOrEqual(s.max_ms);
      expect(s.p99_ms).toBeLessThan(1000); // small; not a timing bound tight enough to flake under load
      if (process.platform === 'linux') {
        expect(r.self.up.socket_drops).toBe(0);
        expect(r.self.down.socket_drops).toBe(0);
      } else expect(r.self.up.socket_drops).toBeNull();
      expect(r.self.up.send_errors).toBe(0);
      const notice = relayOverheadNotice([{ id: 'clean', overhead: relayOverhead(r, up, down)! }])!;
      expect(notice).toMatch(/the userspace relay added p50 [\d.]+ ms \/ p99 [\d.]+ ms beyond the configured delay/);
      if (process.platform === 'linux') expect(notice).toContain('its sockets dropped 0 datagrams before shaping');
    } finally {
      sender.close();
      sink.close();
      await relay.close();
    }
  }, 60_000);
});
