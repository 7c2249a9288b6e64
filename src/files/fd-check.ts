// Where an open file really is (TOCTOU, review #11): a path checked before `open` can change before the open
// walks it again (a directory swapped for a symlink), so after opening we ask the kernel where the fd's file is
// (`readlink /proc/self/fd/N`: the dentry's current path, no re-walk) and refuse it outside the directory we
// meant. Without /proc (not Linux, or not mounted) the check is skipped: the jail's path checks still apply.
import { readlinkSync } from 'node:fs';
import { dirname, relative, sep } from 'node:path';
import { FileError } from './errors.js';

/** The kernel's path of the file open on `fd`, or undefined where /proc/self/fd cannot tell. */
export function fdRealPath(fd: number): string | undefined {
  try {
    const p = readlinkSync(`/proc/self/fd/${fd}`);
    return p.startsWith('/') ? p : undefined; // pipes and sockets read as `pipe:[…]`
  } catch {
    return undefined;
  }
}

/** Is `path` `root` itself or below it (both real, absolute paths)? */
export function isInside(root: string, path: string): boolean {
  const rel = relative(root, path);
  return rel === '' || !(rel === '..' || rel.startsWith(`..${sep}`) || rel.startsWith(sep));
}

/**
 * Throws E_PATH_OUTSIDE_ROOT unless the file open on `fd` lies inside the real directory `realRoot`
 * (or, with `directlyIn`, is an entry of exactly that directory). `what` names the file in the message.
 */
export function assertFdInside(fd: number, realRoot: string, what: string, opts: { directlyIn?: boolean } = {}): void {
  const real = fdRealPath(fd);
  if (real === undefined) return;
  const ok = opts.directlyIn ? dirname(real) === realRoot : isInside(realRoot, real) && real !== realRoot;
  if (!ok) throw new FileError('E_PATH_OUTSIDE_ROOT', `${what} opened as ${real}, outside ${realRoot}; refused`);
}
