// The scenario runner: sweep × protocols × repeat. For each run it applies the shaping and reads it back,
// drives the client with --json, compares SHA-256 on both sides, judges every expectation, records the run,
// and always tears down (also on Ctrl-C and on errors): the lab is started with `await using`, its teardown is
// bounded by the teardown timeout, and it begins as soon as `signal` aborts (runtimes/lab.ts).
import { mkdirSync, readFileSync, statSync } from 'node:fs';
import { release } from 'node:os';
import { basename, join } from 'node:path';
import { printNetem } from '../impair/index.js';
import {
  analyseFlows,
  type FlowInput,
  type LabResults,
  type ReceivedFile,
  type RunRecord,
  runNotes,
} from '../report/index.js';
import type { TransferResult } from '../transport/index.js';
import { analyseArrival } from './arrival.js';
import { bufferPreflight, captureToolMissing, readSysctl, realProbes } from './doctor.js';
import { LabError } from './errors.js';
import { type FaultRecord, isExec, protocolEntry, resumable, toVariant, type Variant } from './protocols/index.js';
import { type RelayOverhead, relayOverhead, relayOverheadNotice } from './relay-overhead.js';
import { buildImage, dockerAvailable } from './runtimes/docker.js';
import { DockerRuntime } from './runtimes/docker-runtime.js';
import { ExecServerError } from './runtimes/exec.js';
import { defineRuntime, type Runtime, type StartedLab } from './runtimes/lab.js';
import { LocalRuntime } from './runtimes/local.js';
import { NetnsRuntime } from './runtimes/netns.js';
import { mergePlacement, type Placement, SwarmRuntime } from './runtimes/swarm/index.js';
import type { ClientOutcome, RuntimeName, ShaperName } from './runtimes/types.js';
import { knownFileNotice, type Scenario } from './scenario.js';
import { checkCrossed, crossedFailure, preparedDeflatedSize } from './shapers/crossed.js';
import { NETEM_POLL_MS } from './shapers/netem.js';
import { planShaping, withLoss } from './shapers/plan.js';
import { tampered } from './shapers/types.js';
import { ms } from './units.js';
import { analyseWire } from './wire.js';

export interface RunOptions {
  runtime: RuntimeName | 'auto';
  shaper: ShaperName | 'auto';
  shard?: { index: number; count: number };
  onProgress?: (line: string) => void;
  /** Aborting it tears the lab down at once and ends the scenario with E_RUNTIME `interrupted` (SIGINT, SIGTERM). */
  signal?: AbortSignal;
  /** How long the lab's teardown may take (default 30 s, UDPLAB_TEARDOWN_TIMEOUT); past it a notice names what was left. */
  teardownTimeoutMs?: number;
  /** Run on this runtime (not started yet) instead of the one `runtime` chooses: tests give a fake one. */
  lab?: Runtime;
  /** The report folder: packet captures (`capture: true`) are written there. */
  outDir?: string;
  /** Run a scenario whose buffer (`rcvbuf:`) is above net.core.rmem_max anyway, with a CAPPED notice. */
  allowCapped?: boolean;
  /** Take no packet captures even where the scenario says `capture: true` (a notice says so). */
  noCapture?: boolean;
  /**
   * `--runtime swarm`: a placement constraint per endpoint (`node.labels.site==a`) from the flags; they win over the
   * scenario's `placement:` for their endpoint.
   */
  placement?: Placement;
  /** `--runtime swarm`: `--node-engine NODE=URL`, the Docker engine endpoint of a node (hostname or ID). */
  nodeEngines?: ReadonlyMap<string, string>;
}

interface PlannedRun {
  index: number;
  variant: Variant;
  lossPct: number | undefined;
  repeat: number;
}

/** All runs of a scenario in a fixed order; a shard i/n takes every n-th starting at i-1. */
export function planRuns(s: Scenario, shard?: { index: number; count: number }): PlannedRun[] {
  const out: PlannedRun[] = [];
  let index = 0;
  for (const lossPct of s.sweepLossPct ?? [undefined]) {
    for (const variant of s.variants) {
      for (let repeat = 1; repeat <= s.repeat; repeat++) out.push({ index: index++, variant, lossPct, repeat });
    }
  }
  return shard ? out.filter((r) => r.index % shard.count === shard.index - 1) : out;
}

