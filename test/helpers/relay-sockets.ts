// Loopback sockets and relays for the relay's unit tests, each closed after its test (afterEach is registered by
// the module that imports this one).
import { createSocket, type Socket } from 'node:dgram';
import { afterEach } from 'vitest';
import type { RunningRelay } from '../../src/transport/index.js';

const open: Array<Socket | RunningRelay> = [];
afterEach(async () => {
  for (const o of open.splice(0))
    if ('report' in o) await o.close();
    else o.close();
});

/** A UDP socket bound on 127.0.0.1, closed after the test. */
export async function udp(): Promise<Socket> {
  const s = createSocket('udp4');
  await new Promise<void>((ok) => s.bind(0, '127.0.0.1', ok));
  open.push(s);
  return s;
}

/** Closes the relay after the test; returns it. */
export function closeAfter(relay: RunningRelay): RunningRelay {
  open.push(relay);
  return relay;
}
