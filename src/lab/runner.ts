// The scenario runner: sweep × protocols × repeat. For each run it applies the shaping and reads it back,
// drives the client with --json, compares SHA-256 on both sides, judges every expectation, records the run,
// and always tears down (also on Ctrl-C and on errors).
import { release } from 'node:os';
import { printNetem } from '../impair/index.js';
import type { LabResults, RunRecord } from '../report/index.js';
import { LabError } from './errors.js';
import { dockerAvailable } from './runtimes/docker.js';
import { DockerRuntime } from './runtimes/docker-runtime.js';
import { LocalRuntime } from './runtimes/local.js';
import { NetnsRuntime } from './runtimes/netns.js';
import type { LabRuntime, RuntimeName, ShaperName } from './runtimes/types.js';
import type { Scenario } from './scenario.js';
import { planShaping, withLoss } from './shapers/plan.js';

export interface RunOptions {
  runtime: RuntimeName | 'auto';
  shaper: ShaperName | 'auto';
  shard?: { index: number; count: number };
  onProgress?: (line: string) => void;
  signal?: AbortSignal;
}

interface PlannedRun {
  index: number;
  protocol: string;
  lossPct: number | undefined;
  repeat: number;
}

/** All runs of a scenario in a fixed order; a shard i/n takes every n-th starting at i-1. */
export function planRuns(s: Scenario, shard?: { index: number; count: number }): PlannedRun[] {
  const out: PlannedRun[] = [];
  let index = 0;
  for (const lossPct of s.sweepLossPct ?? [undefined]) {
    for (const protocol of s.protocols) {
      for (let repeat = 1; repeat <= s.repeat; repeat++) out.push({ index: index++, protocol, lossPct, repeat });
    }
  }
  return shard ? out.filter((r) => r.index % shard.count === shard.index - 1) : out;
}

async function createRuntime(o: RunOptions, notices: string[]): Promise<LabRuntime> {
  if (o.runtime === 'netns') return started(new NetnsRuntime(notices, o.shaper));
  let kind = o.runtime;
  if (kind === 'auto') {
    if (await dockerAvailable()) kind = 'docker';
    else {
      kind = 'local';
      notices.push('FALLBACK: no Docker engine answers; running on loopback (local runtime) with the userspace relay.');
    }
  } else if (kind === 'docker' && !(await dockerAvailable())) {
    throw new LabError('E_DOCKER_UNAVAILABLE', '--runtime docker: no Docker engine answers (is dockerd running?)');
  }
  if (kind === 'local') {
    if (o.shaper === 'netem')
      throw new LabError(
        'E_SHAPER',
        '--shaper netem needs the docker runtime (the local runtime shapes in user space)',
      );
    return started(new LocalRuntime(notices));
  }
  return started(new DockerRuntime(notices, o.shaper));
}

/** Starts a runtime; if that fails half-way, stops what did start (processes, namespaces, containers). */
async function started<R extends LabRuntime & { start(): Promise<void> }>(rt: R): Promise<R> {
  try {
    await rt.start();
  } catch (e) {
    await rt.stop().catch(() => undefined);
    throw e;
  }
  return rt;
}

