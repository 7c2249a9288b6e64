// The connection's state and what it emits: pollTransmit (packets in a fixed priority: queued, INITIAL, the
// cached ACCEPT, the confirming PING, an owed ACK, STATS, data), pollTimeout (the earliest deadline of the timers
// live in this state, timers.ts) and pollEvent, and handleTimeout (what each expired timer does). What arrives —
// the peer's datagrams and the application's calls — is Connection's (connection.ts), which extends this class:
// one state machine in two files, its outputs here and its inputs there.
// Deadlines are compared exactly as pollTimeout() reports them (`now >= at`), never as a difference, so that
// floating-point rounding cannot make a due timer look not yet due (a livelock).
import { PLAINTEXT_LABEL, sha256 } from '../crypto/index.js';
import {
  type ConnectionConfig,
  type ConnectionEvent,
  CONNECTION_DEFAULTS as DEFAULTS,
  type Role,
} from './connection-config.js';
import { type ConnectionStats, connectionStats, type TimelinePoint, timelineOf } from './connection-stats.js';
import type { DoneStatus, Frame } from './frames.js';
import type { ClientHello, ServerHello } from './handshake.js';
import { PACKET_OVERHEAD, Packetizer } from './packetizer.js';
import type { Range } from './range-set.js';
import { Receiver } from './receiver.js';
import { Sender } from './sender.js';
import type { ChunkCodec, DataSink, DataSource } from './source-sink.js';
import { bit, Timer, TimerTable } from './timers.js';
import { type Initial, Op, PacketType } from './wire.js';

export type State = 'handshake' | 'requested' | 'established' | 'verifying' | 'lingering' | 'closed';

/** The sender's own record of what it sends: one point per STATS packet, at most this many. */
const SENDER_TIMELINE_MAX = 20_000;
const STATS_EVERY_MS = 100;

export abstract class ConnectionBase {
  readonly connectionId: Uint8Array;
  readonly payloadBytes: number;
  sender: Sender | undefined;
  receiver: Receiver | undefined;
  protected state: State;
  protected readonly events: ConnectionEvent[] = [];
  protected readonly out: Uint8Array[] = [];
  protected readonly timers = new TimerTable();
  protected readonly packets: Packetizer;
  protected readonly createdMs: number;
  protected readonly idleTimeoutMs: number;
  protected readonly handshakeTimeoutMs: number;
  protected readonly windowBytes: number;
  protected readonly lingerMs: number;
  protected readonly counters = {
    ackPacketsSent: 0,
    packetsReceived: 0,
    badPackets: 0,
    largestDataDatagram: 0,
  };
  protected request: Initial | undefined;
  protected client: ClientHello | undefined;
  protected server: ServerHello | undefined;
  protected securityLabel = PLAINTEXT_LABEL;
  /** Server: the client has sent an AEAD-verified packet since ACCEPT (its keys are confirmed). */
  protected confirmed = false;
  protected doneStatus: DoneStatus | undefined;
  private readonly senderTimeline: TimelinePoint[] = [];
  private doneProbeArmed = false;
  private doneProbes = 0;
  private nextStatsMs = 0;

