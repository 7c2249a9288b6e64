// The RUFT connection state machine (sans-I/O, design §8): inputs are handleDatagram(nowMs, bytes) and
// handleTimeout(nowMs) (a spurious call is a no-op); outputs are pollTransmit(nowMs), pollEvent() and
// pollTimeout(), drained in that order (an event may lead to accept(), which changes the timers). No clock, timer,
// socket or global randomness here. The parts it drives: handshake.ts (schedules and judgements of the handshake),
// packetizer.ts (packet numbers, sealing, opening), timers.ts (every deadline in one table), sender.ts and
// receiver.ts (the data), connection-stats.ts (counters and timeline).
//
// States: client  handshake ──ACCEPT──► established ──DONE/verified──► closed
//                          └─REJECT / no answer──► closed
//         server  requested (app decides) ──accept()──► established ──► closed (after a linger)
// The data sender is the server for GET/LIST and the client for PUT; the other side is the data receiver.
// Security rules (docs/reliability.md, threat model):
// - Only AEAD-verified DATA packets count as heard from the peer (idle timer, packetsAccepted, migration);
//   handshake-typed packets carry a keyless tag anyone can compute, so after the handshake they change
//   nothing but a rate-limited repeat of the cached ACCEPT for an INITIAL identical to the one answered.
// - Key confirmation: the server touches no file for a request until the client's first AEAD-verified packet
//   (a DATA for PUT; a PING the client sends right after ACCEPT for GET/LIST): `accept()` takes the source or
//   sink as a factory called at that moment, so a replayed INITIAL executes nothing.
// - A forged or unauthenticated answer never ends a client's handshake early (handshake.ts).
// - An exception from the data source while sending aborts this connection (E_IO), never its caller.
// - A data receiver that has heard no new data (nor the FIN) for the idle timeout gives up (E_TIMEOUT), even
//   while the sender keeps talking: a sender that counts bytes as acknowledged which never arrived (a packet
//   number answered for another packet under that number, sealed by a third party with the keys) would
//   otherwise probe for DONE forever, each probe acknowledged.
import { type ServerSecurity, serverRead } from '../crypto/index.js';
import { copyBytes } from '../impair/index.js';
import { ConnectionBase } from './connection-base.js';
import type { AcceptOptions, ConnectionConfig, Deferred } from './connection-config.js';
import { DoneStatus, decodeFrames } from './frames.js';
import { ClientHello, concatBytes, MIN_INITIAL_PAYLOAD, ServerHello } from './handshake.js';
import { PACKET_OVERHEAD } from './packetizer.js';
import { printable } from './printable.js';
import type { DataSink, DataSource } from './source-sink.js';
import { Timer } from './timers.js';
import {
  type Accept,
  type Compression,
  decodeHeader,
  decodeInitial,
  decodeInitialEnvelope,
  encodeAccept,
  encodeReject,
  headerPacketNumber,
  headerTypeFor,
  type Initial,
  PacketType,
} from './wire.js';

export class Connection extends ConnectionBase {
  private acceptMsg: Accept | undefined;
  private initialMessage: Uint8Array | undefined;
  private pendingEndpoint: { source?: Deferred<DataSource>; sink?: Deferred<DataSink> } | undefined;
  private readonly pathResponses: Uint8Array[] = [];

  /** A client connection that will send `request` (GET: `sink` receives; PUT: `source` is sent). */
  static client(
    cfg: ConnectionConfig,
    nowMs: number,
    request: Initial,
    endpoint: { source?: DataSource; sink?: DataSink },
  ): Connection {
    const c = new Connection(
      'client',
      cfg,
      nowMs,
      cfg.connectionId ? copyBytes(cfg.connectionId) : cfg.rng.bytes(8),
      endpoint,
    );
    c.request = request;
    c.client = new ClientHello(cfg.clientSecurity ?? { mode: 'plaintext' }, c.connectionId, request, c.timers, nowMs);
    c.securityLabel = c.client.hs.label;
    return c;
  }

  /** A server connection from a client's first datagram, or undefined when it is not a valid INITIAL. */
  static server(cfg: ConnectionConfig, nowMs: number, datagram: Uint8Array): Connection | undefined {
    const h = decodeHeader(datagram);
    if (!h.ok || h.value.type !== PacketType.Initial) return undefined;
    const c = new Connection('server', cfg, nowMs, copyBytes(h.value.connectionId), {});
    const payload = c.packets.open(PacketType.Initial, h.value.packetNumber, datagram);
    if (!payload) return undefined;
    const env = decodeInitialEnvelope(payload);
    if (!env.ok) return undefined;
    const sec: ServerSecurity = cfg.serverSecurity ?? { allowPlaintext: true, ephemeral: () => cfg.rng.bytes(32) };
    c.initialMessage = copyBytes(env.value.message);
    const read = serverRead(sec, env.value.suite, env.value.message, c.connectionId);
    if (!read.ok) {
      // cannot talk securely with this client: refuse in plaintext (all a refusal can be) and close
      const refusal = concatBytes(Uint8Array.of(0, 2), encodeReject({ code: read.code, message: read.message }));
      c.out.push(c.packets.sealHandshake(PacketType.Reject, refusal));
      c.close(read.code, read.message);
      return c;
    }
    const init = decodeInitial(read.request);
    if (!init.ok) return undefined;
    c.server = new ServerHello(read, c.initialMessage, c.timers);
    c.securityLabel = read.label;
    c.request = init.value;
    c.events.push({ type: 'request', request: init.value });
    return c;
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
    if (!this.packets.dataProtection || this.state === 'closed' || this.state === 'handshake') return undefined;
    return this.sealOwn([{ type: 'path_challenge', data }]);
  }

