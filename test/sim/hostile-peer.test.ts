// Property (fast-check over the deterministic simulator): a third party holding one side's session keys — it
// watched the handshake and holds what that side holds — injects mutated authenticated DATA packets into a
// real transfer (src/sim/hostile.ts: frames at every field's edge, malformed frame lists, raw payloads, copies
// of the side's own DATA moved or changed, packet numbers next to / behind / ahead of the side's own). For any
// seed, side, direction, size, injection rate and network:
// - no wrong file: the receiver ends verified with the original bytes, or the transfer fails with an E_ code;
// - nothing throws out of handleDatagram / handleTimeout / poll* (simulateTransfer calls them unguarded);
// - it ends: the simulator's 30-minute virtual-time bound is never reached ('hung').
// A failure prints the fast-check seed and a `reproduce:` command (`udplab sim --hostile SIDE:RATE …`).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type Netem, parseNetem, printNetem } from '../../src/impair/index.js';
import { type SimResult, seedCase, simulateTransfer } from '../../src/sim/index.js';

const RUNS = Number(process.env.UDPLAB_HOSTILE_RUNS ?? 400);
const FC_SEED = Number(process.env.UDPLAB_HOSTILE_SEED ?? 20261201);

interface Case {
  seed: number;
  side: 'client' | 'server';
  op: 'get' | 'put';
  sizeBytes: number;
  rate: number;
  net: 'clean' | 'lossy' | 'hostile';
}

function network(c: Case): { up: Netem; down: Netem; blackouts: Array<{ startMs: number; durationMs: number }> } {
  if (c.net === 'hostile') return seedCase(c.seed).profile; // the seeds tests' random hostile profiles
  const n = parseNetem(c.net === 'lossy' ? 'delay 20ms 5ms reorder 10% duplicate 5% loss 5%' : 'delay 10ms');
  return { up: n, down: n, blackouts: [] };
}

function reproduce(c: Case): string {
  const n = network(c);
  const b = n.blackouts.map((x) => ` --blackout ${x.startMs}:${x.durationMs}`).join('');
  return `npx udplab sim --seed ${c.seed} --up "${printNetem(n.up)}" --down "${printNetem(n.down)}" --size ${c.sizeBytes} --op ${c.op} --hostile ${c.side}:${c.rate}${b}`;
}

function run(c: Case): SimResult {
  const n = network(c);
  return simulateTransfer({
    seed: c.seed,
    ...n,
    sizeBytes: c.sizeBytes,
    op: c.op,
    hostilePeer: { side: c.side, rate: c.rate },
  });
}

const cases: fc.Arbitrary<Case> = fc.record({
  seed: fc.integer({ min: 1, max: 2 ** 31 - 1 }),
  side: fc.constantFrom('client' as const, 'server' as const),
  op: fc.constantFrom('get' as const, 'put' as const),
  // empty, one byte, around one packet's data, and up to 256 KiB
  sizeBytes: fc.oneof(fc.constantFrom(0, 1, 1147, 1148, 1149), fc.integer({ min: 0, max: 256 << 10 })),
  rate: fc.constantFrom(0.005, 0.02, 0.05, 0.1, 0.3, 1),
  net: fc.constantFrom('clean' as const, 'lossy' as const, 'hostile' as const),
});

describe('a hostile peer holding the session keys, in the simulator', () => {
  it(`never makes the honest side accept a wrong file, throw, or run forever (${RUNS} runs)`, () => {
    const outcomes: Record<string, number> = {};
    let injected = 0;
    let keyed = 0;
    let longestMs = 0;
    const started = Date.now();
    const verdict = (c: Case): string | undefined => {
      const r = run(c);
      if (r.outcome === 'wrong') return 'a wrong file was accepted';
      if (r.outcome === 'hung') return `hung: ${r.reason}`;
      if (r.outcome === 'failed' && !/^E_[A-Z_]+$/.test(r.reason ?? '')) return `failed without a code: ${r.reason}`;
      // the adversary must have had the keys, unless the handshake itself never completed
      if (!r.hostile?.keyed && r.reason !== 'E_UNREACHABLE') return 'the hostile peer never obtained the keys';
      return undefined;
    };
    const result = fc.check(
      fc.property(cases, (c) => {
        const r = run(c);
        const k = `${r.outcome}${r.reason ? ` ${r.reason}` : ''}`;
        outcomes[k] = (outcomes[k] ?? 0) + 1;
        injected += r.hostile?.injected ?? 0;
        if (r.hostile?.keyed) keyed++;
        longestMs = Math.max(longestMs, r.durationMs);
        return verdict(c) === undefined;
      }),
      { numRuns: RUNS, seed: FC_SEED },
    );
    if (result.failed) {
      const c = result.counterexample?.[0];
      console.error(
        `hostile peer: property failed (fast-check seed ${result.seed}, path "${result.counterexample ? result.counterexamplePath : ''}")` +
          (c
            ? `: ${verdict(c) ?? result.errorInstance}\n  case ${JSON.stringify(c)}\n  reproduce: ${reproduce(c)}`
            : ''),
      );
      throw result.errorInstance ?? new Error('hostile-peer property failed');
    }
    console.log(
      `hostile peer: ${RUNS} runs in ${Date.now() - started} ms (fast-check seed ${FC_SEED}); keys held in ${keyed}, ` +
        `${injected} packets injected; outcomes ${JSON.stringify(outcomes)}; longest ${(longestMs / 1000).toFixed(1)} s virtual`,
    );
    // not vacuous: the peer acted in most runs, and both completions and coded failures occur
    expect(keyed).toBeGreaterThan(RUNS * 0.8);
    expect(injected).toBeGreaterThan(RUNS);
    expect(outcomes.completed ?? 0).toBeGreaterThan(0);
    expect(Object.keys(outcomes).some((k) => k.startsWith('failed E_'))).toBe(true);
  }, 120_000);

  it('the replay command names exactly the run the property judged', () => {
    const c: Case = { seed: 1020, side: 'server', op: 'get', sizeBytes: 200_000, rate: 0.3, net: 'clean' };
    expect(reproduce(c)).toBe(
      'npx udplab sim --seed 1020 --up "delay 10ms" --down "delay 10ms" --size 200000 --op get --hostile server:0.3',
    );
    expect(run(c)).toEqual(run(c));
  });
});
