// Compression that saves packets: with a codec, a DATA frame carries as much raw data as fits in the packet once
// compressed, so a compressible file takes fewer packets, not only fewer bytes. Driven sans-I/O: the sender and a
// receiver joined by a 1 ms-tick model of a 20 Mbit/s, 20 ms round-trip path that drops every 29th packet, so
// packed frames are lost and sent again (in raw offsets, re-packed). Before packing, each frame carried one
// packet's raw bytes, compressed: the 1 MiB log text (bench/text.ts) took as many packets as random bytes.
import { describe, expect, it } from 'vitest';
import { logText } from '../../../bench/text.js';
import { sha256, sha256Of, toHex } from '../../../src/crypto/index.js';
import { codecFor } from '../../../src/files/codec.js';
import { createRng } from '../../../src/impair/index.js';
import { type ChunkCodec, Compression, type Frame, MemorySink, MemorySource } from '../../../src/protocol/index.js';
import { Receiver } from '../../../src/protocol/receiver.js';
import { MAX_PACK_ATTEMPTS, MAX_SKIPPED_TRIES, Sender } from '../../../src/protocol/sender.js';

const SIZE = 1 << 20;
const PAYLOAD = 1160;
const ONE_WAY_MS = 10;
const BYTES_PER_MS = 20e6 / 8 / 1000;
const DROP_EVERY = 29;
const MAX_MS = 60_000;

interface Run {
  dataPackets: number;
  lostPackets: number;
  compressCalls: number;
  bytesOk: boolean;
  shaOk: boolean;
  largestRawFrame: number;
}

function transfer(file: Uint8Array): Run {
  const inner = codecFor(Compression.Deflate)!;
  let compressCalls = 0;
  const codec: ChunkCodec = {
    compress: (d) => {
      compressCalls++;
      return inner.compress(d);
    },
    decompress: (d, n) => inner.decompress(d, n),
  };
  const s = new Sender(new MemorySource(file), sha256(), { payloadBytes: PAYLOAD, codec });
  const sink = new MemorySink(file.length);
  const r = new Receiver(sink, file.length, 16 << 20, [], codec);
  const toReceiver: Array<{ at: number; pn: number; frames: Frame[] }> = [];
  const toSender: Array<{ at: number; ack: Extract<Frame, { type: 'ack' }> }> = [];
  let linkFreeMs = 0;
  let pn = 0;
  let dataPackets = 0;
  let lostPackets = 0;
  let largestRawFrame = 0;
  for (let t = 0; t <= MAX_MS && !(s.allAcked && r.complete); t++) {
    while (toReceiver.length > 0 && toReceiver[0]!.at <= t) {
      const p = toReceiver.shift()!;
      expect(r.onPacket(t, p.pn, p.frames)).toBe('accepted');
    }
    const ack = r.pollAck(t);
    if (ack) toSender.push({ at: t + ONE_WAY_MS, ack });
    while (toSender.length > 0 && toSender[0]!.at <= t) s.onAck(t, toSender.shift()!.ack);
    const timer = s.nextTimerMs();
    if (timer !== undefined && timer <= t) s.onTimer(t);
    for (let burst = 0; burst < 64 && linkFreeMs <= t; burst++) {
      const frames = s.buildPacket(t, pn);
      if (!frames) break;
      let bytes = 32;
      for (const f of frames) {
        if (f.type !== 'data') continue;
        dataPackets++;
        bytes += f.bytes.length;
        largestRawFrame = Math.max(largestRawFrame, f.length);
      }
      linkFreeMs = Math.max(linkFreeMs, t) + bytes / BYTES_PER_MS;
      if (pn % DROP_EVERY === DROP_EVERY - 1) lostPackets++;
      // frames own their bytes once sent (a source may reuse its buffers)
      else toReceiver.push({ at: Math.ceil(linkFreeMs) + ONE_WAY_MS, pn, frames: structuredClone(frames) });
      pn++;
    }
  }
  expect(s.allAcked && r.complete, 'the transfer ends within the bound').toBe(true);
  const sha = s.sha256Announced;
  return {
    dataPackets,
    lostPackets,
    compressCalls,
    bytesOk: Buffer.compare(Buffer.from(sink.data.subarray(0, file.length)), Buffer.from(file)) === 0,
    shaOk: sha !== undefined && toHex(sha) === toHex(sha256Of(file)),
    largestRawFrame,
  };
}

describe('compression that saves packets', () => {
  const text = transfer(logText(SIZE, 1));
  const random = transfer(createRng(2).bytes(SIZE));

  it('sends a compressible 1 MiB text in at most 1/2.5 of the packets random bytes take, through loss', () => {
    expect(text.lostPackets).toBeGreaterThan(5);
    expect(random.lostPackets).toBeGreaterThan(5);
    expect(text.bytesOk && text.shaOk).toBe(true);
    expect(random.bytesOk && random.shaOk).toBe(true);
    expect(text.largestRawFrame).toBeGreaterThan(2 * PAYLOAD);
    expect(text.dataPackets * 2.5).toBeLessThanOrEqual(random.dataPackets);
  });

  it('bounds the work: random bytes cost a compression every ~MAX_SKIPPED_TRIES packets, text at most MAX_PACK_ATTEMPTS + 1', () => {
    expect(random.largestRawFrame).toBeLessThanOrEqual(PAYLOAD);
    // 1 + 1 + 2 + 4 + 8 + 16 packets to reach the longest run, then one try per MAX_SKIPPED_TRIES + 1 packets
    expect(random.compressCalls).toBeLessThanOrEqual(6 + random.dataPackets / (MAX_SKIPPED_TRIES + 1) + 1);
    expect(text.compressCalls).toBeLessThanOrEqual(text.dataPackets * (MAX_PACK_ATTEMPTS + 1));
    // and mostly one: the estimate of the ratio makes the first guess fit
    expect(text.compressCalls).toBeLessThanOrEqual(text.dataPackets * 2);
  });
});
