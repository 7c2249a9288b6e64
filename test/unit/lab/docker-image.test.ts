// The image protocol's docker argv (golden), placeholder templating, and the verdicts judged from the file on disk.
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
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
import { restartServer, type Server } from '../../../src/lab/runtimes/docker-image-servers.js';
import { ExecServerError } from '../../../src/lab/runtimes/exec.js';
import { judgedFile } from '../../../src/lab/runtimes/judged-file.js';
import type { NetemPathCounters } from '../../../src/lab/shapers/netem.js';
import { planShaping } from '../../../src/lab/shapers/plan.js';
import { FakeClock } from '../../helpers/fake-clock.js';

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
  ] as const)('%s %j → %s', async (got, r, verdict, reason) => {
    const served = onDisk(want);
    const found = got ? await judgedFile(onDisk(got).path, served) : ({ kind: 'none' } as const);
    expect(judge(served, found, r)).toEqual({ verdict, reason });
  });
  it('{local} a symbolic link to the served file: wrong bytes, not a pass (it is not followed)', async () => {
    const served = onDisk(want);
    const link = join(dir, `link${n++}`);
    symlinkSync(served.path, link);
    const found = await judgedFile(link, served, '/udplab/out/f');
    expect(judge(served, found, run)).toEqual({
      verdict: 'wrong bytes',
      reason: '/udplab/out/f is a symbolic link, not a file',
    });
    expect(judge(served, found, { ...run, exitCode: 1 })).toEqual({
      verdict: 'crashed',
      reason: 'exit code 1 (wrong bytes: /udplab/out/f is a symbolic link, not a file)',
    });
  });
  it('exit codes and last lines', () => {
    expect(describeExit(137)).toBe('killed by SIGKILL (exit code 137)');
    expect(describeExit(4)).toBe('exit code 4');
    expect(lastLine('a\nb\n\n  \n')).toBe('b');
  });
});

/**
 * A Docker engine whose kernel has netem: containers by name (`id-NAME`), one netem qdisc per resident sidecar
 * (`docker exec SIDECAR tc …`) that counts what `traffic` says went through it.
 */
function netemEngine() {
  const calls: string[][] = [];
  const traffic = { sent: 0, dropped: 0 };
  const docker: DockerExec = async (args) => {
    calls.push(args);
    const ok = (stdout = '') => ({ code: 0, stdout, stderr: '' });
    if (args[0] === 'run' && args[1] === '-d') return ok(`id-${args[3]}\n`);
    if (args[0] === 'inspect') {
      const f = args.at(-2)!;
      if (f.includes('IPAddress')) return ok('10.1.0.9\n');
      if (f.includes('State.Running')) return ok('true 0\n');
    }
    if (args[0] === 'exec' && args[2] === 'uname') return ok('Linux 6.1.0\n');
    if (args[0] === 'exec' && args[2] === 'tc') {
      if (args[3] === '-s')
        return ok(
          `qdisc netem 8001: root refcnt 2 limit 1000 loss 10%\n Sent ${traffic.sent * 1200} bytes ${traffic.sent} pkt (dropped ${traffic.dropped}, overlimits 0 requeues 0)\n backlog 0b 0p requeues 0\n`,
        );
      if (args[4] === 'show') return ok('qdisc netem 8001: root refcnt 2 limit 1000 loss 10%\n');
    }
    return ok(); // tc add/del/change, the port check: the kernel has netem, the port is bound
  };
  const named = (role: string) => calls.find((a) => a.includes(`udplab.role=${role}`))![3]!;
  /** the resident sidecars' `docker run -d`, and every `docker exec` into one of them, as lines */
  const sidecarRuns = () => calls.filter((a) => a[0] === 'run' && a.includes('udplab.role=sidecar') && a[1] === '-d');
  const execs = (name: string) =>
    calls.filter((a) => a[0] === 'exec' && a[1] === name).map((a) => a.slice(2).join(' '));
  return { calls, traffic, docker, named, sidecarRuns, execs };
}

