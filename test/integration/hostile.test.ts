// Regression tests for the adversarial review (shared notes, security-review-2026-12): each attack is carried out
// against a live server on 127.0.0.1 by an attacker that holds what a real one would — a RETRY cookie for its own
// address, the server's public key, or a whole session with its own keys — and each failed on the code before
// the fix (named per test). Files in the root are compared byte for byte before and after.
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClientHandshake, x25519KeyPair } from '../../src/crypto/index.js';
import {
  encodeInitial,
  encodeInitialEnvelope,
  encodeReject,
  type Frame,
  type Initial,
  MIN_INITIAL_PAYLOAD,
  Op,
  openStateless,
  PacketType,
  sealStateless,
} from '../../src/protocol/index.js';
import { get, put, type RunningServer, serve } from '../../src/transport/index.js';
import {
  cookieFor,
  EvilSession,
  EvilSocket,
  getRequest,
  highestDataPn,
  initialDatagram,
  typeOf,
} from '../helpers/evil-client.js';
import { randomFile, sha256File, tempDir } from '../helpers/tmp.js';

const dir = tempDir();
const identity = x25519KeyPair(randomBytes(32));
const psk = new Uint8Array(randomBytes(32));
const logs: string[] = [];

/** Every file under `root` with its bytes (hex of SHA-256) and size: the state an attack must not change. */
function snapshot(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string, rel: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p, `${rel}${e.name}/`);
      else out[`${rel}${e.name}`] = `${statSync(p).size}:${sha256File(p)}`;
    }
  };
  walk(root, '');
  return out;
}

const putReq = (path: string, sizeBytes: number, extra: Partial<Initial> = {}): Initial => ({
  ...getRequest(path),
  op: Op.Put,
  sizeBytes,
  ...extra,
});

async function until(cond: () => boolean, timeoutMs: number): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
  return true;
}

/** The seven X25519 low-order points (u-coordinates, little-endian), as listed by libsodium and RFC 7748's errata. */
const P = (1n << 255n) - 19n;
const LOW_ORDER = [
  0n,
  1n,
  325606250916557431795983626356110631294008115727848805560023387167927233504n,
  39382357235489614581723060781553021112529911719440698176882885853963445705823n,
  P - 1n,
  P,
  P + 1n,
].map((u) => {
  const b = new Uint8Array(32);
  for (let i = 0, v = u; i < 32; i++, v >>= 8n) b[i] = Number(v & 0xffn);
  return b;
});

describe('#1 low-order X25519 points', () => {
  let srv: RunningServer;
  let srvPsk: RunningServer;
  const root = join(dir.path, 'r1');
  beforeAll(async () => {
    mkdirSync(root);
    randomFile(join(root, 'f.bin'), 50_000);
    srv = await serve({ root, host: '127.0.0.1', port: 0, identity, handshakeRate: { burst: 1000, perSecond: 1000 } });
    srvPsk = await serve({
      root,
      host: '127.0.0.1',
      port: 0,
      identity,
      psk,
      handshakeRate: { burst: 1000, perSecond: 1000 },
    });
  });
  afterAll(async () => Promise.all([srv.close(), srvPsk.close()]));

  for (const [label, server, suite] of [
    ['NK', () => srv, 1],
    ['NKpsk0', () => srvPsk, 2],
  ] as const) {
    it(`${label}: an INITIAL whose e is each low-order point is refused and the server goes on (crashed before)`, async () => {
      const sock = await EvilSocket.open();
      try {
        for (const point of LOW_ORDER) {
          const cid = randomBytes(8);
          const token = await cookieFor(sock, server().port, cid);
          const message = new Uint8Array(48 + 32);
          message.set(point);
          const from = sock.inbox.length;
          sock.send(initialDatagram(cid, suite, token, message), server().port);
          const ans = await sock.waitFor((m) => typeOf(m.bytes) === PacketType.Reject, 2000, from);
          expect(ans, 'a REJECT for the low-order INITIAL').toBeDefined();
        }
      } finally {
        sock.close();
      }
      const r = await get(
        { host: '127.0.0.1', port: server().port, serverKey: identity.publicKey, ...(suite === 2 && { psk }) },
        'f.bin',
        join(dir.path, `lo-${label}.bin`),
      );
      expect(r.sha256).toBe(sha256File(join(root, 'f.bin')));
    });
  }

  it('a client reading a forged ACCEPT with a low-order e does not throw and keeps its handshake', () => {
    const cid = randomBytes(8);
    const hs = new ClientHandshake(
      { mode: 'noise', serverPublicKey: identity.publicKey, ephemeral: randomBytes(32) },
      { connectionId: cid },
    );
    hs.firstMessage(encodeInitial(getRequest('f.bin')));
    for (const point of LOW_ORDER) {
      const body = new Uint8Array(32 + 17);
      body.set(point);
      expect(hs.readAnswer(1, body)).toBeUndefined();
    }
    expect(hs.protection).toBeUndefined();
  });
});

