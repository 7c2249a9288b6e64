// `udplab tcp-get`: fetches a file from `udplab tcp-serve` over one TCP connection, hashing as it writes
// `<local>.part`; renamed to the final name only when every announced byte arrived.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { monotonicMs, type TransferResult } from '../../transport/index.js';
import { BaselineError, type BaselineErrorCode } from '../errors.js';
import { baselineResult } from '../result.js';

export interface TcpClientOptions {
  host: string;
  port: number;
  timeoutMs?: number;
  force?: boolean;
}

export async function tcpGet(o: TcpClientOptions, remote: string, local: string): Promise<TransferResult> {
  if (!o.force && existsSync(local)) throw new BaselineError('E_EXISTS', `${local} exists (use --force to replace it)`);
  const part = `${local}.part`;
  const fh = await open(part, 'w');
  const hash = createHash('sha256');
  const t0 = monotonicMs();
  const t0Epoch = Date.now();
  let received = 0;
  // the bytes held about every 100 ms (as a RUFT client's timeline): the lab's per-flow goodput over time
  const timeline: Array<{ t_ms: number; bytes: number }> = [{ t_ms: 0, bytes: 0 }];
  const sample = () => timeline.push({ t_ms: Math.round(monotonicMs() - t0), bytes: received });
  const sampler = setInterval(() => {
    if (timeline.length < 20_000) sample();
  }, 100);
  let expected = -1;
  try {
    await new Promise<void>((ok, fail) => {
      const sock = connect({ host: o.host, port: o.port });
      sock.setTimeout(o.timeoutMs ?? 30_000, () =>
        sock.destroy(
          new BaselineError('E_TIMEOUT', `no data from ${o.host}:${o.port} for ${(o.timeoutMs ?? 30_000) / 1000} s`),
        ),
      );
      sock.on('connect', () => sock.write(`GET ${remote}\n`));
      let head = Buffer.alloc(0);
      let writing = Promise.resolve();
      sock.on('data', (d: Buffer) => {
        let body = d;
        if (expected < 0) {
          head = Buffer.concat([head, d]);
          const nl = head.indexOf(10);
          if (nl < 0) return;
          const line = head.subarray(0, nl).toString('utf8');
          body = head.subarray(nl + 1);
          const m = /^OK (\d+)$/.exec(line);
          if (!m) {
            const e = /^ERR (E_[A-Z_]+) (.*)$/.exec(line);
            sock.destroy(
              new BaselineError((e?.[1] as BaselineErrorCode) ?? 'E_PROTOCOL', e?.[2] ?? `unexpected answer "${line}"`),
            );
            return;
          }
          expected = Number(m[1]);
        }
        if (body.length === 0) return;
        received += body.length;
        hash.update(body);
        sock.pause();
        writing = writing.then(() => fh.write(body).then(() => void sock.resume()));
      });
      sock.on('error', fail);
      sock.on('end', () => {
        void writing.then(() => ok(), fail);
      });
    });
    clearInterval(sampler);
    sample();
    if (expected < 0 || received !== expected)
      throw new BaselineError('E_INTEGRITY', `connection closed at ${received} of ${expected} bytes: file not written`);
    const elapsed = monotonicMs() - t0;
    await fh.sync();
    await fh.close();
    await rename(part, local);
    return baselineResult({
      op: 'get',
      remote,
      local,
      bytes: received,
      elapsedMs: elapsed,
      sha256: hash.digest('hex'),
      packets: 0,
      retransmitted: 0,
      security: 'none (TCP: plaintext)',
      timeline,
      startedEpochMs: t0Epoch,
    });
  } catch (e) {
    clearInterval(sampler);
    await fh.close().catch(() => undefined);
    await rm(part, { force: true });
    throw e;
  }
}