/**
 * The order runs are carried out in. A scenario with users' programs (exec, image) runs implementation-major: every
 * run of one implementation (its loss points, its repeats) before the next one's, so that its server can be stopped
 * once its last run is done and no implementation's server runs beside another's runs. Each run keeps its planned
 * index (its seed, its shard) and the report lists the runs in the planned order; built-in-only scenarios keep it.
 */
export function executionOrder(s: Scenario, plan: PlannedRun[]): PlannedRun[] {
  if (!s.variants.some((v) => isExec(v))) return plan;
  const at = (r: PlannedRun) => s.variants.indexOf(r.variant);
  return [...plan].sort((a, b) => at(a) - at(b) || a.index - b.index);
}

/** The runtime for the scenario and the options, not started yet (its notices say what `auto` chose). */
async function chooseRuntime(o: RunOptions, notices: string[], s: Scenario): Promise<Runtime> {
  // protocols that only some runtimes can place (exec: local and netns; image: docker)
  const placeable = s.variants.map((v) => protocolEntry(v.protocol).runtimes).filter((r) => r !== undefined);
  const onlyOn = (['local', 'netns', 'docker'] as const).filter((r) => placeable.every((p) => p.includes(r)));
  if (placeable.length > 0) {
    if (s.attack)
      throw new LabError('E_SCENARIO_INVALID', `${s.source}: attack scenarios run the built-in protocols only`);
    const where =
      'exec protocols run on the local and netns runtimes (--runtime local|netns), image protocols on the docker runtime (--runtime docker)';
    if (onlyOn.length === 0) throw new LabError('E_SCENARIO_INVALID', `${s.source}: ${where}: not in one scenario`);
    if (o.runtime !== 'auto' && !(onlyOn as readonly string[]).includes(o.runtime))
      throw new LabError('E_SCENARIO_INVALID', `${s.source}: ${where}; --runtime ${o.runtime} cannot run them`);
    if (o.runtime === 'auto' && !onlyOn.includes('docker')) {
      notices.push('exec protocols run on the local or netns runtime: --runtime auto chose local.');
      return defineRuntime('local', (n) => new LocalRuntime(n, s.ip));
    }
    if (onlyOn.length === 1 && onlyOn[0] === 'docker') {
      if (s.ip === 6)
        throw new LabError(
          'E_SCENARIO_INVALID',
          `${s.source}: ip: 6: image protocols run on the docker runtime, IPv4 only`,
        );
      if (!(await dockerAvailable()))
        throw new LabError(
          'E_DOCKER_UNAVAILABLE',
          `${s.source}: image protocols need the docker runtime: no Docker engine answers`,
        );
      if (o.runtime === 'auto') notices.push('image protocols run on the docker runtime: --runtime auto chose docker.');
      return defineRuntime('docker', (n) => new DockerRuntime(n, o.shaper));
    }
  }
  if (s.attack) {
    // forged packets go only between the lab's own hosts: loopback, its namespaces or its containers on this machine
    if (o.runtime === 'auto' || o.runtime === 'local') {
      notices.push(`ATTACK on loopback only: ${s.attack} — forged requests go to 127.0.0.1, nowhere else.`);
      return defineRuntime('local', (n) => new LocalRuntime(n));
    }
    if (o.runtime !== 'netns' && o.runtime !== 'docker')
      throw new LabError(
        'E_SCENARIO_INVALID',
        `${s.source}: attack scenarios run on the local, netns or docker runtime (hping3 forges from this machine), not --runtime ${o.runtime}`,
      );
    notices.push(
      o.runtime === 'netns'
        ? `ATTACK inside the lab's namespaces only: ${s.attack} — forged requests go from the client's namespace to the server's over the lab's veth pair, nowhere else.`
        : `ATTACK inside the lab's containers only: ${s.attack} — forged requests go from the client container to the server container over the lab's internal network, nowhere else.`,
    );
  }
  if (s.ip === 6 && o.runtime !== 'docker') {
    // the docker runtime says so itself, with the addresses the engine gave its containers
    notices.push(
      o.runtime === 'netns'
        ? 'IPv6 path: client, relay and server talk over the veth pair (fd77:0:0:<k>::/64).'
        : 'IPv6 path: client, relay and server talk over ::1 (local runtime; --runtime docker for containers).',
    );
  }
  if (o.runtime === 'netns') return defineRuntime('netns', (n) => new NetnsRuntime(n, o.shaper, s.ip));
  if (o.runtime === 'swarm') {
    const { placement, said } = mergePlacement(s.placement, o.placement);
    return defineRuntime(
      'swarm',
      (n) => new SwarmRuntime(n, o.shaper, { placement, said, ...(o.nodeEngines && { nodeEngines: o.nodeEngines }) }),
    );
  }
  let kind = o.runtime;
  if (kind === 'auto') {
    if (s.ip === 4 && (await dockerAvailable())) kind = 'docker';
    else if (s.ip === 6) kind = 'local';
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
    return defineRuntime('local', (n) => new LocalRuntime(n, s.ip));
  }
  return defineRuntime('docker', (n) => new DockerRuntime(n, o.shaper, s.ip));
}

