// The relay's `rate` paces the frame kernel netem paces (src/impair/wire.ts): Ethernet + IP + UDP headers around
// the payload, so the same netem gives the same wire rate under both shapers. Measured over loopback: a burst of
// datagrams through `rate 256kbit`, the span between the first and the last arrival against the frames' time.
import { createSocket, type Socket } from 'node:dgram';
import { describe, expect, it } from 'vitest';
import { parseNetem, udpFrameBytes } from '../../src/impair/index.js';
import { startRelay } from '../../src/transport/index.js';
import { IPV6 } from '../helpers/ipv6.js';

function bound(type: 'udp4' | 'udp6', host: string): Promise<Socket> {
  return new Promise((ok) => {
    const s = createSocket(type);
    s.bind(0, host, () => ok(s));
  });
}

async function burstSpanMs(ip: 4 | 6, count: number, payload: number): Promise<number> {
  const host = ip === 6 ? '::1' : '127.0.0.1';
  const type = ip === 6 ? 'udp6' : 'udp4';
  const sink = await bound(type, host);
  const relay = await startRelay({
    listenHost: host,
    targetHost: host,
    targetPort: sink.address().port,
    up: parseNetem('rate 256kbit limit 1000'),
    down: parseNetem(''),
  });
  const sender = await bound(type, host);
  try {
    const arrivals: number[] = [];
    const done = new Promise<void>((ok, fail) => {
      const t = setTimeout(() => fail(new Error(`only ${arrivals.length} of ${count} arrived in 20 s`)), 20_000);
      sink.on('message', () => {
        arrivals.push(performance.now());
        if (arrivals.length === count) {
          clearTimeout(t);
          ok();
        }
      });
    });
    for (let i = 0; i < count; i++) sender.send(Buffer.alloc(payload, i), relay.port, host);
    await done;
    return arrivals[count - 1]! - arrivals[0]!;
  } finally {
    sender.close();
    sink.close();
    await relay.close();
  }
}

describe('relay rate accounting', () => {
  for (const ip of [4, 6] as const) {
    it.skipIf(ip === 6 && !IPV6)(
      `IPv${ip}: 100-byte datagrams at 256 kbit/s take their frame's time each`,
      async () => {
        const count = 200; // ~0.9–1 s of frames
        // the first arrival opens the span: count − 1 frames of 100 + 28|48 + 14 bytes
        const expected = ((count - 1) * udpFrameBytes(100, ip) * 8 * 1000) / 256_000;
        const payloadOnly = ((count - 1) * 100 * 8 * 1000) / 256_000;
        // a wall-clock measurement: an event-loop stall of the relay or this process at the first or the last
        // arrival moves the span (CI on a host at load average 16 once measured 24% off), and no stall makes it
        // right — so the relay gets up to three bursts, and one of them must be within 5%
        const spans: number[] = [];
        const error = (span: number) => Math.abs(span - expected) / expected;
        for (let attempt = 0; attempt < 3; attempt++) {
          spans.push(await burstSpanMs(ip, count, 100));
          if (error(spans.at(-1)!) < 0.05) break;
        }
        const best = spans.reduce((a, b) => (error(b) < error(a) ? b : a));
        // 28 instead of 48 header bytes on IPv6 would be 12% off, payload only 30%+
        const why = `spans ${spans.map((x) => x.toFixed(0)).join(', ')} ms, expected ${expected.toFixed(0)} ms`;
        expect(error(best), why).toBeLessThan(0.05);
        expect(best, why).toBeGreaterThan(payloadOnly * 1.3);
      },
    );
  }
});
