// How a file a user's program wrote differs from the one served, in the contract's words (docs/endpoints.md):
// "N bytes written of M, first difference at byte K". Both runtimes that grade programs (exec on local/netns,
// image on docker, whose {local} is a bind-mounted host folder) compare two files on this machine, 64 KiB at a
// time: neither file is read whole into memory. The written file may be given as a descriptor that judged-file.ts
// opened and checked (a regular file, not followed through a link), so it is the file that was hashed.
import { closeSync, fstatSync, openSync, readSync, statSync } from 'node:fs';

const CHUNK = 1 << 16;

/**
 * The first byte at which `written` differs from `original`: the length of the shorter file when one is a prefix
 * of the other (so `written` being empty gives 0, and a short but otherwise right file gives its own length).
 */
export function firstDifference(original: string, written: string | number): number {
  const a = statSync(original).size;
  const b = sizeOf(written);
  const n = Math.min(a, b);
  const fa = openSync(original, 'r');
  const fb = typeof written === 'number' ? written : openSync(written, 'r');
  const ba = Buffer.alloc(CHUNK);
  const bb = Buffer.alloc(CHUNK);
  try {
    for (let off = 0; off < n; ) {
      const want = Math.min(CHUNK, n - off);
      const na = readFull(fa, ba, want, off);
      const nb = readFull(fb, bb, want, off);
      const got = Math.min(na, nb);
      if (got <= 0) return off; // a file shrank under us: it differs from here
      if (!ba.subarray(0, got).equals(bb.subarray(0, got))) {
        for (let i = 0; i < got; i++) if (ba[i] !== bb[i]) return off + i;
      }
      if (got < want) return off + got;
      off += got;
    }
  } finally {
    closeSync(fa);
    if (typeof written !== 'number') closeSync(fb); // a descriptor given is its owner's to close
  }
  return n;
}

/** Reads up to `want` bytes at `pos` (a short read is retried until the file ends). */
function readFull(fd: number, buf: Buffer, want: number, pos: number): number {
  let got = 0;
  while (got < want) {
    const r = readSync(fd, buf, got, want - got, pos + got);
    if (r <= 0) break;
    got += r;
  }
  return got;
}

const sizeOf = (f: string | number) => (typeof f === 'number' ? fstatSync(f).size : statSync(f).size);

/** "N bytes written of M, first difference at byte K" (`written`: a path, or an open descriptor). */
export function difference(original: string, written: string | number): string {
  const k = firstDifference(original, written);
  return `${sizeOf(written)} bytes written of ${statSync(original).size}, first difference at byte ${k}`;
}
