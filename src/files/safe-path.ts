// Resolving a remote name inside the served root. Rules: refuse NUL bytes, absolute paths, backslashes,
// any `..` or empty segment (after percent-decoding too), over-long names and device-like names, and (unless
// `allowTempNames`) a last segment that is a transfer's temp file (`*.part`, `*.part.journal`, a journal's temp
// file: see temp-names.ts), so GET and PUT never reach another transfer's part; then the real path of the deepest
// existing ancestor (and of the file, when it exists) must lie inside the real root, so a symlink cannot lead
// out. Every refusal is E_PATH_OUTSIDE_ROOT. The path is checked, not held: open the result with FileSource /
// PartFile and their `root` option, which check the opened fd (TOCTOU).
import { existsSync, lstatSync, realpathSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { FileError } from './errors.js';
import { isTempName } from './temp-names.js';

export const MAX_NAME_BYTES = 1024;

function refuse(name: string, why: string): never {
  throw new FileError('E_PATH_OUTSIDE_ROOT', `refused remote path ${JSON.stringify(name.slice(0, 200))}: ${why}`);
}

export interface ResolveOptions {
  /** The root itself (an empty name) is allowed: LIST of the root. */
  allowRoot?: boolean;
  /** Let the last segment be a temp name (`x.part`, …): only for LIST of a directory that happens to be so named. */
  allowTempNames?: boolean;
}

/** Returns the absolute path of `name` inside `root`, or throws E_PATH_OUTSIDE_ROOT. */
export function resolveInsideRoot(root: string, name: string, opts: ResolveOptions = {}): string {
  if (Buffer.byteLength(name) > MAX_NAME_BYTES) refuse(name, 'name too long');
  if (name.includes('\0')) refuse(name, 'contains a NUL byte');
  let decoded = name;
  try {
    for (let i = 0; i < 3 && /%[0-9a-f]{2}/i.test(decoded); i++) decoded = decodeURIComponent(decoded);
  } catch {
    refuse(name, 'malformed percent-encoding');
  }
  for (const n of [name, decoded]) {
    if (n.includes('\0')) refuse(name, 'contains a NUL byte');
    if (n.includes('\\')) refuse(name, 'contains a backslash');
    if (n.startsWith('/') || /^[a-zA-Z]:/.test(n)) refuse(name, 'absolute paths are not served');
    const segs = n.split('/');
    if (segs.some((s) => s === '..')) refuse(name, 'contains ".."');
    if (segs.some((s) => /^\.\.+$/.test(s.trim()) || s.includes('\u2025') || s.includes('\uff0e\uff0e')))
      refuse(name, 'contains a dot-dot lookalike');
  }
  const segs = name.split('/').filter((s) => s !== '' && s !== '.');
  if (segs.length === 0 && !opts.allowRoot) refuse(name, 'names the root itself');
  if (segs.some((s) => /^(con|prn|aux|nul|com\d|lpt\d)(\..*)?$/i.test(s))) refuse(name, 'device names are not served');
  const last = segs[segs.length - 1];
  if (last !== undefined && !opts.allowTempNames && isTempName(last))
    refuse(name, "names a transfer's temporary file (.part, .part.journal)");
  const realRoot = realpathSync(root);
  const target = join(realRoot, ...segs);
  // deepest existing ancestor (or the target itself) must resolve inside the root
  let probe = target;
  while (!existsSync(probe) && probe !== realRoot) {
    try {
      lstatSync(probe); // a dangling symlink exists for lstat: resolve it to judge
      break;
    } catch {
      probe = dirname(probe);
    }
  }
  let real: string;
  try {
    real = realpathSync(probe);
  } catch {
    refuse(name, 'a symbolic link in the path leads nowhere');
  }
  const rel = relative(realRoot, real);
  if (rel.startsWith(`..${sep}`) || rel === '..' || rel.startsWith(sep)) refuse(name, 'leads outside the root');
  return target;
}