  protected constructor(
    readonly role: Role,
    protected readonly cfg: ConnectionConfig,
    nowMs: number,
    connectionId: Uint8Array,
    protected readonly endpoint: { source?: DataSource; sink?: DataSink },
  ) {
    this.connectionId = connectionId;
    this.packets = new Packetizer(connectionId);
    this.state = role === 'client' ? 'handshake' : 'requested';
    this.createdMs = nowMs;
    this.idleTimeoutMs = cfg.idleTimeoutMs ?? DEFAULTS.idleTimeoutMs;
    this.handshakeTimeoutMs = cfg.handshakeTimeoutMs ?? DEFAULTS.handshakeTimeoutMs;
    this.windowBytes = cfg.windowBytes ?? DEFAULTS.windowBytes;
    this.lingerMs = cfg.lingerMs ?? DEFAULTS.lingerMs;
    this.payloadBytes = (cfg.maxDatagramBytes ?? DEFAULTS.maxDatagramBytes) - PACKET_OVERHEAD;
    this.heard(nowMs);
    this.timers.set(Timer.Handshake, nowMs + this.handshakeTimeoutMs);
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

  /** DATA packets that passed AEAD authentication (handshake-typed packets never count). */
  get packetsAccepted(): number {
    return this.counters.packetsReceived;
  }

  /** Server: the client proved it holds the session keys (an AEAD-verified packet after ACCEPT). */
  get keysConfirmed(): boolean {
    return this.confirmed;
  }

  /** The SHA-256 the data sender announced (known once all data has been read). */
  get sentSha256(): Uint8Array | undefined {
    return this.sender?.sha256Announced;
  }

  get isDataSender(): boolean {
    const op = this.request?.op;
    return (this.role === 'server') === (op === Op.Get || op === Op.List);
  }

  handleTimeout(nowMs: number): void {
    if (this.state === 'closed') return;
    if (this.state === 'lingering') {
      if (this.timers.expired(Timer.Linger, nowMs)) this.state = 'closed';
      return;
    }
    if (this.state === 'handshake' && this.timers.expired(Timer.Handshake, nowMs)) {
      const f = this.client!.failure(nowMs, this.createdMs);
      this.close(f.code, f.message);
      return;
    }
    if (this.role === 'server' && this.state === 'established' && !this.confirmed) {
      if (this.timers.expired(Timer.Confirm, nowMs)) {
        this.close('E_TIMEOUT', 'the client never confirmed the handshake');
        return;
      }
      if (this.timers.expired(Timer.AcceptRepeat, nowMs)) this.server!.onRepeatTimer(nowMs);
    }
    if (this.state !== 'handshake' && this.timers.expired(Timer.Idle, nowMs)) {
      this.close('E_TIMEOUT', `nothing heard from the peer for ${(this.idleTimeoutMs / 1000).toFixed(1)} s`);
      return;
    }
    if (this.receiver && this.state === 'established' && this.timers.expired(Timer.Progress, nowMs)) {
      this.abort(nowMs, 'E_TIMEOUT', `no new data from the sender for ${(this.idleTimeoutMs / 1000).toFixed(1)} s`);
      return;
    }
    const s = this.sender;
    if (s && this.state === 'established') {
      s.onTimer(nowMs);
      if (!s.allAcked) return;
      // all acknowledged, DONE not heard: it may be lost; probe for it, backing off
      if (!this.doneProbeArmed) {
        this.doneProbeArmed = true;
        this.timers.set(Timer.DoneProbe, nowMs + s.rtoMs);
      } else if (this.timers.expired(Timer.DoneProbe, nowMs)) {
        s.requestProbe();
        this.doneProbes++;
        this.timers.set(Timer.DoneProbe, nowMs + s.rtoMs * 2 ** Math.min(this.doneProbes, 6));
      }
    }
  }

  pollTransmit(nowMs: number): Uint8Array | undefined {
    if (this.out.length > 0) return this.out.shift();
    if (this.state === 'closed') return undefined;
    if (this.state === 'handshake') {
      const initial = this.client?.initialDue(nowMs);
      if (initial) return this.packets.sealHandshake(PacketType.Initial, initial);
    }
    const answer = this.server?.takeOwed();
    if (answer) return answer; // the same bytes again: a lost ACCEPT is repeated, never re-encrypted
    if (this.state === 'established' && this.client?.pingDue(nowMs)) {
      this.counters.ackPacketsSent++;
      return this.packets.sealFrames(this.packets.nextPn++, [{ type: 'ping' }]);
    }
    const r = this.receiver;
    if (r && (this.state === 'established' || this.state === 'verifying')) {
      const due = r.ackDeadline();
      if (due !== undefined && nowMs >= due) {
        this.sendAckPacket(nowMs, false);
        return this.out.shift();
      }
    }
    const s = this.sender;
    if (!s || this.state !== 'established') return undefined;
    if (nowMs >= this.nextStatsMs) {
      // a small packet of its own, not ack-eliciting: the receiver's timeline of the sender's state
      this.nextStatsMs = nowMs + STATS_EVERY_MS;
      const pn = this.packets.nextPn++;
      s.skipPacketNumber(pn);
      const stats = s.sample();
      // the sender's own record of what it sends: complete, whatever the path loses
      if (this.senderTimeline.length < SENDER_TIMELINE_MAX)
        this.senderTimeline.push({ tMs: nowMs, bytesReceived: s.acked.size, ...stats });
      return this.packets.sealFrames(pn, [{ type: 'stats', stats }]);
    }
    const pn = this.packets.nextPn;
    let frames: Frame[] | undefined;
    try {
      frames = s.buildPacket(nowMs, pn);
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
    if (!frames) return undefined;
    this.packets.nextPn++;
    return this.packets.sealFrames(pn, frames);
  }

  pollTimeout(): number | undefined {
    if (this.state === 'closed') return this.out.length > 0 ? 0 : undefined;
    if (this.out.length > 0 || this.server?.owed) return 0;
    return this.timers.next(this.liveTimers());
  }

  /**
   * The timers that count in this state, as a mask; copies in first the deadlines the sender and receiver derive
   * from state every ACK changes (ACK delay, pacing, loss recovery), and the DONE probe's "arm it now" (0).
   */
  private liveTimers(): number {
    if (this.state === 'lingering') return bit(Timer.Linger);
    if (this.state === 'handshake') return bit(Timer.Initial) | bit(Timer.Handshake);
    const established = this.state === 'established';
    let live = bit(Timer.Idle);
    if (this.receiver && established) live |= bit(Timer.Progress);
    if (this.role === 'server' && !this.confirmed && established) live |= bit(Timer.Confirm) | bit(Timer.AcceptRepeat);
    if (established) live |= bit(Timer.ConfirmPing);
    if (this.receiver && (established || this.state === 'verifying')) {
      this.timers.set(Timer.Ack, this.receiver.ackDeadline());
      live |= bit(Timer.Ack);
    }
    if (this.sender && established) {
      this.timers.set(Timer.Pacing, this.sender.nextSendTime());
      this.timers.set(Timer.Recovery, this.sender.nextTimerMs());
      live |= bit(Timer.Pacing) | bit(Timer.Recovery);
      if (this.sender.allAcked) {
        if (!this.doneProbeArmed) this.timers.set(Timer.DoneProbe, 0);
        live |= bit(Timer.DoneProbe);
      }
    }
    return live;
  }

  pollEvent(): ConnectionEvent | undefined {
    return this.events.shift();
  }

  /** Local abort (disk full, interrupted): tell the peer, close. */
  abort(_nowMs: number, code: string, message: string): void {
    if (this.state === 'closed') return;
    // a CLOSE needs the session keys: before the handshake has them, just stop
    if (this.packets.dataProtection) this.out.push(this.sealOwn([{ type: 'close', code, reason: message }]));
    this.close(code, message);
  }

  get stats(): ConnectionStats {
    return connectionStats(this.sender, this.receiver, {
      ...this.counters,
      initialAttempts: this.client?.attempts ?? 0,
    });
  }

  /**
   * This side's record of the transfer over time (times relative to this connection's start), by tMs
   * (connection-stats.ts: what a sender and a receiver each record).
   */
  timeline(): TimelinePoint[] {
    return timelineOf(this.createdMs, this.senderTimeline, this.receiver);
  }

  /** Data the receiver holds (the journal's content). */
  receivedRanges(): Range[] {
    return this.receiver?.data.toArray() ?? [];
  }

  /** The probe list for a path change before the sender exists (pathChanged). */
  private probeDatagramBytes: readonly number[] | undefined;

  /**
   * The peer moved to another path (the transport validated its new address): data returns to the base size and the
   * path-MTU search starts over among `probeDatagramBytes`, the datagram sizes the new path may carry (the
   * transport's, from its route: transport/path-mtu.ts). What the old path carried says nothing of the new one.
   */
  pathChanged(probeDatagramBytes: readonly number[]): void {
    this.probeDatagramBytes = probeDatagramBytes;
    this.sender?.pathChanged(probeDatagramBytes.map((b) => b - PACKET_OVERHEAD));
  }

  protected makeSender(source: DataSource, held: readonly Range[], codec: ChunkCodec | undefined): Sender {
    const probePayloadBytes = (
      this.probeDatagramBytes ??
      this.cfg.probeDatagramBytes ??
      DEFAULTS.probeDatagramBytes
    ).map((b) => b - PACKET_OVERHEAD);
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

  protected startReceiver(
    nowMs: number,
    sink: DataSink,
    sizeBytes: number,
    held: readonly Range[],
    codec: ChunkCodec | undefined,
  ): void {
    this.receiver = new Receiver(sink, sizeBytes, this.windowBytes, held, codec);
    this.progressed(nowMs);
  }

  /** Data receiver: new data or the FIN arrived (or the receiver started): the progress timer starts over. */
  protected progressed(nowMs: number): void {
    this.timers.set(Timer.Progress, nowMs + this.idleTimeoutMs);
  }

  /** An authenticated packet from the peer (or the handshake's end): the idle timer starts over. */
  protected heard(nowMs: number): void {
    this.timers.set(Timer.Idle, nowMs + this.idleTimeoutMs);
  }

  /** Data receiver: the ACK owed now (or any, `force`), with the DONE status once verified, queued. */
  protected sendAckPacket(nowMs: number, force: boolean): void {
    const r = this.receiver;
    if (!r) return;
    const ack = r.pollAck(force ? Number.POSITIVE_INFINITY : nowMs);
    const frames: Frame[] = [];
    if (ack) frames.push(ack);
    if (this.doneStatus !== undefined) frames.push({ type: 'done', status: this.doneStatus });
    if (frames.length === 0) return;
    this.counters.ackPacketsSent++;
    this.out.push(this.packets.sealFrames(this.packets.nextPn++, frames));
  }

  /** A DATA packet of the connection's own (CLOSE, PATH_*), numbered in the sender's log as not its own. */
  protected sealOwn(frames: readonly Frame[]): Uint8Array {
    const pn = this.packets.nextPn++;
    this.sender?.skipPacketNumber(pn);
    return this.packets.sealFrames(pn, frames);
  }

  protected close(code?: string, message?: string, ok = false): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    if (ok) this.events.push({ type: 'closed', ok: true });
    else this.events.push({ type: 'closed', ok: false, ...(code && { code }), ...(message && { message }) });
  }
}
