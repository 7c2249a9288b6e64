// Admission control for the server: stateless address-validation cookies (a RETRY round trip before any
// per-client state) and the unit per-source limits count (the limits themselves: shared-admission.ts). A "source" is an IPv4
// address (IPv4-mapped IPv6 included) or an IPv6 /64: one host usually holds a whole /64, so counting single IPv6
// addresses would let it pass any per-source limit.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { RemoteInfo } from './udp-socket.js';

const BUCKET_MS = 30_000;

export class AddressValidator {
  private readonly secret: Uint8Array;

  /** `secret`: 32 bytes shared by every worker of one server (a cookie minted by one validates on all). */
  constructor(secret?: Uint8Array) {
    if (secret && secret.length !== 32) throw new Error('AddressValidator: the secret must be 32 bytes');
    this.secret = secret ? Uint8Array.from(secret) : randomBytes(32);
  }

  private mac(r: RemoteInfo, cid: Uint8Array, bucket: number): Buffer {
    return createHmac('sha256', this.secret)
      .update(`${r.address}|${r.port}|${bucket}|`)
      .update(cid)
      .digest()
      .subarray(0, 16);
  }

  token(r: RemoteInfo, cid: Uint8Array, nowMs: number): Uint8Array {
    return new Uint8Array(this.mac(r, cid, Math.floor(nowMs / BUCKET_MS)));
  }

  /** Valid for the current and the previous 30 s bucket. */
  valid(token: Uint8Array, r: RemoteInfo, cid: Uint8Array, nowMs: number): boolean {
    if (token.length !== 16) return false;
    const b = Math.floor(nowMs / BUCKET_MS);
    return [b, b - 1].some((k) => timingSafeEqual(this.mac(r, cid, k), token));
  }
}

/** The unit that per-source limits count: the IPv4 address, or the /64 of an IPv6 address. */
export function sourceKey(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return mapped[1]!;
  if (!address.includes(':')) return address;
  const bare = address.split('%')[0]!.toLowerCase();
  const [head, tail] = bare.includes('::') ? bare.split('::') : [bare, undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array(Math.max(0, 8 - h.length - t.length)).fill('0'), ...t];
  return `${groups
    .slice(0, 4)
    .map((g) => Number.parseInt(g || '0', 16).toString(16))
    .join(':')}::/64`;
}
