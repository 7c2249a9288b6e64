// The Shaper seam (design §8; code review §8 rec. 1): how one end of a path is impaired, over a Host that runs
// commands there (`ip netns exec NS`, `docker exec CONTAINER`, a sidecar in a container's network namespace).
//   probe(host, dev)                   can this kernel shape DEV here? ({ ok, detail }: tc's own words when not)
//   apply(host, dev, direction, Netem) puts the impairment on DEV's egress; returns the read-back (tc qdisc show)
//   clear(host, dev)                   reads the counters it kept, then removes it
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
