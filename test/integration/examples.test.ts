// The example implementations (examples/*/udplab.yaml) run exactly as the endpoint contract says (#18), without
// the lab: argv templates with {bind} {port} {root} / {host} {port} {remote} {local} (never a shell), the same
// values in UDPLAB_* variables, readiness = the server's UDP port bound (/proc/net/udp), the verdict from the
// SHA-256 of {local} on disk (never the exit code), every process group killed afterwards. Paths are loopback
// and `udplab relay` (userspace netem, seeded). The seminar program must pass a clean path and visibly fail
// loss and reordering; the fixed one must pass loss, reordering, duplication, corruption, a blackout and two
// concurrent clients.
import { type ChildProcess, spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { IPV6 } from '../helpers/ipv6.js';
import { randomFile, sha256File, tempDir } from '../helpers/tmp.js';

const ROOT = join(import.meta.dirname, '..', '..');
const EXAMPLES = join(ROOT, 'examples');
const CLIENT_TIMEOUT_MS = 30_000; // the lab's `hung`: stop-and-wait gives up by itself after 20 s of silence

interface Manifest {
  label?: string;
  transport?: 'udp' | 'tcp';
  server: string[];
  client: string[];
  ready?: { port?: boolean };
  resumable?: boolean;
}

function manifest(name: string): Manifest {
  const m = parse(readFileSync(join(EXAMPLES, name, 'udplab.yaml'), 'utf8')) as Manifest;
  expect(m.transport ?? 'udp').toBe('udp');
  expect(m.ready ?? { port: true }).toEqual({ port: true });
  return m;
}

/** Substitutes {placeholders} in each argv element; an unknown one is an error, as in the lab. */
function template(argv: string[], values: Record<string, string>): string[] {
  return argv.map((a) =>
    a.replace(/\{(\w+)\}/g, (_, k: string) => {
      if (!(k in values)) throw new Error(`unknown placeholder {${k}} in ${JSON.stringify(argv)}`);
      return values[k]!;
    }),
  );
}

const envOf = (values: Record<string, string>) =>
  Object.fromEntries(Object.entries(values).map(([k, v]) => [`UDPLAB_${k.toUpperCase()}`, v]));

const started: ChildProcess[] = [];
/** Starts argv in its own process group (so everything it starts can be killed with it). */
function start(argv: string[], cwd: string, env: Record<string, string>): ChildProcess {
  const child = spawn(argv[0]!, argv.slice(1), {
    cwd,
    env: { ...process.env, ...env },
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  started.push(child);
  return child;
}
function killGroup(c: ChildProcess): void {
  if (c.pid === undefined || c.exitCode !== null || c.signalCode !== null) return;
  try {
    process.kill(-c.pid, 'SIGKILL');
  } catch {
    /* already gone */
  }
}
afterAll(() => {
  for (const c of started) killGroup(c);
});

/** A UDP port free right now on 127.0.0.1 (the lab picks the port; the server binds it). */
async function freePort(): Promise<number> {
  const s = createSocket('udp4');
  await new Promise<void>((ok) => s.bind(0, '127.0.0.1', ok));
  const { port } = s.address();
  await new Promise<void>((ok) => s.close(() => ok()));
  return port;
}

/** True when some socket is bound to UDP `port` (the contract's `ready: { port: true }`). */
function udpPortBound(port: number): boolean {
  const hex = `:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  for (const f of ['/proc/net/udp', '/proc/net/udp6']) {
    if (!existsSync(f)) continue;
    for (const line of readFileSync(f, 'utf8').split('\n').slice(1))
      if (line.trim().split(/\s+/)[1]?.endsWith(hex)) return true;
  }
  return false;
}

async function until(what: string, ok: () => boolean, child: ChildProcess, withinMs = 10_000): Promise<void> {
  const deadline = Date.now() + withinMs;
  while (!ok()) {
    if (child.exitCode !== null) throw new Error(`${what}: the process exited (${child.exitCode}) first`);
    if (Date.now() > deadline) throw new Error(`${what}: not within ${withinMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

interface Server {
  port: number;
  root: string;
  child: ChildProcess;
}

async function startServer(example: string, root: string, bind = '127.0.0.1'): Promise<Server> {
  const port = await freePort();
  const values = { bind, port: String(port), root, seed: '1' };
  const child = start(template(manifest(example).server, values), join(EXAMPLES, example), envOf(values));
  let err = '';
  child.stderr!.on('data', (d) => {
    err += d;
  });
  await until(`${example} server on UDP ${port} (${err.trim()})`, () => udpPortBound(port), child);
  return { port, root, child };
}

interface Relay {
  port: number;
  child: ChildProcess;
  report: () => Promise<{ downStats: { lost: number; blackedOut: number; duplicated: number; corrupted: number } }>;
}

/** `udplab relay` in front of the server: the client's {host}:{port} is the relay's. */
async function startRelay(to: number, netem: string, extra: string[] = []): Promise<Relay> {
  const child = start(
    [
      process.execPath,
      join(ROOT, 'bin', 'udplab.js'),
      'relay',
      '--to',
      `127.0.0.1:${to}`,
      '--listen',
      '127.0.0.1:0',
      '--netem',
      netem,
      '--seed',
      '7',
      ...extra,
    ],
    ROOT,
    {},
  );
  const lines: string[] = [];
  createInterface({ input: child.stdout! }).on('line', (l) => lines.push(l));
  await until('udplab relay listening', () => lines.some((l) => l.includes('"listening"')), child);
  const { port } = JSON.parse(lines.find((l) => l.includes('"listening"'))!) as { port: number };
  return {
    port,
    child,
    report: async () => {
      const closed = new Promise((ok) => child.once('exit', ok));
      child.kill('SIGTERM');
      await closed;
      return JSON.parse(lines.find((l) => l.includes('"closed"'))!);
    },
  };
}

type Verdict = 'pass' | 'wrong bytes' | 'no file' | 'hung';
interface Run {
  verdict: Verdict;
  exit: number | null;
  ms: number;
  stderr: string;
}

/** One client run, judged as the lab judges it: by the file on disk, and a kill after the timeout. */
async function runClient(
  example: string,
  port: number,
  remote: string,
  local: string,
  sha: string,
  host = '127.0.0.1',
): Promise<Run> {
  const values = { host, port: String(port), remote, local, seed: '1' };
  const t0 = Date.now();
  const child = start(template(manifest(example).client, values), join(EXAMPLES, example), envOf(values));
  let stderr = '';
  child.stderr!.on('data', (d) => {
    stderr += d;
  });
  let hung = false;
  const timer = setTimeout(() => {
    hung = true;
    killGroup(child);
  }, CLIENT_TIMEOUT_MS);
  const exit = await new Promise<number | null>((ok) => child.once('exit', (code) => ok(code)));
  clearTimeout(timer);
  killGroup(child); // anything it left behind
  const verdict: Verdict = hung
    ? 'hung'
    : !existsSync(local)
      ? 'no file'
      : sha256File(local) === sha
        ? 'pass'
        : 'wrong bytes';
  return { verdict, exit, ms: Date.now() - t0, stderr: stderr.trim().split('\n').pop() ?? '' };
}

function fixture(dir: string, files: Record<string, number>): Record<string, string> {
  const root = join(dir, 'root');
  mkdirSync(root);
  mkdirSync(join(dir, 'out'));
  return Object.fromEntries(Object.entries(files).map(([name, size]) => [name, randomFile(join(root, name), size)]));
}

const SIZE = 256 * 1024;

describe.each(['seminar-2021', 'stop-and-wait'])('examples/%s follows the endpoint contract', (example) => {
  it('its manifest has the contract argv templates and is not resumable', () => {
    const m = manifest(example);
    expect(m.label).toBe(example);
    expect(m.server.slice(-3)).toEqual(['{bind}', '{port}', '{root}']);
    expect(m.client.slice(-4)).toEqual(['{host}', '{port}', '{remote}', '{local}']);
    expect(m.resumable).toBe(false);
  });

  it('serves a clean path over loopback and through the relay, twice from one server', async () => {
    using dir = tempDir();
    const sha = fixture(dir.path, { 'file.bin': SIZE });
    const server = await startServer(example, join(dir.path, 'root'));
    const relay = await startRelay(server.port, '');
    try {
      for (const [i, port] of [server.port, relay.port].entries()) {
        const local = join(dir.path, 'out', `clean-${i}.bin`);
        const r = await runClient(example, port, 'file.bin', local, sha['file.bin']!);
        expect(r, `${example} via ${i ? 'relay' : 'loopback'}: ${r.stderr}`).toMatchObject({
          verdict: 'pass',
          exit: 0,
        });
      }
    } finally {
      killGroup(relay.child);
      killGroup(server.child);
    }
  }, 60_000);

  it.skipIf(!IPV6)(
    'binds {bind} = :: and serves an IPv4 and an IPv6 client',
    async () => {
      using dir = tempDir();
      const sha = fixture(dir.path, { 'file.bin': SIZE });
      const server = await startServer(example, join(dir.path, 'root'), '::');
      try {
        for (const host of ['127.0.0.1', '::1']) {
          const local = join(dir.path, 'out', `v${host.length}.bin`);
          const r = await runClient(example, server.port, 'file.bin', local, sha['file.bin']!, host);
          expect(r, `${example} from ${host}: ${r.stderr}`).toMatchObject({ verdict: 'pass', exit: 0 });
        }
      } finally {
        killGroup(server.child);
      }
    },
    60_000,
  );
});

describe('examples/seminar-2021 fails where the seminar report says it must', () => {
  it.each([
    ['loss 10%', 'delay 5ms loss 10%'],
    ['reordering', 'delay 10ms reorder 25% 50%'],
    ['duplication', 'delay 5ms duplicate 10%'],
  ])(
    '%s: wrong bytes, no file or a stall — never the right file',
    async (_, netem) => {
      using dir = tempDir();
      const sha = fixture(dir.path, { 'file.bin': SIZE });
      const server = await startServer('seminar-2021', join(dir.path, 'root'));
      const relay = await startRelay(server.port, netem);
      try {
        const r = await runClient(
          'seminar-2021',
          relay.port,
          'file.bin',
          join(dir.path, 'out', 'f.bin'),
          sha['file.bin']!,
        );
        expect(['wrong bytes', 'no file', 'hung'], `${netem}: ${r.verdict} (${r.stderr})`).toContain(r.verdict);
        if (netem.includes('loss'))
          expect(r.stderr).toMatch(/^stalled at (\d+ of 262144 bytes|0 bytes: no answer to the request for file.bin)$/);
      } finally {
        await relay.report();
        killGroup(server.child);
      }
    },
    60_000,
  );
});

describe('examples/stop-and-wait passes what the seminar program fails', () => {
  it.each([
    ['loss 10%', 'delay 5ms loss 10%', 'lost'],
    ['reordering', 'delay 10ms reorder 25% 50%', undefined],
    ['duplication', 'delay 5ms duplicate 10%', 'duplicated'],
    ['corruption', 'delay 5ms corrupt 5%', 'corrupted'],
  ] as const)(
    '%s: the right file',
    async (_, netem, counter) => {
      using dir = tempDir();
      const sha = fixture(dir.path, { 'file.bin': SIZE });
      const server = await startServer('stop-and-wait', join(dir.path, 'root'));
      const relay = await startRelay(server.port, netem);
      let r: Run;
      try {
        r = await runClient('stop-and-wait', relay.port, 'file.bin', join(dir.path, 'out', 'f.bin'), sha['file.bin']!);
      } finally {
        killGroup(server.child);
      }
      const report = await relay.report();
      expect(r, `${netem}: ${r.stderr}`).toMatchObject({ verdict: 'pass', exit: 0 });
      if (counter) expect(report.downStats[counter], `the relay ${counter} some datagrams`).toBeGreaterThan(0);
    },
    60_000,
  );

  it('a 4 s blackout from 20 ms after the request (100 ms RTT): it retries with backoff and completes; the seminar program stalls', async () => {
    using dir = tempDir();
    const sha = fixture(dir.path, { 'file.bin': SIZE });
    const blackout = ['--blackout', '20:4000', '--blackout-from', 'first-datagram'];
    for (const [example, want] of [
      ['stop-and-wait', 'pass'],
      ['seminar-2021', 'no file'],
    ] as const) {
      const server = await startServer(example, join(dir.path, 'root'));
      // the request passes at 0 ms; any answer enters the relay after 50 ms, inside the window
      const relay = await startRelay(server.port, 'delay 50ms', blackout);
      try {
        const r = await runClient(
          example,
          relay.port,
          'file.bin',
          join(dir.path, 'out', `${example}.bin`),
          sha['file.bin']!,
        );
        expect(r.verdict, `${example}: ${r.stderr}`).toBe(want);
        if (want === 'pass') expect(r.ms).toBeGreaterThanOrEqual(4000);
        else expect(r.stderr).toBe('stalled at 0 bytes: no answer to the request for file.bin');
      } finally {
        const report = await relay.report();
        expect(report.downStats.blackedOut).toBeGreaterThan(0);
        killGroup(server.child);
      }
    }
  }, 60_000);

  it('two concurrent clients through the relay each get their own file', async () => {
    using dir = tempDir();
    const sha = fixture(dir.path, { 'a.bin': SIZE, 'b.bin': SIZE + 1234 });
    const server = await startServer('stop-and-wait', join(dir.path, 'root'));
    const relay = await startRelay(server.port, 'delay 20ms loss 2%');
    try {
      const runs = await Promise.all(
        ['a.bin', 'b.bin'].map((f) => runClient('stop-and-wait', relay.port, f, join(dir.path, 'out', f), sha[f]!)),
      );
      for (const r of runs) expect(r, r.stderr).toMatchObject({ verdict: 'pass', exit: 0 });
    } finally {
      await relay.report();
      killGroup(server.child);
    }
  }, 60_000);

  it("a missing file: exit 1 with the server's reason, and no file written", async () => {
    using dir = tempDir();
    fixture(dir.path, {});
    const server = await startServer('stop-and-wait', join(dir.path, 'root'));
    try {
      const local = join(dir.path, 'out', 'nope.bin');
      const r = await runClient('stop-and-wait', server.port, 'nope.bin', local, '');
      expect(r).toMatchObject({ verdict: 'no file', exit: 1 });
      expect(r.stderr).toBe('giving up: server: no such file: nope.bin');
    } finally {
      killGroup(server.child);
    }
  }, 30_000);
});
