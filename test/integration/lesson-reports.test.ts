// Reports that show the lesson, on real runs (#21): teaching scenarios run on the local runtime and written as a
// report folder; the lesson's figure must be there, first, and plausible — 07's block-against-time from the TFTP
// client's own per-block record, 08's bytes in and out, 02's kept file compared with the original.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadScenario, runScenario } from '../../src/lab/index.js';
import { type LabResults, lessonTable, writeReports } from '../../src/report/index.js';
import { tempDir } from '../helpers/tmp.js';

async function run(name: string, out: string): Promise<LabResults> {
  // a host whose net.core.rmem_max is below 02's 8 MiB runs it anyway (1 MiB fits): the lesson is the order
  const res = await runScenario(loadScenario(join('scenarios/teaching', name)), {
    runtime: 'local',
    shaper: 'auto',
    outDir: out,
    allowCapped: true,
  });
  for (const r of res.runs) expect(r.verdict, `${r.id}: ${r.failures.join('; ')}`).toBe('pass');
  await writeReports(out, res);
  return res;
}
const row = (res: LabResults, p: string) => lessonTable(res)!.rows.find((r) => r.protocol === p)!.values;
const firstIs = (html: string, tag: string, id: string) =>
  html.indexOf(`<${tag}`) === html.indexOf(`<${tag} id="${id}"`);

describe('lesson reports from real local runs', () => {
  it('07 lockstep: bytes against time per block, one block per ~100 ms round trip; goodput leads', async () => {
    using d = tempDir();
    // the per-block steps are timed on the TFTP client's clock: a loaded host's late wake-ups (the client, the relay,
    // the server: four a round trip) lengthen them although TFTP is right — so their median's ceiling must hold in
    // one of up to three runs (each printed); what is counted holds in every run
    const tries: string[] = [];
    let res: LabResults | undefined;
    let median = Number.POSITIVE_INFINITY;
    for (let k = 1; k <= 3; k++) {
      res = await run('07-tftp-lockstep.yaml', d.path);
      const lock = res.runs.find((r) => r.protocol === 'tftp-lockstep')!;
      // the TFTP client's own record: the request, then one entry per block (256 KiB in 1428-byte blocks: 184)
      expect(lock.timeline).toHaveLength(185);
      const steps = lock.timeline.slice(2).map((e, i) => e.t_ms - lock.timeline[i + 1]!.t_ms);
      median = steps.sort((a, b) => a - b)[Math.floor(steps.length / 2)]!;
      expect(median).toBeGreaterThan(90); // delay 50 ms each way: a floor no load breaks
      // many times faster, counted: the client's request and ACKs through the relay, one per block in lockstep, one
      // per 16 blocks with windowsize 16 (the goodputs themselves are the page's figures, test/teaching)
      const up = (p: string) =>
        (res!.runs.find((r) => r.protocol === p)!.shaper_counters as { upStats: { packets: number } }).upStats.packets;
      expect(up('tftp-lockstep')).toBeGreaterThan(5 * up('tftp-window16'));
      tries.push(
        `run ${k}: median step ${median.toFixed(1)} ms, datagrams up ${up('tftp-lockstep')} : ${up('tftp-window16')}`,
      );
      console.log(tries.at(-1));
      if (median < 200) break;
    }
    expect(median, tries.join(' | ')).toBeLessThan(200);
    const html = readFileSync(join(d.path, 'report.html'), 'utf8');
    expect(firstIs(html, 'table', 'lesson-table') && firstIs(html, 'figure', 'lesson-chart')).toBe(true);
    expect(html).toContain('bytes received against time');
    expect(readFileSync(join(d.path, 'junit.xml'), 'utf8')).toMatch(
      /<property name="lesson\.tftp-lockstep\.goodput_mbit" value="0\.\d+"\/>/,
    );
    expect(Number(row(res!, 'tftp-lockstep').goodput_mbit)).toBeGreaterThan(0);
  }, 300_000);

  it('08 amplification: bytes in and out per server lead the report; naive and TFTP reflect, RUFT does not', async () => {
    using d = tempDir();
    const res = await run('08-amplification.yaml', d.path);
    expect(Number(row(res, 'naive').amplification)).toBeGreaterThan(1000);
    // the file, blasted at a victim socket that drops what it cannot queue: most of it, within the 3 s window
    expect(Number(row(res, 'naive').victim_bytes)).toBeGreaterThan(res.file.size_bytes / 4);
    expect(Number(row(res, 'tftp').amplification)).toBeGreaterThan(10);
    expect(Number(row(res, 'ruft').amplification)).toBeLessThanOrEqual(3);
    const html = readFileSync(join(d.path, 'report.html'), 'utf8');
    expect(firstIs(html, 'table', 'lesson-table') && firstIs(html, 'figure', 'lesson-chart')).toBe(true);
    expect(html).toContain('bytes in (the forged request) and bytes out (to the victim)');
    const md = readFileSync(join(d.path, 'report.md'), 'utf8');
    expect(md.split('\n').find((l) => l.startsWith('|'))).toMatch(/^\| protocol \| amplification \(×\) \|/);
  }, 120_000);

  it('02 reorder: the naive client’s file is kept, its SHA-256 recorded, and its out-of-order datagrams counted', async () => {
    using d = tempDir();
    const res = await run('02-reorder.yaml', d.path);
    const naive = res.runs.find((r) => r.protocol === 'naive')!;
    const f = naive.received![0]!;
    expect(f.file).toBe('runs/naive-r1/received.bin');
    const bytes = readFileSync(join(d.path, f.file!));
    expect(bytes.length).toBe(f.bytes);
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(f.sha256);
    expect(f.sha256).toBe(naive.sha256_actual);
    expect(f.intact).toBe(false);
    // no loss: every datagram is there once, some in the wrong place
    expect(f.arrival).toMatchObject({ missing: 0, duplicates: 0, foreign: 0, written_chunks: 1024 });
    expect(f.arrival!.late).toBeGreaterThan(0);
    expect(row(res, 'naive').out_of_order).toBe(f.arrival!.late);
    expect(row(res, 'ruft').out_of_order).toBe(0);
    expect(res.runs.find((r) => r.protocol === 'ruft')!.received![0]!.file).toBeUndefined(); // only the naive file
  }, 120_000);
});
