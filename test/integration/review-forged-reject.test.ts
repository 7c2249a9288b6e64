// Independent review (after the fixes for security-review-2026-12): two forged REJECTs still end a handshake.
// docs/reliability.md (threat model, on-path row) says an on-path attacker cannot "end a client's handshake with one
// forged answer — … an unauthenticated REJECT". The client (connection.ts onAnswer) believes an unauthenticated
// REJECT "when it answers a second attempt too": but the first forged REJECT itself makes the client send its next
// INITIAL at once (initialDueMs = now), so a second forged REJECT sent right behind the first — without waiting to
// see anything — "answers" that attempt. Two keyless 40-byte datagrams end the transfer with the attacker's code
// instead of the real server's ACCEPT that was on its way.
// Expected: unauthenticated REJECTs never close before the handshake deadline (a genuine answer may still come),
// as answers that do not authenticate already are.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { encodeReject, PacketType, sealStateless } from '../../src/protocol/index.js';
import { get } from '../../src/transport/index.js';
import { EvilSocket, typeOf } from '../helpers/evil-client.js';
import { useServer } from '../helpers/server.js';
import { randomFile } from '../helpers/tmp.js';

let sha = '';
const live = useServer({
  setup: (root) => {
    sha = randomFile(join(root, 'f.bin'), 100_000);
  },
});

describe('review: forged unauthenticated REJECTs', () => {
  it('two forged suite-0 REJECTs sent back to back do not end the GET (ended E_BUSY on the current code)', async () => {
    const srv = live.server;
    // an on-path attacker: a proxy that forwards faithfully and, on the first INITIAL, injects two forged REJECTs
    const proxy = await EvilSocket.open();
    const upstream = await EvilSocket.open();
    let clientAddr: { address: string; port: number } | undefined;
    let injected = 0;
    proxy.socket.on('message', (m, r) => {
      clientAddr = { address: r.address, port: r.port };
      const bytes = new Uint8Array(m);
      if (typeOf(bytes) === PacketType.Initial && injected === 0) {
        const cid = bytes.subarray(2, 10);
        const reject = new Uint8Array([0, 2, ...encodeReject({ code: 'E_BUSY', message: 'server busy' })]);
        for (let i = 0; i < 2; i++) {
          injected++;
          proxy.socket.send(sealStateless(PacketType.Reject, cid, reject), r.port, r.address);
        }
      }
      upstream.socket.send(m, srv.port, '127.0.0.1');
    });
    upstream.socket.on('message', (m) => {
      if (clientAddr) proxy.socket.send(m, clientAddr.port, clientAddr.address);
    });
    try {
      const r = await get(live.clientOptions({ port: proxy.port }), 'f.bin', join(live.dir, 'out.bin')).catch(
        (e: { code?: string; message?: string }) => e,
      );
      expect(injected).toBe(2);
      expect((r as { code?: string }).code, (r as { message?: string }).message).toBeUndefined();
      expect((r as { sha256?: string }).sha256).toBe(sha);
    } finally {
      proxy.close();
      upstream.close();
    }
  });
});
