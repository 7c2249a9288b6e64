// sweepAbandonedParts (review #14): parts and journals of transfers abandoned longer than maxAge are removed under
// the root (bounded walk, symlinks not followed); young ones, live ones (a PartFile open in this process) and
// files that are not a transfer's (a lone legacy NAME.part, user files) stay.
import { mkdirSync, readdirSync, realpathSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PartFile, sweepAbandonedParts as sweep } from '../../../src/files/index.js';
import { tempDir } from '../../helpers/tmp.js';

const HOUR = 3600_000;
const NOW = Date.now();

function make(path: string, body: string, ageMs: number): void {
  writeFileSync(path, body);
  const t = (NOW - ageMs) / 1000;
  utimesSync(path, t, t);
}
const journal = (part: string) => JSON.stringify({ version: 2, sizeBytes: 10, part, ranges: [[0, 3]] });

describe('sweepAbandonedParts', () => {
  it('keeps an old pair whose final name isLive says another thread is receiving (serve --workers, review W3)', () => {
    using dir = tempDir();
    const root = join(dir.path, 'root');
    mkdirSync(join(root, 'sub'), { recursive: true });
    const part = `busy.bin.${'9'.repeat(16)}.part`;
    make(join(root, 'sub', 'busy.bin.part.journal'), journal(part), 48 * HOUR);
    make(join(root, 'sub', part), 'abc', 48 * HOUR);
    make(join(root, `orphan.bin.${'8'.repeat(16)}.part`), 'abc', 48 * HOUR);
    const asked: string[] = [];
    const r = sweep(root, HOUR, NOW, {
      isLive: (final) => {
        asked.push(final);
        return final.endsWith('/sub/busy.bin') || final.endsWith('/orphan.bin');
      },
    });
    expect(r.removed).toEqual([]);
    expect(asked).toContain(join(realpathSync(root), 'sub', 'busy.bin'));
    expect(sweep(root, HOUR, NOW).removed.sort()).toEqual(
      [`orphan.bin.${'8'.repeat(16)}.part`, `sub/${part}`, 'sub/busy.bin.part.journal'].sort(),
    );
  });

  it('removes old part + journal pairs, orphan parts and temp journals; keeps young, live and foreign files', () => {
    using dir = tempDir();
    const root = join(dir.path, 'root');
    const outside = join(dir.path, 'outside');
    mkdirSync(join(root, 'sub', 'deeper'), { recursive: true });
    mkdirSync(outside);
    const h = (c: string) => c.repeat(16);
    // old pair in a subdirectory
    make(join(root, 'sub', 'old.bin.part.journal'), journal(`old.bin.${h('a')}.part`), 48 * HOUR);
    make(join(root, 'sub', `old.bin.${h('a')}.part`), 'abc', 48 * HOUR);
    // young pair
    make(join(root, 'young.bin.part.journal'), journal(`young.bin.${h('b')}.part`), HOUR);
    make(join(root, `young.bin.${h('b')}.part`), 'abc', HOUR);
    // old journal whose part was written recently: still in use
    make(join(root, 'slow.bin.part.journal'), journal(`slow.bin.${h('c')}.part`), 48 * HOUR);
    make(join(root, `slow.bin.${h('c')}.part`), 'abc', HOUR);
    // orphans: an old part nobody names, old temp journals (both shapes)
    make(join(root, 'sub', 'deeper', `gone.bin.${h('d')}.part`), 'abc', 48 * HOUR);
    make(join(root, `gone.bin.part.journal.${h('e')}.tmp`), '{}', 48 * HOUR);
    make(join(root, 'gone.bin.part.journal.tmp'), '{}', 48 * HOUR);
    // a legacy (version 1) pair, and a lone legacy NAME.part that may be a user's file
    make(join(root, 'legacy.bin.part.journal'), JSON.stringify({ version: 1, sizeBytes: 3, ranges: [] }), 48 * HOUR);
    make(join(root, 'legacy.bin.part'), 'abc', 48 * HOUR);
    make(join(root, 'lonely.part'), 'mine', 48 * HOUR);
    make(join(root, 'notes.txt'), 'mine', 48 * HOUR);
    // outside the root, reached only through a symlink: never touched
    make(join(outside, `far.bin.${h('f')}.part`), 'abc', 48 * HOUR);
    symlinkSync(outside, join(root, 'link-out'));
    // a live transfer whose files look old
    const live = new PartFile(join(root, 'live.bin'), { sizeBytes: 10, resume: false, force: false }, () => []);
    const t = (NOW - 48 * HOUR) / 1000;
    utimesSync(live.partPath, t, t);
    utimesSync(join(root, 'live.bin.part.journal'), t, t);

    const r = sweep(root, 24 * HOUR, NOW);
    expect([...r.removed].sort()).toEqual(
      [
        `gone.bin.part.journal.${h('e')}.tmp`,
        'gone.bin.part.journal.tmp',
        'legacy.bin.part',
        'legacy.bin.part.journal',
        `sub/deeper/gone.bin.${h('d')}.part`,
        `sub/old.bin.${h('a')}.part`,
        'sub/old.bin.part.journal',
      ].sort(),
    );
    expect(r.truncated).toBe(false);
    expect(readdirSync(root).sort()).toEqual(
      [
        'link-out',
        'live.bin.part.journal',
        live.partPath.slice(root.length + 1),
        'lonely.part',
        'notes.txt',
        'slow.bin.part.journal',
        `slow.bin.${h('c')}.part`,
        'sub',
        'young.bin.part.journal',
        `young.bin.${h('b')}.part`,
      ].sort(),
    );
    expect(readdirSync(outside)).toEqual([`far.bin.${h('f')}.part`]);
    live.discard();
  });

  it('is bounded: a walk over more than maxEntries entries stops and says so', () => {
    using dir = tempDir();
    for (let i = 0; i < 50; i++) make(join(dir.path, `f${i}.txt`), 'x', 0);
    const r = sweep(dir.path, HOUR, NOW, { maxEntries: 10 });
    expect(r.truncated).toBe(true);
    expect(r.removed).toEqual([]);
  });
});