describe('image protocol: an implementation whose image is missing (or does not build)', () => {
  it('is its own verdict (server never ready, with the reason); the next implementation still runs', async () => {
    const e = netemEngine();
    const docker: DockerExec = async (args) =>
      args[0] === 'image' && args.at(-1) === 'bob/missing:1'
        ? { code: 1, stdout: '', stderr: 'No such image' }
        : e.docker(args);
    const lab = new ImageEndpointLab([], 'netem', docker, 1_000);
    await lab.start({ name: 'net1', remove: async () => undefined }, 'udplab/udplab:test');
    try {
      const shaping = (s: ImageEndpointSpec) =>
        lab.applyShaping({ spec: s, up: parseNetem('loss 1%'), down: parseNetem(''), seed: 1 });
      const bob = { ...spec, label: 'bob', image: 'bob/missing:1' };
      for (let run = 0; run < 2; run++) {
        const err = await shaping(bob).then(
          () => undefined,
          (x: unknown) => x,
        );
        expect(err).toBeInstanceOf(ExecServerError);
        expect(err).toMatchObject({
          verdict: 'server never ready',
          message:
            'no image to start: bob: image bob/missing:1 is not in this Docker engine (build it, or give build: .)',
        });
      }
      // asked once: the failure is kept for the implementation's other runs
      expect(e.calls.filter((a) => a[0] === 'run' && a.includes('udplab.role=server'))).toEqual([]);
      expect(await shaping({ ...spec, image: 'img:1' })).toMatch(/^up \(client eth0, from a sidecar\)/);
    } finally {
      await lab.stop();
    }
  });
});

describe('image protocol: ready: { stdout: TEXT } from docker logs', () => {
  it('is plain text: "(a+)+$" is not run as a pattern, and the line that has it makes the server ready', async () => {
    const e = netemEngine();
    const logs = ['x'.repeat(100_000), `${'a'.repeat(25)}b`, 'serving (a+)+$ literally', ''].join('\n');
    const docker: DockerExec = async (args) =>
      args[0] === 'logs' ? { code: 0, stdout: logs, stderr: '' } : e.docker(args);
    const notices: string[] = [];
    const lab = new ImageEndpointLab(notices, 'netem', docker, 1_000);
    await lab.start({ name: 'net1', remove: async () => undefined }, 'udplab/udplab:test');
    try {
      const ready = { ...spec, ready: { stdout: '(a+)+$' } };
      await lab.applyShaping({ spec: ready, up: parseNetem('loss 1%'), down: parseNetem(''), seed: 1 });
      expect(notices).toContain('alice: server ready by a stdout line containing "(a+)+$"');
    } finally {
      await lab.stop();
    }
  });
});

