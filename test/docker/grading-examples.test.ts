// Issue #18's done-when on the docker runtime, through the CLI: `udplab lab … --protocols-from examples/ --runtime
// docker` builds each example from its Dockerfile on the offline Python base (udplab/python:local, built when
// missing as .ci/run does), runs clean, 10% loss and two-clients, and gives the expected verdicts with reasons; no
// container or network of the run is left, and the images it built (udplab-impl/*) are removed afterwards.
import { execFileSync, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { IMPL_BASE } from '../../src/lab/runtimes/docker-image.js';
import { runDocker } from '../helpers/docker.js';
import { gradeExamples, ROOT, row, SEMINAR_REASONS } from '../helpers/grading.js';
import { tempDir } from '../helpers/tmp.js';

const IMAGES = ['udplab-impl/seminar-2021:local', 'udplab-impl/stop-and-wait:local'];
const list = (kind: 'ps' | 'network', pid: number) =>
  execFileSync(
    'docker',
    [
      ...(kind === 'ps' ? ['ps', '-a'] : ['network', 'ls']),
      '--filter',
      `label=udplab.owner=${pid}`,
      '--format',
      '{{.Names}}',
    ],
    { encoding: 'utf8' },
  )
    .split('\n')
    .filter(Boolean);

describe.skipIf(!runDocker)('grading the examples on the docker runtime (issue #18 done-when)', () => {
  let pid = 0;
  afterAll(() => {
    // a safety net for a failed run: whatever the CLI left (the test asserted there was nothing), then the images
    if (pid > 0) {
      const left = [...list('ps', pid)];
      if (left.length) spawnSync('docker', ['rm', '-f', ...left], { stdio: 'ignore' });
      const nets = list('network', pid);
      if (nets.length) spawnSync('docker', ['network', 'rm', ...nets], { stdio: 'ignore' });
    }
    spawnSync('docker', ['rmi', ...IMAGES], { stdio: 'ignore' });
  });

  it('builds both examples from their Dockerfiles and grades clean, loss-10pct and two-clients', async () => {
    if (spawnSync('docker', ['image', 'inspect', IMPL_BASE], { stdio: 'ignore' }).status !== 0)
      execFileSync(process.execPath, [join(ROOT, 'lab', 'base', 'build.mjs'), '--python']);
    using dir = tempDir();
    const subset = ['clean', 'loss-10pct', 'two-clients'];
    const g = await gradeExamples(subset, 'docker', dir.path, 420_000);
    pid = g.pid;
    expect(g.status, g.stderr.slice(-2000)).toBe(1);
    expect(g.files).toEqual({ 'matrix.json': true, 'matrix.md': true, 'matrix.html': true, 'junit.xml': true });
    expect(row(g, 'stop-and-wait')).toEqual({
      clean: ['pass', ''],
      'loss-10pct': ['pass', ''],
      'two-clients': ['pass', ''],
    });
    const sem = row(g, 'seminar-2021');
    expect(sem.clean).toEqual(['pass', '']);
    // two-clients fails the seminar's program only when its clients' transfers overlap (the shared peer address
    // re-points a running transfer); eight client containers start through the engine one after another, and a 1 MiB
    // blast lasts tens of ms, so a run on docker can miss the overlap (CI once saw all eight pass, after many runs where
    // they failed). That cell alone is graded again, at most twice, each attempt printed; one must fail it, with the reason.
    const tries: Array<[string, string]> = [sem['two-clients']!];
    for (let k = 0; k < 2 && tries.at(-1)![0] === 'pass'; k++) {
      using again = tempDir();
      const r = await gradeExamples(['two-clients'], 'docker', again.path, 240_000);
      expect(list('ps', r.pid)).toEqual([]);
      expect(row(r, 'stop-and-wait')['two-clients']).toEqual(['pass', '']);
      tries.push(row(r, 'seminar-2021')['two-clients']!);
    }
    console.log(
      `seminar-2021 × two-clients on docker: ${tries.map(([v, why]) => `${v}${why ? ` (${why})` : ''}`).join(', ')}`,
    );
    sem['two-clients'] = tries.at(-1)!;
    for (const s of ['loss-10pct', 'two-clients']) {
      expect(sem[s]![0], `seminar-2021 × ${s}`).toBe('fail');
      expect(sem[s]![1], `seminar-2021 × ${s}`).toMatch(SEMINAR_REASONS[s]!);
    }
    expect(g.summary).toEqual({ cells: 6, passed: tries.length === 1 ? 4 : 5, failed: tries.length === 1 ? 2 : 1 });
    // the images were built by this run from the folders' Dockerfiles, labelled, on the offline base
    for (const img of IMAGES) {
      const labels = execFileSync('docker', ['image', 'inspect', '--format', '{{json .Config.Labels}}', img], {
        encoding: 'utf8',
      });
      expect(JSON.parse(labels)).toMatchObject({ udplab: '1' });
    }
    // nothing of the run is left: no container, no network
    expect(list('ps', g.pid)).toEqual([]);
    expect(list('network', g.pid)).toEqual([]);
  }, 960_000);
});
