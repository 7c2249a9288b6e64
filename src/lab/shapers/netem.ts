// Kernel netem as a Shaper: `tc` over a Host (argv arrays, never a shell string), on a device's egress.
//   apply  `tc qdisc del` then `tc qdisc add … netem …` (Linux 6.1 keeps attributes left out of `replace`/`change`,
//          so a new value is always del + add), then `tc qdisc show` as the read-back
//   clear  `tc -s qdisc show` (netem's counters, parsed by parseTcStats) before `tc qdisc del`
//   probe  `tc qdisc add … netem delay 0ms` accepted (then removed), or what tc said
// `NetemPath` shapes both ends of a path (one device per direction) and runs blackouts there: it polls the qdiscs'
// counters until the first datagram has gone through (a poll every NETEM_POLL_MS, stopped by clear() and after
// maxPollMs), then at each window's start changes both qdiscs to `loss 100%` (`tc qdisc change`: every other
// attribute is sent again as the scenario has it) and back to the scenario's netem at its end (timed from when the
// switch was made: a slow `tc` makes a window late, never short). Every timer is cleared by clear(); the counters
// read just after switching on and just before switching back say what the window dropped (at least).
import { type Blackout, type Netem, tcNetemArgs } from '../../impair/index.js';
import { LabError } from '../errors.js';
import type { CommandHost } from '../runtimes/host.js';
import { type NetemCounters, parseTcStats } from './counters.js';
import { blackoutReadback, type Direction, type ProbeResult, type ShapedEnd, type Shaper } from './types.js';

/** How often the qdiscs' counters are read while waiting for a run's first datagram (blackouts only). */
export const NETEM_POLL_MS = 10;

export function tcClearArgs(dev: string): string[] {
  return ['tc', 'qdisc', 'del', 'dev', dev, 'root'];
}

/** `tc qdisc change dev DEV root netem …`: every attribute of `n` sent again (what is left out would be kept). */
export function tcChangeArgs(dev: string, n: Netem): string[] {
  const [, , ...rest] = tcNetemArgs(dev, n); // qdisc add dev DEV root netem …
  return ['tc', 'qdisc', 'change', ...rest];
}

/** The scenario's netem with everything dropped: its loss (any model) replaced by `loss 100%`. */
export function blackedOut(n: Netem): Netem {
  const { loss: _loss, ...rest } = n;
  return { ...rest, loss: { kind: 'random', pct: 100 } };
}

const said = (r: { code: number; stdout: string; stderr: string }) =>
  (r.stderr.trim() || r.stdout.trim()).split('\n')[0] || `exit ${r.code}`;

async function stats(host: CommandHost, dev: string, where: string): Promise<NetemCounters | undefined> {
  const s = parseTcStats((await host.exec(['tc', '-s', 'qdisc', 'show', 'dev', dev])).stdout, where);
  return s?.qdisc.startsWith('qdisc netem') ? s : undefined;
}

async function addNetem(host: CommandHost, dev: string, n: Netem): Promise<void> {
  const argv = ['tc', ...tcNetemArgs(dev, n)];
  const r = await host.exec(argv);
  if (r.code !== 0) throw new LabError('E_SHAPER', `${argv.join(' ')} in ${host.name}: ${said(r)}`);
}

export const netemShaper: Shaper<NetemCounters> & {
  /** apply, with `always`: a netem qdisc even for an empty value (blackouts change it and count through it). */
  apply(host: CommandHost, dev: string, direction: Direction, n: Netem, o?: { always?: boolean }): Promise<string>;
} = {
  async probe(host: CommandHost, dev: string): Promise<ProbeResult> {
    await host.exec(tcClearArgs(dev)); // nothing there, usually
    const r = await host.exec(['tc', 'qdisc', 'add', 'dev', dev, 'root', 'netem', 'delay', '0ms']);
    if (r.code !== 0) return { ok: false, detail: said(r) };
    await host.exec(tcClearArgs(dev));
    return { ok: true, detail: 'tc netem accepted' };
  },

  async apply(host: CommandHost, dev: string, _direction: Direction, n: Netem, o: { always?: boolean } = {}) {
    await host.exec(tcClearArgs(dev)); // `replace` keeps old attributes: del + add
    if (Object.keys(n).length > 0 || o.always) await addNetem(host, dev, n);
    const show = await host.exec(['tc', 'qdisc', 'show', 'dev', dev]);
    return show.stdout.trim().split('\n')[0] ?? '';
  },

  async clear(host, dev, where = dev) {
    const s = await stats(host, dev, where);
    await host.exec(tcClearArgs(dev));
    return s;
  },
};

/** Time for the blackout schedule: the real clock, or a fake one in tests. */
export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const realClock: Clock = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

