// The image protocol's docker argv (golden), placeholder templating, and the verdicts judged from the file on disk.
import { describe, expect, it } from 'vitest';
import {
  buildArgv,
  clientRunArgv,
  describeExit,
  envArgs,
  type ImageEndpointSpec,
  implTag,
  judge,
  lastLine,
  portCheckArgv,
  serverRunArgv,
  template,
} from '../../../src/lab/runtimes/docker-image.js';

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
    expect(judge(want, got, r)).toEqual({ verdict, reason });
  });
  it('exit codes and last lines', () => {
    expect(describeExit(137)).toBe('killed by SIGKILL (exit code 137)');
    expect(describeExit(4)).toBe('exit code 4');
    expect(lastLine('a\nb\n\n  \n')).toBe('b');
  });
});
