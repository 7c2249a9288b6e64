// The deterministic network simulator: a virtual clock and an event queue; a client and a server
// connection joined by an up link (client → server) and a down link, each an Impairment (netem semantics,
// so `rate` + `limit` make the bottleneck and its drop-tail queue). Every choice comes from one seed.
// Time jumps from event to event; a step limit and a virtual-time limit turn a hang into a reported
// liveness failure. The same (seed, up, down, size, op) always gives the same run.
// A hostile peer (hostilePeer option, hostile.ts) may join: it watches the handshake on the wire, derives the
// session keys of one side as that side holds them (its own ephemeral and the answer it saw) and injects
// authenticated DATA packets as that side; without the option nothing here changes (same draws, same events).
import {
  ClientHandshake,
  type PacketProtection,
  serverRead,
  sha256,
  sha256Of,
  toHex,
  x25519KeyPair,
} from '../crypto/index.js';
import { type Blackout, copyBytes, createRng, Impairment, type ImpairmentStats, type Netem } from '../impair/index.js';
import {
  type Compression,
  Connection,
  type ConnectionConfig,
  type ConnectionStats,
  decodeFrames,
  decodeHeader,
  decodeInitialEnvelope,
  encodeHeader,
  encodeInitial,
  HEADER_BYTES,
  type Initial,
  MemorySink,
  MemorySource,
  Op,
  openStateless,
  PacketType,
} from '../protocol/index.js';
import { canonicalJson } from './canonical-json.js';
import { EventQueue } from './event-queue.js';
import { HostilePeer, type HostilePeerOptions, type HostileStats } from './hostile.js';

export interface SimOptions {
  seed: number;
  up: Netem;
  down: Netem;
  blackouts?: Blackout[];
  /**
   * Blackouts of one direction only, besides `blackouts` (both): a receiver that stops answering while data still
   * reaches it (a stalled process) is a blackout of its direction alone.
   */
  oneWayBlackouts?: { up?: Blackout[]; down?: Blackout[] };
  /**
   * A path MTU in IP bytes (datagram + 28): larger datagrams are dropped, as a router drops a DF packet it cannot
   * forward; from `fromMs` on (default: from the start) — a route change that makes a black hole.
   */
  pathMtu?: { bytes: number; fromMs?: number };
  sizeBytes: number;
  op?: 'get' | 'put';
  maxVirtualMs?: number;
  maxSteps?: number;
  config?: Partial<Omit<ConnectionConfig, 'rng'>>;
  /**
   * The compression the client asks for (default off); the server agrees to it. Needs config.codecFor. With
   * `file`, the file's bytes instead of the seed's random ones (a compressible file). Absent, nothing changes.
   */
  compression?: Compression;
  file?: Uint8Array;
  /** A third party holding one side's session keys that injects mutated authenticated packets (hostile.ts). */
  hostilePeer?: HostilePeerOptions;
}

export type SimOutcome = 'completed' | 'failed' | 'wrong' | 'hung';

export interface SimResult {
  seed: number;
  outcome: SimOutcome;
  /** Error code when failed; liveness detail when hung. */
  reason?: string;
  /** How the data sender ended (it may time out waiting for a lost DONE although the file is verified). */
  senderOk: boolean;
  durationMs: number;
  goodputBps: number;
  steps: number;
  stats: ConnectionStats;
  link: { up: ImpairmentStats; down: ImpairmentStats };
  /** Datagrams dropped for exceeding the path MTU. */
  mtuDropped: number;
  /** What the hostile peer did (only with the hostilePeer option). */
  hostile?: HostileStats;
  /**
   * SHA-256 (hex) of every datagram as either side sent it (virtual time, side, bytes) and of both sides'
   * timelines: two runs with the same trace behaved the same, packet for packet (the refactoring guard,
   * test/fixtures/sim-digests.json).
   */
  traceSha256: string;
}

type Ev = { kind: 'deliver'; to: 'client' | 'server'; bytes: Uint8Array } | { kind: 'timer'; who: 'client' | 'server' };

