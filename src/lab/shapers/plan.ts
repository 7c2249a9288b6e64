// What the lab actually applies for a netem value, and why. netem's own pitfalls, handled here once:
// - its default `limit 1000` tail-drops on its own at high bandwidth-delay products: without a limit we set
//   one from rate × delay (2 × BDP in 1200-byte packets, at least 1000; without a rate we assume 1 Gbit/s);
// - reordering needs a delay (refused earlier, at scenario validation);
// - jitter without a rate reorders packets (tfifo sorts by send time): said, not hidden.
// The same plan feeds both shapers, so the userspace relay and the kernel see the same parameters.
import { type Netem, printNetem } from '../../impair/index.js';

export interface ShapingPlan {
  netem: Netem;
  notices: string[];
}

const ASSUMED_RATE_BIT = 1e9;
const PACKET_BYTES = 1200;

export function planShaping(direction: 'up' | 'down', n: Netem): ShapingPlan {
  const notices: string[] = [];
  const out: Netem = { ...n };
  const delayMs = (n.delay?.delayMs ?? 0) + (n.delay?.jitterMs ?? 0);
  if (n.limit === undefined && delayMs > 0) {
    const rate = n.rate?.rateBit ?? ASSUMED_RATE_BIT;
    const bdpPackets = Math.ceil(((rate / 8) * (delayMs / 1000)) / PACKET_BYTES);
    const limit = Math.max(1000, 2 * bdpPackets);
    if (limit !== 1000) {
      out.limit = limit;
      notices.push(
        `${direction}: set netem limit ${limit} (2 × ${n.rate ? 'rate' : 'an assumed 1 Gbit/s'} × delay ${delayMs} ms): netem's default 1000 would drop packets by itself`,
      );
    }
  }
  if (n.delay?.jitterMs && !n.rate) {
    notices.push(`${direction}: jitter without a rate reorders packets, as netem does (add a rate to keep order)`);
  }
  return { netem: out, notices };
}

/** The scenario's netem with the sweep's loss in place of its own (random loss; 0% removes loss). */
export function withLoss(n: Netem, lossPct: number | undefined): Netem {
  if (lossPct === undefined) return n;
  const { loss: _drop, ...rest } = n;
  return lossPct > 0 ? { ...rest, loss: { kind: 'random', pct: lossPct } } : rest;
}

export function describePlan(up: Netem, down: Netem): string {
  return `up "${printNetem(up)}" down "${printNetem(down)}"`;
}
