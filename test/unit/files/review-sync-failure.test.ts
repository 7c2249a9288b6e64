// Review of 3a6fe5f ("after a failed write no journal is rewritten"): a failed fdatasync is a failed write too.
// Linux reports a writeback error (EIO, or ENOSPC/EDQUOT on NFS and thin-provisioned storage) once: the dirty pages
// are marked clean and dropped, and the next fdatasync returns 0. So after an fdatasync that failed, suspend()'s
// journal — written after a second, "successful" fdatasync — would claim bytes that never reached the disk: the
// journal leads the data. A --resume then skips those ranges and ends in E_INTEGRITY (the part is discarded).
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { PartFile, readJournalInfo } from '../../../src/files/index.js';
import { tempDir } from '../../helpers/tmp.js';

const syncs = { failNext: false };
vi.mock('node:fs', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:fs')>();
  const failing =
    (f: (fd: number) => void) =>
    (fd: number): void => {
      if (syncs.failNext) {
        syncs.failNext = false; // reported once, as the kernel does; the pages are gone
        throw Object.assign(new Error('EIO: i/o error, fsync'), { code: 'EIO' });
      }
      f(fd);
    };
  // the hash's fsync runs off the event loop (fs.fsync): it fails the same way
  const failingAsync =
    (f: typeof real.fsync) =>
    (fd: number, cb: (err: NodeJS.ErrnoException | null) => void): void => {
      if (syncs.failNext) {
        syncs.failNext = false;
        queueMicrotask(() => cb(Object.assign(new Error('EIO: i/o error, fsync'), { code: 'EIO' })));
        return;
      }
      f(fd, cb);
    };
  return {
    ...real,
    fdatasyncSync: failing(real.fdatasyncSync),
    fsyncSync: failing(real.fsyncSync),
    fsync: failingAsync(real.fsync),
  };
});

const PACKET = 1160;

describe('review: a failed fdatasync', () => {
  it('no journal is written after it (suspend keeps the last one, which claims only synced bytes)', () => {
    using dir = tempDir();
    const final = join(dir.path, 's.bin');
    let held = 0;
    const p = new PartFile(final, { sizeBytes: 100 * PACKET, resume: false, force: false }, () => [[0, held]]);
    for (let i = 0; i < 10; i++) {
      p.write(i * PACKET, new Uint8Array(PACKET).fill(i));
      held = (i + 1) * PACKET;
    }
    p.checkpoint(Date.now() + 60_000);
    expect(readJournalInfo(final)?.ranges).toEqual([[0, 10 * PACKET]]);
    for (let i = 10; i < 20; i++) {
      p.write(i * PACKET, new Uint8Array(PACKET).fill(i));
      held = (i + 1) * PACKET;
    }
    syncs.failNext = true;
    expect(() => p.checkpoint(Date.now() + 120_000)).toThrow(/EIO|I\/O/);
    p.suspend(); // the transfer ends E_IO: its journal must not now claim packets 10–19
    expect(readJournalInfo(final)?.ranges).toEqual([[0, 10 * PACKET]]);
  });

  it('nor after the hash’s fsync failed', async () => {
    using dir = tempDir();
    const final = join(dir.path, 't.bin');
    let held = 0;
    const p = new PartFile(final, { sizeBytes: 20 * PACKET, resume: false, force: false }, () => [[0, held]]);
    for (let i = 0; i < 20; i++) {
      p.write(i * PACKET, new Uint8Array(PACKET).fill(i));
      held = (i + 1) * PACKET;
    }
    const before = readJournalInfo(final)?.ranges;
    syncs.failNext = true;
    await expect(p.hashOnDisk()).rejects.toThrow(/EIO|I\/O/);
    p.suspend(); // the server's cleanup after a failed verify (code E_IO, not E_INTEGRITY)
    expect(readJournalInfo(final)?.ranges).toEqual(before);
  });
});
