// `udplab lab SCENARIO --cluster swarm --shards N`: a sweep as a Docker Swarm replicated job. N tasks of the udplab
// image each run `udplab lab SCENARIO` on one shard with the netns (or local) runtime inside the task; their report
// folders land in a bind mount (one node: a host folder; several nodes: a volume they share); a task that fails or is
// lost is started once more by the engine (in its slot, so on the same shard); the parts are joined with the report
// merge, and a shard still without results is named in the merged report's notices and counted as failed runs,
// never dropped. A shard whose runs fail still completes (exit 0): its verdicts are in its results.json.
//
// Measured on Docker 20.10 (swarmkit): a replicated job's tasks get slots 0..N-1, and `{{.Task.Slot}}` renders slot
// 0 as the node's ID (as for a global service): "1", "2", …, "N-1" and one node ID. `shardOfSlot` maps them onto
// shards 1..N. `{{…}}` templates expand in --env, --hostname and --mount, not in the command, so the slot reaches the
// task's `udplab lab --swarm-task` through UDPLAB_SWARM_SLOT. Docker 20.10 also restarts a job's failed task whatever
// --restart-condition says (measured: `none`, and max-attempts 1, go on for ever), so the lab counts the attempts.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { promisify } from 'node:util';
import { type LabResults, mergeResults, readResults } from '../report/index.js';
import { LabError } from './errors.js';
import { protocolEntry } from './protocols/index.js';
import { planRuns } from './runner.js';
import { LABEL, ownerAlive } from './runtimes/docker.js';
import { removeService } from './runtimes/swarm/index.js';
import type { Scenario } from './scenario.js';

const exec = promisify(execFile);

async function docker(args: string[], timeoutMs = 30_000): Promise<string> {
  const { stdout } = await exec('docker', args, { timeout: timeoutMs, maxBuffer: 16 << 20 });
  return stdout;
}

/** The shard (1..n) a replicated job's task runs, from its `{{.Task.Slot}}`: "k" (1 ≤ k < n) → k, a node ID (slot 0) → n. */
export function shardOfSlot(slot: string, n: number): number {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`shards must be a positive integer, got ${n}`);
  if (/^\d+$/.test(slot)) {
    const k = Number(slot);
    if (k === 0 || k === n) return n; // slot 0 rendered as a number (a fixed engine), or slots counted 1..n
    if (k >= 1 && k < n) return k;
    throw new RangeError(`swarm task slot ${slot} is outside a job of ${n} tasks`);
  }
  if (/^[a-z0-9]{25}$/.test(slot)) return n; // slot 0: the engine renders the node ID instead
  throw new RangeError(`swarm task slot "${slot}" is neither a number nor a node ID`);
}

/** This engine's swarm state (`inactive`, `active`, `pending`, `error`, `locked`). */
export async function swarmState(): Promise<string> {
  return (await docker(['info', '--format', '{{.Swarm.LocalNodeState}}'], 10_000)).trim();
}

export interface SwarmJobOptions {
  scenario: Scenario;
  /** the scenario file as given on this machine; its folder is mounted read-only at /scenario in every task */
  scenarioFile: string;
  shards: number;
  image: string;
  /** inside each task: netns (kernel netem where the node has sch_netem, the relay otherwise) or local (the relay) */
  runtime: 'netns' | 'local';
  shaper: 'netem' | 'userspace' | 'auto';
  /** the job's folder: shards/ (the bind mount) and the merged report */
  outDir: string;
  signal?: AbortSignal;
  onProgress?: (line: string) => void;
  /** the whole job, retries included (default 1 h) */
  timeoutMs?: number;
  /** extra `udplab lab` arguments for every shard (e.g. --no-capture) */
  extraArgs?: string[];
  /** the tasks' command instead of `udplab lab /scenario/FILE --swarm-task --shards N …` (tests: a task that fails) */
  command?: string[];
}

export interface MissingShard {
  index: number;
  why: string;
}

export interface SwarmJobResult {
  merged: LabResults;
  /** the shards' report folders, by shard */
  parts: Array<{ index: number; dir: string }>;
  missing: MissingShard[];
}

/** Task states after which a task runs no more (the engine may still start another in its slot). */
const ENDED = new Set(['complete', 'failed', 'rejected', 'shutdown', 'orphaned', 'remove']);

