// Session security: the handshake slot of RUFT filled with Noise NK (client pins the server's static key) or
// NKpsk0 (plus a pre-shared key), and the packet protection that follows: AEAD over every payload with the
// header as associated data, per-direction keys from Split(), the nonce = the packet number, and an
// anti-replay window. Suite byte on the wire: 0 plaintext (teaching mode only), 1 NK/ChaChaPoly,
// 2 NKpsk0/ChaChaPoly, 3 NK/AESGCM, 4 NKpsk0/AESGCM.
// Rules:
// - psk0, not psk2: the PSK is mixed before message 1's payload is encrypted, so a server reads (and acts on)
//   no request from a client that lacks the PSK (security review #3: with psk2 it did).
// - The prologue binds the suite and the connection ID: message 1 cannot be replayed under another
//   connection ID or downgraded to another suite.
// - A peer's unusable public key (low-order point) is a failed read, never an exception.
// - The label says which backend runs the per-packet AEAD (libsodium or node:crypto, and why: backend.ts).

import { type CryptoBackend, cryptoBackend, nodeBackend } from './backend.js';
import { HandshakeState } from './noise.js';
import { type CipherName, hash, x25519KeyPair } from './primitives.js';
import type { PacketProtection } from './protection.js';

export const PLAINTEXT_LABEL = 'PLAINTEXT teaching mode (--insecure-plaintext): no secrecy, no authentication';
const PROLOGUE_LABEL = new TextEncoder().encode('udplab RUFT v2');

/** Noise prologue: the protocol label, the suite byte and the connection ID of the session. */
export function prologue(suite: number, connectionId: Uint8Array): Uint8Array {
  const out = new Uint8Array(PROLOGUE_LABEL.length + 1 + connectionId.length);
  out.set(PROLOGUE_LABEL);
  out[PROLOGUE_LABEL.length] = suite;
  out.set(connectionId, PROLOGUE_LABEL.length + 1);
  return out;
}

export interface ClientSecurity {
  mode: 'noise' | 'plaintext';
  cipher?: CipherName;
  /** The server's static public key (pinned). */
  serverPublicKey?: Uint8Array;
  psk?: Uint8Array;
  /** 32 fresh random bytes for the ephemeral key. */
  ephemeral?: Uint8Array;
  /** Where X25519 and the AEAD run (default: the process's, from UDPLAB_CRYPTO). */
  backend?: CryptoBackend;
}

/** What a client handshake is bound to besides its security settings. */
export interface HandshakeBinding {
  connectionId: Uint8Array;
}

export interface ServerSecurity {
  /** The server's static private key; absent only in plaintext teaching mode. */
  staticPrivateKey?: Uint8Array;
  /** Its public key, when the caller has it (saves a derivation per handshake). */
  staticPublicKey?: Uint8Array;
  psk?: Uint8Array;
  allowPlaintext: boolean;
  /** Source of fresh ephemeral keys. */
  ephemeral: () => Uint8Array;
  /** Where X25519 and the AEAD run (default: the process's, from UDPLAB_CRYPTO). */
  backend?: CryptoBackend;
}

function suiteOf(cipher: CipherName, psk: boolean): number {
  return (cipher === 'ChaChaPoly' ? 1 : 3) + (psk ? 1 : 0);
}

function suiteParams(suite: number): { cipher: CipherName; psk: boolean } | undefined {
  if (suite < 1 || suite > 4) return undefined;
  return { cipher: suite <= 2 ? 'ChaChaPoly' : 'AESGCM', psk: suite % 2 === 0 };
}

/** The security label of a Noise session: protocol, the server's key, and what runs the per-packet AEAD. */
function noiseLabel(pattern: string, cipher: CipherName, serverKey: Uint8Array, backend: CryptoBackend): string {
  return `Noise_${pattern}_25519_${cipher}_SHA256, server ${fingerprint(serverKey)}, AEAD ${backend.note(cipher)}`;
}

export function fingerprint(publicKey: Uint8Array): string {
  return `SHA256:${Buffer.from(hash(publicKey)).toString('base64').replace(/=+$/, '')}`;
}

/** AEAD protection with a 2048-packet anti-replay window on the receiving side. */
export function aeadProtection(
  cipher: CipherName,
  sendKey: Uint8Array,
  recvKey: Uint8Array,
  label: string,
  backend: CryptoBackend = cryptoBackend(),
): PacketProtection {
  const WINDOW = 2048;
  let highest = -1;
  const seen = new Uint8Array(WINDOW);
  const send = backend.packetAead(cipher, sendKey);
  const recv = backend.packetAead(cipher, recvKey);
  return {
    security: label,
    overheadBytes: 16,
    seal: (header, pn, payload) => send.seal(header, pn, payload),
    open: (header, pn, sealed, inPlace) => {
      if (pn + WINDOW <= highest) return undefined; // too old to tell: treat as a replay
      if (pn <= highest && seen[pn % WINDOW] === 1) return undefined;
      const p = recv.open(header, pn, sealed, inPlace);
      if (!p) return undefined;
      if (pn > highest) {
        for (let q = Math.max(highest + 1, pn - WINDOW + 1); q < pn; q++) seen[q % WINDOW] = 0;
        highest = pn;
      }
      seen[pn % WINDOW] = 1;
      return p;
    },
  };
}

export class ClientHandshake {
  readonly suite: number;
  private readonly hs: HandshakeState | undefined;
  private readonly cipher: CipherName;
  private readonly backend: CryptoBackend;
  private protectionValue: PacketProtection | undefined;
  readonly label: string;

