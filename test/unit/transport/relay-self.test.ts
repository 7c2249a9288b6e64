// The relay's self-measurement: the fixed-size lateness histogram, the /proc/net/udp{,6} drops parser, and the
// lab's reading of the relay's `self` block into a notice.
import { describe, expect, it } from 'vitest';
import { parseNetem } from '../../../src/impair/index.js';
import { relayOverhead, relayOverheadNotice } from '../../../src/lab/relay-overhead.js';
import { LatenessHistogram, parseProcNetUdp } from '../../../src/transport/index.js';

describe('LatenessHistogram', () => {
  it('is empty at zero', () => {
    expect(new LatenessHistogram().summary()).toEqual({ count: 0, p50_ms: 0, p99_ms: 0, max_ms: 0 });
  });

  it('puts p50 and p99 in the right bucket (at most 25% above the true value) and keeps the exact max', () => {
    const h = new LatenessHistogram();
    for (let i = 0; i < 98; i++) h.record(0.2);
    h.record(5);
    h.record(40);
    const s = h.summary();
    expect(s.count).toBe(100);
    expect(s.p50_ms).toBeGreaterThanOrEqual(0.2);
    expect(s.p50_ms).toBeLessThanOrEqual(0.25);
    expect(s.p99_ms).toBeGreaterThanOrEqual(5);
    expect(s.p99_ms).toBeLessThanOrEqual(6.25);
    expect(s.max_ms).toBe(40);
  });

  it('never reports a percentile above the max, counts negatives and NaN as on time, and clamps the overflow', () => {
    const h = new LatenessHistogram();
    h.record(-3);
    h.record(Number.NaN);
    h.record(0.011);
    expect(h.summary().p99_ms).toBeLessThanOrEqual(0.011);
    expect(h.quantile(0.5)).toBeLessThanOrEqual(0.01); // on time: the first bucket (≤ 10 µs)
    const big = new LatenessHistogram();
    big.record(1e6); // beyond the last bound: the overflow bucket, reported as the max
    expect(big.summary()).toEqual({ count: 1, p50_ms: 1e6, p99_ms: 1e6, max_ms: 1e6 });
  });

  it('keeps bounded memory: a million records change nothing but the counts', () => {
    const h = new LatenessHistogram();
    for (let i = 0; i < 1e6; i++) h.record(i % 2 === 0 ? 1 : 3);
    const s = h.summary();
    expect(s.count).toBe(1e6);
    expect(s.p50_ms).toBeGreaterThanOrEqual(1);
    expect(s.p50_ms).toBeLessThanOrEqual(1.25);
    expect(s.p99_ms).toBeGreaterThanOrEqual(3);
    expect(s.p99_ms).toBeLessThanOrEqual(3.75);
  });
});

describe('parseProcNetUdp', () => {
  it('reads port, inode and drops of IPv4 rows (header skipped, trailing spaces tolerated)', () => {
    const text = [
      '   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops            ',
      '   18: 0100007F:1170 00000000:0000 07 00000000:00000000 00:00000000 00000000  1000        0 1500851 2 00000000271bf0c7 3912       ',
      '  132: 00000000:BBB3 00000000:0000 07 00000000:00003C80 00:00000000 00000000     0        0 1500891 2 0000000065eb6d11 0       ',
      '',
    ].join('\n');
    expect(parseProcNetUdp(text)).toEqual([
      { localPort: 0x1170, inode: 1500851, drops: 3912 },
      { localPort: 0xbbb3, inode: 1500891, drops: 0 },
    ]);
  });

  it('reads IPv6 rows (32-hex-digit addresses)', () => {
    const text = [
      '  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops',
      '  456: 00000000000000000000000001000000:A2F3 00000000000000000000000000000000:0000 07 00000000:00000000 00:00000000 00000000  1000        0 98765 2 ffff9b1c2d3e5000 17',
    ].join('\n');
    expect(parseProcNetUdp(text)).toEqual([{ localPort: 0xa2f3, inode: 98765, drops: 17 }]);
  });

  it('skips lines that are cut short or malformed', () => {
    expect(parseProcNetUdp('  7: 0100007F:1170 00000000:0000 07\ngarbage\n')).toEqual([]);
  });
});

describe('the lab reading the relay report', () => {
  const self = (upDrops: number | null, p99: number) => ({
    shaper: 'userspace',
    self: {
      up: { lateness: { count: 100, p50_ms: 0.1, p99_ms: p99, max_ms: p99 }, socket_drops: upDrops, send_errors: 0 },
      down: { lateness: { count: 90, p50_ms: 0.2, p99_ms: 0.3, max_ms: 0.4 }, socket_drops: 0, send_errors: 0 },
    },
  });
  const d20 = parseNetem('delay 20ms');

  it('says nothing for kernel netem counters', () => {
    expect(relayOverhead({ up: { sent_packets: 1 } }, d20, d20)).toBeUndefined();
    expect(relayOverheadNotice([])).toBeUndefined();
  });

  it('is quiet on a clean run and says 0 drops', () => {
    const o = relayOverhead(self(0, 0.5), d20, d20)!;
    expect(o.loud).toBe(false);
    const n = relayOverheadNotice([{ id: 'r1', overhead: o }])!;
    expect(n).toMatch(/^the userspace relay added p50 0\.20 ms \/ p99 0\.50 ms beyond the configured delay/);
    expect(n).toContain('its sockets dropped 0 datagrams before shaping (not part of the configured loss)');
  });

  it('is loud on socket drops', () => {
    const o = relayOverhead(self(3912, 0.5), d20, d20)!;
    expect(o.loud).toBe(true);
    const n = relayOverheadNotice([{ id: 'r1', overhead: o }])!;
    expect(n).toMatch(/^WARN: /);
    expect(n).toContain('dropped 3912 datagrams before shaping');
    expect(n).toContain('in r1');
  });

  it('is loud when p99 lateness passes 1 ms + 10% of the configured delay (3 ms at 20 ms)', () => {
    expect(relayOverhead(self(0, 2.9), d20, d20)!.loud).toBe(false);
    expect(relayOverhead(self(0, 3.1), d20, d20)!.loud).toBe(true);
    expect(relayOverhead(self(0, 1.1), parseNetem(''), parseNetem(''))!.loud).toBe(true);
  });

  it('says when drops are unknown (not Linux)', () => {
    const n = relayOverheadNotice([{ id: 'r1', overhead: relayOverhead(self(null, 0.5), d20, d20)! }])!;
    expect(n).toContain('unknown');
  });
});
