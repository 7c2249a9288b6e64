// A scriptable attacker for hostile tests: it speaks RUFT from its own UDP socket on 127.0.0.1 and holds what a
// real attacker would — a RETRY cookie for its address, and, when given the server's public key (and PSK), a
// complete session with its own keys — so that tests reach past the front door. Every wait is bounded.
import { randomBytes } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { ClientHandshake, type PacketProtection } from '../../src/crypto/index.js';
import {
  type Accept,
  decodeAccept,
  decodeFrames,
  decodeHeader,
  decodeReject,
  encodeFrames,
  encodeHeader,
  encodeInitial,
  encodeInitialEnvelope,
  type Frame,
  HEADER_BYTES,
  type Initial,
  MIN_INITIAL_PAYLOAD,
  Op,
  openStateless,
  PacketType,
  sealStateless,
} from '../../src/protocol/index.js';

export interface Received {
  bytes: Uint8Array;
  from: { address: string; port: number };
}

export class EvilSocket {
  readonly inbox: Received[] = [];
  private waiters: Array<() => void> = [];

  private constructor(
    readonly socket: Socket,
    readonly port: number,
  ) {
    socket.on('message', (m, r) => {
      this.inbox.push({ bytes: new Uint8Array(m), from: { address: r.address, port: r.port } });
      for (const w of this.waiters.splice(0)) w();
    });
  }

  static async open(host = '127.0.0.1'): Promise<EvilSocket> {
    const s = createSocket(host.includes(':') ? 'udp6' : 'udp4');
    await new Promise<void>((ok) => s.bind(0, host, () => ok()));
    return new EvilSocket(s, s.address().port);
  }

  send(bytes: Uint8Array, port: number, host = '127.0.0.1'): void {
    this.socket.send(bytes, port, host);
  }

  /** The first datagram (new since `from`) that `match` accepts, or undefined after `timeoutMs`. */
  async waitFor(match: (r: Received) => boolean, timeoutMs = 2000, from = 0): Promise<Received | undefined> {
    const deadline = Date.now() + timeoutMs;
    let seen = from;
    for (;;) {
      for (; seen < this.inbox.length; seen++) if (match(this.inbox[seen]!)) return this.inbox[seen];
      const left = deadline - Date.now();
      if (left <= 0) return undefined;
      await new Promise<void>((ok) => {
        const t = setTimeout(ok, left);
        this.waiters.push(() => {
          clearTimeout(t);
          ok();
        });
      });
    }
  }

  close(): void {
    try {
      this.socket.close();
    } catch {
      /* closed already */
    }
  }
}

export const typeOf = (b: Uint8Array): number | undefined => {
  const h = decodeHeader(b);
  return h.ok ? h.value.type : undefined;
};

/** An INITIAL datagram, padded as a real client pads it, around any Noise message and suite. */
export function initialDatagram(cid: Uint8Array, suite: number, token: Uint8Array, message: Uint8Array): Uint8Array {
  const env = encodeInitialEnvelope({ suite, token, message });
  const padded = new Uint8Array(Math.max(MIN_INITIAL_PAYLOAD, env.length));
  padded.set(env);
  return sealStateless(PacketType.Initial, cid, padded);
}

/** Asks the server for a RETRY cookie for (this socket, cid): what any off-path host can get for itself. */
export async function cookieFor(
  sock: EvilSocket,
  serverPort: number,
  cid: Uint8Array,
  serverHost = '127.0.0.1',
): Promise<Uint8Array> {
  const from = sock.inbox.length;
  sock.send(initialDatagram(cid, 1, new Uint8Array(0), new Uint8Array(48)), serverPort, serverHost);
  const r = await sock.waitFor((m) => typeOf(m.bytes) === PacketType.Retry, 2000, from);
  if (!r) throw new Error('no RETRY from the server');
  return openStateless(r.bytes)!.payload.slice();
}

export interface EvilSessionOptions {
  serverPort: number;
  /** Where the server is (default 127.0.0.1). */
  serverHost?: string;
  serverKey: Uint8Array;
  psk?: Uint8Array;
  request: Initial;
  cid?: Uint8Array;
}

/** A session the attacker completed with its own keys: it can seal any frames the protocol has. */
export class EvilSession {
  private pn = 1;

  constructor(
    readonly sock: EvilSocket,
    readonly serverPort: number,
    readonly cid: Uint8Array,
    readonly protection: PacketProtection,
    readonly accept: Accept,
    readonly initial: Uint8Array,
  ) {}

  static async open(sock: EvilSocket, o: EvilSessionOptions): Promise<EvilSession> {
    const r = await EvilSession.attempt(sock, o);
    if (r.kind === 'silent') throw new Error('no answer to the handshake');
    if (r.kind === 'rejected') throw new Error(`handshake refused: ${r.code} ${r.message}`);
    return r.session;
  }

