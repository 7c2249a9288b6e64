// `udplab serve`: one UDP port, many concurrent sessions keyed by connection ID (not by address: a client
// whose address changes keeps its session once the new address is validated).
// Requests are resolved inside --root (E_PATH_OUTSIDE_ROOT otherwise; temp names are never served); uploads land
// in a part of their own (NAME.<random>.part, files/part-file.ts) with a journal and are promoted only after the
// SHA-256 matches; parts abandoned for partMaxAgeMs are swept (at start, then hourly). Rules (docs/reliability.md, threat model):
// - The server survives any datagram: the socket handler and every session sit behind a fault boundary; an
//   exception aborts one session (E_INTERNAL, a log line), never the process.
// - Admission: no state before a RETRY cookie proves the source address; every session created costs a token
//   of the per-source handshake limit; at most maxSessionsPerSource live sessions per address; INITIALs
//   shorter than MIN_INITIAL_DATAGRAM are ignored (the 3× amplification bound does not rest on the client).
// - Nothing is opened, created or written for a request until the client confirms its keys (the source or
//   sink is a factory the connection calls on the client's first AEAD-verified packet).
// - One writer per final name: a second PUT of a name being uploaded gets E_BUSY.
// - Migration (RFC 9000 §8.2/§9): an AEAD-verified packet from a new address triggers a PATH_CHALLENGE
//   there; the session follows only on the matching PATH_RESPONSE from that address, and until then keeps
//   sending to the validated one. Handshake-typed packets never move or refresh a session.
// - Peer-controlled text (names, CLOSE reasons) reaches the log through printable().
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { type BigIntStats, lstatSync, statSync } from 'node:fs';
import { type KeyPair, type ServerSecurity, toHex } from '../crypto/index.js';
import {
  codecFor,
  FileError,
  FileSource,
  negotiateCompression,
  PartFile,
  planListing,
  readJournal,
  renderListing,
  resolveInsideRoot,
  sweepAbandonedParts,
} from '../files/index.js';
import { createRng, type Rng } from '../impair/index.js';
import {
  CONNECTION_DEFAULTS,
  Connection,
  type ConnectionConfig,
  type ConnectionEvent,
  decodeHeader,
  decodeInitialEnvelope,
  headerTypeFor,
  type Initial,
  MemorySource,
  MIN_INITIAL_DATAGRAM,
  Op,
  openStateless,
  PacketType,
  printable,
  SOURCE_TAG_BYTES,
  sealStateless,
} from '../protocol/index.js';
import { formatHostPort } from './address.js';
import { AddressValidator, sourceKey } from './admission.js';
import { type Clock, monotonicMs } from './clock.js';
import { ConnectionDriver } from './driver.js';
import { probeSizesFor } from './path-mtu.js';
import { SharedAdmission, sharedAdmissionBuffer } from './shared-admission.js';
import { bindUdp, datagramSender, type RemoteInfo } from './udp-socket.js';

