// `udplab doctor [SCENARIO…] [--runtime r] [--json]`: the lab's preflight on this machine, one line per check
// (ok / WARN / FAIL and what to do); with scenarios, their socket buffers, captures and attacks are checked too.
// Exit 0 when nothing FAILs, 1 otherwise.
import type { Command } from 'commander';
import type { Register } from '../index.js';
import { UsageError } from '../usage-error.js';

export const register: Register = (program: Command, setExit) => {
  program
    .command('doctor')
    .description('check this machine for the lab: Docker, sch_netem, rmem_max/wmem_max, tcpdump/tshark/hping3, root')
    .argument('[scenarios...]', 'scenario YAML files whose needs to check (buffers, captures, attacks)')
    .option('--runtime <r>', 'the runtime the scenarios will use: docker | netns | local | auto', 'auto')
    .option('--json', 'print the checks as JSON')
    .action(async (files: string[], f: { runtime: string; json?: boolean }) => {
      if (!['docker', 'local', 'auto', 'netns'].includes(f.runtime))
        throw new UsageError(`--runtime must be docker, netns, local or auto, got "${f.runtime}"`);
      const { doctor, formatChecks, labImage, loadScenario, realProbes } = await import('../../lab/index.js');
      const scenarios = files.map((file) => loadScenario(file));
      const checks = await doctor(scenarios, realProbes(), { runtime: f.runtime as 'auto', image: labImage() });
      const failed = checks.filter((c) => c.level === 'FAIL').length;
      if (f.json) console.log(JSON.stringify({ ok: failed === 0, checks }, null, 2));
      else {
        console.log(formatChecks(checks));
        const warned = checks.filter((c) => c.level === 'WARN').length;
        console.log(
          failed
            ? `\n${failed} FAIL, ${warned} WARN: fix the FAIL lines before the seminar`
            : `\nnothing FAILs (${warned} WARN)`,
        );
      }
      setExit(failed ? 1 : 0);
    });
};
