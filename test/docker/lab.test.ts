// The lab's docker runtime: server, client and (on this kernel) a relay container, on an internal network.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { loadScenario, parseScenario, runScenario } from '../../src/lab/index.js';
import { runDocker } from '../helpers/docker.js';
import { tempDir } from '../helpers/tmp.js';

const leftovers = () =>
  execFileSync('docker', ['ps', '-aq', '--filter', `label=udplab.owner=${process.pid}`])
    .toString()
    .trim();
const networks = () =>
  execFileSync('docker', ['network', 'ls', '-q', '--filter', `label=udplab.owner=${process.pid}`])
    .toString()
    .trim();

describe.skipIf(!runDocker)('lab on the docker runtime', () => {
  it('transfers through the shaped network with integrity, records the shaper, removes everything', async () => {
    const s = parseScenario(
      'name: docker-tiny\nfile: { size: 2MiB }\nnetwork: { netem: "delay 5ms loss 5%" }\nsweep: { loss: [0%, 10%] }\n',
      'docker-tiny.yaml',
    );
    const res = await runScenario(s, { runtime: 'docker', shaper: 'auto' });
    expect(res.summary).toEqual({ runs: 2, passed: 2, failed: 0 });
    expect(res.environment.runtime).toBe('docker');
    if (res.environment.shaper === 'userspace') {
      // this machine's kernel: no sch_netem → the fallback is loud and recorded
      expect(res.environment.notices.join('\n')).toMatch(/FALLBACK: kernel .* has no sch_netem/);
      expect(res.runs[1]!.shaping_readback).toMatch(/userspace relay container: up "delay 5ms loss 10%/);
    } else {
      expect(res.runs[1]!.shaping_readback).toMatch(/netem .*loss 10%/);
    }
    for (const r of res.runs) expect(r.sha256_actual).toBe(r.sha256_expected);
    expect(leftovers()).toBe('');
    // 51 s alone on a 2-core host (it builds the image first); beside compose.test.ts's build it passed 60 s once
  }, 180_000);

  it('runs every protocol in containers — naive, TFTP, TCP — with two clients and packet captures', async () => {
    using d = tempDir();
    const s = parseScenario(
      [
        'name: docker-protocols',
        'file: { size: 512KiB }',
        'network: { netem: "delay 2ms loss 2%" }',
        'protocols: [ruft, { protocol: tftp, blksize: 1428, windowsize: 8, timeout: 200ms }, tcp, { protocol: naive, stall: 1s, expect_failure: true }]',
        'clients: 2',
        'capture: true',
      ].join('\n'),
      'docker-protocols.yaml',
    );
    const res = await runScenario(s, { runtime: 'docker', shaper: 'auto', outDir: d.path });
    for (const r of res.runs) expect(r.verdict, `${r.id}: ${r.failures.join('; ')}`).toBe('pass');
    for (const id of ['ruft', 'tftp', 'tcp']) {
      const r = res.runs.find((x) => x.protocol === id)!;
      expect(r.sha256_actual.split(' ')).toEqual([r.sha256_expected, r.sha256_expected]);
      // a pcap file: magic number, and more than its 24-byte header
      const pcap = readFileSync(join(d.path, r.capture!));
      expect(pcap.readUInt32LE(0)).toBe(0xa1b2c3d4);
      expect(pcap.length).toBeGreaterThan(10_000);
    }
    if (res.environment.shaper === 'userspace')
      expect(res.environment.notices.join('\n')).toMatch(/tcp: NOT SHAPED: the userspace relay carries UDP only/);
    expect(leftovers()).toBe('');
  }, 240_000);

  it('crash faults in containers: client at 10%, server at 50%, client at 90%; resumed, verified', async () => {
    const res = await runScenario(loadScenario('scenarios/regression/faults.yaml'), {
      runtime: 'docker',
      shaper: 'auto',
    });
    const r = res.runs[0]!;
    expect(r.verdict, r.failures.join('; ')).toBe('pass');
    expect(r.faults!.map((f) => f.kill)).toEqual(['client', 'server', 'client']);
    for (const f of r.faults!) expect(f.promoted_early).toBe(false);
    expect(leftovers()).toBe('');
  }, 240_000);

  it('tears down when a run cannot even start (missing input file)', async () => {
    const s = parseScenario(
      'name: broken\nfile: { path: /nonexistent/file.bin }\nnetwork: { netem: "" }\n',
      'broken.yaml',
    );
    await expect(runScenario(s, { runtime: 'docker', shaper: 'auto' })).rejects.toThrow(/nonexistent/);
    expect(leftovers()).toBe('');
  });

  it('a start that fails half-way (--shaper netem on a kernel without it) removes its network and containers', async () => {
    const s = parseScenario('name: half\nfile: { size: 1KiB }\nnetwork: { netem: "delay 1ms" }\n', 'half.yaml');
    const r = await runScenario(s, { runtime: 'docker', shaper: 'netem' }).then(
      (res) => res,
      (e: Error) => e,
    );
    if (!(r instanceof Error)) {
      // this kernel has sch_netem: the start did not fail, so this host cannot show the half-way teardown
      console.warn('NOTICE: the kernel has sch_netem: the half-way start test ran a whole lab instead');
      expect(r.environment.shaper).toBe('netem');
    } else expect(r.message).toMatch(/^--shaper netem: this kernel \(.*\) cannot run netem/);
    expect(leftovers()).toBe('');
    expect(networks()).toBe('');
  }, 120_000);

  it('a teardown past its timeout says which containers and network it left, and they still go', async () => {
    const s = parseScenario('name: slow-down\nfile: { size: 64KiB }\nnetwork: { netem: "delay 1ms" }\n', 'sd.yaml');
    const stderr = vi.spyOn(process.stderr, 'write');
    let during: string[] = [];
    let net = '';
    try {
      const res = await runScenario(s, {
        runtime: 'docker',
        shaper: 'auto',
        teardownTimeoutMs: 1, // docker rm takes longer than 1 ms
        onProgress: (l) => {
          if (!l.startsWith('[1/1]')) return;
          during = leftovers().split('\n').sort(); // the lab's containers, while it runs
          net = execFileSync('docker', [
            'network',
            'ls',
            '--format',
            '{{.Name}}',
            '--filter',
            `label=udplab.owner=${process.pid}`,
          ])
            .toString()
            .trim();
        },
      });
      expect(res.summary.passed).toBe(1);
      const line = res.environment.notices.find((n) => n.startsWith('TEARDOWN TIMEOUT'))!;
      const m =
        /^TEARDOWN TIMEOUT: the docker lab's teardown did not finish within 0\.001 s; left: containers ([0-9a-f, ]+); networks (udplab-lab-[^;\s]+)(?:; folders \S+)? \(a later lab's start-up sweep removes/.exec(
          line,
        );
      expect(m, line).not.toBeNull();
      expect(m![1]!.split(', ').sort()).toEqual(during);
      expect(m![2]).toBe(net);
      expect(stderr.mock.calls.map((c) => String(c[0]))).toContain(`udplab: ${line}\n`);
    } finally {
      stderr.mockRestore();
    }
    // the teardown went on after the lab stopped waiting for it: everything goes (bounded wait)
    for (let i = 0; i < 300 && (leftovers() !== '' || networks() !== ''); i++)
      await new Promise((ok) => setTimeout(ok, 200));
    expect(leftovers()).toBe('');
    expect(networks()).toBe('');
  }, 180_000);
});
