// The RUFT connection state machine (sans-I/O, design §8): inputs are handleDatagram(nowMs, bytes) and
// handleTimeout(nowMs) (a spurious call is a no-op); outputs are drained in a fixed order:
// pollTransmit(nowMs) → pollTimeout() → pollEvent(). No clock, timer, socket or global randomness here.
//
// States: client  handshake ──ACCEPT──► established ──DONE/verified──► closed
//                          └─REJECT / no answer──► closed
//         server  requested (app decides) ──accept()──► established ──► closed (after a linger)
// The data sender is the server for GET/LIST and the client for PUT; the other side is the data receiver.
// The handshake is unauthenticated until the crypto issue fills the slot: `security` says so everywhere.
// Deadlines are compared exactly as pollTimeout() computes them (`now >= start + span`), never as a
// difference, so that floating-point rounding cannot make a due timer look not yet due (a livelock).
import { integrityOnlyProtection, type PacketProtection, sha256 } from '../crypto/index.js';
import type { Rng } from '../impair/index.js';
import { Writer } from './bytes.js';
import { DoneStatus, decodeFrames, type Frame, writeFrame } from './frames.js';
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
  decodeReject,
  encodeAccept,
  encodeHeader,
  encodeInitial,
  encodeReject,
  HEADER_BYTES,
  type Initial,
  Op,
  PacketType,
} from './wire.js';

export interface ConnectionConfig {
  rng: Rng;
  protection?: PacketProtection;
  maxDatagramBytes?: number;
  idleTimeoutMs?: number;
  handshakeTimeoutMs?: number;
  windowBytes?: number;
  /** How long a receiver keeps answering after it verified the file (DONE may be lost). */
  lingerMs?: number;
  codecFor?: (c: Compression) => ChunkCodec | undefined;
}

export type ConnectionEvent =
  | { type: 'request'; request: Initial }
  | { type: 'accepted'; sizeBytes: number; ranges: Range[]; compression: Compression }
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
  rttMsMin: number;
  rttMsAvg: number;
  rttMsP99: number;
  compressionRatio: number;
  /** Data packets the peer (the data sender) sent, when this side is the receiver. */
  peerPacketsSent: number;
}

const DEFAULTS = {
  maxDatagramBytes: 1200,
  idleTimeoutMs: 20_000,
  handshakeTimeoutMs: 10_000,
  windowBytes: 16 << 20,
  lingerMs: 3_000,
};

export class Connection {
  readonly connectionId: Uint8Array;
  readonly protection: PacketProtection;
  private state: State;
  private readonly events: ConnectionEvent[] = [];
  private readonly out: Uint8Array[] = [];
  private nextPn = 0;
  private lastRecvMs: number;
  private readonly createdMs: number;
  private readonly idleTimeoutMs: number;
  private readonly handshakeTimeoutMs: number;
  private readonly windowBytes: number;
  private readonly lingerMs: number;
  readonly payloadBytes: number;
  private request: Initial | undefined;
  private acceptMsg: Accept | undefined;
  private initialDueMs: number | undefined;
  private initialAttempts = 0;
  private acceptOwed = false;
  sender: Sender | undefined;
  receiver: Receiver | undefined;
  private doneStatus: DoneStatus | undefined;
  private doneProbeMs: number | undefined;
  private doneProbes = 0;
  private lingerUntilMs = 0;
  private closeFrame: Frame | undefined;
  private badPackets = 0;
  private packetsReceived = 0;
  private ackPacketsSent = 0;
  private peerSecurity = '';

  private constructor(
    readonly role: Role,
    private readonly cfg: ConnectionConfig,
    nowMs: number,
    connectionId: Uint8Array,
    private readonly endpoint: { source?: DataSource; sink?: DataSink },
  ) {
    this.connectionId = connectionId;
    this.protection = cfg.protection ?? integrityOnlyProtection();
    this.state = role === 'client' ? 'handshake' : 'requested';
    this.lastRecvMs = nowMs;
    this.createdMs = nowMs;
    this.idleTimeoutMs = cfg.idleTimeoutMs ?? DEFAULTS.idleTimeoutMs;
    this.handshakeTimeoutMs = cfg.handshakeTimeoutMs ?? DEFAULTS.handshakeTimeoutMs;
    this.windowBytes = cfg.windowBytes ?? DEFAULTS.windowBytes;
    this.lingerMs = cfg.lingerMs ?? DEFAULTS.lingerMs;
    this.payloadBytes =
      (cfg.maxDatagramBytes ?? DEFAULTS.maxDatagramBytes) - HEADER_BYTES - this.protection.overheadBytes;
    this.peerSecurity = this.protection.security;
  }

