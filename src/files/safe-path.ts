// Resolving a remote name inside the served root. Rules: refuse NUL bytes, absolute paths, backslashes,
// any `..` or empty segment (after percent-decoding too), over-long names and device-like names; then the
// real path of the deepest existing ancestor (and of the file, when it exists) must lie inside the real root,
// so a symlink cannot lead out. Every refusal is E_PATH_OUTSIDE_ROOT.
import { existsSync, lstatSync, realpathSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { FileError } from './errors.js';

export const MAX_NAME_BYTES = 1024;

function refuse(name: string, why: string): never {
  throw new FileError('E_PATH_OUTSIDE_ROOT', `refused remote path ${JSON.stringify(name.slice(0, 200))}: ${why}`);
}

/** Returns the absolute path of `name` inside `root`, or throws E_PATH_OUTSIDE_ROOT. */
export function resolveInsideRoot(root: string, name: string, opts: { allowRoot?: boolean } = {}): string {
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
