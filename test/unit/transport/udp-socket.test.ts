// udpSocket's lookup: a send to an address literal goes to the kernel inside send() (no DNS step, no tick), a host
// name still resolves through dns.lookup.
import { createSocket } from 'node:dgram';
import { describe, expect, it } from 'vitest';
import { literalLookup, udpSocket } from '../../../src/transport/udp-socket.js';

describe('literalLookup', () => {
  it('answers an address literal at once, with its family, also after another literal', () => {
    const lookup = literalLookup();
    const seen: Array<[string, number]> = [];
    for (const a of ['127.0.0.1', '127.0.0.1', '::1', '10.1.2.3'])
      lookup(a, 4, (err, address, family) => {
        expect(err).toBeNull();
        seen.push([address, family]);
      });
    expect(seen).toEqual([
      ['127.0.0.1', 4],
      ['127.0.0.1', 4],
      ['::1', 6],
      ['10.1.2.3', 4],
    ]);
  });

  it('resolves a host name through dns.lookup (asynchronously)', async () => {
    const lookup = literalLookup();
    let returned = false;
    let answeredBeforeReturn = false;
    const got = new Promise<[string, number]>((ok, fail) =>
      lookup('localhost', 4, (err, address, family) => {
        answeredBeforeReturn = !returned;
        if (err) fail(err);
        else ok([address, family]);
      }),
    );
    returned = true;
    const [address, family] = await got;
    expect(answeredBeforeReturn).toBe(false);
    expect(family).toBe(4);
    expect(address).toMatch(/^127\./);
  });
});

describe('udpSocket', () => {
  it('hands a datagram to the kernel inside send(): one sent just before close() still arrives', async () => {
    const rx = createSocket('udp4');
    await new Promise<void>((ok) => rx.bind(0, '127.0.0.1', ok));
    try {
      const arrived = new Promise<string>((ok, fail) => {
        const t = setTimeout(() => fail(new Error('the datagram sent before close() never arrived')), 3000);
        rx.once('message', (m) => {
          clearTimeout(t);
          ok(m.toString());
        });
      });
      const tx = udpSocket('udp4', false);
      await new Promise<void>((ok) => tx.bind(0, '127.0.0.1', ok));
      // with Node's default lookup the send waits for a tick, and close() in the same turn drops it
      tx.send(Buffer.from('last words'), rx.address().port, '127.0.0.1');
      tx.close();
      expect(await arrived).toBe('last words');
    } finally {
      rx.close();
    }
  });
});
