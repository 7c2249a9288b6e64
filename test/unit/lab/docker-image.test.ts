// The image protocol's docker argv (golden), placeholder templating, and the verdicts judged from the file on disk.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseNetem } from '../../../src/impair/index.js';
import type { DockerExec } from '../../../src/lab/index.js';
import { ImageEndpointLab, type ImageEndpointSpec, implTag } from '../../../src/lab/runtimes/docker-image.js';
import {
  buildArgv,
  clientRunArgv,
  envArgs,
  portCheckArgv,
  serverRunArgv,
  template,
} from '../../../src/lab/runtimes/docker-image-argv.js';
import { describeExit, judge, lastLine, sha256Sync } from '../../../src/lab/runtimes/docker-image-grade.js';
import { planShaping } from '../../../src/lab/shapers/plan.js';

const spec: ImageEndpointSpec = {
  label: 'alice',
  image: 'udplab-impl/alice:local',
  transport: 'udp',
  server: ['python3', 'server.py', '{bind}', '{port}', '{root}'],
  client: ['python3', 'client.py', '{host}:{port}', '{remote}', '{local}'],
  ready: { port: true },
  resumable: false,
};
const labels = ['--label', 'udplab=1', '--label', `udplab.owner=${process.pid}`, '--label'];

describe('image protocol: docker argv', () => {
  it('server: on the network, {root} a read-only bind mount, the contract environment, argv templated', () => {
    expect(serverRunArgv({ spec, name: 's', network: 'net1', port: 4470, rootDir: '/tmp/r', seed: 9 })).toEqual([
      'run',
      '-d',
      '--name',
      's',
      '--network',
      'net1',
      ...labels,
      'udplab.role=server',
      '-v',
      '/tmp/r:/udplab/root:ro',
      ...['-e', 'UDPLAB_BIND=0.0.0.0', '-e', 'UDPLAB_PORT=4470', '-e', 'UDPLAB_ROOT=/udplab/root'],
      ...['-e', 'UDPLAB_SEED=9'],
      'udplab-impl/alice:local',
      ...['python3', 'server.py', '0.0.0.0', '4470', '/udplab/root'],
    ]);
  });

  it("client: in the holder's network namespace, as the lab's user, {local} in the bind-mounted folder", () => {
    const a = clientRunArgv({
      spec,
      name: 'c',
      holder: 'h1',
      host: '10.0.0.3',
      port: 4456,
      remote: 'file.bin',
      outDir: '/tmp/o',
      local: 'file-0.bin',
      seed: 2,
      user: '1000:1000',
    });
    expect(a.slice(0, 6)).toEqual(['run', '-d', '--name', 'c', '--network', 'container:h1']);
    expect(a).toContain('udplab.role=client');
    expect(a.slice(a.indexOf('--user'), a.indexOf('--user') + 4)).toEqual([
      '--user',
      '1000:1000',
      '-v',
      '/tmp/o:/udplab/out',
    ]);
    expect(a).toContain('UDPLAB_LOCAL=/udplab/out/file-0.bin');
    expect(a.slice(-5)).toEqual(['python3', 'client.py', '10.0.0.3:4456', 'file.bin', '/udplab/out/file-0.bin']);
  });

  it('build, port check, tag', () => {
    expect(buildArgv('/x/alice', implTag('alice'), 'udplab/python:local')).toEqual([
      'build',
      '--quiet',
      '--build-arg',
      'BASE=udplab/python:local',
      '--label',
      'udplab=1',
      '-t',
      'udplab-impl/alice:local',
      '/x/alice',
    ]);
    const p = portCheckArgv('abc', 'side', 'img', 4470, 'udp', 3000);
    expect(p.slice(0, 6)).toEqual(['run', '--rm', '--name', 'side', '--network', 'container:abc']);
    expect(p).not.toContain('NET_ADMIN'); // reading /proc/net needs no capability
    expect(p.slice(-6, -4)).toEqual(['node', '-e']);
    expect(p.slice(-3)).toEqual(['4470', 'udp', '3000']);
  });

  it('templating: every placeholder in an element, never a shell; an unknown one is one line', () => {
    expect(template(['{host}:{port}', 'x{port}x'], { host: 'h', port: '1' }, 'c')).toEqual(['h:1', 'x1x']);
    expect(() => template(['{hots}'], { host: 'h' }, 'alice client')).toThrow(
      'alice client: unknown placeholder {hots} in "{hots}"',
    );
    expect(template(['$(rm -rf /)', '{remote}'], { remote: 'a;b' }, 'c')).toEqual(['$(rm -rf /)', 'a;b']);
    expect(envArgs({ host: 'h' })).toEqual(['-e', 'UDPLAB_HOST=h']);
  });
});

