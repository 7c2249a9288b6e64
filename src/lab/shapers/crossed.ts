// The byte cross-check (issue #18, findings C3 and C1): a file that arrived intact must have crossed the shaped path.
// The run is judged by the SHA-256 of the client's file, but a program can get that file another way: send straight
// to the server's own port (past the relay), or copy the served file from disk. Either way the shaper sees almost
// nothing server→client. So a run passes only when the shaper counted, server→client (down), at least
//   Σ over the clients (and competing flows) whose file is intact: ½ × min(file size, its zlib deflate size, level 6)
// — half, so loss, compression a little better than deflate's, and counting payload (relay) or frames (netem) never
// fail an honest program; the deflate size so a program that compresses is not taken for one that bypassed.
// Where the down bytes are counted, per shaper:
//   userspace relay  `forwarded.down.bytes` of its closing report (UDP payload it sent to the clients after shaping)
//   kernel netem     `down.sent_bytes`: `Sent N bytes` of `tc -s qdisc` on the server-side device's egress
// No counters (TCP under the relay runs unshaped, a relay killed before its closing line, netem applied again after a
// server container's restart, a relay image without byte counters): the check is skipped and the record says why.
// The verdict rests on it for users' programs (exec, image); for udplab's own protocols it is an observation.
import { createReadStream } from 'node:fs';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createDeflate } from 'node:zlib';
import type { CrossedRecord } from '../../report/index.js';

export type { CrossedRecord };

/** The size of FILE once zlib deflates it at level 6, read as a stream (never whole in memory). */
export async function deflatedSize(file: string): Promise<number> {
  let n = 0;
  await pipeline(
    createReadStream(file),
    createDeflate({ level: 6 }),
    new Writable({
      write(chunk: Buffer, _enc, done) {
        n += chunk.length;
        done();
      },
    }),
  );
  return n;
}

/** The least a client must have received through the shaper for one intact copy: ½ × min(size, deflated size). */
export function crossedBound(fileBytes: number, deflatedBytes: number): number {
  return Math.floor(0.5 * Math.min(fileBytes, deflatedBytes));
}

/** The bytes the shaper counted server→client, and where; or why there are none. */
export function downBytes(counters: unknown): { bytes: number; where: string } | { skipped: string } {
  if (counters === undefined || counters === null || typeof counters !== 'object')
    return { skipped: 'the shaper reported no counters (an unshaped path, or a relay that ended without its report)' };
  const c = counters as {
    shaper?: unknown;
    forwarded?: { down?: { bytes?: unknown } };
    down?: { where?: unknown; sent_bytes?: unknown };
    reapplied?: unknown;
  };
  if (c.shaper === 'userspace') {
    const b = c.forwarded?.down?.bytes;
    if (typeof b === 'number') return { bytes: b, where: 'userspace relay, forwarded to the clients' };
    return {
      skipped: "the relay's report has no byte counters (a udplab older than the cross-check, e.g. a stale image)",
    };
  }
  const d = c.down;
  if (d && typeof d.sent_bytes === 'number') {
    const where = String(d.where ?? 'down');
    if (Array.isArray(c.reapplied) && c.reapplied.includes(d.where))
      return {
        skipped: `netem on ${where} was applied again during the run (a restarted container): its counters restarted`,
      };
    return { bytes: d.sent_bytes, where: `netem on ${where}` };
  }
  return { skipped: 'the shaper counted nothing server→client (no down counters)' };
}

/** The check of one run: `intact` clients (and competing flows) wrote the file intact. */
export function checkCrossed(o: {
  counters: unknown;
  intact: number;
  fileBytes: number;
  deflatedBytes: number;
  /** users' programs: the verdict rests on it */
  judged: boolean;
}): CrossedRecord {
  const needed = o.intact * crossedBound(o.fileBytes, o.deflatedBytes);
  const down = downBytes(o.counters);
  const base = { judged: o.judged, needed_bytes: needed, intact_clients: o.intact };
  if ('skipped' in down) return { ...base, down_bytes: null, ok: null, skipped: down.skipped };
  return { ...base, down_bytes: down.bytes, where: down.where, ok: down.bytes >= needed };
}

/** 0.2 MB, 4 MB, 12 MB; below 10 kB in bytes. */
const mb = (n: number) =>
  n < 10_000 ? `${n} bytes` : `${n >= 10e6 ? Math.round(n / 1e6) : Number((n / 1e6).toPrecision(2))} MB`;

/**
 * The failure for a run below the bound, e.g. "bypassed the shaped path: 0.2 MB crossed the shaper server→client
 * for a 4 MB file (at least 2 MB expected)"; undefined when it is not below.
 */
export function crossedFailure(c: CrossedRecord, fileBytes: number): string | undefined {
  if (c.ok !== false || c.down_bytes === null) return undefined;
  const copies =
    c.intact_clients > 1 ? `${c.intact_clients} intact copies of a ${mb(fileBytes)} file` : `a ${mb(fileBytes)} file`;
  return `bypassed the shaped path: ${mb(c.down_bytes)} crossed the shaper server→client for ${copies} (at least ${mb(c.needed_bytes)} expected; ${c.where})`;
}

/** The deflate size of a prepared file: its size for random content (incompressible), else deflated once, streaming. */
export async function preparedDeflatedSize(
  spec: { content: 'random' | 'zeros' | 'text' } | { path: string },
  original: string | undefined,
  sizeBytes: number,
): Promise<number> {
  if ('content' in spec && spec.content === 'random') return sizeBytes;
  const path = original ?? ('path' in spec ? spec.path : undefined);
  return path ? deflatedSize(path) : sizeBytes;
}
