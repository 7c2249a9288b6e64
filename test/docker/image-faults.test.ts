// `faults:` for image protocols on the docker runtime, as for exec on local/netns: progress is the size of the
// client's {local} (the host side of its bind mount); at the fault's share the client's or the server's container is
// SIGKILLed. The seminar example (examples/seminar-2021, resumable: false, built on the offline Python base) killed
// at 30% fails the run with E_FAULT and its reason; a program whose manifest says `resumable: true` (the endpoint
// fixture's streaming client, in an image built here) has its client's and then its server's container killed and
// started again, and the run is graded on the file. Both record the faults in the run (results.json's `faults`),
// and no container is left.
// Needs udplab/python:local (node lab/base/build.mjs --python, built when missing as .ci/run does).
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadScenario, runScenario } from '../../src/lab/index.js';
import { IMPL_BASE } from '../../src/lab/runtimes/docker-image.js';
import { runDocker } from '../helpers/docker.js';
import { tempDir } from '../helpers/tmp.js';

const ROOT = join(import.meta.dirname, '..', '..');
const IMAGES = ['udplab-impl/faults-seminar:local', 'udplab-impl/faults-stream:local'];
const owned = () =>
  execFileSync('docker', ['ps', '-a', '--filter', `label=udplab.owner=${process.pid}`, '--format', '{{.Names}}'])
    .toString()
    .split('\n')
    .filter(Boolean);

describe.skipIf(!runDocker)('faults: for image protocols (docker runtime)', () => {
  const dir = tempDir('udplab-image-faults-');
  beforeAll(() => {
    if (spawnSync('docker', ['image', 'inspect', IMPL_BASE], { stdio: 'ignore' }).status !== 0)
      execFileSync(process.execPath, [join(ROOT, 'lab', 'base', 'build.mjs'), '--python']);
  }, 600_000);
  afterAll(() => {
    spawnSync('docker', ['rmi', ...IMAGES], { stdio: 'ignore' });
    dir[Symbol.dispose]();
  });

  it('seminar-2021 (resumable: false): the client killed at 30% fails the run with the reason', async () => {
    // the relay paces the way down at 4 Mbit/s: 512 KiB take about a second, so 30% is reached while it runs
    const f = join(dir.path, 'seminar.yaml');
    writeFileSync(
      f,
      `name: image-faults-seminar\nfile: { size: 512KiB }\nnetwork: { up: "delay 1ms", down: "rate 4mbit" }\ntimeout: 30s
faults: [{ at: 30%, kill: client, restart: true }]
protocols:
  - { protocol: image, label: seminar-2021, image: ${IMAGES[0]}, build: ${join(ROOT, 'examples', 'seminar-2021')},
      resumable: false, server: [python3, server.py, "{bind}", "{port}", "{root}"],
      client: [python3, client.py, "{host}", "{port}", "{remote}", "{local}"] }\n`,
    );
    const res = await runScenario(loadScenario(f), { runtime: 'docker', shaper: 'auto' });
    expect(res.environment.notices.join('\n')).not.toMatch(/ran without them/);
    const r = res.runs[0]!;
    expect(r.verdict).toBe('fail');
    expect(r.failures[0]).toMatch(
      /^transfer failed: E_FAULT: the client was killed at \d+\.\d%; seminar-2021 is not resumable \(resumable: false\), so the kill ends the run$/,
    );
    expect(r.faults).toEqual([expect.objectContaining({ at_pct: 30, kill: 'client', restarted: false })]);
    expect(r.faults![0]!.killed_at_pct).toBeGreaterThanOrEqual(30);
    expect(r.faults![0]!.killed_at_pct).toBeLessThan(100);
    expect(owned()).toEqual([]);
  }, 600_000);

  it('resumable: true: the client container killed at 30% and the server container at 60% are started again; graded on the file', async () => {
    // the endpoint fixture in an image of its own: `stream` writes each 1 KiB block to {local} as it arrives, 5 ms
    // apart, and asks again after 200 ms without an answer (so it outlasts the server's restart)
    const build = join(dir.path, 'stream');
    execFileSync('mkdir', ['-p', build]);
    for (const p of ['client.py', 'server.py'])
      copyFileSync(join(ROOT, 'test', 'fixtures', 'endpoints', p), join(build, p));
    writeFileSync(
      join(build, 'Dockerfile'),
      'ARG BASE\nFROM ${BASE}\nCOPY client.py server.py /impl/\nLABEL udplab=1\n',
    );
    const f = join(dir.path, 'stream.yaml');
    writeFileSync(
      f,
      `name: image-faults-stream\nfile: { size: 96KiB }\nnetwork: { netem: "" }\ntimeout: 60s
faults: [{ at: 30%, kill: client, restart: true }, { at: 60%, kill: server, restart: true }]
protocols:
  - { protocol: image, label: stream, image: ${IMAGES[1]}, build: ${build}, resumable: true,
      server: [python3, /impl/server.py, ok, "{bind}", "{port}", "{root}"],
      client: [python3, /impl/client.py, stream, "{host}", "{port}", "{remote}", "{local}"] }\n`,
    );
    const res = await runScenario(loadScenario(f), { runtime: 'docker', shaper: 'auto' });
    const r = res.runs[0]!;
    expect(r.verdict, r.failures.join('; ')).toBe('pass');
    expect(r.sha256_actual).toBe(res.file.sha256);
    expect(r.faults).toEqual([
      expect.objectContaining({ at_pct: 30, kill: 'client', restarted: true, promoted_early: false }),
      expect.objectContaining({ at_pct: 60, kill: 'server', restarted: true, promoted_early: false }),
    ]);
    for (const f of r.faults!) {
      expect(f.killed_at_pct).toBeGreaterThanOrEqual(f.at_pct);
      expect(f.killed_at_pct).toBeLessThan(100);
    }
    expect(owned()).toEqual([]);
  }, 600_000);
});