interface TaskState {
  /** `<service>.<slot>`: tasks of one slot (a first attempt and its restarts) share it */
  slot: string;
  state: string;
  error: string;
}

async function tasks(service: string): Promise<TaskState[]> {
  const out = await docker([
    'service',
    'ps',
    '--no-trunc',
    '--format',
    '{{.Name}}\t{{.CurrentState}}\t{{.Error}}',
    service,
  ]);
  return out
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => {
      const [name = '', state = '', error = ''] = l.split('\t');
      return {
        slot: name.slice(service.length + 1),
        state: state.split(' ')[0]!.toLowerCase(),
        error: error.trim().replace(/^"(.*)"$/, '$1'),
      };
    });
}

/** Per slot: `done` (a task completed), `given-up` (ATTEMPTS tasks ended otherwise), or still `open`. */
export function settle(
  ts: TaskState[],
  attempts: number,
): Map<string, { state: 'done' | 'given-up' | 'open'; last: TaskState }> {
  const bySlot = new Map<string, TaskState[]>();
  for (const t of ts) bySlot.set(t.slot, [...(bySlot.get(t.slot) ?? []), t]);
  const out = new Map<string, { state: 'done' | 'given-up' | 'open'; last: TaskState }>();
  for (const [slot, list] of bySlot) {
    const failed = list.filter((t) => ENDED.has(t.state) && t.state !== 'complete');
    const state = list.some((t) => t.state === 'complete') ? 'done' : failed.length >= attempts ? 'given-up' : 'open';
    out.set(slot, { state, last: failed[0] ?? list[0]! });
  }
  return out;
}

/** Removes the lab's swarm services whose owner process (on this manager) is gone: jobs of a killed lab. */
export async function sweepServices(): Promise<number> {
  const names = (
    await docker([
      'service',
      'ls',
      '--filter',
      `label=${LABEL}=1`,
      '--filter',
      'label=udplab.owner',
      '--format',
      '{{.Name}}',
    ]).catch(() => '')
  )
    .split('\n')
    .filter((l) => l.trim() !== '');
  if (names.length === 0) return 0;
  const out = await docker([
    'service',
    'inspect',
    '--format',
    '{{.Spec.Name}} {{index .Spec.Labels "udplab.owner"}}',
    ...names,
  ]).catch(() => '');
  let removed = 0;
  for (const line of out.split('\n')) {
    const [name, owner] = line.trim().split(' ');
    if (!name || !owner) continue;
    if (!ownerAlive(owner)) {
      await removeService(name);
      removed++;
    }
  }
  return removed;
}

/** The shard folders in `dir` that hold a results.json of shard `index` of `n`. */
function shardDir(dir: string, index: number, n: number): string | undefined {
  if (!existsSync(dir)) return undefined;
  const suffix = `-shard${index}of${n}`;
  return readdirSync(dir)
    .filter((d) => d.endsWith(suffix) && existsSync(join(dir, d, 'results.json')))
    .sort()
    .map((d) => join(dir, d))
    .at(-1);
}

/**
 * Refuses, before anything starts, a scenario the job must not run: its tasks run the netns runtime as root with
 * NET_ADMIN and SYS_ADMIN (the local runtime as root), beside a writable bind mount of every shard's results, so a
 * user's program (protocol exec) would run there with all that; and an image protocol needs the docker runtime,
 * which a task does not have (each task would fail, the shards would be reported missing).
 */
export function checkJobScenario(s: Scenario): void {
  const users = s.variants.filter((v) => protocolEntry(v.protocol).runtimes !== undefined);
  if (users.length === 0) return;
  const named = users.map((v) => `${v.protocol} ${v.id}`).join(', ');
  if (users.some((v) => protocolEntry(v.protocol).runtimes!.some((r) => r === 'local' || r === 'netns')))
    throw new LabError(
      'E_SCENARIO_INVALID',
      `${s.source}: --cluster swarm would run users' programs (${named}) as root in its tasks, with NET_ADMIN and SYS_ADMIN and every shard's results writable: grade them with --protocols-from DIR --runtime docker (image protocols, docs/endpoints.md) instead`,
    );
  throw new LabError(
    'E_SCENARIO_INVALID',
    `${s.source}: --cluster swarm cannot run image protocols (${named}): its tasks run the netns or local runtime, and image protocols need --runtime docker (run the scenario on one machine)`,
  );
}

