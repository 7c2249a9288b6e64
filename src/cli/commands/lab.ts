// `udplab lab <scenario.yaml…>`: run scenarios, write reports, exit 0 (all met) / 1 (an expectation failed) /
// 2 (scenario or environment invalid).
// The lab and the report (testcontainers, zx, vega: ~1 s of loading) are imported when a command runs, so that
// `serve`, `get` and the other commands start in a tenth of that.
import { join } from 'node:path';
import { type Command, Option } from 'commander';
import type { LabResults } from '../../report/index.js';
import type { Register } from '../index.js';
import { UsageError } from '../usage-error.js';

interface LabFlags {
  runtime: string;
  shaper: string;
  out: string;
  shard?: string;
  cluster?: string;
  shards?: string;
  image?: string;
  jobTimeout: string;
  swarmTask?: boolean;
  serverNode?: string;
  clientNode?: string;
  relayNode?: string;
  nodeEngine?: string[];
  json?: boolean;
  printSchema?: boolean;
  protocolsFrom?: string;
  allowImage?: string[];
  allowCapped?: boolean;
  capture: boolean;
  compareShapers?: boolean;
}

function stamp(d: Date): string {
  return d
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
}

export const register: Register = (program: Command, setExit) => {
  program
    .command('lab')
    .description('run network-lab scenarios (containers, shaped network, integrity checks, reports)')
    .argument('[scenarios...]', 'scenario YAML files')
    .option('--runtime <r>', 'docker | netns | local | swarm | auto', 'auto')
    .option('--shaper <s>', 'netem | userspace | auto', 'auto')
    .option('--out <dir>', 'report root', 'reports')
    .option('--shard <i/n>', 'run only shard i of n (deterministic split)')
    .option(
      '--cluster <engine>',
      'swarm: run the sweep as a Docker Swarm replicated job of --shards tasks, then merge (docs/cluster.md)',
    )
    .option('--shards <n>', 'with --cluster: how many tasks (shards) the sweep is split into')
    .option('--image <name>', 'with --cluster: the udplab image the tasks run (default: build udplab/udplab:local)')
    .option('--job-timeout <s>', 'with --cluster: the whole job may take this many seconds, retries included', '3600')
    .option('--server-node <constraint>', '--runtime swarm: where the server runs (e.g. node.labels.site==a)')
    .option('--client-node <constraint>', '--runtime swarm: where the client runs (e.g. node.labels.site==b)')
    .option('--relay-node <constraint>', '--runtime swarm: where the relay runs, when the relay shapes')
    .option(
      '--node-engine <node=url>',
      '--runtime swarm: the Docker engine of a node (hostname or ID) as docker --host takes it (ssh://user@host, tcp://host:2376); repeatable',
      (v: string, all: string[] | undefined) => [...(all ?? []), v],
    )
    .addOption(
      new Option('--swarm-task', 'internal: this is a swarm task; the shard comes from UDPLAB_SWARM_SLOT').hideHelp(),
    )
    .option('--json', 'print the results as JSON')
    .option(
      '--compare-shapers',
      'run every run under kernel netem and under the userspace relay on this kernel, and compare them in the report',
    )
    .option('--print-schema', 'print the JSON Schema of scenario files and exit')
    .option(
      '--protocols-from <dir>',
      "grade implementations: each sub-folder of DIR with a udplab.yaml replaces the scenarios' protocols, and a matrix (implementations × scenarios) is written",
    )
    .option(
      '--allow-image <ref>',
      'with --protocols-from: an image a manifest may name with image: (without build: .); exact NAME:TAG, repeatable',
      (v: string, all: string[] | undefined) => [...(all ?? []), v],
    )
    .option('--allow-capped', 'run a scenario whose rcvbuf is above net.core.rmem_max anyway (a CAPPED notice)')
    .option('--no-capture', 'take no packet captures, even where the scenario says capture: true (a notice)')
    .action(async (files: string[], f: LabFlags) => {
      const {
        knownFileRefusal,
        LabError,
        loadImplementations,
        loadScenario,
        runScenario,
        runShaperComparison,
        scenarioJsonSchema,
      } = await import('../../lab/index.js');
      const { gradingMatrix, matrixTable, terminalSummary, writeMatrix, writeReports } = await import(
        '../../report/index.js'
      );
      if (f.printSchema) {
        console.log(JSON.stringify(scenarioJsonSchema(), null, 2));
        return;
      }
      if (files.length === 0) throw new UsageError('lab: name at least one scenario file');
      if (!['docker', 'local', 'auto', 'netns', 'swarm'].includes(f.runtime))
        throw new UsageError(`--runtime must be docker, netns, local, swarm or auto, got "${f.runtime}"`);
      const placed = f.serverNode || f.clientNode || f.relayNode;
      if ((placed || f.nodeEngine) && f.runtime !== 'swarm')
        throw new UsageError(
          '--server-node, --client-node, --relay-node and --node-engine place endpoints on the swarm runtime: add --runtime swarm',
        );
      let nodeEngines: Map<string, string> | undefined;
      if (f.nodeEngine) {
        const { parseNodeEngines } = await import('../../lab/index.js');
        try {
          nodeEngines = parseNodeEngines(f.nodeEngine);
        } catch (e) {
          throw new UsageError((e as Error).message);
        }
      }
      if (!['netem', 'userspace', 'auto'].includes(f.shaper))
        throw new UsageError(`--shaper must be netem, userspace or auto, got "${f.shaper}"`);
      let shard: { index: number; count: number } | undefined;
      if (f.shard) {
        const m = /^(\d+)\/(\d+)$/.exec(f.shard);
        if (!m || Number(m[1]) < 1 || Number(m[1]) > Number(m[2]))
          throw new UsageError(`--shard expects i/n with 1 ≤ i ≤ n, got "${f.shard}"`);
        shard = { index: Number(m[1]), count: Number(m[2]) };
      }
      const shards = f.shards === undefined ? undefined : Number(f.shards);
      if (shards !== undefined && !(Number.isInteger(shards) && shards >= 1))
        throw new UsageError(`--shards expects a positive integer, got "${f.shards}"`);
      if (f.cluster !== undefined) return runCluster(files, f, shards, setExit);
      if (f.swarmTask && !shard) {
        // a task of `--cluster swarm`'s replicated job: its slot names its shard
        const { shardOfSlot } = await import('../../lab/index.js');
        if (shards === undefined) throw new UsageError('--swarm-task needs --shards N or --shard i/n');
        const slot = process.env.UDPLAB_SWARM_SLOT ?? '';
        try {
          shard = { index: shardOfSlot(slot, shards), count: shards };
        } catch (e) {
          throw new UsageError(`--swarm-task: ${(e as Error).message}`);
        }
      }
      let scenarios = files.map((file) => loadScenario(file)); // all validated before anything runs
      // grading: every implementation of DIR on every scenario (manifests checked before anything runs)
      if (f.allowImage && f.protocolsFrom === undefined)
        throw new UsageError('--allow-image goes with --protocols-from (the images manifests may name)');
      const impls =
        f.protocolsFrom !== undefined
          ? loadImplementations(f.protocolsFrom, { allowImages: f.allowImage ?? [] })
          : undefined;
      const gradingDir = impls && join(f.out, `grading-${stamp(new Date())}`);
      if (impls) {
        // exec on the local and netns runtimes (and auto); image on docker, from the manifest's image: / build: .
        const variants = impls.map((i) => {
          if (f.runtime !== 'docker') return i.variant;
          if (i.imageVariant) return i.imageVariant;
          throw new LabError(
            'E_SCENARIO_INVALID',
            `${i.manifest}:1:1: --runtime docker runs implementations as images: give build: . with a Dockerfile in ${i.dir} (or image: NAME:TAG, which the grader allows with --allow-image)`,
          );
        });
        scenarios = scenarios.map((s) => ({ ...s, variants }));
        for (const s of scenarios) {
          const known = knownFileRefusal(s, `--protocols-from ${f.protocolsFrom}`);
          if (known) throw new LabError('E_SCENARIO_INVALID', known);
        }
      }
      const compare = (s: { compareShapers: boolean }) => f.compareShapers === true || s.compareShapers;
      if (scenarios.some(compare) && f.shaper !== 'auto')
        throw new UsageError(`--compare-shapers runs both shapers: leave out --shaper ${f.shaper}`);
      if (scenarios.some(compare) && shard)
        throw new UsageError('--compare-shapers does not combine with --shard (run the whole scenario)');
      if (shards !== undefined && !f.swarmTask) throw new UsageError('--shards goes with --cluster swarm');
      // SIGINT or SIGTERM tears the running lab down at once (a second one kills the process as usual)
      const ac = new AbortController();
      const onInt = () => ac.abort();
      process.once('SIGINT', onInt);
      process.once('SIGTERM', onInt);
      const all: LabResults[] = [];
      try {
        for (const s of scenarios) {
          const say = (l: string) => {
            if (!f.json) console.error(l);
          };
          say(`== ${s.name}: ${s.description} (${s.networkLabel})`);
          const dir = gradingDir
            ? join(gradingDir, s.name)
            : join(f.out, `${s.name}-${stamp(new Date())}${shard ? `-shard${shard.index}of${shard.count}` : ''}`);
          const res = await (compare(s) ? runShaperComparison : runScenario)(s, {
            runtime: f.runtime as 'auto',
            shaper: f.shaper as 'auto',
            ...(shard && { shard }),
            onProgress: say,
            signal: ac.signal,
            outDir: dir,
            ...(f.allowCapped && { allowCapped: true }),
            ...(!f.capture && { noCapture: true }),
            ...(placed && {
              placement: {
                ...(f.serverNode && { server: f.serverNode }),
                ...(f.clientNode && { client: f.clientNode }),
                ...(f.relayNode && { relay: f.relayNode }),
              },
            }),
            ...(nodeEngines && { nodeEngines }),
          });
          if (f.swarmTask) {
            const e = process.env;
            res.environment.notices.push(
              `shard ${shard ? `${shard.index}/${shard.count}` : '1/1'} ran in swarm task ${e.UDPLAB_SWARM_TASK ?? '?'} (slot ${e.UDPLAB_SWARM_SLOT ?? '?'}) on node ${e.UDPLAB_SWARM_NODE ?? '?'}: ${res.environment.runtime} runtime, ${res.environment.shaper === 'netem' ? 'kernel netem' : 'the userspace relay'} (kernel ${res.environment.kernel})`,
            );
          }
          await writeReports(dir, res);
          all.push(res);
          if (!f.json) {
            console.log(terminalSummary(res));
            console.log(`reports: ${dir}/ (results.json, report.md, junit.xml, report.html)`);
          }
        }
      } finally {
        process.off('SIGINT', onInt);
        process.off('SIGTERM', onInt);
      }
      if (impls && gradingDir) {
        const m = gradingMatrix(
          all.map((res) => ({ res, report: res.scenario })),
          impls.map((i) => ({ label: i.label, description: i.description })),
        );
        writeMatrix(gradingDir, m);
        if (f.json) console.log(JSON.stringify(m));
        else {
          console.log(matrixTable(m));
          console.log(`matrix: ${gradingDir}/ (matrix.html, matrix.md, matrix.json, junit.xml; a report per scenario)`);
        }
        setExit(m.summary.failed === 0 ? 0 : 1);
        return;
      }
      if (f.json) console.log(JSON.stringify(all.length === 1 ? all[0] : all));
      const relayFailed = (r: LabResults) => r.shaper_comparison?.userspace.summary.failed ?? 0;
      // a swarm task that wrote its shard's report has done its part (its verdicts are in results.json): exit 0, or
      // the engine would start it again
      if (f.swarmTask) setExit(0);
      else setExit(all.every((r) => r.summary.failed === 0 && relayFailed(r) === 0) ? 0 : 1);
    });
};

