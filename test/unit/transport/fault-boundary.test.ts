// The fault boundaries (security review #1, #2; issue: "a fault boundary per session"): an exception from one
// peer's input, the protocol core, a data source or the owner's handler ends that session with a code and a log
// line, never the process. Each boundary is driven here: the connection driver, the server's socket handler,
// the client, and the relay.
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { x25519KeyPair } from '../../../src/crypto/index.js';
import { createRng, parseNetem } from '../../../src/impair/index.js';
import { Connection, type ConnectionEvent, MemorySink, Op } from '../../../src/protocol/index.js';
import { ConnectionDriver } from '../../../src/transport/driver.js';
import { get, serve, startRelay } from '../../../src/transport/index.js';
import { randomFile, tempDir } from '../../helpers/tmp.js';

function clientConnection(): Connection {
  return Connection.client(
    { rng: createRng(1) },
    0,
    { op: Op.Get, resume: false, force: false, compression: 0, path: 'x', sizeBytes: 0, ranges: [] },
    { sink: new MemorySink(0) },
  );
}

describe('ConnectionDriver', () => {
  it('an exception inside the connection aborts that session (E_INTERNAL, a closed event), never the caller', () => {
    const conn = clientConnection();
    const events: ConnectionEvent[] = [];
    const errors: unknown[] = [];
    let finished = 0;
    const sent: Uint8Array[] = [];
    const driver = new ConnectionDriver(
      conn,
      (d) => sent.push(d),
      (e) => events.push(e),
      () => 0,
      () => finished++,
      (err) => errors.push(err),
    );
    conn.handleDatagram = () => {
      throw new TypeError('boom from the core');
    };
    expect(() => driver.input(new Uint8Array(40))).not.toThrow();
    expect(errors.map((e) => (e as Error).message)).toEqual(['boom from the core']);
    expect(events.at(-1)).toMatchObject({ type: 'closed', ok: false, code: 'E_INTERNAL' });
    expect(finished).toBe(1);
    expect(conn.closed).toBe(true);
    // stopped: later input is ignored, not re-thrown
    expect(() => driver.input(new Uint8Array(40))).not.toThrow();
    expect(errors.length).toBe(1);
  });

  it('an exception from the owner’s event handler is contained the same way', () => {
    const conn = clientConnection();
    const errors: unknown[] = [];
    conn.abort(0, 'E_ABORTED', 'to have an event');
    const driver = new ConnectionDriver(
      conn,
      () => {},
      () => {
        throw new Error('handler broke');
      },
      () => 0,
      undefined,
      (err) => errors.push(err),
    );
    expect(() => driver.pump()).not.toThrow();
    expect((errors[0] as Error).message).toBe('handler broke');
  });
});

describe('ConnectionDriver stopped by its owner', () => {
  it('arms no timer after an event handler stopped it (a lingering timer kept `udplab get` alive 3 s after the transfer)', () => {
    const conn = clientConnection();
    let events = 1;
    conn.pollEvent = () => (events-- > 0 ? { type: 'closed', ok: true } : undefined);
    conn.pollTimeout = () => 1000;
    const driver: ConnectionDriver = new ConnectionDriver(
      conn,
      () => {},
      () => driver.stop(),
      () => 0,
    );
    driver.pump();
    expect((driver as unknown as { timer: unknown }).timer).toBeUndefined();
  });
});