/**
 * One window as it happened: when it was switched on and off (ms from the first datagram), and what netem dropped
 * between the counters read just after switching on and just before switching back (the scenario's own loss
 * included; a packet dropped in the moment between the switch and the read is not in it).
 */
export interface BlackoutWindow {
  start_ms: number;
  duration_ms: number;
  on_at_ms: number | null;
  off_at_ms: number | null;
  /** packets netem dropped inside the window, per direction */
  dropped: Partial<Record<Direction, number>>;
}

export interface NetemPathCounters {
  up?: NetemCounters;
  down?: NetemCounters;
  /** the ends (`where`) applied again during the run (a restarted container): their counters count from then */
  reapplied?: string[];
  /** with blackouts: as the relay says them, `20ms+3000ms from first datagram` */
  blackouts?: string[];
  blackout_schedule?: {
    poll_ms: number;
    polls: number;
    /** from the shaping to the first datagram seen in the counters; null when none was seen */
    first_datagram_ms: number | null;
    /** the polls' mean period as it was: one starts every poll_ms, or when the last one's `tc` answered if later */
    poll_period_ms: number | null;
    windows: BlackoutWindow[];
  };
}

export interface NetemPathOptions {
  clock?: Clock;
  pollMs?: number;
  /** stop waiting for a first datagram after this long (the run has surely ended) */
  maxPollMs?: number;
}

/** Both ends of a path under kernel netem, one device per direction; blackouts timed from the first datagram. */
export class NetemPath {
  private readonly clock: Clock;
  private readonly pollMs: number;
  private readonly maxPollMs: number;
  private readonly timers = new Set<unknown>();
  private applied: Array<{ end: ShapedEnd; netem: Netem }> = [];
  private stopped = false;
  /** transitions run one after another; clear() waits for the one in flight */
  private chain: Promise<void> = Promise.resolve();
  private schedule: NonNullable<NetemPathCounters['blackout_schedule']> | undefined;
  private blackouts: readonly Blackout[] = [];
  private depth = 0;
  private failure: string | undefined;
  private readonly reapplied = new Set<string>();

  constructor(
    private readonly ends: ShapedEnd[],
    o: NetemPathOptions = {},
  ) {
    this.clock = o.clock ?? realClock;
    this.pollMs = o.pollMs ?? NETEM_POLL_MS;
    this.maxPollMs = o.maxPollMs ?? 600_000;
  }

  /** Shapes every end with its direction's netem; returns the read-back (`up (where): qdisc netem …; down …`). */
  async apply(netem: Record<Direction, Netem>, blackouts: readonly Blackout[] = []): Promise<string> {
    const out: string[] = [];
    for (const end of this.ends) {
      const n = netem[end.direction];
      this.applied.push({ end, netem: n });
      const show = await netemShaper.apply(end.host, end.dev, end.direction, n, { always: blackouts.length > 0 });
      out.push(`${end.direction} (${end.where}): ${show}`);
    }
    if (blackouts.length === 0) return out.join('; ');
    this.blackouts = blackouts;
    this.schedule = { poll_ms: this.pollMs, polls: 0, first_datagram_ms: null, poll_period_ms: null, windows: [] };
    this.watch(this.clock.now());
    return `${out.join('; ')}${blackoutReadback(blackouts)} (netem: first datagram seen by polling tc counters every ${this.pollMs} ms)`;
  }

  private later(fn: () => void, ms: number): void {
    if (this.stopped) return;
    const h = this.clock.setTimeout(
      () => {
        this.timers.delete(h);
        if (!this.stopped) fn();
      },
      Math.max(0, ms),
    );
    this.timers.add(h);
  }

  /** Polls the qdiscs' `Sent … pkt` (and dropped) until a packet has entered one, then schedules the windows. */
  private watch(shapedAt: number): void {
    const poll = async () => {
      const s = this.schedule!;
      const started = this.clock.now();
      s.polls++;
      const seen = await Promise.all(
        this.applied.map(async ({ end }) => {
          const c = await stats(end.host, end.dev, end.where);
          return c ? c.sent_packets + c.dropped : 0;
        }),
      );
      if (this.stopped) return;
      const now = this.clock.now();
      if (s.polls > 1) s.poll_period_ms = Math.round((now - shapedAt) / (s.polls - 1));
      if (seen.some((n) => n > 0)) {
        s.first_datagram_ms = Math.round(now - shapedAt);
        this.scheduleWindows(now);
      } else if (now - shapedAt < this.maxPollMs) this.later(() => void poll(), started + this.pollMs - now);
    };
    this.later(() => void poll(), 0);
  }

