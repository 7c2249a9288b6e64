// `udplab serve`: one UDP port, many concurrent sessions keyed by connection ID (not by address: a client
// whose address changes keeps its session; replies go to the address last heard from).
// Requests are resolved inside --root (E_PATH_OUTSIDE_ROOT otherwise); uploads land in NAME.part with a
// journal and are promoted only after the SHA-256 matches. The server survives any datagram.
import { randomBytes } from 'node:crypto';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { type KeyPair, type ServerSecurity, toHex } from '../crypto/index.js';
import { codecFor, FileError, FileSource, negotiateCompression, PartFile, resolveInsideRoot } from '../files/index.js';
import { createRng, type Rng } from '../impair/index.js';
import {
  Connection,
  type ConnectionConfig,
  type ConnectionEvent,
  decodeHeader,
  decodeInitialEnvelope,
  type Initial,
  MemorySource,
  Op,
  openStateless,
  PacketType,
  sealStateless,
} from '../protocol/index.js';
import { AddressValidator, HandshakeLimiter } from './admission.js';
import { type Clock, monotonicMs } from './clock.js';
import { ConnectionDriver } from './driver.js';
import { bindUdp, type RemoteInfo } from './udp-socket.js';

export interface ServeOptions {
  root: string;
  /** The server's static key pair; required unless `insecurePlaintext`. */
  identity?: KeyPair;
  psk?: Uint8Array;
  /** Teaching mode: sessions without encryption or authentication, for clients that ask for it too. */
  insecurePlaintext?: boolean;
  /** Handshakes allowed per source address: burst, then per second. */
  handshakeRate?: { burst: number; perSecond: number };
  host?: string;
  port?: number;
  maxSessions?: number;
  readOnly?: boolean;
  rng?: Rng;
  clock?: Clock;
  config?: Partial<Omit<ConnectionConfig, 'rng'>>;
  log?: (line: string) => void;
}

export interface SessionLog {
  op: string;
  path: string;
  ok: boolean;
  code?: string;
  bytes: number;
}

export interface RunningServer {
  port: number;
  address: string;
  warnings: string[];
  sessions(): number;
  readonly completed: SessionLog[];
  close(): Promise<void>;
}

interface Session {
  driver: ConnectionDriver;
  part?: PartFile;
  peer: RemoteInfo;
  cleanup: (ok: boolean, code?: string) => void;
}

const OP_NAMES: Record<number, string> = { [Op.Get]: 'get', [Op.Put]: 'put', [Op.List]: 'ls' };