function describePlacement(p: Placement): string {
  return (['server', 'client', 'relay'] as const)
    .filter((r) => p[r] !== undefined)
    .map((r) => `${r}: ${p[r]}`)
    .join(', ');
}

export async function runScenario(s: Scenario, o: RunOptions): Promise<LabResults> {
  const started = new Date();
  const notices: string[] = [];
  // preflight (the part of `udplab doctor` that changes a lesson): refuse rather than teach the wrong one
  notices.push(...bufferPreflight(s, (name) => readSysctl(name), o.allowCapped === true));
  const knownFile = knownFileNotice(s);
  if (knownFile) notices.push(knownFile);
  const runtime = o.lab ?? (await chooseRuntime(o, notices, s));
  if (s.placement && runtime.name !== 'swarm')
    notices.push(
      `placement: (${describePlacement(s.placement)}) places services on the swarm runtime only; the ${runtime.name} runtime ran without it.`,
    );
  const { runs, overheads, file, environment } = await runOn(runtime, s, o, notices);
  const overheadNotice = relayOverheadNotice(overheads);
  // printed with the other notices in the terminal summary (src/report/files.ts)
  if (overheadNotice) notices.push(overheadNotice);
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
    environment: { ...environment, node: process.version, notices },
    expect: {
      integrity: s.expect.integrity,
      ...(s.expect.goodputMinBps !== undefined && { goodput_min_bps: s.expect.goodputMinBps }),
      ...(s.expect.durationMaxMs !== undefined && { duration_max_ms: s.expect.durationMaxMs }),
    },
    file: { size_bytes: file.sizeBytes, sha256: file.sha256 },
    lesson: s.lesson,
    runs,
    summary: { runs: runs.length, passed, failed: runs.length - passed },
  };
}

/**
 * Starts the lab, runs the scenario's planned runs on it and tears it down (`await using`: also when a run throws,
 * within the teardown timeout); returns the runs and what the report says of the environment.
 */