/**
 * A host path for the SRC of `docker service create --mount type=bind,src=…`: the option is a CSV line of key=value
 * pairs, so a comma, a quote, an equals sign or a line break in the path would add or change mount options
 * (`,dst=/etc`, `,readonly=false`); such a path is refused.
 */
export function mountSource(path: string, what: string): string {
  const bad = /[,="\n\r]/.exec(path);
  if (bad)
    throw new LabError(
      'E_SCENARIO_INVALID',
      `--cluster swarm: ${what} ${JSON.stringify(path)} holds ${JSON.stringify(bad[0])}, which docker's --mount option cannot take safely: use a path without , = " or line breaks`,
    );
  return path;
}

/** `docker service create` argv of the job (pure: the tests read it). */
export function jobServiceArgv(o: {
  name: string;
  /** the image by ID */
  image: string;
  shards: number;
  runtime: 'netns' | 'local';
  /** the scenario's folder, mounted read-only at /scenario */
  scenarioDir: string;
  /** the job's shards/ folder, mounted at /out */
  shardsDir: string;
  command: string[];
}): string[] {
  const caps = o.runtime === 'netns' ? ['NET_ADMIN', 'SYS_ADMIN'] : [];
  return [
    'service',
    'create',
    '--detach',
    '--quiet',
    '--no-resolve-image', // the image is on each node already (docker save | docker load, or a registry's tag)
    '--name',
    o.name,
    '--label',
    `${LABEL}=1`,
    '--label',
    `udplab.owner=${process.pid}`,
    '--container-label',
    `${LABEL}=1`,
    '--mode',
    'replicated-job',
    '--replicas',
    String(o.shards),
    // Docker 20.10 restarts a job's failed task whatever the policy says (measured: `none` and max-attempts 1 both
    // go on for ever); the lab counts the attempts per slot itself and removes the job after the second
    '--restart-condition',
    'on-failure',
    '--restart-delay',
    '1s',
    ...caps.flatMap((c) => ['--cap-add', c]),
    '--mount',
    `type=bind,src=${mountSource(o.scenarioDir, "the scenario's folder")},dst=/scenario,readonly`,
    '--mount',
    `type=bind,src=${mountSource(o.shardsDir, "the job's shards folder")},dst=/out`,
    '--env',
    'UDPLAB_SWARM_SLOT={{.Task.Slot}}',
    '--env',
    'UDPLAB_SWARM_TASK={{.Task.ID}}',
    '--env',
    'UDPLAB_SWARM_NODE={{.Node.Hostname}}',
    o.image,
    ...o.command,
  ];
}

/** Runs the scenario as a swarm job of `shards` tasks, retries missing shards once, and merges what came back. */
export async function runSwarmJob(o: SwarmJobOptions): Promise<SwarmJobResult> {
  const say = o.onProgress ?? (() => undefined);
  checkJobScenario(o.scenario);
  const n = o.shards;
  const scenarioFile = resolve(o.scenarioFile);
  const shardsDir = resolve(o.outDir, 'shards');
  mountSource(dirname(scenarioFile), "the scenario's folder"); // both refused before the engine is asked
  mountSource(shardsDir, "the job's shards folder");
  const state = await swarmState().catch((e: unknown) => {
    throw new LabError(
      'E_DOCKER_UNAVAILABLE',
      `--cluster swarm: no Docker engine answers (${String(e).split('\n')[0]})`,
    );
  });
  if (state !== 'active')
    throw new LabError(
      'E_RUNTIME',
      `--cluster swarm: this Docker engine is not in a swarm (state ${state}): docker swarm init, or join one (docs/cluster.md)`,
    );
  const swept = await sweepServices();
  if (swept > 0) say(`swarm: removed ${swept} service(s) left by lab processes that are gone`);
  // the image by ID: every task (and every node, after docker save | docker load, which keeps the ID) runs the same
  // build even when the tag moves meanwhile
  const image = (await docker(['image', 'inspect', '--format', '{{.Id}}', o.image]).catch(() => '')).trim();
  if (!image) throw new LabError('E_IMAGE_BUILD', `--cluster swarm: no image ${o.image} in this Docker engine`);
  mkdirSync(shardsDir, { recursive: true });
  const inTask = `/scenario/${basename(scenarioFile)}`;
  const deadline = Date.now() + (o.timeoutMs ?? 3_600_000);
  const id = `${process.pid}-${randomBytes(3).toString('hex')}`;
  const lab = [
    'udplab',
    'lab',
    inTask,
    '--runtime',
    o.runtime,
    '--shaper',
    o.shaper,
    '--out',
    '/out',
    '--swarm-task',
    '--shards',
    String(n),
    ...(o.extraArgs ?? []),
  ];

  const name = `udplab-job-${id}`;
  const argv = jobServiceArgv({
    name,
    image,
    shards: n,
    runtime: o.runtime,
    scenarioDir: dirname(scenarioFile),
    shardsDir,
    command: o.command ?? lab,
  });
  const ATTEMPTS = 2; // a task and one retry
  let created = false;
  try {
    say(
      `swarm: job ${name}: ${n} tasks of ${o.image} (${image.slice(0, 19)}), each one shard of ${o.scenario.name} (${o.runtime} runtime)`,
    );
    created = true;
    await docker(argv);
    let slots = settle([], ATTEMPTS);
    let late = false;
    const told = new Set<string>();
    while (true) {
      if (o.signal?.aborted) throw new LabError('E_RUNTIME', `--cluster swarm: interrupted; service ${name} removed`);
      slots = settle(await tasks(name), ATTEMPTS);
      for (const [slot, v] of slots) {
        const failed = v.last.state !== 'complete' && ENDED.has(v.last.state);
        if (failed && !told.has(slot) && v.state === 'open') {
          told.add(slot);
          say(
            `swarm: task in slot ${slot} ${v.last.state}${v.last.error ? ` (${v.last.error})` : ''}: the engine starts it once more`,
          );
        }
      }
      if (slots.size >= n && [...slots.values()].every((v) => v.state !== 'open')) break;
      if (Date.now() > deadline) {
        late = true;
        break;
      }
      await delay(500, undefined, o.signal ? { signal: o.signal } : {}).catch(() => undefined);
    }
    const logs = await docker(['service', 'logs', '--raw', '--tail', '200', name]).catch(() => '');
    const parts: SwarmJobResult['parts'] = [];
    const missing: MissingShard[] = [];
    const why = new Map<number, string>();
    for (const [slot, v] of slots) {
      let shard: number;
      try {
        shard = shardOfSlot(slot, n);
      } catch {
        continue;
      }
      why.set(
        shard,
        v.state === 'open'
          ? `task ${v.last.state} at the job's time limit`
          : `${ATTEMPTS} tasks ended ${v.last.state}${v.last.error ? ` (${v.last.error})` : ''}`,
      );
    }
    const lastLog = logs.trim().split('\n').filter(Boolean).at(-1);
    for (let i = 1; i <= n; i++) {
      const dir = shardDir(shardsDir, i, n);
      if (dir) parts.push({ index: i, dir });
      else
        missing.push({
          index: i,
          why: `${why.get(i) ?? (late ? "no task at the job's time limit" : 'no task')}${lastLog ? `; last log line: ${lastLog}` : ''}`,
        });
    }
    return { merged: mergeShards(o.scenario, parts, missing, n), parts, missing };
  } finally {
    if (created) await removeService(name);
  }
}

/**
 * Joins the shards' results with the report merge; each missing shard becomes a MISSING notice and its planned
 * runs count as failed in the summary (the runs list holds only runs that ran).
 */
export function mergeShards(
  s: Scenario,
  parts: Array<{ index: number; dir: string }>,
  missing: MissingShard[],
  n: number,
): LabResults {
  if (parts.length === 0)
    throw new LabError(
      'E_RUNTIME',
      `--cluster swarm: no shard of ${s.name} produced results (${missing.map((m) => `shard ${m.index}/${n}: ${m.why}`).join('; ')})`,
    );
  const merged = mergeResults(parts.map((p) => readResults(p.dir)));
  const notices = [...merged.environment.notices];
  let planned = merged.summary.runs;
  for (const m of missing) {
    const runs = planRuns(s, { index: m.index, count: n });
    planned += runs.length;
    notices.push(
      `MISSING: shard ${m.index}/${n} (${runs.length} run(s): #${runs.map((r) => r.index + 1).join(', #')}) produced no results after a retry: ${m.why}`,
    );
  }
  return {
    ...merged,
    source: s.source, // the scenario as named on this machine (the shards read it at /scenario/…)
    environment: { ...merged.environment, notices },
    summary: { runs: planned, passed: merged.summary.passed, failed: planned - merged.summary.passed },
  };
}
