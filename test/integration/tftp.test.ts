// TFTP over loopback: our client and server with every option, netascii, writes, the 16-bit rollover, path
// attacks, foreign transfer IDs, no Sorcerer's Apprentice, silence for garbage, and loss through the relay. Then
// interoperability with Debian's peers: the tftp-hpa, atftp and curl clients against our server, our client
// against tftpd-hpa.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  decodeTftp,
  encodeTftp,
  type RunningTftpServer,
  type TftpPacket,
  tftpGet,
  tftpPut,
  tftpServe,
} from '../../src/baselines/tftp/index.js';
import { parseNetem } from '../../src/impair/index.js';
import { startRelay } from '../../src/transport/index.js';
import { randomFile, sha256File, tempDir } from '../helpers/tmp.js';

const run = promisify(execFile);
const dir = tempDir('udplab-tftp-');
const root = join(dir.path, 'root');
const out = join(dir.path, 'out');
let server: RunningTftpServer;
let sha = '';
let shaSmall = '';
const small = 120_000;

beforeAll(async () => {
  mkdirSync(root);
  mkdirSync(out);
  sha = randomFile(join(root, 'f.bin'), 3_000_000);
  shaSmall = randomFile(join(root, 'small.bin'), small);
  writeFileSync(join(root, 'text.txt'), 'one\ntwo\r\nthree\rfour\n'.repeat(200));
  server = await tftpServe({ root, host: '127.0.0.1', port: 0, writable: true });
});

afterAll(async () => {
  await server.close();
  dir[Symbol.dispose]();
});

const local = (n: string) => join(out, n);
const ours = (port = server.port) => ({ host: '127.0.0.1', port });

describe('udplab TFTP client ↔ server', () => {
  it('octet with blksize 1468, windowsize 16 and tsize', async () => {
    const r = await tftpGet({ ...ours(), blksize: 1468, windowsize: 16 }, 'f.bin', local('a.bin'));
    expect(r.negotiated).toEqual({ blksize: 1468, windowsize: 16, timeout_ms: 1000, tsize: 3_000_000, oack: true });
    expect(sha256File(local('a.bin'))).toBe(sha);
    expect(r.sha256).toBe(sha);
    expect(existsSync(local('a.bin.part'))).toBe(false);
  });

  it('plain RFC 1350 (no options): 512-byte lockstep', async () => {
    const r = await tftpGet({ ...ours(), noOptions: true }, 'small.bin', local('b.bin'));
    expect(r.negotiated).toMatchObject({ blksize: 512, windowsize: 1, oack: false });
    expect(r.packets_sent).toBe(Math.floor(small / 512) + 1);
    expect(sha256File(local('b.bin'))).toBe(shaSmall);
  });

  it('netascii converts line ends on the wire and back', async () => {
    await tftpGet({ ...ours(), mode: 'netascii', blksize: 100 }, 'text.txt', local('t.txt'));
    expect(readFileSync(local('t.txt'), 'latin1')).toBe(readFileSync(join(root, 'text.txt'), 'latin1'));
  });

  it('block numbers roll over past 65535', async () => {
    const n = 8 * 70_000 + 3;
    const s = randomFile(join(root, 'roll.bin'), n);
    const r = await tftpGet({ ...ours(), blksize: 8, windowsize: 64 }, 'roll.bin', local('roll.bin'));
    expect(r.packets_sent).toBeGreaterThan(65_536);
    expect(sha256File(local('roll.bin'))).toBe(s);
  });

  it('put writes a new file through .part, refuses to overwrite', async () => {
    const r = await tftpPut({ ...ours(), blksize: 1468, windowsize: 8 }, join(root, 'small.bin'), 'up.bin');
    expect(r.bytes).toBe(small);
    expect(sha256File(join(root, 'up.bin'))).toBe(shaSmall);
    await expect(tftpPut(ours(), join(root, 'small.bin'), 'up.bin')).rejects.toMatchObject({ code: 'E_EXISTS' });
  });

  it('refuses every path outside the root, for reads and writes', async () => {
    symlinkSync('/etc', join(root, 'escape'));
    const names = [
      '../etc/passwd',
      '/etc/passwd',
      'a/../../x',
      '%2e%2e/x',
      '..%2fx',
      'escape/passwd',
      'nul',
      'x\\..\\y',
      'a'.repeat(2000),
    ];
    for (const n of names) {
      await expect(tftpGet(ours(), n, local('never')), n).rejects.toMatchObject({ code: 'E_PATH_OUTSIDE_ROOT' });
      await expect(tftpPut(ours(), join(root, 'small.bin'), n), n).rejects.toMatchObject({
        code: 'E_PATH_OUTSIDE_ROOT',
      });
    }
    expect(existsSync(local('never'))).toBe(false);
    await expect(tftpGet(ours(), 'missing.bin', local('never'))).rejects.toMatchObject({ code: 'E_NOT_FOUND' });
  });

  it('survives 5% loss each way through the relay, windowsize 1 and 8', async () => {
    const relay = await startRelay({
      targetHost: '127.0.0.1',
      targetPort: server.port,
      up: parseNetem('loss 5%'),
      down: parseNetem('loss 5%'),
      seed: 7,
    });
    try {
      for (const w of [1, 8]) {
        const r = await tftpGet(
          { ...ours(relay.port), blksize: 1468, windowsize: w, timeoutMs: 100, retries: 20 },
          'small.bin',
          local(`l${w}.bin`),
        );
        expect(sha256File(local(`l${w}.bin`))).toBe(shaSmall);
        expect(r.negotiated.windowsize).toBe(w);
      }
      const rep = relay.report();
      expect(rep.upStats.lost + rep.downStats.lost).toBeGreaterThan(0);
    } finally {
      await relay.close();
    }
  });
});

