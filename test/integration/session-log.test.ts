// The server's "session closed" line says what a session that sent data sent: bytes, packets, retransmissions,
// the datagram size at the end and the path-MTU search's probes and fall backs — what an operator (or the bench)
// reads to tell a transfer at 32,000-byte datagrams from one that spent most of its packets at the base size.
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { x25519KeyPair } from '../../src/crypto/index.js';
import { get, put, type RunningServer, serve } from '../../src/transport/index.js';
import { randomFile, tempDir } from '../helpers/tmp.js';

const dir = tempDir('udplab-session-log-');
const root = join(dir.path, 'root');
const identity = x25519KeyPair(randomBytes(32));
const log: string[] = [];
let server: RunningServer;

beforeAll(async () => {
  mkdirSync(root);
  randomFile(join(root, 'f.bin'), 4 << 20);
  randomFile(join(dir.path, 'up.bin'), 1 << 20);
  server = await serve({ root, host: '127.0.0.1', port: 0, identity, log: (l) => log.push(l) });
});
afterAll(async () => {
  await server.close();
  dir[Symbol.dispose]();
});

describe('the server’s session log', () => {
  it('a session that sent a file says what it sent; one that received says only how it closed', async () => {
    const o = { host: '127.0.0.1', port: server.port, serverKey: identity.publicKey };
    const r = await get(o, 'f.bin', join(dir.path, 'got.bin'));
    await put(o, join(dir.path, 'up.bin'), 'up.bin');
    const closed = log.filter((l) => l.startsWith('session closed:'));
    expect(closed).toHaveLength(2);
    const m =
      /^session closed: ok \(sent (\d+) bytes in (\d+) packets, (\d+) retransmitted; (\d+)-byte datagrams at the end; path-MTU probes (\d+), fallbacks (\d+)\)$/.exec(
        closed[0]!,
      );
    expect(m, closed[0]).not.toBeNull();
    const [sent, packets, , datagram] = m!.slice(1).map(Number) as [number, number, number, number];
    expect(sent).toBeGreaterThanOrEqual(4 << 20); // the file, and what was sent again
    // the client's figure is what the server reported with its FIN; the server may send a packet or two after it
    expect(packets).toBeGreaterThanOrEqual(r.packets_sent);
    expect(packets).toBeLessThan(r.packets_sent + 16);
    expect(datagram).toBeGreaterThan(0);
    expect(closed[1]).toBe('session closed: ok');
  });
});