  /** One handshake; the answer as it came (accepted, refused with its code, or silence). */
  static async attempt(
    sock: EvilSocket,
    o: EvilSessionOptions,
  ): Promise<
    | { kind: 'accepted'; session: EvilSession }
    | { kind: 'rejected'; code: string; message: string; authenticated: boolean }
    | { kind: 'silent' }
  > {
    const cid = o.cid ?? randomBytes(8);
    const token = await cookieFor(sock, o.serverPort, cid, o.serverHost);
    const hs = new ClientHandshake(
      { mode: 'noise', serverPublicKey: o.serverKey, ephemeral: randomBytes(32), ...(o.psk && { psk: o.psk }) },
      { connectionId: cid },
    );
    const initial = initialDatagram(cid, hs.suite, token, hs.firstMessage(encodeInitial(o.request)));
    const from = sock.inbox.length;
    sock.send(initial, o.serverPort, o.serverHost);
    const ans = await sock.waitFor(
      (m) => typeOf(m.bytes) === PacketType.Accept || typeOf(m.bytes) === PacketType.Reject,
      2000,
      from,
    );
    if (!ans) return { kind: 'silent' };
    const env = openStateless(ans.bytes)!;
    const read = hs.readAnswer(env.payload[0]!, env.payload.subarray(1));
    if (!read)
      return { kind: 'rejected', code: 'E_AUTH_FAILED', message: 'answer did not verify', authenticated: false };
    if (read.kind === 2) {
      const rej = decodeReject(read.body);
      return {
        kind: 'rejected',
        code: rej.ok ? rej.value.code : '?',
        message: rej.ok ? rej.value.message : '?',
        authenticated: read.authenticated,
      };
    }
    const acc = decodeAccept(read.body);
    if (!acc.ok || !hs.protection) throw new Error('malformed ACCEPT');
    return { kind: 'accepted', session: new EvilSession(sock, o.serverPort, cid, hs.protection, acc.value, initial) };
  }

  nextPn(): number {
    return this.pn++;
  }

  /** A DATA packet with these frames, sealed with the session's own key (what the server will authenticate). */
  seal(frames: readonly Frame[], pn = this.nextPn()): Uint8Array {
    return this.sealRaw(encodeFrames(frames), pn);
  }

  /** A DATA packet around arbitrary payload bytes (malformed frames included), still authenticated. */
  sealRaw(payload: Uint8Array, pn = this.nextPn()): Uint8Array {
    const header = encodeHeader({ type: PacketType.Data, connectionId: this.cid, packetNumber: pn });
    return this.protection.seal(header, pn, payload);
  }

  send(frames: readonly Frame[], host = '127.0.0.1'): void {
    this.sock.send(this.seal(frames), this.serverPort, host);
  }

  private readonly opened = new WeakMap<Uint8Array, Frame[] | undefined>();

  /**
   * The frames of a DATA packet from the server, or undefined when it is not one of this session's. The result is
   * kept per datagram: the anti-replay window would refuse a second opening of the same packet.
   */
  open(bytes: Uint8Array): Frame[] | undefined {
    if (this.opened.has(bytes)) return this.opened.get(bytes);
    const frames = this.openOnce(bytes);
    this.opened.set(bytes, frames);
    return frames;
  }

  private openOnce(bytes: Uint8Array): Frame[] | undefined {
    const h = decodeHeader(bytes);
    if (!h.ok || h.value.type !== PacketType.Data) return undefined;
    const p = this.protection.open(bytes.subarray(0, HEADER_BYTES), h.value.packetNumber, bytes.subarray(HEADER_BYTES));
    if (!p) return undefined;
    const f = decodeFrames(p);
    return f.ok ? f.value : undefined;
  }
}

/** A GET request as a fresh client sends it (fields of `extra` override). */
export const getRequest = (path: string, extra: Partial<Initial> = {}): Initial => ({
  op: Op.Get,
  resume: false,
  force: false,
  compression: 0,
  path,
  sizeBytes: 0,
  ranges: [],
  ...extra,
});

/** The highest packet number of the DATA packets in `sock`'s inbox (from index `from`) that open under `s`'s keys. */
export function highestDataPn(sock: EvilSocket, s: EvilSession, from = 0): number {
  let top = 0;
  for (const m of sock.inbox.slice(from)) {
    const h = decodeHeader(m.bytes);
    if (h.ok && h.value.type === PacketType.Data && s.open(m.bytes)) top = Math.max(top, h.value.packetNumber);
  }
  return top;
}
