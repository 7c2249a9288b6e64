// `udplab get / put / ls` as functions: resolve the host once, bind an ephemeral UDP socket, run one
// connection to its end, and return the figures the lab consumes (or throw an error with a stable code).
// GET writes a part of its own (NAME.<random>.part, 0600) + journal and promotes only after the SHA-256 matches
// (the file then gets 0666 & ~umask); an interrupted GET keeps the part and journal for --resume; a mismatch
// removes them. Nothing is ever half-written under NAME.
// Rules: the connection ID is 8 bytes from the OS; datagrams from anywhere but the server's address:port are
// dropped; an exception while handling one ends this transfer with E_INTERNAL, never the process.
import { createHash, randomBytes } from 'node:crypto';
import { lookup } from 'node:dns/promises';
import { existsSync } from 'node:fs';
import { dirname, resolve as resolvePath } from 'node:path';
import { type CipherName, type ClientSecurity, fingerprint } from '../crypto/index.js';
import {
  type CompressionName,
  codecFor,
  compressionFromName,
  compressionName,
  FileError,
  FileSource,
  PartFile,
  readJournalInfo,
} from '../files/index.js';
import { copyBytes, createRng, type Rng } from '../impair/index.js';
import {
  CONNECTION_DEFAULTS,
  Connection,
  type ConnectionConfig,
  type DataSink,
  MAX_PATH_BYTES,
  MAX_RANGES_IN_HANDSHAKE,
  MemorySink,
  Op,
  openStateless,
  PacketType,
  type Range,
  sealStateless,
} from '../protocol/index.js';
import { canonicalAddress, formatHostPort, wildcardFor } from './address.js';
import { type Clock, monotonicMs } from './clock.js';
import { ConnectionDriver } from './driver.js';
import { TransportError } from './errors.js';
import { defaultKnownHostsPath, KnownHosts } from './identity.js';
import { probeSizesFor } from './path-mtu.js';
import { type BoundSocket, bindUdp, datagramSender } from './udp-socket.js';

export interface Progress {
  bytesDone: number;
  bytesTotal: number;
  elapsedMs: number;
  retransmitPct: number;
}

export interface ClientOptions {
  host: string;
  port: number;
  /** Teaching mode: no encryption, no authentication (the server must be in the same mode). */
  insecurePlaintext?: boolean;
  /** The server's public key, pinned explicitly (else known_hosts decides). */
  serverKey?: Uint8Array;
  /** Trust and pin a server key not yet in known_hosts (under the host as typed and under its address). */
  acceptNew?: boolean;
  knownHostsPath?: string;
  psk?: Uint8Array;
  cipher?: CipherName;
  compress?: CompressionName;
  resume?: boolean;
  force?: boolean;
  /** The data sender (the server for a GET, this client for a PUT) uses the background (LEDBAT) controller. */
  background?: boolean;
  rng?: Rng;
  clock?: Clock;
  /**
   * The largest datagram the path-MTU search may try (`--max-datagram`): sizes above 1,472 are offered up to the
   * route's MTU to the server (path-mtu.ts), none above this. Ignored when `config.probeDatagramBytes` is given.
   */
  datagramCeiling?: number;
  config?: Partial<Omit<ConnectionConfig, 'rng'>>;
  onProgress?: (p: Progress) => void;
  onWarning?: (w: string) => void;
  /** Security decisions the user must see whatever the verbosity (a key just pinned); default: onWarning. */
  onSecurityNotice?: (line: string) => void;
  signal?: AbortSignal;
}

