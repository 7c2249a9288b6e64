import { describe, expect, it } from 'vitest';
import { parseTcStats } from '../../../src/lab/shapers/counters.js';
import { netemCounters, type RunRecord } from '../../../src/report/index.js';

// `tc -s qdisc show dev eth0` as iproute2 6.1 prints it for a netem root qdisc (kernel 6.1, the VM lane)
const SHOW = `qdisc netem 8003: root refcnt 2 limit 1000 delay 10ms reorder 25% gap 1 loss 5%
 Sent 1187340 bytes 1031 pkt (dropped 52, overlimits 0 requeues 0)
 backlog 0b 0p requeues 0
`;

describe('netem counters after a run', () => {
  it('reads sent, dropped and the backlog, and the loss netem applied', () => {
    expect(parseTcStats(SHOW, 'client eth0')).toEqual({
      where: 'client eth0',
      qdisc: 'qdisc netem 8003: root refcnt 2 limit 1000 delay 10ms reorder 25% gap 1 loss 5%',
      sent_bytes: 1187340,
      sent_packets: 1031,
      dropped: 52,
      overlimits: 0,
      requeues: 0,
      backlog_bytes: 0,
      backlog_packets: 0,
      loss_pct: 4.8,
    });
  });

  it('no qdisc or no statistics: nothing', () => {
    expect(parseTcStats('', 'x')).toBeUndefined();
    expect(parseTcStats('qdisc noqueue 0: root refcnt 2\n', 'x')).toBeUndefined();
    expect(parseTcStats('Error: Cannot find device "eth9".\n', 'x')).toBeUndefined();
  });

  it('a run with netem counters reads as one line per direction; other counters read as none', () => {
    const up = parseTcStats(SHOW, 'client eth0');
    const r = { shaper_counters: { up, down: { ...up, where: 'server eth0', dropped: 0, loss_pct: 0 } } };
    expect(netemCounters(r as unknown as RunRecord)).toBe(
      'up (client eth0): 1031 sent, 52 dropped (4.8%); down (server eth0): 1031 sent, 0 dropped (0%)',
    );
    expect(netemCounters({ shaper_counters: { packets: 10, lost: 1 } } as unknown as RunRecord)).toBe('');
    expect(netemCounters({ shaper_counters: null } as unknown as RunRecord)).toBe('');
  });
});
