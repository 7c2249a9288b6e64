// `udplab serve --workers N`: N worker threads, each a whole `serve()` with its own UDP socket bound to the same
// port with SO_REUSEPORT (Node >= 22.12). The kernel spreads flows by 4-tuple, so a session's datagrams reach the
// worker that holds it; when a client moves (a new port or address, RFC 9000 §9) and its new 4-tuple hashes to
// another worker, that worker forwards the datagram to the session's owner over a MessagePort (each worker tells
// the others which connection IDs it holds). Shared by all workers: the identity key and PSK (each thread gets a
// copy), the RETRY cookie key (a cookie minted by one worker validates on every other, with one time base), and
// the one-writer-per-name lock (SharedArrayBuffer + Atomics, name-lock.ts), and the admission counts
// (shared-admission.ts): the per-source handshake rate, --max-sessions-per-source and --max-sessions hold for the
// whole server, as with one thread (review workers-2026-12 W1). Forwarding is bounded: only DATA is handed over,
// at most 1,024 datagrams queued per worker (W2). A worker that dies is not restarted: the others are shut down
// and the crash reported (onCrash), so the CLI exits non-zero.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MessageChannel, type MessagePort, Worker } from 'node:worker_threads';
import { sharedLockBuffer } from './name-lock.js';
import type { ToMain, ToWorker, WorkerInit } from './serve-worker.js';
import type { ServeOptions, ServerStats, SessionLog } from './server.js';
import { sharedAdmissionBuffer } from './shared-admission.js';
import { udpSocket } from './udp-socket.js';

export interface WorkersOptions
  extends Omit<ServeOptions, 'rng' | 'clock' | 'nameLock' | 'elsewhere' | 'onSessionKey' | 'admission'> {
  workers: number;
  /** Called once if a worker dies or fails: the others are being closed; the process should exit non-zero. */
  onCrash?: (line: string) => void;
}

export interface RunningWorkers {
  port: number;
  address: string;
  warnings: string[];
  workers: number;
  /** live sessions, all workers */
  sessions(): number;
  /** each worker's counters, asked of it now */
  perWorker(): Promise<ServerStats[]>;
  /** every worker's session outcomes (the last 10,000) */
  readonly completed: SessionLog[];
  readonly threads: readonly Worker[];
  close(): Promise<void>;
}

/** Why `reusePort` cannot be used here (undefined: it can): Node older than 22.12 ignores the option. */
export function reusePortMissing(nodeVersion: string = process.versions.node): string | undefined {
  const [major = 0, minor = 0] = nodeVersion.split('.').map(Number);
  if (major > 22 || (major === 22 && minor >= 12)) return undefined;
  return `--workers > 1 needs dgram reusePort (Node >= 22.12); this is Node ${nodeVersion}`;
}

/** Binds two reusePort sockets to one loopback port: a kernel without SO_REUSEPORT refuses the second. */
async function probeKernel(): Promise<string | undefined> {
  const a = udpSocket('udp4', true);
  const b = udpSocket('udp4', true);
  const bind = (s: typeof a, port: number) =>
    new Promise<void>((ok, fail) => {
      s.once('error', fail);
      s.bind({ port, address: '127.0.0.1', exclusive: true }, () => {
        s.off('error', fail);
        ok();
      });
    });
  try {
    await bind(a, 0);
    await bind(b, a.address().port);
    return undefined;
  } catch (e) {
    return `--workers > 1 needs SO_REUSEPORT, which this kernel refused (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`;
  } finally {
    for (const s of [a, b]) {
      try {
        s.close();
      } catch {
        /* never bound */
      }
    }
  }
}

function workerScript(): URL {
  const here = new URL('./serve-worker.js', import.meta.url);
  if (existsSync(fileURLToPath(here))) return here;
  // running from the TypeScript sources (tests): the worker runs the build
  const built = join(import.meta.dirname, '..', '..', 'dist', 'src', 'transport', 'serve-worker.js');
  if (existsSync(built)) return new URL(`file://${built}`);
  throw new Error(`serve --workers: ${built} is missing (run npm run build)`);
}

export class WorkersUnavailable extends Error {
  readonly code = 'E_USAGE';
}

