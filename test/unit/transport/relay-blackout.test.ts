// The relay's blackout clock: from its own start (the default), or from the first datagram a client sends
// (what the lab uses, so a blackout meets every run at the same point of its transfer).
import { describe, expect, it } from 'vitest';
import { startRelay } from '../../../src/transport/index.js';
import { closeAfter, udp } from '../../helpers/relay-sockets.js';

/** Sends one datagram at each fake time given; returns how many the relay dropped in its blackout. */
async function through(from: 'start' | 'first-datagram', times: number[]): Promise<{ dark: number }> {
  const target = await udp();
  const client = await udp();
  let now = 0;
  const relay = await startRelay({
    targetHost: '127.0.0.1',
    targetPort: target.address().port,
    up: {},
    down: {},
    blackouts: [{ startMs: 0, durationMs: 100 }],
    blackoutsFrom: from,
    clock: () => now,
  });
  closeAfter(relay);
  for (const [i, t] of times.entries()) {
    now = t;
    const last = i === times.length - 1;
    const arrived = last ? new Promise<void>((ok) => target.once('message', () => ok())) : undefined;
    client.send(Buffer.from([i]), relay.port, '127.0.0.1');
    // each datagram is handled before the next is sent (the fake clock must not move under it)
    await new Promise<void>((ok) => {
      const poll = () => (relay.report().upStats.packets > i ? ok() : setImmediate(poll));
      poll();
    });
    await arrived;
  }
  return { dark: relay.report().upStats.blackedOut };
}

describe('relay blackouts', () => {
  it('from the first datagram: a window at 0 drops the first datagram whenever it comes', async () => {
    const r = await through('first-datagram', [5000, 5050, 5200]);
    expect(r.dark).toBe(2); // 5000 and 5050 fall in [5000, 5100)
  });

  it('from the start: the same window has long passed when the first datagram comes at 5 s', async () => {
    const r = await through('start', [5000, 5050, 5200]);
    expect(r.dark).toBe(0);
  });

  it('reports its windows and where their clock starts', async () => {
    const relay = await startRelay({
      targetHost: '127.0.0.1',
      targetPort: 9,
      up: {},
      down: {},
      blackouts: [{ startMs: 20, durationMs: 3000 }],
      blackoutsFrom: 'first-datagram',
    });
    closeAfter(relay);
    expect(relay.report().blackouts).toEqual(['20ms+3000ms from first datagram']);
  });
});