export interface ServeOptions {
  root: string;
  /** The server's static key pair; required unless `insecurePlaintext`. */
  identity?: KeyPair;
  psk?: Uint8Array;
  /** Teaching mode: sessions without encryption or authentication, for clients that ask for it too. */
  insecurePlaintext?: boolean;
  /** Sessions created per source address: burst, then per second (RETRYs and KEY RESPONSEs count too). */
  handshakeRate?: { burst: number; perSecond: number };
  host?: string;
  port?: number;
  maxSessions?: number;
  /** Active sessions (not closed or lingering) one source address may hold (default 16). */
  maxSessionsPerSource?: number;
  readOnly?: boolean;
  /** Refuse `--force` uploads: no client may replace a file (E_PERMISSION). */
  noOverwrite?: boolean;
  /** Resumable parts untouched for this long are removed (default 7 days; 0 keeps them forever). */
  partMaxAgeMs?: number;
  /** How often abandoned parts are swept (default hourly; workers: only the first sweeps). */
  partSweepEveryMs?: number;
  rng?: Rng;
  clock?: Clock;
  /**
   * The largest datagram the path-MTU search may try (`--max-datagram`): sizes above 1,472 are offered up to the
   * route's MTU to each client (path-mtu.ts), none above this. Ignored when `config.probeDatagramBytes` is given.
   */
  datagramCeiling?: number;
  /**
   * The probe list for a client address, instead of the route's (path-mtu.ts's probeSizesFor with datagramCeiling):
   * tests stand in for a route table with it.
   */
  probeSizes?: (address: string) => readonly number[];
  config?: Partial<Omit<ConnectionConfig, 'rng'>>;
  log?: (line: string) => void;
  /** Bind with SO_REUSEPORT, beside the other workers of `serveWorkers` (workers.ts). */
  reusePort?: boolean;
  /** The RETRY cookie key (32 bytes; random when absent): workers share one, so a cookie from one validates on all. */
  cookieSecret?: Uint8Array;
  /** The clock cookies are minted and checked with (workers: one time base for every thread). */
  cookieClock?: Clock;
  /** One writer per final name (default: this server's own set; workers: a lock shared by every thread). */
  nameLock?: NameLock;
  /**
   * A datagram for a connection ID this server does not hold: undefined when no other worker holds it either;
   * else 'forwarded' to that worker, or 'dropped' (`forward` false: not a DATA packet; or that worker's queue full).
   */
  elsewhere?: (
    key: string,
    data: Uint8Array,
    rinfo: RemoteInfo,
    forward: boolean,
  ) => 'forwarded' | 'dropped' | undefined;
  /**
   * The admission counts (shared-admission.ts: handshake buckets per source, active sessions per source, sessions
   * in all): the workers of one server share one buffer, so each limit holds for the whole server. Default: its own.
   */
  admission?: SharedArrayBuffer;
  /** Told of each session's outcome as it is recorded. */
  onRecord?: (l: SessionLog) => void;
  /** Told when a connection ID starts or stops being one of this server's sessions. */
  onSessionKey?: (key: string, held: boolean) => void;
}

/** Final names with an upload in progress. */
export interface NameLock {
  held(path: string): boolean;
  /** false when another upload holds it */
  take(path: string): boolean;
  release(path: string): void;
}

export interface ServerStats {
  /** live sessions */
  sessions: number;
  /** sessions created since the start */
  created: number;
  /** RETRY cookies sent */
  retries: number;
  /** datagrams handed to another worker (their session lives there) */
  forwardedOut: number;
  /** datagrams another worker handed to this one */
  forwardedIn: number;
  /** datagrams for another worker's session not handed over (not DATA, or that worker's queue was full) */
  forwardDropped: number;
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
  stats(): ServerStats;
  /** A datagram another worker received for one of this server's sessions. */
  deliver(data: Uint8Array, rinfo: RemoteInfo): void;
  readonly completed: SessionLog[];
  close(): Promise<void>;
}

/** A new address the session was heard from, being validated (RFC 9000 §8.2). */
interface PathProbe {
  addr: RemoteInfo;
  data: Uint8Array;
  sentMs: number;
  tries: number;
}

interface Session {
  key: string;
  driver: ConnectionDriver;
  part?: PartFile;
  /** The validated address: everything the session sends goes here. */
  peer: RemoteInfo;
  /** The address the session was created from (its per-source count). */
  source: string;
  /** Still counted among its source's active sessions (until its closed event or its end). */
  counted: boolean;
  probe?: PathProbe | undefined;
  cleanup: (ok: boolean, code?: string) => void;
}

/**
 * What a session that sent data sent, for the operator's log: a transfer that spent most of its packets below the
 * path's size (a path-MTU fallback after a stall) shows here, not in the client's figures.
 */
function sentSummary(c: Connection): string {
  if (!c.isDataSender) return '';
  const st = c.stats;
  return ` (sent ${st.bytesSent} bytes in ${st.packetsSent} packets, ${st.packetsRetransmitted} retransmitted; ${st.datagramBytes}-byte datagrams at the end; path-MTU probes ${st.pmtuProbes}, fallbacks ${st.pmtuFallbacks})`;
}

