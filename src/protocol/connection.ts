// The RUFT connection state machine (sans-I/O, design §8): inputs are handleDatagram(nowMs, bytes) and
// handleTimeout(nowMs) (a spurious call is a no-op); outputs are drained in a fixed order:
// pollTransmit(nowMs) → pollTimeout() → pollEvent(). No clock, timer, socket or global randomness here.
//
// States: client  handshake ──ACCEPT──► established ──DONE/verified──► closed
//                          └─REJECT / no answer──► closed
//         server  requested (app decides) ──accept()──► established ──► closed (after a linger)
// The data sender is the server for GET/LIST and the client for PUT; the other side is the data receiver.
// The handshake slot is filled by crypto/: Noise NK or NKpsk0 messages travel in INITIAL and ACCEPT/REJECT
// (inside an integrity-tagged envelope, so path corruption is told apart from forgery); DATA packets are then
// AEAD-protected with per-direction keys. Plaintext exists only as the explicit teaching mode.
// Security rules (docs/reliability.md, threat model):
// - Only AEAD-verified DATA packets count as heard from the peer (idle timer, packetsAccepted, migration);
//   handshake-typed packets carry a keyless tag anyone can compute, so after the handshake they change
//   nothing but a rate-limited repeat of the cached ACCEPT for an INITIAL identical to the one answered.
// - Key confirmation: the server touches no file for a request until the client's first AEAD-verified packet
//   (a DATA for PUT; a PING the client sends right after ACCEPT for GET/LIST): `accept()` takes the source or
//   sink as a factory called at that moment, so a replayed INITIAL executes nothing.
// - A forged or unauthenticated answer never ends a client's handshake early: failures are remembered and
//   reported at the handshake deadline; an unauthenticated REJECT closes only when it has answered three
//   attempts over at least 400 ms (forgeries sent back to back do not).
// - An exception from the data source while sending aborts this connection (E_IO), never its caller.
// - A data receiver that has heard no new data (nor the FIN) for the idle timeout gives up (E_TIMEOUT), even
//   while the sender keeps talking: a sender that counts bytes as acknowledged which never arrived (a packet
//   number answered for another packet under that number, sealed by a third party with the keys) would
//   otherwise probe for DONE forever, each probe acknowledged.
// Deadlines are compared exactly as pollTimeout() computes them (`now >= start + span`), never as a
// difference, so that floating-point rounding cannot make a due timer look not yet due (a livelock).
import {
  ClientHandshake,
  type ClientSecurity,
  integrityOnlyProtection,
  type PacketProtection,
  PLAINTEXT_LABEL,
  type ServerRead,
  type ServerSecurity,
  serverRead,
  sha256,
} from '../crypto/index.js';
import type { Rng } from '../impair/index.js';
import { Writer } from './bytes.js';
import { DoneStatus, decodeFrames, type Frame, type SenderSample, writeFrame } from './frames.js';
import { printable } from './printable.js';
import type { Range } from './range-set.js';
import { Receiver } from './receiver.js';
import { Sender } from './sender.js';
import type { ChunkCodec, DataSink, DataSource } from './source-sink.js';
import {
  type Accept,
  type Compression,
  decodeAccept,
  decodeHeader,
  decodeInitial,
  decodeInitialEnvelope,
  decodeReject,
  encodeAccept,
  encodeHeader,
  encodeInitial,
  encodeInitialEnvelope,
  encodeReject,
  HEADER_BYTES,
  type Initial,
  Op,
  PacketType,
} from './wire.js';

export interface ConnectionConfig {
  rng: Rng;
  /** Client: how to secure the session (default: plaintext teaching mode). */
  clientSecurity?: ClientSecurity;
  /** Server: its key, PSK and whether it accepts plaintext (default: plaintext only, for tests). */
  serverSecurity?: ServerSecurity;
  /** The datagram size data starts in (default 1200, which any IPv4 or IPv6 path carries). */
  maxDatagramBytes?: number;
  /**
   * Larger datagram sizes to probe the path for, largest first (default 1472, 1452, 1400, 1280: a 1500-byte
   * Ethernet MTU over IPv4, over IPv6, and two common tunnel MTUs); [] keeps maxDatagramBytes.
   */
  probeDatagramBytes?: readonly number[];
  idleTimeoutMs?: number;
  handshakeTimeoutMs?: number;
  windowBytes?: number;
  /** How long a receiver keeps answering after it verified the file (DONE may be lost). */
  lingerMs?: number;
  codecFor?: (c: Compression) => ChunkCodec | undefined;
  /** Client: the connection ID (the transport passes 8 bytes from the OS; default: from `rng`). */
  connectionId?: Uint8Array;
}

/** A data source or sink, or a factory the connection calls once the client has confirmed its keys. */
export type Deferred<T> = T | (() => T);

export type ConnectionEvent =
  | { type: 'request'; request: Initial }
  | { type: 'accepted'; sizeBytes: number; ranges: Range[]; compression: Compression; sourceTag: Uint8Array }
  | { type: 'verify'; sizeBytes: number; sha256: Uint8Array }
  | { type: 'closed'; ok: boolean; code?: string; message?: string };

export type Role = 'client' | 'server';
type State = 'handshake' | 'requested' | 'established' | 'verifying' | 'lingering' | 'closed';

