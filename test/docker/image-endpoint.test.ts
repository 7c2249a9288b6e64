// The `image` protocol's docker module on this host: the fixture implementation (Python, test/fixtures/image-endpoint)
// built on the offline Python base, served from its own container, pulled by a client container per run through the
// relay container with 10% loss each way; SHA-256 checked by the lab from the bind-mounted {local}; and each way a
// program can fail gets its verdict with the reason, every container removed after its run and at teardown.
// Needs the udplab image (built when missing) and udplab/python:local (node lab/base/build.mjs --python).
import { execFileSync, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseNetem } from '../../src/impair/index.js';
import { execDocker } from '../../src/lab/index.js';
import { IMPL_BASE, ImageEndpointLab, type ImageEndpointSpec, implTag } from '../../src/lab/runtimes/docker-image.js';
import { ExecServerError } from '../../src/lab/runtimes/exec.js';
import { checkCrossed } from '../../src/lab/shapers/crossed.js';
import { runDocker } from '../helpers/docker.js';

const ROOT = join(import.meta.dirname, '..', '..');
const FIXTURE = join(ROOT, 'test', 'fixtures', 'image-endpoint');
const owned = () =>
  execFileSync('docker', ['ps', '-a', '--filter', `label=udplab.owner=${process.pid}`, '--format', '{{.Names}}'])
    .toString()
    .trim()
    .split('\n')
    .filter(Boolean);

const good: ImageEndpointSpec = {
  label: 'fixture',
  image: implTag('image-endpoint-test'),
  build: FIXTURE,
  transport: 'udp',
  server: ['python3', '/impl/server.py', '{bind}', '{port}', '{root}'],
  client: ['python3', '/impl/client.py', '{host}', '{port}', '{remote}', '{local}'],
  ready: { port: true },
  resumable: false,
};
const py = (code: string, ...rest: string[]) => ['python3', '-c', code, ...rest];
const variant = (label: string, over: Partial<ImageEndpointSpec>): ImageEndpointSpec => {
  const { build: _, ...rest } = good;
  return { ...rest, label, ...over };
};

