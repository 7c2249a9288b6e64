// Competing flows in the lab (scenario field `competing`) on the local runtime: RUFT flows through the userspace
// relay's one rate queue, each flow's goodput over time in the report; a TCP competing flow refused there in one line.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseScenario, runScenario } from '../../src/lab/index.js';
import { renderHtml, terminalSummary, writeReports } from '../../src/report/index.js';
import { tempDir } from '../helpers/tmp.js';

describe('competing flows on the local runtime', () => {
  it('a RUFT run and a competing RUFT flow share the relay’s 8 Mbit/s: both measured per 100 ms, charted, shared', async () => {
    using dir = tempDir();
    const s = parseScenario(
      'name: compete\nfile: { size: 4MiB }\nnetwork: { up: "delay 5ms", down: "delay 5ms rate 8mbit limit 100" }\n' +
        'competing: { kind: ruft, count: 1, start: 2s }\n',
      'compete.yaml',
    );
    // what is counted or computed from the clients' own figures holds in every run; what is timed on the clients'
    // clocks (start gap, overlap, the per-second ceiling, the overlap's sum) moves when a loaded host stalls a client
    // (its arrivals pile up in the socket and land in a later bucket) although the relay is right, and no stall makes
    // a wrong relay right — so up to three runs, one of which must meet every timing target
    const attempt = async () => {
      const res = await runScenario(s, { runtime: 'local', shaper: 'auto' });
      expect(res.summary, JSON.stringify(res.runs[0]?.failures)).toEqual({ runs: 1, passed: 1, failed: 0 });
      const f = res.runs[0]!.flows!;
      expect(f.flows.map((x) => `${x.flow}:${x.protocol}:${x.intact}`)).toEqual([
        'run:ruft:true',
        'competing 1:ruft:true',
      ]);
      // (goodput_bps = bytes × 8 ÷ the client's duration_ms)
      for (const x of f.flows)
        expect(Math.abs(x.end_ms! - x.start_ms! - (x.bytes * 8000) / x.goodput_bps)).toBeLessThan(5);
      for (const x of f.flows) {
        expect(x.bytes).toBe(4 * 1024 * 1024);
        expect(x.series_bytes.reduce((a, b) => a + b, 0)).toBeGreaterThan(0.99 * x.bytes);
      }
      expect(f.flows[0]!.share! + f.flows[1]!.share!).toBeCloseTo(1, 2);
      const missed: string[] = [];
      // started 2 s after the run's own, on the clients' own clock: each process's start-up sits in between, and two
      // clients started together (a `start` ignored) were measured up to a few hundred ms apart either way
      const gap = f.flows[1]!.start_ms! - f.flows[0]!.start_ms!;
      if (!(gap > 1000)) missed.push(`competing flow started ${gap.toFixed(0)} ms after the run's (> 1000)`);
      for (const x of f.flows) {
        // the relay's rate queue is shared: no flow alone gets more than the link in any second
        const perS = Array.from({ length: Math.floor(x.series_bytes.length / 10) }, (_, k) =>
          x.series_bytes.slice(k * 10, k * 10 + 10).reduce((a, b) => a + b, 0),
        );
        const most = Math.max(...perS) * 8;
        if (!(most < 8e6 * 1.1)) missed.push(`${x.flow}: ${(most / 1e6).toFixed(2)} Mbit in one second (< 8.8)`);
      }
      const overlap = f.overlap_ms ? f.overlap_ms.to - f.overlap_ms.from : 0;
      if (!(overlap > 500)) missed.push(`overlap ${overlap} ms (> 500)`);
      const sum = f.flows.reduce((n, x) => n + x.overlap_goodput_bps!, 0);
      // together they cannot beat the shared bottleneck (two unshared relays would carry up to twice it)
      if (!(sum < 8e6 * 1.1)) missed.push(`${(sum / 1e6).toFixed(2)} Mbit/s together in the overlap (< 8.8)`);
      // 0.5 is one flow alone in the overlap: both must carry some of it
      if (!(f.jain_index! > 0.5)) missed.push(`Jain's index ${f.jain_index} (> 0.5)`);
      return { res, f, missed };
    };
    const tries: string[] = [];
    let got = await attempt();
    for (let k = 1; ; k++) {
      tries.push(`run ${k}: ${got.missed.join('; ') || 'all within'}`);
      console.log(tries.at(-1));
      if (got.missed.length === 0 || k === 3) break;
      got = await attempt();
    }
    expect(got.missed, tries.join(' | ')).toEqual([]);
    const { res, f } = got;
    await writeReports(dir.path, res);
    expect(readFileSync(join(dir.path, 'report.md'), 'utf8')).toMatch(
      /## Competing flows[\s\S]*\| competing 1 \| ruft \| [\d.]+ \|/,
    );
    expect(readFileSync(join(dir.path, 'junit.xml'), 'utf8')).toMatch(
      /<property name="ruft-r1\.competing1\.share" value="0\.\d+"\/>/,
    );
    expect(JSON.parse(readFileSync(join(dir.path, 'results.json'), 'utf8')).runs[0].flows.jain_index).toBe(
      f.jain_index,
    );
    expect(await renderHtml(res)).toMatch(/<figure class="flows-chart" id="flows-ruft-r1"><svg/);
    expect(terminalSummary(res)).toMatch(/ruft-r1: goodput per flow \(Mbit\/s\)[\s\S]*Jain's index/);
  }, 180_000);

  it('a competing TCP flow through the userspace relay is refused in one line (the relay carries UDP only)', async () => {
    const s = parseScenario(
      'name: compete-tcp\nfile: { size: 1MiB }\nnetwork: { netem: "delay 5ms rate 8mbit" }\ncompeting: { kind: tcp }\n',
      'compete-tcp.yaml',
    );
    await expect(runScenario(s, { runtime: 'local', shaper: 'auto' })).rejects.toMatchObject({
      code: 'E_SHAPER',
      message: expect.stringMatching(/^compete-tcp\.yaml: competing: kind tcp needs kernel netem [^\n]*$/),
    });
  });
});
