// Independent review (after the fixes for security-review-2026-12): a replayed INITIAL still has a side effect.
// The server takes the one-writer-per-name lock (`writers.add`) when it ACCEPTs a PUT, before the client's keys are
// confirmed. So an on-path observer WITHOUT the PSK or any key, who captured one PUT INITIAL, can replay it from its
// own address (with its own RETRY cookie, as hostile.test.ts "#3 … replayed INITIAL" does) and every replay holds
// NAME for a whole handshake timeout: the legitimate PSK holder's upload (`put --force` / `put --resume`) is refused
// E_BUSY, again after each replay (one 1,132-byte datagram per handshake timeout keeps the name locked for good).
// Expected: a replayed INITIAL executes nothing, so it cannot lock a name; the lock belongs to the confirmed writer.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ClientHandshake } from '../../src/crypto/index.js';
import { encodeInitial, type Initial, Op, PacketType } from '../../src/protocol/index.js';
import { put } from '../../src/transport/index.js';
import { cookieFor, EvilSocket, initialDatagram, typeOf } from '../helpers/evil-client.js';
import { useServer } from '../helpers/server.js';
import { randomFile, sha256File } from '../helpers/tmp.js';

const psk = new Uint8Array(randomBytes(32));

const putReq = (path: string, sizeBytes: number): Initial => ({
  op: Op.Put,
  resume: false,
  force: true,
  compression: 0,
  path,
  sizeBytes,
  ranges: [],
});

describe('review: a replayed PUT INITIAL (no key, no PSK) must not lock the name', () => {
  const live = useServer({
    serve: { psk, handshakeRate: { burst: 1000, perSecond: 1000 }, config: { handshakeTimeoutMs: 4000 } },
  });
  const { dir, root, identity } = live;

  it('the PSK holder can upload NAME while a captured INITIAL for NAME is being replayed (E_BUSY on the current code)', async () => {
    const local = join(dir, 'report.bin');
    const sha = randomFile(local, 20_000);
    // What the legitimate client once sent (captured on the path): a PUT of report.bin, made with the PSK.
    const cid = randomBytes(8);
    const hs = new ClientHandshake(
      { mode: 'noise', serverPublicKey: identity.publicKey, ephemeral: randomBytes(32), psk },
      { connectionId: cid },
    );
    const captured = hs.firstMessage(encodeInitial(putReq('report.bin', 20_000)));
    // The replayer holds no key and no PSK: only its own cookie and the captured bytes.
    const replayer = await EvilSocket.open();
    try {
      const token = await cookieFor(replayer, live.server.port, cid);
      const from = replayer.inbox.length;
      replayer.send(initialDatagram(cid, hs.suite, token, captured), live.server.port);
      expect(await replayer.waitFor((m) => typeOf(m.bytes) === PacketType.Accept, 2000, from)).toBeDefined();
      // the session exists but is unconfirmed (the replayer cannot confirm): now the real owner uploads
      const r = await put(live.clientOptions({ psk, force: true }), local, 'report.bin').catch(
        (e: { code?: string }) => e,
      );
      expect((r as { code?: string }).code, 'the legitimate PUT was refused because of the replay').toBeUndefined();
      expect(sha256File(join(root, 'report.bin'))).toBe(sha);
    } finally {
      replayer.close();
    }
  });
});