async function runOn(
  runtime: Runtime,
  s: Scenario,
  o: RunOptions,
  notices: string[],
): Promise<{
  runs: RunRecord[];
  overheads: { id: string; overhead: RelayOverhead }[];
  file: { sizeBytes: number; sha256: string; remote: string };
  environment: { runtime: RuntimeName; shaper: ShaperName; kernel: string };
}> {
  const say = o.onProgress ?? (() => {});
  const plan = executionOrder(s, planRuns(s, o.shard));
  await using lab = await runtime.start({
    notices,
    ...(o.signal && { signal: o.signal }),
    ...(o.teardownTimeoutMs !== undefined && { teardownTimeoutMs: o.teardownTimeoutMs }),
  });
  const competingWhy = s.competing && competingRefusal(s, lab);
  if (competingWhy) throw new LabError(competingWhy.code, `${s.source}: competing: ${competingWhy.message}`);
  if (s.competing) {
    const c = s.competing;
    notices.push(
      `competing flows: ${c.count} ${c.kind} download${c.count > 1 ? 's' : ''} of the same file through the same shaped path, started ${c.startMs / 1000} s after each run's own (${lab.shaper === 'netem' ? 'kernel netem on the path' : 'the userspace relay: one rate queue per direction, shared by every flow through it'}); per-flow goodput over time in 100 ms buckets`,
    );
  }
  if (s.blackouts.length > 0) {
    const how =
      lab.shaper === 'netem'
        ? `kernel netem: tc qdisc change to loss 100% and back, the first datagram seen by polling tc counters every ${NETEM_POLL_MS} ms`
        : 'userspace relay';
    const n = `blackouts: ${s.blackouts.map((b) => `${b.startMs / 1000} s for ${b.durationMs / 1000} s`).join(', ')} after each run's first datagram, both ways (${how})`;
    notices.push(n);
  }
  let capturing = s.capture && o.outDir !== undefined;
  if (capturing && o.noCapture) {
    capturing = false;
    notices.push('NO CAPTURE (--no-capture): the scenario asks for packet captures; this report has none.');
  } else if (capturing) {
    const why = await captureToolMissing(lab.name, realProbes(), buildImage).catch((e: unknown) => String(e));
    if (why) {
      throw new LabError(
        'E_PREFLIGHT',
        `${s.source}: capture: true, but ${why}; or run with --no-capture to go on without captures`,
      );
    }
  }
  for (const n of notices) say(`NOTICE: ${n}`);
  const runs: RunRecord[] = [];
  /** Relay-shaped runs' own overhead, for the one notice the scenario gets. */
  const overheads: { id: string; overhead: RelayOverhead }[] = [];
  let file = { sizeBytes: 0, sha256: '', remote: '' };
  try {
    file = await lab.prepareFile(s.file);
    // the byte cross-check's bound rests on it: how small the file can be made (once per prepared file)
    const deflated = await preparedDeflatedSize(s.file, lab.originalPath(), file.sizeBytes);
    const t0 = Date.now();
    for (const [k, p] of plan.entries()) {
      if (o.signal?.aborted) throw interrupted();
      // the last run of the implementation before was done: its server goes before the next one's runs
      const before = plan[k - 1]?.variant;
      if (before && before !== p.variant && !plan.slice(k).some((r) => r.variant === before))
        await lab.retireServer?.(before);
      const up = planShaping('up', withLoss(s.up, p.lossPct));
      const down = planShaping('down', withLoss(s.down, p.lossPct));
      for (const n of [...up.notices, ...down.notices]) if (!notices.includes(n)) notices.push(n);
      const seed = s.seed + p.index;
      if (s.attack === 'amplification') {
        runs.push(await amplificationRun(lab, p, seed, file.sha256));
        say(`[${k + 1}/${plan.length}] ${runs.at(-1)!.id}: ${runs.at(-1)!.verdict} (${runNotes(runs.at(-1)!)})`);
        continue;
      }
      let readback: string;
      try {
        readback = await lab.applyShaping({
          up: up.netem,
          down: down.netem,
          seed,
          variant: p.variant,
          ...(s.mtu !== undefined && { mtu: s.mtu }),
          ...(s.blackouts.length > 0 && { blackouts: s.blackouts }),
        });
      } catch (e) {
        if (!(e instanceof ExecServerError)) throw e;
        // an implementation whose server is not serving: every client of this run fails with the reason
        const outcomes: ClientOutcome[] = Array.from({ length: s.clients }, () => ({
          ok: false,
          code: e.verdict,
          message: e.message,
        }));
        const rec = record(
          s,
          p,
          seed,
          printNetem(up.netem),
          printNetem(down.netem),
          `NOT RUN: ${e.verdict}`,
          undefined,
          file.sha256,
          outcomes,
          undefined,
        );
        runs.push(rec);
        say(`[${k + 1}/${plan.length}] ${rec.id}: ${rec.verdict} (${rec.failures.join('; ')})`);
        continue;
      }
      if (readback.startsWith('NOT SHAPED')) {
        const n = `${p.variant.id}: ${readback}`;
        if (!notices.includes(n)) notices.push(n);
      }
      let capture: string | undefined;
      if (capturing && o.outDir) {
        mkdirSync(o.outDir, { recursive: true });
        const path = join(o.outDir, `${runId(p)}.pcap`);
        const why = await lab.startCapture(path);
        if (why) {
          const n = `capture skipped: ${why}`;
          if (!notices.includes(n)) notices.push(n);
        } else capture = path;
      }
      let outcomes: ClientOutcome[];
      let faults: FaultRecord[] | undefined;
      let labError: string | undefined;
      try {
        if (s.faults.length > 0 && isExec(p.variant) && lab.runExecWithFaults) {
          // an implementation (exec on local/netns, image on docker): restarted only when its manifest says
          // resumable; otherwise the kill fails the run
          const r = await lab.runExecWithFaults(p.variant, file.remote, s.timeoutMs, s.faults, seed);
          outcomes = [r.outcome];
          faults = r.faults;
        } else if (s.faults.length > 0 && resumable(p.variant) && lab.runWithFaults) {
          const r = await lab.runWithFaults(p.variant, file.remote, s.timeoutMs, s.faults);
          outcomes = [r.outcome];
          faults = r.faults;
        } else {
          if (s.faults.length > 0) {
            const n = `faults apply to resumable protocols only: ${p.variant.id} cannot resume, so it ran without them`;
            if (!notices.includes(n)) notices.push(n);
          }
          outcomes = s.competing
            ? await lab.runFlows!(
                [
                  { variant: p.variant, delayMs: 0 },
                  ...Array.from({ length: s.competing.count }, () => ({
                    variant: competingVariant(s, p.variant),
                    delayMs: s.competing!.startMs,
                  })),
                ],
                file.remote,
                s.timeoutMs,
              )
            : await lab.runClients(p.variant, file.remote, s.timeoutMs, s.clients, seed);
        }
      } catch (e) {
        // What one run's program did can break the lab's handling of that run (a {local} it left that cannot be
        // removed or read): that run fails with the reason and the matrix goes on. Not so an abort (SIGINT: the
        // teardown ended the run) or a LabError (the lab itself cannot go on: an engine gone, a shaper refused).
        if (o.signal?.aborted || e instanceof LabError) throw e;
        const message = e instanceof Error ? e.message : String(e);
        labError = `lab error: ${message}`;
        outcomes = Array.from({ length: s.competing ? 1 + s.competing.count : s.clients }, () => ({
          ok: false as const,
          code: 'lab error',
          message,
        }));
        faults = undefined;
      } finally {
        if (capture) await lab.stopCapture();
      }
      const counters = await lab.clearShaping();
      // with competing flows the run's record is its own flow's; the others are judged and charted beside it
      const competing = s.competing ? outcomes.slice(1) : [];
      if (s.competing) outcomes = outcomes.slice(0, 1);
      const rec = record(
        s,
        p,
        seed,
        printNetem(up.netem),
        printNetem(down.netem),
        readback,
        counters,
        file.sha256,
        outcomes,
        capture && basename(capture),
        faults,
      );
      if (labError !== undefined) {
        // failed by the lab, whatever the variant expected (an expected failure is the program's, not this)
        rec.verdict = 'fail';
        rec.failures = [labError];
      }
      Object.assign(rec, await measureLesson(s, p.variant, rec, outcomes, lab, o.outDir, capture));
      if (s.competing) judgeFlows(rec, s, p.variant, [...outcomes, ...competing]);
      // the shaping read back again before it was cleared differs from what was applied: the run proves nothing
      const changed = tampered(counters);
      if (changed) {
        rec.failures.unshift(`shaping tampered: ${changed}`);
        rec.verdict = 'fail';
      }
      judgeCrossed(rec, counters, [...outcomes, ...competing], file, deflated, isExec(p.variant));
      const overhead = relayOverhead(counters, up.netem, down.netem);
      if (overhead) {
        rec.relay_overhead = overhead;
        overheads.push({ id: rec.id, overhead });
      }
      runs.push(rec);
      const done = k + 1;
      const eta = ((Date.now() - t0) / done) * (plan.length - done);
      const why = rec.verdict === 'fail' ? rec.failures : (rec.observed ?? []);
      say(
        `[${done}/${plan.length}] ${rec.id}: ${rec.verdict}${rec.expected_failure ? ' (expected to go wrong)' : ''}${why.length ? ` (${why.join('; ')})` : ''} ` +
          `${(rec.goodput_bps / 1e6).toFixed(2)} Mbit/s, retransmit ${rec.retransmit_pct.toFixed(1)}%, ETA ${Math.round(eta / 1000)} s`,
      );
    }
  } catch (e) {
    // teardown began when the signal aborted: what the run was doing failed because of it
    if (o.signal?.aborted) throw interrupted(e);
    throw e;
  }
  // one record per planned run, pushed in the order they ran: listed in the planned order
  const planned = runs.map((r, i) => ({ r, index: plan[i]!.index })).sort((a, b) => a.index - b.index);
  return {
    runs: planned.map((x) => x.r),
    overheads,
    file,
    environment: { runtime: lab.name, shaper: lab.shaper, kernel: lab.kernel || release() },
  };
}

