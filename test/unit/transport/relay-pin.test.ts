// `pinServerPort` (the lab sets it for users' programs, `udplab relay --pin-port`): a datagram for a client from
// another port of the server's address — any process on 127.0.0.1 — is not forwarded to the client, nor counted as
// forwarded down; without it such a port may answer (a TFTP transfer ID), and is.
import { describe, expect, it } from 'vitest';
import { startRelay } from '../../../src/transport/index.js';
import { closeAfter, udp } from '../../helpers/relay-sockets.js';

async function exchange(pinServerPort: boolean): Promise<{ got: number[]; down: number }> {
  const server = await udp();
  const intruder = await udp();
  const client = await udp();
  // to every request, first the intruder injects 500 bytes into the relay's upstream socket (it saw the request's
  // source port, as a process on the machine can in /proc/net/udp), then the server answers with 1000 bytes
  server.on('message', (_m, from) => {
    intruder.send(Buffer.alloc(500), from.port, from.address, () =>
      server.send(Buffer.alloc(1000), from.port, from.address),
    );
  });
  const relay = closeAfter(
    await startRelay({
      targetHost: '127.0.0.1',
      targetPort: server.address().port,
      up: {},
      down: {},
      pinServerPort,
    }),
  );
  const got: number[] = [];
  const answered = new Promise<void>((ok) =>
    client.on('message', (m) => {
      got.push(m.length);
      if (m.length === 1000) ok();
    }),
  );
  client.send(Buffer.from('request'), relay.port, '127.0.0.1');
  await answered; // the server's answer arrives after whatever the intruder's got through
  return { got, down: relay.report().forwarded.down.bytes };
}

describe('the relay pinned to the server’s port', () => {
  it('forwards only what comes from the server’s own port', async () => {
    expect(await exchange(true)).toEqual({ got: [1000], down: 1000 });
  });

  it('unpinned (built-in protocols), another port of the server’s address is taken as the server', async () => {
    expect(await exchange(false)).toEqual({ got: [500, 1000], down: 1500 });
  });
});
