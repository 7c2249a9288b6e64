// `--background` (issue 22): the INITIAL's flag bit 2 asks the data sender for the LEDBAT controller
// (src/protocol/ledbat.ts); the controller grows below its target queueing delay, shrinks above it, halves on loss.
import { describe, expect, it } from 'vitest';
import { createRng } from '../../../src/impair/index.js';
import {
  Compression,
  Connection,
  decodeInitial,
  encodeInitial,
  type Initial,
  LEDBAT_TARGET_MS,
  LedbatController,
  MemorySource,
  Op,
} from '../../../src/protocol/index.js';

const request: Initial = {
  op: Op.Get,
  resume: false,
  force: false,
  compression: Compression.Off,
  path: 'f.bin',
  sizeBytes: 0,
  ranges: [],
};

describe('the background flag on the wire', () => {
  it('round-trips in the INITIAL, and an INITIAL without it decodes as before (no field)', () => {
    const bg = decodeInitial(encodeInitial({ ...request, background: true }));
    expect(bg.ok && bg.value.background).toBe(true);
    const plain = decodeInitial(encodeInitial(request));
    expect(plain.ok && 'background' in plain.value).toBe(false);
  });

  it("a GET with background gives the server's sender the LEDBAT controller; without, the default one", () => {
    for (const background of [true, false]) {
      const client = Connection.client(
        { rng: createRng(1) },
        0,
        { ...request, ...(background && { background }) },
        {
          sink: { write() {} },
        },
      );
      const first = client.pollTransmit(0)!;
      const server = Connection.server({ rng: createRng(2) }, 0, first)!;
      for (let e = server.pollEvent(); e; e = server.pollEvent())
        if (e.type === 'request')
          server.accept(0, { sizeBytes: 1 << 16, source: new MemorySource(new Uint8Array(1 << 16)) });
      // the handshake's next steps create the sender: run the two ends against each other for a few exchanges
      let now = 0;
      for (let i = 0; i < 20 && !server.sender; i++) {
        now += 10;
        for (let d = server.pollTransmit(now); d; d = server.pollTransmit(now)) client.handleDatagram(now, d);
        for (let d = client.pollTransmit(now); d; d = client.pollTransmit(now)) server.handleDatagram(now, d);
        for (let e = client.pollEvent(); e; e = client.pollEvent());
        for (let e = server.pollEvent(); e; e = server.pollEvent());
      }
      expect(server.sender).toBeDefined();
      expect(server.sender!.cc instanceof LedbatController).toBe(background);
    }
  });
});

describe('LedbatController', () => {
  const mss = 1400;
  const ack = (c: LedbatController, nowMs: number, rttMs: number, lostBytes = 0) =>
    c.onAck({
      nowMs,
      deliveryRateBps: 0,
      rttMs,
      minRttMs: 40,
      bytesInFlight: c.cwndBytes,
      roundEnded: true,
      ackedBytes: mss,
      lostBytes,
    });

  it('slow-starts on an empty queue, then grows slowly below the target and shrinks above it', () => {
    const c = new LedbatController(mss);
    let t = 0;
    const next = () => {
      t += 2;
      return t;
    };
    for (let i = 0; i < 20; i++) ack(c, next(), 40);
    expect(c.mode).toBe('startup');
    expect(c.cwndBytes).toBe(24 * mss); // 4 + one per ACKed packet
    // the queueing delay is the smallest of the last 4 samples: one late packet is not a queue
    ack(c, next(), 40 + LEDBAT_TARGET_MS);
    expect(c.mode).toBe('startup');
    for (let i = 0; i < 3; i++) ack(c, next(), 40 + LEDBAT_TARGET_MS);
    expect(c.mode).toBe('probe_bw'); // past 3/4 of the target: the end of slow start
    const w = c.cwndBytes;
    for (let i = 0; i < 4; i++) ack(c, next(), 40 + LEDBAT_TARGET_MS / 2);
    expect(c.cwndBytes).toBeGreaterThan(w);
    expect(c.cwndBytes - w).toBeLessThan(mss); // less than Reno's packet per window
    const before = c.cwndBytes;
    for (let i = 0; i < 4; i++) ack(c, next(), 40 + 2 * LEDBAT_TARGET_MS);
    expect(c.cwndBytes).toBeLessThan(before);
  });

  it('halves on a loss, once per round trip', () => {
    const c = new LedbatController(mss);
    for (let i = 0; i < 36; i++) ack(c, i, 40);
    const w = c.cwndBytes;
    ack(c, 100, 40, mss);
    expect(c.cwndBytes).toBeGreaterThanOrEqual(w / 2); // halved, then this ACK's slow growth
    expect(c.cwndBytes).toBeLessThan(w / 2 + mss);
    const h = c.cwndBytes;
    ack(c, 110, 40, mss); // within the same RTT: no second cut
    expect(c.cwndBytes).toBeGreaterThanOrEqual(h);
    expect(c.congestionEvents).toBe(1);
  });
});
