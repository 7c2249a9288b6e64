// One worker thread of `serveWorkers` (workers.ts): its own `serve()` on the shared port (SO_REUSEPORT), the
// name lock and the cookie key shared with the others, datagrams for another worker's connection IDs forwarded
// to it over a MessagePort. Started only by workers.ts.
import { type MessagePort, parentPort, workerData } from 'node:worker_threads';
import { SharedNameLock } from './name-lock.js';
import { type RunningServer, type ServeOptions, serve } from './server.js';
import type { RemoteInfo } from './udp-socket.js';

export interface WorkerInit {
  index: number;
  options: Omit<
    ServeOptions,
    'rng' | 'clock' | 'log' | 'nameLock' | 'elsewhere' | 'onSessionKey' | 'cookieClock' | 'onRecord' | 'admission'
  >;
  lock: SharedArrayBuffer;
  /** the admission counts every worker shares (shared-admission.ts) */
  admission: SharedArrayBuffer;
  /** Int32 per worker: datagrams handed to it and not yet taken (each sender adds, the receiver subtracts) */
  queued: SharedArrayBuffer;
  /** a port to every other worker, by index (null at its own) */
  peers: (MessagePort | null)[];
}

export type ToMain =
  | { t: 'ready'; port: number; address: string; warnings: string[] }
  | { t: 'failed'; message: string; code?: string }
  | { t: 'log'; line: string }
  | { t: 'done'; log: RunningServer['completed'][number] }
  | { t: 'stats'; id: number; stats: ReturnType<RunningServer['stats']> }
  | { t: 'sessions'; n: number }
  | { t: 'closed' };

export type ToWorker = { t: 'stats'; id: number } | { t: 'close' };

type PeerMessage = { t: 'cid'; key: string; held: boolean } | { t: 'dgram'; data: Uint8Array; rinfo: RemoteInfo };

const init = workerData as WorkerInit;
const main = parentPort!;
const send = (m: ToMain) => main.postMessage(m);
/** connection IDs held by the other workers → which */
const owners = new Map<string, number>();
const peers = init.peers;
const queued = new Int32Array(init.queued);
/**
 * Datagrams another worker may have waiting for one worker at once: beyond it they are dropped (as a full socket
 * buffer drops them; the session's loss recovery resends), so a flood at one worker for a session of another
 * cannot grow that worker's message queue without bound.
 */
const MAX_FORWARD_QUEUE = 1024;
// one time base in every thread (performance.now() starts at each thread's own start): cookies agree
const wallClock = () => performance.timeOrigin + performance.now();

let server: RunningServer | undefined;
for (const [i, p] of peers.entries()) {
  if (!p) continue;
  p.on('message', (m: PeerMessage) => {
    if (m.t === 'cid') {
      if (m.held) owners.set(m.key, i);
      else if (owners.get(m.key) === i) owners.delete(m.key);
    } else {
      Atomics.sub(queued, init.index, 1);
      server?.deliver(m.data, m.rinfo);
    }
  });
}

const broadcast = (m: PeerMessage) => {
  for (const p of peers) p?.postMessage(m);
};

try {
  server = await serve({
    ...init.options,
    reusePort: true,
    cookieClock: wallClock,
    nameLock: new SharedNameLock(init.lock),
    log: (line) => send({ t: 'log', line }),
    onRecord: (log) => send({ t: 'done', log }),
    onSessionKey: (key, held) => {
      broadcast({ t: 'cid', key, held });
      if (server) send({ t: 'sessions', n: server.sessions() });
    },
    admission: init.admission,
    elsewhere: (key, data, rinfo, forward) => {
      const owner = owners.get(key);
      if (owner === undefined) return undefined;
      if (!forward) return 'dropped';
      if (Atomics.add(queued, owner, 1) >= MAX_FORWARD_QUEUE) {
        Atomics.sub(queued, owner, 1);
        return 'dropped';
      }
      // a copy: the datagram's buffer is the socket's
      peers[owner]!.postMessage({ t: 'dgram', data: Uint8Array.from(data), rinfo: { ...rinfo } } satisfies PeerMessage);
      return 'forwarded';
    },
  });
  const s = server;
  main.on('message', async (m: ToWorker) => {
    if (m.t === 'stats') {
      send({ t: 'stats', id: m.id, stats: s.stats() });
    } else if (m.t === 'close') {
      await s.close();
      for (const p of peers) p?.close();
      send({ t: 'closed' });
      main.close();
    }
  });
  send({ t: 'ready', port: s.port, address: s.address, warnings: s.warnings });
} catch (e) {
  const err = e as NodeJS.ErrnoException;
  send({ t: 'failed', message: err.message, ...(err.code && { code: err.code }) });
  for (const p of peers) p?.close();
  main.close();
}