/** The final object of `--json` (the lab reads exactly this). */
export interface TransferResult {
  op: 'get' | 'put' | 'ls';
  remote: string;
  local: string;
  bytes: number;
  /** From the first handshake packet to the end (the key fetch before it is key_fetch_ms). */
  duration_ms: number;
  /**
   * Getting the server's key before the handshake: a KEY_REQUEST round trip (retried) when the key is not pinned,
   * about 0 when it is or in plaintext. The user waits for it too: the lab times duration_ms + key_fetch_ms.
   */
  key_fetch_ms?: number;
  goodput_bps: number;
  /** Data packets of the data sender (the server for get), and how many carried retransmitted data. */
  packets_sent: number;
  packets_retransmitted: number;
  packets_received: number;
  packets_lost: number;
  /** The datagram size the data went in at the end (after path-MTU probing; the sender's or, received, the largest). */
  datagram_bytes: number;
  rtt_ms_min: number;
  rtt_ms_avg: number;
  rtt_ms_p99: number;
  sha256: string;
  compression: string;
  compression_ratio: number;
  resumed_bytes: number;
  security: string;
  /**
   * This side's record over time (empty for ls). get: the bytes held about every 100 ms of the client's own
   * clock (complete), plus the server's STATS samples where they arrived (the entries with rtt_ms …). put: the
   * client's own sample at each STATS it sent (every entry has the sender fields; bytes = bytes acknowledged).
   */
  timeline: TimelineEntry[];
  /**
   * The wall-clock time (Date.now(), ms) at which duration_ms and the timeline's t_ms start: the lab lines up the
   * timelines of flows that ran at once (processes on one machine or one kernel share this clock).
   */
  started_epoch_ms?: number;
}

/** A point of a transfer's timeline; the sender fields are present where a sample of the sender exists. */
export interface TimelineEntry {
  t_ms: number;
  bytes: number;
  rtt_ms?: number;
  pacing_mbit?: number;
  sent?: number;
  lost?: number;
  retransmitted?: number;
}

/**
 * The address to send to: IPv4 or IPv6, the first the OS lists (getaddrinfo's order, as Node ≥ 17 keeps it),
 * resolved once; no other address is tried. Returned in canonical form (`0:0::1` → `::1`), the form a reply's
 * source address has, so the source check compares like with like.
 */
export async function resolveHost(host: string, family?: 4 | 6): Promise<string> {
  return (await resolveAll(host, family))[0]!;
}

/** Every address `host` resolves to (of `family` alone if given), the OS's order, canonical; E_UNKNOWN_HOST when none. */
async function resolveAll(host: string, family?: 4 | 6): Promise<string[]> {
  let found: Array<{ address: string }>;
  try {
    found = await lookup(host, { all: true, ...(family && { family }) });
  } catch (err) {
    throw new TransportError('E_UNKNOWN_HOST', `unknown host "${host}" (DNS lookup failed)`, { cause: err });
  }
  if (found.length === 0) throw new TransportError('E_UNKNOWN_HOST', `unknown host "${host}" (no address)`);
  return [...new Set(found.map((a) => canonicalAddress(a.address)))];
}

/** `host:port (address)` for messages, with a hint when the name has addresses of the other family. */
function where(o: ClientOptions, address: string, others: string[]): string {
  const at = formatHostPort(o.host, o.port);
  const other = others.find((a) => a.includes(':') !== address.includes(':'));
  const hint = other ? `; ${o.host} also resolves to ${other}: try ${formatHostPort(other, o.port)}` : '';
  return `${at} (${address}${hint})`;
}

interface RunSpec {
  op: Op;
  remote: string;
  /** PUT: the file size; GET with resume: the size of the partial download's original. */
  sizeBytes: number;
  ranges: Range[];
  /** GET with resume: the server's version tag of the file the ranges came from. */
  sourceTag?: Uint8Array;
  /** Ask the receiver to continue from what it holds (PUT: the server's journal). */
  resume?: boolean;
  sink?: DataSink;
  source?: FileSource;
  onAccepted?: (conn: Connection, sizeBytes: number, ranges: Range[], sourceTag: Uint8Array) => void;
  verify?: (expectedHex: string) => Promise<'ok' | 'mismatch' | 'io'>;
  onEnd?: (ok: boolean, code?: string) => void;
}

interface RunEnd {
  conn: Connection;
  elapsedMs: number;
  /** Getting the server's key before the handshake (not in elapsedMs). */
  keyFetchMs: number;
  compression: string;
  acceptedRanges: Range[];
  /** Date.now() when `started` was taken. */
  startedEpochMs: number;
}

