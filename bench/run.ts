// `npm run bench [-- NAME] [-- --json FILE]`: benchmarks, never timed tests. Suites:
//   sim  — simulated goodput ÷ (rate × (1 − p)) on a 100 Mbit/s, 40 ms RTT bottleneck with one BDP of queue.
import { writeFileSync } from 'node:fs';
import { parseNetem } from '../src/impair/index.js';
import { simulateTransfer } from '../src/sim/index.js';

interface Row {
  suite: string;
  case: string;
  value: number;
  unit: string;
  target?: number;
  met?: boolean;
}

function simSuite(): Row[] {
  const rows: Row[] = [];
  const targets: Record<number, number> = { 0: 0.93, 1: 0.93, 5: 0.9, 10: 0.88, 20: 0.8, 30: 0.7 };
  const sizeBytes = 64 << 20;
  for (const loss of [0, 1, 5, 10, 20, 30]) {
    const l = loss ? ` loss ${loss}%` : '';
    // 100 Mbit/s, 20 ms each way, a queue of one BDP (100 Mbit/s × 40 ms ≈ 417 packets of 1200 bytes)
    const down = parseNetem(`delay 20ms rate 100mbit limit 417${l}`);
    const up = parseNetem(`delay 20ms${l}`);
    const r = simulateTransfer({ seed: 1, up, down, sizeBytes });
    const ratio = r.outcome === 'completed' ? r.goodputBps / (100e6 * (1 - loss / 100)) : 0;
    const target = targets[loss]!;
    rows.push({
      suite: 'sim',
      case: `loss ${loss}%`,
      value: Number(ratio.toFixed(4)),
      unit: 'goodput ÷ rate·(1−p)',
      target,
      met: ratio >= target,
    });
  }
  return rows;
}

const SUITES: Record<string, () => Row[]> = { sim: simSuite };

const args = process.argv.slice(2);
const jsonAt = args.indexOf('--json');
const jsonFile = jsonAt >= 0 ? args[jsonAt + 1] : undefined;
const names = args.filter((a, i) => !a.startsWith('--') && i !== jsonAt + 1);
for (const n of names) {
  if (!SUITES[n]) {
    console.error(`bench: unknown suite "${n}"; suites: ${Object.keys(SUITES).join(', ')}`);
    process.exit(2);
  }
}
const rows = (names.length ? names : Object.keys(SUITES)).flatMap((n) => SUITES[n]!());
console.log('suite  case        value   target  met   unit');
for (const r of rows) {
  console.log(
    `${r.suite.padEnd(6)} ${r.case.padEnd(11)} ${String(r.value).padStart(6)}  ${String(r.target ?? '').padStart(6)}  ${r.met === undefined ? '' : r.met ? 'yes' : 'NO '}   ${r.unit}`,
  );
}
if (jsonFile)
  writeFileSync(
    jsonFile,
    `${JSON.stringify({ node: process.version, date: new Date().toISOString(), rows }, null, 2)}\n`,
  );
