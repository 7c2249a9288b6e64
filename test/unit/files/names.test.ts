// Remote names of temp files and LIST (review #5, #14): GET/PUT never reach a part, a journal or a journal's temp
// file; listDirectory hides them and never follows a symlink out of the root (no size of an outside target).
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { listDirectory, resolveInsideRoot } from '../../../src/files/index.js';
import { tempDir } from '../../helpers/tmp.js';

const code = (f: () => unknown) => {
  try {
    f();
    return 'ok';
  } catch (e) {
    return (e as { code?: string }).code;
  }
};

describe('resolveInsideRoot and temp names', () => {
  it.each([
    'x.part',
    'sub/x.part',
    'x.0123456789abcdef.part',
    'x.part.journal',
    'x.part.journal.tmp',
    'x.part.journal.0123456789abcdef.tmp',
    'x.part/',
  ])('refuses %j by default (GET and PUT)', (name) => {
    using dir = tempDir();
    expect(code(() => resolveInsideRoot(dir.path, name))).toBe('E_PATH_OUTSIDE_ROOT');
  });

  it('allows ordinary names, directories called *.part on the way, and temp names when asked (allowTempNames)', () => {
    using dir = tempDir();
    for (const name of ['x', 'x.partial', 'x.part.bak', 'notes.journal', 'dir.part/x'])
      expect(
        code(() => resolveInsideRoot(dir.path, name)),
        name,
      ).toBe('ok');
    expect(code(() => resolveInsideRoot(dir.path, 'x.part', { allowTempNames: true }))).toBe('ok');
  });
});

describe('listDirectory', () => {
  it('hides temp files, reports sizes of files and of symlinks inside the root, never of a target outside it', () => {
    using dir = tempDir();
    const root = join(dir.path, 'root');
    mkdirSync(join(root, 'sub'), { recursive: true });
    writeFileSync(join(dir.path, 'outside.bin'), Buffer.alloc(12_345));
    writeFileSync(join(root, 'a.txt'), 'hello');
    writeFileSync(join(root, 'a.txt.0123456789abcdef.part'), 'partial');
    writeFileSync(join(root, 'a.txt.part.journal'), '{}');
    writeFileSync(join(root, 'a.txt.part.journal.0123456789abcdef.tmp'), '{}');
    writeFileSync(join(root, 'old.part'), 'legacy');
    symlinkSync(join(dir.path, 'outside.bin'), join(root, 'escape'));
    symlinkSync(join(root, 'a.txt'), join(root, 'alias'));
    symlinkSync(join(root, 'nowhere'), join(root, 'dangling'));
    const entries = listDirectory(root, { root });
    expect(entries).toEqual([
      { name: 'a.txt', type: 'file', size: 5 },
      { name: 'alias', type: 'file', size: 5 },
      { name: 'dangling', type: 'link', size: 0 },
      { name: 'escape', type: 'link', size: 0 },
      { name: 'sub', type: 'dir', size: expect.any(Number) },
    ]);
    // without a root, no symlink is followed at all
    expect(listDirectory(root).find((e) => e.name === 'alias')).toEqual({ name: 'alias', type: 'link', size: 0 });
  });
});

describe('planListing / renderListing (LIST in two steps)', () => {
  it('the planned size is the rendered size; lines are JSON padded with spaces; a capped listing ends with `more`', async () => {
    const { planListing, renderListing } = await import('../../../src/files/index.js');
    const { mkdtempSync, writeFileSync, mkdirSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const root = mkdtempSync(join(tmpdir(), 'udplab-list-'));
    try {
      for (let i = 0; i < 12; i++) writeFileSync(join(root, `f${i}\u00e9.txt`), 'x'.repeat(i * 1000));
      mkdirSync(join(root, 'sub'));
      writeFileSync(join(root, 'f1.bin.0123456789abcdef.part'), 'hidden');
      const plan = planListing(root);
      expect(plan.names).toHaveLength(13);
      expect(plan.more).toBe(false);
      const body = renderListing(plan, root);
      expect(body.length).toBe(plan.sizeBytes);
      const entries = new TextDecoder()
        .decode(body)
        .split('\n')
        .map((l) => JSON.parse(l) as { name: string; type: string; size: number });
      expect(entries.find((e) => e.name === 'f11é.txt')).toEqual({ name: 'f11é.txt', type: 'file', size: 11_000 });
      expect(entries.find((e) => e.name === 'sub')?.type).toBe('dir');
      // a name that vanishes between plan and render keeps the planned size
      rmSync(join(root, 'f3é.txt'));
      expect(renderListing(plan, root).length).toBe(plan.sizeBytes);
      const capped = planListing(root, 5);
      const last = new TextDecoder().decode(renderListing(capped, root)).split('\n').at(-1)!;
      expect(JSON.parse(last)).toEqual({ name: '', type: 'more', size: 0 });
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
