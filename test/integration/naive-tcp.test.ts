// The naive baseline fails the way the seminar's protocol fails, and the TCP baseline is a correct copy.
import { execFile, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { type AddressInfo, connect, createServer } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { naiveGet, naiveServe, type RunningNaiveServer, tcpGet, tcpServe } from '../../src/baselines/index.js';
import { parseNetem } from '../../src/impair/index.js';
import { startRelay } from '../../src/transport/index.js';
import { randomFile, sha256File, tempDir } from '../helpers/tmp.js';

const dir = tempDir('udplab-naive-');
const root = join(dir.path, 'root');
let naive: RunningNaiveServer;
let sha = '';
const size = 400_000;

beforeAll(async () => {
  mkdirSync(root);
  mkdirSync(join(dir.path, 'out'));
  sha = randomFile(join(root, 'f.bin'), size);
  naive = await naiveServe({ root, port: 0 });
});
afterAll(async () => {
  await naive.close();
  dir[Symbol.dispose]();
});
const run = promisify(execFile);
const out = (n: string) => join(dir.path, 'out', n);

/** A fresh server per run: the seminar's server would send the rest of an abandoned transfer to the next client. */
async function viaRelay(netem: string, seed: number, name: string, stallMs = 1000) {
  const srv = await naiveServe({ root, port: 0 });
  const relay = await startRelay({
    targetHost: '127.0.0.1',
    targetPort: srv.port,
    up: parseNetem(''),
    down: parseNetem(netem),
    seed,
  });
  try {
    return await naiveGet({ host: '127.0.0.1', port: relay.port, stallMs }, 'f.bin', out(name)).then(
      (r) => ({ ok: true as const, r }),
      (e: { code: string; message: string }) => ({ ok: false as const, e }),
    );
  } finally {
    await relay.close();
    await srv.close();
  }
}

describe('naive (the seminar report protocol)', () => {
  it('on a clean path: EXISTS <size>, 1024-byte datagrams, a correct file', async () => {
    const r = await naiveGet({ host: '127.0.0.1', port: naive.port, key: true }, 'f.bin', out('clean.bin'));
    expect(r.expected_bytes).toBe(size);
    expect(r.datagrams).toBe(Math.ceil(size / 1024));
    expect(sha256File(out('clean.bin'))).toBe(sha);
  });

  it('loss: it stalls and says at which byte', async () => {
    const x = await viaRelay('loss 5%', 1, 'loss.bin');
    expect(x.ok).toBe(false);
    if (!x.ok) {
      expect(x.e.code).toBe('E_STALLED');
      expect(x.e.message).toMatch(new RegExp(`^stalled at \\d+ of ${size} bytes$`));
    }
  });

  it('reordering: it writes a wrong file under the final name (or mistakes data for the EXISTS answer)', async () => {
    const x = await viaRelay('delay 10ms reorder 25% 50%', 2, 'reorder.bin');
    if (x.ok) {
      expect(statSync(out('reorder.bin')).size).toBe(size);
      expect(sha256File(out('reorder.bin'))).not.toBe(sha);
    } else expect(x.e.message).toMatch(/the first answer was \d+ bytes that are not "EXISTS <size>"/);
  });

  it('duplication: it counts duplicates as data and stops early with a wrong file', async () => {
    const x = await viaRelay('duplicate 5%', 3, 'dup.bin');
    expect(x.ok ? '' : x.e.message).toBe('');
    expect(sha256File(out('dup.bin'))).not.toBe(sha);
  });

  it('datagrams bigger than its 1024-byte buffer are cut: it waits for bytes that never come', async () => {
    const big = await naiveServe({ root, port: 0, chunkBytes: 4096 });
    try {
      await expect(
        naiveGet({ host: '127.0.0.1', port: big.port, stallMs: 500 }, 'f.bin', out('cut.bin')),
      ).rejects.toMatchObject({
        code: 'E_STALLED',
        message: `stalled at ${Math.ceil(size / 4096) * 1024} of ${size} bytes`,
      });
    } finally {
      await big.close();
    }
  });

  it('refuses names outside its root (the original opened any path) and stays up', async () => {
    await expect(
      naiveGet({ host: '127.0.0.1', port: naive.port, stallMs: 300 }, '../../etc/passwd', out('x')),
    ).rejects.toMatchObject({ code: 'E_STALLED' });
    expect(existsSync(out('x'))).toBe(false);
    const r = await naiveGet({ host: '127.0.0.1', port: naive.port }, 'f.bin', out('again.bin'));
    expect(r.sha256).toBe(sha);
  });
});

describe('tcp baseline', () => {
  it('copies the file with SHA-256; refuses paths outside the root; unknown names fail cleanly', async () => {
    const s = await tcpServe({ root, port: 0 });
    try {
      const before = Date.now();
      const r = await tcpGet({ host: '127.0.0.1', port: s.port }, 'f.bin', out('tcp.bin'));
      expect(r.sha256).toBe(sha);
      // its own record over time, for the lab's competing flows: from 0 to every byte, on the wall clock
      expect(r.timeline[0]).toEqual({ t_ms: 0, bytes: 0 });
      expect(r.timeline.at(-1)!.bytes).toBe(size);
      expect(r.started_epoch_ms).toBeGreaterThanOrEqual(before);
      expect(r.started_epoch_ms! + r.duration_ms).toBeLessThanOrEqual(Date.now() + 1);
      expect(readFileSync(out('tcp.bin')).length).toBe(size);
      await expect(tcpGet({ host: '127.0.0.1', port: s.port }, '../x', out('t2'))).rejects.toMatchObject({
        code: 'E_PATH_OUTSIDE_ROOT',
      });
      await expect(tcpGet({ host: '127.0.0.1', port: s.port }, 'nope', out('t3'))).rejects.toMatchObject({
        code: 'E_NOT_FOUND',
      });
      expect(existsSync(out('t2')) || existsSync(out('t2.part')) || existsSync(out('t3.part'))).toBe(false);
    } finally {
      await s.close();
    }
  });

  it('the server times out a silent request, not a transfer the kernel is still delivering', async () => {
    const s = await tcpServe({ root, port: 0, requestTimeoutMs: 200, streamTimeoutMs: 1500 });
    // connects, sends `request` (if any), stops reading for pauseMs, then reads to the end
    const raw = (request: string, pauseMs: number) =>
      new Promise<{ bytes: Buffer; ms: number }>((ok) => {
        const t0 = Date.now();
        const chunks: Buffer[] = [];
        const c = connect({ host: '127.0.0.1', port: s.port }, () => {
          if (request) c.write(request);
          c.pause();
          setTimeout(() => c.resume(), pauseMs);
        });
        c.on('data', (d: Buffer) => chunks.push(d));
        c.on('error', () => {});
        c.on('close', () => ok({ bytes: Buffer.concat(chunks), ms: Date.now() - t0 }));
      });
    try {
      const silent = await raw('', 0);
      expect(silent.bytes.length).toBe(0);
      expect(silent.ms).toBeLessThan(1500);
      // a file larger than both sockets' buffers, so that the server's writes wait while the client does not read
      const bigSha = randomFile(join(root, 'big.bin'), 32 * 1024 * 1024);
      // 800 ms without reading: longer than the request timer, shorter than the stream timer → the whole file
      const slow = await raw('GET big.bin\n', 800);
      const body = slow.bytes.subarray(slow.bytes.indexOf(10) + 1);
      expect(slow.bytes.subarray(0, slow.bytes.indexOf(10)).toString()).toBe(`OK ${32 * 1024 * 1024}`);
      expect(createHash('sha256').update(body).digest('hex')).toBe(bigSha);
      // 4 s without reading: past the stream timer → dropped, the file cut short
      const gone = await raw('GET big.bin\n', 4000);
      expect(gone.bytes.length).toBeLessThan(32 * 1024 * 1024);
    } finally {
      await s.close();
    }
  });

  it('tcp-get --timeout gives up on a server that never answers, with one line and no file', async () => {
    const silent = createServer(() => {}); // accepts, reads nothing, says nothing
    await new Promise<void>((ok) => silent.listen(0, '127.0.0.1', ok));
    const port = (silent.address() as AddressInfo).port;
    try {
      const r = await run(process.execPath, [
        'bin/udplab.js',
        'tcp-get',
        `127.0.0.1:${port}`,
        'f.bin',
        out('silent'),
        '--timeout',
        '300',
      ])
        .then(() => ({ code: 0, stderr: '' }))
        .catch((e: { code: number; stderr: string }) => e);
      expect(r.code).not.toBe(0);
      expect(r.stderr.trim()).toBe(`udplab: E_TIMEOUT: no data from 127.0.0.1:${port} for 0.3 s`);
      expect(existsSync(out('silent')) || existsSync(out('silent.part'))).toBe(false);
    } finally {
      silent.close();
    }
  });
});

describe('baseline servers refuse a missing --root at start', () => {
  it('one line, E_USAGE, exit 2, for naive-serve, tftp-serve and tcp-serve', () => {
    for (const cmd of ['naive-serve', 'tftp-serve', 'tcp-serve']) {
      const r = spawnSync(process.execPath, ['bin/udplab.js', cmd, '--root', '/nonexistent-udplab', '--port', '0'], {
        encoding: 'utf8',
        timeout: 20_000,
      });
      expect(r.status, cmd).toBe(2);
      expect(r.stderr.trim()).toBe('udplab: E_USAGE: --root /nonexistent-udplab: no such directory');
    }
  });
});
