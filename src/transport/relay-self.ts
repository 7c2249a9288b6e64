// What the userspace relay adds by itself: the lateness of each release (the actual send time minus the time
// the impairment model scheduled it) in a fixed-size histogram, and its sockets' kernel receive drops (the
// `drops` column of /proc/net/udp and /proc/net/udp6), which no impairment counter can see.
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

/** Bucket upper bounds in ms: 10 µs growing by 25% per bucket up to ~13 s; one overflow bucket after them. */
const BOUNDS_MS: readonly number[] = Array.from({ length: 64 }, (_, i) => 0.01 * 1.25 ** i);

export interface LatenessSummary {
  /** Releases measured. */
  count: number;
  /** Percentiles as the upper bound of their bucket (≤ 25% above the true value), never above max_ms. */
  p50_ms: number;
  p99_ms: number;
  max_ms: number;
}

/** Lateness of releases, in 65 counters (bounded memory whatever the traffic). */
export class LatenessHistogram {
  private readonly counts = new Float64Array(BOUNDS_MS.length + 1);
  private n = 0;
  private max = 0;

  record(lateMs: number): void {
    const v = Number.isFinite(lateMs) && lateMs > 0 ? lateMs : 0;
    let i = 0;
    while (i < BOUNDS_MS.length && v > BOUNDS_MS[i]!) i++;
    this.counts[i]!++;
    this.n++;
    if (v > this.max) this.max = v;
  }

  /** The q-quantile (0 < q ≤ 1): the upper bound of the bucket holding it, capped at the largest value seen. */
  quantile(q: number): number {
    if (this.n === 0) return 0;
    const rank = Math.max(1, Math.ceil(q * this.n));
    let seen = 0;
    for (let i = 0; i < this.counts.length; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) return Math.min(BOUNDS_MS[i] ?? this.max, this.max);
    }
    return this.max;
  }

  summary(): LatenessSummary {
    const r = (x: number) => Math.round(x * 1000) / 1000;
    return { count: this.n, p50_ms: r(this.quantile(0.5)), p99_ms: r(this.quantile(0.99)), max_ms: r(this.max) };
  }
}

export interface UdpSocketRow {
  localPort: number;
  inode: number;
  drops: number;
}

/**
 * Rows of /proc/net/udp or /proc/net/udp6: `sl local_address rem_address st tx_queue:rx_queue tr:tm->when
 * retrnsmt uid timeout inode ref pointer drops`; local_address is HEXADDR:HEXPORT. Lines that do not parse are
 * skipped (the header among them).
 */
export function parseProcNetUdp(text: string): UdpSocketRow[] {
  const out: UdpSocketRow[] = [];
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length < 13 || !/^\d+:$/.test(f[0]!)) continue;
    const port = /:([0-9A-Fa-f]{4})$/.exec(f[1]!);
    const drops = Number(f[12]);
    const inode = Number(f[9]);
    if (!port || !Number.isInteger(drops) || !Number.isInteger(inode)) continue;
    out.push({ localPort: Number.parseInt(port[1]!, 16), inode, drops });
  }
  return out;
}

/** Socket inodes this process holds (from /proc/self/fd), or undefined where that cannot be read. */
function ownSocketInodes(): Set<number> | undefined {
  try {
    const s = new Set<number>();
    for (const fd of readdirSync('/proc/self/fd')) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/self/fd/${fd}`));
        if (m) s.add(Number(m[1]));
      } catch {
        // an fd closed meanwhile
      }
    }
    return s;
  } catch {
    return undefined;
  }
}

/**
 * Kernel drops of this process's UDP sockets on these local ports, summed per port (IPv4 and IPv6 tables);
 * null off Linux or where /proc/net/udp cannot be read. A port shared with another process's socket is
 * counted only for ours (matched by inode through /proc/self/fd where readable).
 */
export function readUdpDrops(ports: readonly number[]): Map<number, number> | null {
  if (process.platform !== 'linux') return null;
  const rows: UdpSocketRow[] = [];
  let readAny = false;
  for (const f of ['/proc/net/udp', '/proc/net/udp6']) {
    try {
      rows.push(...parseProcNetUdp(readFileSync(f, 'utf8')));
      readAny = true;
    } catch {
      // udp6 is absent where IPv6 is disabled
    }
  }
  if (!readAny) return null;
  const mine = ownSocketInodes();
  const want = new Set(ports);
  const out = new Map<number, number>(ports.map((p) => [p, 0]));
  for (const r of rows)
    if (want.has(r.localPort) && (!mine || mine.has(r.inode))) out.set(r.localPort, out.get(r.localPort)! + r.drops);
  return out;
}
