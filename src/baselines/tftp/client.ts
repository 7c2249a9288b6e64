// `udplab tftp-get` / `tftp-put`: a TFTP client. It asks for blksize, windowsize, timeout and tsize, takes what
// the server's OACK grants (refusing an OACK that raises a value, with ERROR 8), falls back to plain RFC 1350
// when the server answers the request with DATA 1, and locks onto the server's transfer ID. A download is
// written to a private `<local>.<16 hex>.part`, checked against tsize, and promoted only when complete (over an
// existing LOCAL only with --force).
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import type { TransferResult } from '../../transport/index.js';
import { bindUdp, canonicalAddress, monotonicMs, wildcardFor } from '../../transport/index.js';
import { BaselineError } from '../errors.js';
import { baselineResult } from '../result.js';
import { type BlockParams, backoffMs, dally, peerError, receiveBlocks, sendBlocks } from './blocks.js';
import { FileBlockSource, PartFileSink } from './file-io.js';
import { PeerLink } from './link.js';
import { acceptOack, type ClientRequest, DEFAULT_BLKSIZE, requestOptions } from './options.js';
import { ERR, type TftpMode, type TftpPacket } from './packet.js';

export interface TftpClientOptions {
  host: string;
  port: number;
  mode?: TftpMode;
  blksize?: number;
  windowsize?: number;
  /** Retransmission timeout; sent as `timeout` (whole seconds) or else tftp-hpa's `utimeout` (microseconds). */
  timeoutMs?: number;
  retries?: number;
  /** Ask for / announce tsize (default true). */
  tsize?: boolean;
  /** Send no options at all: plain RFC 1350. */
  noOptions?: boolean;
  force?: boolean;
}

export interface TftpResult extends TransferResult {
  negotiated: { blksize: number; windowsize: number; timeout_ms: number; tsize: number | null; oack: boolean };
}

function request(o: TftpClientOptions, tsize: number | undefined): ClientRequest {
  if (o.noOptions) return {};
  const r: ClientRequest = {};
  if (o.blksize !== undefined) r.blksize = o.blksize;
  if (o.windowsize !== undefined) r.windowsize = o.windowsize;
  const t = o.timeoutMs ?? 1000;
  if (t >= 1000 && t % 1000 === 0 && t <= 255_000) r.timeoutS = t / 1000;
  else if (t >= 10) r.utimeoutUs = Math.round(t * 1000);
  if (o.tsize !== false) r.tsize = tsize ?? 0;
  return r;
}

async function openLink(o: TftpClientOptions) {
  // an IP address in the form replies come from (`0:0::1` → `::1`): the link takes only its peer's datagrams
  const address = canonicalAddress(o.host);
  const b = await bindUdp(wildcardFor(address), 0);
  const link = new PeerLink(b.socket, { address, port: o.port }, false);
  return {
    link,
    close: async () => {
      await link.flush();
      link.close();
      b.socket.close();
    },
  };
}

/** RFC 1350's values until an OACK says otherwise. */
function baseParams(o: TftpClientOptions): BlockParams {
  return { blksize: DEFAULT_BLKSIZE, windowsize: 1, timeoutMs: o.timeoutMs ?? 1000, retries: o.retries ?? 6 };
}

/** Accepts the server's OACK or refuses it with ERROR 8 (then throws). */
function takeOack(link: PeerLink, ask: ClientRequest, options: Array<[string, string]>, base: BlockParams) {
  const acc = acceptOack(ask, options, base.timeoutMs);
  if (!acc.ok) {
    link.send({ op: 'ERROR', code: ERR.OPTION_REFUSED, message: acc.error });
    throw new BaselineError('E_PROTOCOL', acc.error);
  }
  return acc.use;
}

/** Sends the request until the first answer: OACK, DATA 1 / ACK 0 (no options), or ERROR. */
async function firstAnswer(link: PeerLink, req: TftpPacket, p: BlockParams): Promise<TftpPacket> {
  link.send(req);
  let deadline = monotonicMs() + p.timeoutMs;
  for (let retries = 0; ; ) {
    const pkt = await link.next(deadline);
    if (pkt === 'timeout') {
      if (++retries > p.retries)
        throw new BaselineError('E_TIMEOUT', `no answer from the TFTP server after ${p.retries} retransmissions`);
      link.send(req);
      deadline = monotonicMs() + backoffMs(p, retries);
      continue;
    }
    if (pkt.op === 'ERROR') throw peerError(pkt);
    return pkt;
  }
}

function result(
  op: 'get' | 'put',
  remote: string,
  local: string,
  bytes: number,
  elapsedMs: number,
  sha256: string,
  dataPackets: number,
  retransmitted: number,
  neg: TftpResult['negotiated'],
): TftpResult {
  return {
    ...baselineResult({
      op,
      remote,
      local,
      bytes,
      elapsedMs,
      sha256,
      packets: dataPackets,
      retransmitted,
      security: 'none (TFTP: plaintext, no integrity check beyond the UDP checksum)',
    }),
    negotiated: neg,
  };
}

