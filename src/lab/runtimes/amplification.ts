// The reflection test (scenario field `attack: amplification`), written once over the Host seam (./host.ts) for every
// runtime that places udplab on hosts (./placed.ts): a sink on the client's host catches the variant's real client's
// first request; hping3 (this machine's) sends that datagram again, run in the client host's network namespace
// (`Host.netnsArgv`: this machine, `ip netns exec NS`, `nsenter -t PID -n` for a container), from the client's own
// address and a victim's port on the client's host, straight to the server; the victim counts what the server
// sends it within the window. Sink and victim are `node -e SCRIPT` processes placed on the client's host (node is
// on this machine, in every namespace of it, and in the udplab image). Forged packets go only between the lab's
// own hosts: loopback, the lab's namespaces or its containers.
import { execFile } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { formatHostPort } from '../../transport/index.js';
import { LabError } from '../errors.js';
import { type Host, type Placed, place } from './host.js';

export interface AmplificationOutcome {
  requestBytes: number;
  victimBytes: number;
  victimDatagrams: number;
}

/**
 * Sink: binds UDP on argv[1] (port 0), prints `{"event":"listening","port":N}`, and on its first datagram prints
 * `{"event":"request","base64":…}` and exits.
 */
export const SINK_SCRIPT = `const s = require('node:dgram').createSocket('udp4');
s.on('error', (e) => { console.error('sink: ' + e.message); process.exit(1); });
s.once('message', (m) => { console.log(JSON.stringify({ event: 'request', base64: m.toString('base64') })); process.exit(0); });
s.bind(0, process.argv[1], () => console.log(JSON.stringify({ event: 'listening', port: s.address().port })));`;

/**
 * Victim: binds UDP on argv[1] (port 0), prints `{"event":"listening","port":N}`, counts what arrives, and on
 * SIGTERM prints `{"event":"counted","bytes":B,"datagrams":D}` and exits (after the poll phase that saw the
 * signal: datagrams already queued when it came are counted).
 */
export const VICTIM_SCRIPT = `const s = require('node:dgram').createSocket('udp4');
let bytes = 0, datagrams = 0;
s.on('error', (e) => { console.error('victim: ' + e.message); process.exit(1); });
s.on('message', (m) => { bytes += m.length; datagrams++; });
process.on('SIGTERM', () => setImmediate(() => { console.log(JSON.stringify({ event: 'counted', bytes, datagrams })); process.exit(0); }));
s.bind(0, process.argv[1], () => console.log(JSON.stringify({ event: 'listening', port: s.address().port })));`;

export interface Forgery {
  /** the server's address and port, where the forged datagram goes */
  server: string;
  serverPort: number;
  /** the forged source: the client host's address and the victim's port there */
  source: string;
  victimPort: number;
  /** the request (a file of this machine) and its length */
  file: string;
  length: number;
}

/** hping3's argv: one UDP datagram (`-2`) with source `-a ADDR -s PORT` (kept: `-k`), its payload read from `-E FILE`. */
export function hpingArgv(f: Forgery): string[] {
  return [
    'hping3',
    f.server,
    '-2',
    '-a',
    f.source,
    '-s',
    String(f.victimPort),
    '-k',
    '-p',
    String(f.serverPort),
    '-c',
    '1',
    '-d',
    String(f.length),
    '-E',
    f.file,
  ];
}

/** The argv this machine runs to forge from `host`: hping3 in that host's network namespace. */
export async function forgerArgv(host: Host, f: Forgery): Promise<string[]> {
  if (!host.netnsArgv)
    throw new LabError('E_RUNTIME', `amplification: ${host.name} has no network namespace this machine can enter`);
  return host.netnsArgv(hpingArgv(f));
}

