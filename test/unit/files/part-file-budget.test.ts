// One process holding many receptions (a server's uploads, the bench's load generator with 100 downloads) shares
// one checkpoint budget: each part's journal is rewritten no sooner than 10× its last checkpoint's cost × the parts
// open in this process. Counted: the journal renames (one per checkpoint); every fdatasync is made to take ≥ 6 ms, so
// the spacing a part's own cost alone would give (10 × a checkpoint's cost, ≥ 120 ms) stays below the 250 ms floor.
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { openPartCount, PartFile, readJournalInfo } from '../../../src/files/index.js';
import { tempDir } from '../../helpers/tmp.js';

const SYNC_MS = 6;
const syncs = { count: 0, data: 0 };
/** The hash's fsyncs, held until the test lets them run. */
const held: Array<() => void> = [];
const pause = new Int32Array(new SharedArrayBuffer(4));
vi.mock('node:fs', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:fs')>();
  return {
    ...real,
    renameSync: (from: string, to: string) => {
      if (String(to).endsWith('.journal')) syncs.count++;
      real.renameSync(from, to);
    },
    fsync: (fd: number, cb: (err: NodeJS.ErrnoException | null) => void) => {
      held.push(() => real.fsync(fd, cb));
    },
    fdatasyncSync: (fd: number) => {
      syncs.data++;
      Atomics.wait(pause, 0, 0, SYNC_MS); // a slow disk: at least SYNC_MS per sync
      real.fdatasyncSync(fd);
    },
  };
});

const PACKET = 1160;

describe('PartFile checkpoints share one budget per process', () => {
  it('opening a part writes one journal, with no sync of the still empty part; its first packets write none', () => {
    using dir = tempDir();
    const final = join(dir.path, 'o.bin');
    let held = 0;
    syncs.count = 0;
    syncs.data = 0;
    const p = new PartFile(final, { sizeBytes: 100 * PACKET, resume: false, force: false }, () => [[0, held]]);
    try {
      expect(syncs).toEqual({ count: 1, data: 1 }); // the journal's temp file only: it claims no range
      for (let i = 0; i < 3; i++) {
        p.write(i * PACKET, new Uint8Array(PACKET).fill(i));
        held = (i + 1) * PACKET;
      }
      expect(syncs).toEqual({ count: 1, data: 1 }); // the journal just written is not rewritten at the first packet
      p.checkpoint(Date.now() + 60_000);
      expect(syncs).toEqual({ count: 2, data: 3 }); // it claims 3 packets: the part, then the journal's temp file
      expect(readJournalInfo(final)?.ranges).toEqual([[0, 3 * PACKET]]);
    } finally {
      p.discard(); // also when an expectation failed: the count of open parts stays right for the next test
    }
  });

  it('with 20 parts open a part checkpoints less often than alone, and the count of open parts returns to 0', () => {
    using dir = tempDir();
    const parts: PartFile[] = [];
    const held: number[] = [];
    for (let i = 0; i < 20; i++) {
      held.push(0);
      parts.push(
        new PartFile(join(dir.path, `f${i}.bin`), { sizeBytes: 100 * PACKET, resume: false, force: false }, () => [
          [0, held[i]!],
        ]),
      );
    }
    expect(openPartCount()).toBe(20);
    const p = parts[0]!;
    const final = join(dir.path, 'f0.bin');
    p.write(0, new Uint8Array(PACKET).fill(1));
    held[0] = PACKET;
    const t = Date.now();
    p.write(PACKET, new Uint8Array(PACKET).fill(2));
    held[0] = 2 * PACKET;
    syncs.count = 0;
    // 1 s later: alone this part would checkpoint (10 × its cost, ≥ 120 ms but far below 1 s); 20 parts share the
    // budget (10 × ≥ 12 ms × 20 ≥ 2.4 s), so not yet
    p.checkpoint(t + 1_000);
    expect(syncs.count).toBe(0);
    expect(readJournalInfo(final)?.ranges).toEqual([]);
    p.checkpoint(t + 60_000);
    expect(syncs.count).toBe(1);
    expect(readJournalInfo(final)?.ranges).toEqual([[0, 2 * PACKET]]);
    // the others end (each way a part ends): one part open, the spacing is its own again
    for (const [i, q] of parts.entries()) {
      if (i === 0) continue;
      if (i % 2) q.discard();
      else q.suspend();
    }
    expect(openPartCount()).toBe(1);
    p.write(2 * PACKET, new Uint8Array(PACKET).fill(3));
    held[0] = 3 * PACKET;
    syncs.count = 0;
    p.checkpoint(t + 61_000);
    expect(syncs.count).toBe(1);
    expect(readJournalInfo(final)?.ranges).toEqual([[0, 3 * PACKET]]);
    p.suspend();
    expect(openPartCount()).toBe(0);
  });

  it('a part that fails to open is not counted', () => {
    using dir = tempDir();
    const final = join(dir.path, 'x.bin');
    const a = new PartFile(final, { sizeBytes: PACKET, resume: false, force: false }, () => []);
    expect(() => new PartFile(final, { sizeBytes: PACKET, resume: false, force: false }, () => [])).toThrow(
      /E_BUSY|already being received/,
    );
    expect(openPartCount()).toBe(1);
    a.discard();
    a.discard(); // twice: still counted once
    expect(openPartCount()).toBe(0);
  });

  it('the hash fsyncs the part off the event loop: the loop runs on while that fsync is pending', async () => {
    using dir = tempDir();
    const final = join(dir.path, 'h.bin');
    const data = new Uint8Array(4 * PACKET).map((_, i) => i & 0xff);
    const p = new PartFile(final, { sizeBytes: data.length, resume: false, force: false }, () => [[0, data.length]]);
    try {
      for (let i = 0; i < 4; i++) p.write(i * PACKET, data.subarray(i * PACKET, (i + 1) * PACKET));
      let hashed: string | undefined;
      const hashing = p.hashOnDisk().then((h) => {
        hashed = h;
      });
      await new Promise((ok) => setImmediate(ok)); // other sessions' I/O and timers run here
      expect(held.length).toBe(1); // the fsync was asked for, not run on this thread
      expect(hashed).toBeUndefined();
      held.shift()!();
      await hashing;
      expect(hashed).toBe(createHash('sha256').update(data).digest('hex'));
    } finally {
      p.discard();
    }
  });
});
