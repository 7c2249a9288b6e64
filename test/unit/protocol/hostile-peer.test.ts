// Unit-level regressions of the adversarial review for the protocol core: the receiver's range cap (#8), ACKs
// of packet numbers never sent (#4b), per-packet frame limits, printable() for peer text (#14), and the Noise
// read that leaves a handshake untouched when a forged answer fails (#13).
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ClientHandshake, sha256, x25519KeyPair } from '../../../src/crypto/index.js';
import { encodeInitial, MemorySink, MemorySource, Op, printable } from '../../../src/protocol/index.js';
import { MAX_RECEIVE_RANGES, Receiver } from '../../../src/protocol/receiver.js';
import { Sender } from '../../../src/protocol/sender.js';

describe('receiver range cap (#8)', () => {
  it('1-byte frames at every other offset stop opening gaps at the cap; joining frames are still taken', () => {
    const size = 1 << 20;
    const r = new Receiver(new MemorySink(size), size, 16 << 20);
    let dropped = 0;
    let pn = 0;
    for (let off = 0; off < 2 * (MAX_RECEIVE_RANGES + 500); off += 2) {
      const res = r.onPacket(0, pn++, [
        { type: 'data', offset: off, length: 1, compressed: false, bytes: new Uint8Array(1) },
      ]);
      if (res === 'dropped') dropped++;
    }
    expect(r.data.count).toBe(MAX_RECEIVE_RANGES);
    expect(dropped).toBe(500);
    expect(r.stats.fragmentingPackets).toBe(500);
    // a frame that joins two held ranges shrinks the set and is accepted at the cap
    expect(
      r.onPacket(0, pn++, [{ type: 'data', offset: 1, length: 1, compressed: false, bytes: new Uint8Array(1) }]),
    ).toBe('accepted');
    expect(r.data.count).toBe(MAX_RECEIVE_RANGES - 1);
  });
});

describe('optimistic ACKs (#4b)', () => {
  it('an ACK naming packet numbers never sent is ignored whole (it declared every packet lost before)', () => {
    const data = randomBytes(200_000);
    const s = new Sender(new MemorySource(data), sha256(), { payloadBytes: 1160 });
    for (let pn = 0, t = 0; pn < 10 && t < 40; t += 0.5) if (s.buildPacket(t, pn)) pn++;
    expect(s.stats.packetsSent).toBe(10);
    s.onAck(50, { type: 'ack', largest: 1e12, ackDelayUs: 0, maxOffset: 1e12, ranges: [[0, 1e12]] });
    expect(s.acked.size).toBe(0);
    // a genuine ACK of packet 0 at 100 ms: with largestAcked = 1e12 the other nine were declared lost
    s.onAck(100, { type: 'ack', largest: 0, ackDelayUs: 0, maxOffset: 1 << 24, ranges: [[0, 0]] });
    expect(s.stats.packetsLost).toBe(0);
    expect(s.acked.size).toBeGreaterThan(0);
  });
});

describe('peer text on terminals and logs (#14)', () => {
  it('escapes control characters and bounds the length', () => {
    expect(printable('ok\x1b[2J\nforged: line\u2028')).toBe('ok\\u001b[2J\\u000aforged: line\\u2028');
    expect(printable('x'.repeat(500)).length).toBe(201);
  });
});

describe('a forged answer leaves the client handshake as it was (#13)', () => {
  it('garbage first, then the genuine answer still completes', async () => {
    const { serverRead } = await import('../../../src/crypto/index.js');
    const server = x25519KeyPair(randomBytes(32));
    const cid = randomBytes(8);
    const hs = new ClientHandshake(
      { mode: 'noise', serverPublicKey: server.publicKey, ephemeral: randomBytes(32) },
      { connectionId: cid },
    );
    const m1 = hs.firstMessage(
      encodeInitial({ op: Op.Get, resume: false, force: false, compression: 0, path: 'f', sizeBytes: 0, ranges: [] }),
    );
    const read = serverRead(
      { staticPrivateKey: server.privateKey, allowPlaintext: false, ephemeral: () => randomBytes(32) },
      1,
      m1,
      cid,
    );
    expect(read.ok).toBe(true);
    if (!read.ok) return;
    const genuine = read.answer(1, new Uint8Array([1, 2, 3]));
    const forged = genuine.slice();
    forged[forged.length - 1]! ^= 1;
    expect(hs.readAnswer(1, forged)).toBeUndefined();
    expect(hs.readAnswer(1, randomBytes(80))).toBeUndefined();
    const ok = hs.readAnswer(1, genuine);
    expect(ok?.authenticated).toBe(true);
    expect(ok?.kind).toBe(1);
  });
});
