// Adversarial review of `udplab serve --workers` (docs/reviews/workers-2026-12.md): each attack runs against two
// worker threads on one loopback port (SO_REUSEPORT), from many source ports of 127.0.0.1 so that the kernel's
// 4-tuple hash spreads them over both workers, as a real attacker's flows would be. Each test failed on the code
// before the fix it names (checked by running it against that code).
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { x25519KeyPair } from '../../src/crypto/index.js';
import { parseNetem } from '../../src/impair/index.js';
import { type Initial, Op, PacketType, sealStateless } from '../../src/protocol/index.js';
import {
  generateIdentity,
  put,
  reusePortMissing,
  type ServerStats,
  serveWorkers,
  startRelay,
  type WorkersOptions,
} from '../../src/transport/index.js';
import { EvilSession, EvilSocket, getRequest, initialDatagram, typeOf } from '../helpers/evil-client.js';
import { randomFile, sha256File, tempDir } from '../helpers/tmp.js';

const haveReusePort = reusePortMissing() === undefined;
const dir = tempDir();
const root = join(dir.path, 'root');
mkdirSync(root);
randomFile(join(root, 'f.bin'), 4 << 20);
const identity = x25519KeyPair(randomBytes(32));

const putReq = (path: string, sizeBytes: number): Initial => ({ ...getRequest(path), op: Op.Put, sizeBytes });
const sum = (ws: ServerStats[], k: keyof ServerStats) => ws.reduce((a, w) => a + w[k], 0);

/** Two workers on a fresh port; closed after the test. */
async function twoWorkers(o: Partial<WorkersOptions>) {
  return serveWorkers({ root, host: '127.0.0.1', port: 0, identity, workers: 2, ...o });
}

/** `n` sockets, each a source port of 127.0.0.1 (one source address for every per-source limit). */
const sockets = (n: number) => Promise.all(Array.from({ length: n }, () => EvilSocket.open()));

afterAll(() => dir[Symbol.dispose]());