async function run(o: ClientOptions, spec: RunSpec): Promise<RunEnd> {
  if (Buffer.byteLength(spec.remote) > MAX_PATH_BYTES) {
    throw new FileError(
      'E_PATH_OUTSIDE_ROOT',
      `remote name too long: ${Buffer.byteLength(spec.remote)} bytes (at most ${MAX_PATH_BYTES})`,
    );
  }
  const addresses = await resolveAll(o.host);
  const address = addresses[0]!;
  const bound = await bindUdp(wildcardFor(address), 0);
  for (const w of bound.warnings) o.onWarning?.(w);
  const clock = o.clock ?? monotonicMs;
  const keyStarted = clock();
  let clientSecurity: ClientSecurity;
  try {
    clientSecurity = o.insecurePlaintext
      ? { mode: 'plaintext' }
      : {
          mode: 'noise',
          serverPublicKey: await resolveServerKey(o, bound, address, addresses, clock),
          ephemeral: randomBytes(32),
          ...(o.psk && { psk: o.psk }),
          ...(o.cipher && { cipher: o.cipher }),
        };
  } catch (e) {
    bound.socket.close();
    throw e;
  }
  // the connection ID names the session to the server and is bound into the handshake: 64 bits from the OS
  const rng = o.rng ?? createRng(randomBytes(4).readUInt32LE(0));
  const started = clock();
  const startedEpochMs = Date.now();
  const keyFetchMs = started - keyStarted;
  // the socket is open: anything that throws before the driver owns it (a bad UDPLAB_CRYPTO, a codec) closes it
  let conn: Connection;
  try {
    // sizes above 1,472 only as far as the route to the server carries them unfragmented (path-mtu.ts)
    const probeDatagramBytes = probeSizesFor(address, CONNECTION_DEFAULTS.probeDatagramBytes, o.datagramCeiling);
    conn = Connection.client(
      {
        codecFor,
        connectionId: o.rng ? o.rng.bytes(8) : randomBytes(8),
        probeDatagramBytes,
        ...o.config,
        rng,
        clientSecurity,
      },
      started,
      {
        op: spec.op,
        resume: spec.resume ?? spec.ranges.length > 0,
        force: o.force ?? false,
        ...(o.background && { background: true }),
        compression: compressionFromName(o.compress ?? 'off'),
        path: spec.remote,
        sizeBytes: spec.sizeBytes,
        ranges: spec.ranges,
        ...(spec.sourceTag && { sourceTag: spec.sourceTag }),
      },
      { ...(spec.sink && { sink: spec.sink }), ...(spec.source && { source: spec.source }) },
    );
  } catch (e) {
    bound.socket.close();
    throw e;
  }
  let compression = 'off';
  let acceptedRanges: Range[] = [];
  // a sealed DATA packet (an upload's) goes back to the pool once the kernel has it
  const sendDatagram = datagramSender(bound.socket);
  return new Promise((resolve, reject) => {
    let progressTimer: NodeJS.Timeout | undefined;
    let settled = false;
    const finish = (err?: Error) => {
      if (settled) return;
      settled = true;
      driver.stop();
      if (progressTimer) clearInterval(progressTimer);
      o.signal?.removeEventListener('abort', onAbort);
      bound.socket.close();
      if (err) reject(err);
      else resolve({ conn, elapsedMs: clock() - started, keyFetchMs, compression, acceptedRanges, startedEpochMs });
    };
    const driver = new ConnectionDriver(
      conn,
      (d) => sendDatagram(d, o.port, address),
      (e) => {
        if (e.type === 'accepted') {
          compression = compressionName(e.compression);
          acceptedRanges = e.ranges;
          spec.onAccepted?.(conn, e.sizeBytes, e.ranges, e.sourceTag);
        } else if (e.type === 'verify') {
          const expected = Buffer.from(e.sha256).toString('hex');
          (spec.verify?.(expected) ?? Promise.resolve('io' as const)).then(
            (r) => {
              conn.verified(clock(), r === 'ok', r === 'io');
              driver.pump();
            },
            () => {
              conn.verified(clock(), false, true);
              driver.pump();
            },
          );
        } else if (e.type === 'closed') {
          spec.onEnd?.(e.ok, e.code);
          if (e.ok) return finish();
          let message = e.message ?? 'transfer failed';
          if (e.code === 'E_UNREACHABLE') message = `${where(o, address, addresses)}: ${message}`;
          finish(new TransportError(e.code ?? 'E_PROTOCOL', message));
        }
      },
      clock,
      undefined,
      (err) => {
        // the fault boundary fired: the connection is closed (E_INTERNAL); make sure the caller hears of it
        finish(new TransportError('E_INTERNAL', `internal error: ${(err as Error)?.message ?? String(err)}`));
      },
    );
    const onAbort = () => {
      conn.abort(clock(), 'E_ABORTED', 'interrupted');
      driver.pump();
    };
    o.signal?.addEventListener('abort', onAbort, { once: true });
    bound.socket.on('message', (msg, rinfo) => {
      // only the server speaks in this session: anything else is dropped unread
      if (rinfo.port !== o.port || rinfo.address !== address) return;
      driver.input(new Uint8Array(msg.buffer, msg.byteOffset, msg.byteLength), true); // dgram's own, per datagram
    });
    bound.socket.on('error', (err) => finish(new TransportError('E_IO', `socket error: ${err.message}`)));
    if (o.onProgress) {
      progressTimer = setInterval(() => {
        const s = conn.stats;
        o.onProgress?.({
          bytesDone: conn.isDataSender ? (conn.sender?.acked.size ?? 0) : (conn.receiver?.data.size ?? 0),
          bytesTotal: conn.isDataSender ? (conn.sender?.sizeBytes ?? 0) : (conn.receiver?.sizeBytes ?? 0),
          elapsedMs: clock() - started,
          retransmitPct: s.packetsSent ? (100 * s.packetsRetransmitted) / s.packetsSent : 0,
        });
      }, 200);
    }
    driver.pump();
  });
}

