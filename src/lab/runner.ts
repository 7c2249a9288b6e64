// The scenario runner: sweep × protocols × repeat. For each run it applies the shaping and reads it back,
// drives the client with --json, compares SHA-256 on both sides, judges every expectation, records the run,
// and always tears down (also on Ctrl-C and on errors).
import { mkdirSync, readFileSync, statSync } from 'node:fs';
import { release } from 'node:os';
import { basename, join } from 'node:path';
import { printNetem } from '../impair/index.js';
import { type LabResults, type ReceivedFile, type RunRecord, runNotes } from '../report/index.js';
import type { TransferResult } from '../transport/index.js';
import { analyseArrival } from './arrival.js';
import { bufferPreflight, captureToolMissing, readSysctl, realProbes } from './doctor.js';
import { LabError } from './errors.js';
import { type FaultRecord, isExec, protocolEntry, resumable, type Variant } from './protocols/index.js';
import { type RelayOverhead, relayOverhead, relayOverheadNotice } from './relay-overhead.js';
import { buildImage, dockerAvailable } from './runtimes/docker.js';
import { DockerRuntime } from './runtimes/docker-runtime.js';
import { ExecServerError } from './runtimes/exec.js';
import { LocalRuntime } from './runtimes/local.js';
import { NetnsRuntime } from './runtimes/netns.js';
import type { ClientOutcome, LabRuntime, RuntimeName, ShaperName } from './runtimes/types.js';
import type { Scenario } from './scenario.js';
import { NETEM_POLL_MS } from './shapers/netem.js';
import { planShaping, withLoss } from './shapers/plan.js';
import { analyseWire } from './wire.js';

