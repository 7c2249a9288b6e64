// The pure parts of `udplab lab --cluster swarm`: which shard a replicated job's task runs (Docker 20.10 renders
// slot 0 as the node ID), and when a slot is settled (completed, or given up after a task and one restart); the
// job's service argv (bind mounts whose paths cannot inject --mount options, caps only for netns), and the
// scenarios it refuses before anything starts (users' programs would run as root with NET_ADMIN + SYS_ADMIN).
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LabError } from '../../../src/lab/errors.js';
import { parseScenario } from '../../../src/lab/scenario.js';
import { checkJobScenario, jobServiceArgv, runSwarmJob, settle, shardOfSlot } from '../../../src/lab/swarm-job.js';
import { tempDir } from '../../helpers/tmp.js';

const BIN = join(import.meta.dirname, '..', '..', '..', 'bin', 'udplab.js');

describe('shardOfSlot', () => {
  it('maps slots 1..n-1 to themselves and slot 0 (a node ID, or 0) to shard n', () => {
    const n = 4;
    const slots = ['1', '2', '3', 's72q4jg2xrcfjjm6o34f2ceye'];
    expect(slots.map((s) => shardOfSlot(s, n))).toEqual([1, 2, 3, 4]);
    expect(shardOfSlot('0', n)).toBe(4);
    expect(shardOfSlot('4', n)).toBe(4); // an engine that counts 1..n
    expect(shardOfSlot('abcdefghijklmnopqrstuvwx0', 1)).toBe(1);
  });
  it('refuses slots outside the job and names that are neither', () => {
    expect(() => shardOfSlot('5', 4)).toThrow(/slot 5 is outside a job of 4 tasks/);
    expect(() => shardOfSlot('{{.Task.Slot}}', 4)).toThrow(/neither a number nor a node ID/);
    expect(() => shardOfSlot('', 4)).toThrow(/neither/);
    expect(() => shardOfSlot('1', 0)).toThrow(RangeError);
  });
});

describe('settle', () => {
  const t = (slot: string, state: string, error = '') => ({ slot, state, error });
  it('done when a task of the slot completed, given up after two ended otherwise, open while one may follow', () => {
    const s = settle(
      [
        t('1', 'complete'),
        t('2', 'failed', 'task: non-zero exit (3)'),
        t('2', 'complete'),
        t('3', 'failed', 'task: non-zero exit (3)'),
        t('3', 'rejected', 'no such image'),
        t('4', 'failed'),
        t('5', 'running'),
      ],
      2,
    );
    expect(Object.fromEntries([...s].map(([k, v]) => [k, v.state]))).toEqual({
      '1': 'done',
      '2': 'done',
      '3': 'given-up',
      '4': 'open',
      '5': 'open',
    });
    expect(s.get('3')!.last).toEqual(t('3', 'failed', 'task: non-zero exit (3)'));
  });
});

const HEAD = `name: users
description: a user's program
file: { size: 4KiB, content: random }
network: { netem: "delay 1ms" }
protocols:
`;
const ARGV =
  'server: [python3, s.py, "{bind}", "{port}", "{root}"], client: [python3, c.py, "{host}", "{port}", "{remote}", "{local}"]';

