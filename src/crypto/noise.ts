// The Noise Protocol Framework (revision 34) handshake for X25519 / ChaChaPoly|AESGCM / SHA-256, for the
// patterns NN, NK, IK, XX and their psk0/psk2/psk3 modifiers. udplab uses NK (the client pins the server's
// static key) and NKpsk0 (plus a pre-shared key); the others exist so that every published vector is checked.
// Rules: ephemeral keys come from the caller (an Rng in the simulator, the OS in the transport); a message
// that does not authenticate, or whose public key is unusable (a low-order X25519 point), makes readMessage
// return undefined and leaves the state exactly as it was before the call, so a forged message cannot end
// a handshake that a genuine one would complete.
import { type CryptoBackend, cryptoBackend } from './backend.js';
import {
  aeadDecrypt,
  aeadEncrypt,
  type CipherName,
  hash,
  hkdf,
  type KeyPair,
  x25519,
  x25519KeyPair,
} from './primitives.js';

type Token = 'e' | 's' | 'ee' | 'es' | 'se' | 'ss' | 'psk';

interface Pattern {
  pre: { initiator: Token[]; responder: Token[] };
  messages: Token[][];
}

const BASE: Record<string, Pattern> = {
  NN: { pre: { initiator: [], responder: [] }, messages: [['e'], ['e', 'ee']] },
  NK: {
    pre: { initiator: [], responder: ['s'] },
    messages: [
      ['e', 'es'],
      ['e', 'ee'],
    ],
  },
  IK: {
    pre: { initiator: [], responder: ['s'] },
    messages: [
      ['e', 'es', 's', 'ss'],
      ['e', 'ee', 'se'],
    ],
  },
  XX: { pre: { initiator: [], responder: [] }, messages: [['e'], ['e', 'ee', 's', 'es'], ['s', 'se']] },
};

export function parsePattern(name: string): Pattern {
  const m = /^([A-Z]+)((?:psk\d)*)$/.exec(name);
  const base = m && BASE[m[1]!];
  if (!base) throw new Error(`unsupported Noise pattern ${name}`);
  const messages = base.messages.map((t) => [...t]);
  for (const mod of m[2]!.match(/psk\d/g) ?? []) {
    const k = Number(mod.slice(3));
    if (k === 0) messages[0]!.unshift('psk');
    else messages[k - 1]!.push('psk');
  }
  return { pre: base.pre, messages };
}

export class CipherState {
  n = 0n;
  constructor(
    readonly cipher: CipherName,
    readonly key: Uint8Array | undefined,
    readonly backend: CryptoBackend = cryptoBackend(),
  ) {}
  get hasKey(): boolean {
    return this.key !== undefined;
  }
  encryptWithAd(ad: Uint8Array, plaintext: Uint8Array): Uint8Array {
    if (!this.key) return plaintext;
    return aeadEncrypt(this.cipher, this.key, this.n++, ad, plaintext, this.backend);
  }
  decryptWithAd(ad: Uint8Array, ciphertext: Uint8Array): Uint8Array | undefined {
    if (!this.key) return ciphertext;
    const p = aeadDecrypt(this.cipher, this.key, this.n, ad, ciphertext, this.backend);
    if (p) this.n++;
    return p;
  }
}

class SymmetricState {
  ck: Uint8Array;
  h: Uint8Array;
  cs: CipherState;
  constructor(
    readonly cipher: CipherName,
    protocolName: string,
    readonly backend: CryptoBackend,
  ) {
    const name = new TextEncoder().encode(protocolName);
    if (name.length <= 32) {
      this.h = new Uint8Array(32);
      this.h.set(name);
    } else this.h = hash(name);
    this.ck = this.h;
    this.cs = new CipherState(cipher, undefined, backend);
  }
  mixKey(ikm: Uint8Array): void {
    const [ck, k] = hkdf(this.ck, ikm, 2);
    this.ck = ck!;
    this.cs = new CipherState(this.cipher, k!, this.backend);
  }
  mixHash(data: Uint8Array): void {
    this.h = hash(this.h, data);
  }
  mixKeyAndHash(ikm: Uint8Array): void {
    const [ck, th, k] = hkdf(this.ck, ikm, 3);
    this.ck = ck!;
    this.mixHash(th!);
    this.cs = new CipherState(this.cipher, k!, this.backend);
  }
  encryptAndHash(p: Uint8Array): Uint8Array {
    const c = this.cs.encryptWithAd(this.h, p);
    this.mixHash(c);
    return c;
  }
  decryptAndHash(c: Uint8Array): Uint8Array | undefined {
    const p = this.cs.decryptWithAd(this.h, c);
    if (p) this.mixHash(c);
    return p;
  }
  split(): [CipherState, CipherState] {
    const [k1, k2] = hkdf(this.ck, new Uint8Array(0), 2);
    return [new CipherState(this.cipher, k1!, this.backend), new CipherState(this.cipher, k2!, this.backend)];
  }
}

export interface HandshakeOptions {
  pattern: string;
  cipher: CipherName;
  initiator: boolean;
  prologue?: Uint8Array;
  /** Local static private key. */
  s?: Uint8Array;
  /** Remote static public key known in advance (NK, IK: the initiator knows the responder's). */
  rs?: Uint8Array;
  /** Local ephemeral private key (from the caller's randomness). */
  e: Uint8Array;
  psk?: Uint8Array;
  /** Where X25519 and the AEAD run (default: the process's, from UDPLAB_CRYPTO). */
  backend?: CryptoBackend;
}

