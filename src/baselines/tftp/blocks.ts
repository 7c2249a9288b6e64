// Moving blocks: the sending side (a window of up to `windowsize` blocks, RFC 7440) and the receiving side
// (in-order delivery, an ACK per window or at a gap). Rules: block numbers are 16 bits on the wire and roll
// over to 0; the sender never answers a duplicate ACK with data (no Sorcerer's Apprentice), only its own
// timeout retransmits; an ACK that leaves part of the window unacknowledged restarts the window after it.
// Until the peer has answered once (its address proven: it got our first packet from this transfer ID), a
// server sends only its first packet (DATA 1, or ACK 0/OACK for a write): once, again after one timeout
// (`unprovenRetransmits`), and once per repeated request the peer sends (one answer per request, at most
// `retries`), never a window; it waits for the usual retry count before it gives up.
import { monotonicMs } from '../../transport/index.js';
import { BaselineError, type BaselineErrorCode } from '../errors.js';
import type { PeerLink } from './link.js';
import { ERR, type TftpPacket } from './packet.js';

export interface BlockParams {
  blksize: number;
  windowsize: number;
  timeoutMs: number;
  /** Consecutive timeouts before giving up. */
  retries: number;
  /**
   * Server side: timeout retransmissions of the first packet while the peer's address is unproven (then only
   * its repeated requests are answered). Undefined: no such limit (the client, which sent the request itself).
   */
  unprovenRetransmits?: number;
}

/** Sends of the first packet before the peer has answered: a budget for timeouts and one for repeated requests. */
export class FirstPacketBudget {
  private timeouts: number;
  private repeats: number;
  constructor(p: BlockParams) {
    this.timeouts = p.unprovenRetransmits ?? Number.POSITIVE_INFINITY;
    this.repeats = p.unprovenRetransmits === undefined ? 0 : p.retries;
  }
  /** A timeout passed: may the first packet go again? */
  onTimeout(): boolean {
    return this.timeouts-- > 0;
  }
  /** The peer repeated its request (it lost our answer): one answer per request. */
  onRepeatedRequest(): boolean {
    return this.repeats-- > 0;
  }
}

const isRequest = (p: TftpPacket) => p.op === 'RRQ' || p.op === 'WRQ';

export interface BlockStats {
  blocks: number;
  dataPackets: number;
  retransmittedPackets: number;
  duplicatesReceived: number;
  timeouts: number;
}

/** The full block number that `wire` (16 bits) names, taking the one nearest to `near`. */
export function unwrapBlock(wire: number, near: number): number {
  const base = near - (near & 0xffff);
  let best = base + wire;
  for (const c of [best - 0x10000, best + 0x10000]) if (Math.abs(c - near) < Math.abs(best - near)) best = c;
  return best;
}

export function peerError(p: Extract<TftpPacket, { op: 'ERROR' }>): BaselineError {
  const codes: Record<number, BaselineErrorCode> = {
    [ERR.NOT_FOUND]: 'E_NOT_FOUND',
    [ERR.ACCESS]: p.message.includes('E_PATH_OUTSIDE_ROOT') ? 'E_PATH_OUTSIDE_ROOT' : 'E_PERMISSION',
    [ERR.EXISTS]: 'E_EXISTS',
    [ERR.DISK_FULL]: 'E_DISK_FULL',
  };
  return new BaselineError(
    codes[p.code] ?? 'E_PROTOCOL',
    `TFTP error ${p.code} from the peer: ${p.message || '(no message)'}`,
  );
}

function timedOut(what: string, p: BlockParams): BaselineError {
  return new BaselineError(
    'E_TIMEOUT',
    `${what}: no answer after ${p.retries} retransmissions (timeout ${p.timeoutMs} ms, doubling to ${8 * p.timeoutMs} ms)`,
  );
}

/** The wait before retransmission number `retries`: the timeout doubles per silent round, up to 8×. */
export function backoffMs(p: { timeoutMs: number }, retries: number): number {
  return p.timeoutMs * 2 ** Math.min(retries, 3);
}

/** Where blocks come from: exactly `blksize` bytes each until the last, which is shorter (maybe empty). */
export interface BlockSource {
  next(blksize: number): Promise<Uint8Array>;
}

