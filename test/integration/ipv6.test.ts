// IPv6 end to end (issue "The path users take"): RUFT get/put/ls over ::1, a dual-stack server (`--host ::`)
// serving IPv4, IPv6 and IPv4-mapped clients with cookies, limits and path validation holding, the relay between
// ::1 endpoints, the TFTP and TCP baselines over ::1, and the CLI with `[::1]:PORT`. Skips with a NOTICE where the
// kernel has no IPv6.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tcpGet, tcpServe, tftpGet, tftpPut, tftpServe } from '../../src/baselines/index.js';
import { x25519KeyPair } from '../../src/crypto/index.js';
import { parseNetem } from '../../src/impair/index.js';
import { generateIdentity, get, ls, put, type RunningServer, serve, startRelay } from '../../src/transport/index.js';
import { EvilSession, EvilSocket, getRequest, highestDataPn } from '../helpers/evil-client.js';
import { IPV6 } from '../helpers/ipv6.js';
import { randomFile, sha256File, tempDir } from '../helpers/tmp.js';

const run = promisify(execFile);
const BIN = join(import.meta.dirname, '..', '..', 'bin', 'udplab.js');
const dir = tempDir('udplab-ipv6-');
const root = join(dir.path, 'root');
const out = join(dir.path, 'out');
const identity = x25519KeyPair(randomBytes(32));
const key = Buffer.from(identity.publicKey).toString('base64');
let sha = '';
let v6: RunningServer;
let dual: RunningServer;
const dualLog: string[] = [];

beforeAll(async () => {
  mkdirSync(root);
  mkdirSync(out);
  sha = randomFile(join(root, 'f.bin'), 2 << 20);
  if (!IPV6) return;
  v6 = await serve({ root, host: '::1', port: 0, identity });
  dual = await serve({ root, host: '::', port: 0, identity, log: (l) => dualLog.push(l) });
});

afterAll(async () => {
  await v6?.close();
  await dual?.close();
  dir[Symbol.dispose]();
});

const local = (n: string) => join(out, n);

describe.skipIf(!IPV6)('RUFT over ::1', () => {
  it('get, put and ls with the server on ::1', async () => {
    const o = { host: '::1', port: v6.port, serverKey: identity.publicKey };
    const r = await get(o, 'f.bin', local('g6.bin'));
    expect(sha256File(local('g6.bin'))).toBe(sha);
    expect(r.sha256).toBe(sha);
    const p = await put(o, join(root, 'f.bin'), 'up6.bin');
    expect(p.sha256).toBe(sha);
    expect(sha256File(join(root, 'up6.bin'))).toBe(sha);
    expect((await ls(o, '')).map((e) => e.name)).toEqual(expect.arrayContaining(['f.bin', 'up6.bin']));
  });

  it('any spelling of the address: replies from ::1 pass the source check for [0:0::1]', async () => {
    const r = await get({ host: '0:0::1', port: v6.port, serverKey: identity.publicKey }, 'f.bin', local('g0.bin'));
    expect(r.sha256).toBe(sha);
  });

  it('known_hosts pins [::1]:PORT, and the pin is honoured next time', async () => {
    const knownHostsPath = join(dir.path, 'known_hosts');
    const notices: string[] = [];
    const o = { host: '::1', port: v6.port, knownHostsPath, onSecurityNotice: (l: string) => notices.push(l) };
    await ls({ ...o, acceptNew: true }, '');
    expect(readFileSync(knownHostsPath, 'utf8')).toBe(`[::1]:${v6.port} ${key}\n`);
    expect(notices).toEqual([expect.stringMatching(new RegExp(`^pinned \\[::1\\]:${v6.port} SHA256:`))]);
    await ls(o, ''); // trusted by the pin, no --accept-new
    const other = x25519KeyPair(randomBytes(32));
    const impostor = await serve({ root, host: '::1', port: 0, identity: other });
    try {
      // a pin under another port does not transfer; E_UNKNOWN_KEY names [::1]:PORT
      await expect(ls({ ...o, port: impostor.port }, '')).rejects.toThrow(
        new RegExp(`^\\[::1\\]:${impostor.port} offers key`),
      );
    } finally {
      await impostor.close();
    }
  });

  it('E_UNREACHABLE names [::1]:PORT', async () => {
    const silent = await EvilSocket.open('::1');
    try {
      await expect(
        ls({ host: '::1', port: silent.port, serverKey: identity.publicKey, config: { handshakeTimeoutMs: 300 } }, ''),
      ).rejects.toThrow(new RegExp(`^\\[::1\\]:${silent.port} \\(::1\\): no answer from the server`));
    } finally {
      silent.close();
    }
  });

  it('udplab get "[::1]:PORT" (the CLI, as the issue measured it)', async () => {
    const r = await run(
      process.execPath,
      [BIN, 'get', `[::1]:${v6.port}`, 'f.bin', local('cli.bin'), '--server-key', key, '--json'],
      { timeout: 30_000, env: { ...process.env, UDPLAB_HOME: join(dir.path, 'home-cli') } },
    );
    expect(JSON.parse(r.stdout.trim().split('\n').pop()!).sha256).toBe(sha);
    expect(sha256File(local('cli.bin'))).toBe(sha);
  });
});

