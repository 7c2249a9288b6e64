// `ip: 6` on the docker runtime: a dual-stack internal network, every hop (client → relay → server) on the
// IPv6 addresses the engine gave the containers, the capture holding IPv6 UDP, nothing left behind.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseScenario, runScenario } from '../../src/lab/index.js';
import { createInternalNetwork } from '../../src/lab/runtimes/docker.js';
import { runDocker } from '../helpers/docker.js';
import { tempDir } from '../helpers/tmp.js';

const mine = (what: 'ps' | 'network') =>
  execFileSync('docker', [
    ...(what === 'ps' ? ['ps', '-a'] : ['network', 'ls']),
    '-q',
    '--filter',
    `label=udplab.owner=${process.pid}`,
  ])
    .toString()
    .trim();

/**
 * Frames in an Ethernet pcap (the lab captures on the client container's eth0): IPv6 ones carrying UDP or a
 * fragment of it (next header 17 or 44: RUFT's datagrams can exceed the 1500-byte MTU), and IPv4 ones of any kind.
 */
function udpByVersion(pcap: Buffer): { v4: number; v6: number } {
  expect(pcap.readUInt32LE(0)).toBe(0xa1b2c3d4);
  expect(pcap.readUInt32LE(20)).toBe(1); // Ethernet
  const n = { v4: 0, v6: 0 };
  for (let off = 24; off + 16 <= pcap.length; ) {
    const incl = pcap.readUInt32LE(off + 8);
    const f = pcap.subarray(off + 16, off + 16 + incl);
    off += 16 + incl;
    if (f.length < 14) continue;
    const type = f.readUInt16BE(12);
    if (type === 0x86dd && f.length >= 54 && (f[20] === 17 || f[20] === 44)) n.v6++;
    if (type === 0x0800) n.v4++;
  }
  return n;
}

describe.skipIf(!runDocker)('ip: 6 on the docker runtime', () => {
  it('runs RUFT and TCP over the IPv6 path with integrity, an IPv6-only capture, and removes everything', async () => {
    using d = tempDir();
    const s = parseScenario(
      [
        'name: docker-ipv6',
        'file: { size: 1MiB, content: random }',
        'network: { netem: "delay 2ms loss 5%" }',
        'protocols: [ruft, tcp]',
        'ip: 6',
        'seed: 6',
        'capture: true',
      ].join('\n'),
      'docker-ipv6.yaml',
    );
    const res = await runScenario(s, { runtime: 'docker', shaper: 'auto', outDir: d.path });
    expect(res.environment.runtime).toBe('docker');
    for (const r of res.runs) {
      expect(r.verdict, `${r.id}: ${r.failures.join('; ')}`).toBe('pass');
      expect(r.sha256_actual).toBe(r.sha256_expected);
    }
    // the notice names the network's ULA /64 and each container's address in it
    const notice = res.environment.notices.find((n) => n.startsWith('IPv6 path: '));
    const m = /\((fd[0-9a-f]{2}:[0-9a-f]{1,4}:[0-9a-f]{1,4})::\/64\): (.*)\.$/.exec(notice ?? '');
    expect(m, notice).not.toBeNull();
    const roles = res.environment.shaper === 'userspace' ? ['client', 'relay', 'server'] : ['client', 'server'];
    for (const role of roles) expect(m![2]).toMatch(new RegExp(`${role} ${m![1]}::[0-9a-f]+`));
    // RUFT's datagrams crossed the client's eth0 as IPv6, none as IPv4
    const ruft = res.runs.find((r) => r.protocol === 'ruft')!;
    const n = udpByVersion(readFileSync(join(d.path, ruft.capture!)));
    expect(n.v6).toBeGreaterThan(700); // 1 MiB in frames of at most 1500 bytes, plus acks
    expect(n.v4).toBe(0);
    expect(mine('ps')).toBe('');
    expect(mine('network')).toBe('');
  }, 180_000);

  it('says in one line when the engine cannot create the IPv6 network, and leaves none behind', async () => {
    await expect(createInternalNetwork('udplab-test', { ip: 6, subnet6: 'fd00::/129' })).rejects.toThrow(
      /^ip: 6: the Docker engine cannot create an IPv6 network \(docker network create --ipv6 --subnet fd00::\/129 udplab-test-[^)]+\): \S.*$/,
    );
    expect(mine('network')).toBe('');
  }, 60_000);
});
