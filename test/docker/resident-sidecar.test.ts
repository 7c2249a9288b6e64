// The resident sidecar (src/lab/runtimes/sidecar.ts) on the real engine, next to a user's kind of container
// (udplab/python:local: no tc, no NET_ADMIN): it joins the target's network namespace (same netns inode), shapes
// its eth0 with NET_ADMIN (tbf: this kernel has no sch_netem, so netem itself cannot be applied here; the VM lane
// does that), answers a command in far less time than a `docker run --rm` sidecar per command (the figures are
// printed), follows a restarted target only once removed (why the image lab drops a restarted server's sidecar),
// and leaves no container. Needs the udplab image and the python base (node lab/base/build.mjs --python).
import { execFileSync, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildImage, execDocker, IMAGE_TAG } from '../../src/lab/index.js';
import { SidecarHost } from '../../src/lab/runtimes/host.js';
import { ResidentSidecar } from '../../src/lab/runtimes/sidecar.js';
import { runDocker } from '../helpers/docker.js';

const ROOT = join(import.meta.dirname, '..', '..');
const TARGET = `udplab-resident-${process.pid}`;
const SIDE = `udplab-resident-${process.pid}-tc`;
const PY = 'udplab/python:local';
const has = (image: string) => spawnSync('docker', ['image', 'inspect', image], { stdio: 'ignore' }).status === 0;
const docker = (args: string[]) => execFileSync('docker', args, { encoding: 'utf8', timeout: 60_000 }).trim();
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function timed(n: number, f: () => Promise<{ code: number }>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    expect((await f()).code).toBe(0);
    out.push(performance.now() - t);
  }
  return out;
}

describe.skipIf(!runDocker)('resident sidecar in a container’s network namespace (real engine)', () => {
  let id = '';
  let side: ResidentSidecar;
  beforeAll(async () => {
    if (!has(PY)) execFileSync(process.execPath, [join(ROOT, 'lab', 'base', 'build.mjs'), '--python']);
    if (!has(IMAGE_TAG)) await buildImage();
    // a user's kind of container: no tc in its image, no NET_ADMIN; PID 1 exits at once on SIGTERM
    id = docker([
      ...['run', '-d', '--name', TARGET, '--label', 'udplab=1', '--label', `udplab.owner=${process.pid}`, PY],
      ...['python3', '-c', 'import signal,time\nsignal.signal(signal.SIGTERM, lambda *a: exit(0))\ntime.sleep(600)'],
    ]);
    side = new ResidentSidecar(
      'a sidecar in the target container',
      { container: SIDE, network: `container:${id}`, image: IMAGE_TAG },
      execDocker,
    );
  }, 300_000);
  afterAll(() => {
    spawnSync('docker', ['rm', '-f', TARGET, SIDE], { stdio: 'ignore' });
  });

  const netnsOfTarget = () =>
    docker(['exec', TARGET, 'python3', '-c', 'import os;print(os.readlink("/proc/self/ns/net"))']);
  const netnsOfSidecar = async () => (await side.exec(['readlink', '/proc/self/ns/net'])).stdout.trim();

  it('joins the target’s network namespace (same netns inode) and shapes its eth0 there with NET_ADMIN', async () => {
    expect(await netnsOfSidecar()).toBe(netnsOfTarget());
    const labels = docker(['inspect', '--format', '{{json .Config.Labels}}', SIDE]);
    expect(JSON.parse(labels)).toMatchObject({
      udplab: '1',
      'udplab.owner': String(process.pid),
      'udplab.role': 'sidecar',
    });
    const add = await side.exec([
      'tc',
      'qdisc',
      'add',
      'dev',
      'eth0',
      'root',
      'tbf',
      'rate',
      '10mbit',
      'burst',
      '32kbit',
      'latency',
      '400ms',
    ]);
    expect(add.stderr).toBe('');
    // read back (the target's image has no tc): the qdisc is on the eth0 of the namespace both share
    const show = (await side.exec(['tc', 'qdisc', 'show', 'dev', 'eth0'])).stdout;
    expect(show).toMatch(/^qdisc tbf .* rate 10Mbit/);
    expect((await side.exec(['tc', 'qdisc', 'del', 'dev', 'eth0', 'root'])).code).toBe(0);
  });

  it('a command takes far less than a docker run --rm sidecar per command (figures printed)', async () => {
    const cmd = ['tc', '-s', 'qdisc', 'show', 'dev', 'eth0'];
    const resident = await timed(10, () => side.exec(cmd));
    const perCommand = new SidecarHost('a sidecar per command', id, IMAGE_TAG, execDocker);
    const oneShot = await timed(3, () => perCommand.exec(cmd));
    console.log(
      `tc -s qdisc show: resident sidecar (docker exec) median ${median(resident).toFixed(0)} ms [${resident.map((x) => x.toFixed(0)).join(' ')}]; sidecar per command (docker run --rm) median ${median(oneShot).toFixed(0)} ms [${oneShot.map((x) => x.toFixed(0)).join(' ')}]`,
    );
    expect(median(resident)).toBeLessThan(median(oneShot));
  }, 120_000);

  it('a restarted target has a new network namespace: the sidecar follows it once removed, then nothing is left', async () => {
    const before = netnsOfTarget();
    docker(['restart', '-t', '3', TARGET]);
    const after = netnsOfTarget();
    expect(after).not.toBe(before);
    expect(await netnsOfSidecar()).toBe(before); // stale: still in the old namespace
    await side.remove();
    expect(await netnsOfSidecar()).toBe(after); // started again, in the new one
    await side.remove();
    expect(docker(['ps', '-a', '--filter', `name=^${SIDE}$`, '--format', '{{.Names}}'])).toBe('');
  }, 120_000);
});
