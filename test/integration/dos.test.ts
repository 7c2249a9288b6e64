// Denial-of-service defences on a live server: no state before the client proves its address (RETRY),
// answers smaller than requests until then, a per-source handshake rate limit, and a bounded flood.
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ClientHandshake } from '../../src/crypto/index.js';
import {
  encodeInitial,
  encodeInitialEnvelope,
  MIN_INITIAL_PAYLOAD,
  Op,
  openStateless,
  PacketType,
  sealStateless,
} from '../../src/protocol/index.js';
import { get } from '../../src/transport/index.js';
import { useServer } from '../helpers/server.js';
import { randomFile } from '../helpers/tmp.js';

const live = useServer({
  setup: (root) => {
    randomFile(join(root, 'f.bin'), 200_000);
  },
  serve: { handshakeRate: { burst: 20, perSecond: 10 } },
});
const { identity } = live;

function initialDatagram(): Uint8Array {
  const cid = randomBytes(8);
  const hs = new ClientHandshake(
    { mode: 'noise', serverPublicKey: identity.publicKey, ephemeral: randomBytes(32) },
    { connectionId: cid },
  );
  const req = encodeInitial({
    op: Op.Get,
    resume: false,
    force: false,
    compression: 0,
    path: 'f.bin',
    sizeBytes: 0,
    ranges: [],
  });
  const env = encodeInitialEnvelope({ suite: hs.suite, token: new Uint8Array(0), message: hs.firstMessage(req) });
  const padded = new Uint8Array(MIN_INITIAL_PAYLOAD);
  padded.set(env);
  return sealStateless(PacketType.Initial, cid, padded);
}

describe('admission control', () => {
  it('answers an INITIAL without a token with a smaller RETRY and keeps no state', async () => {
    const sock = createSocket('udp4');
    await new Promise<void>((ok) => sock.bind(0, '127.0.0.1', () => ok()));
    try {
      const d = initialDatagram();
      const answer = new Promise<Buffer>((ok) => sock.once('message', (m) => ok(m)));
      sock.send(d, live.server.port, '127.0.0.1');
      const m = await answer;
      expect(openStateless(new Uint8Array(m))?.type).toBe(PacketType.Retry);
      expect(m.length * 3).toBeLessThanOrEqual(d.length); // far below the 3× amplification limit
      expect(live.server.sessions()).toBe(0);
    } finally {
      sock.close();
    }
  });

  it('a bounded flood of handshakes from many ports: rate-limited, no state kept, a real client still completes', async () => {
    const socks = await Promise.all(
      Array.from({ length: 50 }, async () => {
        const s = createSocket('udp4');
        await new Promise<void>((ok) => s.bind(0, '127.0.0.1', () => ok()));
        return s;
      }),
    );
    let answers = 0;
    for (const s of socks) s.on('message', () => answers++);
    const sent = 2000;
    for (let i = 0; i < sent; i++) socks[i % socks.length]!.send(initialDatagram(), live.server.port, '127.0.0.1');
    await new Promise((r) => setTimeout(r, 300));
    for (const s of socks) s.close();
    expect(live.server.sessions()).toBe(0);
    expect(answers).toBeLessThan(100); // one source address: burst 20 + 10/s
    const r = await get(live.clientOptions(), 'f.bin', join(live.dir, 'ok.bin'));
    expect(r.bytes).toBe(200_000);
  });
});
