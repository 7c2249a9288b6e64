// Receiving a file safely. Rules:
// - Bytes go to a part of this transfer's own, `NAME.<16 hex random>.part` beside NAME, created
//   O_CREAT|O_EXCL|O_NOFOLLOW mode 0600: never an existing file, never through a symlink, never shared with another
//   transfer (one live PartFile per final name in this process: a second is refused E_BUSY). After opening, the
//   kernel's path of the fd must lie in NAME's directory (and inside `root` when given): a swapped directory is refused.
// - The journal `NAME.part.journal` is JSON `{version:2,sizeBytes,part,ranges}`, written when the part is opened,
//   then rewritten at most every 250 ms (longer when checkpoints are slow, or many parts are open in this thread:
//   see `openParts`) and at the end, through a temp file `NAME.part.journal.<16 hex>.tmp` (O_EXCL, O_NOFOLLOW, 0600)
//   renamed over it, after an fdatasync of the part (none for a journal that claims no range): the journal may lag
//   the data, never lead it.
//   The temp file is fdatasynced before the rename and the directory fsynced after it, so after a power loss the
//   journal's name holds a whole journal (not an empty file the rename outran) and the resume it offers survives.
//   It holds at most MAX_JOURNAL_RANGES ranges (fewer ranges claim less: safe). Version-1 journals (the shared
//   `NAME.part` of older releases) are ignored: such a transfer starts again.
// - `--resume` reopens the journal's part with O_RDWR|O_NOFOLLOW (a regular file with one link, else start again)
//   and clamps the journal's ranges to the part's size; a journal over MAX_JOURNAL_BYTES is not read. A transfer that
//   does not resume removes the previous journal's part (unlink: a name in this directory, nothing is followed).
// - `hashOnDisk` truncates the part to sizeBytes, fsyncs and hashes through the fd (the fsync and the reads off the
//   event loop: one process may hold many transfers). `promote` checks that the part's
//   name still is this fd's inode, then without `force` link()s it to NAME (fails on any existing NAME, EEXIST) and
//   unlinks the part, with `force` rename()s over NAME; NAME is checked to be that inode afterwards. A mismatch
//   removes the part: nothing wrong ever appears under the final name. The directory is fsynced after the promotion
//   (the part's bytes were fsynced by hashOnDisk), so a file reported done is still there after a power loss.
//   Directory syncs are best effort: a file system that cannot sync a directory (EINVAL) is not an error.
// - Writes are gathered: a packet's bytes that continue the previous ones are copied into a buffer of GATHER_BYTES,
//   written with one pwrite when the next packet does not continue them, when the buffer is full, before every
//   journal (its fdatasync covers them), at flush() (the receiver holds the whole file) and before hashing. One
//   pwrite per packet cost the receiving side ~2.5 CPU s per GiB (docs/performance.md); a write error (E_DISK_FULL)
//   ends the transfer all the same, from the write, the checkpoint or flush() that meets it; after a failed write
//   or fdatasync/fsync (a writeback error is reported once, and the next sync succeeds without the dropped pages)
//   the journal is left as the last checkpoint wrote it (the receiver's ranges may name bytes now lost).
// - Modes: parts and journals 0600; a promoted file gets `finalMode` (default 0600: the server's uploads stay private
//   to its user; the client's downloads ask for 0666 & ~umask, as curl and cp do).
import { createHash, randomBytes } from 'node:crypto';
import {
  closeSync,
  constants,
  fchmodSync,
  fdatasyncSync,
  fstatSync,
  fsync,
  fsyncSync,
  ftruncateSync,
  linkSync,
  lstatSync,
  openSync,
  read,
  readSync,
  realpathSync,
  renameSync,
  type Stats,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { DataSink, Range } from '../protocol/index.js';
import { FileError, fromFsError } from './errors.js';
import { assertFdInside } from './fd-check.js';
import { isPartOf, journalNameFor, journalTempNameFor, partNameFor } from './temp-names.js';

const { O_RDONLY, O_RDWR, O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW, O_NONBLOCK, O_DIRECTORY } = constants;

/**
 * fsync of a directory: makes the renames, links and unlinks in it durable. Best effort — a file system that
 * cannot sync a directory, or a failure, leaves the names as the kernel has them (the data itself was synced).
 */
export function syncDirectory(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, O_RDONLY | O_DIRECTORY);
    fsyncSync(fd);
  } catch {
    /* best effort (see above) */
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** Bytes of neighbouring packets gathered into one pwrite at most (larger writes go straight to the file). */
export const GATHER_BYTES = 256 << 10;

/** The journal format written now; older versions are not resumed. */
export const JOURNAL_VERSION = 2;
/** A journal larger than this is not read (a bounded parse). */
export const MAX_JOURNAL_BYTES = 4 << 20;
/** At most this many ranges are written to, or taken from, a journal. */
export const MAX_JOURNAL_RANGES = 65_536;

interface Journal {
  version: 2;
  sizeBytes: number;
  /** The part's name in NAME's directory. */
  part: string;
  ranges: Array<[number, number]>;
  /** The sender's tag of the file version being received (hex), for a resume to name; absent: unknown. */
  sourceTag?: string;
}

export interface PartFileOptions {
  sizeBytes: number;
  /** The sender's version tag of the file (hex), kept in the journal for a later resume. */
  sourceTag?: string;
  resume: boolean;
  force: boolean;
  /** Mode of the promoted file (default 0600). */
  finalMode?: number;
  /** The served root: the opened files must lie inside its real path (else: inside NAME's directory). */
  root?: string;
}

/** Final names (real directory + name) with a live PartFile in this process → that PartFile's part path. */
const active = new Map<string, string>();

/**
 * Parts open in this thread (each of `serve --workers`' threads loads this module, so counts its own: one event
 * loop each). The journal checkpoints of all of them share one budget: each part's are spaced to ≥ 10× what its last
 * one cost (its syncs, the journal's write and rename) × this count, so that together they keep to about a tenth of
 * the loop's time however many transfers it holds. One event loop holding many receptions (a server's uploads; the
 * bench's load generator with 100 downloads) spent up to half its time in checkpoints when each part looked only at
 * its own cost (docs/performance.md, "Many clients on one server").
 */
let openParts = 0;

/** How many parts this thread has open (the checkpoint budget's divisor). */
export function openPartCount(): number {
  return openParts;
}

/** Is a PartFile of this process writing to `finalKey` (real directory + name) or `partPath`? */
export function isActivePart(finalKey: string, partPath?: string): boolean {
  if (active.has(finalKey)) return true;
  if (partPath === undefined) return false;
  for (const p of active.values()) if (p === partPath) return true;
  return false;
}

export function journalPath(finalPath: string): string {
  return join(dirname(finalPath), journalNameFor(basename(finalPath)));
}

const hex16 = () => randomBytes(8).toString('hex');

/** Reads `fd` to its end (at most `max` bytes); undefined if longer. */
function readAll(fd: number, max: number): Buffer | undefined {
  const size = fstatSync(fd).size;
  if (size > max) return undefined;
  const buf = Buffer.alloc(size);
  let got = 0;
  while (got < size) {
    const n = readSync(fd, buf, got, size - got, got);
    if (n === 0) break;
    got += n;
  }
  return buf.subarray(0, got);
}

/** The journal of `finalPath` if it is a readable version-2 journal naming a part of NAME; never follows a symlink. */
export function readJournalFile(finalPath: string): Journal | undefined {
  let fd: number | undefined;
  try {
    fd = openSync(journalPath(finalPath), O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
    if (!fstatSync(fd).isFile()) return undefined;
    const buf = readAll(fd, MAX_JOURNAL_BYTES);
    if (!buf) return undefined;
    const j = JSON.parse(buf.toString('utf8')) as Partial<Journal>;
    if (
      j.version !== JOURNAL_VERSION ||
      !Number.isSafeInteger(j.sizeBytes) ||
      (j.sizeBytes as number) < 0 ||
      typeof j.part !== 'string' ||
      !isPartOf(basename(finalPath), j.part) ||
      !Array.isArray(j.ranges)
    )
      return undefined;
    return j as Journal;
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** Valid ranges within [0, limit): sorted, merged, at most MAX_JOURNAL_RANGES. */
function normalize(raw: unknown[], limit: number): Range[] {
  const rs: Array<[number, number]> = [];
  for (const r of raw) {
    if (!Array.isArray(r) || !Number.isSafeInteger(r[0]) || !Number.isSafeInteger(r[1])) continue;
    const a = r[0] as number;
    const b = Math.min(r[1] as number, limit);
    if (a >= 0 && a < b) rs.push([a, b]);
  }
  rs.sort((x, y) => x[0] - y[0]);
  const out: Array<[number, number]> = [];
  for (const r of rs) {
    const last = out[out.length - 1];
    if (last && r[0] <= last[1]) last[1] = Math.max(last[1], r[1]);
    else if (out.length < MAX_JOURNAL_RANGES) out.push([r[0], r[1]]);
    else break;
  }
  return out;
}

/** Opens an existing part (for writing unless `readOnly`): never through a symlink; a regular file with one link. */
function openPart(path: string, readOnly = false): { fd: number; st: Stats } | undefined {
  let fd: number | undefined;
  try {
    fd = openSync(path, (readOnly ? O_RDONLY : O_RDWR) | O_NOFOLLOW | O_NONBLOCK);
    const st = fstatSync(fd);
    if (st.isFile() && st.nlink === 1) return { fd, st };
  } catch {
    /* gone, a symlink (ELOOP), a directory: not resumable */
  }
  if (fd !== undefined) closeSync(fd);
  return undefined;
}

/** What a resumable part holds: the original's size and the ranges received, clamped to the part's size. */
export function readJournalInfo(
  finalPath: string,
): { sizeBytes: number; ranges: Range[]; sourceTag?: string } | undefined {
  const j = readJournalFile(finalPath);
  if (!j) return undefined;
  const p = openPart(join(dirname(finalPath), j.part), true);
  if (!p) return undefined;
  closeSync(p.fd);
  return {
    sizeBytes: j.sizeBytes,
    ranges: normalize(j.ranges, Math.min(j.sizeBytes, p.st.size)),
    ...(typeof j.sourceTag === 'string' && /^[0-9a-f]{16}$/.test(j.sourceTag) && { sourceTag: j.sourceTag }),
  };
}

/** Ranges a resumable part holds for a transfer of `sizeBytes` (empty when there is nothing usable). */
export function readJournal(finalPath: string, sizeBytes?: number): Range[] {
  const j = readJournalInfo(finalPath);
  if (!j || (sizeBytes !== undefined && j.sizeBytes !== sizeBytes)) return [];
  return j.ranges;
}

function unlinkQuiet(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    /* already gone */
  }
}

/** Removes what an interrupted transfer to `finalPath` left (its journal and the part it names); never NAME. */
export function removePartial(finalPath: string): void {
  const j = readJournalFile(finalPath);
  if (j) unlinkQuiet(join(dirname(finalPath), j.part));
  unlinkQuiet(journalPath(finalPath));
}

export class PartFile implements DataSink {
  /** This transfer's part: `NAME.<16 hex>.part`. */
  readonly partPath: string;
  /** Ranges held when the file was opened (from the journal on resume, clamped to the part's size). */
  readonly initialRanges: Range[];
  private readonly partName: string;
  private readonly fd: number;
  private readonly ino: { dev: number; ino: number };
  /** Real path of NAME's directory, and NAME in it: the key of this process's one-writer-per-name rule. */
  private readonly realDir: string;
  private readonly key: string;
  private lastJournalMs = 0;
  /** How long the last fdatasync before a journal rename took: checkpoints are spaced to ≥ 10× that. */
  private syncMs = 0;
  private closed = false;
  /** Counted in `openParts` (from a successful open to closeFd). */
  private counted = false;
  /** Gathered bytes not yet written: `gatheredBytes` of `gather`, for the file at `gatheredAt`. */
  private gather: Buffer | undefined;
  private gatheredAt = 0;
  private gatheredBytes = 0;
  /**
   * A write or a sync failed: the journal is not rewritten any more (the receiver's ranges may name bytes never
   * written, or written and then dropped by the kernel's failed writeback).
   */
  private writeFailed = false;

  constructor(
    readonly finalPath: string,
    private readonly opts: PartFileOptions,
    private readonly rangesNow: () => Range[],
  ) {
    const dir = dirname(finalPath);
    const base = basename(finalPath);
    let realDir: string;
    let realRoot: string | undefined;
    try {
      realDir = realpathSync(dir);
      realRoot = opts.root === undefined ? undefined : realpathSync(opts.root);
    } catch (e) {
      throw fromFsError(e, dir);
    }
    this.realDir = realDir;
    this.key = join(realDir, base);
    if (!opts.force && lexists(finalPath)) {
      throw new FileError('E_EXISTS', `${finalPath} already exists (use --force to overwrite)`);
    }
    if (active.has(this.key)) {
      throw new FileError('E_BUSY', `${finalPath} is already being received by another transfer`);
    }
    const j = readJournalFile(finalPath);
    let opened = opts.resume && j && j.sizeBytes === opts.sizeBytes ? openPart(join(dir, j.part)) : undefined;
    let ranges: Range[] = [];
    let name: string;
    if (opened && j) {
      name = j.part;
      ranges = normalize(j.ranges, Math.min(opts.sizeBytes, opened.st.size));
    } else {
      if (j) unlinkQuiet(join(dir, j.part)); // the previous transfer's part: not resumed, so not kept
      name = partNameFor(base, hex16());
      for (let attempt = 0; ; attempt++) {
        try {
          const fd = openSync(join(dir, name), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_NONBLOCK, 0o600);
          opened = { fd, st: fstatSync(fd) };
          break;
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || attempt >= 3) throw fromFsError(e, join(dir, name));
          name = partNameFor(base, hex16());
        }
      }
    }
    this.partName = name;
    this.partPath = join(dir, name);
    this.fd = opened.fd;
    this.ino = { dev: opened.st.dev, ino: opened.st.ino };
    this.initialRanges = ranges;
    try {
      assertFdInside(this.fd, realDir, this.partPath, { directlyIn: true });
      if (realRoot !== undefined) assertFdInside(this.fd, realRoot, this.partPath);
      active.set(this.key, join(realDir, name));
      openParts++;
      this.counted = true;
      this.writeJournal();
      // the next checkpoint one spacing from now (the first packet used to rewrite this journal at once)
      this.lastJournalMs = Date.now();
    } catch (e) {
      this.closeFd();
      if (ranges.length === 0) unlinkQuiet(this.partPath); // ours, just created (or nothing worth keeping)
      throw e instanceof FileError ? e : fromFsError(e, this.partPath);
    }
  }

  write(offset: number, data: Uint8Array): void {
    const n = data.length;
    if (
      this.gatheredBytes > 0 &&
      offset === this.gatheredAt + this.gatheredBytes &&
      this.gatheredBytes + n <= GATHER_BYTES
    ) {
      this.gather!.set(data, this.gatheredBytes);
      this.gatheredBytes += n;
    } else {
      this.flush();
      if (n >= GATHER_BYTES / 2) this.writeAt(offset, data);
      else {
        this.gather ??= Buffer.allocUnsafeSlow(GATHER_BYTES);
        this.gather.set(data, 0);
        this.gatheredAt = offset;
        this.gatheredBytes = n;
      }
    }
    // the journal may lag the data (ranges are re-received), never lead it: it is written after the bytes
    this.checkpoint(Date.now());
  }

  /** Writes the gathered bytes (the receiver holds the whole file; also before every journal and the hash). */
  flush(): void {
    if (this.gatheredBytes === 0 || this.closed) return;
    const n = this.gatheredBytes;
    this.gatheredBytes = 0;
    this.writeAt(this.gatheredAt, this.gather!.subarray(0, n));
  }

  private writeAt(offset: number, data: Uint8Array): void {
    try {
      let done = 0;
      while (done < data.length) done += writeSync(this.fd, data, done, data.length - done, offset + done);
    } catch (e) {
      // gathered bytes the receiver counts as held may be lost: no journal may claim them (the last one stands)
      this.writeFailed = true;
      throw fromFsError(e, this.partPath);
    }
  }

  /** Rewrites the journal if the last write is older than `everyMs` (call it often; it is cheap when not due). */
  checkpoint(nowMs: number, everyMs = 250): void {
    if (nowMs - this.lastJournalMs < Math.max(everyMs, 10 * this.syncMs * openParts)) return;
    this.lastJournalMs = nowMs;
    this.writeJournal();
  }

  private writeJournal(): void {
    if (this.closed || this.writeFailed) return;
    const j: Journal = {
      version: JOURNAL_VERSION,
      sizeBytes: this.opts.sizeBytes,
      part: this.partName,
      ...(this.opts.sourceTag && { sourceTag: this.opts.sourceTag }),
      ranges: this.rangesNow()
        .slice(0, MAX_JOURNAL_RANGES)
        .map((r) => [r[0], r[1]]),
    };
    const body = Buffer.from(JSON.stringify(j));
    const claims = j.ranges.some(([a, b]) => b > a);
    const final = journalPath(this.finalPath);
    const tmp = join(dirname(this.finalPath), journalTempNameFor(basename(this.finalPath), hex16()));
    let fd: number | undefined;
    let created = false;
    try {
      this.flush(); // the gathered bytes too: the journal below claims them
      const t0 = performance.now();
      if (claims) this.syncData(); // what the journal is about to claim is on disk first (a journal of none: nothing)
      fd = openSync(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_NONBLOCK, 0o600);
      created = true;
      assertFdInside(fd, this.realDir, tmp, { directlyIn: true });
      let done = 0;
      while (done < body.length) done += writeSync(fd, body, done, body.length - done);
      fdatasyncSync(fd); // the journal's bytes before its name: a power loss must not leave an empty journal
      closeSync(fd);
      fd = undefined;
      renameSync(tmp, final); // replaces whatever is at the journal's name (a symlink itself, never its target)
      created = false;
      syncDirectory(this.realDir);
      this.syncMs = performance.now() - t0; // every sync above: checkpoints are spaced to 10× what they cost
    } catch (e) {
      if (fd !== undefined) closeSync(fd);
      if (created) unlinkQuiet(tmp);
      throw e instanceof FileError ? e : fromFsError(e, final);
    }
  }

  /**
   * fdatasync of the part. A failure counts as a failed write: Linux reports a writeback error once and drops the
   * pages, so the next fdatasync succeeds without them; no journal written after it may claim them.
   */
  private syncData(): void {
    try {
      fdatasyncSync(this.fd);
    } catch (e) {
      this.writeFailed = true;
      throw e;
    }
  }

  /** Truncates the part to sizeBytes, fsyncs, then the SHA-256 of its bytes read through the fd (hex). */
  async hashOnDisk(): Promise<string> {
    const size = this.opts.sizeBytes;
    this.flush();
    try {
      ftruncateSync(this.fd, size);
    } catch (e) {
      throw fromFsError(e, this.partPath);
    }
    // the fsync off the event loop (as the reads below): a process holding many transfers (a server's uploads, the
    // bench's load generator) ran every other session's packets only after each one's fsync of its whole file
    await new Promise<void>((ok, fail) =>
      fsync(this.fd, (err) => {
        if (!err) return ok();
        this.writeFailed = true; // as syncData: the pages a failed writeback dropped must not be claimed later
        fail(fromFsError(err, this.partPath));
      }),
    );
    const h = createHash('sha256');
    const buf = Buffer.allocUnsafe(Math.max(1, Math.min(1 << 20, size)));
    for (let pos = 0; pos < size; ) {
      if (this.closed) throw new FileError('E_IO', `${this.partPath} was closed while being hashed`);
      const want = Math.min(buf.length, size - pos);
      const n = await new Promise<number>((ok, fail) =>
        read(this.fd, buf, 0, want, pos, (err, got) => (err ? fail(fromFsError(err, this.partPath)) : ok(got))),
      );
      if (n === 0) throw new FileError('E_IO', `${this.partPath} shrank below ${size} bytes while being hashed`);
      h.update(buf.subarray(0, n));
      pos += n;
    }
    if (this.closed) throw new FileError('E_IO', `${this.partPath} was closed while being hashed`);
    return h.digest('hex');
  }

  /** Gives the part the final name (see the header); without `force`, fails rather than replace anything. */
  promote(): void {
    if (this.closed) throw new FileError('E_IO', `${this.partPath} is closed; not promoted`);
    try {
      if (!this.isOurs(this.partPath)) {
        throw new FileError('E_IO', `${this.partPath} was replaced or removed during the transfer; not promoted`);
      }
      fchmodSync(this.fd, this.opts.finalMode ?? 0o600);
      if (this.opts.force) renameSync(this.partPath, this.finalPath);
      else {
        linkSync(this.partPath, this.finalPath); // fails with EEXIST instead of replacing
        unlinkSync(this.partPath);
      }
      if (!this.isOurs(this.finalPath)) {
        if (!this.opts.force) unlinkQuiet(this.finalPath); // the name link() just made
        throw new FileError('E_IO', `${this.finalPath} changed while being promoted; removed`);
      }
      syncDirectory(this.realDir); // the final name (and the part's unlink) durable before the transfer is done
    } catch (e) {
      throw e instanceof FileError ? e : fromFsError(e, this.finalPath);
    } finally {
      this.closeFd();
    }
    this.removeOwnJournal();
  }

  /** Keeps the part and the journal for a later --resume (transfer interrupted). */
  suspend(): void {
    try {
      this.writeJournal();
    } catch {
      /* best effort: the journal from the last checkpoint remains */
    }
    this.closeFd();
  }

  /** Removes the part and the journal (wrong data, or nothing worth resuming). */
  discard(): void {
    const ours = !this.closed && this.isOurs(this.partPath);
    this.closeFd();
    if (ours) unlinkQuiet(this.partPath);
    this.removeOwnJournal();
  }

  /** Is `path` (not followed) this part's inode? */
  private isOurs(path: string): boolean {
    try {
      const st = lstatSync(path);
      return st.isFile() && st.dev === this.ino.dev && st.ino === this.ino.ino;
    } catch {
      return false;
    }
  }

  /** Removes the journal if it still describes this part (another process may have started the name afresh). */
  private removeOwnJournal(): void {
    if (readJournalFile(this.finalPath)?.part === this.partName) unlinkQuiet(journalPath(this.finalPath));
  }

  private closeFd(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.counted) openParts--;
    this.counted = false;
    this.gatheredBytes = 0; // suspend() wrote what the journal claims; discard() wants none of it
    if (active.get(this.key) === join(this.realDir, this.partName)) active.delete(this.key);
    try {
      closeSync(this.fd);
    } catch {
      /* already closed */
    }
  }
}

/** Does anything (a dangling symlink included) exist at `path`? */
function lexists(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}