export interface ConnectionStats {
  packetsSent: number;
  packetsReceived: number;
  packetsRetransmitted: number;
  packetsLost: number;
  bytesSent: number;
  badPackets: number;
  duplicatePackets: number;
  timeouts: number;
  tailProbes: number;
  rttMsMin: number;
  rttMsAvg: number;
  rttMsP99: number;
  compressionRatio: number;
  /** Data packets the peer (the data sender) sent, when this side is the receiver. */
  peerPacketsSent: number;
  /** Datagram size of the data: what this side sends data in now, or the largest DATA datagram received. */
  datagramBytes: number;
  /** Path-MTU probes this side sent, and its drops back to the base size (black holes). */
  pmtuProbes: number;
  pmtuFallbacks: number;
}

/** Header plus tag around a packet's frames (the AEAD tag and the handshake integrity tag are both 16 bytes). */
const PACKET_OVERHEAD = HEADER_BYTES + 16;

const DEFAULTS = {
  maxDatagramBytes: 1200,
  probeDatagramBytes: [1472, 1452, 1400, 1280] as readonly number[],
  idleTimeoutMs: 20_000,
  handshakeTimeoutMs: 10_000,
  windowBytes: 16 << 20,
  lingerMs: 3_000,
};

export class Connection {
  readonly connectionId: Uint8Array;
  private state: State;
  private readonly events: ConnectionEvent[] = [];
  private readonly out: Uint8Array[] = [];
  private nextPn = 0;
  private lastRecvMs: number;
  private readonly createdMs: number;
  private readonly senderTimeline: TimelinePoint[] = [];
  private readonly idleTimeoutMs: number;
  private readonly handshakeTimeoutMs: number;
  private readonly windowBytes: number;
  private readonly lingerMs: number;
  readonly payloadBytes: number;
  /** The largest authenticated DATA datagram received (the peer's datagram size, when it sends data). */
  private largestDataDatagram = 0;
  private request: Initial | undefined;
  private acceptMsg: Accept | undefined;
  private initialDueMs: number | undefined;
  private initialAttempts = 0;
  /**
   * INITIAL retransmission: 250 ms, doubling to 2 s, while the RTT is unknown; once a RETRY has answered the one
   * INITIAL sent, 3 × that round trip (50–250 ms), doubling. Through the relay at 20% loss each way the handshake
   * alone took up to 2.5 s of a 64 MiB transfer with the old 500 ms → 2 s schedule.
   */
  private initialBaseMs = 250;
  private initialSentMs = 0;
  private attemptsSinceRetry = 0;
  private retries = 0;
  private acceptOwed = false;
  private lastAcceptRepeatMs = Number.NEGATIVE_INFINITY;
  /** Server: ACCEPT repeats of its own while the client has not confirmed (its ACCEPT may be lost). */
  private acceptRepeatDueMs: number | undefined;
  private acceptRepeats = 0;
  /** Server: the client has sent an AEAD-verified packet since ACCEPT (its keys are confirmed). */
  private confirmed = false;
  private acceptedMs = 0;
  private pendingEndpoint: { source?: Deferred<DataSource>; sink?: Deferred<DataSink> } | undefined;
  /** Client receiving data: PINGs after ACCEPT until the server is heard (its key confirmation). */
  private confirmDueMs: number | undefined;
  private confirmAttempts = 0;
  private confirmBaseMs = 100;
  private heardSinceAccept = false;
  private lastPingMs = Number.NEGATIVE_INFINITY;
  /** Client: answers that did not authenticate, and an unauthenticated REJECT, kept for the deadline. */
  private authFailures = 0;
  private unauthReject: { code: string; message: string; firstMs: number; attempts: Set<number> } | undefined;
  private readonly pathResponses: Uint8Array[] = [];
  sender: Sender | undefined;
  receiver: Receiver | undefined;
  private doneStatus: DoneStatus | undefined;
  private doneProbeMs: number | undefined;
  private doneProbes = 0;
  private lingerUntilMs = 0;
  private closeFrame: Frame | undefined;
  private badPackets = 0;
  private packetsReceived = 0;
  /** Data receiver: when new data (or the FIN) last arrived, or the receiver was created. */
  private lastProgressMs = 0;
  private ackPacketsSent = 0;

  /** Integrity tag on handshake packets (corruption on the path), whatever the security mode. */
  private readonly hsProtection = integrityOnlyProtection('handshake envelope');
  private readonly scratch = new Writer(1600);
  /** Protection of DATA packets, set when the handshake completes. */
  private dataProtection: PacketProtection | undefined;
  private hsClient: ClientHandshake | undefined;
  private hsServer: Extract<ServerRead, { ok: true }> | undefined;
  private initialMessage: Uint8Array | undefined;
  private retryToken: Uint8Array = new Uint8Array(0);
  private cachedAnswer: Uint8Array | undefined;
  private securityLabel = PLAINTEXT_LABEL;
  private nextStatsMs = 0;

  private constructor(
    readonly role: Role,
    private readonly cfg: ConnectionConfig,
    nowMs: number,
    connectionId: Uint8Array,
    private readonly endpoint: { source?: DataSource; sink?: DataSink },
  ) {
    this.connectionId = connectionId;
    this.state = role === 'client' ? 'handshake' : 'requested';
    this.lastRecvMs = nowMs;
    this.createdMs = nowMs;
    this.idleTimeoutMs = cfg.idleTimeoutMs ?? DEFAULTS.idleTimeoutMs;
    this.handshakeTimeoutMs = cfg.handshakeTimeoutMs ?? DEFAULTS.handshakeTimeoutMs;
    this.windowBytes = cfg.windowBytes ?? DEFAULTS.windowBytes;
    this.lingerMs = cfg.lingerMs ?? DEFAULTS.lingerMs;
    this.payloadBytes = (cfg.maxDatagramBytes ?? DEFAULTS.maxDatagramBytes) - PACKET_OVERHEAD;
  }