export function simulateTransfer(o: SimOptions): SimResult {
  const root = createRng(o.seed);
  const upLink = new Impairment(o.up, root.fork('up'), {
    blackouts: [...(o.blackouts ?? []), ...(o.oneWayBlackouts?.up ?? [])],
  });
  const downLink = new Impairment(o.down, root.fork('down'), {
    blackouts: [...(o.blackouts ?? []), ...(o.oneWayBlackouts?.down ?? [])],
  });
  const fileRng = root.fork('file');
  const file = o.file ?? fileRng.bytes(o.sizeBytes);
  if (file.length !== o.sizeBytes)
    throw new Error(`simulateTransfer: file is ${file.length} bytes, sizeBytes ${o.sizeBytes}`);
  const op = o.op ?? 'get';
  const q = new EventQueue<Ev>();
  const maxVirtualMs = o.maxVirtualMs ?? 30 * 60_000;
  const maxSteps = o.maxSteps ?? 20_000_000;
  let now = 0;
  let steps = 0;

  const clientSink = new MemorySink(op === 'get' ? o.sizeBytes : 0);
  const serverSink = new MemorySink(op === 'put' ? o.sizeBytes : 0);
  const base = { ...o.config };
  // every simulated session runs the real handshake: Noise NK with keys drawn from the seed
  const keyRng = root.fork('keys');
  const serverKey = x25519KeyPair(keyRng.bytes(32));
  const clientRng = root.fork('client');
  const clientEphemeral = keyRng.bytes(32);
  const request: Initial = {
    op: op === 'get' ? Op.Get : Op.Put,
    resume: false,
    force: false,
    compression: o.compression ?? (0 as Compression),
    path: 'file.bin',
    sizeBytes: op === 'put' ? o.sizeBytes : 0,
    ranges: [],
  };
  const client = Connection.client(
    {
      ...base,
      rng: clientRng,
      clientSecurity: { mode: 'noise', serverPublicKey: serverKey.publicKey, ephemeral: clientEphemeral },
    },
    0,
    request,
    op === 'get' ? { sink: clientSink } : { source: new MemorySource(file) },
  );
  let server: Connection | undefined;
  const serverRng = root.fork('server');
  let serverEphemeral: Uint8Array | undefined;
  const hostile = o.hostilePeer ? new HostilePeer(o.hostilePeer, root.fork('hostile'), o.sizeBytes) : undefined;
  /** The client's Noise message 1 and, once the server's ACCEPT went by, each side's packet protection. */
  let initialMessage: Uint8Array | undefined;
  let keys: Record<'client' | 'server', PacketProtection> | undefined;
  const armed = { client: Number.NaN, server: Number.NaN };
  let receiverVerifiedMs: number | undefined;
  let receiverResult: { ok: boolean; code?: string } | undefined;
  let senderResult: { ok: boolean; code?: string } | undefined;
  let wrong = false;
  let mtuDropped = 0;
  const trace = sha256();
  const traceHead = new DataView(new ArrayBuffer(9));
  /** Feeds one datagram as sent into the trace: the virtual time, the side, the bytes. */
  const traced = (who: 'client' | 'server', d: Uint8Array) => {
    traceHead.setFloat64(0, now);
    traceHead.setUint8(8, who === 'client' ? 0 : 1);
    trace.update(new Uint8Array(traceHead.buffer));
    trace.update(d);
  };

  const linkOf = (from: 'client' | 'server') => (from === 'client' ? upLink : downLink);
  const connOf = (who: 'client' | 'server') => (who === 'client' ? client : server);
  const otherSide = (who: 'client' | 'server') => (who === 'client' ? 'server' : 'client');

  /** The session keys of both sides, as each holds them, from the handshake seen on the wire. */
  const deriveKeys = (answer: Uint8Array): typeof keys => {
    if (!initialMessage || !serverEphemeral || answer.length < 1) return undefined;
    const hs = new ClientHandshake(
      { mode: 'noise', serverPublicKey: serverKey.publicKey, ephemeral: clientEphemeral },
      { connectionId: client.connectionId },
    );
    hs.firstMessage(encodeInitial(request));
    const read = hs.readAnswer(answer[0]!, answer.subarray(1));
    const ephemeral = serverEphemeral;
    const sr = serverRead(
      { staticPrivateKey: serverKey.privateKey, allowPlaintext: false, ephemeral: () => ephemeral },
      answer[0]!,
      initialMessage,
      client.connectionId,
    );
    if (!read?.authenticated || !hs.protection || !sr.ok) return undefined;
    sr.answer(1, new Uint8Array(0)); // Split() depends on the keys, not on the answer's payload
    const sp = sr.protection();
    return sp ? { client: hs.protection, server: sp } : undefined;
  };

  /** The hostile peer watches `who`'s datagram as sent and may inject packets sealed as its side. */
  const watch = (p: HostilePeer, who: 'client' | 'server', d: Uint8Array) => {
    const h = decodeHeader(d);
    if (!h.ok) return;
    const type = h.value.type;
    if (type === PacketType.Initial && who === 'client' && !initialMessage) {
      const env = decodeInitialEnvelope(openStateless(d)?.payload ?? new Uint8Array(0));
      if (env.ok) initialMessage = copyBytes(env.value.message);
    } else if (type === PacketType.Accept && who === 'server' && !keys) {
      const opened = openStateless(d);
      keys = opened && deriveKeys(opened.payload);
      p.stats.keyed = keys !== undefined;
    } else if (type === PacketType.Data && keys) {
      // what `who` sealed opens with the other side's protection (its receiving key)
      const pn = h.value.packetNumber;
      const payload = keys[otherSide(who)].open(d.subarray(0, HEADER_BYTES), pn, d.subarray(HEADER_BYTES));
      const frames = payload && decodeFrames(payload);
      if (!frames?.ok) return;
      const as = p.opts.side;
      for (const inj of p.observe(who, pn, frames.value)) {
        const header = encodeHeader({ type: PacketType.Data, connectionId: client.connectionId, packetNumber: inj.pn });
        const bytes = keys[as].seal(header, inj.pn, inj.payload);
        q.push(now + inj.delayMs, { kind: 'deliver', to: otherSide(as), bytes });
      }
    }
  };

  const drain = (who: 'client' | 'server') => {
    const c = connOf(who);
    if (!c) return;
    for (let d = c.pollTransmit(now); d; d = c.pollTransmit(now)) {
      traced(who, d);
      if (hostile) watch(hostile, who, d);
      if (o.pathMtu && d.length + 28 > o.pathMtu.bytes && now >= (o.pathMtu.fromMs ?? 0)) {
        mtuDropped++;
        continue;
      }
      for (const dl of linkOf(who).decide(now, d.length)) {
        let bytes = d;
        if (dl.corrupt) {
          bytes = copyBytes(d);
          bytes[dl.corrupt.byteIndex] = bytes[dl.corrupt.byteIndex]! ^ (1 << dl.corrupt.bitIndex);
        }
        q.push(dl.atMs, { kind: 'deliver', to: who === 'client' ? 'server' : 'client', bytes });
      }
    }
    for (let e = c.pollEvent(); e; e = c.pollEvent()) {
      const isReceiver = !c.isDataSender;
      if (e.type === 'request' && who === 'server') {
        const agreed = o.compression !== undefined ? { compression: e.request.compression } : {};
        if (e.request.op === Op.Get)
          c.accept(now, { sizeBytes: file.length, source: new MemorySource(file), ...agreed });
        else c.accept(now, { sizeBytes: 0, sink: serverSink, ...agreed });
      } else if (e.type === 'verify') {
        const sink = who === 'client' ? clientSink : serverSink;
        const got = sha256Of(sink.data.subarray(0, e.sizeBytes));
        c.verified(now, Buffer.compare(Buffer.from(got), Buffer.from(e.sha256)) === 0);
      } else if (e.type === 'closed') {
        const r = e.ok ? { ok: true } : { ok: false, code: e.code ?? 'E_UNKNOWN' };
        if (isReceiver) {
          receiverResult ??= r;
          if (e.ok) {
            receiverVerifiedMs = now;
            const sink = who === 'client' ? clientSink : serverSink;
            if (Buffer.compare(Buffer.from(sink.data.subarray(0, file.length)), Buffer.from(file)) !== 0) wrong = true;
          }
        } else senderResult ??= r;
      }
    }
    // the loop may have sent data that produced new transmissions; re-arm the single timer
    const t = c.pollTimeout();
    if (t !== undefined) {
      const at = Math.max(t, now);
      if (armed[who] !== at) {
        armed[who] = at;
        q.push(at, { kind: 'timer', who });
      }
    } else armed[who] = Number.NaN;
  };

  drain('client');
  let hung: string | undefined;
  let sameTimeSteps = 0;
  let lastTime = -1;
  while (true) {
    const ev = q.pop();
    if (!ev) break;
    if (ev.atMs > maxVirtualMs) {
      hung = `still running after ${maxVirtualMs / 1000} s of virtual time`;
      break;
    }
    if (++steps > maxSteps) {
      hung = `step limit ${maxSteps} reached at ${now.toFixed(1)} ms`;
      break;
    }
    sameTimeSteps = ev.atMs === lastTime ? sameTimeSteps + 1 : 0;
    lastTime = ev.atMs;
    if (sameTimeSteps > 100_000) {
      hung = `livelock: 100000 events at ${now.toFixed(3)} ms`;
      break;
    }
    now = ev.atMs;
    const v = ev.value;
    if (v.kind === 'timer') {
      if (armed[v.who] !== ev.atMs) continue;
      armed[v.who] = Number.NaN;
      connOf(v.who)?.handleTimeout(now);
      drain(v.who);
    } else if (v.to === 'server') {
      if (!server) {
        server = Connection.server(
          {
            ...base,
            rng: serverRng,
            serverSecurity: {
              staticPrivateKey: serverKey.privateKey,
              allowPlaintext: false,
              ephemeral: () => {
                serverEphemeral = keyRng.bytes(32);
                return serverEphemeral;
              },
            },
          },
          now,
          v.bytes,
        );
        if (server) drain('server');
      } else {
        server.handleDatagram(now, v.bytes);
        drain('server');
      }
    } else {
      client.handleDatagram(now, v.bytes);
      drain('client');
    }
    const done = (c: Connection | undefined) => !c || c.finished;
    if (client.finished && done(server) && q.size === 0) break;
    if (client.finished && (!server || server.finished)) break;
  }

  const sender = op === 'get' ? server : client;
  const stats = sender?.stats ?? client.stats;
  let outcome: SimOutcome;
  let reason: string | undefined;
  if (wrong) outcome = 'wrong';
  else if (receiverResult?.ok) outcome = 'completed';
  else if (receiverResult || senderResult) {
    outcome = 'failed';
    reason = receiverResult?.code ?? senderResult?.code;
  } else {
    outcome = 'hung';
    reason = hung ?? 'no side reported an end';
  }
  const durationMs = receiverVerifiedMs ?? now;
  trace.update(
    new TextEncoder().encode(canonicalJson({ client: client.timeline(), server: server?.timeline() ?? [] })),
  );
  return {
    seed: o.seed,
    outcome,
    ...(reason !== undefined && { reason }),
    senderOk: senderResult?.ok ?? false,
    durationMs,
    goodputBps: outcome === 'completed' && durationMs > 0 ? (o.sizeBytes * 8 * 1000) / durationMs : 0,
    steps,
    stats,
    link: { up: { ...upLink.stats }, down: { ...downLink.stats } },
    mtuDropped,
    ...(hostile && { hostile: hostile.stats }),
    traceSha256: toHex(trace.digest()),
  };
}