describe.skipIf(!IPV6)('a dual-stack server (--host ::)', () => {
  it('serves IPv4, IPv6 and IPv4-mapped clients on one port; the log brackets mapped addresses', async () => {
    for (const [host, name] of [
      ['127.0.0.1', 'd4.bin'],
      ['::1', 'd6.bin'],
      ['::ffff:127.0.0.1', 'dm.bin'],
      ['::FFFF:7F00:1', 'dm2.bin'], // the same address, spelled otherwise
    ] as const) {
      const r = await get({ host, port: dual.port, serverKey: identity.publicKey }, 'f.bin', local(name));
      expect(r.sha256, host).toBe(sha);
    }
    expect(dualLog.join('\n')).toMatch(/get "f\.bin" from \[::ffff:127\.0\.0\.1\]:\d+: accepted/);
    expect(dualLog.join('\n')).toMatch(/get "f\.bin" from \[::1\]:\d+: accepted/);
  });

  it('an IPv4 client is one source however it is spelled: the per-source cap counts its mapped address', async () => {
    // maxSessionsPerSource 2: two live sessions from 127.0.0.1 (udp4 sockets), the third from ::ffff:127.0.0.1
    // (a udp6 socket) is the same source and gets E_BUSY; ::1 is another source and is served
    const capped = await serve({ root, host: '::', port: 0, identity, maxSessionsPerSource: 2 });
    const socks = await Promise.all([EvilSocket.open(), EvilSocket.open()]);
    const mapped = await EvilSocket.open('::');
    try {
      for (const s of socks)
        await EvilSession.open(s, {
          serverPort: capped.port,
          serverKey: identity.publicKey,
          request: getRequest('f.bin'),
        });
      const third = await EvilSession.attempt(mapped, {
        serverPort: capped.port,
        serverHost: '::ffff:127.0.0.1',
        serverKey: identity.publicKey,
        request: getRequest('f.bin'),
      });
      expect(third.kind === 'rejected' && third.code).toBe('E_BUSY');
      const r = await get({ host: '::1', port: capped.port, serverKey: identity.publicKey }, 'f.bin', local('d6b.bin'));
      expect(r.sha256).toBe(sha);
    } finally {
      for (const s of [...socks, mapped]) s.close();
      await capped.close();
    }
  });

  it('a client that moves from IPv4 (mapped) to IPv6 is followed only after answering the PATH_CHALLENGE', async () => {
    const first = await EvilSocket.open('127.0.0.1');
    const moved = await EvilSocket.open('::1');
    try {
      const s = await EvilSession.open(first, {
        serverPort: dual.port,
        serverKey: identity.publicKey,
        request: getRequest('f.bin'),
      });
      moved.send(s.seal([{ type: 'ping' }]), dual.port, '::1');
      const ch = await moved.waitFor((m) => (s.open(m.bytes) ?? []).some((f) => f.type === 'path_challenge'), 2000);
      expect(ch).toBeDefined();
      // before the answer, no data goes to the new address
      expect(moved.inbox.every((m) => !(s.open(m.bytes) ?? []).some((f) => f.type === 'data'))).toBe(true);
      const data = (s.open(ch!.bytes)!.find((f) => f.type === 'path_challenge') as { data: Uint8Array }).data;
      const before = moved.inbox.length;
      const top = highestDataPn(first, s);
      moved.send(
        s.seal([
          { type: 'path_response', data },
          { type: 'ack', largest: top, ackDelayUs: 0, maxOffset: 64 << 20, ranges: [[0, top]] },
        ]),
        dual.port,
        '::1',
      );
      const dataPkt = await moved.waitFor((m) => (s.open(m.bytes) ?? []).some((f) => f.type === 'data'), 2000, before);
      expect(dataPkt).toBeDefined();
      expect(dualLog.join('\n')).toMatch(/session moved \[::ffff:127\.0\.0\.1\]:\d+ → \[::1\]:\d+ \(path validated\)/);
    } finally {
      first.close();
      moved.close();
    }
  });
});

