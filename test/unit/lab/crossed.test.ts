// The byte cross-check's rule (src/lab/shapers/crossed.ts): ½ × min(file size, deflate size) server→client per intact
// file, read from the relay's or netem's counters; no counters: skipped, said, never a silent pass.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { writeContent } from '../../../src/lab/runtimes/placed.js';
import {
  checkCrossed,
  crossedBound,
  crossedFailure,
  deflatedSize,
  downBytes,
  preparedDeflatedSize,
} from '../../../src/lab/shapers/crossed.js';
import { crossedNote } from '../../../src/report/index.js';
import { tempDir } from '../../helpers/tmp.js';

const MB4 = 4_000_000;
const relay = (down: number) => ({
  shaper: 'userspace',
  forwarded: { up: { datagrams: 1, bytes: 40 }, down: { datagrams: 9, bytes: down } },
});
const netem = (down: number, reapplied?: string[]) => ({
  up: { where: 'ul3c', sent_bytes: 999_999_999 },
  down: { where: 'ul3s', sent_bytes: down },
  ...(reapplied && { reapplied }),
});

describe('the byte cross-check', () => {
  it('the bound is half the smaller of the file and its deflate size', () => {
    expect(crossedBound(MB4, MB4 + 1300)).toBe(2_000_000); // random: incompressible
    expect(crossedBound(MB4, 4000)).toBe(2000); // zeros deflate to ~1/1000
    expect(crossedBound(7, 100)).toBe(3);
  });

  it('reads the down bytes: the relay’s forwarded.down, netem’s down Sent', () => {
    expect(downBytes(relay(123))).toEqual({ bytes: 123, where: 'userspace relay, forwarded to the clients' });
    expect(downBytes(netem(456))).toEqual({ bytes: 456, where: 'netem on ul3s' }); // not the up side's
  });

  it('no counters: skipped with the reason (none at all, an old relay, netem restarted mid-run, an attack’s)', () => {
    expect(downBytes(undefined)).toEqual({ skipped: expect.stringMatching(/^the shaper reported no counters/) });
    expect(downBytes(null)).toEqual({ skipped: expect.stringMatching(/^the shaper reported no counters/) });
    expect(downBytes({ shaper: 'userspace', upStats: {} })).toEqual({
      skipped: expect.stringMatching(/^the relay's report has no byte counters/),
    });
    expect(downBytes(netem(5, ['ul3s']))).toEqual({
      skipped: 'netem on ul3s was applied again during the run (a restarted container): its counters restarted',
    });
    expect(downBytes(netem(5, ['ul3c']))).toEqual({ bytes: 5, where: 'netem on ul3s' }); // only up was renewed
    expect(downBytes({ request_bytes: 60, victim_bytes: 9000 })).toEqual({
      skipped: 'the shaper counted nothing server→client (no down counters)',
    });
    const c = checkCrossed({ counters: undefined, intact: 1, fileBytes: MB4, deflatedBytes: MB4, judged: true });
    expect(c).toMatchObject({ ok: null, down_bytes: null, needed_bytes: 2_000_000 });
    expect(crossedFailure(c, MB4)).toBeUndefined();
    expect(crossedNote(c)).toMatch(/^byte cross-check skipped: the shaper reported no counters/);
  });

  it('below the bound: the failure says how much crossed and how much was expected', () => {
    const c = checkCrossed({
      counters: relay(200_000),
      intact: 1,
      fileBytes: MB4,
      deflatedBytes: MB4 + 9,
      judged: true,
    });
    expect(c).toEqual({
      judged: true,
      down_bytes: 200_000,
      needed_bytes: 2_000_000,
      intact_clients: 1,
      where: 'userspace relay, forwarded to the clients',
      ok: false,
    });
    expect(crossedFailure(c, MB4)).toBe(
      'bypassed the shaped path: 0.2 MB crossed the shaper server→client for a 4 MB file (at least 2 MB expected; userspace relay, forwarded to the clients)',
    );
    expect(crossedNote(c)).toBe(''); // a judged run's failure is in its failures
  });

  it('at the bound passes; several intact clients sum their bounds; files that did not arrive need nothing', () => {
    const at = (down: number, intact: number) =>
      checkCrossed({ counters: netem(down), intact, fileBytes: MB4, deflatedBytes: MB4, judged: true }).ok;
    expect(at(2_000_000, 1)).toBe(true);
    expect(at(1_999_999, 1)).toBe(false);
    expect(at(5_999_999, 3)).toBe(false);
    expect(at(6_000_000, 3)).toBe(true);
    expect(at(0, 0)).toBe(true);
    const two = checkCrossed({ counters: netem(10), intact: 2, fileBytes: MB4, deflatedBytes: MB4, judged: true });
    expect(crossedFailure(two, MB4)).toMatch(
      /^bypassed the shaped path: 10 bytes crossed the shaper server→client for 2 intact copies of a 4 MB file \(at least 4 MB expected; netem on ul3s\)$/,
    );
  });

  it('udplab’s own protocols: an observation in the notes, never a failure', () => {
    const c = checkCrossed({ counters: netem(10), intact: 1, fileBytes: MB4, deflatedBytes: MB4, judged: false });
    expect(c.ok).toBe(false);
    expect(crossedNote(c)).toBe(
      "only 10 bytes crossed the shaper server→client, fewer than the 2000000 the byte cross-check expects (netem on ul3s; an observation for udplab's own protocol)",
    );
    expect(crossedNote({ ...c, ok: null, skipped: 'x' })).toBe(''); // a built-in's skip is not worth a note
  });

  it('the deflate size is zlib level 6’s, streamed; random content is its own size without deflating', async () => {
    using dir = tempDir();
    const text = join(dir.path, 'text.bin');
    writeContent(text, 3 * 1024 * 1024 + 5, 'text');
    const packed = await deflatedSize(text);
    expect(packed).toBe(deflateSync(readFileSync(text), { level: 6 }).length);
    expect(packed).toBeLessThan(100_000);
    expect(await preparedDeflatedSize({ content: 'text' }, text, 3 * 1024 * 1024 + 5)).toBe(packed);
    const given = join(dir.path, 'given.bin');
    writeFileSync(given, Buffer.alloc(50_000));
    expect(await preparedDeflatedSize({ path: given }, undefined, 50_000)).toBeLessThan(1000);
    expect(await preparedDeflatedSize({ content: 'random' }, join(dir.path, 'absent'), 77)).toBe(77);
  });
});
