// The seminar report's client, ported faithfully: it sends the filename, reads the answer with a 1024-byte
// buffer, and on "EXISTS <size>" writes every datagram it receives, in arrival order and each cut to the
// buffer size, straight into the final file until it has counted <size> bytes. No sequence numbers, no
// acknowledgements, no check: reordering and duplication produce a wrong file, loss a transfer that never
// ends. The one addition is a stall timeout, so that a lab run ends with "stalled at N of M bytes" where the
// original hangs forever.
import { createHash } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';
import { monotonicMs, type TransferResult } from '../../transport/index.js';
import { BaselineError } from '../errors.js';
import { baselineResult } from '../result.js';

export interface NaiveClientOptions {
  host: string;
  port: number;
  /** Receive buffer (the original's recvfrom(1024)): longer datagrams are cut. */
  bufsizeBytes?: number;
  /** SO_RCVBUF; the original leaves the OS default. */
  rcvbufBytes?: number;
  stallMs?: number;
  /** Exchange the toy key first ("KEY" → "14"), as the report's server offers. */
  key?: boolean;
}

export interface NaiveResult extends TransferResult {
  expected_bytes: number;
  datagrams: number;
  truncated_datagrams: number;
  /** Datagrams the kernel dropped at this socket because its receive buffer was full (Linux; else absent). */
  socket_drops?: number;
}

/**
 * The kernel's drop counter of the UDP socket bound to `port` (the last column of /proc/net/udp: datagrams
 * dropped because the receive buffer was full, the per-socket share of UdpRcvbufErrors); undefined off Linux.
 */
export function socketDrops(port: number, table = '/proc/net/udp'): number | undefined {
  let text: string;
  try {
    text = readFileSync(table, 'utf8');
  } catch {
    return undefined;
  }
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length >= 13 && f[1]?.endsWith(`:${hexPort}`)) return Number(f.at(-1));
  }
  return undefined;
}

export async function naiveGet(o: NaiveClientOptions, remote: string, local: string): Promise<NaiveResult> {
  const sock = createSocket('udp4');
  await new Promise<void>((ok) => sock.bind(0, ok));
  if (o.rcvbufBytes) sock.setRecvBufferSize(o.rcvbufBytes);
  const bufsize = o.bufsizeBytes ?? 1024;
  const stallMs = o.stallMs ?? 3000;
  const queue: Buffer[] = [];
  let wake: (() => void) | undefined;
  sock.on('message', (m) => {
    queue.push(m);
    wake?.();
  });
  const recvfrom = async (): Promise<Buffer | undefined> => {
    const deadline = monotonicMs() + stallMs;
    while (queue.length === 0) {
      const wait = deadline - monotonicMs();
      if (wait <= 0) return undefined;
      await new Promise<void>((ok) => {
        const t = setTimeout(ok, wait);
        wake = () => {
          clearTimeout(t);
          ok();
        };
      });
      wake = undefined;
    }
    return queue.shift();
  };
  const sendto = (s: string) => sock.send(Buffer.from(s, 'utf8'), o.port, o.host);
  let fd: number | undefined;
  const drops = () => socketDrops(sock.address().port);
  try {
    if (o.key) {
      sendto('KEY');
      const k = await recvfrom();
      if (!k) throw new BaselineError('E_STALLED', 'no answer to KEY');
    }
    const t0 = monotonicMs();
    sendto(remote);
    const answer = await recvfrom();
    if (!answer) throw new BaselineError('E_STALLED', `stalled at 0 bytes: no answer to the request for ${remote}`);
    const text = answer.subarray(0, bufsize).toString('utf8');
    if (!text.startsWith('EXISTS')) {
      const shown = /^[\x20-\x7e]{0,60}$/.test(text)
        ? `"${text}"`
        : `${answer.length} bytes that are not "EXISTS <size>"`;
      throw new BaselineError('E_NOT_FOUND', `file does'nt exist (the first answer was ${shown})`);
    }
    const filesize = Number.parseInt(text.slice(6), 10);
    fd = openSync(local, 'w');
    const hash = createHash('sha256');
    let totalRecv = 0;
    let datagrams = 0;
    let truncated = 0;
    while (totalRecv < filesize) {
      const d = await recvfrom();
      if (!d) {
        const n = drops();
        throw new BaselineError(
          'E_STALLED',
          `stalled at ${totalRecv} of ${filesize} bytes${n ? `; its socket dropped ${n} datagrams (receive buffer full)` : ''}`,
        );
      }
      const data = d.subarray(0, bufsize);
      if (d.length > bufsize) truncated++;
      datagrams++;
      totalRecv += data.length;
      writeSync(fd, data);
      hash.update(data);
    }
    const elapsed = monotonicMs() - t0;
    const n = drops();
    return {
      ...baselineResult({
        op: 'get',
        remote,
        local,
        bytes: totalRecv,
        elapsedMs: elapsed,
        sha256: hash.digest('hex'),
        packets: datagrams,
        retransmitted: 0,
        security: 'none (naive: plaintext, no acknowledgements, no integrity check)',
      }),
      expected_bytes: filesize,
      datagrams,
      truncated_datagrams: truncated,
      ...(n !== undefined && { socket_drops: n }),
    };
  } finally {
    if (fd !== undefined) closeSync(fd);
    sock.close();
  }
}
