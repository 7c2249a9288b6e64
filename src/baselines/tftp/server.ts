// `udplab tftp-serve`: a TFTP server (RFC 1350 + 2347/2348/2349/7440). Each request gets a socket of its own
// (a new transfer ID). Amplification: junk and stray packets at the request port get no answer; until the
// client has answered once, its transfer sends only its first packet (DATA 1, OACK or ACK 0), at most twice,
// plus once per repeated request (blocks.ts); a repeated request after that is ignored. Reads are served only
// inside --root and only regular files: a FIFO is refused without blocking, and so is a file whose open
// descriptor lies outside the real root. Writes (WRQ) only with --writable, never over an existing file, one
// upload per name at a time (a second WRQ for it gets ERROR 6), through a private temporary file of the
// session's own (file-io.ts) promoted when the last block arrived. At most maxPerSource transfers (8) run at
// once per client IP address and maxSessions (256) in all; a request beyond either gets ERROR 0. Faults: what
// one datagram or one transfer throws (decoding, the file system, the peer, a socket) ends that transfer with
// an ERROR to its peer and a log line, never the process; datagrams from port 0 are dropped unanswered.
import { realpathSync } from 'node:fs';
import { lstat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { resolveInsideRoot } from '../../files/index.js';
import { bindUdp, monotonicMs, type RemoteInfo } from '../../transport/index.js';
import { BaselineError } from '../errors.js';
import { type BlockParams, backoffMs, dally, FirstPacketBudget, receiveBlocks, sendBlocks } from './blocks.js';
import { FileBlockSource, PartFileSink } from './file-io.js';
import { PeerLink } from './link.js';
import { MAX_BLKSIZE, negotiateServer } from './options.js';
import { decodeTftp, ERR, encodeTftp, type TftpMode, type TftpPacket } from './packet.js';

export interface TftpServeOptions {
  root: string;
  host?: string;
  port?: number;
  writable?: boolean;
  maxBlksize?: number;
  maxWindowsize?: number;
  timeoutMs?: number;
  retries?: number;
  /** Transfers at once, all clients (default 256). */
  maxSessions?: number;
  /** Transfers at once from one IP address (default 8); beyond it a request gets ERROR 0. */
  maxPerSource?: number;
  log?: (line: string) => void;
}

export interface TftpSessionLog {
  client: string;
  op: 'RRQ' | 'WRQ';
  filename: string;
  ok: boolean;
  bytes: number;
  /** What was negotiated (512/1 when the client asked nothing). */
  blksize?: number;
  windowsize?: number;
  error?: string;
}

export interface RunningTftpServer {
  port: number;
  address: string;
  /** The most recent transfers (at most 10,000), oldest first. */
  sessions: TftpSessionLog[];
  close(): Promise<void>;
}

type Request = Extract<TftpPacket, { op: 'RRQ' | 'WRQ' }>;

/** A transfer in progress, by the client's address and port. */
interface Session {
  req: Request;
  /** Set once its transfer ID is bound. */
  link: PeerLink | undefined;
  done: Promise<void>;
}

const describe = (e: unknown) => (e instanceof Error ? e.message : String(e));

/** What the peer is told: a TFTP code and a short fixed text (the details, with paths, stay in the log). */
function errorFor(e: unknown): { code: number; message: string } {
  const c = (e as { code?: unknown } | null | undefined)?.code;
  const msg = describe(e);
  if (c === 'E_NOT_FOUND' || c === 'ENOENT') return { code: ERR.NOT_FOUND, message: 'File not found' };
  if (c === 'E_PATH_OUTSIDE_ROOT') return { code: ERR.ACCESS, message: 'Access violation: E_PATH_OUTSIDE_ROOT' };
  if (c === 'E_PERMISSION' && msg.startsWith('not a regular file'))
    return { code: ERR.ACCESS, message: 'Access violation: not a regular file' };
  if (c === 'E_PERMISSION' || c === 'EACCES') return { code: ERR.ACCESS, message: 'Access violation' };
  if (c === 'E_DISK_FULL') return { code: ERR.DISK_FULL, message: 'Disk full or allocation exceeded' };
  if (c === 'E_EXISTS') return { code: ERR.EXISTS, message: 'File already exists' };
  if (c === 'E_INTEGRITY') return { code: ERR.UNDEFINED, message: 'The file changed during the transfer' };
  if (e instanceof BaselineError) return { code: ERR.UNDEFINED, message: msg.slice(0, 100) }; // our own texts
  return { code: ERR.UNDEFINED, message: 'Transfer aborted by a server error' };
}

export async function tftpServe(o: TftpServeOptions): Promise<RunningTftpServer> {
  const host = o.host ?? '127.0.0.1';
  const main = await bindUdp(host, o.port ?? 6969);
  const active = new Map<string, Session>();
  const links = new Set<PeerLink>();
  const sessions: TftpSessionLog[] = [];
  /** Transfers in progress per client IP address. */
  const perSource = new Map<string, number>();
  const maxPerSource = o.maxPerSource ?? 8;
  /** Final names with an upload in progress (real parent directory + name): one writer per name. */
  const writing = new Set<string>();
  const log = o.log ?? (() => {});
  const limits = {
    maxBlksize: Math.min(o.maxBlksize ?? MAX_BLKSIZE, MAX_BLKSIZE),
    maxWindowsize: o.maxWindowsize ?? 64,
    defaultTimeoutMs: o.timeoutMs ?? 1000,
  };
  const refuse = (to: RemoteInfo, code: number, message: string) =>
    main.socket.send(encodeTftp({ op: 'ERROR', code, message }), to.port, to.address, () => {});

  // The fault boundary: whatever one datagram causes is logged and dropped here, never thrown to the process.
  main.socket.on('message', (msg, from) => {
    try {
      onRequest(msg, from);
    } catch (e) {
      log(`tftp: ${from.address}:${from.port}: ${describe(e)}`);
    }
  });

  // Only a well-formed RRQ or WRQ gets an answer here: junk and stray DATA/ACK/ERROR/OACK get silence, since
  // any answer would go to an address nobody has proven (a forged source makes the server a reflector).
  function onRequest(msg: Buffer, from: RemoteInfo): void {
    if (from.port === 0) return; // nothing can be sent to port 0 (a forged source)
    const d = decodeTftp(msg);
    if (!d.ok) return;
    const p = d.packet;
    if (p.op !== 'RRQ' && p.op !== 'WRQ') return;
    const key = `${from.address}:${from.port}`;
    const running = active.get(key);
    if (running) {
      // a repeated request: the transfer answers it (its first packet again) while the client has not answered
      if (running.req.op === p.op && running.req.filename === p.filename) running.link?.inject(p);
      return;
    }
    const mine = perSource.get(from.address) ?? 0;
    const busy =
      active.size >= (o.maxSessions ?? 256)
        ? 'Server busy, try again later'
        : mine >= maxPerSource
          ? 'Too many transfers from your address'
          : undefined;
    if (busy) {
      refuse(from, ERR.UNDEFINED, busy);
      return;
    }
    perSource.set(from.address, mine + 1);
    const entry: Session = { req: p, link: undefined, done: Promise.resolve() };
    entry.done = session(p, from, entry)
      .catch((e) => log(`tftp: ${key}: ${describe(e)}`))
      .finally(() => {
        active.delete(key);
        const left = (perSource.get(from.address) ?? 1) - 1;
        if (left > 0) perSource.set(from.address, left);
        else perSource.delete(from.address);
      });
    active.set(key, entry);
  }
  main.socket.on('error', (e) => log(`tftp: socket error: ${e.message}`));

  async function session(req: Request, from: RemoteInfo, entry: Session): Promise<void> {
    const rec: TftpSessionLog = {
      client: `${from.address}:${from.port}`,
      op: req.op,
      filename: req.filename,
      ok: false,
      bytes: 0,
    };
    sessions.push(rec);
    if (sessions.length > 10_000) sessions.shift();
    let tid: Awaited<ReturnType<typeof bindUdp>> | undefined;
    let link: PeerLink | undefined;
    try {
      tid = await bindUdp(host, 0);
      const l = new PeerLink(tid.socket, { address: from.address, port: from.port }, true);
      link = l;
      entry.link = l;
      links.add(l);
      const fail = (code: number, message: string) => {
        rec.error = message;
        l.send({ op: 'ERROR', code, message });
      };
      if (req.mode !== 'octet' && req.mode !== 'netascii')
        return fail(ERR.ILLEGAL_OP, 'Illegal TFTP operation: unsupported mode');
      const mode = req.mode as TftpMode;
      let path: string;
      try {
        path = resolveInsideRoot(o.root, req.filename);
      } catch (e) {
        rec.error = describe(e); // the reason stays in the log; the answer stays short
        l.send({ op: 'ERROR', code: ERR.ACCESS, message: 'Access violation: E_PATH_OUTSIDE_ROOT' });
        return;
      }
      if (req.op === 'RRQ') await serveRead(req, mode, path, l, rec, fail);
      else await serveWrite(req, mode, path, l, rec, fail);
    } catch (e) {
      // anything this transfer threw (file system, the peer, a socket) ends this transfer only
      rec.error = describe(e);
      if (link && !(e instanceof BaselineError && e.code === 'E_TIMEOUT')) {
        const { code, message } = errorFor(e);
        link.send({ op: 'ERROR', code, message });
      }
    } finally {
      if (link) {
        await link.flush();
        link.close();
        links.delete(link);
      }
      try {
        tid?.socket.close();
      } catch {
        /* closed already */
      }
      log(
        `tftp: ${rec.client} ${rec.op} ${rec.filename}: ${rec.ok ? `ok, ${rec.bytes} bytes` : `failed: ${rec.error}`}`,
      );
    }
  }

  /** The transfer's parameters, recorded in its session log. */
  const params = (
    use: { blksize: number; windowsize: number; timeoutMs: number },
    rec: TftpSessionLog,
  ): BlockParams => {
    rec.blksize = use.blksize;
    rec.windowsize = use.windowsize;
    return { ...use, retries: o.retries ?? 6, unprovenRetransmits: 1 };
  };

  async function serveRead(
    req: Request,
    mode: TftpMode,
    path: string,
    link: PeerLink,
    rec: TftpSessionLog,
    fail: (code: number, message: string) => void,
  ): Promise<void> {
    let src: FileBlockSource;
    try {
      src = await FileBlockSource.open(path, mode, { root: o.root });
    } catch (e) {
      const { code, message } = errorFor(e);
      return fail(code, message);
    }
    try {
      const { oack, use } = negotiateServer(req.options, 'RRQ', mode === 'octet' ? src.sizeBytes : undefined, limits);
      const p = params(use, rec);
      if (oack.length > 0) {
        // the OACK is acknowledged with ACK 0 (or refused with ERROR 8)
        const sendOack = () => link.send({ op: 'OACK', options: oack });
        sendOack();
        await awaitAck0(link, p, sendOack);
      }
      // ACK 0 proved the client's address: from here the negotiated window applies
      const { unprovenRetransmits, ...proven } = p;
      await sendBlocks(link, src, oack.length > 0 ? proven : p);
      rec.ok = true;
      rec.bytes = src.sizeBytes;
    } finally {
      await src.close();
    }
  }

  async function serveWrite(
    req: Request,
    mode: TftpMode,
    path: string,
    link: PeerLink,
    rec: TftpSessionLog,
    fail: (code: number, message: string) => void,
  ): Promise<void> {
    if (!o.writable) return fail(ERR.ACCESS, 'Access violation: this server does not accept writes');
    const name = writerKey(path);
    if (writing.has(name)) return fail(ERR.EXISTS, 'File already exists: an upload of it is in progress');
    writing.add(name);
    const release = () => writing.delete(name);
    try {
      const exists = await lstat(path).then(
        () => true,
        () => false,
      );
      if (exists) return fail(ERR.EXISTS, 'File already exists');
      const { oack, use } = negotiateServer(req.options, 'WRQ', undefined, limits);
      const p = params(use, rec);
      const sink = await PartFileSink.create(path, mode, { root: o.root });
      const first =
        oack.length > 0 ? () => link.send({ op: 'OACK', options: oack }) : () => link.send({ op: 'ACK', block: 0 });
      try {
        first();
        // link() promotes: it fails when the name appeared meanwhile (another process, a symlink planted)
        const r = await receiveBlocks(link, sink, p, { resend: first, finish: () => sink.commit().then(() => {}) });
        release();
        rec.ok = true;
        rec.bytes = sink.bytesWritten;
        await dally(link, r.lastAckBlock, Math.min(p.timeoutMs, 1000));
      } catch (e) {
        await sink.discard().catch((d: Error) => log(`tftp: ${rec.client}: ${d.message}`));
        throw e;
      }
    } finally {
      release();
    }
  }

  return {
    port: main.port,
    address: main.address,
    sessions,
    close: async () => {
      await new Promise<void>((ok) => main.socket.close(() => ok()));
      for (const l of links) l.abort();
      await Promise.allSettled([...active.values()].map((a) => a.done));
    },
  };
}

/** The key of one final name: its real parent directory and the name, so two spellings of one file collide. */
function writerKey(path: string): string {
  try {
    return join(realpathSync(dirname(path)), basename(path));
  } catch {
    return path; // no parent directory: the create fails anyway
  }
}

/** Waits for ACK 0 after our OACK; the OACK goes again within the first-packet budget only. */
async function awaitAck0(link: PeerLink, p: BlockParams, resend: () => void): Promise<void> {
  const budget = new FirstPacketBudget(p);
  let deadline = monotonicMs() + p.timeoutMs;
  for (let retries = 0; ; ) {
    const pkt = await link.next(deadline);
    if (pkt === 'timeout') {
      if (++retries > p.retries) throw new BaselineError('E_TIMEOUT', 'no ACK for the OACK');
      if (budget.onTimeout()) resend();
      deadline = monotonicMs() + backoffMs(p, retries);
      continue;
    }
    if (pkt.op === 'ACK' && pkt.block === 0) return;
    if (pkt.op === 'ERROR') throw new BaselineError('E_PROTOCOL', `the client refused the options: ${pkt.message}`);
    if (pkt.op === 'RRQ' && budget.onRepeatedRequest()) resend();
  }
}
