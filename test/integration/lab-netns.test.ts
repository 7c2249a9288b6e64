// The lab's netns runtime (root, ip netns + veth, no Docker): server and client in separate namespaces.
import { execFileSync, spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { parseScenario, runScenario } from '../../src/lab/index.js';

const root = process.getuid?.() === 0;
if (!root) console.warn('NOTICE: not root: the netns runtime test is skipped');

describe.skipIf(!root)('lab on the netns runtime', () => {
  // first in this file: the module's first netns lab is number pid % 250, so its names are known beforehand
  it('a start that fails half-way deletes the namespace it made, and only that one', async () => {
    const k = process.pid % 250;
    const taken = `udplab-${process.pid}-s${k}`; // the server namespace's name, taken before the lab starts
    const ours = `udplab-${process.pid}-c${k}`;
    execFileSync('ip', ['netns', 'add', taken]);
    try {
      const s = parseScenario('name: ns-half\nfile: { size: 1KiB }\nnetwork: { netem: "delay 1ms" }\n', 'ns-half.yaml');
      await expect(runScenario(s, { runtime: 'netns', shaper: 'auto' })).rejects.toThrow(
        `could not build the namespaces: Command failed: ip netns add ${taken}`,
      );
      const left = execFileSync('ip', ['netns', 'list']).toString();
      expect(left).not.toMatch(new RegExp(`^${ours}\\b`, 'm')); // made by the lab: deleted
      expect(left).toMatch(new RegExp(`^${taken}\\b`, 'm')); // not the lab's: left alone
    } finally {
      for (const ns of [taken, ours]) spawnSync('ip', ['netns', 'del', ns]); // ours is gone unless the test failed
    }
  });

  it('runs through two namespaces joined by veth, with integrity, and deletes the namespaces', async () => {
    const s = parseScenario(
      'name: ns-tiny\nfile: { size: 1MiB }\nnetwork: { netem: "delay 3ms loss 5%" }\nsweep: { loss: [0%, 10%] }\n',
      'ns.yaml',
    );
    const res = await runScenario(s, { runtime: 'netns', shaper: 'auto' });
    expect(res.summary).toEqual({ runs: 2, passed: 2, failed: 0 });
    expect(res.environment.runtime).toBe('netns');
    if (res.environment.shaper === 'userspace')
      expect(res.environment.notices.join()).toMatch(/FALLBACK: kernel .* has no sch_netem/);
    for (const r of res.runs) expect(r.sha256_actual).toBe(r.sha256_expected);
    expect(execFileSync('ip', ['netns', 'list']).toString()).not.toMatch(new RegExp(`udplab-${process.pid}-`));
  });

  it('attack: amplification forges from the client namespace (ip netns exec hping3): naive reflects, ruft stays ≤ 3×', async () => {
    const s = parseScenario(
      'name: ns-amplify\nfile: { size: 256KiB }\nnetwork: { netem: "" }\nattack: amplification\n' +
        'protocols: [{ protocol: naive, expect_failure: true }, ruft]\n',
      'ns-amplify.yaml',
    );
    const res = await runScenario(s, { runtime: 'netns', shaper: 'auto' });
    expect(res.environment.runtime).toBe('netns');
    expect(res.summary).toEqual({ runs: 2, passed: 2, failed: 0 });
    expect(res.environment.notices.join('\n')).toMatch(/ATTACK inside the lab's namespaces only: amplification/);
    const counters = (id: string) =>
      res.runs.find((r) => r.protocol === id)!.shaper_counters as { amplification: number; victim_bytes: number };
    expect(counters('naive').amplification).toBeGreaterThan(3);
    expect(counters('naive').victim_bytes).toBeGreaterThan(256 * 1024); // the whole file, to the victim
    expect(counters('ruft').amplification).toBeGreaterThan(0); // the victim heard the server's bounded answer
    expect(counters('ruft').amplification).toBeLessThanOrEqual(3);
    for (const r of res.runs)
      expect(r.shaping_readback).toBe("none: forged request straight to the server over the lab's veth pair");
    expect(execFileSync('ip', ['netns', 'list']).toString()).not.toMatch(new RegExp(`udplab-${process.pid}-`));
  });

  it('ip: 6 runs RUFT, TFTP and TCP over the veth pair on fd77:0:0:<k>::/64 (nodad), and deletes the namespaces', async () => {
    const s = parseScenario(
      'name: ns-v6\nfile: { size: 1MiB }\nnetwork: { netem: "delay 2ms loss 5%" }\nip: 6\n' +
        'protocols: [ruft, { protocol: tftp, blksize: 1428, windowsize: 8, timeout: 100ms }, tcp]\n',
      'ns6.yaml',
    );
    const res = await runScenario(s, { runtime: 'netns', shaper: 'auto' });
    expect(res.summary).toEqual({ runs: 3, passed: 3, failed: 0 });
    expect(res.environment.notices.join('\n')).toMatch(/IPv6 path: .* veth pair \(fd77:0:0:<k>::\/64\)/);
    for (const r of res.runs) expect(r.sha256_actual, r.id).toBe(r.sha256_expected);
    if (res.environment.shaper === 'userspace')
      for (const r of res.runs.filter((x) => x.protocol !== 'tcp'))
        expect(r.shaping_readback, r.id).toMatch(/, \[fd77:0:0:[0-9a-f]+::2\]:\d+ → \[fd77:0:0:[0-9a-f]+::2\]:\d+$/);
    expect(execFileSync('ip', ['netns', 'list']).toString()).not.toMatch(new RegExp(`udplab-${process.pid}-`));
  });
});
