// `udplab sim`: deterministic simulated transfers. One seed with a given network, or N seeds over
// random hostile profiles with a summary and, for any bad seed, the command that replays it.
import type { Command } from 'commander';
import {
  type Blackout,
  type Netem,
  parseNetem,
  parsePercent,
  parseRateBit,
  parseSizeBytes,
  parseTimeMs,
  printNetem,
} from '../../impair/index.js';
import {
  formatBottleneck,
  type HostilePeerOptions,
  parseFlows,
  runSeeds,
  simulateBottleneck,
  simulateTransfer,
} from '../../sim/index.js';
import type { Register } from '../index.js';
import { UsageError } from '../usage-error.js';

interface SimFlags {
  seeds?: string;
  seed?: string;
  netem?: string;
  up?: string;
  down?: string;
  size?: string;
  op?: string;
  blackout?: string[];
  hostile?: string;
  json?: boolean;
  bottleneck?: string;
  queue?: string;
  flows?: string;
  stagger?: string;
  loss?: string;
  rtt?: string;
  duration?: string;
}

function timeFlag(name: string, v: string | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  const ms = parseTimeMs(v);
  if (ms === undefined) throw new UsageError(`--${name} expects a time such as 40ms or 2s, got "${v}"`);
  return ms;
}

/** `--bottleneck RATE`: N flows through one shared drop-tail queue (shared-bottleneck.ts). */
function runBottleneck(flags: SimFlags, seed: number): number {
  const rateBit = parseRateBit(flags.bottleneck ?? '');
  if (rateBit === undefined || !(rateBit > 0))
    throw new UsageError(`--bottleneck expects a rate such as 10mbit, got "${flags.bottleneck}"`);
  const queueBdp = Number(flags.queue ?? '1');
  if (!/^\d*\.?\d+$/.test(flags.queue ?? '1') || !(queueBdp > 0) || queueBdp > 100)
    throw new UsageError(`--queue expects a size in BDPs in (0, 100], got "${flags.queue}"`);
  const staggerMs = timeFlag('stagger', flags.stagger, 0);
  const rttMs = timeFlag('rtt', flags.rtt, 40);
  if (!(rttMs > 0)) throw new UsageError(`--rtt must be positive, got "${flags.rtt}"`);
  const durationMs = timeFlag('duration', flags.duration, 30_000);
  const flows = parseFlows(flags.flows ?? 'ruft*2', staggerMs);
  if (!flows) throw new UsageError(`--flows expects e.g. ruft*4,tcp*1 or bg,tcp (1–64 flows), got "${flags.flows}"`);
  const lastStart = flows[flows.length - 1]!.startMs;
  if (!(durationMs > lastStart && durationMs <= 600_000))
    throw new UsageError(`--duration must be after the last flow's start (${lastStart} ms) and at most 600s`);
  const lossPct = flags.loss === undefined ? 0 : parsePercent(flags.loss);
  if (lossPct === undefined || lossPct >= 100)
    throw new UsageError(`--loss expects a percentage below 100 such as 1%, got "${flags.loss}"`);
  const r = simulateBottleneck({ seed, rateBit, queueBdp, rttMs, lossPct, flows, durationMs });
  if (flags.json) console.log(JSON.stringify(r));
  else for (const line of formatBottleneck(r)) console.log(line);
  return 0;
}

function int(name: string, v: string | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  if (!/^\d+$/.test(v)) throw new UsageError(`--${name} expects a whole number, got "${v}"`);
  return Number(v);
}

/** `--hostile SIDE[:RATE]`: a third party with SIDE's session keys injecting at RATE per packet (default 0.1). */
function hostileFlag(v: string | undefined): HostilePeerOptions | undefined {
  if (v === undefined) return undefined;
  const m = /^(client|server)(?::(\d*\.?\d+))?$/.exec(v);
  const rate = Number(m?.[2] ?? 0.1);
  if (!m || !(rate > 0 && rate <= 1))
    throw new UsageError(`--hostile expects client or server, optionally :RATE in (0, 1], got "${v}"`);
  return { side: m[1] as 'client' | 'server', rate };
}

function netemFlag(name: string, v: string | undefined): Netem | undefined {
  if (v === undefined) return undefined;
  try {
    return parseNetem(v);
  } catch (e) {
    throw new UsageError(`--${name}: ${(e as Error).message}`);
  }
}