/** Asks the server for its public key (stateless KEY REQUEST, retried), for pinning or comparison. */
async function fetchServerKey(
  o: ClientOptions,
  bound: BoundSocket,
  address: string,
  addresses: string[],
  clock: Clock,
): Promise<Uint8Array> {
  const cid = randomBytes(8);
  const request = sealStateless(PacketType.KeyRequest, cid, new Uint8Array(96)); // larger than the answer
  const timeoutMs = o.config?.handshakeTimeoutMs ?? 10_000;
  const started = clock();
  return new Promise((resolve, reject) => {
    let attempts = 0;
    let timer: NodeJS.Timeout | undefined;
    const onMsg = (msg: Buffer) => {
      const p = openStateless(new Uint8Array(msg.buffer, msg.byteOffset, msg.byteLength));
      if (
        p?.type === PacketType.KeyResponse &&
        Buffer.compare(Buffer.from(p.connectionId), cid) === 0 &&
        p.payload.length === 32
      ) {
        done();
        resolve(copyBytes(p.payload));
      }
    };
    const done = () => {
      if (timer) clearTimeout(timer);
      bound.socket.off('message', onMsg);
    };
    const send = () => {
      if (clock() - started >= timeoutMs) {
        done();
        reject(
          new TransportError(
            'E_UNREACHABLE',
            `${where(o, address, addresses)}: no answer from the server after ${attempts} attempts over ${((clock() - started) / 1000).toFixed(1)} s`,
          ),
        );
        return;
      }
      attempts++;
      bound.socket.send(request, o.port, address);
      timer = setTimeout(send, Math.min(250 * 2 ** attempts, 2000, Math.max(1, timeoutMs - (clock() - started))));
    };
    bound.socket.on('message', onMsg);
    send();
  });
}

/**
 * The key to pin: --server-key, else known_hosts compared with what the server offers, else --accept-new.
 * One server has several spellings (`127.1`, `localhost`, `127.0.0.1`): known_hosts is consulted under the host
 * as typed (lowercased) and under the address it resolved to, both `host:port`; a pin that differs under either
 * is E_KEY_CHANGED, a pin under one is enough to trust, and --accept-new pins whichever is missing.
 */
