// `udplab lab --compare-shapers` (or `compare_shapers: true` in a scenario): every run of the scenario twice on
// the same kernel and runtime — under kernel netem first (its runtime probes sch_netem before anything runs, so
// a kernel without it is refused at once, pointing at the real-kernel lane), then under the userspace relay —
// and one report: the netem runs as its runs, the relay's beside them in `shaper_comparison`.
import { join } from 'node:path';
import type { LabResults } from '../report/index.js';
import { LabError } from './errors.js';
import { compareShaperRuns } from './fidelity.js';
import { type RunOptions, runScenario } from './runner.js';
import type { RuntimeName } from './runtimes/types.js';
import type { Scenario } from './scenario.js';

/** The runtime a comparison takes: kernel netem needs netns (root, Linux) or docker; `local` has no kernel shaper. */
export function compareRuntime(s: Scenario, wanted: RunOptions['runtime'], root: boolean): RuntimeName {
  if (s.attack)
    throw new LabError(
      'E_SCENARIO_INVALID',
      `${s.source}: --compare-shapers: attack scenarios shape nothing (the forged request goes straight to the server): nothing to compare`,
    );
  if (wanted === 'local')
    throw new LabError(
      'E_SHAPER',
      '--compare-shapers needs kernel netem: the local runtime shapes in user space only (use --runtime netns or docker)',
    );
  if (wanted !== 'auto') return wanted;
  return root && process.platform === 'linux' ? 'netns' : 'docker';
}

/** The one line a kernel without sch_netem gets: where to run the comparison instead. */
export function noNetemRefusal(s: Scenario, runtime: RuntimeName, why: string): LabError {
  return new LabError(
    'E_SHAPER',
    `--compare-shapers needs kernel netem, and ${why.replace(/^--shaper netem: /, '').replace(/\s*\n\s*/g, ' ')} — run the comparison in the real-kernel lane: npm run lab:vm -- ${s.source} --compare-shapers${runtime === 'docker' ? ' --runtime docker' : ''}`,
  );
}

export async function runShaperComparison(s: Scenario, o: RunOptions): Promise<LabResults> {
  if (o.shaper !== 'auto')
    throw new LabError('E_SHAPER', `--compare-shapers runs both shapers: leave out --shaper ${o.shaper}`);
  const runtime = compareRuntime(s, o.runtime, process.getuid?.() === 0);
  const say = o.onProgress ?? (() => {});
  const sub = (shaper: 'netem' | 'userspace'): RunOptions => ({
    ...o,
    runtime,
    shaper,
    onProgress: (l) => say(`[${shaper}] ${l}`),
    ...(o.outDir && { outDir: join(o.outDir, shaper) }),
  });
  let netem: LabResults;
  try {
    netem = await runScenario(s, sub('netem'));
  } catch (e) {
    if (e instanceof LabError && e.code === 'E_SHAPER' && /cannot run netem/.test(e.message))
      throw noNetemRefusal(s, runtime, e.message);
    throw e;
  }
  const userspace = await runScenario(s, sub('userspace'));
  const comparison = compareShaperRuns(userspace, netem);
  return {
    ...netem,
    finished_at: userspace.finished_at,
    environment: {
      ...netem.environment,
      notices: [
        ...netem.environment.notices,
        `SHAPERS COMPARED: every run ran twice on kernel ${netem.environment.kernel} (${runtime} runtime), under kernel netem (the runs of this report) and under the userspace relay (shaper_comparison); ${comparison.different_verdicts === 0 ? 'the same verdict in every run' : `DIFFERENT VERDICTS in ${comparison.different_verdicts} of ${comparison.rows.length} runs`}.`,
      ],
    },
    shaper_comparison: comparison,
  };
}
