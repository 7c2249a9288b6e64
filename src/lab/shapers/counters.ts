// netem's counters after a run, from `tc -s qdisc show dev DEV` read inside the endpoint that shaped it:
//   qdisc netem 8001: root refcnt 2 limit 1000 delay 10ms reorder 25% gap 1 loss 5%
//    Sent 1234567 bytes 1031 pkt (dropped 52, overlimits 0 requeues 0)
//    backlog 0b 0p requeues 0
// netem counts a packet its loss model drops under `dropped` and one it lets through under `Sent`, so
// dropped ÷ (sent + dropped) is the loss it really applied in that direction (a `limit` overflow is a drop too).

export interface NetemCounters {
  /** Where it was read: e.g. "client eth0". */
  where: string;
  /** The qdisc line, as tc printed it. */
  qdisc: string;
  sent_bytes: number;
  sent_packets: number;
  dropped: number;
  overlimits: number;
  requeues: number;
  backlog_bytes: number;
  backlog_packets: number;
  /** dropped ÷ (sent + dropped), in percent (0 when nothing went through). */
  loss_pct: number;
}

/** Parses the first qdisc of `tc -s qdisc show dev DEV`; undefined when there is none with statistics. */
export function parseTcStats(text: string, where: string): NetemCounters | undefined {
  const lines = text.split('\n');
  const i = lines.findIndex((l) => l.startsWith('qdisc '));
  if (i < 0) return undefined;
  const body = lines.slice(i + 1, i + 3).join(' ');
  const sent = /Sent (\d+) bytes (\d+) pkt \(dropped (\d+), overlimits (\d+) requeues (\d+)\)/.exec(body);
  if (!sent) return undefined;
  const backlog = /backlog (\d+)b (\d+)p/.exec(body);
  const [sentBytes, sentPackets, dropped, overlimits, requeues] = sent.slice(1).map(Number) as [
    number,
    number,
    number,
    number,
    number,
  ];
  const total = sentPackets + dropped;
  return {
    where,
    qdisc: lines[i]!.trim(),
    sent_bytes: sentBytes,
    sent_packets: sentPackets,
    dropped,
    overlimits,
    requeues,
    backlog_bytes: Number(backlog?.[1] ?? 0),
    backlog_packets: Number(backlog?.[2] ?? 0),
    loss_pct: total > 0 ? Math.round((10000 * dropped) / total) / 100 : 0,
  };
}