const OP_NAMES: Record<number, string> = { [Op.Get]: 'get', [Op.Put]: 'put', [Op.List]: 'ls' };
const PATH_PROBE_EVERY_MS = 250;
const MAX_SESSION_LOG = 10_000;
const PATH_PROBE_TRIES = 5;
const PROBE_SIZES_TTL_MS = 60_000;
const PROBE_SIZES_MAX = 1024;

// Every address compared here (cookies, per-source counts and limits, migration) is a `rinfo.address` of this
// one socket, so each peer has one spelling: on a dual-stack socket (`--host ::`) an IPv4 peer is always
// `::ffff:a.b.c.d`, on a udp4 socket always `a.b.c.d`. Replies go to rinfo as given (a udp6 socket needs the
// mapped form). Per-source limits count `sourceKey()` units: an IPv4 address or an IPv6 /64 (admission.ts).
function sameAddress(a: RemoteInfo, b: RemoteInfo): boolean {
  return a.port === b.port && a.address === b.address;
}

function errorMessage(err: unknown): string {
  return printable((err as Error)?.message ?? String(err), 300);
}

export async function serve(o: ServeOptions): Promise<RunningServer> {
  const root = o.root;
  statSync(root); // fail early with ENOENT
  const bound = await bindUdp(o.host ?? '0.0.0.0', o.port ?? 4455, undefined, { reusePort: o.reusePort ?? false });
  const { socket } = bound;
  // sessions' datagrams: a sealed DATA packet goes back to the pool once the kernel has it (peak RSS)
  const sendDatagram = datagramSender(socket);
  const clock = o.clock ?? monotonicMs;
  const rng = o.rng ?? createRng(randomBytes(4).readUInt32LE(0));
  const sessions = new Map<string, Session>();
  /** Final paths with an upload in progress: one writer per name. */
  const writers = o.nameLock ?? setLock();
  const stats = { created: 0, retries: 0, forwardedOut: 0, forwardedIn: 0, forwardDropped: 0 };
  /** The last MAX_SESSION_LOG sessions' outcomes (a long-running server must not grow without bound). */
  const completed: SessionLog[] = [];
  const record = (l: SessionLog) => {
    o.onRecord?.(l);
    completed.push(l);
    if (completed.length > MAX_SESSION_LOG) completed.splice(0, completed.length - MAX_SESSION_LOG);
  };
  const maxSessions = o.maxSessions ?? 64;
  const maxPerSource = o.maxSessionsPerSource ?? 16;
  const log = o.log ?? (() => {});
  if (!o.insecurePlaintext && !o.identity) throw new Error('serve: an identity is required unless insecurePlaintext');
  const serverSecurity: ServerSecurity = o.insecurePlaintext
    ? { allowPlaintext: true, ephemeral: () => randomBytes(32) }
    : {
        staticPrivateKey: o.identity!.privateKey,
        staticPublicKey: o.identity!.publicKey,
        ...(o.psk && { psk: o.psk }),
        allowPlaintext: false,
        ephemeral: () => randomBytes(32),
      };
  const cookies = new AddressValidator(o.cookieSecret);
  const cookieClock = o.cookieClock ?? clock;
  // per source and in all, for this whole server (every worker); its time base is the cookies' (one for all threads)
  const admission = new SharedAdmission(
    o.admission ?? sharedAdmissionBuffer(),
    o.handshakeRate?.burst ?? 50,
    o.handshakeRate?.perSecond ?? 20,
  );
  const inactive = (s: Session) => {
    if (!s.counted) return;
    s.counted = false;
    admission.inactive(s.source);
  };
  const who = (r: RemoteInfo) => formatHostPort(r.address, r.port);
  // the probe sizes per client address, from the route's MTU to it (path-mtu.ts: a few small /proc and /sys reads
  // per new session, remembered for PROBE_SIZES_TTL_MS; the map is emptied when it holds PROBE_SIZES_MAX addresses)
  const probeSizes = new Map<string, { sizes: readonly number[]; at: number }>();
  const probesFor = (address: string): readonly number[] => {
    const now = clock();
    const known = probeSizes.get(address);
    if (known && now - known.at < PROBE_SIZES_TTL_MS) return known.sizes;
    if (probeSizes.size >= PROBE_SIZES_MAX) probeSizes.clear();
    const sizes =
      o.probeSizes?.(address) ?? probeSizesFor(address, CONNECTION_DEFAULTS.probeDatagramBytes, o.datagramCeiling);
    probeSizes.set(address, { sizes, at: now });
    return sizes;
  };

  const handleRequest = (s: Session, req: Initial) => {
    const c = s.driver.conn;
    const now = clock();
    const what = OP_NAMES[req.op] ?? '?';
    const name = JSON.stringify(printable(req.path));
    try {
      if (req.op === Op.Get) {
        const path = resolveInsideRoot(root, req.path);
        // the size for the ACCEPT; the file is opened only once the client has confirmed its keys
        const st = statOrThrow(path);
        const sizeBytes = st.size;
        // a resume continues only the very version its ranges came from (same size is not enough: #12)
        const honoured =
          req.resume && req.sizeBytes === sizeBytes && req.sourceTag && sameBytes(req.sourceTag, st.tag)
            ? req.ranges
            : [];
        let src: FileSource | undefined;
        c.accept(now, {
          sizeBytes,
          ranges: honoured,
          compression: negotiateCompression(req.compression),
          sourceTag: st.tag,
          source: () => {
            src = new FileSource(path, { root });
            if (src.sizeBytes !== sizeBytes)
              throw new FileError(
                'E_IO',
                `${req.path} changed size since the request (${sizeBytes} → ${src.sizeBytes})`,
              );
            return src;
          },
        });
        s.cleanup = (ok, code) => {
          src?.close();
          record({ op: what, path: req.path, ok, ...(code && { code }), bytes: sizeBytes });
        };
      } else if (req.op === Op.Put) {
        if (o.readOnly) throw new FileError('E_PERMISSION', 'this server is read-only (--read-only)');
        if (o.noOverwrite && req.force)
          throw new FileError('E_PERMISSION', 'this server does not replace files (--no-overwrite)');
        const path = resolveInsideRoot(root, req.path);
        if (writers.held(path)) throw new FileError('E_BUSY', `an upload of ${req.path} is in progress`);
        if (!req.force) {
          let exists = false;
          try {
            lstatSync(path); // a dangling symlink at NAME is there too
            exists = true;
          } catch {
            /* absent: the usual case */
          }
          if (exists) throw new FileError('E_EXISTS', `${path} already exists (use --force to overwrite)`);
        }
        // what a resumed upload already holds, read without touching anything
        const held = req.resume ? readJournal(path, req.sizeBytes) : [];
        let part: PartFile | undefined;
        // the name is taken when the client is confirmed, not at ACCEPT: a replayed INITIAL must not lock it
        let owner = false;
        c.accept(now, {
          sizeBytes: req.sizeBytes,
          ranges: held,
          compression: negotiateCompression(req.compression),
          sink: () => {
            if (!writers.take(path)) throw new FileError('E_BUSY', `an upload of ${req.path} is in progress`);
            owner = true;
            part = new PartFile(
              path,
              { sizeBytes: req.sizeBytes, resume: held.length > 0, force: req.force, root },
              () => c.receivedRanges(),
            );
            s.part = part;
            if (!sameRanges(part.initialRanges, held)) {
              part.suspend();
              throw new FileError('E_IO', `the partial upload of ${req.path} changed since the request`);
            }
            return part;
          },
        });
        s.cleanup = (ok, code) => {
          if (owner) writers.release(path);
          if (part && !ok && code === 'E_INTEGRITY') part.discard();
          else if (part && !ok) part.suspend();
          record({ op: what, path: req.path, ok, ...(code && { code }), bytes: req.sizeBytes });
        };
      } else {
        const dir = resolveInsideRoot(root, req.path || '.', { allowRoot: true, allowTempNames: true });
        // names only now (bounded, no stat); each is stat()ed once the client is confirmed (files/list.ts)
        const plan = planListing(dir);
        c.accept(now, { sizeBytes: plan.sizeBytes, source: () => new MemorySource(renderListing(plan, root)) });
        s.cleanup = (ok, code) =>
          record({ op: what, path: req.path, ok, ...(code && { code }), bytes: plan.sizeBytes });
      }
      log(`${what} ${name} from ${who(s.peer)}: accepted`);
    } catch (err) {
      const code = (err as { code?: string }).code ?? 'E_IO';
      const message = errorMessage(err);
      const stable = /^E_[A-Z_]+$/.test(code) ? code : 'E_IO';
      // tell the client what about its own name, never the server's paths
      const told: Record<string, string> = {
        E_NOT_FOUND: `no such file on the server: ${req.path}`,
        E_PERMISSION:
          req.op === Op.Put && o.readOnly
            ? 'this server is read-only'
            : req.op === Op.Put && o.noOverwrite && req.force
              ? 'this server does not replace files (--no-overwrite)'
              : `permission denied: ${req.path}`,
        E_EXISTS: `${req.path} already exists on the server (use --force to overwrite)`,
        E_DISK_FULL: 'the server’s disk is full',
        E_BUSY: `an upload of ${req.path} is in progress on the server`,
      };
      c.reject(now, stable, told[stable] ?? (stable === 'E_PATH_OUTSIDE_ROOT' ? message : 'server I/O error'));
      log(`${what} ${name} from ${who(s.peer)}: refused ${stable} (${message})`);
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
              log(`promote failed: ${errorMessage(err)}`);
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
      const cleanup = s.cleanup;
      s.cleanup = () => {};
      cleanup(e.ok, e.code);
      log(`session closed: ${e.ok ? 'ok' : `${e.code} ${printable(e.message ?? '')}`}${sentSummary(c)}`);
    }
  };

  /** The session the last datagram of a held session was for. */
  let recent: Session | undefined;
  const forget = (s: Session) => {
    if (recent === s) recent = undefined;
    if (sessions.get(s.key) === s) {
      sessions.delete(s.key);
      inactive(s);
      admission.ended();
      o.onSessionKey?.(s.key, false);
    }
  };

  /** A datagram of an existing session: input, then path validation for an address it was not sent to. */
  const onSessionDatagram = (s: Session, data: Uint8Array, rinfo: RemoteInfo) => {
    const conn = s.driver.conn;
    const before = conn.packetsAccepted;
    s.driver.input(data, true); // a datagram of its own (dgram's, or a copy from another worker): read by nothing after
    const responses = conn.takePathResponses();
    if (conn.packetsAccepted === before || sameAddress(rinfo, s.peer)) return;
    const now = clock();
    const p = s.probe;
    if (p && sameAddress(p.addr, rinfo) && responses.some((r) => r.length === 8 && timingSafeEqual(r, p.data))) {
      log(`session moved ${who(s.peer)} → ${who(rinfo)} (path validated)`);
      // another address is another route: the sizes the old one carried are not known to fit (RFC 9000 §9.4)
      if (!o.config?.probeDatagramBytes && rinfo.address !== s.peer.address) conn.pathChanged(probesFor(rinfo.address));
      s.peer = rinfo;
      s.probe = undefined;
      return;
    }
    if (p && sameAddress(p.addr, rinfo) && (now < p.sentMs + PATH_PROBE_EVERY_MS || p.tries >= PATH_PROBE_TRIES))
      return;
    const probe: PathProbe =
      p && sameAddress(p.addr, rinfo) ? p : { addr: rinfo, data: randomBytes(8), sentMs: now, tries: 0 };
    const challenge = conn.pathChallenge(probe.data);
    if (!challenge) return;
    probe.sentMs = now;
    probe.tries++;
    s.probe = probe;
    socket.send(challenge, rinfo.port, rinfo.address);
  };

  const onDatagram = (msg: Buffer, rinfo: RemoteInfo) => {
    // source port 0 cannot be answered (a forged datagram; Node's send() throws for it): drop unread
    if (rinfo.port === 0) return;
    const data = new Uint8Array(msg.buffer, msg.byteOffset, msg.byteLength);
    // the session of the datagram before (nearly always, mid-transfer): its ID compared in place, no decoding,
    // no hex key, no map lookup (the same session the map would give: `recent` is forgotten with it)
    if (recent && headerTypeFor(data, recent.driver.conn.connectionId) !== 0) {
      onSessionDatagram(recent, data, rinfo);
      return;
    }
    const h = decodeHeader(data);
    if (!h.ok) return;
    const key = toHex(h.value.connectionId); // a view of the datagram's bytes, no copy
    const existing = sessions.get(key);
    if (existing) {
      recent = existing;
      onSessionDatagram(existing, data, rinfo);
      return;
    }
    // a session of another worker (the client moved, and the kernel's 4-tuple hash sent it here): only DATA is
    // handed over (handshake-typed packets never move or refresh a session; an INITIAL must not start a second
    // session under that ID here), and only while that worker's queue has room
    const there = o.elsewhere?.(key, data, rinfo, h.value.type === PacketType.Data);
    if (there === 'forwarded') stats.forwardedOut++;
    if (there === 'dropped') stats.forwardDropped++;
    if (there) return;
    if (h.value.type === PacketType.KeyRequest) {
      // trust on first use: the public key, no state; the request is padded to be larger than this answer
      if (o.identity && data.length >= 64 && admission.allow(sourceKey(rinfo.address), cookieClock())) {
        socket.send(
          sealStateless(PacketType.KeyResponse, h.value.connectionId, o.identity.publicKey),
          rinfo.port,
          rinfo.address,
        );
      }
      return;
    }
    // an INITIAL is padded by the client: whatever the server answers stays within 3× of it
    if (h.value.type !== PacketType.Initial || data.length < MIN_INITIAL_DATAGRAM) return;
    const opened = openStateless(data);
    const env = opened && decodeInitialEnvelope(opened.payload);
    if (!env?.ok) return;
    // no state before the client proves its address: a stateless cookie round trip (RETRY) first
    if (!cookies.valid(env.value.token, rinfo, h.value.connectionId, cookieClock())) {
      if (admission.allow(sourceKey(rinfo.address), cookieClock())) {
        stats.retries++;
        socket.send(
          sealStateless(
            PacketType.Retry,
            h.value.connectionId,
            cookies.token(rinfo, h.value.connectionId, cookieClock()),
          ),
          rinfo.port,
          rinfo.address,
        );
      }
      return;
    }
    const source = sourceKey(rinfo.address);
    // far past a cap (the whole server's: every worker counts here): not even a REJECT. Each session created (a
    // full Noise read, then state) costs a token: a cookie buys no free handshakes
    const admitted = admission.admit(source, cookieClock(), maxSessions * 4, maxPerSource * 2);
    if (!admitted) return;
    let conn: Connection | undefined;
    try {
      conn = Connection.server(
        { codecFor, probeDatagramBytes: probesFor(rinfo.address), ...o.config, rng, serverSecurity },
        clock(),
        data,
      );
    } finally {
      // no session made (a failed Noise read, or a throw for the fault boundary): its place is given back
      if (!conn) {
        admission.inactive(source);
        admission.ended();
      }
    }
    if (!conn) return;
    const { total, from: fromCount } = admitted;
    const s: Session = {
      key,
      peer: rinfo,
      source,
      counted: true,
      cleanup: () => {},
      driver: undefined as unknown as ConnectionDriver,
    };
    s.driver = new ConnectionDriver(
      conn,
      (d) => sendDatagram(d, s.peer.port, s.peer.address),
      (e) => {
        if (e.type === 'closed') inactive(s); // lingering or closed: no longer one of its source's active sessions
        if (e.type === 'request' && total > maxSessions) {
          conn.reject(clock(), 'E_BUSY', `server busy: ${maxSessions} sessions already`);
          return;
        }
        if (e.type === 'request' && fromCount >= maxPerSource) {
          conn.reject(clock(), 'E_BUSY', `server busy: ${maxPerSource} sessions from ${source} already`);
          return;
        }
        onEvent(s, e);
      },
      clock,
      () => {
        const cleanup = s.cleanup;
        s.cleanup = () => {};
        cleanup(false, 'E_ABORTED');
        forget(s);
      },
      (err) => log(`session from ${who(s.peer)} aborted: internal error: ${errorMessage(err)}`),
    );
    sessions.set(key, s);
    stats.created++;
    o.onSessionKey?.(key, true);
    s.driver.pump();
  };

  socket.on('message', (msg, rinfo) => {
    // the outermost fault boundary: whatever one datagram does, the server goes on
    try {
      onDatagram(msg, rinfo);
    } catch (err) {
      log(`internal error on a datagram from ${who(rinfo)}: ${errorMessage(err)}`);
    }
  });
  socket.on('error', (err) => log(`socket error: ${err.message}`));

  // parts nobody resumed for partMaxAgeMs: removed at start and hourly (a sweep is a bounded walk)
  const partMaxAgeMs = o.partMaxAgeMs ?? 7 * 24 * 3600_000;
  const sweep = () => {
    try {
      // uploads live on other workers hold the shared name lock, keyed as the sweep names them (real root + names)
      const r = sweepAbandonedParts(root, partMaxAgeMs, Date.now(), { isLive: (final) => writers.held(final) });
      if (r.removed.length > 0)
        log(`removed ${r.removed.length} abandoned partial upload file(s) older than ${partMaxAgeMs / 3600_000} h`);
    } catch (err) {
      log(`sweeping abandoned parts failed: ${errorMessage(err)}`);
    }
  };
  const sweepTimer = partMaxAgeMs > 0 ? setInterval(sweep, o.partSweepEveryMs ?? 3600_000).unref() : undefined;
  if (partMaxAgeMs > 0) sweep();

  return {
    port: bound.port,
    address: bound.address,
    warnings: bound.warnings,
    sessions: () => sessions.size,
    stats: () => ({ sessions: sessions.size, ...stats }),
    deliver: (data, rinfo) => {
      const s = sessions.get(toHex(decodeHeaderCid(data)));
      if (!s) return;
      stats.forwardedIn++;
      try {
        onSessionDatagram(s, data, rinfo);
      } catch (err) {
        log(`internal error on a datagram from ${who(rinfo)}: ${errorMessage(err)}`);
      }
    },
    completed,
    close: async () => {
      if (sweepTimer) clearInterval(sweepTimer);
      for (const s of [...sessions.values()]) {
        s.driver.stop();
        const cleanup = s.cleanup;
        s.cleanup = () => {};
        cleanup(false, 'E_ABORTED');
        forget(s);
      }
      await new Promise<void>((ok) => socket.close(() => ok()));
    },
  };
}