  /** A client connection that will send `request` (GET: `sink` receives; PUT: `source` is sent). */
  static client(
    cfg: ConnectionConfig,
    nowMs: number,
    request: Omit<Initial, 'handshake'>,
    endpoint: { source?: DataSource; sink?: DataSink },
  ): Connection {
    const c = new Connection('client', cfg, nowMs, cfg.rng.bytes(8), endpoint);
    c.request = { ...request, handshake: new Uint8Array(0) };
    c.initialDueMs = nowMs;
    return c;
  }

  /** A server connection from a client's first datagram, or undefined when it is not a valid INITIAL. */
  static server(cfg: ConnectionConfig, nowMs: number, datagram: Uint8Array): Connection | undefined {
    const h = decodeHeader(datagram);
    if (!h.ok || h.value.type !== PacketType.Initial) return undefined;
    const c = new Connection('server', cfg, nowMs, h.value.connectionId.slice(), {});
    const payload = c.protection.open(
      datagram.subarray(0, HEADER_BYTES),
      h.value.packetNumber,
      datagram.subarray(HEADER_BYTES),
    );
    if (!payload) return undefined;
    const init = decodeInitial(payload);
    if (!init.ok) return undefined;
    c.request = init.value;
    c.events.push({ type: 'request', request: init.value });
    return c;
  }

  get security(): string {
    return this.peerSecurity;
  }

