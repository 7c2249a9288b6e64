// PartFile (review #5, #6, #11, #12): a per-transfer temp file created O_EXCL|O_NOFOLLOW 0600 beside the final
// name and recorded in the journal; nothing is written through a planted symlink; two transfers of one name never
// share an inode; the hash covers exactly sizeBytes of a truncated part; the journal is clamped to what the part holds.
import { createHash } from 'node:crypto';
import {
  appendFileSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { PartFile, type PartFileOptions, readJournalInfo } from '../../../src/files/index.js';
import type { Range } from '../../../src/protocol/index.js';
import { tempDir } from '../../helpers/tmp.js';

const sha = (b: string | Uint8Array) => createHash('sha256').update(b).digest('hex');
const opts = (sizeBytes: number, more: Partial<PartFileOptions> = {}): PartFileOptions => ({
  sizeBytes,
  resume: false,
  force: false,
  ...more,
});
const code = (f: () => unknown) => {
  try {
    f();
    return 'no error';
  } catch (e) {
    return (e as { code?: string }).code;
  }
};

let umask = 0;
beforeEach(() => {
  umask = process.umask(0o022);
});
afterEach(() => {
  process.umask(umask);
});

describe('PartFile', () => {
  it('symlinks planted at NAME.part and NAME.part.journal.tmp: nothing outside is written, NAME is a regular file', async () => {
    using dir = tempDir();
    const root = join(dir.path, 'root');
    mkdirSync(root);
    const outA = join(dir.path, 'outside-a');
    const outB = join(dir.path, 'outside-b');
    writeFileSync(outA, 'precious A');
    writeFileSync(outB, 'precious B');
    symlinkSync(outA, join(root, 'report.txt.part'));
    symlinkSync(outB, join(root, 'report.txt.part.journal.tmp'));
    const final = join(root, 'report.txt');
    const p = new PartFile(final, opts(5), () => [[0, 5]]);
    p.write(0, Buffer.from('hello'));
    p.checkpoint(Date.now() + 10_000);
    expect(await p.hashOnDisk()).toBe(sha('hello'));
    p.promote();
    expect(readFileSync(outA, 'utf8')).toBe('precious A');
    expect(readFileSync(outB, 'utf8')).toBe('precious B');
    expect(lstatSync(final).isSymbolicLink()).toBe(false);
    expect(lstatSync(final).isFile()).toBe(true);
    expect(readFileSync(final, 'utf8')).toBe('hello');
  });

  it('a journal naming a part that is a symlink is not resumed through it; the target is untouched', () => {
    using dir = tempDir();
    const out = join(dir.path, 'outside');
    writeFileSync(out, 'precious');
    const final = join(dir.path, 'f.bin');
    const planted = 'f.bin.0123456789abcdef.part';
    symlinkSync(out, join(dir.path, planted));
    symlinkSync(out, join(dir.path, 'f.bin.part'));
    writeFileSync(
      `${final}.part.journal`,
      JSON.stringify({ version: 2, sizeBytes: 8, part: planted, ranges: [[0, 8]] }),
    );
    const p = new PartFile(final, opts(8, { resume: true }), () => []);
    expect(p.initialRanges).toEqual([]);
    p.write(0, Buffer.from('12345678'));
    p.suspend();
    expect(readFileSync(out, 'utf8')).toBe('precious');
    expect(existsSync(join(dir.path, planted))).toBe(false); // the planted link (not its target) was removed
  });

  it('two PartFiles for one final name never share an inode (in one process, or another)', async () => {
    using dir = tempDir();
    const final = join(dir.path, 'shared.bin');
    const a = new PartFile(final, opts(4), () => [[0, 4]]);
    const inoA = statSync(a.partPath).ino;
    // a second writer in this process is refused, or at least gets a file of its own
    let second: PartFile | undefined;
    const c = code(() => {
      second = new PartFile(final, opts(4), () => [[0, 4]]);
    });
    if (second) expect(statSync(second.partPath).ino).not.toBe(inoA);
    else expect(c).toBe('E_BUSY');
    second?.discard();
    // another process (a fresh copy of the module: no shared state) starting the same name gets its own inode;
    // the first writer then finds its part gone and refuses to promote instead of publishing the other's file
    vi.resetModules();
    const other = (await import('../../../src/files/part-file.js')).PartFile;
    const b = new other(final, opts(4), () => [[0, 4]]);
    expect(statSync(b.partPath).ino).not.toBe(inoA);
    b.write(0, Buffer.from('BBBB'));
    a.write(0, Buffer.from('AAAA'));
    expect(await b.hashOnDisk()).toBe(sha('BBBB'));
    b.promote();
    a.write(0, Buffer.from('XXXX')); // after B's file is published: must not reach it
    expect(await a.hashOnDisk()).toBe(sha('XXXX'));
    expect(code(() => a.promote())).not.toBe('no error');
    expect(readFileSync(final, 'utf8')).toBe('BBBB');
  });

  it('a part longer than sizeBytes is truncated: the hash covers exactly sizeBytes, NAME has no trailing bytes', async () => {
    using dir = tempDir();
    const final = join(dir.path, 'f.bin');
    const p = new PartFile(final, opts(5), () => [[0, 5]]);
    p.write(0, Buffer.from('hello'));
    appendFileSync(p.partPath, 'TRAILING BYTES');
    expect(await p.hashOnDisk()).toBe(sha('hello'));
    p.promote();
    expect(readFileSync(final, 'utf8')).toBe('hello');
  });

  it('a journal claiming more than the part holds is clamped to the part size', () => {
    using dir = tempDir();
    const final = join(dir.path, 'f.bin');
    const lying: Range[] = [[0, 100_000]];
    const p = new PartFile(final, opts(100_000), () => lying);
    p.write(0, new Uint8Array(4096).fill(7));
    p.suspend();
    expect(readJournalInfo(final)).toEqual({ sizeBytes: 100_000, ranges: [[0, 4096]] });
    const r = new PartFile(final, opts(100_000, { resume: true }), () => []);
    expect(r.initialRanges).toEqual([[0, 4096]]);
    r.discard();
  });

  it('resume reopens the part the journal records; the journal is version 2 and names NAME.<16 hex>.part', async () => {
    using dir = tempDir();
    const final = join(dir.path, 'f.bin');
    let held: Range[] = [[0, 3]];
    const p = new PartFile(final, opts(6), () => held);
    p.write(0, Buffer.from('abc'));
    p.suspend();
    const j = JSON.parse(readFileSync(`${final}.part.journal`, 'utf8'));
    expect(j).toEqual({
      version: 2,
      sizeBytes: 6,
      part: expect.stringMatching(/^f\.bin\.[0-9a-f]{16}\.part$/),
      ranges: [[0, 3]],
    });
    const r = new PartFile(final, opts(6, { resume: true }), () => held);
    expect(r.partPath).toBe(join(dir.path, j.part));
    expect(r.initialRanges).toEqual([[0, 3]]);
    r.write(3, Buffer.from('def'));
    held = [[0, 6]];
    expect(await r.hashOnDisk()).toBe(sha('abcdef'));
    r.promote();
    expect(readFileSync(final, 'utf8')).toBe('abcdef');
    expect(readdirSync(dir.path)).toEqual(['f.bin']);
  });

  it('a fresh (not resumed) transfer removes the previous journal’s part and never writes into it', () => {
    using dir = tempDir();
    const final = join(dir.path, 'f.bin');
    const p = new PartFile(final, opts(3), () => [[0, 3]]);
    p.write(0, Buffer.from('old'));
    p.suspend();
    const oldPart = p.partPath;
    const q = new PartFile(final, opts(3), () => []);
    expect(q.partPath).not.toBe(oldPart);
    expect(existsSync(oldPart)).toBe(false);
    q.discard();
    expect(readdirSync(dir.path)).toEqual([]);
  });

  it('temp files are 0600 whatever the umask; a promoted file is 0600 unless finalMode says otherwise', async () => {
    using dir = tempDir();
    const final = join(dir.path, 'f.bin');
    const p = new PartFile(final, opts(1), () => [[0, 1]]);
    expect(statSync(p.partPath).mode & 0o777).toBe(0o600);
    expect(statSync(`${final}.part.journal`).mode & 0o777).toBe(0o600);
    p.write(0, Buffer.from('x'));
    await p.hashOnDisk();
    p.promote();
    expect(statSync(final).mode & 0o777).toBe(0o600);
    const g = join(dir.path, 'g.bin');
    const q = new PartFile(g, { ...opts(1), finalMode: 0o644 } as PartFileOptions, () => [[0, 1]]);
    q.write(0, Buffer.from('y'));
    await q.hashOnDisk();
    q.promote();
    expect(statSync(g).mode & 0o777).toBe(0o644);
  });

  it('without force, an existing NAME (even a dangling symlink) is never replaced', async () => {
    using dir = tempDir();
    const final = join(dir.path, 'f.bin');
    symlinkSync(join(dir.path, 'nowhere'), final);
    expect(code(() => new PartFile(final, opts(1), () => []))).toBe('E_EXISTS');
  });
});