export async function runScenario(s: Scenario, o: RunOptions): Promise<LabResults> {
  const started = new Date();
  const notices: string[] = [];
  const say = o.onProgress ?? (() => {});
  const plan = planRuns(s, o.shard);
  const runtime = await createRuntime(o, notices);
  for (const n of notices) say(`NOTICE: ${n}`);
  const runs: RunRecord[] = [];
  let file = { sizeBytes: 0, sha256: '', remote: '' };
  try {
    file = await runtime.prepareFile(s.file);
    const t0 = Date.now();
    for (const [k, p] of plan.entries()) {
      if (o.signal?.aborted) throw new LabError('E_RUNTIME', 'interrupted');
      const up = planShaping('up', withLoss(s.up, p.lossPct));
      const down = planShaping('down', withLoss(s.down, p.lossPct));
      for (const n of [...up.notices, ...down.notices]) if (!notices.includes(n)) notices.push(n);
      const seed = s.seed + p.index;
      const readback = await runtime.applyShaping(up.netem, down.netem, seed);
      const outcome = await runtime.runClient(file.remote, s.timeoutMs);
      const counters = await runtime.clearShaping();
      const rec = record(
        s,
        p,
        seed,
        printNetem(up.netem),
        printNetem(down.netem),
        readback,
        counters,
        file.sha256,
        outcome,
      );
      runs.push(rec);
      const done = k + 1;
      const eta = ((Date.now() - t0) / done) * (plan.length - done);
      say(
        `[${done}/${plan.length}] ${rec.id}: ${rec.verdict}${rec.verdict === 'fail' ? ` (${rec.failures.join('; ')})` : ''} ` +
          `${(rec.goodput_bps / 1e6).toFixed(2)} Mbit/s, retransmit ${rec.retransmit_pct.toFixed(1)}%, ETA ${Math.round(eta / 1000)} s`,
      );
    }
  } finally {
    await runtime.stop();
  }
  const passed = runs.filter((r) => r.verdict === 'pass').length;
  return {
    schema_version: 1,
    scenario: s.name,
    description: s.description,
    source: s.source,
    network: s.networkLabel,
    started_at: started.toISOString(),
    finished_at: new Date().toISOString(),
    ...(o.shard && { shard: o.shard }),
    environment: {
      runtime: runtime.name,
      shaper: runtime.shaper,
      kernel: runtime.kernel || release(),
      node: process.version,
      notices,
    },
    expect: {
      integrity: s.expect.integrity,
      ...(s.expect.goodputMinBps !== undefined && { goodput_min_bps: s.expect.goodputMinBps }),
      ...(s.expect.durationMaxMs !== undefined && { duration_max_ms: s.expect.durationMaxMs }),
    },
    file: { size_bytes: file.sizeBytes, sha256: file.sha256 },
    runs,
    summary: { runs: runs.length, passed, failed: runs.length - passed },
  };
}

function record(
  s: Scenario,
  p: PlannedRun,
  seed: number,
  netemUp: string,
  netemDown: string,
  readback: string,
  counters: unknown,
  shaExpected: string,
  outcome: Awaited<ReturnType<LabRuntime['runClient']>>,
): RunRecord {
  const id = `${p.protocol}${p.lossPct !== undefined ? `-loss${p.lossPct}` : ''}-r${p.repeat}`;
  const failures: string[] = [];
  const r = outcome.ok ? outcome.result : undefined;
  const shaActual = outcome.sha256Local ?? '';
  if (!outcome.ok) failures.push(`transfer failed: ${outcome.code}`);
  if (s.expect.integrity && outcome.ok && shaActual !== shaExpected) failures.push('SHA-256 mismatch');
  if (r && s.expect.goodputMinBps !== undefined && r.goodput_bps < s.expect.goodputMinBps)
    failures.push(
      `goodput ${(r.goodput_bps / 1e6).toFixed(2)} Mbit/s < ${(s.expect.goodputMinBps / 1e6).toFixed(2)} Mbit/s`,
    );
  if (r && s.expect.durationMaxMs !== undefined && r.duration_ms > s.expect.durationMaxMs)
    failures.push(`duration ${(r.duration_ms / 1000).toFixed(1)} s > ${(s.expect.durationMaxMs / 1000).toFixed(1)} s`);
  return {
    id,
    protocol: p.protocol,
    loss_pct: p.lossPct ?? null,
    repeat: p.repeat,
    seed,
    netem_up: netemUp,
    netem_down: netemDown,
    shaping_readback: readback,
    shaper_counters: counters ?? null,
    bytes: r?.bytes ?? 0,
    duration_ms: r?.duration_ms ?? 0,
    goodput_bps: r?.goodput_bps ?? 0,
    packets_sent: r?.packets_sent ?? 0,
    packets_retransmitted: r?.packets_retransmitted ?? 0,
    retransmit_pct: r && r.packets_sent > 0 ? (100 * r.packets_retransmitted) / r.packets_sent : 0,
    rtt_ms_min: r?.rtt_ms_min ?? 0,
    rtt_ms_avg: r?.rtt_ms_avg ?? 0,
    rtt_ms_p99: r?.rtt_ms_p99 ?? 0,
    sha256_expected: shaExpected,
    sha256_actual: shaActual,
    security: r?.security ?? '',
    timeline: r?.timeline ?? [],
    verdict: failures.length === 0 ? 'pass' : 'fail',
    failures,
    ...(!outcome.ok && { error: { code: outcome.code, message: outcome.message } }),
  };
}
