// Protocol `exec` on the netns runtime: the implementation's server in the server's namespace (readiness read
// from that namespace's /proc/PID/net/udp), its clients in the client's, through the relay; repeated and
// concurrent clients; verdicts with reasons; nothing left running and the namespaces deleted.
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadScenario, runScenario } from '../../src/lab/index.js';
import { withEnv } from '../helpers/env.js';
import { runWithPortFile } from '../helpers/port-file.js';
import { runningIn } from '../helpers/procs.js';
import { sharedFile, tempDir } from '../helpers/tmp.js';

const FIXTURES = join(import.meta.dirname, '..', 'fixtures', 'endpoints');
const root = process.getuid?.() === 0;

const entry = (label: string, server: string, client: string) =>
  `  - { protocol: exec, label: ${label}, cwd: ${FIXTURES},
      server: [python3, server.py, ${server}, "{bind}", "{port}", "{root}"],
      client: [python3, client.py, ${client}, "{host}", "{port}", "{remote}", "{local}"] }\n`;

describe.skipIf(!root)('exec protocol on the netns runtime', () => {
  it('runs implementations across two namespaces under loss, with verdicts, and leaves nothing behind', async () => {
    using dir = tempDir();
    const pids = sharedFile(dir.path, 'pids');
    process.env.FIXTURE_PIDS = pids;
    const file = join(dir.path, 'ns.yaml');
    writeFileSync(
      file,
      `name: ns-exec\nfile: { size: 32KiB }\nnetwork: { netem: "delay 1ms loss 5%" }\ntimeout: 4s\nrepeat: 2\nclients: 2\nprotocols:\n${entry('good', 'ok', 'ok')}${entry('hang', 'ok', 'hang')}${entry('nobind', 'nobind', 'ok')}${entry('vanish', 'ok', 'vanish')}`,
    );
    try {
      const res = await runScenario(loadScenario(file), { runtime: 'netns', shaper: 'auto' });
      const runs = (id: string) => res.runs.filter((r) => r.protocol === id);
      expect(res.environment.runtime).toBe('netns');
      for (const r of runs('good')) {
        expect(r.verdict, r.failures.join()).toBe('pass');
        expect(r.clients).toBe(2);
        expect(r.sha256_actual).toBe(`${res.file.sha256} ${res.file.sha256}`);
        // behind the relay the program's server binds its namespace's loopback, which only the relay reaches
        if (res.environment.shaper === 'userspace') expect(r.shaping_readback).toMatch(/→ 127\.0\.0\.1:20000$/);
        expect(r.crossed).toMatchObject({ judged: true, ok: true, intact_clients: 2 });
      }
      expect(res.environment.notices.join('\n')).toMatch(/good: server ready by UDP port 20000 bound/);
      for (const r of runs('hang')) expect(r.failures[0]).toMatch(/^client 1: transfer failed: hung: /);
      for (const r of runs('nobind'))
        expect(r.failures[0]).toMatch(/server never ready: UDP port \d+ not bound within 10 s/);
      for (const r of runs('vanish')) expect(r.verdict, r.failures.join()).toBe('pass');
      expect(res.summary).toEqual({ runs: 8, passed: 4, failed: 4 });
    } finally {
      delete process.env.FIXTURE_PIDS;
    }
    const started = readFileSync(pids, 'utf8').split('\n').filter(Boolean).map(Number);
    expect(started.length).toBeGreaterThanOrEqual(10);
    // found by their working directory: in a PID namespace the PIDs they noted are its own; `vanish` left a grandchild
    // that cleared its environment (env -i) and its process group: ended with the namespace
    expect(runningIn(FIXTURES)).toEqual([]);
    expect(execFileSync('ip', ['netns', 'list']).toString()).not.toMatch(new RegExp(`udplab-${process.pid}-`));
  }, 120_000);
});

describe.skipIf(!root)('exec protocol on the netns runtime: the shaped path cannot be bypassed (issue #18, C3)', () => {
  it('behind the relay the server is out of the client’s reach, also one that binds the wildcard', async () => {
    using dir = tempDir();
    const res = await runWithPortFile(
      dir.path,
      `name: ns-bypass\nfile: { size: 32KiB }\nnetwork: { netem: "delay 1ms loss 10%" }\ntimeout: 30s\nprotocols:\n${entry('honest', 'ok', 'ok')}${entry('bypass', 'ok', 'bypass')}${entry('wildcard', 'wildcard', 'bypass')}`,
      'netns',
    );
    const run = (id: string) => res.runs.find((r) => r.protocol === id)!;
    expect(run('honest').verdict, run('honest').failures.join()).toBe('pass');
    if (res.environment.shaper === 'userspace') {
      // the server bound {bind} = 127.0.0.1 of its namespace: from the client's, its port answers nothing
      expect(run('bypass').failures).toEqual([
        expect.stringMatching(
          /^transfer failed: crashed: exit code 5: fixture client: no answer at 10\.77\.\d+\.2 20001/,
        ),
      ]);
      // it ignored {bind} (the wildcard): the client's requests reach it past the relay, but its answers, from a
      // user that is not root, are refused on their way out of the server's namespace (netns.ts, onlyThroughRelay):
      // the fixture server's sendto fails with EPERM and it exits
      expect(run('wildcard').verdict).toBe('fail');
      expect(run('wildcard').failures).toEqual([
        expect.stringMatching(
          /^transfer failed: server exited: exit code 1: PermissionError: .*Operation not permitted/,
        ),
      ]);
    } else {
      // kernel netem shapes the veth itself: there is no way past it; the cross-check reads the server side's Sent
      for (const id of ['bypass', 'wildcard']) expect(run(id).crossed).toMatchObject({ ok: true });
    }
    expect(runningIn(FIXTURES)).toEqual([]);
    expect(execFileSync('ip', ['netns', 'list']).toString()).not.toMatch(new RegExp(`udplab-${process.pid}-`));
  }, 120_000);
});

