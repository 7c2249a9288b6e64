// Both crypto backends, for tests that must hold on each: libsodium (sodium-native, a dependency: failing to
// load it here is a test failure, not a skip) and node:crypto.
import { type CryptoBackend, loadSodium, nodeBackend, sodiumBackend } from '../../src/crypto/index.js';

function sodium(): CryptoBackend {
  const s = loadSodium();
  if ('why' in s) throw new Error(`test setup: ${s.why}`);
  return sodiumBackend(s);
}

export const BACKENDS: Array<[string, CryptoBackend]> = [
  ['libsodium', sodium()],
  ['node:crypto', nodeBackend],
];
