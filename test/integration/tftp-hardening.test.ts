// The TFTP server under attack (security review 2026-12, #10 with #9 and #6): one writer per name and private,
// never-reused `.part` files; no symlink or FIFO in the way of a read; nothing reflected to an address that has
// not answered, silence for junk; a per-source cap; one peer's fault ends its transfer, never the process;
// tftp-serve and tcp-serve bind 127.0.0.1 by default. Real UDP on 127.0.0.1; each test starts its own server and
// waits on its log, not on sleeps.
import { execFile, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import {
  closeSync,
  constants,
  existsSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  statSync,
  symlinkSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
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

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'udplab.js');
const dir = tempDir('udplab-tftp-hard-');
const root = join(dir.path, 'root');
const outside = join(dir.path, 'outside');
const out = join(dir.path, 'out');
const local = (n: string) => join(out, n);
let shaOk = '';
/** IPv4 + UDP headers: what a datagram costs on the wire besides its payload. */
const HDR = 28;

beforeAll(() => {
  for (const d of [root, outside, out]) mkdirSync(d);
  shaOk = randomFile(join(root, 'ok.bin'), 5000);
  randomFile(join(root, 'amp.bin'), 3000);
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

type Request = Extract<TftpPacket, { op: 'RRQ' | 'WRQ' }>;
const rrq = (filename: string, options: Array<[string, string]> = []): Request => ({
  op: 'RRQ',
  filename,
  mode: 'octet',
  options,
});

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

describe('amplification: nothing beyond one retransmission before the address is proven', () => {
  const factors = (sentBytes: number, sentDatagrams: number, got: Got[]) => {
    const recv = got.reduce((n, g) => n + g.bytes, 0);
    return {
      recv,
      payload: recv / sentBytes,
      wire: (recv + HDR * got.length) / (sentBytes + HDR * sentDatagrams),
    };
  };

  it('RRQ (RFC 1350, no options) never acknowledged: DATA 1 twice, then nothing', async () => {
    const { s, logged } = await serve({ timeoutMs: 100, retries: 6 });
    const v = await rawPeer();
    try {
      const req = v.send(rrq('amp.bin'), s.port);
      await logged(/RRQ amp\.bin: failed/);
      expect(v.all.map((g) => g.p)).toEqual([
        expect.objectContaining({ op: 'DATA', block: 1 }),
        expect.objectContaining({ op: 'DATA', block: 1 }),
      ]);
      const f = factors(req, 1, v.all);
      // the protocol's own floor: RFC 1350 answers a request with a full 512-byte block; twice at most
      expect(f.recv).toBe(2 * 516);
      expect(f.wire).toBeCloseTo((2 * (516 + HDR)) / (req + HDR), 6);
    } finally {
      v.close();
      await s.close();
    }
  });

  it('RRQ with options never acknowledged: at most 2 OACKs, ≤ 3× on the wire and in payload', async () => {
    const { s, logged } = await serve({ timeoutMs: 100, retries: 6 });
    const v = await rawPeer();
    try {
      const opts: Array<[string, string]> = [
        ['blksize', '1428'],
        ['tsize', '0'],
        ['windowsize', '16'],
      ];
      const req = v.send(rrq('amp.bin', opts), s.port);
      await logged(/RRQ amp\.bin: failed/);
      expect(v.all.every((g) => g.p?.op === 'OACK')).toBe(true);
      expect(v.all.length).toBeLessThanOrEqual(2);
      const f = factors(req, 1, v.all);
      expect(f.payload).toBeLessThanOrEqual(3);
      expect(f.wire).toBeLessThanOrEqual(3);
    } finally {
      v.close();
      await s.close();
    }
  });

  it('WRQ never followed by DATA: at most 2 ACK 0', async () => {
    const { s, logged } = await serve({ writable: true, timeoutMs: 100, retries: 6 });
    const v = await rawPeer();
    try {
      const req = v.send({ op: 'WRQ', filename: 'never.bin', mode: 'octet', options: [] }, s.port);
      await logged(/WRQ never\.bin: failed/);
      expect(v.all.map((g) => g.p)).toEqual([
        { op: 'ACK', block: 0 },
        { op: 'ACK', block: 0 },
      ]);
      expect(factors(req, 1, v.all).wire).toBeLessThanOrEqual(3);
      expect(existsSync(join(root, 'never.bin'))).toBe(false);
      expect(readdirSync(root).filter((f) => f.startsWith('never.bin'))).toEqual([]);
    } finally {
      v.close();
      await s.close();
    }
  });

  it('a client that lost DATA 1 and repeats its request gets it again (one answer per request)', async () => {
    const { s, logged } = await serve({ timeoutMs: 5000 });
    const v = await rawPeer();
    try {
      v.send(rrq('ok.bin'), s.port);
      const d1 = await v.next(2000);
      expect(d1?.p).toMatchObject({ op: 'DATA', block: 1 });
      v.send(rrq('ok.bin'), s.port);
      const again = await v.next(2000);
      expect(again?.p).toMatchObject({ op: 'DATA', block: 1 });
      expect(again?.port).toBe(d1?.port);
      for (let n = 1; n <= 10; n++) {
        v.send({ op: 'ACK', block: n }, d1!.port);
        const d = await v.next(2000);
        if (d?.p?.op === 'DATA' && d.p.data.length < 512) {
          v.send({ op: 'ACK', block: d.p.block }, d1!.port);
          break;
        }
      }
      await logged(/RRQ ok\.bin: ok/);
    } finally {
      v.close();
      await s.close();
    }
  });

  it('junk and stray packets at the request port get no answer at all', async () => {
    const { s } = await serve({ writable: true });
    const v = await rawPeer();
    try {
      const junk = [
        Uint8Array.of(0),
        Uint8Array.of(0, 1),
        Uint8Array.of(0, 1, 0x66),
        Uint8Array.of(0, 9, 1, 2, 3),
        Uint8Array.of(0xff, 0xff, 0, 0, 0, 0, 0, 0),
        encodeTftp({ op: 'ACK', block: 1 }),
        encodeTftp({ op: 'DATA', block: 1, data: Buffer.alloc(100) }),
        encodeTftp({ op: 'ERROR', code: 0, message: 'x' }),
        encodeTftp({ op: 'OACK', options: [['blksize', '512']] }),
        Uint8Array.of(0, 1, 0x61, 0, 0x6f), // RRQ without the mode's NUL
      ];
      for (const j of junk) v.send(j, s.port);
      // datagrams are handled in order: the answer to this request (from a transfer port) comes after any
      // answer to the junk would have
      v.send(rrq('missing.bin'), s.port);
      const e = await v.next(2000);
      expect(e?.p).toMatchObject({ op: 'ERROR', code: 1 });
      expect(v.all.filter((g) => g.port === s.port)).toEqual([]);
      expect(v.all).toHaveLength(1);
    } finally {
      v.close();
      await s.close();
    }
  });

  it('ERROR answers to well-formed requests stay within 3× on the wire', async () => {
    const { s } = await serve();
    const v = await rawPeer();
    try {
      const reqs: Request[] = [
        rrq('m'),
        rrq('nul'),
        rrq('a/../../b'),
        { op: 'RRQ', filename: 'x', mode: '', options: [] },
        { op: 'WRQ', filename: 'w', mode: 'octet', options: [] },
      ];
      for (const r of reqs) {
        const n = v.send(r, s.port);
        const e = await v.next(2000);
        expect(e?.p?.op, r.filename).toBe('ERROR');
        expect((e!.bytes + HDR) / (n + HDR), `${r.filename}: ${e!.bytes} B for ${n} B`).toBeLessThanOrEqual(3);
      }
    } finally {
      v.close();
      await s.close();
    }
  });
});

describe('per-source session cap', () => {
  it('beyond maxPerSource concurrent transfers from one address: ERROR; other addresses and freed slots work', async () => {
    const { s, logged } = await serve({ maxPerSource: 2, timeoutMs: 5000 });
    const peers = await Promise.all([1, 2, 3].map(() => rawPeer()));
    const other = await rawPeer('127.0.0.2');
    try {
      for (const p of peers) p.send(rrq('ok.bin'), s.port);
      const first = await Promise.all(peers.map((p) => p.next(2000)));
      expect(first[0]?.p).toMatchObject({ op: 'DATA', block: 1 });
      expect(first[1]?.p).toMatchObject({ op: 'DATA', block: 1 });
      expect(first[2]?.p).toMatchObject({ op: 'ERROR', code: 0, message: expect.stringMatching(/too many/i) });
      other.send(rrq('ok.bin'), s.port);
      expect((await other.next(2000))?.p).toMatchObject({ op: 'DATA', block: 1 });
      // peer 0 finishes its transfer: its slot is free again
      const tid = first[0]!.port;
      for (let n = 1; n <= 10; n++) {
        peers[0]!.send({ op: 'ACK', block: n }, tid);
        const d = await peers[0]!.next(2000);
        if (d?.p?.op === 'DATA' && d.p.data.length < 512) {
          peers[0]!.send({ op: 'ACK', block: d.p.block }, tid);
          break;
        }
      }
      await logged(new RegExp(`${peers[0]!.s.address().port} RRQ ok\\.bin: ok`));
      peers[2]!.send(rrq('ok.bin'), s.port);
      expect((await peers[2]!.next(2000))?.p).toMatchObject({ op: 'DATA', block: 1 });
    } finally {
      for (const p of [...peers, other]) p.close();
      await s.close();
    }
  });
});

describe('fault boundary: one peer ends its own transfer, never the server', () => {
  it('a file truncated during the transfer ends that transfer with an ERROR, not a short "complete" file', async () => {
    const { s, logged, at } = await serve({ timeoutMs: 5000 });
    const v = await rawPeer();
    try {
      randomFile(join(root, 'shrinks.bin'), 200_000);
      v.send(rrq('shrinks.bin'), s.port); // RFC 1350: no tsize, the client cannot tell a short file
      let last: TftpPacket | undefined;
      for (let n = 1; n <= 500; n++) {
        const g = await v.next(2000);
        last = g?.p;
        if (last?.op !== 'DATA') break;
        if (n === 2) truncateSync(join(root, 'shrinks.bin'), 1000);
        v.send({ op: 'ACK', block: last.block }, g!.port);
        if (last.data.length < 512) break;
      }
      expect(last).toMatchObject({ op: 'ERROR', code: 0 });
      expect(await logged(/RRQ shrinks\.bin: failed/)).toMatch(/shrank during the transfer: 65536 of 200000 bytes/);
      const r = await tftpGet(at, 'ok.bin', local('after-shrink.bin'));
      expect(r.sha256).toBe(shaOk);
    } finally {
      v.close();
      await s.close();
    }
  });

  const hping = existsSync('/usr/sbin/hping3') && process.getuid?.() === 0;
  it.skipIf(!hping)(
    'datagrams from source port 0 (forged with hping3) at the request and transfer ports: the process serves on',
    async () => {
      const child = spawn(
        process.execPath,
        [BIN, 'tftp-serve', '--root', root, '--host', '127.0.0.1', '--port', '0', '--timeout', '5000'],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let err = '';
      child.stderr!.on('data', (d) => {
        err += d;
      });
      const v = await rawPeer();
      try {
        const port = await new Promise<number>((ok, fail) => {
          let o = '';
          child.stdout!.on('data', (d) => {
            o += d;
            const m = /listening on [\d.]+:(\d+)/.exec(o);
            if (m) ok(Number(m[1]));
          });
          child.once('exit', (c) => fail(new Error(`tftp-serve exited ${c}: ${err}`)));
        });
        const forge = async (bytes: Uint8Array, to: number) => {
          const f = join(dir.path, 'forged.bin');
          writeFileSync(f, bytes);
          // hping3 exits 1 when nothing answers its own port: the point here
          await promisify(execFile)('hping3', [
            '127.0.0.1',
            '-2',
            '-s',
            '0',
            '-k',
            '-p',
            String(to),
            '-c',
            '1',
            '-d',
            String(bytes.length),
            '-E',
            f,
          ]).catch(() => undefined);
        };
        await forge(Uint8Array.of(0, 1, 0x66), port); // malformed
        await forge(encodeTftp(rrq('ok.bin')), port); // a real request from port 0
        v.send(rrq('ok.bin'), port);
        const d1 = await v.next(3000);
        expect(d1?.p, err).toMatchObject({ op: 'DATA', block: 1 });
        await forge(encodeTftp({ op: 'ACK', block: 1 }), d1!.port); // a foreign TID from port 0
        const r = await tftpGet({ host: '127.0.0.1', port, timeoutMs: 300, retries: 3 }, 'ok.bin', local('p0.bin'));
        expect(r.sha256).toBe(shaOk);
        expect(child.exitCode, err).toBe(null);
      } finally {
        v.close();
        if (child.exitCode === null) {
          const gone = new Promise((ok) => child.once('exit', ok));
          child.kill('SIGTERM');
          await gone;
        }
      }
    },
  );
});

describe('CLI defaults', () => {
  it.each(['tftp-serve', 'tcp-serve'])('%s binds 127.0.0.1 unless --host says otherwise', async (cmd) => {
    const child = spawn(process.execPath, [BIN, cmd, '--root', root, '--port', '0', '--quiet'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      const line = await new Promise<string>((ok, fail) => {
        let o = '';
        child.stdout!.on('data', (d) => {
          o += d;
          if (o.includes('\n')) ok(o.split('\n')[0]!);
        });
        child.once('exit', (c) => fail(new Error(`${cmd} exited ${c}`)));
      });
      expect(line).toMatch(/listening on 127\.0\.0\.1:\d+/);
    } finally {
      const gone = new Promise((ok) => child.once('exit', ok));
      child.kill('SIGTERM');
      await gone;
    }
  });
});