export const register: Register = (program: Command, setExit) => {
  program
    .command('sim')
    .description('run simulated transfers over a seeded hostile network (no sockets, reproducible)')
    .option('--seeds <n>', 'run N transfers over random hostile profiles and summarise')
    .option('--seed <s>', 'first (or only) seed', '1')
    .option('--netem <opts>', 'netem options for both directions, e.g. "delay 20ms loss 10%"')
    .option('--up <opts>', 'netem options client → server')
    .option('--down <opts>', 'netem options server → client')
    .option('--size <bytes>', 'transfer size (units allowed: 16MiB)')
    .option('--op <op>', 'get (server sends) or put (client sends)', 'get')
    .option('--blackout <start:duration>', 'a blackout window in ms, e.g. 2000:3000 (repeatable)', collect, [])
    .option(
      '--hostile <side[:rate]>',
      'a third party holding the client or server session keys injects mutated packets (rate per packet, default 0.1)',
    )
    .option('--json', 'print one JSON object')
    .option('--bottleneck <rate>', 'N flows share one drop-tail bottleneck of this rate, e.g. 10mbit (see --flows)')
    .option('--queue <bdps>', 'with --bottleneck: queue size in bandwidth-delay products', '1')
    .option('--flows <list>', 'with --bottleneck: the flows, e.g. ruft*4,tcp*1 (tcp = the reference TCP model)')
    .option('--stagger <time>', 'with --bottleneck: flow i starts at i × this, e.g. 2s', '0s')
    .option('--loss <pct>', 'with --bottleneck: random loss on the data direction, e.g. 1%')
    .option('--rtt <time>', 'with --bottleneck: base RTT', '40ms')
    .option('--duration <time>', 'with --bottleneck: virtual time to run', '30s')
    .action((flags: SimFlags) => {
      const seed = int('seed', flags.seed, 1);
      if (flags.bottleneck !== undefined) {
        setExit(runBottleneck(flags, seed));
        return;
      }
      const size = flags.size === undefined ? undefined : parseSizeBytes(flags.size);
      if (flags.size !== undefined && size === undefined) throw new UsageError(`--size: "${flags.size}" is not a size`);
      if (flags.seeds !== undefined) {
        const n = int('seeds', flags.seeds, 0);
        const summary = runSeeds({ seeds: n, firstSeed: seed, ...(size !== undefined && { sizeBytes: size }) });
        if (flags.json) console.log(JSON.stringify(summary));
        else {
          console.log(`SEED=${seed}..${seed + n - 1}`);
          console.log(
            `runs ${summary.runs}, completed ${summary.completed}, failed ${summary.failed}` +
              `${
                summary.failed
                  ? ` (${Object.entries(summary.failedByReason)
                      .map(([k, v]) => `${k} ${v}`)
                      .join(', ')})`
                  : ''
              }` +
              `, wrong files accepted ${summary.wrongFilesAccepted}, hung ${summary.hung}`,
          );
          for (const b of summary.bad)
            console.log(`bad seed ${b.seed}: ${b.outcome} ${b.reason ?? ''}\n  reproduce: ${b.reproduce}`);
        }
        setExit(summary.wrongFilesAccepted + summary.hung > 0 ? 1 : 0);
        return;
      }
      const both = netemFlag('netem', flags.netem);
      const up = netemFlag('up', flags.up) ?? both ?? {};
      const down = netemFlag('down', flags.down) ?? both ?? {};
      if (flags.op !== 'get' && flags.op !== 'put') throw new UsageError(`--op must be get or put, got "${flags.op}"`);
      const blackouts: Blackout[] = (flags.blackout ?? []).map((b) => {
        const m = /^(\d+):(\d+)$/.exec(b);
        if (!m) throw new UsageError(`--blackout expects START_MS:DURATION_MS, got "${b}"`);
        return { startMs: Number(m[1]), durationMs: Number(m[2]) };
      });
      const sizeBytes = size ?? 1 << 20;
      const hostilePeer = hostileFlag(flags.hostile);
      const r = simulateTransfer({
        seed,
        up,
        down,
        blackouts,
        sizeBytes,
        op: flags.op,
        ...(hostilePeer && { hostilePeer }),
      });
      if (flags.json) console.log(JSON.stringify({ ...r, up: printNetem(up), down: printNetem(down), sizeBytes }));
      else {
        const hostile = hostilePeer ? ` hostile ${hostilePeer.side}:${hostilePeer.rate}` : '';
        console.log(
          `SEED=${seed} up "${printNetem(up)}" down "${printNetem(down)}" size ${sizeBytes} op ${flags.op}${hostile}`,
        );
        console.log(
          `${r.outcome}${r.reason ? ` (${r.reason})` : ''}: ${(r.durationMs / 1000).toFixed(3)} s virtual, ` +
            `goodput ${(r.goodputBps / 1e6).toFixed(2)} Mbit/s, sent ${r.stats.packetsSent}, retransmitted ${r.stats.packetsRetransmitted}, ` +
            `rtt min/avg/p99 ${r.stats.rttMsMin.toFixed(1)}/${r.stats.rttMsAvg.toFixed(1)}/${r.stats.rttMsP99.toFixed(1)} ms`,
        );
        if (r.hostile)
          console.log(
            `hostile peer: ${r.hostile.keyed ? 'held the keys' : 'never got the keys'}, injected ${r.hostile.injected} packets`,
          );
      }
      setExit(r.outcome === 'completed' ? 0 : 1);
    });
};

function collect(v: string, prev: string[]): string[] {
  return [...prev, v];
}
