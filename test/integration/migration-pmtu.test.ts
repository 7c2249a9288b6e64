// A session that moves to another address starts its path-MTU search over (RFC 9000 §9.4). The probe list is the
// route's to each address (transport/path-mtu.ts): 32,000 bytes to a peer on this machine, nothing above 1,472
// beyond a gateway. Before, a client that had raised its session to 32,000-byte datagrams from one address kept
// them after a validated move to an address whose route carries only 1,500 bytes: the server sent it 32,000-byte
// datagrams, which Linux fragments (or a hop drops) — what the route bound exists to prevent. Here the route table
// is stood in for (`probeSizes`): 127.0.0.1 carries 32,000 bytes, 127.0.0.2 only Ethernet's 1,500.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { EvilSession, EvilSocket, getRequest, highestDataPn } from '../helpers/evil-client.js';
import { useServer } from '../helpers/server.js';
import { randomFile } from '../helpers/tmp.js';

const live = useServer({
  prefix: 'udplab-migration-pmtu-',
  setup: (root) => {
    randomFile(join(root, 'f.bin'), 64 << 20);
  },
  serve: {
    probeSizes: (a) => (a === '127.0.0.1' ? [32_000, 1472, 1452, 1400, 1280] : [1472, 1452, 1400, 1280]),
  },
});
const { identity, log } = live;

const ack = (top: number) => ({
  type: 'ack' as const,
  largest: top,
  ackDelayUs: 0,
  maxOffset: 256 << 20,
  ranges: [[0, top]] as Array<[number, number]>,
});

describe('a validated migration restarts the path-MTU search with the new address’s sizes', () => {
  it('32,000-byte datagrams to 127.0.0.1; after the move to 127.0.0.2 (1,500-byte route) none above 1,472', async () => {
    const first = await EvilSocket.open('127.0.0.1');
    const moved = await EvilSocket.open('127.0.0.2');
    try {
      const s = await EvilSession.open(first, {
        serverPort: live.server.port,
        serverKey: identity.publicKey,
        request: getRequest('f.bin'),
      });
      first.send(s.seal([{ type: 'ping' }]), live.server.port);
      // acknowledge everything from 127.0.0.1 until the server sends 32,000-byte datagrams there
      const big = (from: number) => first.inbox.slice(from).some((m) => m.bytes.length === 32_000 && s.open(m.bytes));
      const deadline = Date.now() + 5000;
      let seen = 0;
      let raised = false;
      while (Date.now() < deadline && !raised) {
        await new Promise((ok) => setTimeout(ok, 10));
        first.send(s.seal([ack(highestDataPn(first, s, 0))]), live.server.port);
        raised = big(seen) && first.inbox.slice(seen).filter((m) => m.bytes.length === 32_000).length >= 2;
        if (!raised) seen = Math.max(0, first.inbox.length - 64);
      }
      expect(raised).toBe(true);

      // the client moves to 127.0.0.2 and answers the PATH_CHALLENGE there
      moved.send(s.seal([{ type: 'ping' }]), live.server.port);
      const ch = await moved.waitFor((m) => (s.open(m.bytes) ?? []).some((f) => f.type === 'path_challenge'), 2000);
      expect(ch).toBeDefined();
      const data = (s.open(ch!.bytes)!.find((f) => f.type === 'path_challenge') as { data: Uint8Array }).data;
      const before = moved.inbox.length;
      moved.send(s.seal([{ type: 'path_response', data }, ack(highestDataPn(first, s))]), live.server.port);
      // keep acknowledging from the new address for a while: what the server sends there is what it chose for it
      const until = Date.now() + 1500;
      while (Date.now() < until) {
        await new Promise((ok) => setTimeout(ok, 10));
        moved.send(s.seal([ack(Math.max(highestDataPn(first, s), highestDataPn(moved, s)))]), live.server.port);
      }
      expect(log.join('\n')).toMatch(/session moved 127\.0\.0\.1:\d+ → 127\.0\.0\.2:\d+ \(path validated\)/);
      const after = moved.inbox.slice(before).filter((m) => (s.open(m.bytes) ?? []).some((f) => f.type === 'data'));
      expect(after.length).toBeGreaterThan(0);
      expect(Math.max(...after.map((m) => m.bytes.length))).toBeLessThanOrEqual(1472);
    } finally {
      first.close();
      moved.close();
    }
  }, 20_000);
});
