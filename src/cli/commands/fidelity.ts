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
    .option('--json', 'print the result as JSON')
    .action(async (upText: string, downText: string, f: Flags) => {
      parseNetem(upText); // E_NETEM_SYNTAX before anything is bound
      parseNetem(downText);
      const probe = { count: Number(f.count), pps: Number(f.pps), bytes: Number(f.bytes) };
      const { checkProbe, checkTargets, fidelityTable, measureRelay } = await import('../../lab/fidelity.js');
      try {
        checkProbe(probe);
      } catch (e) {
        throw new UsageError((e as Error).message);
      }
      const r = await measureRelay(upText, downText, probe, Number(f.seed));
      const targets = checkTargets(r);
      if (f.json) console.log(JSON.stringify({ ...r, targets }, null, 2));
      else {
        console.log(fidelityTable([r]));
        console.log(
          `\nRTT median ${r.rttMedianMs?.toFixed(2) ?? '–'} ms, p99 ${r.rttP99Ms?.toFixed(2) ?? '–'} ms; sent ${r.sentPps.toFixed(0)} probes/s`,
        );
        for (const t of targets)
          console.log(
            `${t.ok ? 'ok  ' : 'MISS'} ${t.what}: configured ${t.configured}, measured ${t.measured.toFixed(2)} (±${t.tolerance})`,
          );
      }
      setExit(targets.every((t) => t.ok) ? 0 : 1);
    });
};