export interface RunOptions {
  runtime: RuntimeName | 'auto';
  shaper: ShaperName | 'auto';
  shard?: { index: number; count: number };
  onProgress?: (line: string) => void;
  signal?: AbortSignal;
  /** The report folder: packet captures (`capture: true`) are written there. */
  outDir?: string;
  /** Run a scenario whose buffer (`rcvbuf:`) is above net.core.rmem_max anyway, with a CAPPED notice. */
  allowCapped?: boolean;
  /** Take no packet captures even where the scenario says `capture: true` (a notice says so). */
  noCapture?: boolean;
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

async function createRuntime(o: RunOptions, notices: string[], s: Scenario): Promise<LabRuntime> {
  // protocols that only some runtimes can place (exec: local and netns; image: docker)
  const placeable = s.variants.map((v) => protocolEntry(v.protocol).runtimes).filter((r) => r !== undefined);
  const onlyOn = (['local', 'netns', 'docker'] as const).filter((r) => placeable.every((p) => p.includes(r)));
  if (placeable.length > 0) {
    if (s.attack)
      throw new LabError('E_SCENARIO_INVALID', `${s.source}: attack scenarios run the built-in protocols only`);
    const where =
      'exec protocols run on the local and netns runtimes (--runtime local|netns), image protocols on the docker runtime (--runtime docker)';
    if (onlyOn.length === 0) throw new LabError('E_SCENARIO_INVALID', `${s.source}: ${where}: not in one scenario`);
    if (o.runtime !== 'auto' && !onlyOn.includes(o.runtime))
      throw new LabError('E_SCENARIO_INVALID', `${s.source}: ${where}; --runtime ${o.runtime} cannot run them`);
    if (o.runtime === 'auto' && !onlyOn.includes('docker')) {
      notices.push('exec protocols run on the local or netns runtime: --runtime auto chose local.');
      return started(new LocalRuntime(notices, s.ip));
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
      return started(new DockerRuntime(notices, o.shaper));
    }
  }
  if (s.attack) {
    if (o.runtime !== 'auto' && o.runtime !== 'local')
      throw new LabError('E_SCENARIO_INVALID', `${s.source}: attack scenarios run on loopback only (--runtime local)`);
    notices.push(`ATTACK on loopback only: ${s.attack} — forged requests go to 127.0.0.1, nowhere else.`);
    return started(new LocalRuntime(notices));
  }
  if (s.ip === 6 && o.runtime !== 'docker') {
    // the docker runtime says so itself, with the addresses the engine gave its containers
    notices.push(
      o.runtime === 'netns'
        ? 'IPv6 path: client, relay and server talk over the veth pair (fd77:0:0:<k>::/64).'
        : 'IPv6 path: client, relay and server talk over ::1 (local runtime; --runtime docker for containers).',
    );
  }
  if (o.runtime === 'netns') return started(new NetnsRuntime(notices, o.shaper, s.ip));
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
    return started(new LocalRuntime(notices, s.ip));
  }
  return started(new DockerRuntime(notices, o.shaper, s.ip));
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
  // preflight (the part of `udplab doctor` that changes a lesson): refuse rather than teach the wrong one
  notices.push(...bufferPreflight(s, (name) => readSysctl(name), o.allowCapped === true));
  const runtime = await createRuntime(o, notices, s);
  if (s.blackouts.length > 0) {
    const how =
      runtime.shaper === 'netem'
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
    const why = await captureToolMissing(runtime.name, realProbes(), buildImage).catch((e: unknown) => String(e));
    if (why) {
      await runtime.stop().catch(() => undefined);
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
    file = await runtime.prepareFile(s.file);
    const t0 = Date.now();
    for (const [k, p] of plan.entries()) {
      if (o.signal?.aborted) throw new LabError('E_RUNTIME', 'interrupted');
      const up = planShaping('up', withLoss(s.up, p.lossPct));
      const down = planShaping('down', withLoss(s.down, p.lossPct));
      for (const n of [...up.notices, ...down.notices]) if (!notices.includes(n)) notices.push(n);
      const seed = s.seed + p.index;
      if (s.attack === 'amplification') {
        runs.push(await amplificationRun(runtime as LocalRuntime, p, seed, file.sha256));
        say(`[${k + 1}/${plan.length}] ${runs.at(-1)!.id}: ${runs.at(-1)!.verdict} (${runNotes(runs.at(-1)!)})`);
        continue;
      }
      let readback: string;
      try {
        readback = await runtime.applyShaping({
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
        const why = await runtime.startCapture(path);
        if (why) {
          const n = `capture skipped: ${why}`;
          if (!notices.includes(n)) notices.push(n);
        } else capture = path;
      }
      let outcomes: ClientOutcome[];
      let faults: FaultRecord[] | undefined;
      try {
        if (s.faults.length > 0 && isExec(p.variant) && runtime.name !== 'docker') {
          // an implementation: restarted only when its manifest says resumable; otherwise the kill fails the run
          const r = await (runtime as LocalRuntime).runExecWithFaults(
            p.variant,
            file.remote,
            s.timeoutMs,
            s.faults,
            seed,
          );
          outcomes = [r.outcome];
          faults = r.faults;
        } else if (s.faults.length > 0 && resumable(p.variant)) {
          const r = await (runtime as LocalRuntime | DockerRuntime).runWithFaults(
            p.variant,
            file.remote,
            s.timeoutMs,
            s.faults,
          );
          outcomes = [r.outcome];
          faults = r.faults;
        } else {
          if (s.faults.length > 0) {
            const n = `faults apply to resumable protocols only: ${p.variant.id} cannot resume, so it ran without them`;
            if (!notices.includes(n)) notices.push(n);
          }
          outcomes = await runtime.runClients(p.variant, file.remote, s.timeoutMs, s.clients, seed);
        }
      } finally {
        if (capture) await runtime.stopCapture();
      }
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
        outcomes,
        capture && basename(capture),
        faults,
      );
      Object.assign(rec, await measureLesson(s, p.variant, rec, outcomes, runtime, o.outDir, capture));
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
  } finally {
    await runtime.stop();
  }
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
    lesson: s.lesson,
    runs,
    summary: { runs: runs.length, passed, failed: runs.length - passed },
  };
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
  runtime: LabRuntime,
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

/** Amplification = bytes the server sent the victim ÷ bytes of the forged request; above 3× is a reflector. */
async function amplificationRun(rt: LocalRuntime, p: PlannedRun, seed: number, sha: string): Promise<RunRecord> {
  const a = await rt.amplification(p.variant, 'file.bin', 3000);
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
    shaping_readback: 'none: forged request straight to the server on loopback',
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