  private scheduleWindows(t0: number): void {
    for (const b of this.blackouts) {
      const w: BlackoutWindow = {
        start_ms: b.startMs,
        duration_ms: b.durationMs,
        on_at_ms: null,
        off_at_ms: null,
        dropped: {},
      };
      this.schedule!.windows.push(w);
      this.later(() => this.switchOn(t0, b, w), t0 + b.startMs - this.clock.now());
    }
  }

  /**
   * At a window's start: both ends to `loss 100%` (unless an overlapping window already did), then the counters
   * as the window's baseline. Its end is timed from the moment the switch was made, so a slow `tc` (an emulated
   * CPU) makes a window late but never short.
   */
  private switchOn(t0: number, b: Blackout, w: BlackoutWindow): void {
    this.chain = this.chain.then(async () => {
      if (this.stopped) return;
      if (this.depth++ === 0) await this.change(true);
      const onAt = this.clock.now();
      w.on_at_ms = Math.round(onAt - t0);
      const base = await this.dropped();
      this.later(() => this.switchOff(t0, w, base), onAt + b.durationMs - this.clock.now());
    });
  }

  /** At its end: the counters (what the window dropped since its baseline), then the scenario's netem again. */
  private switchOff(t0: number, w: BlackoutWindow, base: Partial<Record<Direction, number>>): void {
    this.chain = this.chain.then(async () => {
      if (this.stopped) return;
      const now = await this.dropped();
      for (const [d, n] of Object.entries(now) as Array<[Direction, number]>)
        if (base[d] !== undefined) w.dropped[d] = n >= base[d] ? n - base[d] : n; // below: applied again since
      if (--this.depth === 0) await this.change(false);
      w.off_at_ms = Math.round(this.clock.now() - t0);
    });
  }

  /** netem's dropped counter on each end, by direction. */
  private async dropped(): Promise<Partial<Record<Direction, number>>> {
    const out: Partial<Record<Direction, number>> = {};
    await Promise.all(
      this.applied.map(async ({ end }) => {
        const c = await stats(end.host, end.dev, end.where);
        if (c) out[end.direction] = c.dropped;
      }),
    );
    return out;
  }

  /** `tc qdisc change` on both ends at once: `loss 100%`, or the scenario's netem; a refusal fails clear(). */
  private async change(blackout: boolean): Promise<void> {
    const results = await Promise.all(
      this.applied.map(({ end, netem }) =>
        end.host.exec(tcChangeArgs(end.dev, blackout ? blackedOut(netem) : netem)).then((r) => ({ end, r })),
      ),
    );
    for (const { end, r } of results)
      if (r.code !== 0) this.failure ??= `tc qdisc change on ${end.where} in ${end.host.name}: ${said(r)}`;
  }

  /**
   * Applies again what this path put on HOST's ends (a restarted container has a new network namespace, without
   * it): the scenario's netem, or `loss 100%` while a window is on; in turn with the windows' transitions. Its
   * counters then count from here. Returns how many ends were shaped again.
   */
  reapply(host: CommandHost): Promise<number> {
    const ends = this.applied.filter((a) => a.end.host === host);
    for (const { end } of ends) this.reapplied.add(end.where);
    const done = this.chain.then(async () => {
      if (this.stopped) return;
      for (const { end, netem } of ends)
        await netemShaper.apply(end.host, end.dev, end.direction, this.depth > 0 ? blackedOut(netem) : netem, {
          always: this.blackouts.length > 0,
        });
    });
    this.chain = done.catch((e: unknown) => {
      this.failure ??= `applying netem again on ${ends.map((a) => a.end.where).join(', ')}: ${(e as Error).message}`;
    });
    return this.chain.then(() => ends.length);
  }

  /** Stops the schedule (every timer cleared, the transition in flight finished), reads the counters, removes netem. */
  async clear(): Promise<NetemPathCounters | undefined> {
    this.stopped = true;
    for (const h of this.timers) this.clock.clearTimeout(h);
    this.timers.clear();
    await this.chain;
    const out: NetemPathCounters = {};
    for (const { end } of this.applied.splice(0)) {
      const c = await netemShaper.clear(end.host, end.dev, end.where);
      if (c) out[end.direction] = c;
    }
    if (this.reapplied.size > 0) out.reapplied = [...this.reapplied];
    if (this.schedule) {
      out.blackouts = this.blackouts.map(
        (b) => `${Math.round(b.startMs)}ms+${Math.round(b.durationMs)}ms from first datagram`,
      );
      out.blackout_schedule = this.schedule;
    }
    if (this.failure) throw new LabError('E_SHAPER', `blackouts: ${this.failure}`);
    return Object.keys(out).length > 0 ? out : undefined;
  }

  /** Timers still pending (tests: none after clear()). */
  pendingTimers(): number {
    return this.timers.size;
  }
}
