// The journal and the promoted file survive a power loss: the journal's temp file is fdatasynced before it is
// renamed over the journal (else the rename can reach the disk before the bytes: an empty journal after a crash),
// and the directory is fsynced after the rename and after the promotion (else the new name itself may be lost).
// Checked on the order of the file-system calls PartFile makes (node:fs wrapped to record them).
import { basename, dirname, join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { PartFile, readJournalInfo, syncDirectory } from '../../../src/files/index.js';
import { tempDir } from '../../helpers/tmp.js';

const calls: string[] = [];
const fdPath = new Map<number, string>();
const fail = { dirSync: '' };
vi.mock('node:fs', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:fs')>();
  const name = (p: string) => basename(p);
  return {
    ...real,
    openSync: (p: string, ...rest: unknown[]) => {
      const fd = (real.openSync as (...a: unknown[]) => number)(p, ...rest);
      fdPath.set(fd, String(p));
      return fd;
    },
    closeSync: (fd: number) => {
      fdPath.delete(fd);
      real.closeSync(fd);
    },
    fdatasyncSync: (fd: number) => {
      calls.push(`fdatasync ${name(fdPath.get(fd) ?? '?')}`);
      real.fdatasyncSync(fd);
    },
    fsyncSync: (fd: number) => {
      const p = fdPath.get(fd) ?? '?';
      calls.push(`fsync ${name(p)}`);
      if (fail.dirSync && real.fstatSync(fd).isDirectory())
        throw Object.assign(new Error(`${fail.dirSync}: fsync`), { code: fail.dirSync });
      real.fsyncSync(fd);
    },
    renameSync: (a: string, b: string) => {
      calls.push(`rename ${name(a)} ${name(b)}`);
      real.renameSync(a, b);
    },
    linkSync: (a: string, b: string) => {
      calls.push(`link ${name(a)} ${name(b)}`);
      real.linkSync(a, b);
    },
  };
});

const PACKET = 1160;

function receive(final: string, force: boolean): PartFile {
  let held = 0;
  const p = new PartFile(final, { sizeBytes: 4 * PACKET, resume: false, force }, () => [[0, held]]);
  for (let i = 0; i < 4; i++) {
    p.write(i * PACKET, new Uint8Array(PACKET).fill(i));
    held = (i + 1) * PACKET;
  }
  return p;
}

describe('journal and promotion durability', () => {
  it('the journal temp file is fdatasynced before the rename, the directory fsynced after it', () => {
    using dir = tempDir();
    const final = join(dir.path, 'j.bin');
    const p = receive(final, false);
    calls.length = 0;
    p.checkpoint(Date.now() + 60_000);
    expect(readJournalInfo(final)?.ranges).toEqual([[0, 4 * PACKET]]);
    const rename = calls.findIndex((c) =>
      /^rename j\.bin\.part\.journal\.[0-9a-f]{16}\.tmp j\.bin\.part\.journal$/.test(c),
    );
    expect(rename, calls.join('\n')).toBeGreaterThan(0);
    const tmp = calls[rename]!.split(' ')[1]!;
    // the part first (the journal never leads the data), then the journal's own bytes, then its name
    expect(calls.slice(0, rename)).toEqual([
      expect.stringMatching(/^fdatasync j\.bin\.[0-9a-f]{16}\.part$/),
      `fdatasync ${tmp}`,
    ]);
    expect(calls.slice(rename + 1)).toEqual([`fsync ${basename(dir.path)}`]);
    p.discard();
  });

  it('the directory is fsynced after the promotion, with and without --force', async () => {
    for (const force of [false, true]) {
      using dir = tempDir();
      const final = join(dir.path, 'f.bin');
      const p = receive(final, force);
      await p.hashOnDisk();
      calls.length = 0;
      p.promote();
      const made = calls.findIndex((c) => (force ? c.startsWith('rename ') : c.startsWith('link ')));
      expect(calls[made], calls.join('\n')).toMatch(/ f\.bin$/);
      expect(calls.slice(made + 1), `force ${force}`).toContain(`fsync ${basename(dirname(final))}`);
    }
  });

  it('a file system that cannot sync a directory is not an error (EINVAL), the journal is written', () => {
    using dir = tempDir();
    const final = join(dir.path, 'e.bin');
    const p = receive(final, false);
    fail.dirSync = 'EINVAL';
    try {
      expect(() => syncDirectory(dir.path)).not.toThrow();
      p.checkpoint(Date.now() + 60_000);
      expect(readJournalInfo(final)?.ranges).toEqual([[0, 4 * PACKET]]);
    } finally {
      fail.dirSync = '';
    }
    p.discard();
  });
});
