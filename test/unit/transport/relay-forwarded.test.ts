// The relay's byte counters (`forwarded`, per direction): what it handed to its sockets after shaping — what the lab's
// byte cross-check reads server→client (src/lab/shapers/crossed.ts). A dropped datagram is not counted; a duplicate is.
import { describe, expect, it } from 'vitest';
import { parseNetem } from '../../../src/impair/index.js';
import { startRelay } from '../../../src/transport/index.js';
import { closeAfter, udp } from '../../helpers/relay-sockets.js';

describe('the relay’s forwarded bytes', () => {
  it('counts payload bytes and datagrams each way after shaping: none of what it drops, each duplicate', async () => {
    const server = await udp();
    const client = await udp();
    // the server answers every request with 1000 bytes
    server.on('message', (_m, from) => server.send(Buffer.alloc(1000), from.port, from.address));
    const relay = closeAfter(
      await startRelay({
        targetHost: '127.0.0.1',
        targetPort: server.address().port,
        up: {},
        down: parseNetem('duplicate 100%'),
      }),
    );
    const answers: number[] = [];
    client.on('message', (m) => answers.push(m.length));
    for (let i = 1; i <= 3; i++) {
      const got = new Promise<void>((ok) => {
        const poll = () => (answers.length >= 2 * i ? ok() : setImmediate(poll));
        poll();
      });
      client.send(Buffer.alloc(10), relay.port, '127.0.0.1');
      await got; // the answer and its duplicate
    }
    expect(relay.report().forwarded).toEqual({
      up: { datagrams: 3, bytes: 30 },
      down: { datagrams: 6, bytes: 6000 },
    });
  });

  it('a direction that loses everything forwards nothing', async () => {
    const server = await udp();
    const client = await udp();
    const relay = closeAfter(
      await startRelay({
        targetHost: '127.0.0.1',
        targetPort: server.address().port,
        up: parseNetem('loss 100%'),
        down: {},
      }),
    );
    client.send(Buffer.alloc(10), relay.port, '127.0.0.1');
    await new Promise<void>((ok) => {
      const poll = () => (relay.report().upStats.packets > 0 ? ok() : setImmediate(poll));
      poll();
    });
    expect(relay.report().forwarded).toEqual({ up: { datagrams: 0, bytes: 0 }, down: { datagrams: 0, bytes: 0 } });
  });
});
