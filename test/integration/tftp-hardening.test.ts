// The TFTP server under attack (security review 2026-12, #10 with #9 and #6): one writer per name and private,
// never-reused `.part` files; no symlink or FIFO in the way of a read. Real UDP on 127.0.0.1; each test starts
// its own server and waits on its log, not on sleeps.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import {
  closeSync,
  constants,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileBlockSource } from '../../src/baselines/tftp/file-io.js';
import {
  decodeTftp,
  encodeTftp,
  type TftpPacket,
  type TftpServeOptions,
  tftpGet,
  tftpPut,
  tftpServe,
} from '../../src/baselines/tftp/index.js';
import { randomFile, sha256File, tempDir } from '../helpers/tmp.js';

const dir = tempDir('udplab-tftp-hard-');
const root = join(dir.path, 'root');
const outside = join(dir.path, 'outside');
const out = join(dir.path, 'out');
const local = (n: string) => join(out, n);
let shaOk = '';

beforeAll(() => {
  for (const d of [root, outside, out]) mkdirSync(d);
  shaOk = randomFile(join(root, 'ok.bin'), 5000);
});

afterAll(() => dir[Symbol.dispose]());

/** A server on a free port whose log lines can be awaited. */
async function serve(extra: Partial<TftpServeOptions> = {}) {
  const lines: string[] = [];
  const waiters: Array<{ re: RegExp; ok: (l: string) => void }> = [];
  const s = await tftpServe({
    root,
    host: '127.0.0.1',
    port: 0,
    log: (l) => {
      lines.push(l);
      for (const w of waiters.filter((x) => x.re.test(l))) {
        waiters.splice(waiters.indexOf(w), 1);
        w.ok(l);
      }
    },
    ...extra,
  });
  const logged = (re: RegExp, ms = 30_000) =>
    new Promise<string>((ok, fail) => {
      const hit = lines.find((l) => re.test(l));
      if (hit) return ok(hit);
      const t = setTimeout(() => fail(new Error(`no log line ${re} in ${ms} ms; log: ${lines.join(' | ')}`)), ms);
      waiters.push({
        re,
        ok: (l) => {
          clearTimeout(t);
          ok(l);
        },
      });
    });
  return { s, lines, logged, at: { host: '127.0.0.1', port: s.port } };
}

interface Got {
  bytes: number;
  port: number;
  p: TftpPacket | undefined;
}

/** A raw UDP peer that records every datagram it receives (size, source port, decoded packet). */
async function rawPeer(address = '127.0.0.1') {
  const s: Socket = createSocket('udp4');
  await new Promise<void>((ok) => s.bind(0, address, ok));
  const all: Got[] = [];
  const q: Got[] = [];
  let wake: (() => void) | undefined;
  s.on('message', (b, r) => {
    const d = decodeTftp(b);
    const g = { bytes: b.length, port: r.port, p: d.ok ? d.packet : undefined };
    all.push(g);
    q.push(g);
    wake?.();
  });
  /** The next datagram, or undefined when none comes within `ms` (a bound, not a sleep). */
  const next = async (ms: number): Promise<Got | undefined> => {
    if (q.length === 0)
      await new Promise<void>((ok) => {
        const t = setTimeout(ok, ms);
        wake = () => {
          clearTimeout(t);
          ok();
        };
      });
    wake = undefined;
    return q.shift();
  };
  let sent = 0;
  const send = (p: TftpPacket | Uint8Array, port: number) => {
    const b = p instanceof Uint8Array ? p : encodeTftp(p);
    sent += b.length;
    s.send(b, port, '127.0.0.1');
    return b.length;
  };
  return { s, all, next, send, sentBytes: () => sent, close: () => s.close() };
}

