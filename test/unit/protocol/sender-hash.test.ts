// The sender hashes new data ahead of the packets that carry it, one update per 64 KiB instead of one per packet
// (docs/performance.md), and the digest in the FIN is still the SHA-256 of the whole file, read in any order.
import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { type Hasher, sha256 } from '../../../src/crypto/index.js';
import { type DataSource, MemorySource } from '../../../src/protocol/index.js';
import { Sender } from '../../../src/protocol/sender.js';

function countingHasher(): Hasher & { updates: number } {
  const h = sha256();
  const c = {
    updates: 0,
    update(d: Uint8Array) {
      c.updates++;
      h.update(d);
    },
    digest: () => h.digest(),
  };
  return c;
}

/** Sends everything (acknowledging each packet at once) and returns the FIN's digest. */
function sendAll(source: DataSource, hasher: Hasher, held: Array<[number, number]> = []): Uint8Array {
  const s = new Sender(source, hasher, { payloadBytes: 1160 }, held, 1 << 30);
  let fin: Uint8Array | undefined;
  for (let pn = 0, t = 0; !fin && pn < 10_000; t += 1) {
    const frames = s.buildPacket(t, pn);
    if (!frames) continue;
    for (const f of frames) if (f.type === 'fin') fin = f.sha256;
    s.onAck(t + 0.5, { type: 'ack', largest: pn, ackDelayUs: 0, maxOffset: 1 << 30, ranges: [[0, pn]] });
    pn++;
  }
  return fin!;
}

describe('the sender’s file hash', () => {
  it('takes one hash update per 64 KiB of new data, not one per packet; the digest is the file’s', () => {
    const data = randomBytes(1_000_003); // not a multiple of anything
    const h = countingHasher();
    const digest = sendAll(new MemorySource(data), h);
    expect(Buffer.from(digest).toString('hex')).toBe(createHash('sha256').update(data).digest('hex'));
    expect(h.updates).toBeLessThanOrEqual(Math.ceil(data.length / 65536) + 1); // one per packet was 863
  });

  it('ranges the receiver holds (a resume) are hashed, not sent; the digest is still the whole file’s', () => {
    const data = randomBytes(700_000);
    const held: Array<[number, number]> = [
      [100_000, 250_000],
      [400_001, 500_000],
    ];
    const digest = sendAll(new MemorySource(data), sha256(), held);
    expect(Buffer.from(digest).toString('hex')).toBe(createHash('sha256').update(data).digest('hex'));
  });
});
