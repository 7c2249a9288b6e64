// `udplab fidelity "<netem up>" ["<netem down>"]`: the userspace relay measured with a probe stream on loopback
// (numbered UDP datagrams at a fixed rate to a reflector and back): per direction, counted loss, duplicates,
// reordering, one-way delay (median, p99), achieved rate, and the round-trip time; a markdown table (or --json),
// and the targets (loss ±1 pp, median delay ±1 ms) checked against the configured netem.
import type { Command } from 'commander';
import { parseNetem } from '../../impair/index.js';
import type { Register } from '../index.js';
import { UsageError } from '../usage-error.js';

interface Flags {
  count: string;
  pps: string;
  bytes: string;
  seed: string;
  shaper: string;
  json?: boolean;
}

export const register: Register = (program: Command, setExit) => {
  program
    .command('fidelity')
    .description('measure the userspace relay with a probe stream on loopback: loss, duplicates, reorder, delay, rate')
    .argument('<up>', 'netem for the up direction (sender → reflector), e.g. "delay 20ms loss 5%"')
    .argument('[down]', 'netem for the down direction (reflector → sender); none when omitted', '')
    .option('--count <n>', 'probes sent', '2000')
    .option('--pps <n>', 'probes per second', '500')
    .option('--bytes <n>', 'UDP payload bytes per probe', '200')
    .option('--seed <n>', "the relay's seed", '1')
    .option(
      '--shaper <s>',
      'userspace (the relay on loopback) | netem (kernel netem on a veth pair between namespaces: root, sch_netem) | both',
      'userspace',
    )
    .option('--json', 'print the result as JSON')
    .action(async (upText: string, downText: string, f: Flags) => {
      parseNetem(upText); // E_NETEM_SYNTAX before anything is bound
      parseNetem(downText);
      const probe = { count: Number(f.count), pps: Number(f.pps), bytes: Number(f.bytes) };
      if (!['userspace', 'netem', 'both'].includes(f.shaper))
        throw new UsageError(`--shaper must be userspace, netem or both, got "${f.shaper}"`);
      const { checkProbe, checkTargets, fidelityTable, measureKernelNetem, measureRelay } = await import(
        '../../lab/fidelity.js'
      );
      try {
        checkProbe(probe);
      } catch (e) {
        throw new UsageError((e as Error).message);
      }
      const results = [];
      if (f.shaper !== 'netem') results.push(await measureRelay(upText, downText, probe, Number(f.seed)));
      if (f.shaper !== 'userspace')
        results.push(await measureKernelNetem(upText, downText, [process.execPath, process.argv[1]!], probe));
      const checked = results.map((r) => ({ ...r, targets: checkTargets(r) }));
      if (f.json) console.log(JSON.stringify(checked, null, 2));
      else {
        console.log(fidelityTable(results));
        for (const r of checked) {
          console.log(
            `\n${r.shaper}: RTT median ${r.rttMedianMs?.toFixed(2) ?? '–'} ms, p99 ${r.rttP99Ms?.toFixed(2) ?? '–'} ms; sent ${r.sentPps.toFixed(0)} probes/s`,
          );
          for (const t of r.targets)
            console.log(
              `${t.ok ? 'ok  ' : 'MISS'} ${r.shaper} ${t.what}: configured ${t.configured}, measured ${t.measured.toFixed(2)} (±${t.tolerance})`,
            );
        }
      }
      setExit(checked.every((r) => r.targets.every((t) => t.ok)) ? 0 : 1);
    });

  program
    .command('fidelity-endpoint', { hidden: true })
    .description('a probe endpoint for `udplab fidelity --shaper netem` (run inside a namespace)')
    .argument('<args...>')
    .action(async (args: string[]) => {
      const { runEndpoint } = await import('../../lab/fidelity.js');
      await runEndpoint(args);
      setExit(0);
    });
};