/** Why this runtime cannot run the scenario's competing flows (one line), or undefined. */
function competingRefusal(
  s: Scenario,
  rt: StartedLab,
): { code: 'E_SHAPER' | 'E_SCENARIO_INVALID'; message: string } | undefined {
  const c = s.competing!;
  if (!rt.runFlows) return { code: 'E_SCENARIO_INVALID', message: `the ${rt.name} runtime cannot run competing flows` };
  if (c.kind === 'tcp' && rt.shaper !== 'netem')
    return {
      code: 'E_SHAPER',
      message: `kind tcp needs kernel netem (--runtime netns --shaper netem): the userspace relay carries UDP only, so a TCP flow would not share the bottleneck`,
    };
  if (rt.name === 'docker' && s.variants.some((v) => v.protocol !== c.kind))
    return {
      code: 'E_SCENARIO_INVALID',
      message: `the docker runtime runs competing flows of the run's own protocol only (protocols: [${c.kind}]); --runtime netns --shaper netem runs any pair`,
    };
  if (rt.shaper !== 'netem' && s.variants.some((v) => v.protocol !== 'ruft'))
    return {
      code: 'E_SHAPER',
      message: `beside ${s.variants.find((v) => v.protocol !== 'ruft')!.id}: the userspace relay forwards to one server, so competing ruft flows share it only with ruft runs; use --shaper netem`,
    };
  return undefined;
}

