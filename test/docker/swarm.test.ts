// Docker Swarm (the only test file that touches swarm: vitest runs files in parallel). On a one-node swarm — this
// engine's own, or one the file starts and leaves again (`docker swarm leave --force` only if it joined) — a sweep of
// 8 runs as a 4-shard replicated job merges into a report whose verdicts equal the one-machine run's; a task that
// fails once is started again and its shard comes back, a task that always fails leaves its shard MISSING in the
// merged report; SIGTERM and SIGINT of `udplab lab --cluster swarm` mid-job remove the service and its containers.
// The swarm runtime (endpoints as services on an overlay network) gives the docker runtime's verdicts on two loss
// points × two protocols, survives the docker runtime's crash faults (kill -9 of client and server in their tasks,
// restart, resume), and a placement no node satisfies fails at once, leaving nothing. The scenario's
// `placement:` places server and client by node labels the test adds to this node (and removes, even on failure),
// a flag wins over it for the relay, and with `--node-engine <this node>=unix://PROXY` every command of the lab in
// the tasks goes through PROXY (a socket the test forwards to this engine, counting connections): the one node
// here stands in for the "other" node whose engine the lab must reach by URL.
// The tasks run an image of this checkout: udplab/udplab:local with this dist/ and bin/ copied over it
// (udplab/udplab:swarm-test, removed at the end), so they run the code under test even in a worktree whose
// node_modules is a symlink (which a docker build context cannot hold).
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildImage, loadScenario, parseScenario, runScenario } from '../../src/lab/index.js';
import { runSwarmJob } from '../../src/lab/swarm-job.js';
import type { LabResults } from '../../src/report/index.js';
import { runDocker } from '../helpers/docker.js';
import { tempDir } from '../helpers/tmp.js';

const ROOT = join(import.meta.dirname, '..', '..');
const BIN = join(ROOT, 'bin', 'udplab.js');
const IMAGE = 'udplab/udplab:swarm-test';
const root = typeof process.getuid === 'function' && process.getuid() === 0;
// netns needs root here and NET_ADMIN + SYS_ADMIN in the task; without root both sides run the local runtime
const RUNTIME: 'netns' | 'local' = root ? 'netns' : 'local';

const SWEEP = `name: cluster-sweep
description: two loss points × two protocols × 2 repeats, small file
file: { size: 64KiB, content: random }
network: { netem: "delay 2ms" }
protocols: [ruft, { protocol: tftp, blksize: 1428, windowsize: 8, timeout: 100ms }]
repeat: 2
seed: 7
sweep: { loss: [0%, 5%] }
timeout: 30s
`;

const docker = (...args: string[]) => execFileSync('docker', args, { encoding: 'utf8' }).trim();
const services = (owner?: number) =>
  docker(
    'service',
    'ls',
    '--filter',
    'label=udplab=1',
    ...(owner ? ['--filter', `label=udplab.owner=${owner}`] : []),
    '--format',
    '{{.Name}}',
  );
/** containers of swarm tasks labelled udplab=1 (of one service, or of all) */
const jobContainers = (service?: string) =>
  docker(
    'ps',
    '-aq',
    '--filter',
    `label=com.docker.swarm.service.name${service ? `=${service}` : ''}`,
    '--filter',
    'label=udplab=1',
  );

