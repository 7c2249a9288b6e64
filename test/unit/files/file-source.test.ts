// FileSource: reads through four cached 1 MiB blocks whose buffers are reused on eviction. Random reads in
// random order (within a block, across blocks, longer than the cache, re-reads of evicted blocks) must return
// exactly the file's bytes; a file shorter than a block gets a buffer of its own size.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FileSource } from '../../../src/files/index.js';
import { createRng } from '../../../src/impair/index.js';
import { randomFile, tempDir } from '../../helpers/tmp.js';

const MiB = 1 << 20;

describe('FileSource', () => {
  it('returns the file bytes for 3,000 random reads in random order (buffers reused across evictions)', () => {
    using dir = tempDir();
    const path = join(dir.path, 'f.bin');
    randomFile(path, 11 * MiB + 12_345);
    const data = readFileSync(path);
    const src = new FileSource(path);
    const rng = createRng(7);
    try {
      for (let i = 0; i < 3000; i++) {
        const offset = rng.int(data.length);
        const maxLen = i % 50 === 0 ? 6 * MiB : 4096; // now and then a read longer than the whole cache
        const length = 1 + rng.int(Math.min(maxLen, data.length - offset));
        const got = src.read(offset, length);
        expect(got.length).toBe(length);
        expect(Buffer.compare(Buffer.from(got), data.subarray(offset, offset + length)), `read ${i}`).toBe(0);
      }
    } finally {
      src.close();
    }
  });

  it('a file shorter than a block is read through a buffer of its own size', () => {
    using dir = tempDir();
    const path = join(dir.path, 's.bin');
    writeFileSync(path, 'hello udplab');
    const src = new FileSource(path);
    try {
      const got = src.read(6, 6);
      expect(Buffer.from(got).toString()).toBe('udplab');
      expect(got.buffer.byteLength).toBe(12);
    } finally {
      src.close();
    }
  });
});