describe.runIf(haveReusePort)('review: serve --workers 2 under attack', () => {
  it('W1 the per-source handshake rate holds for the whole server, not per worker (2× the RETRYs before)', async () => {
    const srv = await twoWorkers({ handshakeRate: { burst: 10, perSecond: 1 } });
    const socks = await sockets(40);
    try {
      // one cookie-less INITIAL from each of 40 ports: a RETRY costs a token of 127.0.0.1's bucket
      for (const s of socks)
        s.send(initialDatagram(randomBytes(8), 1, new Uint8Array(0), new Uint8Array(48)), srv.port);
      const answers = await Promise.all(socks.map((s) => s.waitFor((m) => typeOf(m.bytes) === PacketType.Retry, 800)));
      const per = (await srv.perWorker()).map((w) => w.retries);
      // both workers saw the flood (all 40 on one: 2^-39), and together answered one bucket's worth: 10 + 1/s
      expect(answers.filter(Boolean).length).toBeLessThanOrEqual(11);
      expect(per.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(11);
    } finally {
      for (const s of socks) s.close();
      await srv.close();
    }
  });

  it('W1 --max-sessions-per-source 2 admits 2 sessions from one address, not 2 per worker (4 before)', async () => {
    const srv = await twoWorkers({
      handshakeRate: { burst: 1000, perSecond: 1000 },
      maxSessionsPerSource: 2,
      config: { idleTimeoutMs: 15_000 },
    });
    const socks = await sockets(16);
    try {
      // sessions that stay active (a GET never acknowledged) from 16 ports: all on one worker is 2^-15
      const r = await Promise.all(
        socks.map((sock) =>
          EvilSession.attempt(sock, {
            serverPort: srv.port,
            serverKey: identity.publicKey,
            request: getRequest('f.bin'),
          }),
        ),
      );
      const accepted = r.filter((x) => x.kind === 'accepted').length;
      const busy = r.filter((x) => x.kind === 'rejected' && x.code === 'E_BUSY').length;
      expect(accepted).toBe(2);
      expect(busy).toBeGreaterThan(0);
    } finally {
      for (const s of socks) s.close();
      await srv.close();
    }
  });

  it('W1 --max-sessions 2 is the whole server’s cap, not each worker’s (4 sessions before)', async () => {
    const srv = await twoWorkers({
      handshakeRate: { burst: 1000, perSecond: 1000 },
      maxSessions: 2,
      config: { idleTimeoutMs: 15_000 },
    });
    const socks = await sockets(16);
    try {
      const r = await Promise.all(
        socks.map((sock) =>
          EvilSession.attempt(sock, {
            serverPort: srv.port,
            serverKey: identity.publicKey,
            request: getRequest('f.bin'),
          }),
        ),
      );
      expect(r.filter((x) => x.kind === 'accepted').length).toBe(2);
      expect(r.some((x) => x.kind === 'rejected' && x.code === 'E_BUSY')).toBe(true);
      expect(srv.sessions()).toBeLessThanOrEqual(2 * 4); // the hard cap: maxSessions × 4 for the whole server
    } finally {
      for (const s of socks) s.close();
      await srv.close();
    }
  });

  it('W2 keyless handshake-typed datagrams naming another worker’s session are dropped, not forwarded', async () => {
    const srv = await twoWorkers({
      handshakeRate: { burst: 1000, perSecond: 1000 },
      config: { idleTimeoutMs: 15_000 },
    });
    const owner = await EvilSocket.open();
    const socks = await sockets(16);
    try {
      const s = await EvilSession.open(owner, {
        serverPort: srv.port,
        serverKey: identity.publicKey,
        request: getRequest('f.bin'),
      });
      const before = await srv.perWorker();
      // 36-byte INITIAL-typed datagrams (a keyless SHA-256 tag anyone computes) with the session's connection ID,
      // from 16 ports: about half reach the worker that does not hold the session
      for (const sock of socks)
        for (let i = 0; i < 20; i++) sock.send(sealStateless(PacketType.Initial, s.cid, new Uint8Array(4)), srv.port);
      // a datagram sent after them from each port is handled after them (one socket, in order): wait for its answer
      for (const sock of socks)
        sock.send(initialDatagram(randomBytes(8), 1, new Uint8Array(0), new Uint8Array(48)), srv.port);
      await Promise.all(socks.map((x) => x.waitFor((m) => typeOf(m.bytes) === PacketType.Retry, 2000)));
      const after = await srv.perWorker();
      expect(sum(after, 'forwardedOut') - sum(before, 'forwardedOut')).toBe(0);
      // they did reach the other worker (all 16 ports on the owner's: 2^-16), and were dropped there
      expect(sum(after, 'forwardDropped') - sum(before, 'forwardDropped')).toBeGreaterThan(0);
    } finally {
      owner.close();
      for (const x of socks) x.close();
      await srv.close();
    }
  });

  it('W3 the sweep of abandoned parts (worker 1 only) never removes a live upload of another worker', async () => {
    const sub = join(root, 'w3');
    mkdirSync(sub);
    // every part older than 100 ms is "abandoned", swept every 100 ms: only a live transfer may stay
    const srv = await twoWorkers({
      handshakeRate: { burst: 1000, perSecond: 1000 },
      partMaxAgeMs: 100,
      partSweepEveryMs: 100,
      config: { idleTimeoutMs: 15_000 },
    });
    const socks = await sockets(8);
    try {
      const before = (await srv.perWorker()).map((w) => w.created);
      // 8 uploads from 8 ports (all on the sweeping worker: 2^-8), each confirmed by its first bytes, then idle
      const sessions = await Promise.all(
        socks.map((sock, i) =>
          EvilSession.open(sock, {
            serverPort: srv.port,
            serverKey: identity.publicKey,
            request: putReq(`w3/u${i}.bin`, 1000),
          }),
        ),
      );
      for (const s of sessions)
        s.send([{ type: 'data', offset: 0, length: 10, compressed: false, bytes: new Uint8Array(10).fill(7) }]);
      const live = () => readdirSync(sub).filter((n) => /^u\d\.bin\.[0-9a-f]{16}\.part$/.test(n)).length;
      // ready: every part exists (polled, 10 s at most: a loaded host's worker threads are slow, and the sessions'
      // 15 s idle timeout leaves room for the check below)
      const deadline = Date.now() + 10_000;
      while (live() < 8 && Date.now() < deadline) await new Promise((ok) => setTimeout(ok, 20));
      expect(live()).toBe(8);
      const after = (await srv.perWorker()).map((w) => w.created);
      expect(after[1]! - before[1]!).toBeGreaterThan(0); // some uploads live on the worker that does not sweep
      // several sweeps (every 100 ms) while all 8 sessions are alive and idle
      await new Promise((ok) => setTimeout(ok, 600));
      expect(live()).toBe(8);
      expect(readdirSync(sub).filter((n) => n.endsWith('.part.journal')).length).toBe(8);
      expect(existsSync(sub)).toBe(true);
    } finally {
      for (const s of socks) s.close();
      await srv.close();
    }
  });

  it('checked sound: SIGTERM to serve --workers 2 mid-upload leaves nothing under the final names; the parts resume', async () => {
    const BIN = join(import.meta.dirname, '..', '..', 'bin', 'udplab.js');
    const srvRoot = join(dir.path, 'term');
    mkdirSync(srvRoot);
    const idFile = join(dir.path, 'term.key');
    const id = generateIdentity(idFile);
    const start = async () => {
      const c = spawn(
        process.execPath,
        [BIN, 'serve', '--root', srvRoot, '--host', '127.0.0.1', '--port', '0', '--identity', idFile].concat([
          '--workers',
          '2',
          '--json',
          '--quiet',
        ]),
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      const line = await new Promise<string>((ok) => c.stdout!.once('data', (d) => ok(String(d))));
      return { c, port: (JSON.parse(line.split('\n')[0]!) as { port: number }).port };
    };
    const names = ['t0.bin', 't1.bin', 't2.bin', 't3.bin'];
    const shas = names.map((n) => randomFile(join(dir.path, n), 2 << 20));
    const journal = (n: string) => join(srvRoot, `${n}.part.journal`);
    const held = (n: string) => {
      try {
        const j = JSON.parse(readFileSync(journal(n), 'utf8')) as { ranges: Array<[number, number]> };
        return j.ranges.reduce((a, [x, y]) => a + y - x, 0);
      } catch {
        return 0;
      }
    };
    const first = await start();
    // 4 uploads through a 16 Mbit/s relay, each from its own upstream port: usually on both workers (all on one: 1/8)
    const relay = await startRelay({
      targetHost: '127.0.0.1',
      targetPort: first.port,
      up: parseNetem('delay 2ms rate 16mbit limit 400'),
      down: parseNetem('delay 2ms'),
    });
    const stop = new AbortController();
    try {
      const uploads = names.map((n) =>
        put(
          { host: '127.0.0.1', port: relay.port, serverKey: id.publicKey, signal: stop.signal },
          join(dir.path, n),
          n,
        ).catch((e: { code?: string }) => e.code),
      );
      const deadline = Date.now() + 20_000;
      while (names.some((n) => held(n) < 256 << 10) && Date.now() < deadline)
        await new Promise((ok) => setTimeout(ok, 50));
      const exited = new Promise<number | null>((ok) => first.c.once('exit', ok));
      first.c.kill('SIGTERM');
      expect(await exited).toBe(0);
      stop.abort();
      await Promise.all(uploads);
      for (const n of names) {
        expect(existsSync(join(srvRoot, n))).toBe(false);
        expect(held(n)).toBeGreaterThanOrEqual(256 << 10);
      }
    } finally {
      if (first.c.exitCode === null) first.c.kill('SIGKILL');
      await relay.close();
    }
    const second = await start();
    try {
      for (const [i, n] of names.entries()) {
        const r = await put(
          { host: '127.0.0.1', port: second.port, serverKey: id.publicKey, resume: true },
          join(dir.path, n),
          n,
        );
        expect(r.resumed_bytes).toBeGreaterThan(0);
        expect(sha256File(join(srvRoot, n))).toBe(shas[i]);
      }
    } finally {
      second.c.kill('SIGTERM');
    }
  }, 60_000);
});