async function resolveServerKey(
  o: ClientOptions,
  bound: BoundSocket,
  address: string,
  addresses: string[],
  clock: Clock,
): Promise<Uint8Array> {
  if (o.serverKey) return o.serverKey;
  const kh = new KnownHosts(o.knownHostsPath ?? defaultKnownHostsPath());
  const hostPort = formatHostPort(o.host, o.port);
  const names = [...new Set([formatHostPort(o.host.toLowerCase(), o.port), formatHostPort(address, o.port)])];
  const offered = await fetchServerKey(o, bound, address, addresses, clock);
  const missing: string[] = [];
  for (const name of names) {
    const pinned = kh.get(name);
    if (!pinned) missing.push(name);
    else if (Buffer.compare(Buffer.from(pinned), Buffer.from(offered)) !== 0) {
      const via = name === hostPort ? '' : ` (pinned as ${name})`;
      throw new TransportError(
        'E_KEY_CHANGED',
        `server key changed — possible man-in-the-middle: ${hostPort}${via} now offers ${fingerprint(offered)}, ${kh.path} pins ${fingerprint(pinned)}; nothing was transferred`,
      );
    }
  }
  if (missing.length === names.length && !o.acceptNew) {
    const at = address === o.host ? '' : ` (${address})`;
    throw new TransportError(
      'E_UNKNOWN_KEY',
      `${hostPort}${at} offers key ${fingerprint(offered)}, which ${kh.path} does not know: check it, then re-run with --accept-new (or pass --server-key)`,
    );
  }
  if (o.acceptNew) {
    const notice = o.onSecurityNotice ?? o.onWarning;
    for (const name of missing) {
      kh.add(name, offered);
      notice?.(`pinned ${name} ${fingerprint(offered)} in ${kh.path}`);
    }
  }
  return offered;
}

function toResult(
  op: TransferResult['op'],
  remote: string,
  local: string,
  bytes: number,
  sha: string,
  end: RunEnd,
): TransferResult {
  const s = end.conn.stats;
  const resumed = end.acceptedRanges.reduce((n, [a, b]) => n + (b - a), 0);
  const r3 = (v: number) => Math.round(v * 1000) / 1000;
  return {
    op,
    remote,
    local,
    bytes,
    duration_ms: r3(end.elapsedMs),
    key_fetch_ms: r3(end.keyFetchMs),
    goodput_bps: end.elapsedMs > 0 ? Math.round(((bytes - resumed) * 8 * 1000) / end.elapsedMs) : 0,
    packets_sent: end.conn.isDataSender ? s.packetsSent : s.peerPacketsSent,
    packets_retransmitted: s.packetsRetransmitted,
    packets_received: s.packetsReceived,
    packets_lost: s.packetsLost,
    datagram_bytes: s.datagramBytes,
    rtt_ms_min: r3(s.rttMsMin),
    rtt_ms_avg: r3(s.rttMsAvg),
    rtt_ms_p99: r3(s.rttMsP99),
    sha256: sha,
    compression: end.compression,
    compression_ratio: r3(s.compressionRatio),
    resumed_bytes: resumed,
    security: end.conn.security,
    timeline: end.conn.timeline().map(
      (t): TimelineEntry => ({
        t_ms: Math.round(t.tMs),
        bytes: t.bytesReceived,
        ...(t.rttUs !== undefined && {
          rtt_ms: r3(t.rttUs / 1000),
          pacing_mbit: r3((t.pacingKbit ?? 0) / 1000),
          sent: t.packetsSent ?? 0,
          lost: t.packetsLost ?? 0,
          retransmitted: t.packetsRetransmitted ?? 0,
        }),
      }),
    ),
    started_epoch_ms: Math.round(end.startedEpochMs),
  };
}

