// Receiving a file safely: bytes go to `NAME.part`, a journal `NAME.part.journal` records the ranges held
// (rewritten atomically: temp file + rename, at most every 250 ms and at the end); `finish()` fsyncs,
// hashes what is on disk, and only when the SHA-256 matches renames `.part` to `NAME` (never over an existing
// file without `force`). A mismatch removes the `.part`: nothing wrong ever appears under the final name.
// `--resume` reopens the `.part` with the journal's ranges when the journal's size matches the offer.
import { createHash } from 'node:crypto';
import {
  closeSync,
  createReadStream,
  existsSync,
  fsyncSync,
  ftruncateSync,
  linkSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import type { DataSink, Range } from '../protocol/index.js';
import { FileError, fromFsError } from './errors.js';

interface Journal {
  version: 1;
  sizeBytes: number;
  ranges: Array<[number, number]>;
}

export interface PartFileOptions {
  sizeBytes: number;
  resume: boolean;
  force: boolean;
}

export function journalPath(finalPath: string): string {
  return `${finalPath}.part.journal`;
}

/** What a resumable `.part` holds: the size of the original and the ranges received (undefined: nothing usable). */
export function readJournalInfo(finalPath: string): { sizeBytes: number; ranges: Range[] } | undefined {
  try {
    const j = JSON.parse(readFileSync(journalPath(finalPath), 'utf8')) as Journal;
    if (
      j.version !== 1 ||
      !Array.isArray(j.ranges) ||
      !Number.isInteger(j.sizeBytes) ||
      !existsSync(`${finalPath}.part`)
    )
      return undefined;
    const ranges = j.ranges.filter(
      (r) => Array.isArray(r) && Number.isInteger(r[0]) && Number.isInteger(r[1]) && r[0] < r[1] && r[1] <= j.sizeBytes,
    );
    return { sizeBytes: j.sizeBytes, ranges };
  } catch {
    return undefined;
  }
}

/** Ranges a resumable `.part` holds for a transfer of `sizeBytes` (empty when there is nothing usable). */
export function readJournal(finalPath: string, sizeBytes?: number): Range[] {
  const j = readJournalInfo(finalPath);
  if (!j || (sizeBytes !== undefined && j.sizeBytes !== sizeBytes)) return [];
  return j.ranges;
}

export class PartFile implements DataSink {
  readonly partPath: string;
  private fd: number;
  private lastJournalMs = 0;
  private closed = false;
  /** Ranges held when the file was opened (from the journal on resume). */
  readonly initialRanges: Range[];

  constructor(
    readonly finalPath: string,
    private readonly opts: PartFileOptions,
    private readonly rangesNow: () => Range[],
  ) {
    this.partPath = `${finalPath}.part`;
    if (!opts.force && existsSync(finalPath)) {
      throw new FileError('E_EXISTS', `${finalPath} already exists (use --force to overwrite)`);
    }
    this.initialRanges = opts.resume ? readJournal(finalPath, opts.sizeBytes) : [];
    try {
      this.fd = openSync(this.partPath, this.initialRanges.length > 0 ? 'r+' : 'w');
      if (this.initialRanges.length === 0) ftruncateSync(this.fd, 0);
    } catch (e) {
      throw fromFsError(e, this.partPath);
    }
    this.writeJournal();
  }

  write(offset: number, data: Uint8Array): void {
    try {
      let done = 0;
      while (done < data.length) done += writeSync(this.fd, data, done, data.length - done, offset + done);
    } catch (e) {
      throw fromFsError(e, this.partPath);
    }
    // the journal may lag the data (ranges are re-received), never lead it: it is written after the bytes
    this.checkpoint(Date.now());
  }

  /** Rewrites the journal if the last write is older than `everyMs` (call it often; it is cheap when not due). */
  checkpoint(nowMs: number, everyMs = 250): void {
    if (nowMs - this.lastJournalMs < everyMs) return;
    this.lastJournalMs = nowMs;
    this.writeJournal();
  }

  private writeJournal(): void {
    if (this.closed) return;
    const j: Journal = {
      version: 1,
      sizeBytes: this.opts.sizeBytes,
      ranges: this.rangesNow().map((r) => [r[0], r[1]]),
    };
    const tmp = `${journalPath(this.finalPath)}.tmp`;
    try {
      writeFileSync(tmp, JSON.stringify(j));
      renameSync(tmp, journalPath(this.finalPath));
    } catch (e) {
      throw fromFsError(e, journalPath(this.finalPath));
    }
  }

  /** fsync, then the SHA-256 of what is on disk (hex). */
  async hashOnDisk(): Promise<string> {
    try {
      fsyncSync(this.fd);
    } catch (e) {
      throw fromFsError(e, this.partPath);
    }
    const h = createHash('sha256');
    await new Promise<void>((ok, fail) => {
      createReadStream(this.partPath, { start: 0, end: Math.max(0, this.opts.sizeBytes - 1), highWaterMark: 1 << 20 })
        .on('data', (c) => h.update(c))
        .on('end', () => ok())
        .on('error', fail);
    });
    return this.opts.sizeBytes === 0 ? createHash('sha256').digest('hex') : h.digest('hex');
  }

  /** Promotes `.part` to the final name (atomic rename; without `force`, fails rather than overwrite). */
  promote(): void {
    this.closeFd();
    try {
      if (this.opts.force) renameSync(this.partPath, this.finalPath);
      else {
        linkSync(this.partPath, this.finalPath); // fails with EEXIST instead of replacing
        rmSync(this.partPath);
      }
      rmSync(journalPath(this.finalPath), { force: true });
    } catch (e) {
      throw fromFsError(e, this.finalPath);
    }
  }

  /** Keeps `.part` and the journal for a later --resume (transfer interrupted). */
  suspend(): void {
    try {
      this.writeJournal();
    } catch {
      /* best effort: the journal from the last checkpoint remains */
    }
    this.closeFd();
  }

  /** Removes `.part` and the journal (wrong data, or nothing worth resuming). */
  discard(): void {
    this.closeFd();
    rmSync(this.partPath, { force: true });
    rmSync(journalPath(this.finalPath), { force: true });
  }

  private closeFd(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      closeSync(this.fd);
    } catch {
      /* already closed */
    }
  }
}
