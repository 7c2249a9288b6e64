// The Shaper seam's kernel netem (src/lab/shapers/netem.ts) over a fake Host that records every argv and a fake
// clock (no sleeps): del + add + read-back, counters before del, the probe, and blackouts — the first datagram
// found by polling the qdiscs' counters every 10 ms, `tc qdisc change … loss 100%` on both ends at each window's
// start and the scenario's netem again at its end, every timer cleared by clear().
import { describe, expect, it } from 'vitest';
import { parseNetem } from '../../../src/impair/index.js';
import type { CommandHost, ExecResult } from '../../../src/lab/runtimes/host.js';
import { NetemPath, netemShaper } from '../../../src/lab/shapers/netem.js';
import { FakeClock } from '../../helpers/fake-clock.js';

/** A namespace with one netem qdisc: records argv (with the fake time), answers tc like the kernel would. */
class FakeTc implements CommandHost {
  readonly calls: Array<{ t: number; argv: string[] }> = [];
  sent = 0;
  dropped = 0;
  refuse = false;
  /** how long each command takes on the fake clock (an emulated CPU: seconds) */
  latencyMs = 0;
  constructor(
    readonly name: string,
    private readonly clock: FakeClock,
  ) {}
  async exec(argv: string[]): Promise<ExecResult> {
    this.calls.push({ t: this.clock.now(), argv });
    this.clock.t += this.latencyMs;
    const ok = (stdout = ''): ExecResult => ({ code: 0, stdout, stderr: '' });
    if (argv[1] === '-s')
      return ok(
        `qdisc netem 8001: root refcnt 2 limit 1000\n Sent ${this.sent * 1200} bytes ${this.sent} pkt (dropped ${this.dropped}, overlimits 0 requeues 0)\n backlog 0b 0p requeues 0\n`,
      );
    if (argv[2] === 'show') return ok('qdisc netem 8001: root refcnt 2 limit 1000 delay 50ms\n');
    if (this.refuse && argv[2] === 'add')
      return { code: 2, stdout: '', stderr: 'Error: Specified qdisc kind is unknown.\n' };
    return ok();
  }
  tc(verb: string): string[] {
    return this.calls.filter((c) => c.argv[2] === verb).map((c) => c.argv.join(' '));
  }
  polls(): number[] {
    return this.calls.filter((c) => c.argv[1] === '-s').map((c) => c.t);
  }
}

function path(o: { maxPollMs?: number } = {}) {
  const clock = new FakeClock();
  const c = new FakeTc('netns c', clock);
  const s = new FakeTc('netns s', clock);
  const p = new NetemPath(
    [
      { host: c, dev: 'ul1c', direction: 'up', where: 'ul1c' },
      { host: s, dev: 'ul1s', direction: 'down', where: 'ul1s' },
    ],
    { clock, ...o },
  );
  return { clock, c, s, p };
}

describe('kernel netem shaper: one end', () => {
  it('apply is del + add, then the read-back; clear reads the counters, then deletes', async () => {
    const clock = new FakeClock();
    const h = new FakeTc('container client', clock);
    const show = await netemShaper.apply(h, 'eth0', 'up', parseNetem('delay 10ms loss 5%'));
    expect(show).toBe('qdisc netem 8001: root refcnt 2 limit 1000 delay 50ms');
    expect(h.calls.map((c) => c.argv.join(' '))).toEqual([
      'tc qdisc del dev eth0 root',
      'tc qdisc add dev eth0 root netem delay 10ms loss 5%',
      'tc qdisc show dev eth0',
    ]);
    h.sent = 40;
    h.dropped = 2;
    const c = await netemShaper.clear(h, 'eth0', 'client eth0');
    expect(c).toMatchObject({ where: 'client eth0', sent_packets: 40, dropped: 2, loss_pct: 4.76 });
    expect(h.calls.slice(-2).map((x) => x.argv.join(' '))).toEqual([
      'tc -s qdisc show dev eth0',
      'tc qdisc del dev eth0 root',
    ]);
  });

  it('an empty value adds no qdisc; a refused netem is one line naming the command and the host', async () => {
    const clock = new FakeClock();
    const h = new FakeTc('netns udplab-1-c1', clock);
    await netemShaper.apply(h, 'ul1c', 'up', {});
    expect(h.tc('add')).toEqual([]);
    h.refuse = true;
    await expect(netemShaper.apply(h, 'ul1c', 'up', parseNetem('loss 1%'))).rejects.toThrow(
      'tc qdisc add dev ul1c root netem loss 1% in netns udplab-1-c1: Error: Specified qdisc kind is unknown.',
    );
    expect(await netemShaper.probe(h, 'ul1c')).toEqual({
      ok: false,
      detail: 'Error: Specified qdisc kind is unknown.',
    });
    h.refuse = false;
    expect(await netemShaper.probe(h, 'ul1c')).toEqual({ ok: true, detail: 'tc netem accepted' });
    expect(h.calls.slice(-3).map((c) => c.argv.join(' '))).toEqual([
      'tc qdisc del dev ul1c root',
      'tc qdisc add dev ul1c root netem delay 0ms',
      'tc qdisc del dev ul1c root',
    ]);
  });
});

