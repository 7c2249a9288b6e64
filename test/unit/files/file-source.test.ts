// FileSource: reads through four cached 1 MiB blocks whose buffers are reused on eviction. Random reads in
// random order (within a block, across blocks, longer than the cache, re-reads of evicted blocks) must return
// exactly the file's bytes; a file shorter than a block gets a buffer of its own size. A FIFO is refused without
// blocking (review #9); with a root, a file whose fd lies outside it is refused (review #11).
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
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

  it('refuses a FIFO at once instead of blocking in open() (run in a child process, killed after 10 s)', () => {
    using dir = tempDir();
    const fifo = join(dir.path, 'pipe');
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    // the compiled module: a blocked open() would hang this worker beyond any test timeout
    const mod = join(import.meta.dirname, '..', '..', '..', 'dist', 'src', 'files', 'index.js');
    const script = `import(${JSON.stringify(mod)}).then(({ FileSource }) => {
      try { new FileSource(${JSON.stringify(fifo)}); console.log('opened'); }
      catch (e) { console.log(e.code + ' ' + e.message); }
    });`;
    const started = Date.now();
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 10_000 });
    expect(r.signal, 'the child was still blocked after 10 s').toBeNull();
    expect(r.stdout.trim()).toMatch(/^E_NOT_FOUND not a regular file: .*pipe$/);
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('with a root, a file whose real path lies outside it is refused E_PATH_OUTSIDE_ROOT', () => {
    using dir = tempDir();
    const root = join(dir.path, 'root');
    mkdirSync(root);
    writeFileSync(join(dir.path, 'secret'), 'outside');
    writeFileSync(join(root, 'inside'), 'inside');
    symlinkSync(join(dir.path, 'secret'), join(root, 'escape'));
    symlinkSync(join(root, 'inside'), join(root, 'alias'));
    const code = (f: () => unknown) => {
      try {
        (f() as FileSource).close();
        return 'opened';
      } catch (e) {
        return (e as { code?: string }).code;
      }
    };
    expect(code(() => new FileSource(join(root, 'escape'), { root } as never))).toBe('E_PATH_OUTSIDE_ROOT');
    expect(code(() => new FileSource(join(root, 'alias'), { root } as never))).toBe('opened');
    expect(code(() => new FileSource(join(root, 'escape')))).toBe('opened'); // no root: the caller's own file
  });
});
