// Independent review (after the fixes for security-review-2026-12): LIST does its whole directory walk before the
// client's keys are confirmed, synchronously, on the server's only thread. handleRequest (transport/server.ts)
// calls listDirectory (readdirSync + one lstatSync per entry, up to 100,000 entries) and JSON-encodes the body at
// request time, so a replayed LIST INITIAL — no key, no PSK, just the captured bytes and the replayer's own cookie —
// blocks every session of the server for the whole walk and holds the body (24 MB for 100,000 names of 200 bytes)
// until the unconfirmed session times out. Measured here: 0.84–1.16 s of blocked event loop per INITIAL for
// 100,000 entries; any client of an open server (or PSK holder) gets 20 such INITIALs per second per address.
// Expected: one datagram never blocks the server for long (e.g. bound LIST to a few thousand entries, list
// asynchronously, and/or cache a directory's listing by its mtime so that repeats are cheap).
import { randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ClientHandshake } from '../../src/crypto/index.js';
import { encodeInitial, Op, PacketType } from '../../src/protocol/index.js';
import { cookieFor, EvilSocket, initialDatagram, typeOf } from '../helpers/evil-client.js';
import { useServer } from '../helpers/server.js';

const psk = new Uint8Array(randomBytes(32));
const ENTRIES = 30_000;

describe('review: a LIST INITIAL that is never confirmed', () => {
  const live = useServer({
    setup: (root) => {
      const big = join(root, 'big');
      mkdirSync(big, { recursive: true });
      for (let i = 0; i < ENTRIES; i++) closeSync(openSync(join(big, `${'f'.repeat(200)}${i}`), 'w'));
    },
    serve: { psk, handshakeRate: { burst: 1000, perSecond: 1000 }, config: { handshakeTimeoutMs: 2000 } },
    timeoutMs: 120_000,
  });
  const { identity } = live;

  it('a replayed LIST of a 30,000-entry directory does not block the server for long (~1 s per datagram now)', async () => {
    const replayer = await EvilSocket.open();
    // the server runs in this process: the CPU time this process spends between sending the INITIAL and reading
    // the ACCEPT bounds the work one unconfirmed datagram costs the server. CPU time, not wall time, so a busy
    // machine (the scheduler taking the core away) does not count as the server being blocked.
    let worst = 0;
    try {
      for (let k = 0; k < 3; k++) {
        // a LIST the PSK holder once sent (captured on the path); the replayer has neither key nor PSK
        const cid = randomBytes(8);
        const hs = new ClientHandshake(
          { mode: 'noise', serverPublicKey: identity.publicKey, ephemeral: randomBytes(32), psk },
          { connectionId: cid },
        );
        const captured = hs.firstMessage(
          encodeInitial({
            op: Op.List,
            resume: false,
            force: false,
            compression: 0,
            path: 'big',
            sizeBytes: 0,
            ranges: [],
          }),
        );
        const token = await cookieFor(replayer, live.server.port, cid);
        const from = replayer.inbox.length;
        const cpu = process.cpuUsage();
        replayer.send(initialDatagram(cid, hs.suite, token, captured), live.server.port);
        const ans = await replayer.waitFor((m) => typeOf(m.bytes) === PacketType.Accept, 10_000, from);
        const used = process.cpuUsage(cpu);
        worst = Math.max(worst, (used.user + used.system) / 1000);
        expect(ans).toBeDefined();
      }
    } finally {
      replayer.close();
    }
    expect(worst, `one unconfirmed LIST INITIAL cost the server ${worst.toFixed(0)} ms of CPU`).toBeLessThan(250);
  });
});
