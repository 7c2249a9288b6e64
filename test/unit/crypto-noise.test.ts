// Byte-exact agreement with the published Noise test vectors (cacophony, public domain) for every pattern
// and cipher in the fixture: handshake messages, handshake hash, then transport messages both ways; on each
// crypto backend (libsodium, node:crypto), and with the initiator on one backend and the responder on the other.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type CipherName, type CryptoBackend, HandshakeState } from '../../src/crypto/index.js';
import { BACKENDS } from '../helpers/backends.js';

interface Vector {
  protocol_name: string;
  init_prologue: string;
  init_ephemeral: string;
  init_static?: string;
  init_remote_static?: string;
  init_psks?: string[];
  resp_prologue: string;
  resp_ephemeral: string;
  resp_static?: string;
  resp_remote_static?: string;
  resp_psks?: string[];
  handshake_hash: string;
  messages: Array<{ payload: string; ciphertext: string }>;
}

const fixture = JSON.parse(
  readFileSync(join(import.meta.dirname, '..', 'fixtures', 'noise-25519-sha256.json'), 'utf8'),
) as {
  vectors: Vector[];
};
const hex = (s: string) => new Uint8Array(Buffer.from(s, 'hex'));
const toHex = (b: Uint8Array) => Buffer.from(b).toString('hex');

const [[, sodium], [, node]] = BACKENDS as [[string, CryptoBackend], [string, CryptoBackend]];
const PAIRS: Array<[string, CryptoBackend, CryptoBackend]> = [
  ['libsodium', sodium, sodium],
  ['node:crypto', node, node],
  ['initiator libsodium, responder node:crypto', sodium, node],
  ['initiator node:crypto, responder libsodium', node, sodium],
];

describe.each(PAIRS)('Noise handshake against the published test vectors (%s)', (_b, initBackend, respBackend) => {
  it.each(fixture.vectors.map((v) => [v.protocol_name, v] as const))('%s', (_name, v) => {
    const m = /^Noise_([A-Za-z0-9]+)_25519_(ChaChaPoly|AESGCM)_SHA256$/.exec(v.protocol_name)!;
    const [pattern, cipher] = [m[1]!, m[2] as CipherName];
    const init = new HandshakeState({
      pattern,
      cipher,
      initiator: true,
      prologue: hex(v.init_prologue),
      e: hex(v.init_ephemeral),
      ...(v.init_static && { s: hex(v.init_static) }),
      ...(v.init_remote_static && { rs: hex(v.init_remote_static) }),
      ...(v.init_psks && { psk: hex(v.init_psks[0]!) }),
      backend: initBackend,
    });
    const resp = new HandshakeState({
      pattern,
      cipher,
      initiator: false,
      prologue: hex(v.resp_prologue),
      e: hex(v.resp_ephemeral),
      ...(v.resp_static && { s: hex(v.resp_static) }),
      ...(v.resp_remote_static && { rs: hex(v.resp_remote_static) }),
      ...(v.resp_psks && { psk: hex(v.resp_psks[0]!) }),
      backend: respBackend,
    });
    let i = 0;
    for (; !init.finished; i++) {
      const msg = v.messages[i]!;
      const [w, r] = i % 2 === 0 ? [init, resp] : [resp, init];
      const ct = w.writeMessage(hex(msg.payload));
      expect(toHex(ct)).toBe(msg.ciphertext);
      expect(toHex(r.readMessage(ct)!)).toBe(msg.payload);
    }
    expect(resp.finished).toBe(true);
    expect(toHex(init.handshakeHash)).toBe(v.handshake_hash);
    expect(toHex(resp.handshakeHash)).toBe(v.handshake_hash);
    const [i2r, r2i] = init.split();
    const [ri2r, rr2i] = resp.split();
    for (; i < v.messages.length; i++) {
      const msg = v.messages[i]!;
      // one-way patterns aside, transport messages alternate starting with the initiator
      const [enc, dec] = i % 2 === 0 ? [i2r, ri2r] : [rr2i, r2i];
      const ct = enc.encryptWithAd(new Uint8Array(0), hex(msg.payload));
      expect(toHex(ct)).toBe(msg.ciphertext);
      expect(toHex(dec.decryptWithAd(new Uint8Array(0), ct)!)).toBe(msg.payload);
    }
  });

  it('a wrong PSK is noticed by the responder at message 1 with psk0 (what udplab uses), only at message 2 with psk2', () => {
    for (const [pattern, readsMessage1] of [
      ['NKpsk0', false],
      ['NKpsk2', true],
    ] as const) {
      const v = fixture.vectors.find((x) => x.protocol_name === `Noise_${pattern}_25519_ChaChaPoly_SHA256`)!;
      const mk = (initiator: boolean, psk: string) =>
        new HandshakeState({
          pattern,
          cipher: 'ChaChaPoly',
          initiator,
          e: hex(initiator ? v.init_ephemeral : v.resp_ephemeral),
          ...(initiator ? { rs: hex(v.init_remote_static!) } : { s: hex(v.resp_static!) }),
          psk: hex(psk),
          backend: initiator ? initBackend : respBackend,
        });
      const init = mk(true, v.init_psks![0]!);
      const resp = mk(false, 'ff'.repeat(32));
      const m1 = resp.readMessage(init.writeMessage(new Uint8Array(0)));
      if (readsMessage1) {
        expect(m1).toBeDefined(); // psk2: the server reads (and would act on) the request of a client without the PSK
        expect(init.readMessage(resp.writeMessage(new Uint8Array(0)))).toBeUndefined();
      } else expect(m1).toBeUndefined(); // psk0: refused before any request is read
    }
  });
});