/** The variant of the competing flows: the run's own when it is of that protocol (same server, same path). */
function competingVariant(s: Scenario, run: Variant): Variant {
  const kind = s.competing!.kind;
  return run.protocol === kind ? run : toVariant(kind, { file: s.source, ms });
}

/** A run's flows: each one's goodput over time and share (rec.flows); a competing flow that failed fails the run. */
function judgeFlows(rec: RunRecord, s: Scenario, run: Variant, outcomes: ClientOutcome[]): void {
  const cv = competingVariant(s, run);
  const inputs: FlowInput[] = outcomes.map((o, i) => ({
    flow: i === 0 ? 'run' : `competing ${i}`,
    protocol: i === 0 ? run.id : cv.id,
    role: i === 0 ? 'run' : 'competing',
    intact: o.sha256Local === rec.sha256_expected,
    ...(o.ok ? { result: o.result } : { error: `${o.code}: ${o.message}` }),
  }));
  rec.flows = analyseFlows(inputs);
  for (const [i, f] of inputs.entries()) {
    if (i === 0) continue;
    const why = f.error ?? (f.intact ? undefined : 'SHA-256 mismatch: the file written differs from the original');
    if (why) {
      rec.failures.push(`${f.flow} (${f.protocol}): ${why}`);
      rec.verdict = 'fail';
    } else if (f.result?.started_epoch_ms === undefined) {
      rec.failures.push(`${f.flow} (${f.protocol}): its client reported no start time, so its flow cannot be lined up`);
      rec.verdict = 'fail';
    }
  }
}

/**
 * The byte cross-check (shapers/crossed.ts): every intact file (the run's clients and competing flows) must have
 * crossed the shaper server→client. Below the bound a user's program (exec, image) fails; for udplab's own
 * protocols the record says it, as an observation.
 */
function judgeCrossed(
  rec: RunRecord,
  counters: unknown,
  outcomes: ClientOutcome[],
  file: { sizeBytes: number; sha256: string },
  deflatedBytes: number,
  judged: boolean,
): void {
  const intact = outcomes.filter((o) => o.sha256Local === file.sha256).length;
  rec.crossed = checkCrossed({ counters, intact, fileBytes: file.sizeBytes, deflatedBytes, judged });
  const bypassed = judged ? crossedFailure(rec.crossed, file.sizeBytes) : undefined;
  if (bypassed) {
    rec.failures.push(bypassed);
    rec.verdict = 'fail';
  }
}

function interrupted(cause?: unknown): LabError {
  return new LabError('E_RUNTIME', 'interrupted', cause === undefined ? undefined : { cause });
}

/** Lessons whose figure is the content of the naive client's file: that file is kept in the report folder. */
const KEEP_FILE_LESSONS = new Set(['stall', 'reorder', 'duplicate', 'clients']);

/**
 * The lesson's own measurements of a run: what each client wrote (kept as runs/<run>/received.bin where the
 * lesson is the file's content, with where its datagrams sit in the original), the drops at the naive client's
 * socket, and what the capture shows an eavesdropper.
 */