describe('kernel netem shaper: blackouts from the first datagram', () => {
  it('polls every 10 ms until a packet is counted, then loss 100% on both ends for the window, then back', async () => {
    const { clock, c, s, p } = path();
    const readback = await p.apply({ up: parseNetem('delay 50ms'), down: parseNetem('delay 50ms loss 2%') }, [
      { startMs: 20, durationMs: 3000 },
    ]);
    expect(readback).toBe(
      'up (ul1c): qdisc netem 8001: root refcnt 2 limit 1000 delay 50ms; down (ul1s): qdisc netem 8001: root refcnt 2 limit 1000 delay 50ms, blackouts 20ms+3000ms from the first datagram (netem: first datagram seen by polling tc counters every 10 ms)',
    );
    await clock.advanceTo(95); // nothing has gone through yet
    const polls = c.polls();
    expect(polls.length).toBe(10);
    for (const [i, t] of polls.entries()) if (i > 0) expect(t - polls[i - 1]!).toBeLessThanOrEqual(10);
    expect([...c.tc('change'), ...s.tc('change')]).toEqual([]);
    c.sent = 1; // the client's first datagram leaves through the up qdisc
    await clock.advanceTo(119); // seen at the poll of t=100; the window opens 20 ms later
    expect([...c.tc('change'), ...s.tc('change')]).toEqual([]);
    const pollsWhenSeen = c.polls().length;
    await clock.advanceTo(120);
    expect(c.tc('change')).toEqual(['tc qdisc change dev ul1c root netem delay 50ms loss 100%']);
    expect(s.tc('change')).toEqual(['tc qdisc change dev ul1s root netem delay 50ms loss 100%']);
    c.dropped = 7; // what the window dropped, each way
    s.dropped = 3;
    await clock.advanceTo(3119);
    expect(c.tc('change')).toHaveLength(1);
    await clock.advanceTo(3120);
    expect(c.tc('change')[1]).toBe('tc qdisc change dev ul1c root netem delay 50ms');
    expect(s.tc('change')[1]).toBe('tc qdisc change dev ul1s root netem delay 50ms loss 2%');
    // polling stopped once the first datagram was seen (only the windows' edges read the counters since)
    expect(c.polls().length).toBe(pollsWhenSeen + 2);
    const counters = await p.clear();
    expect(counters).toMatchObject({
      up: { where: 'ul1c', dropped: 7 },
      down: { where: 'ul1s', dropped: 3 },
      blackouts: ['20ms+3000ms from first datagram'],
      blackout_schedule: {
        poll_ms: 10,
        polls: 11,
        first_datagram_ms: 100,
        poll_period_ms: 10,
        windows: [{ start_ms: 20, duration_ms: 3000, on_at_ms: 20, off_at_ms: 3020, dropped: { up: 7, down: 3 } }],
      },
    });
    expect(c.tc('del').at(-1)).toBe('tc qdisc del dev ul1c root');
    expect(s.tc('del').at(-1)).toBe('tc qdisc del dev ul1s root');
    expect(p.pendingTimers()).toBe(0);
    expect(clock.pending()).toBe(0);
  });

  it('reapply: an end whose namespace was renewed gets its netem again (loss 100% inside a window), in turn', async () => {
    const { clock, c, s, p } = path();
    await p.apply({ up: parseNetem('delay 50ms'), down: parseNetem('delay 50ms loss 2%') }, [
      { startMs: 20, durationMs: 3000 },
    ]);
    c.sent = 1;
    await clock.advanceTo(30); // seen at t=0… the window is on from t=20
    expect(s.tc('change')).toEqual(['tc qdisc change dev ul1s root netem delay 50ms loss 100%']);
    s.dropped = 4;
    const before = s.calls.length;
    expect(await p.reapply(s)).toBe(1); // the server end restarted: a fresh qdisc, fresh counters
    expect(s.calls.slice(before).map((x) => x.argv.join(' '))).toEqual([
      'tc qdisc del dev ul1s root',
      'tc qdisc add dev ul1s root netem delay 50ms loss 100%', // still inside the window
      'tc qdisc show dev ul1s',
    ]);
    expect(c.calls.some((x, i) => i >= before && x.argv[2] === 'add')).toBe(false);
    s.dropped = 1; // counted since the restart: below the window's baseline
    await clock.advanceTo(3100);
    expect(s.tc('change').at(-1)).toBe('tc qdisc change dev ul1s root netem delay 50ms loss 2%');
    const counters = await p.clear();
    expect(counters!.blackout_schedule!.windows[0]!.dropped.down).toBe(1); // at least what the new qdisc dropped
    expect(counters!.reapplied).toEqual(['ul1s']); // its counters restarted: the byte cross-check skips them
    expect(await p.reapply(s)).toBe(0); // cleared: nothing left to apply
  });

  it('clear() before a window clears every timer: nothing changes afterwards', async () => {
    const { clock, c, s, p } = path();
    await p.apply({ up: {}, down: {} }, [{ startMs: 1000, durationMs: 2000 }]);
    // a direction without impairment still gets a netem qdisc: the window needs one to change and to count
    expect(c.tc('add')).toEqual(['tc qdisc add dev ul1c root netem']);
    expect(s.tc('add')).toEqual(['tc qdisc add dev ul1s root netem']);
    s.sent = 1; // the first datagram may be counted on either end
    await clock.advanceTo(500);
    expect(clock.pending()).toBe(1); // the window's start (its end is timed from the switch)
    await p.clear();
    expect(clock.pending()).toBe(0);
    await clock.advanceTo(10_000);
    expect([...c.tc('change'), ...s.tc('change')]).toEqual([]);
  });

  it('polling is bounded: no first datagram within maxPollMs ends it, and the counters say none was seen', async () => {
    const { clock, c, p } = path({ maxPollMs: 200 });
    await p.apply({ up: parseNetem('delay 5ms'), down: parseNetem('delay 5ms') }, [{ startMs: 0, durationMs: 1000 }]);
    await clock.advanceTo(5000);
    expect(c.polls().length).toBe(21); // t = 0, 10, …, 200
    expect(clock.pending()).toBe(0);
    const counters = await p.clear();
    expect(counters?.blackout_schedule).toMatchObject({ polls: 21, first_datagram_ms: null, windows: [] });
  });

  it('a slow tc (an emulated CPU) makes a window late, never short', async () => {
    const { clock, c, s, p } = path();
    await p.apply({ up: parseNetem('delay 5ms'), down: parseNetem('delay 5ms') }, [{ startMs: 20, durationMs: 3000 }]);
    c.latencyMs = 700; // every tc call on this end takes 0.7 s
    s.latencyMs = 0;
    c.sent = 1;
    await clock.advanceTo(20_000);
    const counters = await p.clear();
    const sched = counters!.blackout_schedule!;
    expect(sched.poll_period_ms).toBeNull(); // seen at the first poll
    const [w] = sched.windows;
    expect(w!.on_at_ms).toBeGreaterThanOrEqual(20);
    expect(w!.off_at_ms! - w!.on_at_ms!).toBeGreaterThanOrEqual(3000);
    const [on, off] = c.tc('change').map((l) => c.calls.find((x) => x.argv.join(' ') === l)!.t);
    expect(off! - on!).toBeGreaterThanOrEqual(3000); // the commands themselves, 3 s apart at least
    expect(clock.pending()).toBe(0);
  });

  it('overlapping windows switch on once and back once, when the last one ends', async () => {
    const { clock, c, p } = path();
    await p.apply({ up: parseNetem('delay 5ms'), down: parseNetem('delay 5ms') }, [
      { startMs: 0, durationMs: 100 },
      { startMs: 50, durationMs: 100 },
    ]);
    c.sent = 1;
    await clock.advanceTo(400);
    expect(c.tc('change').map((l) => l.endsWith('loss 100%'))).toEqual([true, false]);
    expect(c.calls.find((x) => x.argv.join(' ') === 'tc qdisc change dev ul1c root netem delay 5ms')?.t).toBe(150);
    await p.clear();
  });
});
