// Identities on disk: the server's static X25519 key pair (mode 0600), the client's known-hosts pins, PSK files.
// Rules: a key file is JSON { type, private, public } in base64; known_hosts lines are `host:port base64-key`;
// nothing is written unless the user asked for it (keygen, --accept-new).
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fingerprint, type KeyPair, x25519KeyPair } from '../crypto/index.js';
import { TransportError } from './errors.js';

export function udplabHome(): string {
  return process.env.UDPLAB_HOME ?? join(homedir(), '.config', 'udplab');
}

export const defaultIdentityPath = () => join(udplabHome(), 'server.key');
export const defaultKnownHostsPath = () => join(udplabHome(), 'known_hosts');

export function generateIdentity(path: string): KeyPair {
  const kp = x25519KeyPair(randomBytes(32));
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const body = JSON.stringify({
    type: 'udplab-x25519',
    private: Buffer.from(kp.privateKey).toString('base64'),
    public: Buffer.from(kp.publicKey).toString('base64'),
  });
  writeFileSync(path, `${body}\n`, { mode: 0o600, flag: 'wx' });
  chmodSync(path, 0o600);
  return kp;
}

export function loadIdentity(path: string): KeyPair {
  let j: { type?: string; private?: string };
  try {
    j = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new TransportError('E_USAGE', `cannot read identity ${path}: ${(e as Error).message}`);
  }
  const priv = Buffer.from(j.private ?? '', 'base64');
  if (j.type !== 'udplab-x25519' || priv.length !== 32)
    throw new TransportError('E_USAGE', `${path} is not a udplab key file`);
  return x25519KeyPair(priv);
}

export function parsePublicKey(text: string): Uint8Array {
  const b = Buffer.from(text.trim(), /^[0-9a-f]{64}$/i.test(text.trim()) ? 'hex' : 'base64');
  if (b.length !== 32) throw new TransportError('E_USAGE', `"${text}" is not a 32-byte public key (base64 or hex)`);
  return new Uint8Array(b);
}

export function loadPsk(path: string): Uint8Array {
  let raw: Buffer;
  try {
    raw = readFileSync(path);
  } catch (e) {
    throw new TransportError('E_USAGE', `cannot read PSK file ${path}: ${(e as Error).message}`);
  }
  if (raw.length === 32) return new Uint8Array(raw);
  const t = raw.toString('utf8').trim();
  const b = /^[0-9a-f]{64}$/i.test(t) ? Buffer.from(t, 'hex') : Buffer.from(t, 'base64');
  if (b.length !== 32) throw new TransportError('E_USAGE', `PSK file ${path} must hold 32 bytes (raw, hex or base64)`);
  return new Uint8Array(b);
}

export class KnownHosts {
  constructor(readonly path: string) {}

  private entries(): Map<string, string> {
    const m = new Map<string, string>();
    if (!existsSync(this.path)) return m;
    for (const line of readFileSync(this.path, 'utf8').split('\n')) {
      const [host, key] = line.trim().split(/\s+/);
      if (host && key && !host.startsWith('#')) m.set(host, key);
    }
    return m;
  }

  get(hostPort: string): Uint8Array | undefined {
    const k = this.entries().get(hostPort);
    return k ? parsePublicKey(k) : undefined;
  }

  add(hostPort: string, key: Uint8Array): void {
    mkdirSync(dirname(this.path), { recursive: true, mode: 0o700 });
    writeFileSync(this.path, `${hostPort} ${Buffer.from(key).toString('base64')}\n`, { flag: 'a', mode: 0o600 });
  }
}

export { fingerprint };
