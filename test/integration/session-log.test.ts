// The server's "session closed" line says what a session that sent data sent: bytes, packets, retransmissions,
// the datagram size at the end and the path-MTU search's probes and fall backs — what an operator (or the bench)
// reads to tell a transfer at 32,000-byte datagrams from one that spent most of its packets at the base size.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { get, put } from '../../src/transport/index.js';
import { useServer } from '../helpers/server.js';
import { randomFile } from '../helpers/tmp.js';

const { dir, log, clientOptions } = useServer({
  prefix: 'udplab-session-log-',
  setup: (root, dir) => {
    randomFile(join(root, 'f.bin'), 4 << 20);
    randomFile(join(dir, 'up.bin'), 1 << 20);
  },
});

describe('the server’s session log', () => {
  it('a session that sent a file says what it sent; one that received says only how it closed', async () => {
    const o = clientOptions();
    const r = await get(o, 'f.bin', join(dir, 'got.bin'));
    await put(o, join(dir, 'up.bin'), 'up.bin');
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