  get closed(): boolean {
    return this.state === 'closed';
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
   * (GET: the client's ranges the server honours; PUT: the server's own partial file).
   */
  accept(
    nowMs: number,
    a: { sizeBytes: number; source?: DataSource; sink?: DataSink; ranges?: Range[]; compression?: Compression },
  ): void {
    if (this.role !== 'server' || this.state !== 'requested' || !this.request)
      throw new Error('accept() needs a pending request');
    const compression = a.compression ?? (0 as Compression);
    this.acceptMsg = {
      op: this.request.op,
      sizeBytes: a.sizeBytes,
      compression,
      ranges: a.ranges ?? [],
      handshake: new Uint8Array(0),
    };
    const codec = this.cfg.codecFor?.(compression);
    if (this.isDataSender) {
      if (!a.source) throw new Error('accept(): a data source is required');
      this.sender = this.makeSender(a.source, a.ranges ?? [], codec);
    } else {
      if (!a.sink) throw new Error('accept(): a data sink is required');
      this.receiver = new Receiver(a.sink, this.request.sizeBytes, this.windowBytes, a.ranges ?? [], codec);
    }
    this.acceptOwed = true;
    this.state = 'established';
    this.lastRecvMs = nowMs;
  }

  /** Server: refuse the pending request with an error code. */
  reject(_nowMs: number, code: string, message: string): void {
    this.queueHandshake(PacketType.Reject, encodeReject({ code, message }));
    this.close(code, message, false);
  }

  /** Local abort (disk full, interrupted): tell the peer, close. */
  abort(nowMs: number, code: string, message: string): void {
    if (this.state === 'closed') return;
    this.closeFrame = { type: 'close', code, reason: message };
    this.flushClose(nowMs);
    this.close(code, message, false);
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
    return new Sender(source, sha256(), { payloadBytes: this.payloadBytes, ...(codec && { codec }) }, held);
  }

  handleDatagram(nowMs: number, datagram: Uint8Array): void {
    if (this.state === 'closed') return;
    const h = decodeHeader(datagram);
    if (!h.ok || !sameId(h.value.connectionId, this.connectionId)) {
      this.badPackets++;
      return;
    }
    const header = datagram.subarray(0, HEADER_BYTES);
    const payload = this.protection.open(header, h.value.packetNumber, datagram.subarray(HEADER_BYTES));
    if (!payload) {
      this.badPackets++;
      return;
    }
    this.packetsReceived++;
    this.lastRecvMs = nowMs;
    switch (h.value.type) {
      case PacketType.Initial:
        if (this.role === 'server' && this.state === 'established' && this.acceptMsg) this.acceptOwed = true;
        return;
      case PacketType.Accept:
        if (this.role === 'client') this.onAccept(nowMs, payload);
        return;
      case PacketType.Reject:
        if (this.role === 'client' && this.state === 'handshake') {
          const r = decodeReject(payload);
          if (r.ok) this.close(r.value.code, r.value.message);
          else this.close('E_PROTOCOL', 'malformed REJECT from server');
        }
        return;
      case PacketType.Data:
        this.onData(nowMs, h.value.packetNumber, payload);
        return;
    }
  }

  private onAccept(nowMs: number, payload: Uint8Array): void {
    if (this.state !== 'handshake' || !this.request) return;
    const a = decodeAccept(payload);
    if (!a.ok || a.value.op !== this.request.op) {
      this.badPackets++;
      return;
    }
    this.acceptMsg = a.value;
    this.initialDueMs = undefined;
    this.state = 'established';
    const codec = this.cfg.codecFor?.(a.value.compression);
    if (this.isDataSender) {
      if (!this.endpoint.source) throw new Error('client PUT needs a source');
      this.sender = this.makeSender(this.endpoint.source, a.value.ranges, codec);
    } else {
      if (!this.endpoint.sink) throw new Error('client GET needs a sink');
      this.receiver = new Receiver(this.endpoint.sink, a.value.sizeBytes, this.windowBytes, a.value.ranges, codec);
    }
    this.events.push({
      type: 'accepted',
      sizeBytes: a.value.sizeBytes,
      ranges: a.value.ranges,
      compression: a.value.compression,
    });
    this.checkComplete();
    void nowMs;
  }

  private onData(nowMs: number, pn: number, payload: Uint8Array): void {
    if (this.state === 'handshake') {
      // the server accepted and is sending, but its ACCEPT was lost: ask again now, not at the next retry
      if (this.initialDueMs !== undefined && this.initialDueMs > nowMs + 20) this.initialDueMs = nowMs;
      return;
    }
    const decoded = decodeFrames(payload);
    if (!decoded.ok) {
      this.badPackets++;
      return;
    }
    const frames = decoded.value;
    for (const f of frames) {
      if (f.type === 'close') {
        this.close(/^E_[A-Z_]+$/.test(f.code) ? f.code : 'E_PROTOCOL', `peer closed: ${f.reason}`);
        return;
      }
    }
    if (this.receiver) {
      if (this.state === 'lingering') {
        this.sendAckPacket(nowMs, true);
        return;
      }
      if (this.state !== 'established') return;
      let result: string;
      try {
        result = this.receiver.onPacket(nowMs, pn, frames);
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

  private onDone(status: DoneStatus): void {
    if (this.state !== 'established') return;
    if (status === DoneStatus.Verified) this.close(undefined, undefined, false, true);
    else if (status === DoneStatus.IntegrityMismatch)
      this.close('E_INTEGRITY', 'the receiver found a SHA-256 mismatch and kept nothing', false);
    else this.close('E_IO', 'the receiver could not store the file', false);
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
      this.close(
        'E_UNREACHABLE',
        `no answer from the server after ${this.initialAttempts} attempts over ${((nowMs - this.createdMs) / 1000).toFixed(1)} s`,
      );
      return;
    }
    if (this.state !== 'handshake' && nowMs >= this.lastRecvMs + this.idleTimeoutMs) {
      this.close('E_TIMEOUT', `nothing heard from the peer for ${(this.idleTimeoutMs / 1000).toFixed(1)} s`);
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
    if (this.state === 'handshake' && this.initialDueMs !== undefined && nowMs >= this.initialDueMs && this.request) {
      this.initialAttempts++;
      this.initialDueMs = nowMs + Math.min(250 * 2 ** this.initialAttempts, 2000);
      return this.sealHandshake(PacketType.Initial, encodeInitial(this.request));
    }
    if (this.acceptOwed && this.acceptMsg) {
      this.acceptOwed = false;
      this.sender?.skipPacketNumber(this.nextPn);
      return this.sealHandshake(PacketType.Accept, encodeAccept(this.acceptMsg));
    }
    if (this.receiver && (this.state === 'established' || this.state === 'verifying')) {
      if (this.receiver.ackDeadline() !== undefined && nowMs >= this.receiver.ackDeadline()!) {
        this.sendAckPacket(nowMs, false);
        return this.out.shift();
      }
    }
    if (this.sender && this.state === 'established') {
      const pn = this.nextPn;
      const frames = this.sender.buildPacket(nowMs, pn);
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
    const w = new Writer(this.payloadBytes + 64);
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
    const sealed = this.protection.seal(header, pn, payload);
    const out = new Uint8Array(HEADER_BYTES + sealed.length);
    out.set(header, 0);
    out.set(sealed, HEADER_BYTES);
    return out;
  }

  private flushClose(_nowMs: number): void {
    if (!this.closeFrame) return;
    const pn = this.nextPn++;
    this.sender?.skipPacketNumber(pn);
    this.out.push(this.sealFrames(pn, [this.closeFrame]));
    this.closeFrame = undefined;
  }

  private close(code: string | undefined, message: string | undefined, emit = true, ok = false): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    if (!emit && !ok && code === undefined) return;
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
      rttMsMin: rtt && Number.isFinite(rtt.minMs) ? rtt.minMs : (peer?.minUs ?? 0) / 1000,
      rttMsAvg: rtt ? rtt.avgMs : (peer?.avgUs ?? 0) / 1000,
      rttMsP99: rtt ? rtt.p99Ms : (peer?.p99Us ?? 0) / 1000,
      compressionRatio: s && s.bytesAfterCompression > 0 ? s.bytesBeforeCompression / s.bytesAfterCompression : 1,
      peerPacketsSent: peer?.packetsSent ?? 0,
    };
  }

  /** Data the receiver holds (the journal's content). */
  receivedRanges(): Range[] {
    return this.receiver?.data.toArray() ?? [];
  }
}

function sameId(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
