// Identities on disk: the server's static X25519 key pair (mode 0600), the client's known-hosts pins, PSK files.
// Rules: a key file is JSON { type, private, public } in base64; a PSK file holds 32 random bytes as 64 hex digits
// or base64 (never raw: a 32-character passphrase is not a key); key and PSK files open to group or others are
// refused, as ssh does (one line: the file, its mode, `chmod 600`); known_hosts lines are `host:port base64-key`;
// nothing is written unless the user asked for it (keygen, keygen --psk, --accept-new), and then with mode 0600.
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
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

/** Throws E_USAGE unless the secret at `path` is closed to group and others (mode & 077 == 0), like ssh. */
function checkSecretMode(path: string, what: string): void {
  if (process.platform === 'win32') return; // no POSIX modes to judge
  let mode: number;
  try {
    mode = statSync(path).mode & 0o777;
  } catch (e) {
    throw new TransportError('E_USAGE', `cannot read ${what} ${path}: ${(e as Error).message}`);
  }
  if ((mode & 0o077) !== 0) {
    throw new TransportError(
      'E_USAGE',
      `${what} ${path} has mode ${mode.toString(8).padStart(4, '0')}, open to group or others; refused: run chmod 600 ${path}`,
    );
  }
}

export function loadIdentity(path: string): KeyPair {
  checkSecretMode(path, 'identity');
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

/** Writes a new PSK file: 32 random bytes as 64 hex digits and a newline, mode 0600, never over an existing file. */
export function generatePsk(path: string): void {
  writeFileSync(path, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600, flag: 'wx' });
  chmodSync(path, 0o600);
}

const PSK_HOWTO = 'udplab keygen --psk FILE makes one';

export function loadPsk(path: string): Uint8Array {
  checkSecretMode(path, 'PSK file');
  let raw: Buffer;
  try {
    if (statSync(path).size > 4096) throw new Error('larger than 4 KiB');
    raw = readFileSync(path);
  } catch (e) {
    throw new TransportError('E_USAGE', `cannot read PSK file ${path}: ${(e as Error).message}`);
  }
  const t = raw.toString('utf8').trim();
  if (/^[0-9a-f]{64}$/i.test(t)) return new Uint8Array(Buffer.from(t, 'hex'));
  if (/^[A-Za-z0-9+/]{43}=?$/.test(t)) return new Uint8Array(Buffer.from(t, 'base64'));
  if (raw.length === 32)
    throw new TransportError(
      'E_USAGE',
      `PSK file ${path} holds 32 raw bytes; a PSK must be 64 hex digits or base64 of 32 random bytes, not a passphrase (${PSK_HOWTO})`,
    );
  throw new TransportError(
    'E_USAGE',
    `PSK file ${path} must hold 64 hex digits or base64 of exactly 32 bytes (${PSK_HOWTO})`,
  );
}

export class KnownHosts {
  constructor(readonly path: string) {}

  /** Pins by `host:port`, the host lowercased (host names are case-insensitive; older files kept the case typed). */
  private entries(): Map<string, string> {
    const m = new Map<string, string>();
    if (!existsSync(this.path)) return m;
    for (const line of readFileSync(this.path, 'utf8').split('\n')) {
      const [host, key] = line.trim().split(/\s+/);
      if (host && key && !host.startsWith('#')) m.set(host.toLowerCase(), key);
    }
    return m;
  }

  get(hostPort: string): Uint8Array | undefined {
    const k = this.entries().get(hostPort.toLowerCase());
    return k ? parsePublicKey(k) : undefined;
  }

  add(hostPort: string, key: Uint8Array): void {
    mkdirSync(dirname(this.path), { recursive: true, mode: 0o700 });
    writeFileSync(this.path, `${hostPort} ${Buffer.from(key).toString('base64')}\n`, { flag: 'a', mode: 0o600 });
  }
}

export { fingerprint };
