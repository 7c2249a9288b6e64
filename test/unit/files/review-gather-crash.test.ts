// Review of the gathered writes (3a6fe5f): a Receiver feeding a PartFile with a hostile schedule of DATA frames —
// out of order, duplicated, overlapping a gathered-but-unwritten run, straddling it, with journals forced at random
// moments — then a kill -9 (the process's memory, the gather buffer with it, is gone; the page cache stays) and a
// --resume. Whatever the crash point, every range the resumed journal claims must hold the file's bytes, and a
// transfer finished after the resume must hash to the file's digest.
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PartFile } from '../../../src/files/index.js';
import type { Frame, Range } from '../../../src/protocol/index.js';
import { Receiver } from '../../../src/protocol/receiver.js';
import { tempDir } from '../../helpers/tmp.js';

/** Deterministic PRNG (mulberry32). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const dataFrame = (file: Uint8Array, offset: number, length: number): Frame => ({
  type: 'data',
  offset,
  length,
  compressed: false,
  // a view into a buffer the caller reuses next packet (as a decrypt buffer would be): the sink must copy
  bytes: new Uint8Array(file.subarray(offset, offset + length)),
});

/** A kill -9: the gathered bytes (process memory) are lost, the fd's page cache is not; nothing else runs. */
function crash(p: PartFile): void {
  const q = p as unknown as { gatheredBytes: number; closeFd(): void };
  q.gatheredBytes = 0;
  q.closeFd();
}

/** Frames of one hostile schedule: segments of random sizes, random order, duplicates and overlaps. */
function schedule(r: () => number, size: number): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (let off = 0; off < size; ) {
    const len = Math.min(size - off, 1 + Math.floor(r() * 3000));
    out.push([off, len]);
    off += len;
  }
  // swaps near each other (reordering), then duplicates and straddling overlaps sprinkled in
  for (let i = 0; i < out.length; i++) {
    if (r() < 0.3) {
      const j = Math.min(out.length - 1, i + Math.floor(r() * 6));
      [out[i], out[j]] = [out[j]!, out[i]!];
    }
  }
  const extra: Array<[number, number]> = [];
  for (let k = 0; k < out.length / 4; k++) {
    const a = Math.floor(r() * size);
    extra.push([a, Math.min(size - a, 1 + Math.floor(r() * 5000))]);
  }
  for (const e of extra) out.splice(Math.floor(r() * out.length), 0, e);
  return out;
}

describe('review: gathered writes, crash and resume', () => {
  it('after a kill -9 at any point the resumed journal claims only the file’s own bytes (200 seeds)', async () => {
    using dir = tempDir();
    for (let seed = 1; seed <= 200; seed++) {
      const r = rng(seed);
      const size = 50_000 + Math.floor(r() * 400_000);
      const file = randomBytes(size);
      const final = join(dir.path, `f${seed}.bin`);
      let recv: Receiver | undefined;
      const p = new PartFile(final, { sizeBytes: size, resume: false, force: false }, () => recv?.data.toArray() ?? []);
      recv = new Receiver(p, size, 1 << 30);
      const frames = schedule(r, size);
      const crashAt = Math.floor(r() * frames.length);
      let pn = 0;
      for (let i = 0; i < crashAt; i++) {
        const [off, len] = frames[i]!;
        const res = recv.onPacket(0, pn++, [dataFrame(file, off, len)]);
        expect(['accepted', 'duplicate', 'dropped']).toContain(res);
        if (r() < 0.05) p.checkpoint(Date.now() + 3_600_000 + i); // a journal at a random moment
      }
      crash(p);

      // --resume: every claimed byte is the file's
      let recv2: Receiver | undefined;
      const q = new PartFile(final, { sizeBytes: size, resume: true, force: false }, () => recv2?.data.toArray() ?? []);
      const disk = fs.readFileSync(q.partPath);
      for (const [a, b] of q.initialRanges) {
        expect(b).toBeLessThanOrEqual(disk.length);
        expect(Buffer.compare(disk.subarray(a, b), file.subarray(a, b)), `seed ${seed} range [${a},${b})`).toBe(0);
      }
      // finish from the journal's ranges: the hash over the disk is the file's
      recv2 = new Receiver(q, size, 1 << 30, q.initialRanges);
      for (const [a, b] of recv2.data.gaps(0, size) as Range[]) {
        for (let off = a; off < b; off += 1160)
          recv2.onPacket(0, pn++, [dataFrame(file, off, Math.min(1160, b - off))]);
      }
      expect(recv2.data.covers(0, size)).toBe(true);
      expect(await q.hashOnDisk()).toBe(createHash('sha256').update(file).digest('hex'));
      q.discard();
    }
  });
});