describe('#3 PSK checked before anything is done; replayed INITIALs execute nothing', () => {
  let srv: RunningServer;
  const root = join(dir.path, 'r3');
  beforeAll(async () => {
    mkdirSync(root);
    randomFile(join(root, 'secret-exists.txt'), 1000);
    writeFileSync(join(root, 'victim.bin.part'), randomBytes(100_000));
    writeFileSync(join(root, 'victim.bin.part.journal'), '{"version":1,"sizeBytes":200000,"ranges":[[0,100000]]}');
    srv = await serve({
      root,
      host: '127.0.0.1',
      port: 0,
      identity,
      psk,
      handshakeRate: { burst: 1000, perSecond: 1000 },
      config: { handshakeTimeoutMs: 600 },
      log: (l) => logs.push(l),
    });
  });
  afterAll(async () => srv.close());

  it('a client without the PSK: PUT, GET and LIST are refused alike, the root is unchanged, no session stays (executed before)', async () => {
    const before = snapshot(root);
    const sock = await EvilSocket.open();
    const wrong = new Uint8Array(randomBytes(32));
    try {
      const answers = [];
      for (const req of [
        putReq('victim.bin', 5000, { resume: false, force: true }),
        putReq('newfile.bin', 5000),
        getRequest('secret-exists.txt'),
        getRequest('nope.txt'),
        { ...getRequest(''), op: Op.List },
      ]) {
        const r = await EvilSession.attempt(sock, {
          serverPort: srv.port,
          serverKey: identity.publicKey,
          psk: wrong,
          request: req,
        });
        answers.push(r.kind === 'rejected' ? `${r.code}/${r.authenticated}` : r.kind);
      }
      // the same unauthenticated refusal whether or not the file exists: no oracle
      expect(new Set(answers)).toEqual(new Set(['E_AUTH_FAILED/false']));
    } finally {
      sock.close();
    }
    expect(await until(() => srv.sessions() === 0, 3000)).toBe(true);
    expect(snapshot(root)).toEqual(before);
  });

  it('an INITIAL moved to another connection ID does not authenticate (the prologue binds it)', async () => {
    const sock = await EvilSocket.open();
    try {
      const cid = randomBytes(8);
      const hs = new ClientHandshake(
        { mode: 'noise', serverPublicKey: identity.publicKey, ephemeral: randomBytes(32), psk },
        { connectionId: cid },
      );
      const message = hs.firstMessage(encodeInitial(putReq('moved.bin', 10)));
      const other = randomBytes(8);
      const token = await cookieFor(sock, srv.port, other);
      const from = sock.inbox.length;
      sock.send(initialDatagram(other, hs.suite, token, message), srv.port);
      const ans = await sock.waitFor((m) => typeOf(m.bytes) === PacketType.Reject, 2000, from);
      expect(ans).toBeDefined();
    } finally {
      sock.close();
    }
  });

  it('a replayed INITIAL (same ID, the replayer’s own cookie) gets an ACCEPT but nothing is created or truncated', async () => {
    const before = snapshot(root);
    const a = await EvilSocket.open();
    const b = await EvilSocket.open();
    try {
      // the "legitimate" client: a PUT that overwrites victim.bin's partial upload, never confirmed (it is captured)
      const cid = randomBytes(8);
      const hs = new ClientHandshake(
        { mode: 'noise', serverPublicKey: identity.publicKey, ephemeral: randomBytes(32), psk },
        { connectionId: cid },
      );
      const message = hs.firstMessage(encodeInitial(putReq('victim.bin', 5000, { force: true })));
      for (const sock of [a, b]) {
        const token = await cookieFor(sock, srv.port, cid);
        const from = sock.inbox.length;
        sock.send(initialDatagram(cid, hs.suite, token, message), srv.port);
        expect(await sock.waitFor((m) => typeOf(m.bytes) === PacketType.Accept, 2000, from)).toBeDefined();
        // the session lives until it is confirmed or times out (600 ms here), then the replay can start anew
        expect(await until(() => srv.sessions() === 0, 3000)).toBe(true);
      }
      expect(snapshot(root)).toEqual(before);
      expect(logs.some((l) => l.includes('never confirmed'))).toBe(true);
    } finally {
      a.close();
      b.close();
    }
  });
});

