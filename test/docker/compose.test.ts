// docker-compose.yml, the path users take: `up -d --build` (legacy builder, offline base), a file fetched with
// `run --rm client udplab get server:4455 FILE`, `udplab shape` on the compose service, the `relay` profile,
// and `down -v --remove-orphans` leaving nothing behind. Needs a current dist/ (`npm test` builds it first).
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sweepLeftovers } from '../../src/lab/index.js';
import { composeCommand, runCompose } from '../helpers/compose.js';
import { tempDir } from '../helpers/tmp.js';

const ROOT = join(import.meta.dirname, '..', '..');
const PROJECT = `udplabtest${process.pid}${randomBytes(3).toString('hex')}`;
// the legacy builder (no BuildKit here); compose 1.29 hands the context to the docker CLI, twice as fast as its own
const ENV = { ...process.env, COMPOSE_DOCKER_CLI_BUILD: '1', DOCKER_BUILDKIT: '0' };

function compose(args: string[], timeoutMs = 60_000) {
  const [cmd, ...pre] = composeCommand ?? ['docker-compose'];
  const r = spawnSync(cmd!, [...pre, '-p', PROJECT, '-f', join(ROOT, 'docker-compose.yml'), ...args], {
    cwd: ROOT,
    env: ENV,
    encoding: 'utf8',
    timeout: timeoutMs,
  });
  return { code: r.status ?? -1, stdout: r.stdout ?? '', stderr: `${r.stderr ?? ''}${r.error ? String(r.error) : ''}` };
}

function udplab(args: string[]) {
  const r = spawnSync(process.execPath, [join(ROOT, 'bin', 'udplab.js'), ...args], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { code: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

/** `run --rm client …` */
const runClient = (args: string[]) => compose(['run', '--rm', 'client', ...args], 90_000);

const projectObjects = (kind: 'ps' | 'volume' | 'network') =>
  execFileSync('docker', [
    ...(kind === 'ps' ? ['ps', '-aq'] : [kind, 'ls', '-q']),
    '--filter',
    `label=com.docker.compose.project=${PROJECT}`,
  ])
    .toString()
    .trim();

describe.skipIf(!runCompose)('docker-compose.yml: up, get, shape, relay profile, down', () => {
  let dir: ReturnType<typeof tempDir> | undefined;
  const file = randomBytes(3 * 1024 * 1024 + 17);
  const sha = createHash('sha256').update(file).digest('hex');

  beforeAll(() => {
    expect(composeCommand, 'a compose client must answer (LAB_REQUIRE_DOCKER=1)').toBeDefined();
    dir = tempDir();
    writeFileSync(join(dir.path, 'f.bin'), file);
    const up = compose(['up', '-d', '--build'], 240_000);
    expect(up.code, up.stderr.slice(-2000)).toBe(0);
    const id = compose(['ps', '-q', 'server']).stdout.trim();
    expect(id).toMatch(/^[0-9a-f]{12,}$/);
    execFileSync('docker', ['cp', join(dir.path, 'f.bin'), `${id}:/srv/udplab/f.bin`]);
  }, 300_000);

  afterAll(() => {
    const down = compose(['--profile', 'relay', 'down', '-v', '--remove-orphans', '--timeout', '2'], 120_000);
    dir?.[Symbol.dispose]();
    expect(down.code, down.stderr).toBe(0);
    expect(projectObjects('ps')).toBe('');
    expect(projectObjects('volume')).toBe('');
    expect(projectObjects('network')).toBe('');
  }, 180_000);

  it('labels and isolates: udplab=1 on the containers, volumes and the internal network', () => {
    const net = JSON.parse(execFileSync('docker', ['network', 'inspect', `${PROJECT}_lab`]).toString())[0];
    expect(net.Internal).toBe(true);
    expect(net.Labels.udplab).toBe('1');
    const server = JSON.parse(
      execFileSync('docker', ['inspect', compose(['ps', '-q', 'server']).stdout.trim()]).toString(),
    )[0];
    expect(server.Config.Labels.udplab).toBe('1');
    expect(server.HostConfig.CapAdd).toContain('NET_ADMIN');
    expect(projectObjects('volume').split('\n')).toHaveLength(4);
  });

  it("the lab's sweep of dead owners' leftovers leaves the compose set-up alone (it has no udplab.owner)", async () => {
    const before = compose(['ps', '-q']).stdout.trim().split('\n').sort();
    await sweepLeftovers();
    expect(compose(['ps', '-q']).stdout.trim().split('\n').sort()).toEqual(before);
    expect(before).toHaveLength(2);
  });

  it('run --rm client udplab get server:4455 FILE: the file arrives whole, the key pinned from the server', () => {
    const r = runClient(['udplab', 'get', 'server:4455', 'f.bin']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`sha256 ${sha}`);
    expect(r.stdout).toMatch(/security: Noise_NK/);
    // and on the client's volume, as written
    const onDisk = compose(['exec', '-T', 'client', 'sha256sum', '/data/f.bin']);
    expect(onDisk.stdout.split(/\s/)[0]).toBe(sha);
  });

  it('udplab shape server: kernel netem, or (no sch_netem) one line naming the relay profile; --show reads back', () => {
    const show = udplab(['shape', 'server', '--project', PROJECT, '--show']);
    expect(show.code, show.stderr).toBe(0);
    expect(show.stdout).toMatch(
      /^udplab shape: \S+ \(service server, project \S+\) eth0 egress: current qdiscs\nqdisc /,
    );
    const r = udplab(['shape', 'server', '--project', PROJECT, 'delay 10ms']);
    if (r.code === 0) {
      // a kernel with sch_netem (the VM lane)
      expect(r.stdout).toMatch(/qdisc netem .*delay 10ms/);
      expect(udplab(['shape', 'server', '--project', PROJECT, '--clear']).code).toBe(0);
    } else {
      expect(r.code).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(/^udplab: E_SHAPER: this kernel .* has no sch_netem .*--profile relay up -d/);
    }
  });

  it('profile relay: the userspace relay between client and server, the same bytes through relay:4456', () => {
    const up = compose(['--profile', 'relay', 'up', '-d'], 120_000);
    expect(up.code, up.stderr.slice(-2000)).toBe(0);
    const r = runClient(['udplab', 'get', '--force', 'relay:4456', 'f.bin']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`sha256 ${sha}`);
    // through the relay: its delay is in the round-trip time (2 × 10 ms)
    const rtt = Number(/rtt ([\d.]+)\//.exec(r.stdout)?.[1]);
    expect(rtt).toBeGreaterThanOrEqual(19);
    expect(compose(['logs', '--no-color', 'relay']).stdout).toMatch(/"event":"listening".*"up":"delay 10ms loss 2%"/);
  });
});