/** True when `exe` is an executable file in one of this machine's PATH folders. */
function onPath(exe: string): boolean {
  return (process.env.PATH ?? '').split(delimiter).some((d) => {
    try {
      accessSync(join(d, exe), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/** A node script's JSON line of `event` (undefined when it printed none). */
function eventOf(p: Placed, event: string): Record<string, unknown> | undefined {
  for (const l of p.out().split('\n')) {
    if (!l.startsWith('{')) continue;
    try {
      const j = JSON.parse(l) as Record<string, unknown>;
      if (j.event === event) return j;
    } catch {
      // not ours
    }
  }
  return undefined;
}

/** Waits (bounded) for a node script's line of `event`; a script that exits or stays silent is one clear error. */
function waitEvent(p: Placed, event: string, what: string, ms: number): Promise<Record<string, unknown>> {
  return new Promise((ok, fail) => {
    let done = false;
    const t = setTimeout(() => finish(`no ${event} line within ${ms / 1000} s`), ms);
    const finish = (why?: string) => {
      if (done) return;
      const j = eventOf(p, event);
      if (!j && why === undefined) return;
      done = true;
      clearTimeout(t);
      if (j) ok(j);
      else fail(new LabError('E_RUNTIME', `amplification: ${what} in ${p.host.name}: ${why}`));
    };
    p.onLine(() => finish());
    void p.exited.then((code) =>
      finish(`exited (${code}) before its ${event} line: ${p.err().trim().split('\n').pop() ?? ''}`),
    );
  });
}

/** Runs an argv on this machine (no shell), bounded. */
function run(argv: string[], timeoutMs: number): Promise<{ code: number; out: string; message: string }> {
  return new Promise((ok) => {
    execFile(argv[0]!, argv.slice(1), { timeout: timeoutMs }, (err, stdout, stderr) => {
      ok({
        code: err ? (typeof err.code === 'number' ? err.code : 1) : 0,
        out: `${stdout}${stderr}`,
        message: err?.message ?? '',
      });
    });
  });
}

export interface AmplificationPlan {
  /** where the real client, the sink and the victim run; hping3 forges from its address */
  client: Host;
  /** the server's address and the port the variant's server listens on */
  server: string;
  serverPort: number;
  /** the argv (on the client host) of the variant's real client sending to `target` (`host:port`) */
  clientArgv(target: string): string[];
  env?: Record<string, string>;
  /** the variant, for messages */
  label: string;
  windowMs: number;
  /** a step that placed something after teardown had begun (stops it, and throws) */
  placed?(p: Placed): void;
}

/** The attack (see the head of this file); every process it placed is ended before it returns or throws. */
export async function amplify(a: AmplificationPlan): Promise<AmplificationOutcome> {
  if (!onPath('hping3'))
    throw new LabError('E_RUNTIME', 'amplification needs hping3 (apt-get install hping3) to forge the source address');
  const addr = a.client.address;
  const started: Placed[] = [];
  const start = (cmd: string[], env?: Record<string, string>) => {
    const p = place(a.client, cmd, env ? { env } : {});
    started.push(p);
    a.placed?.(p);
    return p;
  };
  const dir = mkdtempSync(join(tmpdir(), 'udplab-amplify-'));
  try {
    const sink = start(['node', '-e', SINK_SCRIPT, addr]);
    const victim = start(['node', '-e', VICTIM_SCRIPT, addr]);
    const [sinkAt, victimAt] = await Promise.all([
      waitEvent(sink, 'listening', 'the sink', 10_000),
      waitEvent(victim, 'listening', 'the victim', 10_000),
    ]);
    const client = start(a.clientArgv(formatHostPort(addr, Number(sinkAt.port))), a.env);
    const caught = await waitEvent(sink, 'request', `the ${a.label} client's request`, 10_000).catch(() => {
      throw new LabError('E_RUNTIME', `amplification: the ${a.label} client sent no request within 10 s`);
    });
    await client.stop('SIGKILL');
    const request = Buffer.from(String(caught.base64), 'base64');
    const file = join(dir, 'request.bin');
    writeFileSync(file, request);
    const forgery: Forgery = {
      server: a.server,
      serverPort: a.serverPort,
      source: addr,
      victimPort: Number(victimAt.port),
      file,
      length: request.length,
    };
    const r = await run(await forgerArgv(a.client, forgery), 10_000);
    // hping3 exits 1 when no answer comes back to its own port, which is the point: the answer went elsewhere
    if (r.code !== 0 && !/1 packets transmitted/.test(r.out))
      throw new LabError(
        'E_RUNTIME',
        `hping3 (from ${a.client.name}): ${r.out.trim().split('\n').pop() || r.message.split('\n')[0]}`,
      );
    // the measurement's window: what the server sends the victim within it
    await new Promise((ok) => setTimeout(ok, a.windowMs));
    await victim.stop('SIGTERM');
    const counted = eventOf(victim, 'counted');
    if (!counted)
      throw new LabError(
        'E_RUNTIME',
        `amplification: the victim in ${a.client.name} did not say what it counted: ${victim.err().trim()}`,
      );
    return {
      requestBytes: request.length,
      victimBytes: Number(counted.bytes),
      victimDatagrams: Number(counted.datagrams),
    };
  } finally {
    await Promise.all(started.map((p) => p.stop('SIGKILL')));
    rmSync(dir, { recursive: true, force: true });
  }
}