describe.skipIf(!IPV6)('udplab serve without --host', () => {
  it('listens on [::]: dual-stack, so 127.0.0.1, [::1] and localhost (whatever it resolves to first) all reach it', async () => {
    const { spawn } = await import('node:child_process');
    const idFile = join(dir.path, 'cli-id.key');
    generateIdentity(idFile);
    const env = { ...process.env, UDPLAB_HOME: join(dir.path, 'home-default') };
    const child = spawn(
      process.execPath,
      [BIN, 'serve', '--root', root, '--port', '0', '--quiet', '--identity', idFile],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
        env,
      },
    );
    try {
      const port = await new Promise<number>((ok, fail) => {
        let o = '';
        const t = setTimeout(() => fail(new Error('serve did not start')), 20_000);
        child.stdout!.on('data', (d) => {
          o += d;
          const m = /listening on \[::\]:(\d+),/.exec(o);
          if (m) {
            clearTimeout(t);
            ok(Number(m[1]));
          }
        });
        child.once('exit', (c) => fail(new Error(`serve exited ${c}: ${o}`)));
      });
      for (const target of [`127.0.0.1:${port}`, `[::1]:${port}`, `localhost:${port}`]) {
        const r = await run(process.execPath, [BIN, 'ls', target, '--accept-new', '--json'], { env, timeout: 30_000 });
        expect(
          JSON.parse(r.stdout).map((e: { name: string }) => e.name),
          target,
        ).toContain('f.bin');
      }
    } finally {
      child.kill('SIGTERM');
    }
  });
});

describe.skipIf(!IPV6)('the relay between ::1 endpoints', () => {
  it('carries a get through 5% loss each way, listening and forwarding on ::1', async () => {
    const relay = await startRelay({
      listenHost: '::1',
      targetHost: '::1',
      targetPort: v6.port,
      up: parseNetem('loss 5%'),
      down: parseNetem('loss 5%'),
      seed: 3,
    });
    try {
      expect(relay.address).toBe('::1');
      const r = await get({ host: '::1', port: relay.port, serverKey: identity.publicKey }, 'f.bin', local('r6.bin'));
      expect(r.sha256).toBe(sha);
      const rep = relay.report();
      expect(rep.upStats.lost + rep.downStats.lost).toBeGreaterThan(0);
    } finally {
      await relay.close();
    }
  });

  it('udplab relay --listen [::1]:0 --to [::1]:PORT, IPv6 clients to a server on ::1', async () => {
    const { spawn } = await import('node:child_process');
    const child = spawn(process.execPath, [BIN, 'relay', '--listen', '[::1]:0', '--to', `[::1]:${v6.port}`], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      const line = await new Promise<string>((ok, fail) => {
        let o = '';
        const t = setTimeout(() => fail(new Error('relay did not start')), 20_000);
        child.stdout!.on('data', (d) => {
          o += d;
          if (o.includes('\n')) {
            clearTimeout(t);
            ok(o.split('\n')[0]!);
          }
        });
        child.once('exit', (c) => fail(new Error(`relay exited ${c}`)));
      });
      const j = JSON.parse(line) as { event: string; address: string; port: number };
      expect(j).toMatchObject({ event: 'listening', address: '::1' });
      const r = await get({ host: '::1', port: j.port, serverKey: identity.publicKey }, 'f.bin', local('rc.bin'));
      expect(r.sha256).toBe(sha);
    } finally {
      child.kill('SIGTERM');
    }
  });
});