/** `--cluster swarm --shards N`: the sweep as a swarm job; the merged report is written like a one-machine run's. */
async function runCluster(
  files: string[],
  f: LabFlags,
  shards: number | undefined,
  setExit: (code: number) => void,
): Promise<void> {
  if (f.cluster !== 'swarm') throw new UsageError(`--cluster must be swarm, got "${f.cluster}"`);
  if (shards === undefined) throw new UsageError('--cluster swarm needs --shards N');
  if (files.length !== 1) throw new UsageError('--cluster swarm runs one scenario file at a time');
  if (f.shard || f.protocolsFrom || f.compareShapers || f.swarmTask)
    throw new UsageError('--cluster swarm does not combine with --shard, --protocols-from or --compare-shapers');
  if (!['auto', 'netns', 'local'].includes(f.runtime))
    throw new UsageError(`--cluster swarm: each task runs the netns or local runtime, not "${f.runtime}"`);
  const jobTimeout = Number(f.jobTimeout);
  if (!(jobTimeout > 0)) throw new UsageError(`--job-timeout expects seconds, got "${f.jobTimeout}"`);
  const { buildImage, checkJobScenario, loadScenario, runSwarmJob } = await import('../../lab/index.js');
  const { terminalSummary, writeReports } = await import('../../report/index.js');
  const file = files[0]!;
  const s = loadScenario(file);
  checkJobScenario(s); // users' programs are refused before an image is built
  const say = (l: string) => {
    if (!f.json) console.error(l);
  };
  const image = f.image ?? (await buildImage());
  const dir = join(f.out, `${s.name}-${stamp(new Date())}-swarm${shards}`);
  const ac = new AbortController();
  const onSignal = () => ac.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const job = await runSwarmJob({
      scenario: s,
      scenarioFile: file,
      shards,
      image,
      runtime: f.runtime === 'local' ? 'local' : 'netns',
      shaper: f.shaper as 'auto',
      outDir: dir,
      signal: ac.signal,
      onProgress: say,
      timeoutMs: jobTimeout * 1000,
      extraArgs: f.capture ? [] : ['--no-capture'],
    });
    await writeReports(dir, job.merged);
    if (f.json) console.log(JSON.stringify(job.merged));
    else {
      console.log(terminalSummary(job.merged));
      for (const m of job.missing) console.log(`MISSING: shard ${m.index}/${shards}: ${m.why}`);
      console.log(`reports: ${dir}/ (merged from ${job.parts.length} of ${shards} shards in ${dir}/shards/)`);
    }
    setExit(job.missing.length === 0 && job.merged.summary.failed === 0 ? 0 : 1);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

function stampNow(): string {
  return stamp(new Date());
}

export const registerReport: Register = (program: Command, setExit) => {
  const report = program.command('report').description('work with lab reports');
  report
    .command('merge')
    .description('join the results of shards (udplab lab --shard i/n) of one scenario into one report')
    .argument('<dirs...>', 'report directories holding results.json')
    .option('--out <dir>', 'where to write the merged report (default reports/<scenario>-merged-<timestamp>)')
    .action(async (dirs: string[], f: { out?: string }) => {
      const { mergeResults, readResults, terminalSummary, writeReports } = await import('../../report/index.js');
      const merged = mergeResults(dirs.map(readResults));
      const out = f.out ?? join('reports', `${merged.scenario}-merged-${stampNow()}`);
      await writeReports(out, merged);
      console.log(terminalSummary(merged));
      console.log(`merged ${dirs.length} reports: ${out}/ (results.json, report.md, junit.xml, report.html)`);
      setExit(merged.summary.failed === 0 ? 0 : 1);
    });
};