  /** A client connection that will send `request` (GET: `sink` receives; PUT: `source` is sent). */
  static client(
    cfg: ConnectionConfig,
    nowMs: number,
    request: Initial,
    endpoint: { source?: DataSource; sink?: DataSink },
  ): Connection {
    const c = new Connection('client', cfg, nowMs, cfg.connectionId?.slice() ?? cfg.rng.bytes(8), endpoint);
    c.request = request;
    c.hsClient = new ClientHandshake(cfg.clientSecurity ?? { mode: 'plaintext' }, {
      connectionId: c.connectionId,
    });
    c.securityLabel = c.hsClient.label;
    c.initialMessage = c.hsClient.firstMessage(encodeInitial(request));
    c.initialDueMs = nowMs;
    return c;
  }

  /** A server connection from a client's first datagram, or undefined when it is not a valid INITIAL. */
  static server(cfg: ConnectionConfig, nowMs: number, datagram: Uint8Array): Connection | undefined {
    const h = decodeHeader(datagram);
    if (!h.ok || h.value.type !== PacketType.Initial) return undefined;
    const c = new Connection('server', cfg, nowMs, h.value.connectionId.slice(), {});
    const payload = c.hsProtection.open(
      datagram.subarray(0, HEADER_BYTES),
      h.value.packetNumber,
      datagram.subarray(HEADER_BYTES),
    );
    if (!payload) return undefined;
    const env = decodeInitialEnvelope(payload);
    if (!env.ok) return undefined;
    const sec = cfg.serverSecurity ?? { allowPlaintext: true, ephemeral: () => cfg.rng.bytes(32) };
    c.initialMessage = env.value.message.slice();
    const read = serverRead(sec, env.value.suite, env.value.message, c.connectionId);
    if (!read.ok) {
      // cannot talk securely with this client: refuse in plaintext (all a refusal can be) and close
      c.queueHandshake(
        PacketType.Reject,
        concatBytes(Uint8Array.of(0, 2), encodeReject({ code: read.code, message: read.message })),
      );
      c.close(read.code, read.message);
      return c;
    }
    const init = decodeInitial(read.request);
    if (!init.ok) return undefined;
    c.hsServer = read;
    c.securityLabel = read.label;
    c.request = init.value;
    c.events.push({ type: 'request', request: init.value });
    return c;
  }

  /**
   * Client: the server asked for address validation; resend INITIAL at once with its token. At most three
   * RETRYs are followed (a forged one can replace a token, not loop the handshake).
   */
  private onRetry(nowMs: number, payload: Uint8Array): void {
    if (this.state !== 'handshake' || payload.length === 0 || payload.length > 64 || this.retries >= 3) return;
    this.retries++;
    if (this.initialAttempts === 1 && this.retryToken.length === 0)
      this.initialBaseMs = Math.min(250, Math.max(50, 3 * (nowMs - this.initialSentMs)));
    this.retryToken = payload.slice();
    this.attemptsSinceRetry = 0;
    this.initialDueMs = 0;
  }

  /** DATA packets that passed AEAD authentication (handshake-typed packets never count). */
  get packetsAccepted(): number {
    return this.packetsReceived;
  }

  /** Server: the client proved it holds the session keys (an AEAD-verified packet after ACCEPT). */
  get keysConfirmed(): boolean {
    return this.confirmed;
  }

  /** PATH_RESPONSE payloads received since the last call (the transport matches them to its challenges). */
  takePathResponses(): readonly Uint8Array[] {
    // called for every datagram: no allocation when (as nearly always) there is none
    return this.pathResponses.length === 0 ? NO_PATH_RESPONSES : this.pathResponses.splice(0);
  }

  /**
   * A sealed packet carrying PATH_CHALLENGE `data`, for the transport to send to an address it wants the peer
   * to prove (RFC 9000 §8.2); undefined before the session has keys.
   */
  pathChallenge(data: Uint8Array): Uint8Array | undefined {
    if (!this.dataProtection || this.state === 'closed' || this.state === 'handshake') return undefined;
    const pn = this.nextPn++;
    this.sender?.skipPacketNumber(pn);
    return this.sealFrames(pn, [{ type: 'path_challenge', data }]);
  }

  get security(): string {
    return this.securityLabel;
  }

  get closed(): boolean {
    return this.state === 'closed';
  }

  /** Still doing its work: not closed, and not merely lingering to repeat a final answer. */
  get active(): boolean {
    return this.state !== 'closed' && this.state !== 'lingering';
  }

  /** True once the connection is finished and has nothing more to say (also after lingering). */
  get finished(): boolean {
    return this.state === 'closed' && this.out.length === 0;
  }

  /** The SHA-256 the data sender announced (known once all data has been read). */
  get sentSha256(): Uint8Array | undefined {
    return this.sender?.sha256Announced;
  }

  get isDataSender(): boolean {
    const op = this.request?.op;
    return (this.role === 'server') === (op === Op.Get || op === Op.List);
  }