/** Grades scenario `name` (the YAML after its `name:` line) on the netns runtime, from a file in `dir`. */
function gradeNs(dir: string, name: string, yaml: string) {
  const file = join(dir, `${name}.yaml`);
  writeFileSync(file, `name: ${name}\n${yaml}`);
  return runScenario(loadScenario(file), { runtime: 'netns', shaper: 'auto' });
}

/** Nothing the fixtures started is left, nor this process's namespaces. */
function expectNothingLeft(): void {
  expect(runningIn(FIXTURES)).toEqual([]);
  expect(execFileSync('ip', ['netns', 'list']).toString()).not.toMatch(new RegExp(`udplab-${process.pid}-`));
}

describe.skipIf(!root)('exec protocol on the netns runtime: programs without privileges', () => {
  it('a server cannot remove or change its shaping (tc, ip link), a client cannot copy the served file', async () => {
    using dir = tempDir();
    const log = sharedFile(dir.path, 'attempts');
    const res = await withEnv({ FIXTURE_LOG: log }, () =>
      gradeNs(
        dir.path,
        'ns-hostile',
        `file: { size: 32KiB }\nnetwork: { netem: "delay 1ms" }\ntimeout: 10s\nprotocols:\n${entry('tamper', 'tc', 'ok')}${entry('copier', 'ok', 'copy')}`,
      ),
    );
    const run = (id: string) => res.runs.find((r) => r.protocol === id)!;
    // each attempt on the server's veth was refused: no CAP_NET_ADMIN
    const attempts = readFileSync(log, 'utf8').split('\n').filter(Boolean);
    expect(attempts.map((l) => l.split(' -> ')[0])).toEqual([
      expect.stringMatching(/^tc qdisc del dev ul\d+s root$/),
      expect.stringMatching(/^tc qdisc replace dev ul\d+s root pfifo$/),
      expect.stringMatching(/^ip link set dev ul\d+s mtu 1280$/),
    ]);
    for (const a of attempts) expect(a).toMatch(/ -> exit [1-9]\d*: .*Operation not permitted/);
    expect(run('tamper').verdict, run('tamper').failures.join()).toBe('pass');
    expect(run('tamper').shaping_readback).toMatch(res.environment.shaper === 'netem' ? /netem.*delay 1ms/ : /relay/);
    expect(run('copier').failures[0]).toMatch(
      /^transfer failed: crashed: exit code 5: fixture client: could not copy the served file: .*(Permission denied|No such file or directory)/,
    );
    expectNothingLeft();
  }, 60_000);
});

describe.skipIf(!root)('exec protocol on the netns runtime: one implementation against the next', () => {
  it("a server that takes the next implementation's port: ended after its last run, so the next one gets it", async () => {
    using dir = tempDir();
    const res = await gradeNs(
      dir.path,
      'ns-squat',
      `file: { size: 32KiB }\nnetwork: { netem: "" }\ntimeout: 10s\nprotocols:\n${entry('squatter', 'squat', 'ok')}${entry('next', 'reuse', 'ok')}`,
    );
    const run = (id: string) => res.runs.find((r) => r.protocol === id)!;
    expect(run('squatter').verdict, run('squatter').failures.join()).toBe('pass');
    // ports are handed out in turn (20000, 20001): the squatter held 20001 (SO_REUSEADDR) while it ran; on the old
    // code it still did when `next` bound it, which failed with "UDP port 20001 taken by another program"
    expect(run('next').verdict, run('next').failures.join()).toBe('pass');
    expectNothingLeft();
  }, 60_000);
});

describe.skipIf(!root)('exec protocol on the netns runtime: one implementation at a time', () => {
  it("a server that floods its namespace's loopback ports is ended before the next implementation's server starts", async () => {
    using dir = tempDir();
    const log = sharedFile(dir.path, 'log');
    const res = await withEnv({ FIXTURE_LOG: log }, () =>
      gradeNs(
        dir.path,
        'ns-flood',
        `file: { size: 32KiB }\nnetwork: { netem: "" }\nsweep: { loss: [0%, 1%] }\ntimeout: 6s\nprotocols:\n${entry('flooder', 'flood', 'ok')}${entry('victim', 'note', 'ok')}`,
      ),
    );
    const lines = readFileSync(log, 'utf8').split('\n').filter(Boolean);
    const ready = lines.indexOf('note ready');
    expect(ready).toBeGreaterThan(0);
    // on the old code the flooder's server ran on beside the victim's runs (both loss points), flooding
    expect(lines.slice(ready).filter((l) => l === 'flood')).toEqual([]);
    const victim = res.runs.filter((r) => r.protocol === 'victim');
    expect(
      victim.map((r) => r.verdict),
      victim.flatMap((r) => r.failures).join(),
    ).toEqual(['pass', 'pass']);
    expectNothingLeft();
  }, 90_000);
});