/** A raw TFTP peer for protocol-level checks. */
async function rawPeer(): Promise<{
  s: Socket;
  next: (ms: number) => Promise<{ p: TftpPacket; port: number } | undefined>;
  close: () => void;
}> {
  const s = createSocket('udp4');
  await new Promise<void>((ok) => s.bind(0, '127.0.0.1', ok));
  const q: Array<{ p: TftpPacket; port: number }> = [];
  let wake: (() => void) | undefined;
  s.on('message', (m, r) => {
    const d = decodeTftp(m);
    if (d.ok) q.push({ p: d.packet, port: r.port });
    wake?.();
  });
  const next = async (ms: number) => {
    if (q.length === 0)
      await new Promise<void>((ok) => {
        const t = setTimeout(ok, ms);
        wake = () => {
          clearTimeout(t);
          ok();
        };
      });
    return q.shift();
  };
  return { s, next, close: () => s.close() };
}

describe('TFTP server protocol rules', () => {
  it("answers a foreign transfer ID with ERROR 5 and carries on; no Sorcerer's Apprentice", async () => {
    const a = await rawPeer();
    const intruder = await rawPeer();
    try {
      const send = (p: TftpPacket, port: number, s = a.s) => s.send(encodeTftp(p), port, '127.0.0.1');
      writeFileSync(join(root, 'three.bin'), Buffer.alloc(1100, 7)); // blocks of 512, 512, 76
      send({ op: 'RRQ', filename: 'three.bin', mode: 'octet', options: [] }, server.port);
      const d1 = await a.next(2000);
      expect(d1?.p).toMatchObject({ op: 'DATA', block: 1 });
      const tid = d1!.port;
      expect(tid).not.toBe(server.port);
      // an intruder on the transfer's port gets ERROR 5
      send({ op: 'ACK', block: 1 }, tid, intruder.s);
      expect((await intruder.next(2000))?.p).toMatchObject({ op: 'ERROR', code: 5 });
      // a duplicated ACK 1 must not make the server send DATA 2 twice
      send({ op: 'ACK', block: 1 }, tid);
      send({ op: 'ACK', block: 1 }, tid);
      const got: TftpPacket[] = [];
      for (let p = await a.next(400); p; p = await a.next(400)) got.push(p.p);
      expect(got.filter((p) => p.op === 'DATA' && p.block === 2)).toHaveLength(1);
      send({ op: 'ACK', block: 2 }, tid);
      expect((await a.next(2000))?.p).toMatchObject({ op: 'DATA', block: 3 });
      send({ op: 'ACK', block: 3 }, tid);
    } finally {
      a.close();
      intruder.close();
    }
  });

  it('ignores garbage on the listening port, refuses an unknown mode with ERROR 4, keeps serving', async () => {
    const a = await rawPeer();
    try {
      a.s.send(Uint8Array.of(0, 1, 0x66), server.port, '127.0.0.1'); // no answer: it would reflect
      a.s.send(encodeTftp({ op: 'RRQ', filename: 'small.bin', mode: 'mail', options: [] }), server.port, '127.0.0.1');
      const e = await a.next(2000);
      expect(e?.p).toMatchObject({ op: 'ERROR', code: 4 });
      expect(e?.port).not.toBe(server.port); // from the request's own transfer ID, after the garbage went unanswered
      expect(await a.next(200)).toBeUndefined();
    } finally {
      a.close();
    }
    const r = await tftpGet(ours(), 'small.bin', local('after.bin'));
    expect(r.sha256).toBe(shaSmall);
  });
});