  /**
   * Server: accept the pending request. `ranges`: what the receiver already holds, which the sender skips
   * (GET: the client's ranges the server honours; PUT: the server's own partial file). The source or sink
   * may be a factory: it is called when the client confirms its keys, so nothing is opened or written for
   * a client that never does (a replayed INITIAL). A factory that throws aborts the session with its code.
   */
  accept(
    nowMs: number,
    a: {
      sizeBytes: number;
      source?: Deferred<DataSource>;
      sink?: Deferred<DataSink>;
      ranges?: Range[];
      compression?: Compression;
      /** GET: the version of the file (its tag names it in a later resume). */
      sourceTag?: Uint8Array;
    },
  ): void {
    if (this.role !== 'server' || this.state !== 'requested' || !this.request)
      throw new Error('accept() needs a pending request');
    if (this.isDataSender ? !a.source : !a.sink)
      throw new Error(`accept(): a data ${this.isDataSender ? 'source' : 'sink'} is required`);
    const compression = a.compression ?? (0 as Compression);
    this.acceptMsg = {
      op: this.request.op,
      sizeBytes: a.sizeBytes,
      compression,
      ranges: a.ranges ?? [],
      ...(a.sourceTag && { sourceTag: a.sourceTag }),
    };
    this.pendingEndpoint = { ...(a.source && { source: a.source }), ...(a.sink && { sink: a.sink }) };
    this.cachedAnswer = this.answer(PacketType.Accept, 1, encodeAccept(this.acceptMsg));
    this.acceptOwed = true;
    this.state = 'established';
    this.lastRecvMs = nowMs;
    this.acceptedMs = nowMs;
    this.acceptRepeatDueMs = nowMs + ACCEPT_REPEAT_FIRST_MS;
  }

  /** Server: the client's first AEAD-verified packet arrived; open the source or sink and start. */
  private confirm(nowMs: number): boolean {
    this.confirmed = true;
    this.acceptRepeatDueMs = undefined;
    const p = this.pendingEndpoint!;
    this.pendingEndpoint = undefined;
    const a = this.acceptMsg!;
    const codec = this.cfg.codecFor?.(a.compression);
    try {
      if (this.isDataSender) {
        const source = typeof p.source === 'function' ? p.source() : p.source!;
        this.sender = this.makeSender(source, a.ranges, codec);
      } else {
        const sink = typeof p.sink === 'function' ? p.sink() : p.sink!;
        this.receiver = new Receiver(sink, this.request!.sizeBytes, this.windowBytes, a.ranges, codec);
        this.lastProgressMs = nowMs;
      }
    } catch (err) {
      const code = (err as { code?: string }).code;
      this.abort(
        nowMs,
        code && /^E_[A-Z_]+$/.test(code) ? code : 'E_IO',
        `server cannot open the file: ${(err as Error).message}`,
      );
      return false;
    }
    return true;
  }

  /** Server: refuse the pending request with an error code. */
  reject(_nowMs: number, code: string, message: string): void {
    this.out.push(this.answer(PacketType.Reject, 2, encodeReject({ code, message })));
    this.close(code, message);
  }

  /** Server: the handshake's answer (kind 1 accept, 2 reject) in its envelope; sets the data keys. */
  private answer(type: PacketType, kind: number, body: Uint8Array): Uint8Array {
    const hs = this.hsServer!;
    const suite = hs.suite;
    const message = hs.answer(kind, body);
    this.dataProtection = hs.protection() ?? integrityOnlyProtection(PLAINTEXT_LABEL);
    return this.sealHandshake(type, concatBytes(Uint8Array.of(suite), message));
  }

  /** Local abort (disk full, interrupted): tell the peer, close. */
  abort(nowMs: number, code: string, message: string): void {
    if (this.state === 'closed') return;
    // a CLOSE needs the session keys: before the handshake has them, just stop
    if (this.dataProtection) {
      this.closeFrame = { type: 'close', code, reason: message };
      this.flushClose(nowMs);
    }
    this.close(code, message);
  }

  /** Receiver: the result of checking the file's SHA-256 after a `verify` event. */
  verified(nowMs: number, ok: boolean, ioError = false): void {
    if (this.state !== 'verifying') return;
    this.doneStatus = ioError ? DoneStatus.IoError : ok ? DoneStatus.Verified : DoneStatus.IntegrityMismatch;
    this.sendAckPacket(nowMs, true);
    this.lingerUntilMs = nowMs + this.lingerMs;
    this.state = 'lingering';
    if (ok) this.events.push({ type: 'closed', ok: true });
    else
      this.events.push({
        type: 'closed',
        ok: false,
        code: ioError ? 'E_IO' : 'E_INTEGRITY',
        message: ioError
          ? 'could not read back the received file'
          : 'SHA-256 of the received file does not match the sender’s',
      });
  }

  private makeSender(source: DataSource, held: readonly Range[], codec: ChunkCodec | undefined): Sender {
    const probePayloadBytes = (this.cfg.probeDatagramBytes ?? DEFAULTS.probeDatagramBytes).map(
      (b) => b - PACKET_OVERHEAD,
    );
    return new Sender(
      source,
      sha256(),
      {
        payloadBytes: this.payloadBytes,
        probePayloadBytes,
        ...(codec && { codec }),
        ...(this.request?.background && { background: true }),
      },
      held,
    );
  }

