// The seminar report's server (shared/seed/seminar-report-2021-05-21.md), ported faithfully to the wire:
// every datagram is read with a 1024-byte buffer and decoded as text; "KEY" is answered with the toy public
// key "14"; "!EXIT" stops the server; any other text is a filename, answered with "EXISTS <size>" and then
// the file in 1024-byte datagrams followed by one empty datagram, as fast as the socket takes them, with no
// acknowledgements. Like the original it keeps ONE peer address, the last one it heard, and reads it at every
// send: a request arriving mid-transfer re-points the rest of the file (this port reads while it sends, as
// any threaded or async rewrite would). Two changes only: names are resolved inside --root (the original
// opened any path), and a missing file is logged instead of crashing the process (nothing goes on the wire in
// either case).
import { createSocket, type Socket } from 'node:dgram';
import { open } from 'node:fs/promises';
import { resolveInsideRoot } from '../../files/index.js';

export interface NaiveServeOptions {
  root: string;
  host?: string;
  port?: number;
  /** Datagram payload size; the seminar's is 1024. */
  chunkBytes?: number;
  /** Receive buffer for requests; the seminar's recvfrom(1024). */
  bufsizeBytes?: number;
  log?: (line: string) => void;
}

export interface RunningNaiveServer {
  port: number;
  address: string;
  /** Resolves when "!EXIT" arrives or close() is called. */
  closed: Promise<void>;
  close(): Promise<void>;
}

const PUBLIC_KEY = '14';
/** Sends in flight before the loop waits: a blocking socket's send buffer, in effect. */
const IN_FLIGHT = 64;

export async function naiveServe(o: NaiveServeOptions): Promise<RunningNaiveServer> {
  const sock: Socket = createSocket('udp4');
  await new Promise<void>((ok, fail) => {
    sock.once('error', fail);
    sock.bind(o.port ?? 4455, o.host ?? '127.0.0.1', () => {
      sock.off('error', fail);
      ok();
    });
  });
  const chunk = o.chunkBytes ?? 1024;
  const bufsize = o.bufsizeBytes ?? 1024;
  const log = o.log ?? (() => {});
  let addr = { address: '', port: 0 }; // the one global peer, as in the original
  let closing = false;
  let done!: () => void;
  const closed = new Promise<void>((ok) => {
    done = ok;
  });
  const close = async () => {
    if (closing) return;
    closing = true;
    await new Promise<void>((ok) => sock.close(() => ok()));
    done();
  };

  let inFlight = 0;
  let drained: (() => void) | undefined;
  const sendto = async (b: Uint8Array) => {
    while (inFlight >= IN_FLIGHT) await new Promise<void>((ok) => (drained = ok));
    if (closing) return;
    inFlight++;
    sock.send(b, addr.port, addr.address, () => {
      inFlight--;
      drained?.();
      drained = undefined;
    });
  };

  const retrieveFile = async (filename: string) => {
    let fh: Awaited<ReturnType<typeof open>>;
    let size: number;
    try {
      fh = await open(resolveInsideRoot(o.root, filename), 'r');
      size = (await fh.stat()).size;
    } catch (e) {
      log(`naive: ${filename}: ${(e as Error).message} (the original server crashes here)`);
      return;
    }
    log(`naive: ${filename} exists, sending ${size} bytes to whoever spoke last`);
    try {
      await sendto(Buffer.from(`EXISTS ${size}`, 'utf8'));
      for (;;) {
        const b = Buffer.allocUnsafe(chunk);
        const { bytesRead } = await fh.read(b, 0, chunk, null);
        await sendto(b.subarray(0, bytesRead)); // the last one is empty, as in the original
        if (bytesRead === 0 || closing) break;
      }
    } finally {
      await fh.close();
    }
  };

  sock.on('message', (msg, from) => {
    addr = { address: from.address, port: from.port };
    const data = msg.subarray(0, bufsize).toString('utf8');
    if (data === '!EXIT') {
      log('naive: Client disconnected.');
      void close();
      return;
    }
    if (data === 'KEY') void sendto(Buffer.from(PUBLIC_KEY, 'utf8'));
    else void retrieveFile(data);
  });
  sock.on('error', (e) => log(`naive: ${e.message}`));
  const a = sock.address();
  return { port: a.port, address: a.address, closed, close };
}