async function measureLesson(
  s: Scenario,
  v: Variant,
  rec: RunRecord,
  outcomes: ClientOutcome[],
  runtime: StartedLab,
  outDir: string | undefined,
  capture: string | undefined,
): Promise<Pick<RunRecord, 'received' | 'socket_drops' | 'wire'>> {
  const originalPath = runtime.originalPath();
  let original: Buffer | undefined;
  const readOriginal = () => (original ??= originalPath ? readFileSync(originalPath) : undefined);
  const keep = outDir !== undefined && v.protocol === 'naive' && KEEP_FILE_LESSONS.has(s.lesson.kind);
  const chunk = Math.min(v.options.chunkBytes ?? 1024, v.options.bufsizeBytes ?? 1024);
  const received: ReceivedFile[] = [];
  for (const [i, o] of outcomes.entries()) {
    const sha = o.sha256Local ?? '';
    const f: ReceivedFile = {
      client: i + 1,
      bytes: o.ok ? o.result.bytes : Number(/stalled at (\d+) of/.exec(o.message)?.[1] ?? 0),
      sha256: sha,
      intact: sha === rec.sha256_expected,
    };
    if (keep && sha) {
      const rel = join('runs', rec.id, outcomes.length > 1 ? `received-client${i + 1}.bin` : 'received.bin');
      const dest = join(outDir, rel);
      mkdirSync(join(outDir, 'runs', rec.id), { recursive: true });
      if (await runtime.keepClientFile(i, dest)) {
        f.file = rel;
        f.bytes = statSync(dest).size;
        const orig = readOriginal();
        const a = orig && analyseArrival(orig, readFileSync(dest), chunk);
        if (a) f.arrival = a;
      }
    }
    received.push(f);
  }
  const drops = outcomes
    .map((o) =>
      o.ok
        ? (o.result as { socket_drops?: number }).socket_drops
        : Number(/its socket dropped (\d+) datagrams/.exec(o.message)?.[1] ?? Number.NaN),
    )
    .filter((x): x is number => typeof x === 'number' && !Number.isNaN(x));
  const orig = s.lesson.kind === 'plaintext' && capture ? readOriginal() : undefined;
  return {
    received,
    ...(v.protocol === 'naive' && drops.length > 0 && { socket_drops: drops.reduce((a, b) => a + b, 0) }),
    ...(orig && capture && { wire: analyseWire(capture, orig) }),
  };
}

/** Where a forged request travels, per runtime (the run's read-back). */
const ATTACK_PATH: Partial<Record<string, string>> = {
  local: 'on loopback',
  netns: "over the lab's veth pair",
  docker: "over the lab's internal network",
};

/** Amplification = bytes the server sent the victim ÷ bytes of the forged request; above 3× is a reflector. */
async function amplificationRun(lab: StartedLab, p: PlannedRun, seed: number, sha: string): Promise<RunRecord> {
  if (!lab.amplification) throw new LabError('E_RUNTIME', `the ${lab.name} runtime has no amplification attack`);
  const a = await lab.amplification(p.variant, 'file.bin', 3000);
  const factor = a.victimBytes / a.requestBytes;
  const line = `amplification ×${factor.toFixed(1)}: a ${a.requestBytes}-byte forged request made the server send ${a.victimBytes} bytes in ${a.victimDatagrams} datagrams to the victim within 3 s`;
  const observed = factor > 3 ? [line] : [];
  const failures = p.variant.expectFailure
    ? observed.length > 0
      ? []
      : [`expected to reflect (the lesson) but it did not: ${line}`]
    : observed;
  return {
    id: runId(p),
    protocol: p.variant.id,
    loss_pct: null,
    repeat: p.repeat,
    seed,
    netem_up: '',
    netem_down: '',
    shaping_readback: `none: forged request straight to the server ${ATTACK_PATH[lab.name] ?? `on the ${lab.name} runtime`}`,
    shaper_counters: {
      request_bytes: a.requestBytes,
      victim_bytes: a.victimBytes,
      victim_datagrams: a.victimDatagrams,
      amplification: factor,
    },
    bytes: a.victimBytes,
    duration_ms: 3000,
    goodput_bps: 0,
    packets_sent: a.victimDatagrams,
    packets_retransmitted: 0,
    retransmit_pct: 0,
    rtt_ms_min: 0,
    rtt_ms_avg: 0,
    rtt_ms_p99: 0,
    sha256_expected: sha,
    sha256_actual: sha,
    security: '',
    timeline: [],
    verdict: failures.length === 0 ? 'pass' : 'fail',
    failures,
    ...(p.variant.expectFailure && { expected_failure: true, observed }),
    ...(!p.variant.expectFailure && { observed: [line] }),
  };
}