describe('image protocol: kernel netem from resident sidecars (a fake docker that has netem)', () => {
  it('probes netem on the holder, then shapes up on the holder and down on the server, each from its sidecar', async () => {
    const e = netemEngine();
    const notices: string[] = [];
    const lab = new ImageEndpointLab(notices, 'auto', e.docker, 1_000);
    await lab.start({ name: 'net1', remove: async () => undefined }, 'udplab/udplab:test');
    try {
      expect(lab.shaper).toBe('netem');
      expect(notices).toEqual([]);
      for (let run = 0; run < 2; run++) {
        const shaped = await lab.applyShaping({
          spec: { ...spec, image: 'img:1' },
          up: parseNetem('loss 10%'),
          down: planShaping('down', parseNetem('delay 5ms')).netem, // as the runner plans it: a limit from the BDP
          seed: 3,
        });
        expect(shaped).toMatch(
          /^up \(client eth0, from a sidecar\): qdisc netem .*; down \(server eth0, from a sidecar\): qdisc netem /,
        );
      }
      await lab.clearShaping();
      const holder = e.named('client-holder');
      const server = e.named('server');
      // one resident sidecar per shaped container, started once for both runs, in its network namespace with NET_ADMIN
      const runs = e.sidecarRuns();
      expect(runs.map((a) => a[5])).toEqual([`container:id-${holder}`, `container:id-${server}`]);
      const [up, down] = runs.map((a) => a[3]!);
      expect(runs[0]).toEqual([
        ...['run', '-d', '--name', up, '--network', `container:id-${holder}`, '--cap-add', 'NET_ADMIN'],
        ...['--label', 'udplab=1', '--label', `udplab.owner=${process.pid}`, '--label', 'udplab.role=sidecar'],
        ...['--entrypoint', 'sleep', 'udplab/udplab:test', '2147483647'],
      ]);
      // no `docker run --rm` per tc command any more
      expect(e.calls.filter((a) => a[0] === 'run' && a[1] === '--rm' && a.includes('tc'))).toEqual([]);
      // the probe: netem accepted on the holder's eth0, from its sidecar, before anything is shaped
      expect(e.execs(up!).slice(0, 3)).toEqual([
        'tc qdisc del dev eth0 root',
        'tc qdisc add dev eth0 root netem delay 0ms',
        'tc qdisc del dev eth0 root',
      ]);
      expect(e.execs(up!).filter((l) => l.startsWith('tc qdisc add dev eth0 root netem loss 10%'))).toHaveLength(2);
      expect(
        e.execs(down!).filter((l) => /^tc qdisc add dev eth0 root netem delay 5ms limit \d+$/.test(l)),
      ).toHaveLength(2);
      // the user's image never runs tc: no exec into the server, no NET_ADMIN on it
      expect(e.calls.some((a) => a[0] === 'exec' && a[1] === `id-${server}`)).toBe(false);
      expect(e.calls.find((a) => a.includes('udplab.role=server'))).not.toContain('NET_ADMIN');
      expect(lab.leftovers().containers).toEqual(expect.arrayContaining([up, down]));
    } finally {
      await lab.stop(); // its folders too, even when an expectation fails
    }
    expect(e.calls.at(-1)!.slice(0, 3)).toEqual(['rm', '-f', '-v']);
    const [up, down] = e.sidecarRuns().map((a) => a[3]!);
    expect(e.calls.at(-1)).toEqual(expect.arrayContaining([e.named('client-holder'), e.named('server'), up, down]));
    expect(lab.leftovers().containers).toEqual([]);
  });

  it('blackouts: timed from the first datagram by polling both sidecars every 10 ms, loss 100% and back', async () => {
    const e = netemEngine();
    const clock = new FakeClock();
    const lab = new ImageEndpointLab([], 'netem', e.docker, 1_000, { clock });
    await lab.start({ name: 'net1', remove: async () => undefined }, 'udplab/udplab:test');
    try {
      const shaped = await lab.applyShaping({
        spec: { ...spec, image: 'img:1' },
        up: parseNetem('loss 10%'),
        down: parseNetem('delay 5ms'),
        seed: 3,
        blackouts: [{ startMs: 20, durationMs: 3000 }],
      });
      expect(shaped).toMatch(
        /, blackouts 20ms\+3000ms from the first datagram \(netem: first datagram seen by polling tc counters every 10 ms\)$/,
      );
      const [up, down] = e.sidecarRuns().map((a) => a[3]!);
      await clock.advanceTo(30); // no datagram yet: polls only
      expect(e.execs(up!).filter((l) => l === 'tc -s qdisc show dev eth0').length).toBe(4);
      e.traffic.sent = 3; // the first datagram goes through
      await clock.advanceTo(40);
      await clock.advanceTo(60); // 40 + 20: the window opens on both ends
      expect(e.execs(up!).filter((l) => l.startsWith('tc qdisc change'))).toEqual([
        'tc qdisc change dev eth0 root netem loss 100%',
      ]);
      expect(e.execs(down!).filter((l) => l.startsWith('tc qdisc change'))).toEqual([
        'tc qdisc change dev eth0 root netem delay 5ms loss 100%', // every other attribute sent again
      ]);
      e.traffic.dropped = 50;
      await clock.advanceTo(3060);
      expect(
        e
          .execs(up!)
          .filter((l) => l.startsWith('tc qdisc change'))
          .at(-1),
      ).toBe('tc qdisc change dev eth0 root netem loss 10%');
      expect(
        e
          .execs(down!)
          .filter((l) => l.startsWith('tc qdisc change'))
          .at(-1),
      ).toBe('tc qdisc change dev eth0 root netem delay 5ms');
      const counters = (await lab.clearShaping()) as NetemPathCounters;
      expect(counters.blackouts).toEqual(['20ms+3000ms from first datagram']);
      expect(counters.blackout_schedule).toMatchObject({
        poll_ms: 10,
        first_datagram_ms: 40,
        windows: [{ start_ms: 20, duration_ms: 3000, on_at_ms: 20, off_at_ms: 3020, dropped: { up: 50, down: 50 } }],
      });
      expect(e.sidecarRuns()).toHaveLength(2); // every tc of the schedule went through the two resident sidecars
    } finally {
      await lab.stop();
    }
  });

  it('a fault restarts the server: its sidecar is replaced (new network namespace) and netem applied again there', async () => {
    const e = netemEngine();
    const notices: string[] = [];
    const lab = new ImageEndpointLab(notices, 'netem', e.docker, 1_000);
    await lab.start({ name: 'net1', remove: async () => undefined }, 'udplab/udplab:test');
    try {
      await lab.applyShaping({
        spec: { ...spec, image: 'img:1' },
        up: parseNetem('loss 10%'),
        down: parseNetem('delay 5ms'),
        seed: 3,
      });
      const [, down] = e.sidecarRuns().map((a) => a[3]!);
      const server = e.named('server');
      const n = e.calls.length;
      // what runClientWithFaults → restartServer calls after `docker start` (docker-image-servers.ts)
      const ctx = (lab as unknown as { ctx: { restarted: (s: Partial<Server>) => Promise<void> } }).ctx;
      await ctx.restarted({ id: `id-${server}`, name: server, spec: { ...spec, image: 'img:1' } });
      expect(e.calls.slice(n).map((a) => a.slice(0, 5).join(' '))).toEqual([
        `rm -f ${down}`,
        `run -d --name ${down} --network`,
        `exec ${down} tc qdisc del`,
        `exec ${down} tc qdisc add`,
        `exec ${down} tc qdisc show`,
      ]);
      expect(e.calls.at(-2)!.slice(2).join(' ')).toBe('tc qdisc add dev eth0 root netem delay 5ms');
      expect(notices.at(-1)).toEqual(
        "kernel netem: a fault restarted alice's server container (a new network namespace): its netem was applied again from a new sidecar, and its counters count from the restart",
      );
    } finally {
      await lab.stop();
    }
  });

  it("a kernel without netem: the holder's sidecar is removed at once and the relay shapes", async () => {
    const e = netemEngine();
    const refusing: DockerExec = async (args) => {
      if (args[0] === 'exec' && args.slice(2, 5).join(' ') === 'tc qdisc add') {
        await e.docker(args);
        return { code: 2, stdout: '', stderr: 'Error: Specified qdisc kind is unknown.\n' };
      }
      return e.docker(args);
    };
    const notices: string[] = [];
    const lab = new ImageEndpointLab(notices, 'auto', refusing, 1_000);
    await lab.start({ name: 'net1', remove: async () => undefined }, 'udplab/udplab:test');
    try {
      expect(lab.shaper).toBe('userspace');
      expect(notices.join('\n')).toMatch(/^FALLBACK: image endpoints: kernel netem from a sidecar was refused/);
      const side = e.sidecarRuns()[0]![3]!;
      expect(e.calls.at(-2)).toEqual(['rm', '-f', side]);
      expect(lab.leftovers().containers).not.toContain(side);
      // the servers get an internal network of their own, which only the relay joins besides them (#18, C3)
      expect(e.calls.at(-1)!.slice(0, 3)).toEqual(['network', 'create', '--internal']);
      expect(lab.leftovers().networks).toEqual([expect.stringMatching(/^udplab-img-.+-srv$/)]);
    } finally {
      await lab.stop();
    }
  });
});

