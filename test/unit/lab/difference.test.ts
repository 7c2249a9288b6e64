// One `difference()` for both runtimes that grade a user's program (exec on local/netns, image on docker): two files
// on disk compared 64 KiB at a time, in the contract's words.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { difference, firstDifference } from '../../../src/lab/runtimes/difference.js';

const dir = mkdtempSync(join(tmpdir(), 'udplab-difference-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const file = (b: Buffer) => {
  const path = join(dir, `f${n++}`);
  writeFileSync(path, b);
  return path;
};
const flip = (b: Buffer, at: number) => {
  const c = Buffer.from(b);
  c[at] = c[at]! ^ 0xff;
  return c;
};

describe('difference(original, written)', () => {
  const small = Buffer.from('0123456789');
  // longer than three 64 KiB chunks and not a multiple of one: the differences sit in later chunks
  const big = randomBytes(3 * 65_536 + 1234);

  it('identical files: the first difference is at their length', () => {
    expect(difference(file(small), file(small))).toBe('10 bytes written of 10, first difference at byte 10');
  });

  it('first difference at byte 0', () => {
    expect(difference(file(small), file(flip(small, 0)))).toBe('10 bytes written of 10, first difference at byte 0');
    expect(firstDifference(file(big), file(flip(big, 0)))).toBe(0);
  });

  it('first difference at the last byte', () => {
    expect(difference(file(small), file(flip(small, 9)))).toBe('10 bytes written of 10, first difference at byte 9');
    expect(firstDifference(file(big), file(flip(big, big.length - 1)))).toBe(big.length - 1);
  });

  it('a long file: the difference in a later chunk, and at a chunk boundary', () => {
    const at = 2 * 65_536 + 777;
    expect(difference(file(big), file(flip(big, at)))).toBe(
      `${big.length} bytes written of ${big.length}, first difference at byte ${at}`,
    );
    expect(firstDifference(file(big), file(flip(big, 65_536)))).toBe(65_536);
    expect(firstDifference(file(big), file(flip(big, 65_535)))).toBe(65_535);
  });

  it('a short file that is a prefix: the difference is where it ends', () => {
    expect(difference(file(small), file(small.subarray(0, 4)))).toBe(
      '4 bytes written of 10, first difference at byte 4',
    );
    const cut = 65_536 + 5;
    expect(difference(file(big), file(big.subarray(0, cut)))).toBe(
      `${cut} bytes written of ${big.length}, first difference at byte ${cut}`,
    );
  });

  it('a file longer than the original: the difference is where the original ends', () => {
    const longer = Buffer.concat([small, Buffer.from('xyz')]);
    expect(difference(file(small), file(longer))).toBe('13 bytes written of 10, first difference at byte 10');
  });

  it('an empty file written: the first difference is at byte 0', () => {
    expect(difference(file(small), file(Buffer.alloc(0)))).toBe('0 bytes written of 10, first difference at byte 0');
    expect(difference(file(Buffer.alloc(0)), file(Buffer.alloc(0)))).toBe(
      '0 bytes written of 0, first difference at byte 0',
    );
  });
});
