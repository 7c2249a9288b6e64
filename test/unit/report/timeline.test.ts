// The timeline of one run: drawn from the receiver's own complete record of bytes held, with the sender's STATS
// samples only where they arrived (#12); runs the shaper could not impair (TCP under the userspace relay) are left
// out of the goodput chart and the comparison, and the report says why.
import { describe, expect, it } from 'vitest';
import { MemorySink } from '../../../src/protocol/index.js';
import { Receiver } from '../../../src/protocol/receiver.js';
import {
  comparisonRows,
  type LabResults,
  type RunRecord,
  renderHtml,
  timelineCaption,
  timelineParts,
  unshaped,
} from '../../../src/report/index.js';

const chunk = (offset: number, length: number) =>
  ({ type: 'data', offset, length, compressed: false, bytes: new Uint8Array(length) }) as const;

describe("the receiver's own record", () => {
  it('holds bytes about every 100 ms of its clock whether or not STATS arrive, and the moment of completion', () => {
    const size = 1000 * 1000;
    const r = new Receiver(new MemorySink(size), size, 16 << 20);
    // 1000 packets of 1000 bytes, one every 2 ms: 2 s of data, and no STATS frame at all
    for (let i = 0; i < 1000; i++) r.onPacket(i * 2, i, [chunk(i * 1000, 1000)]);
    expect(r.timeline).toHaveLength(0);
    expect(r.own.length).toBeGreaterThanOrEqual(20);
    expect(r.own.length).toBeLessThanOrEqual(22);
    for (let i = 1; i < r.own.length - 1; i++) expect(r.own[i]!.tMs - r.own[i - 1]!.tMs).toBe(100);
    expect(r.own.at(-1)).toEqual({ tMs: 1998, bytesReceived: size });
  });

  it('stays bounded on a long run by halving its step, and still spans the whole run', () => {
    const size = 30_000;
    const r = new Receiver(new MemorySink(size), size, 16 << 20);
    // 30,000 one-byte packets 100 ms apart: 50 minutes, more records than the 10,000 it keeps
    for (let i = 0; i < 30_000; i++) r.onPacket(i * 100, i, [chunk(i, 1)]);
    expect(r.own.length).toBeLessThanOrEqual(10_000);
    expect(r.own[0]!.tMs).toBe(0);
    expect(r.own.at(-1)!.bytesReceived).toBe(size);
  });
});

function run(over: Partial<RunRecord> = {}): RunRecord {
  return {
    id: 'ruft-loss20-r1',
    protocol: 'ruft',
    loss_pct: 20,
    repeat: 1,
    seed: 1,
    netem_up: 'delay 10ms loss 20%',
    netem_down: 'delay 10ms rate 20mbit loss 20%',
    shaping_readback: 'userspace relay',
    shaper_counters: null,
    bytes: 4_000_000,
    duration_ms: 2000,
    goodput_bps: 16e6,
    packets_sent: 3000,
    packets_retransmitted: 600,
    retransmit_pct: 20,
    rtt_ms_min: 20,
    rtt_ms_avg: 22,
    rtt_ms_p99: 31.4,
    sha256_expected: 'aa',
    sha256_actual: 'aa',
    security: 'Noise_NK_25519_ChaChaPoly_SHA256',
    // the receiver's own record every 100 ms, and 3 STATS samples that survived (at 0.35, 0.45 and 1.5 s)
    timeline: [
      ...Array.from({ length: 21 }, (_, i) => ({ t_ms: i * 100, bytes: i * 200_000 })),
      { t_ms: 350, bytes: 700_000, rtt_ms: 21, pacing_mbit: 18, sent: 600, lost: 100, retransmitted: 90 },
      { t_ms: 450, bytes: 900_000, rtt_ms: 22, pacing_mbit: 17, sent: 780, lost: 130, retransmitted: 125 },
      { t_ms: 1500, bytes: 3_000_000, rtt_ms: 24, pacing_mbit: 16, sent: 2400, lost: 450, retransmitted: 440 },
    ].sort((a, b) => a.t_ms - b.t_ms),
    verdict: 'pass',
    failures: [],
    ...over,
  };
}

function results(runs: RunRecord[]): LabResults {
  return {
    schema_version: 1,
    scenario: 'lossy',
    description: 'd',
    source: 'lossy.yaml',
    network: 'delay 10ms rate 20mbit loss 10%',
    started_at: '2026-12-01T10:00:00.000Z',
    finished_at: '2026-12-01T10:01:00.000Z',
    environment: { runtime: 'docker', shaper: 'userspace', kernel: 'Linux', node: 'v22', notices: [] },
    expect: { integrity: true },
    file: { size_bytes: 4_000_000, sha256: 'aa' },
    runs,
    summary: { runs: runs.length, passed: runs.length, failed: 0 },
  };
}

describe('the timeline chart', () => {
  it("takes goodput from the receiver's complete record and the sender series from the samples that exist", () => {
    const p = timelineParts(run());
    expect(p.ownBytes).toBe(true);
    expect(p.bytes).toHaveLength(21);
    expect(p.sender.map((s) => s.t_ms)).toEqual([350, 450, 1500]);
    expect(timelineCaption(run())).toMatch(/3 of about 20 sent arrived/);
  });

  it('an older results.json (sender samples only) still draws, from what it has', () => {
    const r = run({ timeline: run().timeline.filter((e) => e.rtt_ms !== undefined) });
    expect(timelineParts(r)).toMatchObject({ ownBytes: false });
    expect(timelineParts(r).bytes).toHaveLength(3);
  });

  it('report.html draws the timeline and says how many sender samples arrived', async () => {
    const html = await renderHtml(results([run()]));
    expect(html).toMatch(/<figure id="timeline"><svg/);
    expect(html).toMatch(/3 of about 20 sent arrived/);
  });
});

describe('runs the shaper could not impair', () => {
  const tcp = run({
    id: 'tcp-loss20-r1',
    protocol: 'tcp',
    goodput_bps: 1.2e9,
    shaping_readback:
      'NOT SHAPED: the userspace relay carries UDP only; TCP runs on the clean path (kernel netem shapes it)',
    timeline: [],
  });

  it('are not compared, and the report says so plainly', async () => {
    expect(unshaped(tcp)).toBe(true);
    expect(unshaped(run())).toBe(false);
    const res = results([run(), tcp]);
    expect(comparisonRows(res, 20e6).find((c) => c.protocol === 'tcp')).toMatchObject({
      ofRuft: 'not shaped',
      ofLimit: 'not shaped',
    });
    const html = await renderHtml(res);
    expect(html).toMatch(
      /id="unshaped">NOTICE: tcp not drawn and not compared: the userspace shaper does not shape tcp/,
    );
    // the goodput chart's legend has ruft alone
    const goodput = html.slice(html.indexOf('<figure id="goodput">'), html.indexOf('</figure>'));
    expect(goodput).toContain('ruft');
    expect(goodput).not.toContain('tcp');
  });
});