export async function serveWorkers(o: WorkersOptions, env: { nodeVersion?: string } = {}): Promise<RunningWorkers> {
  const n = o.workers;
  if (!Number.isInteger(n) || n < 1) throw new WorkersUnavailable(`--workers expects a count ≥ 1, got ${n}`);
  const why = reusePortMissing(env.nodeVersion) ?? (await probeKernel());
  if (why) throw new WorkersUnavailable(why);
  const { workers: _n, onCrash, log: logOpt, onRecord, ...serveOptions } = o;
  const log = logOpt ?? (() => {});
  const lock = sharedLockBuffer();
  const admission = sharedAdmissionBuffer();
  const queued = new SharedArrayBuffer(4 * n);
  const cookieSecret = o.cookieSecret ?? new Uint8Array(randomBytes(32));
  const completed: SessionLog[] = [];
  const live = new Array<number>(n).fill(0);
  // a port between every two workers
  const peerPorts: (MessagePort | null)[][] = Array.from({ length: n }, () => new Array(n).fill(null));
  for (let i = 0; i < n; i++)
    for (let j = i + 1; j < n; j++) {
      const c = new MessageChannel();
      peerPorts[i]![j] = c.port1;
      peerPorts[j]![i] = c.port2;
    }
  const script = workerScript();
  const threads: Worker[] = [];
  const pending = new Map<number, (s: ServerStats) => void>();
  let nextId = 0;
  let closing = false;
  let crashed = false;

  const closeAll = async () => {
    closing = true;
    await Promise.all(
      threads.map(
        (w) =>
          new Promise<void>((ok) => {
            if (w.threadId === -1) return ok();
            const t = setTimeout(() => void w.terminate(), 5000); // a worker that does not close in 5 s is ended
            w.once('exit', () => {
              clearTimeout(t);
              ok();
            });
            w.postMessage({ t: 'close' } satisfies ToWorker);
          }),
      ),
    );
  };

  const crash = (i: number, what: string) => {
    if (closing || crashed) return;
    crashed = true;
    const line = `worker ${i + 1} of ${n} ${what}; stopping the others`;
    log(line);
    void closeAll().then(() => onCrash?.(line));
  };

  const start = (i: number, port: number) =>
    new Promise<{ port: number; address: string; warnings: string[] }>((ok, fail) => {
      const init: WorkerInit = {
        index: i,
        options: {
          ...serveOptions,
          port,
          cookieSecret,
          // one sweep of abandoned parts is enough
          ...(i > 0 && { partMaxAgeMs: 0 }),
        },
        lock,
        admission,
        queued,
        peers: peerPorts[i]!,
      };
      const w = new Worker(script, {
        workerData: init,
        transferList: peerPorts[i]!.filter((p): p is MessagePort => p !== null),
      });
      threads.push(w);
      let ready = false;
      w.on('message', (m: ToMain) => {
        if (m.t === 'ready') {
          ready = true;
          ok(m);
        } else if (m.t === 'failed') {
          fail(Object.assign(new Error(m.message), m.code && { code: m.code }));
        } else if (m.t === 'log') log(n > 1 ? `worker ${i + 1}: ${m.line}` : m.line);
        else if (m.t === 'done') {
          onRecord?.(m.log);
          completed.push(m.log);
          if (completed.length > 10_000) completed.splice(0, completed.length - 10_000);
        } else if (m.t === 'stats') {
          live[i] = m.stats.sessions;
          pending.get(m.id)?.(m.stats);
          pending.delete(m.id);
        } else if (m.t === 'sessions') live[i] = m.n;
      });
      w.on('error', (err) => {
        if (!ready) fail(err);
        else crash(i, `crashed: ${err.message}`);
      });
      w.on('exit', (code) => {
        if (!ready) fail(new Error(`worker ${i + 1} exited with ${code} before it was ready`));
        else if (!closing) crash(i, `exited (code ${code})`);
      });
    });

  let first: { port: number; address: string; warnings: string[] };
  try {
    first = await start(0, o.port ?? 4455);
    await Promise.all(Array.from({ length: n - 1 }, (_, k) => start(k + 1, first.port)));
  } catch (e) {
    await closeAll();
    throw e;
  }
  return {
    port: first.port,
    address: first.address,
    warnings: first.warnings,
    workers: n,
    sessions: () => live.reduce((a, b) => a + b, 0),
    perWorker: () =>
      Promise.all(
        threads.map(
          (w) =>
            new Promise<ServerStats>((ok) => {
              // a worker that has exited answers nothing: zeros
              if (w.threadId === -1)
                return ok({ sessions: 0, created: 0, retries: 0, forwardedOut: 0, forwardedIn: 0, forwardDropped: 0 });
              const id = nextId++;
              pending.set(id, ok);
              w.postMessage({ t: 'stats', id } satisfies ToWorker);
            }),
        ),
      ),
    completed,
    threads,
    close: closeAll,
  };
}
