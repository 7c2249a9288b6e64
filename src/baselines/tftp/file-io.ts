// Files under TFTP: a sequential block source (octet, or netascii-encoded on the fly) and a sink that writes a
// private temporary file, hashes what it wrote, and is promoted to the final name only once the transfer ended
// well. Source rules: only a regular file is opened (stat), with O_RDONLY|O_NONBLOCK (a FIFO swapped in never
// blocks the open), then it must still be a regular file (fstat) and, given a root, the opened file itself
// (/proc/self/fd/N) must lie inside the real root, whatever the path did between the jail check and the open;
// it serves exactly the size the file had at open (what tsize announced) and fails with E_INTEGRITY when the
// file shrinks meanwhile (bytes it grew by are not sent). Sink rules: the temporary file is
// `<name>.<16 hex>.part`, created with O_CREAT|O_EXCL|O_NOFOLLOW and mode 0600, so it is never an existing file,
// a symlink, or another session's file; it is promoted with link(), which fails when the final name exists (or,
// to replace on purpose, renamed); discard unlinks that file only. Given a root, the created file must lie
// inside it too.
import { createHash, type Hash, randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { type FileHandle, link, open, realpath, rename, stat, unlink } from 'node:fs/promises';
import { isAbsolute, relative, sep } from 'node:path';
import { FileError, fromFsError } from '../../files/index.js';
import type { BlockSink, BlockSource } from './blocks.js';
import { NetasciiDecoder, netasciiEncode } from './netascii.js';
import type { TftpMode } from './packet.js';

/** The open file itself, not its path, must lie inside the real root (E_PATH_OUTSIDE_ROOT otherwise). */
async function mustLieInside(fh: FileHandle, root: string, what: string): Promise<void> {
  let real: string;
  let realRoot: string;
  try {
    [real, realRoot] = await Promise.all([realpath(`/proc/self/fd/${fh.fd}`), realpath(root)]);
  } catch (e) {
    throw new FileError('E_PATH_OUTSIDE_ROOT', `cannot tell where ${what} lies: ${(e as Error).message}`);
  }
  const rel = relative(realRoot, real);
  if (rel === '' || rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel))
    throw new FileError('E_PATH_OUTSIDE_ROOT', `${what} is ${real}, outside the root ${realRoot}`);
}

export class FileBlockSource implements BlockSource {
  private pending: Uint8Array[] = [];
  private pendingBytes = 0;
  private eof = false;
  private readonly buf = Buffer.allocUnsafe(64 * 1024);
  /** Bytes of the file not read yet: the source ends at the size the file had when it was opened. */
  private unread: number;

  private constructor(
    private readonly fh: FileHandle,
    private readonly mode: TftpMode,
    readonly sizeBytes: number,
    private readonly path: string,
  ) {
    this.unread = sizeBytes;
  }

  static async open(path: string, mode: TftpMode, o: { root?: string } = {}): Promise<FileBlockSource> {
    let fh: FileHandle;
    try {
      // a device or FIFO is not even opened (opening one can have effects); the fstat below settles any race
      if (!(await stat(path)).isFile()) throw new FileError('E_PERMISSION', `not a regular file: ${path}`);
      fh = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
    } catch (e) {
      throw e instanceof FileError ? e : fromFsError(e, path);
    }
    try {
      const st = await fh.stat();
      if (!st.isFile()) throw new FileError('E_PERMISSION', `not a regular file: ${path}`);
      if (o.root !== undefined) await mustLieInside(fh, o.root, path);
      return new FileBlockSource(fh, mode, st.size, path);
    } catch (e) {
      await fh.close().catch(() => undefined);
      throw e;
    }
  }

  async next(blksize: number): Promise<Uint8Array> {
    while (this.pendingBytes < blksize && !this.eof) {
      if (this.unread === 0) {
        this.eof = true;
        break;
      }
      const { bytesRead } = await this.fh.read(this.buf, 0, Math.min(this.buf.length, this.unread), null);
      if (bytesRead === 0) {
        const at = this.sizeBytes - this.unread;
        throw new FileError('E_INTEGRITY', `${this.path} shrank during the transfer: ${at} of ${this.sizeBytes} bytes`);
      }
      this.unread -= bytesRead;
      const raw = Buffer.from(this.buf.subarray(0, bytesRead));
      const chunk = this.mode === 'netascii' ? netasciiEncode(raw) : raw;
      this.pending.push(chunk);
      this.pendingBytes += chunk.length;
    }
    const n = Math.min(blksize, this.pendingBytes);
    const all = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending);
    const out = all.subarray(0, n);
    const rest = all.subarray(n);
    this.pending = rest.length > 0 ? [rest] : [];
    this.pendingBytes = rest.length;
    return out;
  }

  close(): Promise<void> {
    return this.fh.close();
  }
}

export class PartFileSink implements BlockSink {
  private readonly hash: Hash = createHash('sha256');
  private readonly decoder: NetasciiDecoder | undefined;
  bytesWritten = 0;

  private constructor(
    private readonly fh: FileHandle,
    readonly finalPath: string,
    readonly partPath: string,
    mode: TftpMode,
  ) {
    this.decoder = mode === 'netascii' ? new NetasciiDecoder() : undefined;
  }

  /** Creates `<final>.<16 hex>.part`: a new file of this session's own, never one that existed. */
  static async create(finalPath: string, mode: TftpMode, o: { root?: string } = {}): Promise<PartFileSink> {
    const part = `${finalPath}.${randomBytes(8).toString('hex')}.part`;
    const { O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW } = constants;
    let fh: FileHandle;
    try {
      fh = await open(part, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600);
    } catch (e) {
      throw fromFsError(e, part);
    }
    if (o.root !== undefined)
      await mustLieInside(fh, o.root, part).catch(async (e) => {
        await fh.close().catch(() => undefined);
        await unlink(part).catch(() => undefined); // ours (O_EXCL), wherever the directory led
        throw e;
      });
    return new PartFileSink(fh, finalPath, part, mode);
  }

  async write(data: Uint8Array): Promise<void> {
    const out = this.decoder ? this.decoder.push(data) : data;
    await this.put(out);
  }

  private async put(b: Uint8Array): Promise<void> {
    if (b.length === 0) return;
    try {
      await this.fh.write(b);
    } catch (e) {
      throw fromFsError(e, this.partPath);
    }
    this.hash.update(b);
    this.bytesWritten += b.length;
  }

  /**
   * fsync, then promote: link() to the final name (E_EXISTS when something is there, even a dangling symlink) and
   * unlink the temporary name; with `replace`, rename() over the final name instead. Returns the SHA-256.
   */
  async commit(o: { replace?: boolean } = {}): Promise<string> {
    if (this.decoder) await this.put(this.decoder.end());
    try {
      await this.fh.sync();
      await this.fh.close();
      if (o.replace) await rename(this.partPath, this.finalPath);
      else {
        await link(this.partPath, this.finalPath);
        await unlink(this.partPath).catch(() => undefined); // promoted already: a leftover name is harmless
      }
    } catch (e) {
      throw fromFsError(e, this.finalPath);
    }
    return this.hash.digest('hex');
  }

  /** Removes this session's temporary file: a failed transfer leaves nothing under either name. */
  async discard(): Promise<void> {
    await this.fh.close().catch(() => undefined);
    await unlink(this.partPath).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== 'ENOENT') throw fromFsError(e, this.partPath);
    });
  }
}
