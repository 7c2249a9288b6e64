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
      'name: compete\nfile: { size: 2MiB }\nnetwork: { up: "delay 5ms", down: "delay 5ms rate 8mbit limit 100" }\n' +
        'competing: { kind: ruft, count: 1, start: 1s }\n',
      'compete.yaml',
    );
    const res = await runScenario(s, { runtime: 'local', shaper: 'auto' });
    expect(res.summary, JSON.stringify(res.runs[0]?.failures)).toEqual({ runs: 1, passed: 1, failed: 0 });
    const f = res.runs[0]!.flows!;
    expect(f.flows.map((x) => `${x.flow}:${x.protocol}:${x.intact}`)).toEqual([
      'run:ruft:true',
      'competing 1:ruft:true',
    ]);
    // started 1 s after the run's own, on the clients' own clock (each process's start-up, a few hundred ms under
    // load, sits in between); each flow spans its client's own duration
    expect(f.flows[1]!.start_ms! - f.flows[0]!.start_ms!).toBeGreaterThan(300);
    // (goodput_bps = bytes × 8 ÷ the client's duration_ms)
    for (const x of f.flows)
      expect(Math.abs(x.end_ms! - x.start_ms! - (x.bytes * 8000) / x.goodput_bps)).toBeLessThan(5);
    for (const x of f.flows) {
      expect(x.bytes).toBe(2 * 1024 * 1024);
      expect(x.series_bytes.reduce((a, b) => a + b, 0)).toBeGreaterThan(0.99 * x.bytes);
      // the relay's rate queue is shared: no flow alone gets more than the link in any second
      const perS = Array.from({ length: Math.floor(x.series_bytes.length / 10) }, (_, k) =>
        x.series_bytes.slice(k * 10, k * 10 + 10).reduce((a, b) => a + b, 0),
      );
      expect(Math.max(...perS) * 8).toBeLessThan(8e6 * 1.1);
    }
    expect(f.overlap_ms!.to - f.overlap_ms!.from).toBeGreaterThan(500);
    const sum = f.flows.reduce((n, x) => n + x.overlap_goodput_bps!, 0);
    // together they cannot beat the shared bottleneck (two unshared relays would carry up to twice it)
    expect(sum).toBeLessThan(8e6 * 1.1);
    expect(f.jain_index).toBeGreaterThan(0.5);
    expect(f.flows[0]!.share! + f.flows[1]!.share!).toBeCloseTo(1, 2);
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
