// The in-process RUFT server most integration tests share: a temp dir with a `root` in it, a fresh X25519
// identity, `serve` on 127.0.0.1 (port 0) with its log lines collected, and the client options that reach it.
// `useServer` registers the hooks on the suite it is called in (the file, or a describe): beforeAll makes the root,
// runs `setup` (the files to serve) and starts the server; afterAll closes the server and removes the temp dir,
// also when a beforeAll step failed (vitest runs afterAll then too; hooks registered after this one's run first).
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { type KeyPair, x25519KeyPair } from '../../src/crypto/index.js';
import { type ClientOptions, type RunningServer, type ServeOptions, serve } from '../../src/transport/index.js';
import { tempDir } from './tmp.js';

export interface UseServerOptions {
  /** The temp dir's prefix (tempDir's default when absent). */
  prefix?: string;
  /** Run in beforeAll once the root exists, before the server starts: the files the tests need. */
  setup?: (root: string, dir: string) => void | Promise<void>;
  /** Further `serve` options (limits, PSK, config, probeSizes, …). */
  serve?: Omit<ServeOptions, 'root' | 'host' | 'port' | 'identity' | 'log'>;
  /** The beforeAll hook's timeout (vitest's hookTimeout when absent). */
  timeoutMs?: number;
}

export interface LiveServer {
  /** The temp dir (removed after the suite). */
  readonly dir: string;
  /** `dir`/root, the server's root. */
  readonly root: string;
  readonly identity: KeyPair;
  /** Every line the server logged, in order. */
  readonly log: string[];
  /** The running server, from beforeAll to afterAll: read it in a hook or a test (it throws at load time). */
  readonly server: RunningServer;
  /** `{ host: '127.0.0.1', port: server.port, serverKey: identity.publicKey }`, fields of `extra` overriding. */
  clientOptions(extra?: Partial<ClientOptions>): ClientOptions;
}

export function useServer(o: UseServerOptions = {}): LiveServer {
  const tmp = tempDir(o.prefix);
  const dir = tmp.path;
  const root = join(dir, 'root');
  const identity = x25519KeyPair(randomBytes(32));
  const log: string[] = [];
  let running: RunningServer | undefined;

  beforeAll(async () => {
    mkdirSync(root);
    await o.setup?.(root, dir);
    running = await serve({ root, host: '127.0.0.1', port: 0, identity, log: (l) => log.push(l), ...o.serve });
  }, o.timeoutMs);

  afterAll(async () => {
    try {
      await running?.close();
    } finally {
      running = undefined;
      tmp[Symbol.dispose]();
    }
  });

  const live: LiveServer = {
    dir,
    root,
    identity,
    log,
    get server(): RunningServer {
      if (!running) throw new Error('useServer: the server runs only from its beforeAll to its afterAll');
      return running;
    },
    clientOptions: (extra = {}) => ({
      host: '127.0.0.1',
      port: live.server.port,
      serverKey: identity.publicKey,
      ...extra,
    }),
  };
  return live;
}
