// Two timers that decide how long a lossy transfer waits, measured by what the sans-I/O connection asks for:
// the INITIAL retransmission schedule (and how a RETRY's round trip shortens it) and the tail loss probe.
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { x25519KeyPair } from '../../../src/crypto/index.js';
import { createRng, parseNetem } from '../../../src/impair/index.js';
import { Connection, MemorySink, Op, PacketType, sealStateless } from '../../../src/protocol/index.js';
import { simulateTransfer } from '../../../src/sim/index.js';

function client(): Connection {
  const server = x25519KeyPair(randomBytes(32));
  return Connection.client(
    {
      rng: createRng(1),
      clientSecurity: { mode: 'noise', serverPublicKey: server.publicKey, ephemeral: randomBytes(32) },
    },
    0,
    { op: Op.Get, resume: false, force: false, compression: 0, path: 'f', sizeBytes: 0, ranges: [] },
    { sink: new MemorySink(0) },
  );
}

describe('timers', () => {
  it('an unanswered INITIAL is sent again after 250 ms, then 500, 1000, 2000, 2000', () => {
    const c = client();
    const sentAt: number[] = [];
    for (let t = 0; t <= 6000; t++) {
      if (c.pollTransmit(t)) sentAt.push(t);
    }
    expect(sentAt).toEqual([0, 250, 750, 1750, 3750, 5750]);
  });

  it('after a RETRY that answered the only INITIAL, retransmissions follow 3 × that round trip', () => {
    const c = client();
    expect(c.pollTransmit(0)).toBeDefined();
    c.handleDatagram(20, sealStateless(PacketType.Retry, c.connectionId, randomBytes(16)));
    expect(c.pollTransmit(20)).toBeDefined(); // at once, with the token
    const sentAt: number[] = [];
    for (let t = 21; t <= 1000; t++) if (c.pollTransmit(t)) sentAt.push(t);
    expect(sentAt).toEqual([80, 200, 440, 920]); // 60, 120, 240, 480 ms apart
  });

  it('tail losses are recovered by probes after 2 × SRTT, not by retransmission timeouts', () => {
    const n = parseNetem('delay 10ms loss 20%');
    let probes = 0;
    let timeouts = 0;
    for (let seed = 1; seed <= 20; seed++) {
      const r = simulateTransfer({ seed, up: n, down: n, sizeBytes: 256 << 10 });
      expect(r.outcome).toBe('completed');
      probes += r.stats.tailProbes;
      timeouts += r.stats.timeouts;
    }
    console.log(`20 transfers at 20% loss each way: ${probes} tail probes, ${timeouts} timeouts`);
    expect(probes).toBeGreaterThan(5);
    expect(timeouts).toBeLessThan(probes / 2);
  });
});
