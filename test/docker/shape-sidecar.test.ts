// `udplab shape` on a container whose image has no tc and which has no NET_ADMIN (udplab/python:local, a user's
// kind of image): every step runs in a short-lived sidecar in its network namespace (docker run --rm --network
// container:ID --cap-add NET_ADMIN udplab/udplab:local tc …). This kernel has no sch_netem, so the sidecar path is
// proven with qdiscs it has (tbf, htb, pfifo; not prio, fq_codel or sfq: no module for them either), applied and read back, and with netem's one-line refusal.
// Needs a current dist/ (`npm test` builds it first) and the python base (node lab/base/build.mjs --python).
import { execFileSync, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildImage, execDocker, IMAGE_TAG, readBack, runSteps, type ShapeTarget } from '../../src/lab/index.js';
import { runDocker } from '../helpers/docker.js';

const ROOT = join(import.meta.dirname, '..', '..');
const NAME = `udplab-sidecar-${process.pid}`;
const PY = 'udplab/python:local';

function udplab(args: string[]) {
  const r = spawnSync(process.execPath, [join(ROOT, 'bin', 'udplab.js'), ...args], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { code: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

const has = (image: string) => spawnSync('docker', ['image', 'inspect', image], { stdio: 'ignore' }).status === 0;

describe.skipIf(!runDocker)('shaping a container without tc from a sidecar', () => {
  let target: ShapeTarget;
  beforeAll(async () => {
    if (!has(PY)) execFileSync(process.execPath, [join(ROOT, 'lab', 'base', 'build.mjs'), '--python']);
    if (!has(IMAGE_TAG)) await buildImage();
    // no --cap-add: the sidecar brings NET_ADMIN; PID 1 exits at once on SIGTERM
    const id = execFileSync('docker', [
      'run',
      '-d',
      '--rm',
      '--name',
      NAME,
      '--label',
      'udplab=1',
      '--label',
      `udplab.owner=${process.pid}`,
      PY,
      'python3',
      '-c',
      'import signal,time\nsignal.signal(signal.SIGTERM, lambda *a: exit(0))\ntime.sleep(600)',
    ])
      .toString()
      .trim();
    target = { id, name: NAME };
  }, 300_000);

  afterAll(() => {
    execFileSync('docker', ['rm', '-f', NAME], { stdio: 'ignore' });
    const left = execFileSync('docker', ['ps', '-aq', '--filter', 'label=udplab.role=sidecar']).toString().trim();
    expect(left).toBe(''); // every sidecar was --rm
  });

  it('the image really has no tc', () => {
    const r = spawnSync('docker', ['exec', NAME, 'tc', '-V'], { encoding: 'utf8' });
    expect(r.status).not.toBe(0);
    expect(r.stdout + r.stderr).toMatch(/executable file not found/);
  });

  it('tbf, htb, pfifo applied from a sidecar and read back; --clear from the CLI leaves the default', async () => {
    const via = { kind: 'sidecar' as const, image: IMAGE_TAG };
    const cases: Array<[string[], RegExp]> = [
      [['tbf', 'rate', '1mbit', 'burst', '32kbit', 'latency', '400ms'], /^qdisc tbf \S+ root refcnt \d+ rate 1Mbit /],
      [['htb', 'default', '0'], /^qdisc htb \S+ root refcnt \d+ r2q 10 default 0 /],
      [['pfifo', 'limit', '77'], /^qdisc pfifo \S+ root refcnt \d+ limit 77p/],
    ];
    for (const [qdisc, want] of cases) {
      await runSteps(
        execDocker,
        target,
        [
          { argv: ['tc', 'qdisc', 'del', 'dev', 'eth0', 'root'], mayFail: true },
          { argv: ['tc', 'qdisc', 'add', 'dev', 'eth0', 'root', ...qdisc] },
        ],
        via,
      );
      expect(await readBack(execDocker, target, 'eth0', via)).toMatch(want);
    }
    const clear = udplab(['shape', NAME, '--clear']);
    expect(clear.code, clear.stderr).toBe(0);
    expect(clear.stderr).toMatch(/notice: container \S+ has no tc: shaping from a sidecar \(udplab\/udplab:local\)/);
    expect(clear.stdout).toMatch(
      new RegExp(
        `^udplab shape: ${NAME} eth0 egress: cleared \\(from a sidecar, udplab/udplab:local\\)\\nqdisc noqueue `,
      ),
    );
  });

  it('--show through the CLI, and netem: applied and read back, or the one refusal line (no sch_netem)', () => {
    const show = udplab(['shape', NAME, '--sidecar', '--show']);
    expect(show.code, show.stderr).toBe(0);
    expect(show.stderr).toBe(''); // --sidecar: no probe, no notice
    expect(show.stdout).toMatch(/current qdiscs \(from a sidecar, udplab\/udplab:local\)\nqdisc \S+ /);
    const r = udplab(['shape', NAME, 'delay 10ms']);
    if (r.code === 0) {
      expect(r.stdout).toMatch(/qdisc netem \S+ root .*delay 10ms/);
      expect(udplab(['shape', NAME, '--clear']).code).toBe(0);
    } else {
      expect(r.code).toBe(2);
      const lines = r.stderr.trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(
        /^udplab: E_SHAPER: this kernel \(.+\) has no sch_netem \(tc: "Error: Specified qdisc kind is unknown\."\); shape with the userspace relay instead/,
      );
    }
  });
});
