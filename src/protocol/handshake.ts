// The handshake's schedules and judgements, for the connection's state machine to act on. The cryptography is
// crypto/'s (Noise NK or NKpsk0 in INITIAL and ACCEPT/REJECT); this module decides when to send what and what an
// answer is worth.
// Client (ClientHello):
// - INITIAL retransmission: 250 ms, doubling to 2 s, while the RTT is unknown; once a RETRY has answered the one
//   INITIAL sent, 3 × that round trip (50–250 ms), doubling. At most three RETRYs are followed (a forged one can
//   replace a token, not loop the handshake). INITIAL is padded so a server's answers stay within 3× what the
//   client sent (the amplification limit).
// - A forged or unauthenticated answer never ends the handshake early: failures are remembered and reported at
//   the deadline; an unauthenticated REJECT closes only once it has answered three attempts over at least 400 ms
//   (forgeries sent back to back do not).
// - Key confirmation when receiving data: PINGs after ACCEPT (2 × the handshake's round trip, 50 ms–1 s,
//   doubling to 2 s) until the server is heard; a repeated ACCEPT (the server has not heard us) asks for one now.
// Server (ServerHello): the answer is cached and repeated byte for byte, never re-encrypted: for an INITIAL
// identical to the one answered (at most every 100 ms), and unprompted after 50 ms, doubling, at most 4 times
// (ACCEPT ≈ 100 bytes), until the client confirms its keys.
import {
  ClientHandshake,
  type ClientSecurity,
  integrityOnlyProtection,
  type PacketProtection,
  PLAINTEXT_LABEL,
  type ServerRead,
} from '../crypto/index.js';
import { copyBytes } from '../impair/index.js';
import { sameBytes } from './bytes.js';
import { printable } from './printable.js';
import { Timer, type TimerTable } from './timers.js';
import {
  type Accept,
  decodeAccept,
  decodeInitialEnvelope,
  decodeReject,
  encodeInitial,
  encodeInitialEnvelope,
  type Initial,
} from './wire.js';

/** INITIAL is padded so that a server's answers stay within 3× what the client sent (amplification limit). */
export const MIN_INITIAL_PAYLOAD = 1100;
/** A repeated INITIAL gets the cached ACCEPT again at most this often (a forged one cannot make it a flood). */
const ACCEPT_REPEAT_MIN_MS = 100;
/** An unauthenticated REJECT is believed once it has answered 3 INITIALs over at least this long. */
const UNAUTH_REJECT_MIN_MS = 400;
/** Unprompted ACCEPT repeats before confirmation: after 50 ms, then doubling, at most 4 (ACCEPT ≈ 100 bytes). */
const ACCEPT_REPEAT_FIRST_MS = 50;
const ACCEPT_REPEATS_MAX = 4;

/** What a client makes of an answer to its INITIAL. */
export type AnswerVerdict =
  /** It does not authenticate: a forgery, or a server of another key or PSK (counted; wait for the deadline). */
  | { kind: 'forged' }
  /** Not believed yet (an unauthenticated REJECT), or ignored: keep waiting. */
  | { kind: 'wait' }
  | { kind: 'close'; code: string; message: string }
  | { kind: 'accept'; accept: Accept; protection: PacketProtection };

export class ClientHello {
  readonly hs: ClientHandshake;
  /** INITIALs sent. */
  attempts = 0;
  private readonly message: Uint8Array;
  private baseMs = 250;
  private sentMs = 0;
  private sinceRetry = 0;
  private retries = 0;
  private token: Uint8Array = new Uint8Array(0);
  private authFailures = 0;
  private unauthReject: { code: string; message: string; firstMs: number; attempts: Set<number> } | undefined;
  private confirmAttempts = 0;
  private confirmBaseMs = 100;
  private heard = false;
  private lastPingMs = Number.NEGATIVE_INFINITY;

  constructor(
    security: ClientSecurity,
    connectionId: Uint8Array,
    private readonly request: Initial,
    private readonly timers: TimerTable,
    nowMs: number,
  ) {
    this.hs = new ClientHandshake(security, { connectionId });
    this.message = this.hs.firstMessage(encodeInitial(request));
    timers.set(Timer.Initial, nowMs);
  }