  /**
   * Server: accept the pending request. `ranges`: what the receiver already holds, which the sender skips
   * (GET: the client's ranges the server honours; PUT: the server's own partial file). The source or sink
   * may be a factory: it is called when the client confirms its keys, so nothing is opened or written for
   * a client that never does (a replayed INITIAL). A factory that throws aborts the session with its code.
   */
  accept(nowMs: number, a: AcceptOptions): void {
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
    this.server!.accepted(nowMs, this.answer(PacketType.Accept, 1, encodeAccept(this.acceptMsg)));
    this.state = 'established';
    this.heard(nowMs);
    this.timers.set(Timer.Confirm, nowMs + this.handshakeTimeoutMs);
  }

  /** Server: the client's first AEAD-verified packet arrived; open the source or sink and start. */
  private confirm(nowMs: number): boolean {
    this.confirmed = true;
    this.timers.set(Timer.AcceptRepeat, undefined);
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
        this.startReceiver(nowMs, sink, this.request!.sizeBytes, a.ranges, codec);
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

  /** Server: the handshake's answer (kind 1 accept, 2 reject), sealed; sets the data keys. */
  private answer(type: PacketType, kind: number, body: Uint8Array): Uint8Array {
    const a = this.server!.answer(kind, body);
    this.packets.dataProtection = a.protection;
    return this.packets.sealHandshake(type, a.payload);
  }

  /** Receiver: the result of checking the file's SHA-256 after a `verify` event. */
  verified(nowMs: number, ok: boolean, ioError = false): void {
    if (this.state !== 'verifying') return;
    this.doneStatus = ioError ? DoneStatus.IoError : ok ? DoneStatus.Verified : DoneStatus.IntegrityMismatch;
    this.sendAckPacket(nowMs, true);
    this.timers.set(Timer.Linger, nowMs + this.lingerMs);
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

  /**
   * A datagram from the peer. `owned`: the caller gives it up (a transport's freshly received datagram, read by
   * nothing else afterwards): a large one is decrypted in place.
   */
  handleDatagram(nowMs: number, datagram: Uint8Array, owned = false): void {
    if (this.state === 'closed') return;
    const type = headerTypeFor(datagram, this.connectionId);
    if (type === 0) {
      this.counters.badPackets++;
      return;
    }
    const pn = headerPacketNumber(datagram);
    if (type === PacketType.Data && this.state === 'handshake') {
      // the server accepted and is sending, but its ACCEPT was lost (we have no keys yet): ask again now
      this.client?.onDataWithoutKeys(nowMs);
      return;
    }
    const payload = this.packets.open(type, pn, datagram, owned);
    if (!payload) {
      this.counters.badPackets++;
      return;
    }
    switch (type) {
      case PacketType.Initial:
        // keyless: at most a repeat of the cached ACCEPT, for the very INITIAL answered, before confirmation
        if (this.role === 'server' && this.state === 'established' && !this.confirmed)
          this.server?.onInitial(nowMs, payload);
        return;
      case PacketType.Retry:
        if (this.role === 'client' && this.state === 'handshake') this.client?.onRetry(nowMs, payload);
        return;
      case PacketType.Accept:
      case PacketType.Reject:
        if (this.role !== 'client') return;
        if (this.state === 'handshake') this.onAnswer(nowMs, payload);
        else if (type === PacketType.Accept) this.client?.onRepeatedAccept(nowMs);
        return;
      case PacketType.Data:
        if (this.role === 'server' && !this.confirmed) {
          if (this.state !== 'established' || !this.confirm(nowMs)) return;
        }
        this.counters.packetsReceived++;
        this.heard(nowMs);
        this.client?.onHeard();
        if (datagram.length > this.counters.largestDataDatagram) this.counters.largestDataDatagram = datagram.length;
        this.onData(nowMs, pn, payload);
        return;
    }
  }

  private onAnswer(nowMs: number, payload: Uint8Array): void {
    if (this.state !== 'handshake' || !this.request || !this.client || payload.length < 1) return;
    const v = this.client.readAnswer(nowMs, payload);
    if (v.kind === 'forged') {
      this.counters.badPackets++;
      return;
    }
    if (v.kind === 'wait') return;
    if (v.kind === 'close') {
      this.close(v.code, v.message);
      return;
    }
    const a = v.accept;
    this.packets.dataProtection = v.protection;
    this.acceptMsg = a;
    this.state = 'established';
    this.heard(nowMs);
    if (!this.isDataSender) this.client.startConfirming(nowMs);
    const codec = this.cfg.codecFor?.(a.compression);
    if (this.isDataSender) {
      if (!this.endpoint.source) throw new Error('client PUT needs a source');
      this.sender = this.makeSender(this.endpoint.source, a.ranges, codec);
    } else {
      if (!this.endpoint.sink) throw new Error('client GET needs a sink');
      this.startReceiver(nowMs, this.endpoint.sink, a.sizeBytes, a.ranges, codec);
    }
    this.events.push({
      type: 'accepted',
      sizeBytes: a.sizeBytes,
      ranges: a.ranges,
      compression: a.compression,
      sourceTag: a.sourceTag ?? new Uint8Array(8),
    });
    this.checkComplete();
  }

  private onData(nowMs: number, pn: number, payload: Uint8Array): void {
    const decoded = decodeFrames(payload);
    if (!decoded.ok) {
      this.counters.badPackets++;
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
    if (challenge) this.out.push(this.sealOwn([{ type: 'path_response', data: challenge }]));
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
          this.progressed(nowMs);
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
}

const NO_PATH_RESPONSES: readonly Uint8Array[] = Object.freeze([]);

/** The smallest INITIAL datagram a server answers: header, the padded envelope, the integrity tag. */
export const MIN_INITIAL_DATAGRAM = PACKET_OVERHEAD + MIN_INITIAL_PAYLOAD;
