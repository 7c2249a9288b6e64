// `udplab lab <scenario.yaml…>`: run scenarios, write reports, exit 0 (all met) / 1 (an expectation failed) /
// 2 (scenario or environment invalid).
// The lab and the report (testcontainers, zx, vega: ~1 s of loading) are imported when a command runs, so that
// `serve`, `get` and the other commands start in a tenth of that.
import { join } from 'node:path';
import type { Command } from 'commander';
import type { LabResults } from '../../report/index.js';
import type { Register } from '../index.js';
import { UsageError } from '../usage-error.js';

interface LabFlags {
  runtime: string;
  shaper: string;
  out: string;
  shard?: string;
  json?: boolean;
  printSchema?: boolean;
  protocolsFrom?: string;
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
    .option('--runtime <r>', 'docker | netns | local | auto', 'auto')
    .option('--shaper <s>', 'netem | userspace | auto', 'auto')
    .option('--out <dir>', 'report root', 'reports')
    .option('--shard <i/n>', 'run only shard i of n (deterministic split)')
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
    .option('--allow-capped', 'run a scenario whose rcvbuf is above net.core.rmem_max anyway (a CAPPED notice)')
    .option('--no-capture', 'take no packet captures, even where the scenario says capture: true (a notice)')
    .action(async (files: string[], f: LabFlags) => {
      const { LabError, loadImplementations, loadScenario, runScenario, runShaperComparison, scenarioJsonSchema } =
        await import('../../lab/index.js');
      const { gradingMatrix, matrixTable, terminalSummary, writeMatrix, writeReports } = await import(
        '../../report/index.js'
      );
      if (f.printSchema) {
        console.log(JSON.stringify(scenarioJsonSchema(), null, 2));
        return;
      }
      if (files.length === 0) throw new UsageError('lab: name at least one scenario file');
      if (!['docker', 'local', 'auto', 'netns'].includes(f.runtime))
        throw new UsageError(`--runtime must be docker, netns, local or auto, got "${f.runtime}"`);
      if (!['netem', 'userspace', 'auto'].includes(f.shaper))
        throw new UsageError(`--shaper must be netem, userspace or auto, got "${f.shaper}"`);
      let shard: { index: number; count: number } | undefined;
      if (f.shard) {
        const m = /^(\d+)\/(\d+)$/.exec(f.shard);
        if (!m || Number(m[1]) < 1 || Number(m[1]) > Number(m[2]))
          throw new UsageError(`--shard expects i/n with 1 ≤ i ≤ n, got "${f.shard}"`);
        shard = { index: Number(m[1]), count: Number(m[2]) };
      }
      let scenarios = files.map((file) => loadScenario(file)); // all validated before anything runs
      // grading: every implementation of DIR on every scenario (manifests checked before anything runs)
      const impls = f.protocolsFrom !== undefined ? loadImplementations(f.protocolsFrom) : undefined;
      const gradingDir = impls && join(f.out, `grading-${stamp(new Date())}`);
      if (impls) {
        // exec on the local and netns runtimes (and auto); image on docker, from the manifest's image: / build: .
        const variants = impls.map((i) => {
          if (f.runtime !== 'docker') return i.variant;
          if (i.imageVariant) return i.imageVariant;
          throw new LabError(
            'E_SCENARIO_INVALID',
            `${i.manifest}:1:1: --runtime docker runs implementations as images: give image: NAME[:TAG], or build: . with a Dockerfile in ${i.dir}`,
          );
        });
        scenarios = scenarios.map((s) => ({ ...s, variants }));
      }
      const compare = (s: { compareShapers: boolean }) => f.compareShapers === true || s.compareShapers;
      if (scenarios.some(compare) && f.shaper !== 'auto')
        throw new UsageError(`--compare-shapers runs both shapers: leave out --shaper ${f.shaper}`);
      if (scenarios.some(compare) && shard)
        throw new UsageError('--compare-shapers does not combine with --shard (run the whole scenario)');
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
          });
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
      setExit(all.every((r) => r.summary.failed === 0 && relayFailed(r) === 0) ? 0 : 1);
    });
};

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
