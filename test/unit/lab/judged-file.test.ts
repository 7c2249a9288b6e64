// The file a program left at {local}, judged without trusting it (judged-file.ts): a symbolic link is refused, not
// followed (else a link to the served file passes without a transfer); a FIFO or a directory is refused without
// blocking; a sparse file far larger than the one served is refused without being read; a regular file is hashed.
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  closeSync,
  ftruncateSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { judgedFile, SLACK_BYTES } from '../../../src/lab/runtimes/judged-file.js';

const dir = mkdtempSync(join(tmpdir(), 'udplab-judged-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const bytes = randomBytes(3 * (1 << 20) + 12_345); // more than one 1 MiB chunk, not a multiple of one
const served = { path: join(dir, 'served.bin'), sha256: createHash('sha256').update(bytes).digest('hex') };
writeFileSync(served.path, bytes);
const at = (name: string) => join(dir, name);

describe('judgedFile({local}, served)', () => {
  it('a regular file with the served bytes: its SHA-256 and size, no difference', async () => {
    writeFileSync(at('ok'), bytes);
    expect(await judgedFile(at('ok'), served)).toEqual({ kind: 'file', sha256: served.sha256, size: bytes.length });
  });

  it('a regular file with other bytes: where it differs, read through the same descriptor', async () => {
    const b = Buffer.from(bytes);
    b[2_000_000] = b[2_000_000]! ^ 1;
    writeFileSync(at('wrong'), b);
    const j = await judgedFile(at('wrong'), served);
    expect(j).toMatchObject({
      kind: 'file',
      size: bytes.length,
      difference: `${bytes.length} bytes written of ${bytes.length}, first difference at byte 2000000`,
    });
  });

  it('nothing there: none', async () => {
    expect(await judgedFile(at('absent'), served)).toEqual({ kind: 'none' });
  });

  it('a symbolic link to the served file is refused, not followed', async () => {
    symlinkSync(served.path, at('link'));
    expect(await judgedFile(at('link'), served, '{local}')).toEqual({
      kind: 'refused',
      why: 'a symbolic link',
      reason: '{local} is a symbolic link, not a file',
    });
  });

  it('a FIFO (and a link to one) is refused without blocking', { timeout: 10_000 }, async () => {
    expect(spawnSync('mkfifo', [at('fifo')]).status).toBe(0);
    expect(await judgedFile(at('fifo'), served, '{local}')).toMatchObject({ kind: 'refused', why: 'a FIFO' });
    symlinkSync(at('fifo'), at('fifo-link'));
    expect(await judgedFile(at('fifo-link'), served)).toMatchObject({ kind: 'refused', why: 'a symbolic link' });
  });

  it('a directory is refused', async () => {
    mkdirSync(at('dir'));
    expect(await judgedFile(at('dir'), served, '{local}')).toEqual({
      kind: 'refused',
      why: 'a directory',
      reason: '{local} is a directory, not a file',
    });
  });

  it('a sparse file of 3 GiB is refused without being read; one within the slack is read', async () => {
    const big = 3 * 2 ** 30;
    const fd = openSync(at('sparse'), 'w');
    ftruncateSync(fd, big);
    closeSync(fd);
    expect(await judgedFile(at('sparse'), served)).toEqual({
      kind: 'refused',
      why: `larger than the ${bytes.length} bytes served`,
      reason: `${big} bytes, more than the ${bytes.length} served`,
    });
    const fd2 = openSync(at('slack'), 'w');
    ftruncateSync(fd2, bytes.length + SLACK_BYTES);
    closeSync(fd2);
    expect(await judgedFile(at('slack'), served)).toMatchObject({
      kind: 'file',
      size: bytes.length + SLACK_BYTES,
      // A sparse file reads as zeros: it differs first where the served bytes are first non-zero (random bytes
      // begin with 0x00 one run in 256, which made this flaky when it said byte 0).
      difference: `${bytes.length + SLACK_BYTES} bytes written of ${bytes.length}, first difference at byte ${bytes.findIndex((b) => b !== 0)}`,
    });
  });
});
