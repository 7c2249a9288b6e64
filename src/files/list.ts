// Listing a served directory (LIST). Rules: entries are read with lstat, never by following a symlink blindly:
// a symlink whose real path lies inside `root` is shown as what it leads to (GET of it works), any other symlink
// (outside the root, dangling, or no root given) as `link` with size 0, so a LIST never reveals anything about a
// target outside the root; sockets, FIFOs and devices are `other` (GET refuses them). Temp names (parts,
// journals) are hidden. Entries come sorted by name; at most `maxEntries` (default 100,000).
import { lstatSync, readdirSync, realpathSync, type Stats, statSync } from 'node:fs';
import { join } from 'node:path';
import { fromFsError } from './errors.js';
import { isInside } from './fd-check.js';
import { isTempName } from './temp-names.js';

export interface DirEntry {
  name: string;
  type: 'file' | 'dir' | 'link' | 'other';
  /** Bytes for a file; what lstat/stat says for a directory; 0 for links and others. */
  size: number;
}

function describe(name: string, st: Stats): DirEntry {
  if (st.isFile()) return { name, type: 'file', size: st.size };
  if (st.isDirectory()) return { name, type: 'dir', size: st.size };
  return { name, type: 'other', size: 0 };
}

/** The entries of `dir` for LIST (see the header); `root` lets symlinks inside it show what they lead to. */
export function listDirectory(dir: string, opts: { root?: string; maxEntries?: number } = {}): DirEntry[] {
  let names: string[];
  let realRoot: string | undefined;
  try {
    names = readdirSync(dir);
    realRoot = opts.root === undefined ? undefined : realpathSync(opts.root);
  } catch (e) {
    throw fromFsError(e, dir);
  }
  const out: DirEntry[] = [];
  for (const name of names.sort()) {
    if (out.length >= (opts.maxEntries ?? 100_000)) break;
    if (isTempName(name)) continue;
    const p = join(dir, name);
    try {
      const st = lstatSync(p);
      if (!st.isSymbolicLink()) {
        out.push(describe(name, st));
        continue;
      }
      let shown: DirEntry = { name, type: 'link', size: 0 };
      if (realRoot !== undefined) {
        try {
          if (isInside(realRoot, realpathSync(p))) shown = describe(name, statSync(p));
        } catch {
          /* dangling or unreadable: a link */
        }
      }
      out.push(shown);
    } catch {
      /* vanished since readdir */
    }
  }
  return out;
}