  handleDatagram(nowMs: number, datagram: Uint8Array): void {
    if (this.state === 'closed') return;
    const h = decodeHeader(datagram);
    if (!h.ok || !sameId(h.value.connectionId, this.connectionId)) {
      this.badPackets++;
      return;
    }
    const header = datagram.subarray(0, HEADER_BYTES);
    if (h.value.type === PacketType.Data && this.state === 'handshake') {
      // the server accepted and is sending, but its ACCEPT was lost (we have no keys yet): ask again now
      if (this.initialDueMs !== undefined && this.initialDueMs > nowMs + 20) this.initialDueMs = nowMs;
      return;
    }
    const prot = h.value.type === PacketType.Data ? this.dataProtection : this.hsProtection;
    const payload = prot?.open(header, h.value.packetNumber, datagram.subarray(HEADER_BYTES));
    if (!payload) {
      this.badPackets++;
      return;
    }
    switch (h.value.type) {
      case PacketType.Initial:
        // keyless: at most a repeat of the cached ACCEPT, for the very INITIAL answered, before confirmation
        if (
          this.role === 'server' &&
          this.state === 'established' &&
          !this.confirmed &&
          this.cachedAnswer &&
          nowMs >= this.lastAcceptRepeatMs + ACCEPT_REPEAT_MIN_MS &&
          this.sameInitial(payload)
        ) {
          this.acceptOwed = true;
          this.lastAcceptRepeatMs = nowMs;
        }
        return;
      case PacketType.Retry:
        if (this.role === 'client') this.onRetry(nowMs, payload);
        return;
      case PacketType.Accept:
      case PacketType.Reject:
        if (this.role !== 'client') return;
        if (this.state === 'handshake') this.onAnswer(nowMs, payload);
        else if (this.confirmDueMs !== undefined && h.value.type === PacketType.Accept && nowMs >= this.lastPingMs + 20)
          this.confirmDueMs = nowMs; // the server repeats its ACCEPT: it has not heard us yet, ping now
        return;
      case PacketType.Data:
        if (this.role === 'server' && !this.confirmed) {
          if (this.state !== 'established' || !this.confirm(nowMs)) return;
        }
        this.packetsReceived++;
        this.lastRecvMs = nowMs;
        this.heardSinceAccept = true;
        this.confirmDueMs = undefined;
        if (datagram.length > this.largestDataDatagram) this.largestDataDatagram = datagram.length;
        this.onData(nowMs, h.value.packetNumber, payload);
        return;
    }
  }

  /** Server: is this INITIAL envelope the one this session answered (not a forgery with its ID)? */
  private sameInitial(envelope: Uint8Array): boolean {
    const env = decodeInitialEnvelope(envelope);
    const mine = this.initialMessage;
    if (!env.ok || !mine || env.value.message.length !== mine.length) return false;
    for (let i = 0; i < mine.length; i++) if (env.value.message[i] !== mine[i]) return false;
    return true;
  }

  private onAnswer(nowMs: number, payload: Uint8Array): void {
    if (this.state !== 'handshake' || !this.request || !this.hsClient || payload.length < 1) return;
    const ans = this.hsClient.readAnswer(payload[0]!, payload.subarray(1));
    if (!ans) {
      // a forgery, or the server of another key or PSK: keep waiting for a genuine answer until the deadline
      this.authFailures++;
      this.badPackets++;
      return;
    }
    if (ans.kind === 2) {
      const r = decodeReject(ans.body);
      if (!r.ok) {
        if (ans.authenticated) this.close('E_PROTOCOL', 'malformed REJECT from server');
        return;
      }
      if (ans.authenticated || this.hsClient.suite === 0) {
        this.close(
          r.value.code,
          ans.authenticated ? printable(r.value.message) : `${printable(r.value.message)} (unauthenticated answer)`,
        );
        return;
      }
      // a secure client told "no" without authentication (the server could not read us, or a forgery):
      // believe it only when it has answered three attempts over at least UNAUTH_REJECT_MIN_MS with no genuine
      // answer between (a forger must then keep it up like one who drops every packet); ask again soon
      const code = /^E_[A-Z_]+$/.test(r.value.code) ? r.value.code : 'E_AUTH_FAILED';
      const message = `${printable(r.value.message)} (unauthenticated answer)`;
      this.unauthReject ??= { code, message, firstMs: nowMs, attempts: new Set<number>() };
      const u = this.unauthReject;
      u.attempts.add(this.initialAttempts);
      if (u.attempts.size >= 3 && nowMs >= u.firstMs + UNAUTH_REJECT_MIN_MS) {
        this.close(u.code, u.message);
        return;
      }
      const again = nowMs + UNAUTH_REJECT_MIN_MS / 2;
      if (this.initialDueMs !== undefined && this.initialDueMs > again) this.initialDueMs = again;
      return;
    }
    const a = decodeAccept(ans.body);
    if (ans.kind !== 1 || !a.ok || a.value.op !== this.request.op) {
      this.close('E_PROTOCOL', 'malformed ACCEPT from server');
      return;
    }
    this.dataProtection = this.hsClient.protection ?? integrityOnlyProtection(PLAINTEXT_LABEL);
    this.acceptMsg = a.value;
    this.initialDueMs = undefined;
    this.state = 'established';
    this.lastRecvMs = nowMs;
    if (!this.isDataSender) {
      // the server waits for proof that we hold the keys before it opens the file: a PING now, repeated
      this.confirmBaseMs = Math.min(1000, Math.max(50, 2 * (nowMs - this.initialSentMs)));
      this.confirmDueMs = nowMs;
    }
    const codec = this.cfg.codecFor?.(a.value.compression);
    if (this.isDataSender) {
      if (!this.endpoint.source) throw new Error('client PUT needs a source');
      this.sender = this.makeSender(this.endpoint.source, a.value.ranges, codec);
    } else {
      if (!this.endpoint.sink) throw new Error('client GET needs a sink');
      this.receiver = new Receiver(this.endpoint.sink, a.value.sizeBytes, this.windowBytes, a.value.ranges, codec);
      this.lastProgressMs = nowMs;
    }
    this.events.push({
      type: 'accepted',
      sizeBytes: a.value.sizeBytes,
      ranges: a.value.ranges,
      compression: a.value.compression,
      sourceTag: a.value.sourceTag ?? new Uint8Array(8),
    });
    this.checkComplete();
  }