describe('image protocol: verdicts from the file on disk', () => {
  const dir = mkdtempSync(join(tmpdir(), 'udplab-judge-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  let n = 0;
  /** A file with these bytes, as the client would have left it, and its SHA-256. */
  const onDisk = (b: Buffer) => {
    const path = join(dir, `f${n++}`);
    writeFileSync(path, b);
    return { path, sha256: sha256Sync(path) };
  };
  const want = Buffer.from('0123456789');
  const run = { exitCode: 0, timedOut: false, stderrLast: '', timeoutMs: 2_000, local: '/udplab/out/f' };
  it.each([
    [want, run, 'pass', ''],
    [want, { ...run, exitCode: 2 }, 'pass', ''], // the right bytes pass whatever the program said
    [Buffer.from('0123X56789'), run, 'wrong bytes', '10 bytes written of 10, first difference at byte 4'],
    [
      Buffer.from('0123'),
      { ...run, exitCode: 1, stderrLast: 'gave up' },
      'crashed',
      'exit code 1: gave up (wrong bytes: 4 bytes written of 10, first difference at byte 4)',
    ],
    [undefined, run, 'no file', 'exit code 0 but nothing written to /udplab/out/f'],
    [undefined, { ...run, exitCode: 3, stderrLast: 'boom' }, 'crashed', 'exit code 3: boom (no file)'],
    [undefined, { ...run, exitCode: 139 }, 'crashed', 'killed by SIGSEGV (exit code 139) (no file)'],
    [want, { ...run, exitCode: null, timedOut: true }, 'hung', "killed after the scenario's timeout of 2 s"],
  ] as const)('%s %j → %s', (got, r, verdict, reason) => {
    expect(judge(onDisk(want), got && onDisk(got), r)).toEqual({ verdict, reason });
  });
  it('exit codes and last lines', () => {
    expect(describeExit(137)).toBe('killed by SIGKILL (exit code 137)');
    expect(describeExit(4)).toBe('exit code 4');
    expect(lastLine('a\nb\n\n  \n')).toBe('b');
  });
});

describe('image protocol: kernel netem from sidecars (a fake docker that has netem)', () => {
  it('probes netem on the holder, then shapes up on the holder and down on the server, each from a sidecar', async () => {
    const calls: string[][] = [];
    const docker: DockerExec = async (args) => {
      calls.push(args);
      const ok = (stdout = '') => ({ code: 0, stdout, stderr: '' });
      if (args[0] === 'run' && args[1] === '-d') return ok(args[3] === undefined ? '' : `id-${args[3]}\n`);
      if (args[0] === 'inspect') {
        const f = args.at(-2)!;
        if (f.includes('IPAddress')) return ok('10.1.0.9\n');
        if (f.includes('State.Running')) return ok('true 0\n');
      }
      if (args[0] === 'exec') return ok('Linux 6.1.0\n');
      if (args[0] === 'run' && args.includes('show'))
        return ok('qdisc netem 8001: root refcnt 2 limit 1000 loss 10%\n');
      return ok(); // tc add/del, port check: the kernel has netem, the port is bound
    };
    const notices: string[] = [];
    const lab = new ImageEndpointLab(notices, 'auto', docker, 1_000);
    await lab.start({ name: 'net1', remove: async () => undefined }, 'udplab/udplab:test');
    try {
      expect(lab.shaper).toBe('netem');
      expect(notices).toEqual([]);
      const shaped = await lab.applyShaping({
        spec: { ...spec, image: 'img:1' },
        up: parseNetem('loss 10%'),
        down: planShaping('down', parseNetem('delay 5ms')).netem, // as the runner plans it: a limit from the BDP
        seed: 3,
      });
      expect(shaped).toMatch(
        /^up \(client eth0, from a sidecar\): qdisc netem .*; down \(server eth0, from a sidecar\): qdisc netem /,
      );
      const sidecar = (id: string) => ['run', '--rm', '--network', `container:${id}`, '--cap-add', 'NET_ADMIN'];
      const tc = calls
        .filter((a) => a[0] === 'run' && a[1] === '--rm' && a.includes('NET_ADMIN'))
        .map((a) => a.join(' '));
      const holder = calls.find((a) => a.includes('udplab.role=client-holder'))![3]!;
      const server = calls.find((a) => a.includes('udplab.role=server'))![3]!;
      // the probe: netem accepted on the holder's eth0, from a sidecar, before anything is shaped
      const probe = tc.findIndex((l) => / tc qdisc add dev eth0 root netem delay 0ms/.test(l));
      expect(probe).toBe(1); // after its del (which may fail), before the shaping
      expect(tc[probe]!.startsWith(`${sidecar(`id-${holder}`).join(' ')} `)).toBe(true);
      expect(tc.filter((l) => l.endsWith('tc qdisc add dev eth0 root netem loss 10%'))).toEqual([
        `${sidecar(`id-${holder}`).join(' ')} --label udplab=1 --label udplab.owner=${process.pid} --label udplab.role=sidecar udplab/udplab:test tc qdisc add dev eth0 root netem loss 10%`,
      ]);
      expect(tc.filter((l) => / tc qdisc add dev eth0 root netem delay 5ms limit \d+$/.test(l))[0]).toMatch(
        new RegExp(`^${sidecar(`id-${server}`).join(' ')} `),
      );
      // the user's image never runs tc: no exec into the server, no NET_ADMIN on it
      expect(calls.some((a) => a[0] === 'exec' && a[1] === `id-${server}`)).toBe(false);
      expect(calls.find((a) => a.includes('udplab.role=server'))).not.toContain('NET_ADMIN');
    } finally {
      await lab.stop(); // its folders too, even when an expectation fails
    }
    expect(calls.at(-1)!.slice(0, 3)).toEqual(['rm', '-f', '-v']);
    const named = (role: string) => calls.find((a) => a.includes(`udplab.role=${role}`))![3]!;
    expect(calls.at(-1)).toEqual(expect.arrayContaining([named('client-holder'), named('server')]));
  });
});