  constructor(cfg: ClientSecurity, binding: HandshakeBinding) {
    if (cfg.mode === 'plaintext') {
      this.suite = 0;
      this.cipher = 'ChaChaPoly';
      this.backend = nodeBackend; // unused: no AEAD in the teaching mode
      this.label = PLAINTEXT_LABEL;
      return;
    }
    if (!cfg.serverPublicKey || !cfg.ephemeral) throw new Error('noise client needs the server key and an ephemeral');
    this.cipher = cfg.cipher ?? 'ChaChaPoly';
    this.backend = cfg.backend ?? cryptoBackend();
    const pattern = cfg.psk ? 'NKpsk0' : 'NK';
    this.suite = suiteOf(this.cipher, !!cfg.psk);
    this.hs = new HandshakeState({
      pattern,
      cipher: this.cipher,
      initiator: true,
      prologue: prologue(this.suite, binding.connectionId),
      rs: cfg.serverPublicKey,
      e: cfg.ephemeral,
      ...(cfg.psk && { psk: cfg.psk }),
      backend: this.backend,
    });
    this.label = noiseLabel(pattern, this.cipher, cfg.serverPublicKey, this.backend);
  }

  /** The first message, carrying the encoded request (encrypted to the server's static key). */
  firstMessage(request: Uint8Array): Uint8Array {
    return this.hs ? this.hs.writeMessage(request) : request;
  }

  /**
   * The server's answer: kind 1 accept / 2 reject and its body, or undefined when it does not authenticate
   * (then the handshake is unchanged: a genuine answer may still come).
   */
  readAnswer(suite: number, body: Uint8Array): { kind: number; body: Uint8Array; authenticated: boolean } | undefined {
    if (suite === 0) {
      // a plaintext answer: the only thing it may do to a secure client is refuse
      if (body.length < 1) return undefined;
      return this.hs
        ? body[0] === 2
          ? { kind: 2, body: body.subarray(1), authenticated: false }
          : undefined
        : { kind: body[0]!, body: body.subarray(1), authenticated: false };
    }
    if (!this.hs || suite !== this.suite) return undefined;
    const p = this.hs.readMessage(body);
    if (!p || p.length < 1) return undefined;
    const [c1, c2] = this.hs.split();
    this.protectionValue = aeadProtection(this.cipher, c1.key!, c2.key!, this.label, this.backend);
    return { kind: p[0]!, body: p.subarray(1), authenticated: true };
  }

  get protection(): PacketProtection | undefined {
    return this.protectionValue;
  }
}

export type ServerRead =
  | {
      ok: true;
      suite: number;
      request: Uint8Array;
      answer: (kind: number, body: Uint8Array) => Uint8Array;
      protection: () => PacketProtection | undefined;
      label: string;
    }
  | { ok: false; code: 'E_AUTH_FAILED'; message: string };

/** Reads a client's first message under the server's policy; `connectionId` is the session's (bound in). */
export function serverRead(cfg: ServerSecurity, suite: number, body: Uint8Array, connectionId: Uint8Array): ServerRead {
  if (suite === 0) {
    if (!cfg.allowPlaintext)
      return {
        ok: false,
        code: 'E_AUTH_FAILED',
        message: 'this server requires encryption; the client asked for --insecure-plaintext',
      };
    return {
      ok: true,
      suite: 0,
      request: body,
      answer: (kind, b) => concat(Uint8Array.of(kind), b),
      protection: () => undefined,
      label: PLAINTEXT_LABEL,
    };
  }
  const params = suiteParams(suite);
  if (!params) return { ok: false, code: 'E_AUTH_FAILED', message: `unknown security suite ${suite}` };
  if (!cfg.staticPrivateKey)
    return {
      ok: false,
      code: 'E_AUTH_FAILED',
      message: 'this server runs in --insecure-plaintext teaching mode; the client must ask for it too',
    };
  if (params.psk && !cfg.psk)
    return {
      ok: false,
      code: 'E_AUTH_FAILED',
      message: 'authentication failed: the client uses a PSK, the server has none',
    };
  if (!params.psk && cfg.psk)
    return {
      ok: false,
      code: 'E_AUTH_FAILED',
      message: 'authentication failed: this server requires a PSK (--psk-file)',
    };
  const pattern = params.psk ? 'NKpsk0' : 'NK';
  const backend = cfg.backend ?? cryptoBackend();
  const hs = new HandshakeState({
    pattern,
    cipher: params.cipher,
    initiator: false,
    prologue: prologue(suite, connectionId),
    s: cfg.staticPrivateKey,
    e: cfg.ephemeral(),
    ...(params.psk && cfg.psk && { psk: cfg.psk }),
    backend,
  });
  const request = hs.readMessage(body);
  if (!request)
    return {
      ok: false,
      code: 'E_AUTH_FAILED',
      message: params.psk
        ? 'authentication failed: the client does not hold this server’s key or its PSK'
        : 'authentication failed: the client does not hold this server’s key',
    };
  let prot: PacketProtection | undefined;
  const publicKey = cfg.staticPublicKey ?? x25519KeyPair(cfg.staticPrivateKey, backend).publicKey;
  const label = noiseLabel(pattern, params.cipher, publicKey, backend);
  return {
    ok: true,
    suite,
    request,
    answer: (kind, b) => {
      const m = hs.writeMessage(concat(Uint8Array.of(kind), b));
      const [c1, c2] = hs.split();
      prot = aeadProtection(params.cipher, c2.key!, c1.key!, label, backend);
      return m;
    },
    protection: () => prot,
    label,
  };
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}