  private onData(nowMs: number, pn: number, payload: Uint8Array): void {
    const decoded = decodeFrames(payload);
    if (!decoded.ok) {
      this.badPackets++;
      return;
    }
    const frames = decoded.value;
    let challenge: Uint8Array | undefined;
    for (const f of frames) {
      if (f.type === 'close') {
        this.close(/^E_[A-Z_]+$/.test(f.code) ? f.code : 'E_PROTOCOL', `peer closed: ${printable(f.reason)}`);
        return;
      } else if (f.type === 'path_challenge')
        challenge = f.data; // one answer per packet: the last challenge
      else if (f.type === 'path_response' && this.pathResponses.length < 8) this.pathResponses.push(f.data);
    }
    if (challenge) this.answerPathChallenge(challenge);
    if (this.receiver) {
      if (this.state === 'lingering') {
        this.sendAckPacket(nowMs, true);
        return;
      }
      if (this.state !== 'established') return;
      let result: string;
      try {
        const bytesBefore = this.receiver.stats.bytesReceived;
        const finBefore = this.receiver.fin;
        result = this.receiver.onPacket(nowMs, pn, frames);
        if (this.receiver.stats.bytesReceived > bytesBefore || (!finBefore && this.receiver.fin))
          this.lastProgressMs = nowMs;
      } catch (err) {
        const code = (err as { code?: string }).code;
        this.abort(
          nowMs,
          code === 'E_DISK_FULL' ? 'E_DISK_FULL' : 'E_IO',
          `receiver cannot store data: ${(err as Error).message}`,
        );
        return;
      }
      if (result !== 'accepted' && result !== 'duplicate' && result !== 'dropped') {
        this.abort(nowMs, 'E_PROTOCOL', result);
        return;
      }
      this.checkComplete();
    } else if (this.sender) {
      for (const f of frames) {
        if (f.type === 'ack') this.sender.onAck(nowMs, f);
        else if (f.type === 'done') this.onDone(f.status);
      }
    }
  }

  private answerPathChallenge(data: Uint8Array): void {
    const pn = this.nextPn++;
    this.sender?.skipPacketNumber(pn);
    this.out.push(this.sealFrames(pn, [{ type: 'path_response', data }]));
  }

  private onDone(status: DoneStatus): void {
    if (this.state !== 'established') return;
    if (status === DoneStatus.Verified) this.close(undefined, undefined, true);
    else if (status === DoneStatus.IntegrityMismatch)
      this.close('E_INTEGRITY', 'the receiver found a SHA-256 mismatch and kept nothing');
    else this.close('E_IO', 'the receiver could not store the file');
  }

  private checkComplete(): void {
    const r = this.receiver;
    if (this.state === 'established' && r?.complete && r.fin) {
      this.state = 'verifying';
      this.events.push({ type: 'verify', sizeBytes: r.sizeBytes, sha256: r.fin.sha256 });
    }
  }

  handleTimeout(nowMs: number): void {
    if (this.state === 'closed') return;
    if (this.state === 'lingering') {
      if (nowMs >= this.lingerUntilMs) this.state = 'closed';
      return;
    }
    if (this.state === 'handshake' && nowMs >= this.createdMs + this.handshakeTimeoutMs) {
      if (this.unauthReject) this.close(this.unauthReject.code, this.unauthReject.message);
      else if (this.authFailures > 0)
        this.close(
          'E_AUTH_FAILED',
          'authentication failed: the server’s answer does not verify (wrong PSK, or not the server whose key is pinned)',
        );
      else
        this.close(
          'E_UNREACHABLE',
          `no answer from the server after ${this.initialAttempts} attempts over ${((nowMs - this.createdMs) / 1000).toFixed(1)} s`,
        );
      return;
    }
    if (this.role === 'server' && this.state === 'established' && !this.confirmed) {
      if (nowMs >= this.acceptedMs + this.handshakeTimeoutMs) {
        this.close('E_TIMEOUT', 'the client never confirmed the handshake');
        return;
      }
      if (this.acceptRepeatDueMs !== undefined && nowMs >= this.acceptRepeatDueMs) {
        // no word from the client since ACCEPT: it may be lost; repeat it (a bounded few, all far under 3× the
        // padded INITIAL), as a client's repeated INITIAL would ask
        this.acceptOwed = true;
        this.lastAcceptRepeatMs = nowMs;
        this.acceptRepeats++;
        this.acceptRepeatDueMs =
          this.acceptRepeats < ACCEPT_REPEATS_MAX
            ? nowMs + ACCEPT_REPEAT_FIRST_MS * 2 ** this.acceptRepeats
            : undefined;
      }
    }
    if (this.state !== 'handshake' && nowMs >= this.lastRecvMs + this.idleTimeoutMs) {
      this.close('E_TIMEOUT', `nothing heard from the peer for ${(this.idleTimeoutMs / 1000).toFixed(1)} s`);
      return;
    }
    if (this.receiver && this.state === 'established' && nowMs >= this.lastProgressMs + this.idleTimeoutMs) {
      this.abort(nowMs, 'E_TIMEOUT', `no new data from the sender for ${(this.idleTimeoutMs / 1000).toFixed(1)} s`);
      return;
    }
    const s = this.sender;
    if (s && this.state === 'established') {
      s.onTimer(nowMs);
      if (s.allAcked) {
        if (this.doneProbeMs === undefined) this.doneProbeMs = nowMs + s.rtoMs;
        else if (nowMs >= this.doneProbeMs) {
          s.requestProbe();
          this.doneProbes++;
          this.doneProbeMs = nowMs + s.rtoMs * 2 ** Math.min(this.doneProbes, 6);
        }
      }
    }
  }