export async function sendBlocks(link: PeerLink, src: BlockSource, p: BlockParams): Promise<BlockStats> {
  const st: BlockStats = { blocks: 0, dataPackets: 0, retransmittedPackets: 0, duplicatesReceived: 0, timeouts: 0 };
  let base = 1; // first block not yet acknowledged
  const window: Uint8Array[] = []; // window[i] is block base+i
  let last: number | undefined; // the final block's number, once read
  let sentUpTo = 0; // highest block sent at least once
  let retries = 0;
  const budget = new FirstPacketBudget(p);
  let proven = p.unprovenRetransmits === undefined; // set by the first ACK of a block we sent
  const sendFrom = (from: number) => {
    const end = proven ? base + window.length : Math.min(base + window.length, 2); // unproven: DATA 1 only
    for (let n = from; n < end; n++) {
      link.send({ op: 'DATA', block: n, data: window[n - base]! });
      st.dataPackets++;
      if (n <= sentUpTo) st.retransmittedPackets++;
      else sentUpTo = n;
    }
  };
  const fill = async () => {
    while (last === undefined && window.length < p.windowsize) {
      const b = await src.next(p.blksize);
      window.push(b);
      st.blocks++;
      if (b.length < p.blksize) last = base + window.length - 1;
    }
  };
  await fill();
  sendFrom(base);
  let deadline = monotonicMs() + p.timeoutMs;
  for (;;) {
    const pkt = await link.next(deadline);
    if (pkt === 'timeout') {
      st.timeouts++;
      if (++retries > p.retries) throw timedOut('sending', p);
      if (proven || budget.onTimeout()) sendFrom(base);
      deadline = monotonicMs() + backoffMs(p, retries);
      continue;
    }
    if (pkt.op === 'ERROR') throw peerError(pkt);
    if (isRequest(pkt)) {
      if (!proven && budget.onRepeatedRequest()) sendFrom(base);
      continue;
    }
    if (pkt.op !== 'ACK') continue;
    const n = unwrapBlock(pkt.block, base);
    if (n < base || n >= base + window.length) {
      st.duplicatesReceived++;
      continue; // a duplicate or stale ACK: wait for our own timeout
    }
    retries = 0;
    proven = true;
    window.splice(0, n - base + 1);
    base = n + 1;
    if (last !== undefined && n === last) return st;
    const resendFrom = base;
    const hadUnacked = window.length > 0;
    await fill();
    // the receiver saw a gap: what it did not acknowledge goes again, then the new blocks
    sendFrom(hadUnacked ? resendFrom : sentUpTo + 1);
    deadline = monotonicMs() + p.timeoutMs;
  }
}

/** Where received blocks go, in order. */
export interface BlockSink {
  write(data: Uint8Array): Promise<void>;
}

export interface ReceiveStart {
  /** Packets that arrived before the data phase (the first DATA when a server ignored all options). */
  first?: TftpPacket;
  /** What to send again when nothing has arrived yet: the request, our ACK 0 or the OACK. */
  resend: () => void;
  /** Answers a repeated OACK (our ACK 0 was lost). */
  onOack?: () => void;
  /** Runs before the final ACK: make the file durable first, so an acknowledged transfer is a stored one. */
  finish?: () => Promise<void>;
  /** Called after each new block is written, with the bytes held so far (the client's timeline). */
  onBlock?: (bytes: number) => void;
}

export async function receiveBlocks(
  link: PeerLink,
  sink: BlockSink,
  p: BlockParams,
  start: ReceiveStart,
): Promise<BlockStats & { bytes: number; lastAckBlock: number }> {
  const st = { blocks: 0, dataPackets: 0, retransmittedPackets: 0, duplicatesReceived: 0, timeouts: 0, bytes: 0 };
  let expected = 1;
  let sinceAck = 0;
  let retries = 0;
  let nudged = false; // one ACK per burst of duplicates or gaps
  const ack = (n: number) => link.send({ op: 'ACK', block: n });
  const budget = new FirstPacketBudget(p); // the peer is proven once DATA 1 arrived (expected > 1)
  let deadline = monotonicMs() + p.timeoutMs;
  let pending: TftpPacket | undefined = start.first;
  for (;;) {
    const pkt = pending ?? (await link.next(deadline));
    pending = undefined;
    if (pkt === 'timeout') {
      st.timeouts++;
      if (++retries > p.retries) throw timedOut('receiving', p);
      if (expected > 1) ack(expected - 1);
      else if (budget.onTimeout()) start.resend();
      nudged = false;
      sinceAck = 0;
      deadline = monotonicMs() + backoffMs(p, retries);
      continue;
    }
    if (pkt.op === 'ERROR') throw peerError(pkt);
    if (isRequest(pkt)) {
      if (expected === 1 && budget.onRepeatedRequest()) start.resend();
      continue;
    }
    if (pkt.op === 'OACK' && expected === 1) {
      start.onOack?.();
      continue;
    }
    if (pkt.op !== 'DATA') continue;
    st.dataPackets++;
    if (pkt.data.length > p.blksize)
      throw new BaselineError('E_PROTOCOL', `DATA block of ${pkt.data.length} bytes exceeds blksize ${p.blksize}`);
    const n = unwrapBlock(pkt.block, expected);
    if (n !== expected) {
      if (n < expected) {
        st.duplicatesReceived++;
        st.retransmittedPackets++;
      }
      if (!nudged) {
        nudged = true;
        sinceAck = 0;
        ack(expected - 1);
      }
      continue;
    }
    await sink.write(pkt.data);
    st.blocks++;
    st.bytes += pkt.data.length;
    start.onBlock?.(st.bytes);
    expected++;
    sinceAck++;
    retries = 0;
    nudged = false;
    deadline = monotonicMs() + p.timeoutMs;
    if (pkt.data.length < p.blksize) {
      await start.finish?.();
      ack(n);
      return { ...st, lastAckBlock: n };
    }
    if (sinceAck >= p.windowsize) {
      ack(n);
      sinceAck = 0;
    }
  }
}

/** After the final ACK: answer a repeated final DATA (our ACK was lost) for a while, then stop. */
export async function dally(link: PeerLink, lastBlock: number, ms: number): Promise<void> {
  const until = monotonicMs() + ms;
  for (;;) {
    const pkt = await link.next(until);
    if (pkt === 'timeout') return;
    if (pkt.op === 'DATA' && unwrapBlock(pkt.block, lastBlock) === lastBlock)
      link.send({ op: 'ACK', block: pkt.block });
  }
}