describe.skipIf(!IPV6)('TFTP and TCP baselines over ::1', () => {
  it('TFTP get and put with the server on ::1, direct and through 5% loss on a ::1 relay', async () => {
    const t = await tftpServe({ root, host: '::1', port: 0, writable: true });
    try {
      const g = await tftpGet({ host: '::1', port: t.port, blksize: 1468, windowsize: 8 }, 'f.bin', local('t6.bin'));
      expect(g.sha256).toBe(sha);
      expect(sha256File(local('t6.bin'))).toBe(sha);
      await tftpPut({ host: '::1', port: t.port, blksize: 1468 }, join(root, 'f.bin'), 'tup6.bin');
      expect(sha256File(join(root, 'tup6.bin'))).toBe(sha);
      const relay = await startRelay({
        listenHost: '::1',
        targetHost: '::1',
        targetPort: t.port,
        up: parseNetem('loss 5%'),
        down: parseNetem('loss 5%'),
        seed: 9,
      });
      try {
        // the server answers from a new port (its transfer ID): the relay follows it over IPv6 too. The relay
        // emulates a 1,500-byte link: over IPv6 (48 bytes of headers) a block of 1,448 fills it, 1,468 would not fit
        const r = await tftpGet(
          { host: '::1', port: relay.port, blksize: 1448, windowsize: 4, timeoutMs: 100, retries: 30 },
          'f.bin',
          local('t6r.bin'),
        );
        expect(r.sha256).toBe(sha);
      } finally {
        await relay.close();
      }
    } finally {
      await t.close();
    }
  });

  it('TCP get with the server on ::1', async () => {
    const t = await tcpServe({ root, host: '::1', port: 0 });
    try {
      expect(t.address).toBe('::1');
      const r = await tcpGet({ host: '::1', port: t.port }, 'f.bin', local('c6.bin'));
      expect(r.sha256).toBe(sha);
      expect(sha256File(local('c6.bin'))).toBe(sha);
    } finally {
      await t.close();
    }
  });

  it('the CLI: tftp-serve/tftp-get and tcp-serve/tcp-get with [::1]:PORT; naive-get refuses IPv6 in one line', async () => {
    const t = await tftpServe({ root, host: '::1', port: 0 });
    const c = await tcpServe({ root, host: '::1', port: 0 });
    try {
      const a = await run(process.execPath, [BIN, 'tftp-get', `[::1]:${t.port}`, 'f.bin', local('ct.bin'), '--json']);
      expect(JSON.parse(a.stdout).sha256).toBe(sha);
      const b = await run(process.execPath, [BIN, 'tcp-get', `[::1]:${c.port}`, 'f.bin', local('cc.bin'), '--json']);
      expect(JSON.parse(b.stdout).sha256).toBe(sha);
      const n = await run(process.execPath, [BIN, 'naive-get', '[::1]:4455', 'f.bin', local('n.bin')]).catch(
        (e: { code: number; stderr: string }) => e,
      );
      expect(n).toMatchObject({ code: 2 });
      expect((n as { stderr: string }).stderr).toMatch(
        /^udplab: E_USAGE: naive-get is the seminar's IPv4-only program/,
      );
    } finally {
      await t.close();
      await c.close();
    }
  });

  it('the servers print listening on [::1]:PORT', async () => {
    for (const cmd of ['tftp-serve', 'tcp-serve']) {
      const { spawn } = await import('node:child_process');
      const child = spawn(process.execPath, [BIN, cmd, '--root', root, '--host', '::1', '--port', '0', '--quiet'], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      try {
        const line = await new Promise<string>((ok, fail) => {
          const t = setTimeout(() => fail(new Error(`${cmd} did not start`)), 20_000);
          child.stdout!.on('data', (d) => {
            clearTimeout(t);
            ok(String(d));
          });
          child.once('exit', (code) => fail(new Error(`${cmd} exited ${code}`)));
        });
        expect(line).toMatch(new RegExp(`^udplab ${cmd}: listening on \\[::1\\]:\\d+,`));
      } finally {
        child.kill('SIGTERM');
      }
    }
  });
});