  pollTransmit(nowMs: number): Uint8Array | undefined {
    if (this.out.length > 0) return this.out.shift();
    if (this.state === 'closed') return undefined;
    if (this.state === 'handshake' && this.initialDueMs !== undefined && nowMs >= this.initialDueMs && this.hsClient) {
      this.initialAttempts++;
      this.initialSentMs = nowMs;
      this.initialDueMs = nowMs + Math.min(this.initialBaseMs * 2 ** this.attemptsSinceRetry++, 2000);
      const env = encodeInitialEnvelope({
        suite: this.hsClient.suite,
        token: this.retryToken,
        message: this.initialMessage!,
      });
      return this.sealHandshake(PacketType.Initial, padTo(env, MIN_INITIAL_PAYLOAD));
    }
    if (this.acceptOwed && this.cachedAnswer) {
      // the same bytes again: a lost ACCEPT is repeated, never re-encrypted
      this.acceptOwed = false;
      return this.cachedAnswer;
    }
    if (this.confirmDueMs !== undefined && this.state === 'established' && nowMs >= this.confirmDueMs) {
      this.confirmDueMs = this.heardSinceAccept
        ? undefined
        : nowMs + Math.min(this.confirmBaseMs * 2 ** this.confirmAttempts++, 2000);
      const pn = this.nextPn++;
      this.ackPacketsSent++;
      this.lastPingMs = nowMs;
      return this.sealFrames(pn, [{ type: 'ping' }]);
    }
    if (this.receiver && (this.state === 'established' || this.state === 'verifying')) {
      if (this.receiver.ackDeadline() !== undefined && nowMs >= this.receiver.ackDeadline()!) {
        this.sendAckPacket(nowMs, false);
        return this.out.shift();
      }
    }
    if (this.sender && this.state === 'established' && nowMs >= this.nextStatsMs) {
      // a small packet of its own, not ack-eliciting: the receiver's timeline of the sender's state
      this.nextStatsMs = nowMs + STATS_EVERY_MS;
      const pn = this.nextPn++;
      this.sender.skipPacketNumber(pn);
      const stats = this.sender.sample();
      // the sender's own record of what it sends: complete, whatever the path loses
      if (this.senderTimeline.length < 20_000)
        this.senderTimeline.push({ tMs: nowMs, bytesReceived: this.sender.acked.size, ...stats });
      return this.sealFrames(pn, [{ type: 'stats', stats }]);
    }
    if (this.sender && this.state === 'established') {
      const pn = this.nextPn;
      let frames: Frame[] | undefined;
      try {
        frames = this.sender.buildPacket(nowMs, pn);
      } catch (err) {
        // the data source failed (a file truncated under us, an I/O error): this session ends, nothing else
        const code = (err as { code?: string }).code;
        this.abort(
          nowMs,
          code === 'E_DISK_FULL' ? 'E_DISK_FULL' : 'E_IO',
          `sender cannot read its data: ${(err as Error).message}`,
        );
        return this.out.shift();
      }
      if (frames) {
        this.nextPn++;
        return this.sealFrames(pn, frames);
      }
    }
    return undefined;
  }

  pollTimeout(): number | undefined {
    if (this.state === 'closed') return this.out.length > 0 ? 0 : undefined;
    if (this.out.length > 0 || this.acceptOwed) return 0;
    let t: number | undefined;
    const min = (v: number | undefined) => {
      if (v !== undefined && (t === undefined || v < t)) t = v;
    };
    if (this.state === 'lingering') return this.lingerUntilMs;
    if (this.state === 'handshake') {
      min(this.initialDueMs);
      min(this.createdMs + this.handshakeTimeoutMs);
      return t;
    }
    min(this.lastRecvMs + this.idleTimeoutMs);
    if (this.receiver && this.state === 'established') min(this.lastProgressMs + this.idleTimeoutMs);
    if (this.role === 'server' && !this.confirmed && this.state === 'established') {
      min(this.acceptedMs + this.handshakeTimeoutMs);
      min(this.acceptRepeatDueMs);
    }
    if (this.state === 'established') min(this.confirmDueMs);
    if (this.receiver && (this.state === 'established' || this.state === 'verifying')) min(this.receiver.ackDeadline());
    if (this.sender && this.state === 'established') {
      min(this.sender.nextSendTime());
      min(this.sender.nextTimerMs());
      if (this.sender.allAcked) min(this.doneProbeMs ?? 0);
    }
    return t;
  }

  pollEvent(): ConnectionEvent | undefined {
    return this.events.shift();
  }

  private sendAckPacket(nowMs: number, force: boolean): void {
    const r = this.receiver;
    if (!r) return;
    const ack = r.pollAck(force ? Number.POSITIVE_INFINITY : nowMs);
    const frames: Frame[] = [];
    if (ack) frames.push(ack);
    if (this.doneStatus !== undefined) frames.push({ type: 'done', status: this.doneStatus });
    if (frames.length === 0) return;
    const pn = this.nextPn++;
    this.ackPacketsSent++;
    this.out.push(this.sealFrames(pn, frames));
  }