  /** The padded INITIAL envelope when one is due at `nowMs` (the next one is scheduled), else undefined. */
  initialDue(nowMs: number): Uint8Array | undefined {
    if (!this.timers.expired(Timer.Initial, nowMs)) return undefined;
    this.attempts++;
    this.sentMs = nowMs;
    this.timers.set(Timer.Initial, nowMs + Math.min(this.baseMs * 2 ** this.sinceRetry++, 2000));
    const env = encodeInitialEnvelope({ suite: this.hs.suite, token: this.token, message: this.message });
    return padTo(env, MIN_INITIAL_PAYLOAD);
  }

  /** The server asked for address validation: resend INITIAL at once with its token. */
  onRetry(nowMs: number, payload: Uint8Array): void {
    if (payload.length === 0 || payload.length > 64 || this.retries >= 3) return;
    this.retries++;
    if (this.attempts === 1 && this.token.length === 0)
      this.baseMs = Math.min(250, Math.max(50, 3 * (nowMs - this.sentMs)));
    this.token = copyBytes(payload);
    this.sinceRetry = 0;
    this.timers.set(Timer.Initial, 0);
  }

  /** DATA before any answer: the server accepted and its ACCEPT was lost; ask again now. */
  onDataWithoutKeys(nowMs: number): void {
    const due = this.timers.get(Timer.Initial);
    if (due !== undefined && due > nowMs + 20) this.timers.set(Timer.Initial, nowMs);
  }

  /** Judges an ACCEPT or REJECT payload (suite byte, Noise message). */
  readAnswer(nowMs: number, payload: Uint8Array): AnswerVerdict {
    const ans = this.hs.readAnswer(payload[0]!, payload.subarray(1));
    if (!ans) {
      this.authFailures++;
      return { kind: 'forged' };
    }
    if (ans.kind === 2) {
      const r = decodeReject(ans.body);
      if (!r.ok)
        return ans.authenticated
          ? { kind: 'close', code: 'E_PROTOCOL', message: 'malformed REJECT from server' }
          : { kind: 'wait' };
      if (ans.authenticated || this.hs.suite === 0) {
        const text = printable(r.value.message);
        return {
          kind: 'close',
          code: r.value.code,
          message: ans.authenticated ? text : `${text} (unauthenticated answer)`,
        };
      }
      return this.unauthenticatedReject(nowMs, r.value.code, r.value.message);
    }
    const a = decodeAccept(ans.body);
    if (ans.kind !== 1 || !a.ok || a.value.op !== this.request.op)
      return { kind: 'close', code: 'E_PROTOCOL', message: 'malformed ACCEPT from server' };
    this.timers.set(Timer.Initial, undefined);
    return {
      kind: 'accept',
      accept: a.value,
      protection: this.hs.protection ?? integrityOnlyProtection(PLAINTEXT_LABEL),
    };
  }

  /**
   * A secure client told "no" without authentication (the server could not read us, or a forgery): believe it
   * only when it has answered three attempts over at least UNAUTH_REJECT_MIN_MS with no genuine answer between (a
   * forger must then keep it up like one who drops every packet); ask again soon.
   */
  private unauthenticatedReject(nowMs: number, code: string, text: string): AnswerVerdict {
    const message = `${printable(text)} (unauthenticated answer)`;
    this.unauthReject ??= {
      code: /^E_[A-Z_]+$/.test(code) ? code : 'E_AUTH_FAILED',
      message,
      firstMs: nowMs,
      attempts: new Set<number>(),
    };
    const u = this.unauthReject;
    u.attempts.add(this.attempts);
    if (u.attempts.size >= 3 && nowMs >= u.firstMs + UNAUTH_REJECT_MIN_MS)
      return { kind: 'close', code: u.code, message: u.message };
    const again = nowMs + UNAUTH_REJECT_MIN_MS / 2;
    const due = this.timers.get(Timer.Initial);
    if (due !== undefined && due > again) this.timers.set(Timer.Initial, again);
    return { kind: 'wait' };
  }

  /** Why the handshake failed at its deadline. */
  failure(nowMs: number, startedMs: number): { code: string; message: string } {
    if (this.unauthReject) return { code: this.unauthReject.code, message: this.unauthReject.message };
    if (this.authFailures > 0)
      return {
        code: 'E_AUTH_FAILED',
        message:
          'authentication failed: the server’s answer does not verify (wrong PSK, or not the server whose key is pinned)',
      };
    return {
      code: 'E_UNREACHABLE',
      message: `no answer from the server after ${this.attempts} attempts over ${((nowMs - startedMs) / 1000).toFixed(1)} s`,
    };
  }