export async function serve(o: ServeOptions): Promise<RunningServer> {
  const root = o.root;
  statSync(root); // fail early with ENOENT
  const bound = await bindUdp(o.host ?? '0.0.0.0', o.port ?? 4455);
  const { socket } = bound;
  const clock = o.clock ?? monotonicMs;
  const rng = o.rng ?? createRng(randomBytes(4).readUInt32LE(0));
  const sessions = new Map<string, Session>();
  const completed: SessionLog[] = [];
  const maxSessions = o.maxSessions ?? 64;
  const log = o.log ?? (() => {});
  if (!o.insecurePlaintext && !o.identity) throw new Error('serve: an identity is required unless insecurePlaintext');
  const serverSecurity: ServerSecurity = o.insecurePlaintext
    ? { allowPlaintext: true, ephemeral: () => randomBytes(32) }
    : {
        staticPrivateKey: o.identity!.privateKey,
        ...(o.psk && { psk: o.psk }),
        allowPlaintext: false,
        ephemeral: () => randomBytes(32),
      };
  const cookies = new AddressValidator();
  const limiter = new HandshakeLimiter(o.handshakeRate?.burst ?? 50, o.handshakeRate?.perSecond ?? 20);

  const handleRequest = (s: Session, req: Initial) => {
    const c = s.driver.conn;
    const now = clock();
    const what = OP_NAMES[req.op] ?? '?';
    try {
      if (req.op === Op.Get) {
        const path = resolveInsideRoot(root, req.path);
        const src = new FileSource(path);
        const honoured = req.resume && req.sizeBytes === src.sizeBytes ? req.ranges : [];
        const compression = negotiateCompression(req.compression);
        c.accept(now, { sizeBytes: src.sizeBytes, source: src, ranges: honoured, compression });
        s.cleanup = (ok, code) => {
          src.close();
          completed.push({ op: what, path: req.path, ok, ...(code && { code }), bytes: src.sizeBytes });
        };
      } else if (req.op === Op.Put) {
        if (o.readOnly) throw new FileError('E_PERMISSION', 'this server is read-only (--read-only)');
        const path = resolveInsideRoot(root, req.path);
        const p = new PartFile(path, { sizeBytes: req.sizeBytes, resume: req.resume, force: req.force }, () =>
          c.receivedRanges(),
        );
        c.accept(now, {
          sizeBytes: req.sizeBytes,
          sink: p,
          ranges: p.initialRanges,
          compression: negotiateCompression(req.compression),
        });
        s.part = p;
        s.cleanup = (ok, code) => {
          if (!ok && code === 'E_INTEGRITY') p.discard();
          else if (!ok) p.suspend();
          completed.push({ op: what, path: req.path, ok, ...(code && { code }), bytes: req.sizeBytes });
        };
      } else {
        const dir = resolveInsideRoot(root, req.path || '.', { allowRoot: true });
        const lines = readdirSync(dir, { withFileTypes: true })
          .filter((d) => !d.name.endsWith('.part') && !d.name.endsWith('.part.journal'))
          .map((d) => {
            let size = 0;
            try {
              size = statSync(join(dir, d.name)).size;
            } catch {
              /* vanished */
            }
            return JSON.stringify({ name: d.name, type: d.isDirectory() ? 'dir' : 'file', size });
          });
        const body = new TextEncoder().encode(lines.join('\n'));
        c.accept(now, { sizeBytes: body.length, source: new MemorySource(body) });
        s.cleanup = (ok, code) =>
          completed.push({ op: what, path: req.path, ok, ...(code && { code }), bytes: body.length });
      }
      log(`${what} ${JSON.stringify(req.path)} from ${s.peer.address}:${s.peer.port}: accepted`);
    } catch (err) {
      const code = (err as { code?: string }).code ?? 'E_IO';
      const message = (err as Error).message;
      const stable = /^E_[A-Z_]+$/.test(code) ? code : 'E_IO';
      // tell the client what about its own name, never the server's paths
      const told: Record<string, string> = {
        E_NOT_FOUND: `no such file on the server: ${req.path}`,
        E_PERMISSION: o.readOnly && req.op === Op.Put ? 'this server is read-only' : `permission denied: ${req.path}`,
        E_EXISTS: `${req.path} already exists on the server (use --force to overwrite)`,
        E_DISK_FULL: 'the server’s disk is full',
      };
      c.reject(now, stable, told[stable] ?? (stable === 'E_PATH_OUTSIDE_ROOT' ? message : 'server I/O error'));
      log(`${what} ${JSON.stringify(req.path)} from ${s.peer.address}:${s.peer.port}: refused ${stable} (${message})`);
    }
    s.driver.pump();
  };

  const onEvent = (s: Session, e: ConnectionEvent) => {
    const c = s.driver.conn;
    if (e.type === 'request') handleRequest(s, e.request);
    else if (e.type === 'verify') {
      const part = s.part;
      if (!part) return;
      const expected = Buffer.from(e.sha256).toString('hex');
      part.hashOnDisk().then(
        (actual) => {
          if (actual === expected) {
            try {
              part.promote();
              c.verified(clock(), true);
            } catch (err) {
              log(`promote failed: ${(err as Error).message}`);
              c.verified(clock(), false, true);
            }
          } else c.verified(clock(), false);
          s.driver.pump();
        },
        () => {
          c.verified(clock(), false, true);
          s.driver.pump();
        },
      );
    } else if (e.type === 'closed') {
      s.cleanup(e.ok, e.code);
      s.cleanup = () => {};
      log(`session closed: ${e.ok ? 'ok' : `${e.code} ${e.message ?? ''}`}`);
    }
  };

  socket.on('message', (msg, rinfo) => {
    const data = new Uint8Array(msg.buffer, msg.byteOffset, msg.byteLength);
    const h = decodeHeader(data);
    if (!h.ok) return;
    const key = toHex(h.value.connectionId); // a view of the datagram's bytes, no copy
    const existing = sessions.get(key);
    if (existing) {
      // follow an address change (NAT rebinding) only for datagrams that authenticate, never for forgeries
      const before = existing.driver.conn.packetsAccepted;
      existing.driver.input(data);
      if (existing.driver.conn.packetsAccepted > before) existing.peer = rinfo;
      return;
    }
    if (h.value.type === PacketType.KeyRequest) {
      // trust on first use: the public key, no state; the request is padded to be larger than this answer
      if (o.identity && data.length >= 64 && limiter.allow(rinfo.address, clock())) {
        socket.send(
          sealStateless(PacketType.KeyResponse, h.value.connectionId, o.identity.publicKey),
          rinfo.port,
          rinfo.address,
        );
      }
      return;
    }
    if (h.value.type !== PacketType.Initial) return;
    const opened = openStateless(data);
    const env = opened && decodeInitialEnvelope(opened.payload);
    if (!env?.ok) return;
    // no state before the client proves its address: a stateless cookie round trip (RETRY) first
    if (!cookies.valid(env.value.token, rinfo, h.value.connectionId, clock())) {
      if (limiter.allow(rinfo.address, clock())) {
        socket.send(
          sealStateless(PacketType.Retry, h.value.connectionId, cookies.token(rinfo, h.value.connectionId, clock())),
          rinfo.port,
          rinfo.address,
        );
      }
      return;
    }
    if (sessions.size >= maxSessions * 4) return;
    const conn = Connection.server({ codecFor, ...o.config, rng, serverSecurity }, clock(), data);
    if (!conn) return;
    const s: Session = {
      peer: rinfo,
      cleanup: () => {},
      driver: undefined as unknown as ConnectionDriver,
    };
    s.driver = new ConnectionDriver(
      conn,
      (d) => socket.send(d, s.peer.port, s.peer.address),
      (e) => {
        if (e.type === 'request' && sessions.size > maxSessions) {
          conn.reject(clock(), 'E_BUSY', `server busy: ${maxSessions} sessions already`);
          return;
        }
        onEvent(s, e);
      },
      clock,
      () => {
        s.cleanup(false, 'E_ABORTED');
        sessions.delete(key);
      },
    );
    sessions.set(key, s);
    s.driver.pump();
  });
  socket.on('error', (err) => log(`socket error: ${err.message}`));

  return {
    port: bound.port,
    address: bound.address,
    warnings: bound.warnings,
    sessions: () => sessions.size,
    completed,
    close: async () => {
      for (const s of sessions.values()) {
        s.driver.stop();
        s.cleanup(false, 'E_ABORTED');
      }
      sessions.clear();
      await new Promise<void>((ok) => socket.close(() => ok()));
    },
  };
}
