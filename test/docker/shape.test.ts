// `udplab shape` on plain `docker run` containers: on this host's kernel (no sch_netem) it must refuse with one
// line naming the relay profile; --show and --clear work anyway; no NET_ADMIN is said as such. Where the kernel
// has netem, the same test checks the read-back instead. Needs a current dist/ (`npm test` builds it first).
import { execFileSync, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildImage, IMAGE_TAG } from '../../src/lab/index.js';
import { runDocker } from '../helpers/docker.js';

const ROOT = join(import.meta.dirname, '..', '..');
const NAME = `udplab-shape-${process.pid}`;

function udplab(args: string[]) {
  const r = spawnSync(process.execPath, [join(ROOT, 'bin', 'udplab.js'), ...args], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { code: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

const dockerRun = (name: string, caps: string[]) =>
  execFileSync('docker', [
    'run',
    '-d',
    '--rm',
    '--name',
    name,
    ...caps,
    '--label',
    'udplab=1',
    '--label',
    `udplab.owner=${process.pid}`,
    IMAGE_TAG,
  ]);

describe.skipIf(!runDocker)('udplab shape on docker run containers', () => {
  beforeAll(async () => {
    // any image with tc does (shape runs tc in the container, not udplab): the lab's, built only when missing
    if (spawnSync('docker', ['image', 'inspect', IMAGE_TAG], { stdio: 'ignore' }).status !== 0) await buildImage();
    dockerRun(NAME, ['--cap-add', 'NET_ADMIN']);
    dockerRun(`${NAME}-nocap`, ['--network', 'none']);
  }, 120_000);

  afterAll(() => {
    execFileSync('docker', ['rm', '-f', NAME, `${NAME}-nocap`], { stdio: 'ignore' });
    const left = execFileSync('docker', ['ps', '-aq', '--filter', `label=udplab.owner=${process.pid}`])
      .toString()
      .trim();
    expect(left).toBe('');
  });

  it('"delay 10ms": applied and read back, or one line naming the relay profile (no sch_netem)', () => {
    const r = udplab(['shape', NAME, 'delay 10ms']);
    if (r.code === 0) {
      expect(r.stdout).toMatch(new RegExp(`^udplab shape: ${NAME} eth0 egress: netem delay 10ms`));
      expect(r.stdout).toMatch(/qdisc netem \S+ root .*delay 10ms/);
    } else {
      expect(r.code).toBe(2);
      expect(r.stdout).toBe('');
      const lines = r.stderr.trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(
        /^udplab: E_SHAPER: this kernel \(.+\) has no sch_netem \(tc: "Error: Specified qdisc kind is unknown\."\); shape with the userspace relay instead: docker compose --profile relay up -d/,
      );
    }
  });

  it('--show prints the current qdisc; --clear leaves the default', () => {
    const show = udplab(['shape', NAME, '--show']);
    expect(show.code, show.stderr).toBe(0);
    expect(show.stdout).toMatch(new RegExp(`^udplab shape: ${NAME} eth0 egress: current qdiscs\\nqdisc \\S+ `));
    const clear = udplab(['shape', NAME, '--clear']);
    expect(clear.code, clear.stderr).toBe(0);
    expect(clear.stdout).not.toMatch(/netem/);
  });

  it('--dir ingress: through ifb, and nothing left behind when netem is refused', () => {
    const r = udplab(['shape', NAME, '--dir', 'ingress', 'delay 5ms']);
    if (r.code !== 0) {
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(/has no (sch_netem|ifb)/);
      const links = execFileSync('docker', ['exec', NAME, 'ip', '-o', 'link']).toString();
      expect(links).not.toMatch(/ifb4eth0/);
    } else {
      expect(r.stdout).toMatch(/qdisc netem .*delay 5ms/);
      expect(udplab(['shape', NAME, '--dir', 'ingress', '--clear']).code).toBe(0);
    }
  });

  it('a container without NET_ADMIN, a name nobody runs, bad grammar: one line each, non-zero', () => {
    const nocap = udplab(['shape', `${NAME}-nocap`, '--dev', 'lo', 'delay 1ms']);
    expect(nocap.code).toBe(2);
    expect(nocap.stderr).toMatch(/^udplab: E_SHAPER: container \S+-nocap lacks NET_ADMIN .*--cap-add NET_ADMIN.*\n$/);
    const none = udplab(['shape', `${NAME}-nobody`, 'delay 1ms']);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/^udplab: E_RUNTIME: no running compose service or container named "\S+-nobody".*\n$/);
    const bad = udplab(['shape', NAME, 'delay 10ms los 5%']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^udplab: E_NETEM_SYNTAX: netem: unknown netem option.*\(word 3 "los", column 12\)\n$/);
  });
});
