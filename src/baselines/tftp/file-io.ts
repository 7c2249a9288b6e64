// Files under TFTP: a sequential block source (octet, or netascii-encoded on the fly) and a sink that writes a
// private temporary file, hashes what it wrote, and is promoted to the final name only once the transfer ended
// well. Sink rules: the temporary file is `<name>.<16 hex>.part`, created with O_CREAT|O_EXCL|O_NOFOLLOW and mode
// 0600, so it is never an existing file, a symlink, or another session's file; it is promoted with link(), which
// fails when the final name exists (or, to replace on purpose, renamed); discard unlinks that file only.
import { createHash, type Hash, randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { type FileHandle, link, open, rename, unlink } from 'node:fs/promises';
import { fromFsError } from '../../files/index.js';
import type { BlockSink, BlockSource } from './blocks.js';
import { NetasciiDecoder, netasciiEncode } from './netascii.js';
import type { TftpMode } from './packet.js';

export class FileBlockSource implements BlockSource {
  private pending: Uint8Array[] = [];
  private pendingBytes = 0;
  private eof = false;
  private readonly buf = Buffer.allocUnsafe(64 * 1024);

  private constructor(
    private readonly fh: FileHandle,
    private readonly mode: TftpMode,
    readonly sizeBytes: number,
  ) {}

  static async open(path: string, mode: TftpMode): Promise<FileBlockSource> {
    const fh = await open(path, 'r');
    const st = await fh.stat();
    if (!st.isFile()) {
      await fh.close();
      throw Object.assign(new Error(`${path} is not a regular file`), { code: 'EISDIR' });
    }
    return new FileBlockSource(fh, mode, st.size);
  }

  async next(blksize: number): Promise<Uint8Array> {
    while (this.pendingBytes < blksize && !this.eof) {
      const { bytesRead } = await this.fh.read(this.buf, 0, this.buf.length, null);
      if (bytesRead === 0) this.eof = true;
      else {
        const raw = Buffer.from(this.buf.subarray(0, bytesRead));
        const chunk = this.mode === 'netascii' ? netasciiEncode(raw) : raw;
        this.pending.push(chunk);
        this.pendingBytes += chunk.length;
      }
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
  static async create(finalPath: string, mode: TftpMode): Promise<PartFileSink> {
    const part = `${finalPath}.${randomBytes(8).toString('hex')}.part`;
    const { O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW } = constants;
    try {
      return new PartFileSink(await open(part, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600), finalPath, part, mode);
    } catch (e) {
      throw fromFsError(e, part);
    }
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
