// Listing a served directory (LIST). Rules: entries are read with lstat, never by following a symlink blindly:
// a symlink whose real path lies inside `root` is shown as what it leads to (GET of it works), any other symlink
// (outside the root, dangling, or no root given) as `link` with size 0, so a LIST never reveals anything about a
// target outside the root; sockets, FIFOs and devices are `other` (GET refuses them). Temp names (parts,
// journals) are hidden. Entries come sorted by name; at most `maxEntries` (default 100,000).
// The server lists in two steps (security review follow-up: a replayed LIST walked 100,000 entries before the
// client's keys were confirmed): `planListing` reads at most MAX_LIST_ENTRIES names (no stat) and fixes the
// body's size, one line of fixed width per name; `renderListing`, once the client is confirmed, stats each name
// and fills its line, padded with spaces (JSON allows them), so the size announced in ACCEPT holds. A directory
// with more names ends with a `{"name":"","type":"more","size":0}` line.
import { lstatSync, opendirSync, readdirSync, realpathSync, type Stats, statSync } from 'node:fs';
import { join } from 'node:path';
import { fromFsError } from './errors.js';
import { isInside } from './fd-check.js';
import { isTempName } from './temp-names.js';

export interface DirEntry {
  name: string;
  /** `more`: the directory holds more names than a LIST shows (the last line). */
  type: 'file' | 'dir' | 'link' | 'other' | 'more';
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
    const e = entryOf(dir, name, realRoot);
    if (e) out.push(e);
  }
  return out;
}

/** Names a LIST shows at most. */
export const MAX_LIST_ENTRIES = 10_000;

export interface ListingPlan {
  dir: string;
  names: string[];
  /** More names exist than are listed. */
  more: boolean;
  /** The exact size of the body `renderListing` will produce. */
  sizeBytes: number;
}

const LONGEST = { type: 'other', size: Number.MAX_SAFE_INTEGER };
const lineWidth = (name: string) => Buffer.byteLength(JSON.stringify({ name, ...LONGEST }));
const MORE_LINE = JSON.stringify({ name: '', type: 'more', size: 0 });

/** Reads at most `maxEntries` names of `dir` (no stat, temp names skipped) and fixes the listing's size. */
export function planListing(dir: string, maxEntries = MAX_LIST_ENTRIES): ListingPlan {
  const names: string[] = [];
  let more = false;
  try {
    const d = opendirSync(dir);
    try {
      for (let e = d.readSync(); e; e = d.readSync()) {
        if (isTempName(e.name)) continue;
        if (names.length >= maxEntries) {
          more = true;
          break;
        }
        names.push(e.name);
      }
    } finally {
      d.closeSync();
    }
  } catch (e) {
    throw fromFsError(e, dir);
  }
  names.sort();
  const lines = names.map(lineWidth);
  if (more) lines.push(Buffer.byteLength(MORE_LINE));
  const sizeBytes = lines.reduce((n, w) => n + w, 0) + Math.max(0, lines.length - 1);
  return { dir, names, more, sizeBytes };
}

/** The body of a planned listing: one JSON line per name, each padded to the width the plan counted. */
export function renderListing(plan: ListingPlan, root?: string): Uint8Array {
  let realRoot: string | undefined;
  try {
    realRoot = root === undefined ? undefined : realpathSync(root);
  } catch (e) {
    throw fromFsError(e, root!);
  }
  const lines = plan.names.map((name) => {
    const e = entryOf(plan.dir, name, realRoot) ?? { name, type: 'other' as const, size: 0 };
    const text = JSON.stringify(e);
    return text + ' '.repeat(lineWidth(name) - Buffer.byteLength(text));
  });
  if (plan.more) lines.push(MORE_LINE);
  const body = new TextEncoder().encode(lines.join('\n'));
  if (body.length !== plan.sizeBytes)
    throw new Error(`listing of ${plan.dir}: ${body.length} ≠ ${plan.sizeBytes} bytes`);
  return body;
}

function entryOf(dir: string, name: string, realRoot: string | undefined): DirEntry | undefined {
  const p = join(dir, name);
  try {
    const st = lstatSync(p);
    if (!st.isSymbolicLink()) return describe(name, st);
    if (realRoot !== undefined) {
      try {
        if (isInside(realRoot, realpathSync(p))) return describe(name, statSync(p));
      } catch {
        /* dangling or unreadable: a link */
      }
    }
    return { name, type: 'link', size: 0 };
  } catch {
    return undefined; // vanished since it was planned
  }
}