export async function tftpGet(o: TftpClientOptions, remote: string, local: string): Promise<TftpResult> {
  if (!o.force && existsSync(local)) throw new BaselineError('E_EXISTS', `${local} exists (use --force to replace it)`);
  const mode = o.mode ?? 'octet';
  const ask = request(o, undefined);
  const base = baseParams(o);
  const { link, close } = await openLink(o);
  const t0 = monotonicMs();
  let sink: PartFileSink | undefined;
  try {
    const req: TftpPacket = { op: 'RRQ', filename: remote, mode, options: requestOptions(ask) };
    const first = await firstAnswer(link, req, base);
    let p = base;
    let tsize: number | undefined;
    let start: Parameters<typeof receiveBlocks>[3];
    const oack = first.op === 'OACK';
    if (first.op === 'OACK') {
      const use = takeOack(link, ask, first.options, base);
      p = { ...base, ...use };
      tsize = use.tsize;
      const ack0 = () => link.send({ op: 'ACK', block: 0 });
      ack0();
      start = { resend: ack0, onOack: ack0 };
    } else if (first.op === 'DATA') {
      start = { first, resend: () => link.send(req) };
    } else throw new BaselineError('E_PROTOCOL', `unexpected ${first.op} in answer to the request`);
    const out = await PartFileSink.create(local, mode);
    sink = out;
    let sha = '';
    // the bytes held after every block, in ms since the request: block number against time (lockstep shows steps)
    const timeline: TftpResult['timeline'] = [{ t_ms: 0, bytes: 0 }];
    const r = await receiveBlocks(link, out, p, {
      ...start,
      onBlock: (bytes) => timeline.push({ t_ms: Math.round((monotonicMs() - t0) * 1000) / 1000, bytes }),
      finish: async () => {
        if (mode === 'octet' && tsize !== undefined && tsize !== out.bytesWritten) {
          link.send({ op: 'ERROR', code: ERR.UNDEFINED, message: 'size differs from tsize' });
          throw new BaselineError(
            'E_INTEGRITY',
            `received ${out.bytesWritten} bytes but the server announced tsize ${tsize}: file not written`,
          );
        }
        sha = await out.commit({ replace: o.force ?? false });
        sink = undefined;
      },
    });
    const elapsed = monotonicMs() - t0;
    const bytes = out.bytesWritten;
    await dally(link, r.lastAckBlock, Math.min(p.timeoutMs, 500));
    return {
      ...result('get', remote, local, bytes, elapsed, sha, r.dataPackets, r.retransmittedPackets, {
        blksize: p.blksize,
        windowsize: p.windowsize,
        timeout_ms: p.timeoutMs,
        tsize: tsize ?? null,
        oack,
      }),
      timeline,
    };
  } finally {
    await sink?.discard();
    await close();
  }
}

export async function tftpPut(o: TftpClientOptions, local: string, remote: string): Promise<TftpResult> {
  const mode = o.mode ?? 'octet';
  let src: FileBlockSource;
  try {
    src = await FileBlockSource.open(local, mode);
  } catch (e) {
    throw new BaselineError('E_NOT_FOUND', `cannot read ${local}: ${(e as Error).message}`);
  }
  const ask = request(o, mode === 'octet' ? src.sizeBytes : undefined);
  const base = baseParams(o);
  const { link, close } = await openLink(o);
  const t0 = monotonicMs();
  try {
    const req: TftpPacket = { op: 'WRQ', filename: remote, mode, options: requestOptions(ask) };
    const first = await firstAnswer(link, req, base);
    let p = base;
    let oack = false;
    if (first.op === 'OACK') {
      p = { ...base, ...takeOack(link, ask, first.options, base) };
      oack = true;
    } else if (!(first.op === 'ACK' && first.block === 0))
      throw new BaselineError('E_PROTOCOL', `unexpected ${first.op} in answer to the write request`);
    const hash = createHash('sha256');
    const hashing = {
      next: async (n: number) => {
        const b = await src.next(n);
        hash.update(b);
        return b;
      },
    };
    const st = await sendBlocks(link, mode === 'octet' ? hashing : src, p);
    const elapsed = monotonicMs() - t0;
    return result(
      'put',
      remote,
      local,
      src.sizeBytes,
      elapsed,
      mode === 'octet' ? hash.digest('hex') : '',
      st.dataPackets,
      st.retransmittedPackets,
      { blksize: p.blksize, windowsize: p.windowsize, timeout_ms: p.timeoutMs, tsize: ask.tsize ?? null, oack },
    );
  } finally {
    await src.close();
    await close();
  }
}