describe.skipIf(!runDocker)('the lab on Docker Swarm: sweeps as a replicated job', () => {
  let joined = false;
  const servicesBefore = new Set<string>();
  const dir = tempDir('udplab-swarm-');
  const scenario = join(dir.path, 'sc', 'sweep8.yaml');

  beforeAll(async () => {
    const state = docker('info', '--format', '{{.Swarm.LocalNodeState}}');
    if (state === 'inactive') {
      docker('swarm', 'init', '--advertise-addr', '127.0.0.1');
      joined = true;
    } else expect(state, 'this engine is in a swarm state the test cannot use').toBe('active');
    for (const s of services().split('\n').filter(Boolean)) servicesBefore.add(s);
    // the image of this checkout (see the header)
    const base = await buildImage();
    const ctx = join(dir.path, 'img');
    cpSync(join(ROOT, 'dist'), join(ctx, 'dist'), { recursive: true });
    cpSync(join(ROOT, 'bin'), join(ctx, 'bin'), { recursive: true });
    writeFileSync(join(ctx, 'Dockerfile'), `FROM ${base}\nCOPY dist /app/dist\nCOPY bin /app/bin\nLABEL udplab=1\n`);
    execFileSync('docker', ['build', '-q', '-t', IMAGE, ctx], { env: { ...process.env, DOCKER_BUILDKIT: '0' } });
    mkdirSync(join(dir.path, 'sc'));
    writeFileSync(scenario, SWEEP);
  }, 300_000);

  afterAll(() => {
    try {
      // whatever a failed test left: only services this file created (not there before it)
      for (const s of services().split('\n').filter(Boolean))
        if (!servicesBefore.has(s)) {
          spawnSync('docker', ['service', 'rm', s]);
          const left = jobContainers(s).split('\n').filter(Boolean);
          if (left.length > 0) spawnSync('docker', ['rm', '-f', ...left]);
        }
      spawnSync('docker', ['image', 'rm', IMAGE], { stdio: 'ignore' });
    } finally {
      if (joined) spawnSync('docker', ['swarm', 'leave', '--force'], { stdio: 'ignore' });
      dir[Symbol.dispose]();
    }
  });

  it('a sweep of 8 runs as a 4-shard job: the merged report has the one-machine run’s verdicts and shape', () => {
    const one = spawnSync(
      process.execPath,
      [BIN, 'lab', scenario, '--runtime', RUNTIME, '--out', join(dir.path, 'one'), '--json'],
      { encoding: 'utf8', timeout: 300_000 },
    );
    expect(one.status, one.stderr).toBe(0);
    const single = JSON.parse(one.stdout) as LabResults;
    const out = join(dir.path, 'cluster');
    const job = spawnSync(
      process.execPath,
      [
        BIN,
        'lab',
        scenario,
        '--cluster',
        'swarm',
        '--shards',
        '4',
        '--runtime',
        RUNTIME,
        '--image',
        IMAGE,
        '--out',
        out,
        '--json',
      ],
      { encoding: 'utf8', timeout: 600_000 },
    );
    expect(job.status, job.stderr).toBe(0);
    const merged = JSON.parse(job.stdout) as LabResults;
    expect(single.summary).toEqual({ runs: 8, passed: 8, failed: 0 });
    const verdicts = (r: LabResults) => Object.fromEntries(r.runs.map((x) => [x.id, x.verdict]));
    expect(verdicts(merged)).toEqual(verdicts(single));
    expect(merged.runs.map((x) => x.id)).toEqual(single.runs.map((x) => x.id));
    expect(merged.summary).toEqual(single.summary);
    // identical in shape: the same keys, at the top, in the environment and in every run; no shard field
    expect(Object.keys(merged).sort()).toEqual(Object.keys(single).sort());
    expect(Object.keys(merged.environment).sort()).toEqual(Object.keys(single.environment).sort());
    expect(merged.runs.map((x) => Object.keys(x).sort())).toEqual(single.runs.map((x) => Object.keys(x).sort()));
    expect(merged.source).toBe(single.source);
    expect(merged.file.size_bytes).toBe(single.file.size_bytes); // content: random — a new file per run
    expect(merged.environment.runtime).toBe(RUNTIME);
    for (let i = 1; i <= 4; i++)
      expect(merged.environment.notices.join('\n')).toMatch(
        new RegExp(`shard ${i}/4 ran in swarm task \\w+ \\(slot \\w+\\) on node`),
      );
    // the report folders: the merged one and four shards under it
    const [reportDir] = readdirSync(out);
    expect(existsSync(join(out, reportDir!, 'results.json'))).toBe(true);
    expect(readdirSync(join(out, reportDir!, 'shards')).filter((d) => /-shard\dof4$/.test(d))).toHaveLength(4);
    expect(services(job.pid)).toBe('');
    expect(jobContainers()).toBe('');
  }, 900_000);

  it('a task that fails once is started again; a shard whose task always fails is MISSING, not dropped', async () => {
    const out = join(dir.path, 'faults');
    // slot 1 fails on its first attempt only (a marker in the shared folder), slot 2 on every attempt
    const script =
      'case "$UDPLAB_SWARM_SLOT" in 1) [ -e /out/.tried-1 ] || { touch /out/.tried-1; exit 3; } ;; 2) echo "slot 2 fails on purpose" >&2; exit 3 ;; esac; exec "$@"';
    const lines: string[] = [];
    const res = await runSwarmJob({
      scenario: loadScenario(scenario),
      scenarioFile: scenario,
      shards: 4,
      image: IMAGE,
      runtime: RUNTIME,
      shaper: 'auto',
      outDir: out,
      onProgress: (l) => lines.push(l),
      command: [
        'sh',
        '-c',
        script,
        'sh',
        'udplab',
        'lab',
        '/scenario/sweep8.yaml',
        '--runtime',
        RUNTIME,
        '--out',
        '/out',
        '--swarm-task',
        '--shards',
        '4',
      ],
      timeoutMs: 600_000,
    });
    expect(res.parts.map((p) => p.index)).toEqual([1, 3, 4]);
    expect(res.missing.map((m) => m.index)).toEqual([2]);
    expect(res.missing[0]!.why).toMatch(/^2 tasks ended failed \(task: non-zero exit \(3\)\)/);
    expect(lines.join('\n')).toMatch(/slot 1 failed .*the engine starts it once more/);
    const m = res.merged;
    expect(m.runs).toHaveLength(6);
    expect(m.summary).toEqual({ runs: 8, passed: 6, failed: 2 });
    expect(m.environment.notices.join('\n')).toMatch(
      /MISSING: shard 2\/4 \(2 run\(s\): #2, #6\) produced no results after a retry: 2 tasks ended failed/,
    );
    expect(services(process.pid)).toBe('');
    expect(jobContainers()).toBe(''); // the ended tasks' containers too
  }, 900_000);

  const ENDPOINTS = parseScenario(
    [
      'name: swarm-endpoints',
      'file: { size: 256KiB }',
      'network: { netem: "delay 2ms" }',
      'protocols: [ruft, { protocol: tftp, blksize: 1428, windowsize: 8, timeout: 100ms }]',
      'sweep: { loss: [0%, 5%] }',
      'timeout: 60s',
    ].join('\n'),
    'swarm-endpoints.yaml',
  );
  const mine = (pid = process.pid) => ({
    services: services(pid),
    networks: docker('network', 'ls', '--filter', `label=udplab.owner=${pid}`, '--format', '{{.Name}}'),
    containers: docker('ps', '-aq', '--filter', `label=udplab.owner=${pid}`),
  });

  it('--runtime swarm: two loss points × two protocols as services on an overlay network, verdicts as on docker', async () => {
    const onDocker = await runScenario(ENDPOINTS, { runtime: 'docker', shaper: 'auto' });
    const onSwarm = await runScenario(ENDPOINTS, {
      runtime: 'swarm',
      shaper: 'auto',
      placement: { server: 'node.role==manager', client: 'node.role==manager' },
    });
    const verdicts = (r: LabResults) => Object.fromEntries(r.runs.map((x) => [x.id, x.verdict]));
    expect(onSwarm.summary).toEqual({ runs: 4, passed: 4, failed: 0 });
    expect(verdicts(onSwarm)).toEqual(verdicts(onDocker));
    expect(onSwarm.environment.runtime).toBe('swarm');
    expect(onSwarm.environment.shaper).toBe(onDocker.environment.shaper);
    expect(onSwarm.environment.notices.join('\n')).toMatch(
      /swarm: endpoints as services on an overlay network \(server on node.role==manager \(--server-node\), client on node.role==manager \(--client-node\)\)/,
    );
    expect(onSwarm.environment.notices.join('\n')).toMatch(
      /swarm: server task on node \S+, reached through this node's engine, client task on node \S+, reached through this node's engine/,
    );
    for (const r of onSwarm.runs) {
      expect(r.sha256_actual).toBe(r.sha256_expected);
      if (onSwarm.environment.shaper === 'userspace')
        expect(r.shaping_readback).toMatch(/^userspace relay container: up "delay 2ms( loss 5%)?"/);
      else expect(r.shaping_readback).toMatch(/netem/);
    }
    expect(mine()).toEqual({ services: '', networks: '', containers: '' });
  }, 600_000);

  it('--runtime swarm: crash faults in the tasks (client at 10%, server at 50%, client at 90%), resumed, verified', async () => {
    const res = await runScenario(loadScenario(join(ROOT, 'scenarios', 'regression', 'faults.yaml')), {
      runtime: 'swarm',
      shaper: 'auto',
      placement: { server: 'node.role==manager', client: 'node.role==manager' },
    });
    const r = res.runs[0]!;
    expect(r.verdict, r.failures.join('; ')).toBe('pass');
    expect(r.faults!.map((f) => f.kill)).toEqual(['client', 'server', 'client']);
    for (const f of r.faults!) expect(f.promoted_early).toBe(false);
    expect(r.sha256_actual).toBe(r.sha256_expected);
    expect(mine()).toEqual({ services: '', networks: '', containers: '' });
  }, 600_000);

  it('--runtime swarm: a placement no node satisfies fails in one line and leaves nothing', async () => {
    await expect(
      runScenario(ENDPOINTS, { runtime: 'swarm', shaper: 'auto', placement: { client: 'node.labels.site==nowhere' } }),
    ).rejects.toThrow(/no node for the client service udplab-client-\d+-\w+ \(constraint node.labels.site==nowhere\)/);
    expect(mine()).toEqual({ services: '', networks: '', containers: '' });
  }, 180_000);

  it('--runtime swarm: placement: in the scenario places the services by node labels; --node-engine <this node>=unix://… is the engine used', async () => {
    const self = docker('info', '--format', '{{.Swarm.NodeID}}');
    const host = docker('node', 'inspect', '--format', '{{.Description.Hostname}}', self);
    const LABELS = ['udplab-test-role-server', 'udplab-test-role-client'];
    for (const l of LABELS)
      expect(
        docker('node', 'inspect', '--format', `{{index .Spec.Labels "${l}"}}`, self),
        `label ${l} already set`,
      ).toBe('');
    // a socket forwarded to this engine: the endpoint given with --node-engine; it counts the connections made
    const sock = join(dir.path, 'engine.sock');
    let connections = 0;
    // half-open both ways: `docker exec` half-closes its side once it has nothing to send, and the output follows
    const proxy = createServer({ allowHalfOpen: true }, (c) => {
      connections++;
      const up = createConnection({ path: '/var/run/docker.sock', allowHalfOpen: true });
      c.on('error', () => up.destroy());
      up.on('error', () => c.destroy());
      c.pipe(up).pipe(c);
    });
    await new Promise<void>((ok) => proxy.listen(sock, ok));
    try {
      docker('node', 'update', ...LABELS.flatMap((l) => ['--label-add', `${l}=1`]), self);
      const file = join(dir.path, 'sc', 'placed.yaml');
      writeFileSync(
        file,
        [
          'name: swarm-placed',
          'file: { size: 256KiB }',
          'network: { netem: "delay 2ms" }',
          'protocols: [ruft]',
          'sweep: { loss: [0%, 5%] }',
          'timeout: 60s',
          // the relay's constraint no node meets: the flag --relay-node must replace it
          'placement: { server: node.labels.udplab-test-role-server==1, client: node.labels.udplab-test-role-client==1, relay: node.labels.udplab-test-role-nowhere==1 }',
        ].join('\n'),
      );
      const child = spawn(
        process.execPath,
        [
          BIN,
          'lab',
          file,
          '--runtime',
          'swarm',
          '--relay-node',
          'node.role==manager',
          '--node-engine',
          `${host}=unix://${sock}`,
          '--out',
          join(dir.path, 'placed'),
          '--json',
        ],
        { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, UDPLAB_IMAGE: IMAGE } },
      );
      let out = '';
      let err = '';
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
      });
      child.stderr.on('data', (d: Buffer) => {
        err += d.toString();
      });
      const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
      let done = false;
      void exited.then(() => {
        done = true;
      });
      // while it runs: each service's constraints, as the engine holds them (bounded: 5 min)
      const constraints = new Map<string, string>();
      const until = Date.now() + 300_000;
      while (!done && Date.now() < until) {
        for (const name of services(child.pid).split('\n').filter(Boolean))
          if (!constraints.has(name)) {
            const c = spawnSync(
              'docker',
              ['service', 'inspect', '--format', '{{json .Spec.TaskTemplate.Placement.Constraints}}', name],
              { encoding: 'utf8' },
            );
            if (c.status === 0) constraints.set(name, c.stdout.trim());
          }
        await delay(200);
      }
      const code = await exited;
      expect(code, err).toBe(0);
      const res = JSON.parse(out) as LabResults;
      expect(res.summary).toEqual({ runs: 2, passed: 2, failed: 0 });
      for (const r of res.runs) expect(r.sha256_actual).toBe(r.sha256_expected);
      const byRole = Object.fromEntries(
        [...constraints].map(([name, c]) => [/^udplab-(server|client|relay)-/.exec(name)?.[1] ?? name, c]),
      );
      expect(byRole.server).toBe('["node.labels.udplab-test-role-server==1"]');
      expect(byRole.client).toBe('["node.labels.udplab-test-role-client==1"]');
      if (res.environment.shaper === 'userspace') expect(byRole.relay).toBe('["node.role==manager"]');
      const notices = res.environment.notices.join('\n');
      expect(notices).toContain(
        "swarm: endpoints as services on an overlay network (server on node.labels.udplab-test-role-server==1 (scenario), client on node.labels.udplab-test-role-client==1 (scenario), relay on node.role==manager (--relay-node, over the scenario's node.labels.udplab-test-role-nowhere==1))",
      );
      const via = `reached through --node-engine ${host}=unix://${sock}`;
      expect(notices).toContain(`server task on node ${host}, ${via}, client task on node ${host}, ${via}`);
      if (res.environment.shaper === 'userspace') expect(notices).toContain(`relay task on node ${host}, ${via}`);
      // every docker exec, cp and inspect of the tasks' containers went through the socket (dozens per run)
      expect(connections).toBeGreaterThan(20);
      expect(mine(child.pid)).toEqual({ services: '', networks: '', containers: '' });
    } finally {
      spawnSync('docker', ['node', 'update', ...LABELS.flatMap((l) => ['--label-rm', l]), self]);
      await new Promise((ok) => proxy.close(ok));
    }
    for (const l of LABELS)
      expect(docker('node', 'inspect', '--format', `{{index .Spec.Labels "${l}"}}`, self)).toBe('');
  }, 600_000);

  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`${signal} to udplab lab --cluster swarm mid-job removes the service and its containers`, async () => {
      const child = spawn(
        process.execPath,
        [
          BIN,
          'lab',
          scenario,
          '--cluster',
          'swarm',
          '--shards',
          '4',
          '--runtime',
          RUNTIME,
          '--image',
          IMAGE,
          '--out',
          join(dir.path, signal),
        ],
        { stdio: ['ignore', 'ignore', 'pipe'] },
      );
      let err = '';
      child.stderr.on('data', (d: Buffer) => {
        err += d.toString();
      });
      const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
      // ready: the job's service exists and one of its tasks has a container
      const until = Date.now() + 60_000;
      while (!(services(child.pid) !== '' && jobContainers(services(child.pid)) !== '')) {
        expect(Date.now(), `no service of pid ${child.pid} within 60 s: ${err}`).toBeLessThan(until);
        await delay(200);
      }
      child.kill(signal);
      const code = await exited;
      expect(code, err).toBe(2);
      expect(err).toMatch(/interrupted; service udplab-job-\d+-\w+ removed/);
      expect(services(child.pid)).toBe('');
      expect(jobContainers()).toBe('');
    }, 180_000);
  }
});