describe('#4 handshake packets never move or refresh a session; migration needs a PATH_RESPONSE', () => {
  let srv: RunningServer;
  const root = join(dir.path, 'r4');
  beforeAll(async () => {
    mkdirSync(root);
    randomFile(join(root, 'big.bin'), 8 << 20);
    srv = await serve({
      root,
      host: '127.0.0.1',
      port: 0,
      identity,
      handshakeRate: { burst: 1000, perSecond: 1000 },
      config: { idleTimeoutMs: 1500 },
    });
  });
  afterAll(async () => srv.close());

  it('36-byte keyless INITIALs with a live ID from elsewhere get nothing back and keep nothing alive (334× / forever before)', async () => {
    const client = await EvilSocket.open();
    const forger = await EvilSocket.open();
    try {
      const s = await EvilSession.open(client, {
        serverPort: srv.port,
        serverKey: identity.publicKey,
        request: getRequest('big.bin'),
      });
      s.send([{ type: 'ping' }]); // confirm, then go silent: the session must end at its idle timeout
      const forged = sealStateless(PacketType.Initial, s.cid, new Uint8Array(4));
      expect(forged.length).toBe(36);
      // the event awaited is the session's end; 6 s (4× the idle timeout) is the bound, room for a loaded host's
      // late timers, while a session the forged datagrams kept alive would outlive any bound
      const started = Date.now();
      let sent = 0;
      while (Date.now() - started < 6000 && srv.sessions() > 0) {
        forger.send(forged, srv.port);
        sent++;
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(sent).toBeGreaterThan(5);
      expect(srv.sessions(), `${sent} forged in ${Date.now() - started} ms`).toBe(0); // idle timeout 1.5 s despite a forged datagram every 50 ms
      expect(forger.inbox.length).toBe(0);
    } finally {
      client.close();
      forger.close();
    }
  });

  it('authenticated optimistic ACKs from a spoofed source reach the victim as path challenges only (≤ 1× for these ACKs, ≤ 1.3× at worst; was 334×)', async () => {
    const client = await EvilSocket.open();
    const victim = await EvilSocket.open();
    try {
      const s = await EvilSession.open(client, {
        serverPort: srv.port,
        serverKey: identity.publicKey,
        request: getRequest('big.bin'),
      });
      let bytesFromVictim = 0;
      const t0 = Date.now();
      for (let i = 0; Date.now() - t0 < 1500; i++) {
        // the attacker holds the keys: ACKs of everything sent so far, sealed, from the victim's address
        const d = s.seal([
          { type: 'ack', largest: i * 10 + 9, ackDelayUs: 0, maxOffset: 1e12, ranges: [[0, i * 10 + 9]] },
        ]);
        victim.socket.send(d, srv.port, '127.0.0.1');
        bytesFromVictim += d.length;
        await new Promise((r) => setTimeout(r, 10));
      }
      const toVictim = victim.inbox.reduce((n, m) => n + m.bytes.length, 0);
      expect(toVictim).toBeGreaterThan(0); // the challenges
      expect(toVictim / bytesFromVictim).toBeLessThanOrEqual(1);
      expect(victim.inbox.every((m) => m.bytes.length < 80)).toBe(true);
    } finally {
      client.close();
      victim.close();
    }
  });

  it('a client that really moved answers the PATH_CHALLENGE and the session follows it', async () => {
    const first = await EvilSocket.open();
    const moved = await EvilSocket.open();
    try {
      const s = await EvilSession.open(first, {
        serverPort: srv.port,
        serverKey: identity.publicKey,
        request: getRequest('big.bin'),
      });
      // from the new address: an authenticated packet, then the challenge's answer
      moved.socket.send(s.seal([{ type: 'ping' }]), srv.port, '127.0.0.1');
      const ch = await moved.waitFor((m) => (s.open(m.bytes) ?? []).some((f) => f.type === 'path_challenge'), 2000);
      expect(ch).toBeDefined();
      const data = (s.open(ch!.bytes)!.find((f) => f.type === 'path_challenge') as { data: Uint8Array }).data;
      const before = moved.inbox.length;
      // the answer, and an ACK of what went to the old address, so that the sender has room to send more
      const top = highestDataPn(first, s);
      moved.socket.send(
        s.seal([
          { type: 'path_response', data },
          { type: 'ack', largest: top, ackDelayUs: 0, maxOffset: 64 << 20, ranges: [[0, top]] },
        ]),
        srv.port,
        '127.0.0.1',
      );
      // data now flows to the new address
      const dataPkt = await moved.waitFor((m) => (s.open(m.bytes) ?? []).some((f) => f.type === 'data'), 2000, before);
      expect(dataPkt).toBeDefined();
    } finally {
      first.close();
      moved.close();
    }
  });
});

describe('#7 admission counts handshakes, caps sessions per source, ignores short INITIALs', () => {
  let srv: RunningServer;
  const root = join(dir.path, 'r7');
  beforeAll(async () => {
    mkdirSync(root);
    randomFile(join(root, 'f.bin'), 10_000);
    srv = await serve({
      root,
      host: '127.0.0.1',
      port: 0,
      identity,
      handshakeRate: { burst: 5, perSecond: 1 },
      maxSessionsPerSource: 3,
    });
  });
  afterAll(async () => srv.close());

  it('one cookie buys one token per Noise attempt, not unlimited handshakes (2,272 of 3,000 answered before)', async () => {
    const sock = await EvilSocket.open();
    try {
      const cid = randomBytes(8);
      const token = await cookieFor(sock, srv.port, cid); // 1 token
      const from = sock.inbox.length;
      for (let i = 0; i < 300; i++) sock.send(initialDatagram(cid, 1, token, randomBytes(80)), srv.port);
      await sock.waitFor(() => false, 500, from);
      const answered = sock.inbox.slice(from).filter((m) => typeOf(m.bytes) === PacketType.Reject).length;
      expect(answered).toBeLessThanOrEqual(5); // burst 5 (one spent on the RETRY) + 1/s
      expect(answered).toBeGreaterThan(0);
    } finally {
      sock.close();
    }
  });

  it('a short INITIAL (36 bytes, or an unpadded envelope) gets no answer at all (a RETRY before)', async () => {
    const open = await serve({ root, host: '127.0.0.1', port: 0, identity });
    const sock = await EvilSocket.open();
    try {
      sock.send(sealStateless(PacketType.Initial, randomBytes(8), new Uint8Array(4)), open.port);
      const env = encodeInitialEnvelope({ suite: 1, token: new Uint8Array(0), message: new Uint8Array(48) });
      sock.send(sealStateless(PacketType.Initial, randomBytes(8), env), open.port); // unpadded
      expect(await sock.waitFor(() => true, 400)).toBeUndefined();
      // the padded one is answered
      sock.send(initialDatagram(randomBytes(8), 1, new Uint8Array(0), new Uint8Array(48)), open.port);
      expect(await sock.waitFor((m) => typeOf(m.bytes) === PacketType.Retry, 2000)).toBeDefined();
    } finally {
      sock.close();
      await open.close();
    }
  });

  it('a fourth concurrent session from one address is refused E_BUSY (one address filled the server before)', async () => {
    const busy = await serve({
      root,
      host: '127.0.0.1',
      port: 0,
      identity,
      handshakeRate: { burst: 100, perSecond: 100 },
      maxSessionsPerSource: 3,
    });
    const socks = await Promise.all([1, 2, 3, 4].map(() => EvilSocket.open()));
    try {
      const results = [];
      for (const sock of socks) {
        results.push(
          await EvilSession.attempt(sock, {
            serverPort: busy.port,
            serverKey: identity.publicKey,
            request: getRequest('f.bin'),
          }),
        );
      }
      expect(results.slice(0, 3).map((r) => r.kind)).toEqual(['accepted', 'accepted', 'accepted']);
      const last = results[3]!;
      expect(last.kind === 'rejected' && last.code).toBe('E_BUSY');
    } finally {
      for (const s of socks) s.close();
      await busy.close();
    }
  });
});

describe('#8 a data sender cannot fragment the receiver without bound', () => {
  it('1-byte frames at every other offset: at most 4,096 ranges held, the upload still completes honestly after', async () => {
    const root = join(dir.path, 'r8');
    mkdirSync(root);
    const srv = await serve({
      root,
      host: '127.0.0.1',
      port: 0,
      identity,
      handshakeRate: { burst: 100, perSecond: 100 },
    });
    const sock = await EvilSocket.open();
    try {
      const size = 1 << 20;
      const s = await EvilSession.open(sock, {
        serverPort: srv.port,
        serverKey: identity.publicKey,
        request: putReq('frag.bin', size),
      });
      let off = 0;
      const from = sock.inbox.length;
      for (let p = 0; p < 200; p++) {
        const frames: Frame[] = [];
        for (let i = 0; i < 64; i++, off += 2)
          frames.push({ type: 'data', offset: off, length: 1, compressed: false, bytes: new Uint8Array(1) });
        s.send(frames);
      }
      await sock.waitFor(() => false, 300, from);
      // one more byte that joins two held ones (taken even at the cap): the write rewrites the journal
      s.send([{ type: 'data', offset: 1, length: 1, compressed: false, bytes: new Uint8Array(1) }]);
      await sock.waitFor(() => false, 200, from);
      // the journal is what the receiver holds: read it back from disk
      const journal = readdirSync(root).find((n) => n.endsWith('.part.journal'));
      expect(journal).toBeDefined();
      const j = JSON.parse(readFileSync(join(root, journal!), 'utf8')) as { ranges: unknown[] };
      expect(j.ranges.length).toBeLessThanOrEqual(4096);
      // and the server still serves others at once
      const up = join(dir.path, 'honest.bin');
      const sha = randomFile(up, 100_000);
      const r = await put({ host: '127.0.0.1', port: srv.port, serverKey: identity.publicKey }, up, 'honest.bin');
      expect(r.sha256).toBe(sha);
    } finally {
      sock.close();
      await srv.close();
    }
  });
});

describe('#2 a read error in the sender ends that session, not the server', () => {
  it('a file truncated under a GET in flight: the session closes E_IO, the server serves the next client (exited before)', async () => {
    const root = join(dir.path, 'r2');
    mkdirSync(root);
    randomFile(join(root, 'shrinks.bin'), 6 << 20);
    const okSha = randomFile(join(root, 'ok.bin'), 100_000);
    const srv = await serve({ root, host: '127.0.0.1', port: 0, identity, log: (l) => logs.push(l) });
    const sock = await EvilSocket.open();
    try {
      const s = await EvilSession.open(sock, {
        serverPort: srv.port,
        serverKey: identity.publicKey,
        request: getRequest('shrinks.bin'),
      });
      s.send([{ type: 'ping' }]);
      // wait for the first flight, then truncate the file and acknowledge everything so far: the sender must read on
      expect(await sock.waitFor((m) => (s.open(m.bytes) ?? []).some((f) => f.type === 'data'), 2000)).toBeDefined();
      truncateSync(join(root, 'shrinks.bin'), 0);
      let closed: Frame | undefined;
      for (let i = 0; i < 200 && !closed; i++) {
        const top = highestDataPn(sock, s);
        s.send([{ type: 'ack', largest: top, ackDelayUs: 0, maxOffset: 64 << 20, ranges: [[0, top]] }]);
        const m = await sock.waitFor((x) => (s.open(x.bytes) ?? []).some((f) => f.type === 'close'), 25);
        closed = m && s.open(m.bytes)!.find((f) => f.type === 'close');
      }
      expect(closed && closed.type === 'close' && closed.code).toBe('E_IO');
      const r = await get(
        { host: '127.0.0.1', port: srv.port, serverKey: identity.publicKey },
        'ok.bin',
        join(dir.path, 'after-truncate.bin'),
      );
      expect(r.sha256).toBe(okSha);
    } finally {
      sock.close();
      await srv.close();
    }
  });
});

describe('#13 a client is not ended by forged answers', () => {
  it('forged ACCEPTs (garbage, low-order e) and a forged suite-0 REJECT from the server’s address: the transfer completes (closed before)', async () => {
    const root = join(dir.path, 'r13');
    mkdirSync(root);
    const sha = randomFile(join(root, 'f.bin'), 200_000);
    const srv = await serve({ root, host: '127.0.0.1', port: 0, identity });
    // an on-path attacker: a proxy that forwards faithfully and injects forgeries as the server
    const proxy = await EvilSocket.open();
    const upstream = await EvilSocket.open();
    let clientAddr: { address: string; port: number } | undefined;
    let injected = 0;
    proxy.socket.on('message', (m, r) => {
      clientAddr = { address: r.address, port: r.port };
      const bytes = new Uint8Array(m);
      if (typeOf(bytes) === PacketType.Initial && injected === 0) {
        injected++;
        const cid = bytes.subarray(2, 10);
        const garbage = new Uint8Array(1 + 64);
        garbage[0] = 1;
        const lowOrder = new Uint8Array(1 + 64);
        lowOrder[0] = 1;
        lowOrder.set(LOW_ORDER[0]!, 1);
        const reject = new Uint8Array([0, 2, ...encodeReject({ code: 'E_BUSY', message: 'go away\x1b[2J' })]);
        for (const p of [garbage, lowOrder, reject])
          proxy.socket.send(sealStateless(PacketType.Accept, cid, p), r.port, r.address);
      }
      upstream.socket.send(m, srv.port, '127.0.0.1');
    });
    upstream.socket.on('message', (m) => {
      if (clientAddr) proxy.socket.send(m, clientAddr.port, clientAddr.address);
    });
    try {
      const r = await get(
        { host: '127.0.0.1', port: proxy.port, serverKey: identity.publicKey },
        'f.bin',
        join(dir.path, 'forged.bin'),
      );
      expect(injected).toBe(1);
      expect(r.sha256).toBe(sha);
    } finally {
      proxy.close();
      upstream.close();
      await srv.close();
    }
  });

  it('a real refusal still arrives: a server without the PSK the client uses answers E_AUTH_FAILED', async () => {
    const root = join(dir.path, 'r13b');
    mkdirSync(root);
    const srv = await serve({ root, host: '127.0.0.1', port: 0, identity });
    try {
      const e = await get(
        { host: '127.0.0.1', port: srv.port, serverKey: identity.publicKey, psk },
        'f.bin',
        join(dir.path, 'refused.bin'),
      ).catch((x) => x as { code: string; message: string });
      expect((e as { code: string }).code).toBe('E_AUTH_FAILED');
      expect(existsSync(join(dir.path, 'refused.bin'))).toBe(false);
    } finally {
      await srv.close();
    }
  });
});

describe('forged source port 0', () => {
  const hping = existsSync('/usr/sbin/hping3') && process.getuid?.() === 0;
  it.skipIf(!hping)(
    'an INITIAL from port 0 (forged with hping3) neither stops udplab serve nor gets an answer',
    async () => {
      const root = join(dir.path, 'r0');
      mkdirSync(root);
      const sha = randomFile(join(root, 'f.bin'), 30_000);
      const BIN = join(import.meta.dirname, '..', '..', 'bin', 'udplab.js');
      const idFile = join(dir.path, 'p0.key');
      writeFileSync(
        idFile,
        `${JSON.stringify({ type: 'udplab-x25519', private: Buffer.from(identity.privateKey).toString('base64'), public: Buffer.from(identity.publicKey).toString('base64') })}\n`,
        { mode: 0o600 },
      );
      const child = spawn(
        process.execPath,
        [BIN, 'serve', '--root', root, '--host', '127.0.0.1', '--port', '0', '--identity', idFile],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let err = '';
      child.stderr!.on('data', (d) => {
        err += d;
      });
      try {
        const port = await new Promise<number>((ok, fail) => {
          let o = '';
          child.stdout!.on('data', (d) => {
            o += d;
            const m = /listening on [\d.]+:(\d+)/.exec(o);
            if (m) ok(Number(m[1]));
          });
          child.once('exit', (c) => fail(new Error(`serve exited ${c}: ${err}`)));
        });
        const f = join(dir.path, 'forged-initial.bin');
        writeFileSync(f, initialDatagram(randomBytes(8), 1, new Uint8Array(0), new Uint8Array(48)));
        // hping3 exits 1 when nothing answers: the point here
        await promisify(execFile)('hping3', [
          '127.0.0.1',
          '-2',
          '-s',
          '0',
          '-k',
          '-p',
          String(port),
          '-c',
          '2',
          '-d',
          String(statSync(f).size),
          '-E',
          f,
        ]).catch(() => undefined);
        const r = await get(
          { host: '127.0.0.1', port, serverKey: identity.publicKey },
          'f.bin',
          join(dir.path, 'p0.bin'),
        );
        expect(r.sha256).toBe(sha);
        expect(child.exitCode, err).toBe(null);
        expect(err).not.toMatch(/internal error/);
      } finally {
        if (child.exitCode === null) {
          const gone = new Promise((ok) => child.once('exit', ok));
          child.kill('SIGTERM');
          await gone;
        }
      }
    },
  );
});

afterAll(() => dir[Symbol.dispose]());

/** The highest packet number of this session's DATA packets the socket has received. */

// keep the unpadded-envelope helper honest: a real client pads to MIN_INITIAL_PAYLOAD
it('the attacker toolkit pads INITIALs as a real client does', () => {
  const d = initialDatagram(randomBytes(8), 1, new Uint8Array(16), new Uint8Array(48));
  expect(openStateless(d)!.payload.length).toBe(MIN_INITIAL_PAYLOAD);
});