/** Downloads REMOTE into LOCAL: NAME.part + journal, promoted after the SHA-256 matches. */
export async function get(o: ClientOptions, remote: string, local: string): Promise<TransferResult> {
  if (!o.force && existsSync(local))
    throw new FileError('E_EXISTS', `${local} already exists (use --force to overwrite)`);
  // before any packet: the download's directory must exist (else the part file fails after the handshake)
  if (!existsSync(dirname(resolvePath(local))))
    throw new FileError('E_NOT_FOUND', `no such directory for ${local}: ${dirname(resolvePath(local))}`);
  const journal = o.resume ? readJournalInfo(local) : undefined;
  let part: PartFile | undefined;
  let sizeBytes = 0;
  let sha = '';
  const sink: DataSink = {
    write: (off, data) => {
      if (!part) throw new FileError('E_IO', 'data before the transfer was accepted');
      part.write(off, data);
    },
  };
  const end = await run(o, {
    op: Op.Get,
    remote,
    sizeBytes: journal?.sizeBytes ?? 0,
    // the handshake carries at most MAX_RANGES_IN_HANDSHAKE ranges: offer the largest ones
    ranges: [...(journal?.ranges ?? [])]
      .sort((a, b) => b[1] - b[0] - (a[1] - a[0]))
      .slice(0, MAX_RANGES_IN_HANDSHAKE)
      .sort((a, b) => a[0] - b[0]),
    ...(journal?.sourceTag && { sourceTag: new Uint8Array(Buffer.from(journal.sourceTag, 'hex')) }),
    sink,
    onAccepted: (conn, size, ranges, sourceTag) => {
      sizeBytes = size;
      // downloads get 0666 & ~umask once verified, as curl and cp give (the part itself stays 0600)
      const finalMode = 0o666 & ~process.umask();
      part = new PartFile(
        local,
        {
          sizeBytes: size,
          resume: ranges.length > 0,
          force: o.force ?? false,
          finalMode,
          sourceTag: Buffer.from(sourceTag).toString('hex'),
        },
        () => conn.receivedRanges(),
      );
    },
    verify: async (expected) => {
      if (!part) return 'io';
      const actual = await part.hashOnDisk();
      if (actual !== expected) {
        part.discard();
        return 'mismatch';
      }
      part.promote();
      sha = actual;
      return 'ok';
    },
    onEnd: (ok, code) => {
      if (ok || !part) return;
      if (code === 'E_INTEGRITY') part.discard();
      else part.suspend();
    },
  });
  return toResult('get', remote, local, sizeBytes, sha, end);
}

/** Uploads LOCAL to REMOTE on the server (the server promotes it after the SHA-256 matches). */
export async function put(o: ClientOptions, local: string, remote: string): Promise<TransferResult> {
  const source = new FileSource(local);
  try {
    const end = await run(o, {
      op: Op.Put,
      remote,
      sizeBytes: source.sizeBytes,
      ranges: [],
      resume: o.resume ?? false,
      source,
    });
    const sha = end.conn.sentSha256 ? Buffer.from(end.conn.sentSha256).toString('hex') : '';
    return toResult('put', remote, local, source.sizeBytes, sha, end);
  } finally {
    source.close();
  }
}

export interface ListEntry {
  name: string;
  /** `link`: a symlink the server does not follow (outside its root, dangling); `other`: FIFO, socket, device. */
  type: 'file' | 'dir' | 'link' | 'other' | 'more';
  size: number;
}

/** Lists a directory on the server. */
export async function ls(o: ClientOptions, dir: string): Promise<ListEntry[]> {
  const sink = new MemorySink();
  let size = 0;
  await run(o, {
    op: Op.List,
    remote: dir,
    sizeBytes: 0,
    ranges: [],
    sink,
    onAccepted: (_c, s) => {
      size = s;
    },
    verify: async (expected) =>
      createHash('sha256').update(sink.data.subarray(0, size)).digest('hex') === expected ? 'ok' : 'mismatch',
  });
  const text = new TextDecoder().decode(sink.data.subarray(0, size));
  return text ? text.split('\n').map((l) => JSON.parse(l) as ListEntry) : [];
}