/**
 * stat for a GET: a regular file, or E_NOT_FOUND (directories, FIFOs, devices are not served), with its version
 * tag: SHA-256(device, inode, size, mtime in ns), 8 bytes — what a later resume must name to keep its ranges.
 */
function statOrThrow(path: string): { size: number; tag: Uint8Array } {
  let st: BigIntStats;
  try {
    st = statSync(path, { bigint: true });
  } catch (e) {
    throw new FileError('E_NOT_FOUND', `no such file: ${path}`, { cause: e });
  }
  if (!st.isFile()) throw new FileError('E_NOT_FOUND', `not a regular file: ${path}`);
  const tag = createHash('sha256').update(`${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}`).digest();
  return { size: Number(st.size), tag: new Uint8Array(tag.subarray(0, SOURCE_TAG_BYTES)) };
}

function setLock(): NameLock {
  const names = new Set<string>();
  return {
    held: (p) => names.has(p),
    take: (p) => !names.has(p) && Boolean(names.add(p)),
    release: (p) => void names.delete(p),
  };
}

function decodeHeaderCid(data: Uint8Array): Uint8Array {
  const h = decodeHeader(data);
  return h.ok ? h.value.connectionId : new Uint8Array(0);
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

function sameRanges(a: readonly (readonly [number, number])[], b: readonly (readonly [number, number])[]): boolean {
  return a.length === b.length && a.every((r, i) => r[0] === b[i]![0] && r[1] === b[i]![1]);
}
