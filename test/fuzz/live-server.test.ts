// 1,000,000 random and mutated datagrams at a live `udplab serve` process on loopback: it must not crash,
// its memory must stay bounded, and a correct transfer must succeed right after. Mutations start from valid
// packets (INITIAL, KEY REQUEST, DATA, RETRY): truncated, extended, bit-flipped, fields swapped, lengths maxed.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClientHandshake, type x25519KeyPair } from '../../src/crypto/index.js';
import { createRng } from '../../src/impair/index.js';
import {
  encodeFrames,
  encodeHeader,
  encodeInitial,
  encodeInitialEnvelope,
  Op,
  PacketType,
  sealStateless,
} from '../../src/protocol/index.js';
import { generateIdentity, get } from '../../src/transport/index.js';
import { randomFile, sha256File, tempDir } from '../helpers/tmp.js';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'udplab.js');
const TOTAL = Number(process.env.UDPLAB_FUZZ_DATAGRAMS ?? 1_000_000);
const dir = tempDir();
let server: ChildProcess;
let port = 0;
let identity: ReturnType<typeof x25519KeyPair>;

function rssKiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? 0);
}

beforeAll(async () => {
  mkdirSync(join(dir.path, 'root'));
  randomFile(join(dir.path, 'root', 'f.bin'), 1 << 20);
  identity = generateIdentity(join(dir.path, 'id.key'));
  server = spawn(
    process.execPath,
    [
      // A hard heap cap makes "memory bounded" a fact rather than a reading of the GC's mood: state that grew with
      // the datagrams would end the server with an out-of-memory crash, which the test sees as an exit.
      '--max-old-space-size=64',
      BIN,
      'serve',
      '--root',
      join(dir.path, 'root'),
      '--host',
      '127.0.0.1',
      '--port',
      '0',
      '--identity',
      join(dir.path, 'id.key'),
    ],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  port = await new Promise<number>((ok) =>
    server.stdout!.on('data', (d) => {
      const m = /listening on [\d.]+:(\d+)/.exec(String(d));
      if (m) ok(Number(m[1]));
    }),
  );
});

afterAll(() => {
  server.kill('SIGTERM');
  dir[Symbol.dispose]();
});

function seeds(): Uint8Array[] {
  const cid = randomBytes(8);
  const hs = new ClientHandshake(
    { mode: 'noise', serverPublicKey: identity.publicKey, ephemeral: randomBytes(32) },
    { connectionId: cid },
  );
  const req = encodeInitial({
    op: Op.Get,
    resume: true,
    force: false,
    compression: 1,
    path: 'f.bin',
    sizeBytes: 5,
    ranges: [[0, 3]],
  });
  const env = encodeInitialEnvelope({ suite: hs.suite, token: randomBytes(16), message: hs.firstMessage(req) });
  const data = encodeFrames([
    { type: 'ack', largest: 9, ackDelayUs: 5, maxOffset: 100, ranges: [[5, 9]] },
    { type: 'data', offset: 0, length: 4, compressed: false, bytes: new Uint8Array(4) },
  ]);
  const dataPacket = new Uint8Array([
    ...encodeHeader({ type: PacketType.Data, connectionId: cid, packetNumber: 3 }),
    ...data,
    ...new Uint8Array(16),
  ]);
  return [
    sealStateless(PacketType.Initial, cid, env),
    sealStateless(PacketType.KeyRequest, cid, new Uint8Array(96)),
    sealStateless(PacketType.Retry, cid, randomBytes(16)),
    dataPacket,
  ];
}

function mutate(base: Uint8Array, rng: ReturnType<typeof createRng>): Uint8Array {
  const kind = rng.int(7);
  let b: Uint8Array = base.slice();
  switch (kind) {
    case 0: // truncate
      return b.subarray(0, rng.int(b.length));
    case 1: // extend
      return new Uint8Array([...b, ...rng.bytes(rng.int(400))]);
    case 2: // flip bits
      for (let i = 0, n = 1 + rng.int(8); i < n; i++) b[rng.int(b.length)]! ^= 1 << rng.int(8);
      return b;
    case 3: {
      // swap two fields
      const a = rng.int(b.length);
      const c = rng.int(b.length);
      const len = Math.min(8, b.length - Math.max(a, c));
      const t = b.slice(a, a + len);
      b.copyWithin(a, c, c + len);
      b.set(t, c);
      return b;
    }
    case 4: {
      // huge lengths: 0xff runs where length fields live
      const at = 16 + rng.int(Math.max(1, b.length - 18));
      b[at] = 0xff;
      b[at + 1] = 0xff;
      return b;
    }
    case 5: // random bytes with a plausible header
      b = rng.bytes(1 + rng.int(1500));
      b[0] = 1;
      b[1] = 1 + rng.int(7);
      return b;
    default: // anything at all
      return rng.bytes(rng.int(1500));
  }
}

describe('fuzzing a live server', () => {
  it(`survives ${TOTAL.toLocaleString('en')} mutated datagrams, memory bounded, then serves a correct transfer`, async () => {
    const rng = createRng(Number(process.env.UDPLAB_FUZZ_SEED ?? 20261127));
    const base = seeds();
    const sock = createSocket('udp4');
    await new Promise<void>((ok) => sock.bind(0, '127.0.0.1', () => ok()));
    const rssBefore = rssKiB(server.pid!);
    let sent = 0;
    const started = Date.now();
    const BATCH = 500;
    while (sent < TOTAL && Date.now() - started < 120_000) {
      await new Promise<void>((ok) => {
        let left = BATCH;
        for (let i = 0; i < BATCH; i++) {
          sock.send(mutate(base[rng.int(base.length)]!, rng), port, '127.0.0.1', () => {
            if (--left === 0) ok();
          });
        }
      });
      sent += BATCH;
    }
    sock.close();
    console.log(
      `fuzz: sent ${sent} datagrams in ${((Date.now() - started) / 1000).toFixed(1)} s; server RSS ${rssBefore} → ${rssKiB(server.pid!)} KiB`,
    );
    expect(sent).toBeGreaterThanOrEqual(TOTAL);
    expect(server.exitCode).toBeNull();
    expect(rssKiB(server.pid!)).toBeLessThan(200_000);
    const out = join(dir.path, 'after.bin');
    const r = await get({ host: '127.0.0.1', port, serverKey: identity.publicKey }, 'f.bin', out);
    expect(sha256File(out)).toBe(sha256File(join(dir.path, 'root', 'f.bin')));
    expect(r.bytes).toBe(1 << 20);
  }, 180_000);
});