  /** After ACCEPT, receiving data: the server waits for proof that we hold the keys; PING now, then repeat. */
  startConfirming(nowMs: number): void {
    this.confirmBaseMs = Math.min(1000, Math.max(50, 2 * (nowMs - this.sentMs)));
    this.timers.set(Timer.ConfirmPing, nowMs);
  }

  /** Whether a confirming PING is due at `nowMs` (the next one is scheduled). */
  pingDue(nowMs: number): boolean {
    if (!this.timers.expired(Timer.ConfirmPing, nowMs)) return false;
    this.timers.set(
      Timer.ConfirmPing,
      this.heard ? undefined : nowMs + Math.min(this.confirmBaseMs * 2 ** this.confirmAttempts++, 2000),
    );
    this.lastPingMs = nowMs;
    return true;
  }

  /** An AEAD-verified packet from the server: it has our keys; no more PINGs. */
  onHeard(): void {
    this.heard = true;
    this.timers.set(Timer.ConfirmPing, undefined);
  }

  /** The server repeats its ACCEPT: it has not heard us yet, PING now (unless one just went). */
  onRepeatedAccept(nowMs: number): void {
    if (this.timers.isSet(Timer.ConfirmPing) && nowMs >= this.lastPingMs + 20)
      this.timers.set(Timer.ConfirmPing, nowMs);
  }
}

/** The server's side: the answer to the one INITIAL it read, cached and repeated until the client confirms. */
export class ServerHello {
  /** A cached answer is owed to the client (pollTransmit sends it). */
  owed = false;
  private cached: Uint8Array | undefined;
  private lastRepeatMs = Number.NEGATIVE_INFINITY;
  private repeats = 0;

  constructor(
    private readonly read: Extract<ServerRead, { ok: true }>,
    private readonly initialMessage: Uint8Array,
    private readonly timers: TimerTable,
  ) {}

  get label(): string {
    return this.read.label;
  }

  /** The answer's payload (kind 1 accept, 2 reject: suite byte, Noise message) and the session's DATA protection. */
  answer(kind: number, body: Uint8Array): { payload: Uint8Array; protection: PacketProtection } {
    const suite = this.read.suite;
    const message = this.read.answer(kind, body);
    const protection = this.read.protection() ?? integrityOnlyProtection(PLAINTEXT_LABEL);
    return { payload: concatBytes(Uint8Array.of(suite), message), protection };
  }

  /** The sealed ACCEPT: sent now, then repeated unprompted until the client confirms. */
  accepted(nowMs: number, sealed: Uint8Array): void {
    this.cached = sealed;
    this.owed = true;
    this.timers.set(Timer.AcceptRepeat, nowMs + ACCEPT_REPEAT_FIRST_MS);
  }

  /** An INITIAL (its verified envelope) while unconfirmed: the same bytes again, if it is the one answered. */
  onInitial(nowMs: number, envelope: Uint8Array): void {
    if (this.cached && nowMs >= this.lastRepeatMs + ACCEPT_REPEAT_MIN_MS && this.sameInitial(envelope)) {
      this.owed = true;
      this.lastRepeatMs = nowMs;
    }
  }

  /** The AcceptRepeat timer: no word from the client since ACCEPT, which may be lost; repeat it (a bounded few). */
  onRepeatTimer(nowMs: number): void {
    this.owed = true;
    this.lastRepeatMs = nowMs;
    this.repeats++;
    this.timers.set(
      Timer.AcceptRepeat,
      this.repeats < ACCEPT_REPEATS_MAX ? nowMs + ACCEPT_REPEAT_FIRST_MS * 2 ** this.repeats : undefined,
    );
  }

  /** The cached answer, when owed. */
  takeOwed(): Uint8Array | undefined {
    if (!this.owed || !this.cached) return undefined;
    this.owed = false;
    return this.cached;
  }

  /** Is this INITIAL envelope the one this session answered (not a forgery with its ID)? */
  private sameInitial(envelope: Uint8Array): boolean {
    const env = decodeInitialEnvelope(envelope);
    return env.ok && sameBytes(env.value.message, this.initialMessage);
  }
}

function padTo(b: Uint8Array, n: number): Uint8Array {
  if (b.length >= n) return b;
  const out = new Uint8Array(n);
  out.set(b);
  return out;
}

export function concatBytes(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}