describe("the job's scenario: users' programs are refused before anything starts", () => {
  it('exec protocols: one line naming them and --runtime docker, E_SCENARIO_INVALID (exit 2); before the engine is asked', async () => {
    const s = parseScenario(`${HEAD}  - ruft\n  - { protocol: exec, label: alice, ${ARGV} }\n`, 'sc/users.yaml');
    let err: unknown;
    try {
      checkJobScenario(s);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(LabError);
    expect((err as LabError).code).toBe('E_SCENARIO_INVALID');
    const msg = (err as Error).message;
    expect(msg).toMatch(
      /^sc\/users\.yaml: --cluster swarm would run users' programs \(exec alice\) as root in its tasks, with NET_ADMIN and SYS_ADMIN .*--runtime docker/,
    );
    expect(msg).not.toContain('\n');
    // runSwarmJob itself refuses it first: no `docker` is run (an engine without a swarm would say so instead)
    await expect(
      runSwarmJob({
        scenario: s,
        scenarioFile: 'sc/users.yaml',
        shards: 2,
        image: 'x',
        runtime: 'local',
        shaper: 'auto',
        outDir: '/nonexistent/out',
      }),
    ).rejects.toThrow(/would run users' programs/);
  });

  it('image protocols: refused too (a task has no docker runtime), built-in protocols pass', () => {
    const img = parseScenario(`${HEAD}  - { protocol: image, label: bob, image: x, ${ARGV} }\n`, 'img.yaml');
    expect(() => checkJobScenario(img)).toThrow(
      /^img\.yaml: --cluster swarm cannot run image protocols \(image bob\): its tasks run the netns or local runtime/,
    );
    expect(() => checkJobScenario(parseScenario(`${HEAD}  - ruft\n  - tftp\n`, 'ok.yaml'))).not.toThrow();
  });

  it('udplab lab --cluster swarm on a scenario with an exec protocol: exit 2, one line on stderr', () => {
    using d = tempDir('udplab-swarm-exec-');
    mkdirSync(join(d.path, 'sc'));
    const file = join(d.path, 'sc', 'users.yaml');
    writeFileSync(file, `${HEAD}  - { protocol: exec, label: alice, ${ARGV} }\n`);
    const r = spawnSync(
      process.execPath,
      [BIN, 'lab', file, '--cluster', 'swarm', '--shards', '2', '--image', 'none', '--out', join(d.path, 'out')],
      { encoding: 'utf8', timeout: 60_000 },
    );
    expect(r.status, r.stderr).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain("--cluster swarm would run users' programs (exec alice) as root");
  });
});

describe("the job's service argv", () => {
  const base = {
    name: 'udplab-job-1-abc',
    image: 'sha256:1234',
    shards: 3,
    scenarioDir: '/home/t/sc',
    shardsDir: '/home/t/out/shards',
    command: ['udplab', 'lab'],
  };
  it('binds the scenario folder read-only and shards/ at /out; NET_ADMIN + SYS_ADMIN for netns only', () => {
    const a = jobServiceArgv({ ...base, runtime: 'netns' });
    const mounts = a.flatMap((x, i) => (x === '--mount' ? [a[i + 1]] : []));
    expect(mounts).toEqual([
      'type=bind,src=/home/t/sc,dst=/scenario,readonly',
      'type=bind,src=/home/t/out/shards,dst=/out',
    ]);
    expect(a.flatMap((x, i) => (x === '--cap-add' ? [a[i + 1]] : []))).toEqual(['NET_ADMIN', 'SYS_ADMIN']);
    expect(jobServiceArgv({ ...base, runtime: 'local' })).not.toContain('--cap-add');
    expect(a.slice(-3)).toEqual(['sha256:1234', 'udplab', 'lab']);
  });

  it.each([
    ['/home/t/sc,dst=/etc', "the scenario's folder", ','],
    ['/home/t/a=b', "the scenario's folder", '='],
    ['/home/t/"q', "the scenario's folder", '"'],
    ['/home/t/line\nbreak', "the scenario's folder", '\n'],
  ])('refuses a path that would inject mount options: %j', (dir, what, ch) => {
    let msg = '';
    try {
      jobServiceArgv({ ...base, runtime: 'local', scenarioDir: dir });
    } catch (e) {
      msg = (e as Error).message;
    }
    expect(msg).toContain(`--cluster swarm: ${what} ${JSON.stringify(dir)} holds ${JSON.stringify(ch)}`);
    expect(msg).not.toContain('\n');
    expect(() => jobServiceArgv({ ...base, runtime: 'local', shardsDir: `${dir}/shards` })).toThrow(
      /the job's shards folder/,
    );
  });
});
