// Sealed DATA datagrams (1 KiB and more) come from a bounded pool and go back to it once the kernel has copied them
// (crypto/datagram-pool.ts, transport/udp-socket.ts datagramSender): a fresh ArrayBuffer per 32,000-byte DATA
// packet piled up until V8's external-memory limit and set the server's peak RSS on loopback
// (docs/performance.md, "The server's peak RSS"). Counts only here: the RSS figure lives in `npm run bench -- cost`.
import { Socket } from 'node:dgram';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  DatagramPool,
  datagramPool,
  POOL_FREE_MAX,
  POOLED_MIN_BYTES,
  x25519KeyPair,
} from '../../../src/crypto/index.js';
import { get, serve } from '../../../src/transport/index.js';
import { datagramSender, type SendingSocket } from '../../../src/transport/udp-socket.js';
import { BACKENDS } from '../../helpers/backends.js';
import { randomFile, tempDir } from '../../helpers/tmp.js';

/** A socket that records what it was given, its libuv send queue as `queued` says. */
function standIn(queued: () => number): SendingSocket & { sent: Uint8Array[] } {
  const sent: Uint8Array[] = [];
  return { sent, send: (d) => void sent.push(d), getSendQueueCount: queued };
}

describe('DatagramPool', () => {
  it('lends, takes back only what it lent and only once, and keeps at most POOL_FREE_MAX', () => {
    const pool = new DatagramPool();
    const a = pool.take(32_000);
    expect(pool.giveBack(a)).toBe(true);
    expect(pool.giveBack(a)).toBe(false); // twice: the second is ignored
    expect(pool.giveBack(new Uint8Array(32_000))).toBe(false); // never lent
    const b = pool.take(31_000); // fits in a's buffer
    expect(b.buffer).toBe(a.buffer);
    expect(b.length).toBe(31_000);
    expect(pool.allocated).toBe(1);
    const burst = Array.from({ length: POOL_FREE_MAX * 4 }, () => pool.take(32_000));
    for (const d of burst) pool.giveBack(d);
    expect(pool.freeCount).toBe(POOL_FREE_MAX);
  });

  it('a larger datagram than the buffer at hand gets a new one', () => {
    const pool = new DatagramPool();
    pool.giveBack(pool.take(8_000));
    const big = pool.take(32_000);
    expect(big.buffer.byteLength).toBeGreaterThanOrEqual(32_000);
    expect(pool.allocated).toBe(2);
  });
});

describe('datagramSender', () => {
  it('gives a datagram back once the send left nothing queued; one libuv queued, or to a host name, is kept', () => {
    const pool = new DatagramPool();
    let queue = 0;
    const sock = standIn(() => queue);
    const send = datagramSender(sock, pool);
    const d1 = pool.take(32_000);
    send(d1, 4455, '127.0.0.1');
    expect(pool.take(32_000).buffer).toBe(d1.buffer); // reused
    queue = 1; // EAGAIN: libuv holds the bytes until it can send them
    const d2 = pool.take(32_000);
    send(d2, 4455, '127.0.0.1');
    expect(pool.freeCount).toBe(0);
    expect(pool.take(32_000).buffer).not.toBe(d2.buffer);
    queue = 0;
    const d3 = pool.take(32_000);
    send(d3, 4455, 'localhost'); // a lookup that answers later: dgram still holds it
    expect(pool.freeCount).toBe(0);
    expect(sock.sent).toEqual([d1, d2, d3]);
  });
});

describe.each(BACKENDS)('%s: sealing through the pool', (name, be) => {
  it.each([32_000, 1_472])(
    'a long run of %d-byte DATA packets, each sent at once, needs one buffer (libsodium)',
    (size) => {
      const aead = be.packetAead('ChaChaPoly', new Uint8Array(32).fill(7));
      const header = new Uint8Array(14).fill(1);
      const payload = new Uint8Array(size - 14 - 16).fill(2);
      const send = datagramSender(standIn(() => 0));
      const buffers = new Set<ArrayBufferLike>();
      for (let pn = 0; pn < 2_000; pn++) {
        const d = aead.seal(header, pn, payload);
        expect(d.length).toBe(size);
        buffers.add(d.buffer);
        send(d, 4455, '127.0.0.1');
      }
      if (name === 'libsodium') expect(buffers.size).toBe(1);
    },
  );
});

describe('serve → get on loopback with large datagrams', () => {
  afterEach(() => vi.restoreAllMocks());

  it('the server’s DATA datagrams reuse a bounded set of buffers, not one ArrayBuffer each', async () => {
    using dir = tempDir();
    const root = join(dir.path, 'root');
    mkdirSync(root);
    const sha = randomFile(join(root, 'f.bin'), 16 << 20);
    const identity = x25519KeyPair(new Uint8Array(32).fill(9));
    const large: Uint8Array[] = [];
    const buffers = new Set<ArrayBufferLike>();
    const realSend = Socket.prototype.send;
    vi.spyOn(Socket.prototype, 'send').mockImplementation(function (this: Socket, ...args: unknown[]) {
      const d = args[0];
      if (d instanceof Uint8Array && d.length >= POOLED_MIN_BYTES) {
        large.push(d);
        buffers.add(d.buffer);
      }
      return (realSend as (...a: unknown[]) => void).apply(this, args);
    });
    const srv = await serve({
      root,
      host: '127.0.0.1',
      port: 0,
      identity,
      config: { probeDatagramBytes: [32_000, 1472] },
    });
    try {
      const before = datagramPool.allocated;
      const r = await get(
        { host: '127.0.0.1', port: srv.port, serverKey: identity.publicKey },
        'f.bin',
        join(dir.path, 'out.bin'),
      );
      expect(r.sha256).toBe(sha);
      expect(large.length).toBeGreaterThan(400); // 16 MiB in 32,000-byte datagrams: ~525, retransmissions aside
      // before: one ArrayBuffer per datagram (~525); now one per send libuv had to queue (none on loopback, as a
      // rule), the rest lent again and again
      expect(buffers.size).toBeLessThanOrEqual(POOL_FREE_MAX * 2);
      expect(datagramPool.allocated - before).toBeLessThanOrEqual(POOL_FREE_MAX * 2);
    } finally {
      await srv.close();
    }
  });
});
