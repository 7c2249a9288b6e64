// The relay's emulated link MTU: without `mtu` (fragmentation), a datagram whose IP packet exceeds the link's MTU
// (1,500 by default; payload + 28 bytes over IPv4) is dropped and counted as `oversize`; `linkMtu: 0` lifts it.
import { describe, expect, it } from 'vitest';
import { startRelay } from '../../../src/transport/index.js';
import { closeAfter, udp } from '../../helpers/relay-sockets.js';

/** Sends one datagram of each size through a relay and returns the sizes the target received, and the report. */
async function through(sizes: number[], o: { linkMtu?: number; mtu?: number } = {}) {
  const target = await udp();
  const client = await udp();
  const got: number[] = [];
  target.on('message', (m) => got.push(m.length));
  const relay = await startRelay({
    targetHost: '127.0.0.1',
    targetPort: target.address().port,
    up: {},
    down: {},
    ...o,
  });
  closeAfter(relay);
  for (const [i, n] of sizes.entries()) {
    client.send(Buffer.alloc(n), relay.port, '127.0.0.1');
    // each datagram handled (met the impairment, or dropped as oversize) before the next
    await new Promise<void>((ok) => {
      const poll = () =>
        relay.report().upStats.packets + (relay.report().oversize?.dropped ?? 0) > i ? ok() : setImmediate(poll);
      poll();
    });
  }
  // a last small datagram: once it arrived, every earlier one that was forwarded has too
  const last = new Promise<void>((ok) => target.on('message', (m) => m.length === 1 && ok()));
  client.send(Buffer.alloc(1), relay.port, '127.0.0.1');
  await last;
  return { got: got.slice(0, -1), report: relay.report() };
}

describe('the relay’s emulated link MTU', () => {
  it('drops what a 1,500-byte link cannot carry whole (1,473 + 28 > 1,500) and counts it', async () => {
    const { got, report } = await through([1472, 1473, 8972, 32_000, 1200]);
    expect(got).toEqual([1472, 1200]);
    expect(report.oversize).toEqual({ link_mtu: 1500, dropped: 3 });
    expect(report.fragments).toBeUndefined();
  });

  it('linkMtu 0 carries every size; a set `mtu` fragments instead of dropping', async () => {
    const unlimited = await through([8972, 32_000], { linkMtu: 0 });
    expect(unlimited.got).toEqual([8972, 32_000]);
    expect(unlimited.report.oversize).toBeUndefined();
    const frag = await through([8972, 1472], { mtu: 1500 });
    expect(frag.got).toEqual([8972, 1472]);
    expect(frag.report.oversize).toBeUndefined();
    expect(frag.report.fragments).toEqual({ mtu: 1500, datagrams: 1, lost: 0 });
  });
});
