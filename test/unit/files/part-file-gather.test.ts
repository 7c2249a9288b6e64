// PartFile gathers neighbouring packets into one pwrite (docs/performance.md: one pwrite per 1,160-byte packet cost
// the receiver ~2.5 CPU s per GiB), and the journal still never claims a byte the part does not hold.
import * as fs from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { GATHER_BYTES, PartFile, readJournalInfo } from '../../../src/files/index.js';
import type { Range } from '../../../src/protocol/index.js';
import { tempDir } from '../../helpers/tmp.js';

// positioned writes (the part's; the journal's are not positioned) are counted, and can be made to fail
const pwrites = { count: 0, failNext: false };
vi.mock('node:fs', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:fs')>();
  return {
    ...real,
    writeSync: (fd: number, buf: Uint8Array, off?: number, len?: number, pos?: number | null) => {
      if (typeof pos === 'number') {
        pwrites.count++;
        if (pwrites.failNext) {
          pwrites.failNext = false;
          throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
        }
      }
      return real.writeSync(fd, buf, off, len, pos);
    },
  };
});

const PACKET = 1160;
const packet = (i: number) => new Uint8Array(PACKET).fill(i & 0xff);

/** Every range the journal claims is in the part file on disk, byte for byte. */
function journalClaimsOnlyWhatIsOnDisk(final: string, partPath: string): Range[] {
  const claimed = readJournalInfo(final)?.ranges ?? [];
  const disk = fs.readFileSync(partPath);
  for (const [a, b] of claimed) {
    expect(disk.length).toBeGreaterThanOrEqual(b);
    for (let off = a; off < b; off += PACKET) expect(disk[off]).toBe((off / PACKET) & 0xff);
  }
  return claimed;
}

describe('PartFile gathers writes', () => {
  it('1,000 packets in order take a handful of pwrites; journals and the hash see every byte', async () => {
    using dir = tempDir();
    const final = join(dir.path, 'f.bin');
    const n = 1000;
    let held = 0;
    const p = new PartFile(final, { sizeBytes: n * PACKET, resume: false, force: false }, () => [[0, held]]);
    pwrites.count = 0;
    for (let i = 0; i < n; i++) {
      p.write(i * PACKET, packet(i));
      held = (i + 1) * PACKET;
      if (i === 500) {
        p.checkpoint(Date.now() + 60_000); // a journal mid-way: what it claims is on disk
        expect(journalClaimsOnlyWhatIsOnDisk(final, p.partPath)).toEqual([[0, 501 * PACKET]]);
      }
    }
    p.flush();
    // one per GATHER_BYTES, one at the journal, one at flush() (one per packet before)
    expect(pwrites.count).toBeLessThanOrEqual(Math.ceil((n * PACKET) / GATHER_BYTES) + 2);
    const disk = fs.readFileSync(p.partPath);
    expect(disk.length).toBe(n * PACKET);
    for (let i = 0; i < n; i++) expect(disk[i * PACKET + PACKET - 1]).toBe(i & 0xff);
    p.discard();
  });

  it('out-of-order packets each start a new run; nothing is lost', async () => {
    using dir = tempDir();
    const final = join(dir.path, 'g.bin');
    const order = [0, 2, 1, 3, 4, 5, 9, 6, 7, 8];
    const p = new PartFile(final, { sizeBytes: order.length * PACKET, resume: false, force: false }, () => []);
    for (const i of order) p.write(i * PACKET, packet(i));
    const h = await p.hashOnDisk(); // flushes first
    const want = new Uint8Array(order.length * PACKET);
    for (let i = 0; i < order.length; i++) want.set(packet(i), i * PACKET);
    expect(h).toBe((await import('node:crypto')).createHash('sha256').update(want).digest('hex'));
    p.discard();
  });

  it('after a failed write no journal is written: the receiver may count gathered bytes that never reached the disk', () => {
    using dir = tempDir();
    const final = join(dir.path, 'h.bin');
    let held = 0;
    const p = new PartFile(final, { sizeBytes: 100 * PACKET, resume: false, force: false }, () => [[0, held]]);
    for (let i = 0; i < 10; i++) {
      p.write(i * PACKET, packet(i));
      held = (i + 1) * PACKET;
    }
    p.checkpoint(Date.now() + 60_000);
    expect(journalClaimsOnlyWhatIsOnDisk(final, p.partPath)).toEqual([[0, 10 * PACKET]]);
    for (let i = 10; i < 20; i++) {
      p.write(i * PACKET, packet(i));
      held = (i + 1) * PACKET; // the receiver counts them: the sink took them
    }
    pwrites.failNext = true;
    let code: string | undefined;
    try {
      p.flush();
    } catch (e) {
      code = (e as { code?: string }).code;
    }
    expect(code).toBe('E_DISK_FULL');
    p.suspend(); // keeps the part for a resume: its journal must not claim packets 10–19
    expect(journalClaimsOnlyWhatIsOnDisk(final, p.partPath)).toEqual([[0, 10 * PACKET]]);
  });
});
