// The Host seam's container implementations (argv arrays through `docker`, never a shell string) and the relay
// shaper's argv, read-back and counters (src/lab/shapers/relay.ts), golden.
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseNetem } from '../../../src/impair/index.js';
import { ContainerHost, ProcessHost, pidOnHost, SidecarHost } from '../../../src/lab/runtimes/host.js';
import type { DockerExec } from '../../../src/lab/shape.js';
import { relayArgs, relayCounters, relayReadback } from '../../../src/lab/shapers/relay.js';

function fakeDocker(stdout = '') {
  const calls: string[][] = [];
  const docker: DockerExec = async (args) => {
    calls.push(args);
    return { code: 0, stdout, stderr: '' };
  };
  return { calls, docker };
}

describe('ContainerHost: docker exec CONTAINER …', () => {
  it('argv, exec with environment, kill by the container’s own PID, files read through base64', async () => {
    const { calls, docker } = fakeDocker(Buffer.from([0, 1, 2, 255]).toString('base64'));
    const h = new ContainerHost('container client', 'abc123', '10.9.0.3', { argv: ['docker'], exec: docker });
    expect(h.argv(['tc', 'qdisc', 'show', 'dev', 'eth0'])).toEqual([
      'docker',
      'exec',
      'abc123',
      'tc',
      'qdisc',
      'show',
      'dev',
      'eth0',
    ]);
    await h.exec(['sh', '-c', 'echo "$X"'], { env: { X: 'a b; rm -rf /' } });
    expect(calls[0]).toEqual(['exec', '-e', 'X=a b; rm -rf /', 'abc123', 'sh', '-c', 'echo "$X"']);
    expect(await h.readFile('/data/file-0.bin')).toEqual(Buffer.from([0, 1, 2, 255]));
    expect(calls[1]).toEqual(['exec', 'abc123', 'base64', '-w0', '/data/file-0.bin']);
    h.kill(42, 'SIGTERM');
    h.kill(42, 'SIGKILL', { group: true });
    expect(calls.slice(2)).toEqual([
      ['exec', 'abc123', 'kill', '-s', 'TERM', '--', '42'],
      ['exec', 'abc123', 'kill', '-s', 'KILL', '--', '-42'],
    ]);
    expect(h.address).toBe('10.9.0.3');
  });

  it('files: size and SHA-256 read in the container, copied in and out with docker cp, through the injected docker', async () => {
    const calls: string[][] = [];
    const docker: DockerExec = async (args) => {
      calls.push(args);
      if (args.includes('stat')) return { code: 0, stdout: 'regular file 1234\n', stderr: '' };
      if (args.includes('sha256sum'))
        return { code: 0, stdout: `${'b'.repeat(64)}  /srv/udplab/file.bin\n`, stderr: '' };
      return { code: 0, stdout: '', stderr: '' };
    };
    const h = new ContainerHost('container server', 'srv1', '10.9.0.2', {
      argv: ['docker', '--host', 'tcp://n2:2375'],
      exec: docker,
    });
    expect(await h.size('/srv/udplab/file.bin')).toBe(1234);
    expect(await h.sha256('/srv/udplab/file.bin')).toBe('b'.repeat(64));
    await h.copyIn('/tmp/x/file.bin', '/srv/udplab/file.bin');
    expect(await h.copyOut('/data/file-0.bin', '/tmp/keep.bin')).toBe(true);
    expect(calls).toEqual([
      ['exec', 'srv1', 'stat', '-c', '%F %s', '--', '/srv/udplab/file.bin'],
      ['exec', 'srv1', 'sha256sum', '--', '/srv/udplab/file.bin'],
      ['cp', '/tmp/x/file.bin', 'srv1:/srv/udplab/file.bin'],
      ['exec', 'srv1', 'stat', '-c', '%F %s', '--', '/data/file-0.bin'],
      ['cp', 'srv1:/data/file-0.bin', '/tmp/keep.bin'],
    ]);
    expect(h.argv(['true'])).toEqual(['docker', '--host', 'tcp://n2:2375', 'exec', 'srv1', 'true']);
  });

  it('removeNamed: find … -delete in the container, through the injected docker; loopback through fs (no find on PATH)', async () => {
    const { calls, docker } = fakeDocker();
    const h = new ContainerHost('container client', 'abc123', '10.9.0.3', { argv: ['docker'], exec: docker });
    await h.removeNamed('/data', 'file-0.bin');
    expect(calls).toEqual([
      ['exec', 'abc123', 'find', '/data', '-maxdepth', '1', '-type', 'f', '-name', 'file-0.bin*', '-delete'],
    ]);
    const dir = mkdtempSync(join(tmpdir(), 'udplab-hosts-'));
    try {
      for (const n of ['file-0.bin', 'file-0.bin.0123456789abcdef.part', 'file-0.bin.part.journal', 'file-1.bin'])
        writeFileSync(join(dir, n), 'x');
      const path = process.env.PATH;
      process.env.PATH = ''; // the doctor test's lab runs with a PATH that has node only
      try {
        await new ProcessHost('loopback', '127.0.0.1').removeNamed(dir, 'file-0.bin');
      } finally {
        process.env.PATH = path;
      }
      expect(readdirSync(dir)).toEqual(['file-1.bin']);
      await new ProcessHost('loopback', '127.0.0.1').removeNamed(join(dir, 'absent'), 'file-0.bin');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('spawn runs the injected docker argv prefix (another node’s engine), as exec does', async () => {
    // a "docker" that prints the arguments it was given
    const echo = [
      process.execPath,
      '-e',
      'console.log(JSON.stringify(process.argv.slice(1)))',
      '--',
      '--host',
      'tcp://n2:2375',
    ];
    const h = new ContainerHost('container client', 'cli1', '10.9.0.3', { argv: echo, exec: fakeDocker().docker });
    const child = h.spawn(['udplab', 'get'], { env: { A: '1' } });
    let out = '';
    child.stdout!.on('data', (d) => {
      out += d;
    });
    await new Promise((ok) => child.once('close', ok));
    expect(JSON.parse(out)).toEqual(['--host', 'tcp://n2:2375', 'exec', '-e', 'A=1', 'cli1', 'udplab', 'get']);
  });

  it('SidecarHost: each command in a labelled sidecar sharing the container’s network namespace', async () => {
    const { calls, docker } = fakeDocker();
    await new SidecarHost('a sidecar', 'id-srv', 'udplab/udplab:test', docker).exec(['tc', 'qdisc', 'show']);
    expect(calls[0]).toEqual([
      'run',
      '--rm',
      '--network',
      'container:id-srv',
      '--cap-add',
      'NET_ADMIN',
      '--label',
      'udplab=1',
      '--label',
      `udplab.owner=${process.pid}`,
      '--label',
      'udplab.role=sidecar',
      'udplab/udplab:test',
      'tc',
      'qdisc',
      'show',
    ]);
  });
});

describe('pidOnHost: a command that first says its PID where it runs', () => {
  it('prints the PID the command then runs as (exec keeps it), its arguments untouched', async () => {
    const r = await new ProcessHost('loopback', '127.0.0.1').exec(
      pidOnHost([process.execPath, '-e', 'console.log(process.pid, process.argv[1])', '$(rm -rf /) "x"']),
    );
    const [first, second] = r.stdout.trim().split('\n');
    const { pid } = JSON.parse(first!) as { pid: number };
    expect(second).toBe(`${pid} $(rm -rf /) "x"`);
  });
});

describe('relay shaper: argv, read-back, counters', () => {
  const req = {
    up: parseNetem('delay 10ms loss 2%'),
    down: parseNetem('delay 10ms'),
    seed: 7,
    mtu: 576,
    blackouts: [{ startMs: 20, durationMs: 3000 }],
  };
  it('one argv for every placement (loopback, namespace, container)', () => {
    expect(relayArgs(req, '[fd00::2]:4460', '[::]:4456')).toEqual([
      'relay',
      '--to',
      '[fd00::2]:4460',
      '--listen',
      '[::]:4456',
      '--up',
      'delay 10ms loss 2%',
      '--down',
      'delay 10ms',
      '--seed',
      '7',
      '--mtu',
      '576',
      '--blackout',
      '20:3000',
      '--blackout-from',
      'first-datagram',
    ]);
    expect(relayArgs({ up: {}, down: {}, seed: 1 }, 'a:1', 'b:2')).toEqual([
      'relay',
      '--to',
      'a:1',
      '--listen',
      'b:2',
      '--up',
      '',
      '--down',
      '',
      '--seed',
      '1',
    ]);
  });
  it('read-back and the closing line as counters', () => {
    const j = { address: '127.0.0.1', port: 40000, up: 'delay 10ms loss 2%', down: 'delay 10ms', seed: 7 };
    expect(relayReadback('userspace relay', j, req, '127.0.0.1:40000 → 127.0.0.1:4460')).toBe(
      'userspace relay: up "delay 10ms loss 2%" down "delay 10ms" seed 7, IP fragmentation emulated at MTU 576, blackouts 20ms+3000ms from the first datagram, 127.0.0.1:40000 → 127.0.0.1:4460',
    );
    expect(relayCounters(['{"event":"listening"}', '{"event":"closed","upStats":{"packets":3}}', ''])).toEqual({
      event: 'closed',
      upStats: { packets: 3 },
    });
    expect(relayCounters(['{"event":"listening"}'])).toBeUndefined();
  });
});
