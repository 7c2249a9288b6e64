// The file a user's program left at {local}, as the lab judges it (docs/endpoints.md, "Verdicts"): one function for
// both runtimes that grade programs (exec on local/netns, image on docker, whose {local} is a bind-mounted host
// folder). {local} is the program's to make, so it is opened, never followed: O_NOFOLLOW (a symbolic link to the
// served file, or to /proc/kmsg, is refused, not hashed), O_NONBLOCK (a FIFO does not hang the open), and only a
// regular file — checked on the descriptor (fstat), which is then the one hashed and compared, so nothing can be
// swapped in between. A file larger than the one served by more than SLACK_BYTES is not read at all; the rest is
// hashed 1 MiB at a time, never whole in memory.
//
// Only the last component is opened without following: the folders above it (the lab's client folder, or the
// docker runtime's per-run out folder) are the lab's own, made by it. A container cannot reach them (only {local}'s
// folder is mounted); a program on local/netns runs as the lab's user and could swap them, or hard-link the served
// file in — but it can as well copy that file from {root}: the open finding of docs/endpoints.md, "Trust".
import { createHash } from 'node:crypto';
import { constants, statSync } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import { difference } from './difference.js';

/** How many bytes more than the served file {local} may hold and still be read (to say where it differs). */
export const SLACK_BYTES = 1 << 20;
const CHUNK = 1 << 20;

export type JudgedFile =
  /** a regular file; `difference` says how it differs from the served file, when its SHA-256 is not the same */
  | { kind: 'file'; sha256: string; size: number; difference?: string }
  /** nothing at {local} */
  | { kind: 'none' }
  /** something the lab does not read: `why` in a few words, `reason` the run's (a `wrong bytes` verdict's) */
  | { kind: 'refused'; why: string; reason: string };

/** What a descriptor that is not a regular file is, in words. */
function kindOf(s: {
  isDirectory(): boolean;
  isFIFO(): boolean;
  isSocket(): boolean;
  isCharacterDevice(): boolean;
  isBlockDevice(): boolean;
}): string {
  if (s.isDirectory()) return 'a directory';
  if (s.isFIFO()) return 'a FIFO';
  if (s.isSocket()) return 'a socket';
  if (s.isCharacterDevice()) return 'a character device';
  if (s.isBlockDevice()) return 'a block device';
  return 'not a regular file';
}

/** Why an open failed, in words (ELOOP: O_NOFOLLOW met a symbolic link; ENXIO: a socket). */
function openRefusal(code: string | undefined): string {
  if (code === 'ELOOP') return 'a symbolic link';
  if (code === 'ENXIO') return 'a socket';
  if (code === 'EISDIR') return 'a directory';
  return `unreadable to the lab (${code ?? 'error'})`;
}

/**
 * Judges the file at `path` against the served one (`served`: its path on this machine and SHA-256); `shown` is
 * {local} as the report names it. Never follows a link, never blocks on a FIFO or device, never reads more than
 * the served size + SLACK_BYTES.
 */
export async function judgedFile(
  path: string,
  served: { path: string; sha256: string },
  shown: string = path,
): Promise<JudgedFile> {
  let fh: FileHandle;
  try {
    fh = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return { kind: 'none' };
    const why = openRefusal(code);
    return { kind: 'refused', why, reason: `${shown} is ${why}, not a file` };
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) {
      const why = kindOf(st);
      return { kind: 'refused', why, reason: `${shown} is ${why}, not a file` };
    }
    const servedSize = statSync(served.path).size;
    if (st.size > servedSize + SLACK_BYTES)
      return {
        kind: 'refused',
        why: `larger than the ${servedSize} bytes served`,
        reason: `${st.size} bytes, more than the ${servedSize} served`,
      };
    // the size fstat said: a file that grows meanwhile is not followed past it
    const h = createHash('sha256');
    const buf = Buffer.alloc(Math.min(CHUNK, Math.max(1, st.size)));
    let pos = 0;
    while (pos < st.size) {
      const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, st.size - pos), pos);
      if (bytesRead <= 0) break; // it shrank meanwhile
      h.update(buf.subarray(0, bytesRead));
      pos += bytesRead;
    }
    const sha256 = h.digest('hex');
    return {
      kind: 'file',
      sha256,
      size: pos,
      ...(sha256 !== served.sha256 && { difference: difference(served.path, fh.fd) }),
    };
  } finally {
    await fh.close();
  }
}
