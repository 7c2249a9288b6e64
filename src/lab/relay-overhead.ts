// What the userspace relay adds by itself, said in every relay-shaped lab report: its release lateness beyond the
// configured delay, and the datagrams its own sockets dropped before shaping (not part of the configured loss).
// Read from the `self` block of the relay's final JSON report (src/transport/relay.ts); kernel netem runs have
// none, and get nothing.
import type { Netem } from '../impair/index.js';
import type { RelayOverhead, RelayOverheadDirection } from '../report/index.js';

export type { RelayOverhead, RelayOverheadDirection };

interface SelfDir {
  lateness?: { count?: number; p50_ms?: number; p99_ms?: number; max_ms?: number };
  socket_drops?: number | null;
  send_errors?: number;
}

/** The p99 lateness a direction may show before a report says so loudly. */
export function latenessLimitMs(configuredDelayMs: number): number {
  return 1 + 0.1 * configuredDelayMs;
}

/** The relay's overhead from its report (`shaper_counters`), or undefined when the run was not relay-shaped. */
export function relayOverhead(counters: unknown, up: Netem, down: Netem): RelayOverhead | undefined {
  const c = counters as
    | { shaper?: string; self?: { up?: SelfDir; down?: SelfDir; event_loop_delay?: { p99_ms?: number } } }
    | null
    | undefined;
  if (c?.shaper !== 'userspace' || !c.self?.up || !c.self.down) return undefined;
  const dir = (d: SelfDir, n: Netem): RelayOverheadDirection => ({
    releases: d.lateness?.count ?? 0,
    p50_ms: d.lateness?.p50_ms ?? 0,
    p99_ms: d.lateness?.p99_ms ?? 0,
    max_ms: d.lateness?.max_ms ?? 0,
    socket_drops: typeof d.socket_drops === 'number' ? d.socket_drops : null,
    send_errors: d.send_errors ?? 0,
    configured_delay_ms: n.delay?.delayMs ?? 0,
  });
  const u = dir(c.self.up, up);
  const dn = dir(c.self.down, down);
  const loud = [u, dn].some(
    (d) => (d.socket_drops ?? 0) > 0 || d.send_errors > 0 || d.p99_ms > latenessLimitMs(d.configured_delay_ms),
  );
  return { up: u, down: dn, event_loop_delay_p99_ms: c.self.event_loop_delay?.p99_ms ?? 0, loud };
}

const ms = (x: number) => (x < 10 ? x.toFixed(2) : x.toFixed(1));

/**
 * The notice for one scenario's relay-shaped runs (worst p50/p99 over runs and directions, drops summed):
 * "the userspace relay added p50 X ms / p99 Y ms beyond the configured delay; its sockets dropped N datagrams
 * before shaping (not part of the configured loss)" — prefixed `WARN:` when any run is loud.
 */
export function relayOverheadNotice(runs: { id: string; overhead: RelayOverhead }[]): string | undefined {
  if (runs.length === 0) return undefined;
  const dirs = runs.flatMap((r) => [r.overhead.up, r.overhead.down]);
  const p50 = Math.max(...dirs.map((d) => d.p50_ms));
  const p99 = Math.max(...dirs.map((d) => d.p99_ms));
  const known = dirs.every((d) => d.socket_drops !== null);
  const drops = dirs.reduce((n, d) => n + (d.socket_drops ?? 0), 0);
  const errors = dirs.reduce((n, d) => n + d.send_errors, 0);
  const loud = runs.filter((r) => r.overhead.loud).map((r) => r.id);
  const loop = Math.max(...runs.map((r) => r.overhead.event_loop_delay_p99_ms));
  const scope = runs.length > 1 ? ` (worst of ${runs.length} runs, both directions)` : ' (worst direction)';
  const dropText = known
    ? `its sockets dropped ${drops} datagram${drops === 1 ? '' : 's'} before shaping (not part of the configured loss)`
    : `its sockets' kernel drops are unknown here (no /proc/net/udp)${drops > 0 ? `, at least ${drops}` : ''}`;
  return (
    `${loud.length > 0 ? 'WARN: ' : ''}the userspace relay added p50 ${ms(p50)} ms / p99 ${ms(p99)} ms beyond the configured delay${scope} (its event loop's p99 delay ${ms(loop)} ms comes before that, unmeasured per datagram); ` +
    `${dropText}${errors > 0 ? `; ${errors} of its sends failed` : ''}` +
    (loud.length > 0
      ? ` — over the limit (drops, or p99 > 1 ms + 10% of the configured delay) in ${loud.join(', ')}`
      : '')
  );
}