const has = (cmd: string) => ['/usr/bin', '/usr/sbin', '/bin', '/sbin'].some((d) => existsSync(join(d, cmd)));
const peersMissing = ['tftp', 'atftp', 'curl', 'in.tftpd'].filter((c) => !has(c));
if (peersMissing.length > 0) {
  const msg = `Debian TFTP peers missing: ${peersMissing.join(', ')} (apt-get install tftp-hpa atftp curl tftpd-hpa)`;
  if (process.env.UDPLAB_REQUIRE_PEERS === '1') throw new Error(msg);
  console.warn(`SKIPPED interop tests: ${msg}`);
}

describe.skipIf(peersMissing.length > 0)('interoperability with Debian TFTP peers', () => {
  it('tftp-hpa client fetches from our server (plain RFC 1350, octet and netascii)', async () => {
    await run('tftp', ['-m', 'binary', '127.0.0.1', String(server.port), '-c', 'get', 'small.bin', local('hpa.bin')], {
      timeout: 30_000,
    });
    expect(sha256File(local('hpa.bin'))).toBe(shaSmall);
    await run('tftp', ['-m', 'netascii', '127.0.0.1', String(server.port), '-c', 'get', 'text.txt', local('hpa.txt')], {
      timeout: 30_000,
    });
    expect(readFileSync(local('hpa.txt'), 'latin1')).toBe(readFileSync(join(root, 'text.txt'), 'latin1'));
  });

  it('atftp client fetches with blksize 1468, windowsize 8, tsize — direct and through 5% loss', async () => {
    // atftp 0.8.0 aborts ("unexpected OACK") when its ACK 0 is lost and the OACK comes again, as RFC 2347 servers
    // (ours, tftpd-hpa) send it: the loss is on the server → client direction (OACK and DATA), where atftp copes
    const relay = await startRelay({
      targetHost: '127.0.0.1',
      targetPort: server.port,
      up: parseNetem(''),
      down: parseNetem('loss 5%'),
      seed: 9,
    });
    try {
      for (const [port, name, file, want] of [
        [server.port, 'at1.bin', 'f.bin', sha],
        [relay.port, 'at2.bin', 'small.bin', shaSmall],
      ] as const) {
        const r = await run(
          'atftp',
          [
            '--get',
            '-r',
            file,
            '-l',
            local(name),
            '--option',
            'blksize 1468',
            '--option',
            'windowsize 8',
            '--option',
            'tsize enable',
            '--verbose',
            '127.0.0.1',
            String(port),
          ],
          { timeout: 60_000 },
        );
        void r;
        expect(sha256File(local(name))).toBe(want);
        expect(server.sessions.filter((x) => x.filename === file).pop()).toMatchObject({
          blksize: 1468,
          windowsize: 8,
        });
      }
      expect(relay.report().downStats.lost).toBeGreaterThan(0);
    } finally {
      await relay.close();
    }
  });

  it('curl tftp:// fetches with blksize 1468, direct and through 5% loss', async () => {
    const relay = await startRelay({
      targetHost: '127.0.0.1',
      targetPort: server.port,
      up: parseNetem('loss 5%'),
      down: parseNetem('loss 5%'),
      seed: 5,
    });
    try {
      await run(
        'curl',
        ['-sS', '--tftp-blksize', '1468', `tftp://127.0.0.1:${server.port}/f.bin`, '-o', local('c1.bin')],
        { timeout: 60_000 },
      );
      expect(sha256File(local('c1.bin'))).toBe(sha);
      // curl waits long before it retransmits: a small file keeps this test short
      const s = randomFile(join(root, 'tiny.bin'), 30_000);
      await run(
        'curl',
        ['-sS', '--tftp-blksize', '1468', `tftp://127.0.0.1:${relay.port}/tiny.bin`, '-o', local('c2.bin')],
        { timeout: 90_000 },
      );
      expect(sha256File(local('c2.bin'))).toBe(s);
    } finally {
      await relay.close();
    }
  }, 120_000);

  it('our client fetches from tftpd-hpa: blksize 1468 and tsize granted, windowsize 8 declined, also through 5% loss', async () => {
    const { port, srv } = await startTftpd();
    const relay = await startRelay({
      targetHost: '127.0.0.1',
      targetPort: port,
      up: parseNetem('loss 5%'),
      down: parseNetem('loss 5%'),
      seed: 11,
    });
    try {
      const r = await tftpGet({ ...ours(port), blksize: 1468, windowsize: 8 }, 'f.bin', local('h1.bin'));
      expect(r.negotiated).toMatchObject({ blksize: 1468, windowsize: 1, tsize: 3_000_000, oack: true });
      expect(sha256File(local('h1.bin'))).toBe(sha);
      const r2 = await tftpGet(
        { ...ours(relay.port), blksize: 1468, windowsize: 8, timeoutMs: 100, retries: 20 },
        'small.bin',
        local('h2.bin'),
      );
      expect(r2.negotiated.timeout_ms).toBe(100); // tftp-hpa's utimeout
      expect(sha256File(local('h2.bin'))).toBe(shaSmall);
    } finally {
      await relay.close();
      srv.kill();
    }
  });
});