function runId(p: PlannedRun): string {
  return `${p.variant.id}${p.lossPct !== undefined ? `-loss${p.lossPct}` : ''}-r${p.repeat}`;
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
  outcomes: ClientOutcome[],
  capture: string | undefined,
  faults?: FaultRecord[],
): RunRecord {
  const observed: string[] = [];
  const tag = (i: number) => (outcomes.length > 1 ? `client ${i + 1}: ` : '');
  for (const [i, o] of outcomes.entries()) {
    if (!o.ok) observed.push(`${tag(i)}transfer failed: ${o.code}: ${o.message}`);
    else if (s.expect.integrity && o.sha256Local !== shaExpected)
      observed.push(`${tag(i)}SHA-256 mismatch: the file written differs from the original`);
  }
  const done = outcomes.filter((o): o is Extract<ClientOutcome, { ok: true }> => o.ok).map((o) => o.result);
  const r = done[0];
  const bytes = done.reduce((n, x) => n + x.bytes, 0);
  // what the user waits for: RUFT's duration_ms starts at its handshake, after the key fetch (key_fetch_ms)
  const durationMs = done.reduce((n, x) => Math.max(n, x.duration_ms + (x.key_fetch_ms ?? 0)), 0);
  // goodput counts only files that arrived intact: a fast wrong file is worth nothing
  const intact = outcomes.filter((o) => o.ok && o.sha256Local === shaExpected).length;
  const goodBytes = intact * (r?.bytes ?? 0);
  const goodput =
    intact === 0
      ? 0
      : outcomes.length > 1
        ? durationMs > 0
          ? Math.round((goodBytes * 8 * 1000) / durationMs)
          : 0
        : r && r.duration_ms > 0
          ? // the client's own figure (it leaves out resumed bytes) over the time waited, key fetch included
            Math.round((r.goodput_bps * r.duration_ms) / (r.duration_ms + (r.key_fetch_ms ?? 0)))
          : (r?.goodput_bps ?? 0);
  if (r && s.expect.goodputMinBps !== undefined && goodput < s.expect.goodputMinBps)
    observed.push(`goodput ${(goodput / 1e6).toFixed(2)} Mbit/s < ${(s.expect.goodputMinBps / 1e6).toFixed(2)} Mbit/s`);
  if (r && s.expect.durationMaxMs !== undefined && durationMs > s.expect.durationMaxMs)
    observed.push(`duration ${(durationMs / 1000).toFixed(1)} s > ${(s.expect.durationMaxMs / 1000).toFixed(1)} s`);
  for (const f of faults ?? [])
    if (f.promoted_early)
      observed.push(`a file stood under the final name after the ${f.kill} was killed at ${f.killed_at_pct}%`);
  if (faults && faults.length < s.faults.length)
    observed.push(`only ${faults.length} of ${s.faults.length} faults struck: the transfer ended first`);
  const failures = p.variant.expectFailure
    ? observed.length > 0
      ? []
      : ['expected to go wrong (the lesson of this scenario) but every transfer was correct']
    : observed;
  const firstError = outcomes.find((o) => !o.ok) as Extract<ClientOutcome, { ok: false }> | undefined;
  const sum = (f: (x: TransferResult) => number) => done.reduce((n, x) => n + f(x), 0);
  return {
    id: runId(p),
    protocol: p.variant.id,
    loss_pct: p.lossPct ?? null,
    repeat: p.repeat,
    seed,
    netem_up: netemUp,
    netem_down: netemDown,
    shaping_readback: readback,
    shaper_counters: counters ?? null,
    bytes,
    duration_ms: durationMs,
    goodput_bps: goodput,
    packets_sent: sum((x) => x.packets_sent),
    packets_retransmitted: sum((x) => x.packets_retransmitted),
    retransmit_pct:
      sum((x) => x.packets_sent) > 0 ? (100 * sum((x) => x.packets_retransmitted)) / sum((x) => x.packets_sent) : 0,
    rtt_ms_min: r?.rtt_ms_min ?? 0,
    rtt_ms_avg: r?.rtt_ms_avg ?? 0,
    rtt_ms_p99: r?.rtt_ms_p99 ?? 0,
    sha256_expected: shaExpected,
    sha256_actual: outcomes.map((o) => o.sha256Local ?? '').join(' '),
    security: r?.security ?? '',
    timeline: r?.timeline ?? [],
    verdict: failures.length === 0 ? 'pass' : 'fail',
    failures,
    ...(p.variant.expectFailure && { expected_failure: true, observed }),
    ...(outcomes.length > 1 && { clients: outcomes.length }),
    ...(capture && { capture }),
    ...(faults && { faults }),
    ...(firstError && { error: { code: firstError.code, message: firstError.message } }),
  };
}
