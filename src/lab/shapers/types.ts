// The Shaper seam (design §8; code review §8 rec. 1): how one end of a path is impaired, over a Host that runs
// commands there (`ip netns exec NS`, `docker exec CONTAINER`, a sidecar in a container's network namespace).
//   probe(host, dev)                   can this kernel shape DEV here? ({ ok, detail }: tc's own words when not)
//   apply(host, dev, direction, Netem) puts the impairment on DEV's egress; returns the read-back (tc qdisc show)
//   clear(host, dev)                   reads the counters it kept, then removes it
//   show(host, dev)                    what is on DEV's egress now (no counters): read after apply and again before
//                                      clear; when they differ someone else changed the shaping, and the run fails
//                                      (`shaping tampered: …`, see `tampered`); the relay, a process, is checked alive
// Kernel netem is `netem.ts` (and `NetemPath` there: both ends of a path, with blackouts timed from the first
// datagram); the userspace relay is `relay.ts` (a process placed on a host, shaping both directions at once).
// A runtime builds the network, places hosts and says which device carries which direction; it writes no `tc`.
import type { Blackout, Netem } from '../../impair/index.js';
import type { CommandHost } from '../runtimes/host.js';

export type Direction = 'up' | 'down';

export interface ProbeResult {
  ok: boolean;
  /** `tc netem accepted`, or what tc said when it refused */
  detail: string;
}

export interface Shaper<Counters> {
  probe(host: CommandHost, dev: string): Promise<ProbeResult>;
  /** Shapes DEV's egress with `n` (the direction is for messages); returns the read-back. */
  apply(host: CommandHost, dev: string, direction: Direction, n: Netem): Promise<string>;
  /** The counters of what was applied on DEV (`where` names them in reports), then removes it. */
  clear(host: CommandHost, dev: string, where?: string): Promise<Counters | undefined>;
  /** What is on DEV's egress now, without counters (`tc qdisc show`), to compare with what apply left. */
  show(host: CommandHost, dev: string): Promise<string>;
}

/** A device's qdiscs as `tc qdisc show` says them, one per line, without what changes by itself (`refcnt N`). */
function qdiscLines(show: string): string[] {
  return show
    .split('\n')
    .map((l) => l.replace(/\s+refcnt \d+/, '').trim())
    .filter(Boolean);
}

/**
 * What changed on a device between the read-back after apply and the one before clear (`tc qdisc show`), for
 * people: `ul3s: was "qdisc netem 8001: root limit 1000 delay 1ms", now "qdisc pfifo 8002: root limit 1000p"`;
 * undefined when nothing did. With `kindOnly` (blackouts change netem's parameters on purpose) only each qdisc's
 * kind, handle and parent count.
 */
export function qdiscChange(where: string, before: string, after: string, kindOnly = false): string | undefined {
  const cut = (l: string) => (kindOnly ? l.split(/\s+/).slice(0, 4).join(' ') : l);
  const a = qdiscLines(before).map(cut);
  const b = qdiscLines(after).map(cut);
  if (a.join('\n') === b.join('\n')) return undefined;
  const say = (x: string[]) => (x.length ? `"${x.join('; ')}"` : 'nothing');
  return `${where}: was ${say(a)}, now ${say(b)}`;
}

/** Counters of a shaped path that may say it was changed under the run (`tampered`, set by the shaper's check). */
export interface Tamperable {
  tampered?: string;
}

/** Why the shaping of a run cannot be trusted (someone else changed it), from what clearShaping returned; else undefined. */
export function tampered(counters: unknown): string | undefined {
  const t = (counters as Tamperable | undefined)?.tampered;
  return typeof t === 'string' ? t : undefined;
}

/** One end of a shaped path: where `tc` runs, the device whose egress carries `direction`, and its name in reports. */
export interface ShapedEnd {
  host: CommandHost;
  dev: string;
  direction: Direction;
  /** e.g. `client eth0`, `ul3c`, `client eth0, from a sidecar` */
  where: string;
}

/** The read-back's words for blackouts, e.g. `, blackouts 1000ms+3000ms from the first datagram`. */
export function blackoutReadback(blackouts: readonly Blackout[] | undefined): string {
  if (!blackouts?.length) return '';
  return `, blackouts ${blackouts.map((b) => `${Math.round(b.startMs)}ms+${Math.round(b.durationMs)}ms`).join(' ')} from the first datagram`;
}