describe('image protocol: a restarted server tells its lab (its network namespace is new)', () => {
  it('restartServer calls ctx.restarted after docker start, before readiness', async () => {
    const order: string[] = [];
    const docker: DockerExec = async (args) => {
      order.push(args.slice(0, 2).join(' '));
      if (args[0] === 'inspect')
        return { code: 0, stdout: args.at(-2)!.includes('IPAddress') ? '10.1.0.9' : 'true 0', stderr: '' };
      return { code: 0, stdout: '', stderr: '' };
    };
    const server: Server = {
      spec: {
        label: 'alice',
        image: 'img:1',
        transport: 'udp',
        server: ['s'],
        client: ['c'],
        ready: { delayMs: 1 },
        resumable: true,
      },
      name: 'srv',
      id: 'srvid',
      ip: '10.1.0.9',
      port: 4470,
      readyBy: 'a delay',
    };
    const ctx = {
      docker,
      tag: 't',
      udplabImage: 'udplab/udplab:test',
      network: 'net1',
      holder: 'h',
      containers: new Set<string>(),
      notices: [],
      readyTimeoutMs: 1000,
      seq: () => 0,
      restarted: async (s: Server) => {
        order.push(`restarted ${s.id}`);
      },
      must: async () => '',
      inspect: async (_: string, format: string) => (format.includes('Running') ? 'true 0' : ''),
      ipOf: async () => '10.1.0.9',
    };
    expect(await restartServer(ctx, server)).toBeUndefined();
    expect(order.slice(0, 2)).toEqual(['start srv', 'restarted srvid']);
  });
});
