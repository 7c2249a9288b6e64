// `udplab sim --bottleneck`: the flow list grammar and the human-readable table of a shared-bottleneck run.
import { formatRateBit } from '../impair/index.js';
import type { BottleneckResult, FlowKind, FlowSpec } from './shared-bottleneck.js';

/** "ruft*4,tcp*1" (or "ruft,tcp", "bg,tcp"; bg = RUFT with --background): the flows in order; flow i starts at i × staggerMs. */
export function parseFlows(text: string, staggerMs: number): FlowSpec[] | undefined {
  const out: FlowSpec[] = [];
  for (const part of text.split(',')) {
    const m = /^(ruft|bg|tcp)(?:\*(\d+))?$/.exec(part.trim());
    if (!m) return undefined;
    const count = m[2] === undefined ? 1 : Number(m[2]);
    if (count < 1 || count > 64) return undefined;
    for (let i = 0; i < count; i++) out.push({ kind: m[1] as FlowKind, startMs: out.length * staggerMs });
  }
  return out.length > 0 && out.length <= 64 ? out : undefined;
}

const mbit = (bit: number) => (bit / 1e6).toFixed(2);

export function formatBottleneck(r: BottleneckResult): string[] {
  const lines: string[] = [];
  lines.push(
    `SEED=${r.seed} bottleneck ${formatRateBit(r.rateBit)}, queue ${r.queueBdp} BDP (${r.queueLimitBytes} B, drop-tail), ` +
      `base RTT ${r.rttMs} ms, random loss ${r.lossPct}%, ${r.durationMs / 1000} s virtual`,
  );
  lines.push(`measured over ${(r.window.fromMs / 1000).toFixed(1)}–${(r.window.toMs / 1000).toFixed(1)} s`);
  lines.push(
    'flow  kind  start s  goodput Mbit/s  share  queue drops  random drops  controller (window means; drops: whole run)',
  );
  const total = r.flows.reduce((s, f) => s + f.goodputBit, 0);
  r.flows.forEach((f, i) => {
    const cc = f.ruft
      ? `p̂ ${f.ruft.randomLossMean.toFixed(3)}, pacing ${mbit(f.ruft.pacingBitMean)}, btlbw ${mbit(f.ruft.btlBwBitMean)} Mbit/s, ${f.ruft.congestionEvents} congestion rounds`
      : f.tcp
        ? `cwnd ${f.tcp.cwndMean} seg, ${f.tcp.fastRetransmits} fast rtx, ${f.tcp.timeouts} RTOs`
        : '';
    lines.push(
      `${String(i).padStart(4)}  ${f.kind.padEnd(4)}  ${(f.startMs / 1000).toFixed(1).padStart(7)}  ${mbit(f.goodputBit).padStart(14)}  ` +
        `${(total > 0 ? f.goodputBit / total : 0).toFixed(3).padStart(5)}  ${String(f.queueDrops).padStart(11)}  ` +
        `${String(f.randomDrops).padStart(12)}  ${cc}`,
    );
  });
  lines.push(
    `Jain ${r.jain.toFixed(3)}, utilisation ${r.utilization.toFixed(3)}, convergence ${
      r.convergenceMs === null
        ? 'never (some 1 s window after the last start has Jain < 0.9)'
        : `${(r.convergenceMs / 1000).toFixed(1)} s after the last start`
    }`,
  );
  lines.push(
    `queueing delay p50 ${r.queueDelayMs.p50.toFixed(1)} ms, p99 ${r.queueDelayMs.p99.toFixed(1)} ms ` +
      `(${(r.queueDelayMs.p99 / r.rttMs).toFixed(2)} × base RTT); queue dropped ${r.queue.droppedPackets} of ${r.queue.offeredPackets} packets`,
  );
  if (r.stepLimitHit)
    lines.push(`stopped by the step limit after ${r.steps} events: the figures cover less than the run`);
  const kinds = new Set(r.flows.map((f) => f.kind));
  const sum = (k: FlowKind) => r.flows.filter((f) => f.kind === k).reduce((s, f) => s + f.goodputBit, 0);
  const per = (k: FlowKind) => sum(k) / r.flows.filter((f) => f.kind === k).length;
  if (kinds.has('ruft') && kinds.has('tcp'))
    lines.push(`RUFT ÷ TCP per flow: ${(per('ruft') / Math.max(per('tcp'), 1)).toFixed(2)}`);
  if (kinds.has('bg') && kinds.size > 1) {
    const total = r.flows.reduce((s, f) => s + f.goodputBit, 0);
    lines.push(
      `background RUFT's share: ${(sum('bg') / Math.max(total, 1)).toFixed(3)} (the others keep ${(1 - sum('bg') / Math.max(total, 1)).toFixed(3)})`,
    );
  }
  return lines;
}
