// netem corrupts one copy of a duplicated datagram, not both. The relay forwards node:dgram's buffers without
// copying them, so its corrupted copy must be a real one: with Buffer.prototype.slice (a view, src/impair/bytes.ts)
// both copies arrived with the flipped bits of both — what the simulator did to its Buffer datagrams.
import { describe, expect, it } from 'vitest';
import { parseNetem } from '../../../src/impair/index.js';
import { startRelay } from '../../../src/transport/index.js';
import { closeAfter, udp } from '../../helpers/relay-sockets.js';

const DATAGRAMS = 40;
const BYTES = 200;

describe('the relay’s corruption of a duplicated datagram', () => {
  it('flips a bit in the copy it chose, and leaves the other copy as sent', async () => {
    const target = await udp();
    const client = await udp();
    const copies = new Map<number, Buffer[]>(); // datagram i (every byte i) → the copies that arrived
    target.on('message', (m) => {
      const counts = new Map<number, number>();
      for (const b of m) counts.set(b, (counts.get(b) ?? 0) + 1);
      const i = [...counts].sort((a, b) => b[1] - a[1])[0]![0]; // all but at most one byte are i
      copies.set(i, [...(copies.get(i) ?? []), m]);
    });
    const relay = closeAfter(
      await startRelay({
        targetHost: '127.0.0.1',
        targetPort: target.address().port,
        // the delay keeps both copies queued in the relay, as on any real link
        up: parseNetem('delay 5ms duplicate 100% corrupt 50%'),
        down: {},
        seed: 7,
      }),
    );
    for (let i = 1; i <= DATAGRAMS; i++) client.send(Buffer.alloc(BYTES, i), relay.port, '127.0.0.1');
    await new Promise<void>((ok) => {
      const poll = () => ([...copies.values()].flat().length >= 2 * DATAGRAMS ? ok() : setImmediate(poll));
      poll();
    });
    const flipped = (m: Buffer, i: number) => [...m].filter((b) => b !== i).length;
    let oneOfTwo = 0;
    for (const [i, got] of copies) {
      expect(got).toHaveLength(2);
      for (const m of got) expect(flipped(m, i)).toBeLessThanOrEqual(1);
      if (flipped(got[0]!, i) + flipped(got[1]!, i) === 1) oneOfTwo++;
    }
    // each copy is corrupted with p = 0.5 on its own: about half the pairs have exactly one corrupted copy
    // (P(none of 40) = 2^-40); before the fix, none did
    expect(oneOfTwo).toBeGreaterThan(5);
  });
});
