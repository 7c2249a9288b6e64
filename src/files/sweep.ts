// Expiring abandoned transfers (review #14). Rules: walk `root` (real path; directories only, symlinks never
// followed; at most `maxEntries` entries and `maxDepth` levels, then stop and say `truncated`) and remove, when
// the newest of their mtimes is older than `maxAgeMs` before `nowMs` (wall-clock ms, as mtimes are):
// a journal `NAME.part.journal` with the part it names (a version-1 journal: with `NAME.part`), a part
// `NAME.<16 hex>.part` no kept journal names, and a journal's temp file. A transfer live in this process (an open
// PartFile of this thread, or a final name `isLive` says another thread is receiving: `serve --workers`) is never
// touched, whatever its age; nothing else is removed (a lone `NAME.part` may be a user's file).
import { type Dirent, lstatSync, readdirSync, realpathSync, unlinkSync } from 'node:fs';
import { join, relative } from 'node:path';
import { isActivePart, readJournalFile } from './part-file.js';
import { finalOfJournal, finalOfPart, isJournalTemp } from './temp-names.js';

export interface SweepResult {
  /** Removed files, relative to the root. */
  removed: string[];
  /** The walk stopped at maxEntries or maxDepth: run again later for the rest. */
  truncated: boolean;
}

export interface SweepOptions {
  maxEntries?: number;
  maxDepth?: number;
  /** Is a transfer to this final path (real root joined with the names) live elsewhere (another worker thread)? */
  isLive?: (finalPath: string) => boolean;
}

function mtimeMs(path: string): number | undefined {
  try {
    const st = lstatSync(path);
    return st.isFile() ? st.mtimeMs : undefined;
  } catch {
    return undefined;
  }
}

/** Removes the parts and journals of transfers abandoned for longer than `maxAgeMs` under `root` (see header). */
export function sweepAbandonedParts(
  root: string,
  maxAgeMs: number,
  nowMs: number,
  opts: SweepOptions = {},
): SweepResult {
  const maxEntries = opts.maxEntries ?? 100_000;
  const maxDepth = opts.maxDepth ?? 32;
  const live = (final: string, part: string) => isActivePart(final, part) || (opts.isLive?.(final) ?? false);
  const realRoot = realpathSync(root);
  const removed: string[] = [];
  let seen = 0;
  let truncated = false;
  const old = (...mtimes: Array<number | undefined>) => {
    const newest = Math.max(...mtimes.map((m) => m ?? Number.NEGATIVE_INFINITY));
    return newest !== Number.NEGATIVE_INFINITY && nowMs - newest > maxAgeMs;
  };
  const remove = (path: string) => {
    try {
      unlinkSync(path);
      removed.push(relative(realRoot, path));
    } catch {
      /* gone already, or not ours to remove */
    }
  };
  const stack: Array<{ dir: string; depth: number }> = [{ dir: realRoot, depth: 0 }];
  while (stack.length > 0) {
    const { dir, depth } = stack.pop()!;
    let entries: Dirent[];
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      continue;
    }
    if (seen + entries.length > maxEntries) {
      truncated = true;
      break;
    }
    seen += entries.length;
    const keptParts = new Set<string>();
    for (const e of entries) {
      if (e.isDirectory()) {
        if (depth < maxDepth) stack.push({ dir: join(dir, e.name), depth: depth + 1 });
        else truncated = true;
        continue;
      }
      const final = e.isFile() ? finalOfJournal(e.name) : undefined;
      if (final === undefined) continue;
      const journal = join(dir, e.name);
      const partName = readJournalFile(join(dir, final))?.part ?? `${final}.part`;
      const part = join(dir, partName);
      if (live(join(dir, final), part) || !old(mtimeMs(journal), mtimeMs(part))) {
        keptParts.add(partName);
        continue;
      }
      if (mtimeMs(part) !== undefined) remove(part);
      remove(journal);
    }
    for (const e of entries) {
      if (!e.isFile()) continue;
      const path = join(dir, e.name);
      const final = finalOfPart(e.name);
      if (final !== undefined) {
        if (!keptParts.has(e.name) && !live(join(dir, final), path) && old(mtimeMs(path))) remove(path);
      } else if (isJournalTemp(e.name) && old(mtimeMs(path))) remove(path);
    }
  }
  return { removed, truncated };
}
