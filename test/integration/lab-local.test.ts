// The lab's `local` runtime end to end: server, relay and client as processes on loopback.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseScenario, runScenario } from '../../src/lab/index.js';
import { writeReports } from '../../src/report/index.js';
import { IPV6 } from '../helpers/ipv6.js';
import { tempDir } from '../helpers/tmp.js';

describe('lab on the local runtime', () => {
  it('runs a sweep through the userspace relay, checks integrity, writes results.json, report.md and junit.xml', async () => {
    using dir = tempDir();
    const s = parseScenario(
      'name: tiny\ndescription: a tiny sweep\nfile: { size: 1MiB, content: text }\nnetwork: { netem: "delay 2ms loss 5%" }\nrepeat: 1\nsweep: { loss: [0%, 10%] }\nexpect: { integrity: true, goodput_min: 1kbit/s }\n',
      'tiny.yaml',
    );
    const lines: string[] = [];
    const res = await runScenario(s, { runtime: 'local', shaper: 'auto', onProgress: (l) => lines.push(l) });
    expect(res.summary).toEqual({ runs: 2, passed: 2, failed: 0 });
    expect(res.environment).toMatchObject({ runtime: 'local', shaper: 'userspace' });
    for (const r of res.runs) {
      expect(r.sha256_actual).toBe(r.sha256_expected);
      expect(r.shaping_readback).toMatch(/userspace relay: up ".*" down ".*" seed \d+/);
      expect(r.goodput_bps).toBeGreaterThan(1000);
    }
    // the relay emulates a 1,500-byte link and RUFT is told so (UDPLAB_LINK_MTU): on loopback (MTU 65,536) it would
    // otherwise probe 32,000-byte datagrams; here it sends 1,472 at most (1 MiB: > 734 packets of 1,428 bytes of file)
    // and no probe above that meets the relay (its `oversize` count would say so)
    for (const r of res.runs) {
      expect(r.packets_sent, r.id).toBeGreaterThan((1 << 20) / 1428);
      expect((r.shaper_counters as { oversize?: unknown }).oversize, r.id).toBeUndefined();
    }
    expect(res.runs[1]!.netem_down).toBe('delay 2ms loss 10%');
    expect((res.runs[1]!.shaper_counters as { downStats: { lost: number } }).downStats.lost).toBeGreaterThan(0);
    expect(lines.some((l) => l.startsWith('[2/2]'))).toBe(true);
    // what the relay itself added: per run next to shaper_counters, and one notice for the scenario
    for (const r of res.runs) {
      const o = r.relay_overhead!;
      expect(o, r.id).toBeDefined();
      expect(o.up.releases + o.down.releases, r.id).toBeGreaterThan(0);
      expect(o.up.configured_delay_ms).toBe(2);
      expect(o.up.p50_ms).toBeLessThanOrEqual(o.up.p99_ms);
      if (process.platform === 'linux') expect(typeof o.up.socket_drops).toBe('number');
    }
    expect(
      res.environment.notices.filter((n) =>
        /^(WARN: )?the userspace relay added p50 [\d.]+ ms \/ p99 [\d.]+ ms beyond the configured delay \(worst of 2 runs/.test(
          n,
        ),
      ),
    ).toHaveLength(1);
    await writeReports(dir.path, res);
    const json = JSON.parse(readFileSync(join(dir.path, 'results.json'), 'utf8'));
    expect(json.schema_version).toBe(1);
    expect(readFileSync(join(dir.path, 'junit.xml'), 'utf8')).toMatch(/<testsuite name="tiny" tests="2" failures="0"/);
    expect(existsSync(join(dir.path, 'report.md'))).toBe(true);
  });

  it.skipIf(!IPV6)('ip: 6 runs server, relay and client on ::1: RUFT, TFTP and TCP, with integrity', async () => {
    const s = parseScenario(
      'name: v6\nfile: { size: 1MiB }\nnetwork: { netem: "delay 1ms loss 5%" }\nip: 6\n' +
        'protocols: [ruft, { protocol: tftp, blksize: 1428, windowsize: 8, timeout: 100ms }, tcp]\n',
      'v6.yaml',
    );
    const res = await runScenario(s, { runtime: 'local', shaper: 'auto' });
    expect(res.summary).toEqual({ runs: 3, passed: 3, failed: 0 });
    expect(res.environment.notices).toContain(
      'IPv6 path: client, relay and server talk over ::1 (local runtime; --runtime docker for containers).',
    );
    for (const r of res.runs) expect(r.sha256_actual, r.id).toBe(r.sha256_expected);
    // the relay listened on ::1 and forwarded to a server on ::1 (a udp6 socket on ::1 hears IPv6 alone)
    for (const r of res.runs.filter((x) => x.protocol !== 'tcp'))
      expect(r.shaping_readback, r.id).toMatch(/, \[::1\]:\d+ → \[::1\]:\d+$/);
  });

  it('an unmet expectation fails the run with a reason, and the exit code says so', async () => {
    using dir = tempDir();
    const f = join(dir.path, 'strict.yaml');
    writeFileSync(
      f,
      'name: strict\nfile: { size: 256KiB }\nnetwork: { netem: "" }\nexpect: { goodput_min: 100Gbit/s }\n',
    );
    const { spawnSync } = await import('node:child_process');
    const bin = join(import.meta.dirname, '..', '..', 'bin', 'udplab.js');
    const r = spawnSync(process.execPath, [bin, 'lab', f, '--runtime', 'local', '--out', dir.path], {
      encoding: 'utf8',
    });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/fail \(goodput .* < 100000\.00 Mbit\/s\)/);
    const bad = spawnSync(process.execPath, [bin, 'lab', join(dir.path, 'missing.yaml')], { encoding: 'utf8' });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/E_SCENARIO_INVALID: .*missing\.yaml: cannot read/);
  });
});