describe('server socket handler', () => {
  it('an exception while admitting a datagram is logged and the server goes on serving', async () => {
    using dir = tempDir();
    const root = join(dir.path, 'root');
    mkdirSync(root);
    const sha = randomFile(join(root, 'f.bin'), 20_000);
    const identity = x25519KeyPair(randomBytes(32));
    let broken = false;
    const logs: string[] = [];
    const srv = await serve({
      root,
      host: '127.0.0.1',
      port: 0,
      identity,
      clock: () => {
        if (broken) throw new Error('clock failed');
        return performance.now();
      },
      log: (l) => logs.push(l),
    });
    try {
      const sock = createSocket('udp4');
      await new Promise<void>((ok) => sock.bind(0, '127.0.0.1', () => ok()));
      broken = true;
      // an INITIAL-shaped datagram reaches the cookie check, which reads the clock
      const { initialDatagram } = await import('../../helpers/evil-client.js');
      await new Promise<void>((ok) =>
        sock.send(
          initialDatagram(randomBytes(8), 1, new Uint8Array(0), new Uint8Array(48)),
          srv.port,
          '127.0.0.1',
          () => ok(),
        ),
      );
      for (let i = 0; i < 100 && !logs.some((l) => l.includes('internal error')); i++)
        await new Promise((r) => setTimeout(r, 10));
      broken = false;
      sock.close();
      expect(logs.find((l) => l.includes('internal error'))).toMatch(/clock failed/);
      const r = await get(
        { host: '127.0.0.1', port: srv.port, serverKey: identity.publicKey },
        'f.bin',
        join(dir.path, 'out.bin'),
      );
      expect(r.sha256).toBe(sha);
    } finally {
      await srv.close();
    }
  });

  it('an exception while creating a session gives its admission place back (review workers-2026-12, W1 counts)', async () => {
    using dir = tempDir();
    const root = join(dir.path, 'root');
    mkdirSync(root);
    const sha = randomFile(join(root, 'f.bin'), 20_000);
    const identity = x25519KeyPair(randomBytes(32));
    let broken = false;
    const logs: string[] = [];
    // cookies and admission run on cookieClock; the session's own clock (read to create it) fails while broken
    const srv = await serve({
      root,
      host: '127.0.0.1',
      port: 0,
      identity,
      maxSessions: 1,
      maxSessionsPerSource: 1,
      cookieClock: () => performance.now(),
      clock: () => {
        if (broken) throw new Error('clock failed');
        return performance.now();
      },
      log: (l) => logs.push(l),
    });
    const { cookieFor, EvilSocket, initialDatagram } = await import('../../helpers/evil-client.js');
    const sock = await EvilSocket.open();
    try {
      // 8 sessions that fail after admission: past both hard caps (4 in all, 2 per source) if their places leaked
      for (let i = 0; i < 8; i++) {
        const cid = randomBytes(8);
        const token = await cookieFor(sock, srv.port, cid);
        broken = true;
        const before = logs.length;
        sock.send(initialDatagram(cid, 1, token, new Uint8Array(48)), srv.port);
        for (let k = 0; k < 100 && !logs.slice(before).some((l) => l.includes('internal error')); k++)
          await new Promise((r) => setTimeout(r, 10));
        broken = false;
        expect(logs.slice(before).find((l) => l.includes('internal error'))).toMatch(/clock failed/);
      }
      const r = await get(
        { host: '127.0.0.1', port: srv.port, serverKey: identity.publicKey },
        'f.bin',
        join(dir.path, 'out.bin'),
      );
      expect(r.sha256).toBe(sha);
    } finally {
      sock.close();
      await srv.close();
    }
  });
});

describe('client', () => {
  it('an exception inside the client’s session ends that transfer with a code, nothing thrown out of the socket', async () => {
    using dir = tempDir();
    const root = join(dir.path, 'root');
    mkdirSync(root);
    randomFile(join(root, 'f.bin'), 20_000);
    const identity = x25519KeyPair(randomBytes(32));
    const srv = await serve({ root, host: '127.0.0.1', port: 0, identity });
    try {
      const err = await get(
        {
          host: '127.0.0.1',
          port: srv.port,
          serverKey: identity.publicKey,
          // called while the ACCEPT is handled, inside the socket's message handler
          config: {
            codecFor: () => {
              throw new Error('codec broke');
            },
          },
        },
        'f.bin',
        join(dir.path, 'out.bin'),
      ).catch((e) => e as { code: string; message: string });
      expect(err).toMatchObject({ code: 'E_INTERNAL' });
      expect((err as { message: string }).message).toMatch(/codec broke/);
      // a coded error keeps its code: a download into a missing directory is refused before any packet
      const nodir = await get(
        { host: '127.0.0.1', port: srv.port, serverKey: identity.publicKey },
        'f.bin',
        join(dir.path, 'missing', 'out.bin'),
      ).catch((e) => e as { code: string });
      expect(nodir).toMatchObject({ code: 'E_NOT_FOUND' });
    } finally {
      await srv.close();
    }
  });
});

describe('relay', () => {
  it('a datagram whose forwarding throws is dropped and counted; the relay goes on', async () => {
    // port 0 cannot be sent to: every forward throws synchronously (ERR_SOCKET_BAD_PORT)
    const relay = await startRelay({
      targetHost: '127.0.0.1',
      targetPort: 0,
      up: parseNetem(''),
      down: parseNetem(''),
    });
    const sock = createSocket('udp4');
    await new Promise<void>((ok) => sock.bind(0, '127.0.0.1', () => ok()));
    try {
      for (let i = 0; i < 5; i++) sock.send(new Uint8Array(10), relay.port, '127.0.0.1');
      for (let i = 0; i < 100 && (relay.report().dropped ?? 0) < 5; i++) await new Promise((r) => setTimeout(r, 10));
      expect(relay.report().dropped).toBe(5);
    } finally {
      sock.close();
      await relay.close();
    }
  });
});

describe('per-source keys', () => {
  it('an IPv4 address (mapped or not) is one source; an IPv6 host is counted by its /64', async () => {
    const { sourceKey } = await import('../../../src/transport/admission.js');
    expect(sourceKey('192.0.2.7')).toBe('192.0.2.7');
    expect(sourceKey('::ffff:192.0.2.7')).toBe('192.0.2.7');
    expect(sourceKey('2001:db8:1:2:aaaa::1')).toBe('2001:db8:1:2::/64');
    expect(sourceKey('2001:db8:1:2:bbbb:cccc:dddd:eeee')).toBe('2001:db8:1:2::/64');
    expect(sourceKey('2001:DB8:0001:0002::9')).toBe('2001:db8:1:2::/64');
    expect(sourceKey('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(sourceKey('::1')).toBe('0:0:0:0::/64');
    expect(sourceKey('fe80::1%eth0')).toBe('fe80:0:0:0::/64');
  });
});