/**
 * tftpd-hpa listening on 127.0.0.1: ready once its own socket is bound to the port (its fd's inode in
 * /proc/net/udp; polled, 10 s at most). The port was free a moment before; should another socket take it meanwhile,
 * in.tftpd exits and the next of up to three ports is tried.
 */
async function startTftpd(): Promise<{ port: number; srv: ChildProcess }> {
  const tried: string[] = [];
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freeUdpPort();
    const srv = spawn('in.tftpd', ['-L', '-u', 'root', '-s', root, '-a', `127.0.0.1:${port}`], { stdio: 'ignore' });
    const deadline = Date.now() + 10_000;
    while (srv.exitCode === null && srv.signalCode === null && Date.now() < deadline) {
      if (srv.pid !== undefined && boundBy(srv.pid, port)) return { port, srv };
      await new Promise((ok) => setTimeout(ok, 20));
    }
    srv.kill();
    tried.push(
      `${port} (${srv.exitCode === null && srv.signalCode === null ? 'not bound in 10 s' : `exited ${srv.exitCode ?? srv.signalCode}`})`,
    );
  }
  throw new Error(`in.tftpd did not listen on 127.0.0.1: ports ${tried.join(', ')}`);
}

/** Whether process `pid` holds a UDP socket bound to 127.0.0.1:`port`. */
function boundBy(pid: number, port: number): boolean {
  const local = `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  const inodes = readFileSync('/proc/net/udp', 'utf8')
    .split('\n')
    .slice(1)
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => f[1] === local)
    .map((f) => `socket:[${f[9]}]`);
  if (inodes.length === 0) return false;
  try {
    return readdirSync(`/proc/${pid}/fd`).some((fd) => {
      try {
        return inodes.includes(readlinkSync(`/proc/${pid}/fd/${fd}`));
      } catch {
        return false;
      }
    });
  } catch {
    return false;
  }
}

async function freeUdpPort(): Promise<number> {
  const s = createSocket('udp4');
  await new Promise<void>((ok) => s.bind(0, '127.0.0.1', ok));
  const p = s.address().port;
  await new Promise<void>((ok) => s.close(() => ok()));
  return p;
}
