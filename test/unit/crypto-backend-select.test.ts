// Choosing the backend: a sodium-native that loads but lacks a function the backend calls is not libsodium.
// Before, auto picked it and every handshake and packet threw a TypeError (each session failed with an internal
// error instead of falling back to node:crypto); UDPLAB_CRYPTO=sodium accepted it at startup.
import { describe, expect, it } from 'vitest';
import { loadSodium, type SodiumApi, selectBackend } from '../../src/crypto/index.js';

function real(): SodiumApi {
  const s = loadSodium();
  if ('why' in s) throw new Error(`test setup: ${s.why}`);
  return s;
}

/** sodium-native's API without one function, as another major or a stub would be. */
function without(name: keyof SodiumApi): () => SodiumApi {
  const s = real();
  const api = {
    crypto_aead_chacha20poly1305_ietf_encrypt: s.crypto_aead_chacha20poly1305_ietf_encrypt,
    crypto_aead_chacha20poly1305_ietf_decrypt: s.crypto_aead_chacha20poly1305_ietf_decrypt,
    crypto_scalarmult: s.crypto_scalarmult,
    crypto_scalarmult_base: s.crypto_scalarmult_base,
  };
  delete (api as Partial<SodiumApi>)[name];
  return () => api;
}

describe('a sodium-native without the functions the backend calls', () => {
  it('auto falls back to node:crypto and says why; the fallback seals and opens', () => {
    const be = selectBackend(undefined, without('crypto_aead_chacha20poly1305_ietf_decrypt'));
    expect(be.name).toBe('node:crypto');
    expect(be.note('ChaChaPoly')).toBe(
      'node:crypto (fallback: sodium-native lacks crypto_aead_chacha20poly1305_ietf_decrypt)',
    );
    const aead = be.packetAead('ChaChaPoly', new Uint8Array(32).fill(1));
    const header = new Uint8Array(14);
    const sealed = aead.seal(header, 7, Uint8Array.of(1, 2, 3));
    expect([...(aead.open(header, 7, sealed.subarray(header.length)) ?? [])]).toEqual([1, 2, 3]);
  });

  it('UDPLAB_CRYPTO=sodium refuses it with one E_USAGE line', () => {
    expect(() => selectBackend('sodium', without('crypto_scalarmult'))).toThrow(
      /^UDPLAB_CRYPTO=sodium: sodium-native lacks crypto_scalarmult$/,
    );
  });

  it('the real sodium-native has them all', () => {
    expect(selectBackend('sodium', real).name).toBe('libsodium');
  });
});