describe('WRQ: one writer per name, private .part files', () => {
  it('a second WRQ for a name being uploaded is refused with ERROR 6; the first upload ends intact', async () => {
    const { s, logged } = await serve({ writable: true });
    const a = await rawPeer();
    const b = await rawPeer();
    try {
      const data = randomBytes(20 * 512 + 100);
      const block = (n: number) => data.subarray((n - 1) * 512, n * 512);
      a.send({ op: 'WRQ', filename: 'race.bin', mode: 'octet', options: [] }, s.port);
      const ack0 = await a.next(2000);
      expect(ack0?.p).toEqual({ op: 'ACK', block: 0 });
      const tid = ack0!.port;
      for (let n = 1; n <= 10; n++) {
        a.send({ op: 'DATA', block: n, data: block(n) }, tid);
        expect((await a.next(2000))?.p).toEqual({ op: 'ACK', block: n });
      }
      b.send({ op: 'WRQ', filename: 'race.bin', mode: 'octet', options: [] }, s.port);
      expect((await b.next(2000))?.p).toMatchObject({ op: 'ERROR', code: 6 });
      // the upload in progress writes a private temporary file: a per-session name, mode 0600
      const parts = readdirSync(root).filter((f) => f.startsWith('race.bin'));
      expect(parts).toHaveLength(1);
      expect(parts[0]).toMatch(/^race\.bin\.[0-9a-f]{16}\.part$/);
      expect(statSync(join(root, parts[0]!)).mode & 0o777).toBe(0o600);
      for (let n = 11; n <= 21; n++) {
        a.send({ op: 'DATA', block: n, data: block(n) }, tid);
        expect((await a.next(2000))?.p).toEqual({ op: 'ACK', block: n });
      }
      await logged(/WRQ race\.bin: ok/);
      expect(Buffer.compare(readFileSync(join(root, 'race.bin')), data)).toBe(0);
      expect(readdirSync(root).filter((f) => f.startsWith('race.bin'))).toEqual(['race.bin']);
    } finally {
      a.close();
      b.close();
      await s.close();
    }
  });

  it('a WRQ for x leaves a file named x.part alone, and a symlinked x.part leads nowhere', async () => {
    const { s, at } = await serve({ writable: true });
    try {
      const sha = randomFile(local('src.bin'), 5000);
      writeFileSync(join(root, 'keep.bin.part'), 'precious');
      await tftpPut(at, local('src.bin'), 'keep.bin');
      expect(readFileSync(join(root, 'keep.bin.part'), 'utf8')).toBe('precious');
      expect(sha256File(join(root, 'keep.bin'))).toBe(sha);
      expect(statSync(join(root, 'keep.bin')).mode & 0o777).toBe(0o600);

      writeFileSync(join(outside, 'victim.txt'), 'outside the root');
      symlinkSync(join(outside, 'victim.txt'), join(root, 'sym.bin.part'));
      await tftpPut(at, local('src.bin'), 'sym.bin');
      expect(readFileSync(join(outside, 'victim.txt'), 'utf8')).toBe('outside the root');
      expect(lstatSync(join(root, 'sym.bin')).isFile()).toBe(true);
      expect(sha256File(join(root, 'sym.bin'))).toBe(sha);
    } finally {
      await s.close();
    }
  });
});

describe('reads: symlinks and FIFOs', () => {
  it('a file opened through a symlink out of the root is refused after the open (fd check); inside links work', async () => {
    writeFileSync(join(outside, 'secret.txt'), 'secret');
    symlinkSync(join(outside, 'secret.txt'), join(root, 'leak.txt'));
    symlinkSync(join(root, 'ok.bin'), join(root, 'alias.bin'));
    // the path jail resolves names first; this is what the fd check catches when the path changed after it
    await expect(FileBlockSource.open(join(root, 'leak.txt'), 'octet', { root })).rejects.toMatchObject({
      code: 'E_PATH_OUTSIDE_ROOT',
    });
    const src = await FileBlockSource.open(join(root, 'alias.bin'), 'octet', { root });
    expect(src.sizeBytes).toBe(5000);
    await src.close();
  });

  it('RRQs of a FIFO are refused at once and block nothing; a normal RRQ still works', async () => {
    const { s, at } = await serve();
    const fifo = join(root, 'pipe');
    execFileSync('mkfifo', [fifo]);
    let keeper: number | undefined;
    try {
      // five at once: more than libuv's four pool threads, which a blocking open() would all hold
      const tries = await Promise.allSettled(
        [1, 2, 3, 4, 5].map((i) => tftpGet({ ...at, timeoutMs: 200, retries: 2 }, 'pipe', local(`pipe${i}`))),
      );
      const normal = await tftpGet({ ...at, timeoutMs: 200, retries: 3 }, 'ok.bin', local('after-fifo.bin')).then(
        (r) => r.sha256,
        (e: { code?: string }) => e.code,
      );
      expect(normal).toBe(shaOk);
      for (const t of tries) expect(t).toMatchObject({ status: 'rejected', reason: { code: 'E_PERMISSION' } });
    } finally {
      // a server that blocked in open() is released by a writer (O_RDWR on a FIFO never blocks on Linux)
      keeper = openSync(fifo, constants.O_RDWR | constants.O_NONBLOCK);
      await s.close();
      closeSync(keeper);
    }
  });
});
