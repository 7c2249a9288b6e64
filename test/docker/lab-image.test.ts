// Protocol `image` through `udplab lab --runtime docker`: the fixture implementation (Python, built from
// test/fixtures/image-endpoint on the offline Python base) on a lossy relay path passes with the right SHA-256, a
// client that writes nothing gets "no file", and every container the lab started is gone when the command ends.
// Needs a current dist/ (`npm test` builds it first) and udplab/python:local (node lab/base/build.mjs --python).
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { IMPL_BASE } from '../../src/lab/runtimes/docker-image.js';
import { runDocker } from '../helpers/docker.js';
import { tempDir } from '../helpers/tmp.js';

const ROOT = join(import.meta.dirname, '..', '..');
const FIXTURE = join(ROOT, 'test', 'fixtures', 'image-endpoint');

describe.skipIf(!runDocker)('udplab lab --runtime docker with protocols: [{ protocol: image, … }]', () => {
  it('the fixture passes 10% loss through the relay; a program that writes nothing fails with "no file"', () => {
    if (spawnSync('docker', ['image', 'inspect', IMPL_BASE], { stdio: 'ignore' }).status !== 0)
      execFileSync(process.execPath, [join(ROOT, 'lab', 'base', 'build.mjs'), '--python']);
    using d = tempDir();
    const scenario = join(d.path, 'image-lossy.yaml');
    const entry = (label: string, client: string) =>
      `  - { protocol: image, label: ${label}, build: ${FIXTURE},\n` +
      '      server: [python3, /impl/server.py, "{bind}", "{port}", "{root}"],\n' +
      `      client: ${client} }\n`;
    writeFileSync(
      scenario,
      'name: image-lossy\nfile: { size: 64KiB }\nnetwork: { netem: "loss 10%" }\nrepeat: 2\ntimeout: 30s\ncapture: true\nprotocols:\n' +
        entry('fixture', '[python3, /impl/client.py, "{host}", "{port}", "{remote}", "{local}"]') +
        entry('nofile', '[python3, -c, pass]'),
    );
    const r = spawnSync(
      process.execPath,
      [join(ROOT, 'bin', 'udplab.js'), 'lab', scenario, '--runtime', 'docker', '--out', d.path, '--json'],
      { encoding: 'utf8', timeout: 600_000 },
    );
    expect(r.status, r.stderr).toBe(1); // nofile fails, as it must
    const res = JSON.parse(r.stdout) as {
      environment: { runtime: string; shaper: string; notices: string[] };
      file: { sha256: string };
      runs: Array<{
        protocol: string;
        capture?: string;
        verdict: string;
        failures: string[];
        sha256_actual: string;
        shaping_readback: string;
        bytes: number;
      }>;
      summary: { runs: number; passed: number; failed: number };
    };
    expect(res.environment.runtime).toBe('docker');
    expect(res.summary).toEqual({ runs: 4, passed: 2, failed: 2 });
    for (const run of res.runs.filter((x) => x.protocol === 'fixture')) {
      expect(run.verdict, run.failures.join('; ')).toBe('pass');
      expect(run.sha256_actual).toBe(res.file.sha256);
      expect(run.bytes).toBe(65_536);
      // capture: a pcap of the clients' side (a tcpdump sidecar in their network namespace), header and packets
      const [reportDir] = readdirSync(d.path).filter((n) => n.startsWith('image-lossy-'));
      const pcap = readFileSync(join(d.path, reportDir!, run.capture!));
      expect(pcap.readUInt32LE(0)).toBe(0xa1b2c3d4);
      expect(pcap.length).toBeGreaterThan(64 * 300); // ≥ 64 requests of ~40 B and 64 answers cut at 256 B
      if (res.environment.shaper === 'userspace')
        expect(run.shaping_readback).toMatch(/^userspace relay container: up "loss 10%" down "loss 10%" seed \d+$/);
    }
    for (const run of res.runs.filter((x) => x.protocol === 'nofile')) {
      expect(run.verdict).toBe('fail');
      expect(run.failures.join('; ')).toBe(
        'transfer failed: no file: exit code 0 but nothing written to /udplab/out/file-0.bin',
      );
    }
    expect(res.environment.notices).toContain(
      'fixture: server ready by UDP port 4470 bound (/proc/net/udp, read from a sidecar)',
    );
    const left = execFileSync('docker', ['ps', '-aq', '--filter', `label=udplab.owner=${r.pid}`])
      .toString()
      .trim();
    expect(left).toBe('');
  }, 600_000);

  it('--protocols-from DIR --runtime docker: build: . in the manifest makes the image; the matrix has the cells', () => {
    using d = tempDir();
    const impls = join(d.path, 'impls');
    mkdirSync(impls);
    cpSync(FIXTURE, join(impls, 'stopwait'), { recursive: true }); // its udplab.yaml says label: image-endpoint
    writeFileSync(
      join(d.path, 'lossy.yaml'),
      'name: lossy\nfile: { size: 32KiB }\nnetwork: { netem: "loss 5%" }\ntimeout: 30s\n',
    );
    const out = join(d.path, 'reports');
    const r = spawnSync(
      process.execPath,
      [
        join(ROOT, 'bin', 'udplab.js'),
        'lab',
        join(d.path, 'lossy.yaml'),
        '--protocols-from',
        impls,
        '--runtime',
        'docker',
        '--out',
        out,
      ],
      { encoding: 'utf8', timeout: 600_000 },
    );
    expect(r.status, r.stderr).toBe(0);
    const [grading] = readdirSync(out);
    const m = JSON.parse(readFileSync(join(out, grading!, 'matrix.json'), 'utf8'));
    expect(m.cells).toMatchObject([{ implementation: 'image-endpoint', scenario: 'lossy', verdict: 'pass', runs: 1 }]);
    expect(m.cells[0].goodput_bps).toBeGreaterThan(0);
    const img = execFileSync('docker', [
      'image',
      'inspect',
      '--format',
      '{{index .Config.Labels "udplab"}}',
      'udplab-impl/image-endpoint:local',
    ]);
    expect(img.toString().trim()).toBe('1');
    expect(
      execFileSync('docker', ['ps', '-aq', '--filter', `label=udplab.owner=${r.pid}`])
        .toString()
        .trim(),
    ).toBe('');
  }, 600_000);
});