describe.skipIf(!runDocker)('image endpoints in containers (docker runtime module)', () => {
  const notices: string[] = [];
  const lab = new ImageEndpointLab(notices, 'auto', execDocker, 3_000);
  let sha = '';
  beforeAll(async () => {
    if (spawnSync('docker', ['image', 'inspect', IMPL_BASE], { stdio: 'ignore' }).status !== 0)
      execFileSync(process.execPath, [join(ROOT, 'lab', 'base', 'build.mjs'), '--python']);
    await lab.start();
    sha = lab.prepareFile({ sizeBytes: 65_536, content: 'random' }).sha256;
  }, 600_000);

  afterAll(async () => {
    await lab.stop();
    expect(owned()).toEqual([]);
  });

  it('the fixture, built from its folder on the Python base, passes through 10% loss each way (relay container)', async () => {
    const shaped = await lab.applyShaping({
      spec: good,
      up: parseNetem('loss 10%'),
      down: parseNetem('loss 10%'),
      seed: 7,
    });
    if (lab.shaper === 'userspace') {
      expect(notices.join('\n')).toMatch(/FALLBACK: image endpoints: .*no sch_netem/);
      expect(shaped).toBe('userspace relay container: up "loss 10%" down "loss 10%" seed 7');
    } else expect(shaped).toMatch(/^up \(client eth0, from a sidecar\): qdisc netem .*loss 10%/);
    expect(notices).toContain('fixture: server ready by UDP port 4470 bound (/proc/net/udp, read from a sidecar)');
    if (lab.shaper === 'userspace') {
      // behind the relay the server is on an internal network of its own (#18, C3), which the holder (where every
      // client runs) is not on and the relay is: Docker drops what leaves an internal network's bridge
      const nets = (re: RegExp) => {
        const name = owned().find((n) => re.test(n))!;
        const f = '{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}';
        return execFileSync('docker', ['inspect', '--format', f, name]).toString().trim().split(' ').sort();
      };
      const [server, holder, relay] = [nets(/-srv-0$/), nets(/-holder$/), nets(/-relay-/)];
      expect(server).toEqual([expect.stringMatching(/-srv$/)]);
      expect(holder).toHaveLength(1);
      expect(holder).not.toEqual(server);
      expect(relay).toEqual([...holder, ...server].sort());
    }
    const runs = await lab.runClients(good, 'file.bin', 60_000, 2);
    for (const r of runs) {
      expect(r, JSON.stringify(r)).toMatchObject({ verdict: 'pass', reason: '', exitCode: 0, sha256Local: sha });
      expect(r.ms).toBeGreaterThan(0);
    }
    const counters = (await lab.clearShaping()) as { upStats: { lost: number }; downStats: { lost: number } };
    if (lab.shaper === 'userspace') {
      // the relay's own count of what it lost: the loss was real, and the fixture recovered from it
      expect(counters.upStats.lost).toBeGreaterThan(0);
      expect(counters.downStats.lost).toBeGreaterThan(0);
    }
    // the byte cross-check reads the relay container's report (or netem's server side): both files crossed it
    expect(checkCrossed({ counters, intact: 2, fileBytes: 65_536, deflatedBytes: 65_536, judged: true })).toMatchObject(
      { ok: true, needed_bytes: 65_536 },
    );
    // between runs: the holder and the server only, no client left
    expect(owned().filter((n) => /-cli-/.test(n))).toEqual([]);
    expect(owned().some((n) => /-srv-/.test(n))).toBe(true);
    const img = execFileSync('docker', [
      'image',
      'inspect',
      '--format',
      '{{index .Config.Labels "udplab"}}',
      good.image,
    ]);
    expect(img.toString().trim()).toBe('1');
  }, 300_000);

  const cases: Array<[string, Partial<ImageEndpointSpec>, string, RegExp]> = [
    [
      'crashes',
      { client: py("import sys; print('boom at block 3', file=sys.stderr); sys.exit(3)") },
      'crashed',
      /^exit code 3: boom at block 3 \(no file\)$/,
    ],
    [
      'hangs',
      { client: py('import time; time.sleep(600)') },
      'hung',
      /^killed after the scenario's timeout of 1\.5 s$/,
    ],
    [
      'writes nothing',
      { client: py('pass') },
      'no file',
      /^exit code 0 but nothing written to \/udplab\/out\/file-0\.bin$/,
    ],
    [
      'flips a byte',
      {
        client: py(
          "import subprocess,sys; subprocess.run(['python3','/impl/client.py',*sys.argv[1:5]], check=True)\nf=open(sys.argv[4],'r+b'); f.seek(5000); b=f.read(1); f.seek(5000); f.write(bytes([b[0]^1]))",
          '{host}',
          '{port}',
          '{remote}',
          '{local}',
        ),
      },
      'wrong bytes',
      /^65536 bytes written of 65536, first difference at byte 5000$/,
    ],
    ['is ready by stdout', { ready: { stdout: '^serving ' } }, 'pass', /^$/],
    [
      // a link's target is read on the host, where the lab judges {local}: it is refused, not followed
      'symlinks its file to a host file',
      { client: py('import os,sys; os.symlink("/etc/hostname", sys.argv[1])', '{local}') },
      'wrong bytes',
      /^\/udplab\/out\/file-0\.bin is a symbolic link, not a file$/,
    ],
  ];
  it.each(cases)(
    'a program that %s: %s',
    async (label, over, verdict, reason) => {
      const spec = variant(label.replace(/ /g, '-'), over);
      await lab.applyShaping({ spec, up: {}, down: {}, seed: 1 });
      const [r] = await lab.runClients(spec, 'file.bin', 1_500, 1);
      await lab.clearShaping();
      expect(r!.verdict, JSON.stringify(r)).toBe(verdict);
      expect(r!.reason).toMatch(reason);
      expect(owned().filter((n) => /-cli-|-ready-|-relay-/.test(n))).toEqual([]);
    },
    120_000,
  );

  it('a client whose grandchild escapes its process group (setsid, double fork): the container takes it along', async () => {
    const mark = `udplab-escape-${process.pid}`;
    // the grandchild sleeps with `mark`-gc in its argv (visible in this host's /proc); the client waits 1 s, then
    // transfers as the fixture does and exits, leaving the grandchild behind in its container
    const script = [
      'import os,subprocess,sys,time',
      'if os.fork() == 0:',
      '    os.setsid()',
      "    if os.fork() == 0: os.execvp('python3', ['python3', '-c', 'import time; time.sleep(600)', sys.argv[5] + '-gc'])",
      '    os._exit(0)',
      'os.wait(); time.sleep(1)',
      "subprocess.run(['python3', '/impl/client.py', *sys.argv[1:5]], check=True)",
    ].join('\n');
    const spec = variant('escape', { client: py(script, '{host}', '{port}', '{remote}', '{local}', mark) });
    const running = () =>
      readdirSync('/proc').filter((d) => {
        if (!/^\d+$/.test(d)) return false;
        try {
          return readFileSync(`/proc/${d}/cmdline`, 'utf8').includes(`${mark}-gc`);
        } catch {
          return false;
        }
      });
    await lab.applyShaping({ spec, up: {}, down: {}, seed: 1 });
    let seen = 0;
    const run = lab.runClients(spec, 'file.bin', 20_000, 1);
    let done = false;
    void run.finally(() => {
      done = true;
    });
    for (let i = 0; i < 500 && !done; i++) {
      seen = Math.max(seen, running().length);
      await new Promise((ok) => setTimeout(ok, 20));
    }
    const [r] = await run;
    await lab.clearShaping();
    expect(r!.verdict, JSON.stringify(r)).toBe('pass');
    expect(seen).toBe(1); // it did run, outside the client's group, while the client transferred
    expect(running()).toEqual([]); // and the client's container took it along
    expect(owned().filter((n) => /-cli-/.test(n))).toEqual([]);
  }, 120_000);

  const servers: Array<[string, Partial<ImageEndpointSpec>, string, RegExp]> = [
    [
      'never binds',
      { server: py('import time; time.sleep(600)') },
      'server never ready',
      /^UDP port 447\d not bound within 3 s$/,
    ],
    [
      'exits',
      { server: py("import sys; print('cannot bind: nope', file=sys.stderr); sys.exit(4)") },
      'server exited',
      /^the server exited before it was ready: exit code 4: cannot bind: nope$/,
    ],
  ];
  it.each(servers)(
    'a server that %s: %s, said when shaping',
    async (label, over, verdict, reason) => {
      const spec = variant(label.replace(/ /g, '-'), over);
      const err = await lab.applyShaping({ spec, up: {}, down: {}, seed: 1 }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ExecServerError);
      expect((err as ExecServerError).verdict).toBe(verdict);
      expect((err as Error).message).toMatch(reason);
      expect(owned().filter((n) => /-cli-|-ready-|-relay-/.test(n))).toEqual([]);
    },
    120_000,
  );
});