  private sealFrames(pn: number, frames: readonly Frame[]): Uint8Array {
    const w = this.scratch.reset(); // one writer per connection: seal() copies what it is given
    for (const f of frames) writeFrame(w, f);
    return this.seal(PacketType.Data, pn, w.finish());
  }

  private sealHandshake(type: PacketType, payload: Uint8Array): Uint8Array {
    return this.seal(type, this.nextPn++, payload);
  }

  private queueHandshake(type: PacketType, payload: Uint8Array): void {
    this.out.push(this.sealHandshake(type, payload));
  }

  private seal(type: PacketType, pn: number, payload: Uint8Array): Uint8Array {
    const header = encodeHeader({ type, connectionId: this.connectionId, packetNumber: pn });
    const prot = type === PacketType.Data ? this.dataProtection! : this.hsProtection;
    return prot.seal(header, pn, payload);
  }

  private flushClose(_nowMs: number): void {
    if (!this.closeFrame) return;
    const pn = this.nextPn++;
    this.sender?.skipPacketNumber(pn);
    this.out.push(this.sealFrames(pn, [this.closeFrame]));
    this.closeFrame = undefined;
  }

  private close(code?: string, message?: string, ok = false): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    if (ok) this.events.push({ type: 'closed', ok: true });
    else this.events.push({ type: 'closed', ok: false, ...(code && { code }), ...(message && { message }) });
  }

  get stats(): ConnectionStats {
    const s = this.sender?.stats;
    const rtt = this.sender?.rtt;
    const peer = this.receiver?.fin?.rtt;
    return {
      packetsSent: (s?.packetsSent ?? 0) + this.ackPacketsSent + this.initialAttempts,
      packetsReceived: this.packetsReceived,
      packetsRetransmitted: s?.packetsRetransmitted ?? peer?.packetsRetransmitted ?? 0,
      packetsLost: s?.packetsLost ?? 0,
      bytesSent: s?.bytesSent ?? 0,
      badPackets: this.badPackets,
      duplicatePackets: this.receiver?.stats.duplicatePackets ?? 0,
      timeouts: s?.timeouts ?? 0,
      tailProbes: s?.tailProbes ?? 0,
      rttMsMin: rtt && Number.isFinite(rtt.minMs) ? rtt.minMs : (peer?.minUs ?? 0) / 1000,
      rttMsAvg: rtt ? rtt.avgMs : (peer?.avgUs ?? 0) / 1000,
      rttMsP99: rtt ? rtt.p99Ms : (peer?.p99Us ?? 0) / 1000,
      compressionRatio: s && s.bytesAfterCompression > 0 ? s.bytesBeforeCompression / s.bytesAfterCompression : 1,
      peerPacketsSent: peer?.packetsSent ?? 0,
      datagramBytes: s ? this.sender!.payloadBytes + PACKET_OVERHEAD : this.largestDataDatagram,
      pmtuProbes: s?.pmtuProbes ?? 0,
      pmtuFallbacks: s?.pmtuFallbacks ?? 0,
    };
  }

  /**
   * This side's record of the transfer over time (times relative to this connection's start), by tMs.
   * Data receiver: its own bytes held about every 100 ms (complete), and the sender's STATS samples where they
   * arrived (those carry the sender fields; STATS travel with the data and are lost with it).
   * Data sender: its own sample at each STATS it sent, `bytesReceived` being the bytes the peer acknowledged.
   */
  timeline(): TimelinePoint[] {
    const rel = <T extends { tMs: number }>(t: T): T => ({ ...t, tMs: t.tMs - this.createdMs });
    if (!this.receiver) return this.senderTimeline.map(rel);
    return [...this.receiver.own.map(rel), ...this.receiver.timeline.map(rel)].sort((a, b) => a.tMs - b.tMs);
  }

  /** Data the receiver holds (the journal's content). */
  receivedRanges(): Range[] {
    return this.receiver?.data.toArray() ?? [];
  }
}

const STATS_EVERY_MS = 100;
const NO_PATH_RESPONSES: readonly Uint8Array[] = Object.freeze([]);

/** One point of a connection's timeline: bytes at tMs, and the sender's state when a sample of it exists. */
export type TimelinePoint = { tMs: number; bytesReceived: number } & Partial<SenderSample>;
/** A repeated INITIAL gets the cached ACCEPT again at most this often (a forged one cannot make it a flood). */
const ACCEPT_REPEAT_MIN_MS = 100;
/** An unauthenticated REJECT is believed once it has answered 3 INITIALs over at least this long. */
const UNAUTH_REJECT_MIN_MS = 400;
/** Unprompted ACCEPT repeats before confirmation: after 50 ms, then doubling, at most 4 (ACCEPT ≈ 100 bytes). */
const ACCEPT_REPEAT_FIRST_MS = 50;
const ACCEPT_REPEATS_MAX = 4;

/** INITIAL is padded so that a server's answers stay within 3× what the client sent (amplification limit). */
export const MIN_INITIAL_PAYLOAD = 1100;
/** The smallest INITIAL datagram a server answers: header, the padded envelope, the integrity tag. */
export const MIN_INITIAL_DATAGRAM = PACKET_OVERHEAD + MIN_INITIAL_PAYLOAD;

function padTo(b: Uint8Array, n: number): Uint8Array {
  if (b.length >= n) return b;
  const out = new Uint8Array(n);
  out.set(b);
  return out;
}

function concatBytes(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

function sameId(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