export class HandshakeState {
  private readonly ss: SymmetricState;
  private readonly pattern: Pattern;
  private readonly s: KeyPair | undefined;
  private readonly e: KeyPair;
  private rs: Uint8Array | undefined;
  private re: Uint8Array | undefined;
  private msg = 0;
  private readonly hasPsk: boolean;
  private readonly backend: CryptoBackend;
  readonly protocolName: string;

  constructor(private readonly o: HandshakeOptions) {
    this.protocolName = `Noise_${o.pattern}_25519_${o.cipher}_SHA256`;
    this.pattern = parsePattern(o.pattern);
    this.hasPsk = o.pattern.includes('psk');
    if (this.hasPsk && o.psk?.length !== 32) throw new Error('a psk pattern needs a 32-byte psk');
    this.backend = o.backend ?? cryptoBackend();
    this.ss = new SymmetricState(o.cipher, this.protocolName, this.backend);
    this.ss.mixHash(o.prologue ?? new Uint8Array(0));
    this.s = o.s ? x25519KeyPair(o.s, this.backend) : undefined;
    this.e = x25519KeyPair(o.e, this.backend);
    this.rs = o.rs;
    for (const side of ['initiator', 'responder'] as const) {
      for (const t of this.pattern.pre[side]) {
        if (t !== 's') continue;
        const local = (side === 'initiator') === o.initiator;
        const key = local ? this.s?.publicKey : this.rs;
        if (!key) throw new Error(`pattern ${o.pattern} needs the ${side}'s static key before the handshake`);
        this.ss.mixHash(key);
      }
    }
  }

  get finished(): boolean {
    return this.msg >= this.pattern.messages.length;
  }

  get handshakeHash(): Uint8Array {
    return this.ss.h;
  }

  get remoteStatic(): Uint8Array | undefined {
    return this.rs;
  }

  private myTurn(): boolean {
    return (this.msg % 2 === 0) === this.o.initiator;
  }

  writeMessage(payload: Uint8Array): Uint8Array {
    if (this.finished || !this.myTurn()) throw new Error('writeMessage out of turn');
    const parts: Uint8Array[] = [];
    for (const t of this.pattern.messages[this.msg]!) {
      switch (t) {
        case 'e':
          parts.push(this.e.publicKey);
          this.ss.mixHash(this.e.publicKey);
          if (this.hasPsk) this.ss.mixKey(this.e.publicKey);
          break;
        case 's':
          parts.push(this.ss.encryptAndHash(this.s!.publicKey));
          break;
        case 'psk':
          this.ss.mixKeyAndHash(this.o.psk!);
          break;
        default: {
          const shared = this.dh(t);
          if (!shared) throw new Error(`Noise ${t}: the remote public key is unusable`);
          this.ss.mixKey(shared);
        }
      }
    }
    parts.push(this.ss.encryptAndHash(payload));
    this.msg++;
    return concat(parts);
  }

  /**
   * The payload, or undefined when the message does not authenticate (wrong key, wrong PSK, tampering, a
   * low-order public key); then the state is unchanged.
   */
  readMessage(message: Uint8Array): Uint8Array | undefined {
    if (this.finished || this.myTurn()) return undefined;
    const saved = { ck: this.ss.ck, h: this.ss.h, cs: this.ss.cs, n: this.ss.cs.n, re: this.re, rs: this.rs };
    const payload = this.tryReadMessage(message);
    if (!payload) {
      this.ss.ck = saved.ck;
      this.ss.h = saved.h;
      this.ss.cs = saved.cs;
      saved.cs.n = saved.n;
      this.re = saved.re;
      this.rs = saved.rs;
    }
    return payload;
  }

  private tryReadMessage(message: Uint8Array): Uint8Array | undefined {
    let pos = 0;
    for (const t of this.pattern.messages[this.msg]!) {
      switch (t) {
        case 'e':
          if (message.length < pos + 32) return undefined;
          this.re = message.slice(pos, pos + 32);
          pos += 32;
          this.ss.mixHash(this.re);
          if (this.hasPsk) this.ss.mixKey(this.re);
          break;
        case 's': {
          const len = this.ss.cs.hasKey ? 48 : 32;
          if (message.length < pos + len) return undefined;
          const rs = this.ss.decryptAndHash(message.subarray(pos, pos + len));
          if (!rs) return undefined;
          this.rs = rs;
          pos += len;
          break;
        }
        case 'psk':
          this.ss.mixKeyAndHash(this.o.psk!);
          break;
        default: {
          const shared = this.dh(t);
          if (!shared) return undefined;
          this.ss.mixKey(shared);
        }
      }
    }
    const payload = this.ss.decryptAndHash(message.subarray(pos));
    if (!payload) return undefined;
    this.msg++;
    return payload;
  }

  /** The DH of token `t`, or undefined when the remote key is unusable (low-order point). */
  private dh(t: 'ee' | 'es' | 'se' | 'ss'): Uint8Array | undefined {
    const i = this.o.initiator;
    // es: initiator's e with responder's s; se: initiator's s with responder's e
    const local = t === 'ee' ? this.e : t === 'ss' ? this.s : t === 'es' ? (i ? this.e : this.s) : i ? this.s : this.e;
    const remote =
      t === 'ee' ? this.re : t === 'ss' ? this.rs : t === 'es' ? (i ? this.rs : this.re) : i ? this.re : this.rs;
    if (!local || !remote) throw new Error(`Noise ${t}: a key is missing`);
    return x25519(local.privateKey, remote, this.backend);
  }

  /** Transport keys: [initiator → responder, responder → initiator]. */
  split(): [CipherState, CipherState] {
    if (!this.finished) throw new Error('split before the handshake finished');
    return this.ss.split();
  }
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
