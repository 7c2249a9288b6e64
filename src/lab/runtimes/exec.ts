// Placing a user's program (protocol `exec`, docs/endpoints.md) on the local and netns runtimes: argv filled
// from templates (no shell), the contract's environment, the implementation's cwd, each program in a process
// group of its own (killed whole after every client run and at teardown), readiness watched in the server's own
// network namespace, and the outcome read from the file on disk — never from the program's word.
import type { ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { execEnv, fill } from '../protocols/exec.js';
import type { ExecSpec } from '../protocols/index.js';
import type { Host } from './host.js';
import { jailArgv, kept } from './jail.js';
import { judgedFile } from './judged-file.js';
import { boundedLines, readyLine, readyLineText } from './lines.js';
import {
  type Ids,
  type Limits,
  othersPath,
  type Probe,
  prlimitArgv,
  probeRoot,
  resourceLimits,
  setprivArgv,
} from './privsep.js';
import { type ClientOutcome, programPass } from './types.js';

/** How long a server may take to be ready (port bound, line printed): the contract's 10 s. */
export const READY_TIMEOUT_MS = 10_000;

/** A program started in a process group of its own, with its output drained (a full pipe would block it). */
export interface Proc {
  child: ChildProcess;
  /** Where it runs. */
  host: Host;
  /** The process group (= the leader's PID). */
  pgid: number;
  /** The value of UDPLAB_PROC in its environment, inherited by everything it starts (see `tagged`). */
  tag: string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  lastStderr: () => string;
  /** Calls `f` with each stdout line (cut to LINE_MAX bytes) until the function it returns is called. */
  onLine: (f: (line: string) => void) => () => void;
}

let procSeq = 0;

/** The argv prefix that runs a program as PID 1 of a PID namespace of its own (util-linux's unshare). */
export const PIDNS_ARGV = ['unshare', '--pid', '--fork', '--kill-child', '--mount-proc'];

let pidNs: Probe | undefined;

/**
 * Can programs run in a PID namespace of their own here (root, and `unshare` from util-linux)? Probed once, by
 * running `unshare --pid --fork --kill-child --mount-proc true`. When it can, ending the program's process group
 * ends the namespace, and the kernel kills everything in it: also what cleared its environment and left the group.
 */
export function pidNamespace(): Probe {
  pidNs ??= probeRoot(PIDNS_ARGV, 'it needs root on Linux');
  return pidNs;
}

/** The notice a report carries when programs run without a PID namespace (and so, when it is missing). */
export function pidNamespaceNotice(): string | undefined {
  const p = pidNamespace();
  return p.ok
    ? undefined
    : `exec programs run without a PID namespace of their own (${p.why}): what they start is found by its ${PROC_TAG} mark, so a descendant that clears its environment and leaves the process group can outlive the run`;
}

/** Whom a program runs as (./privsep.ts), and under which resource limits (when `prlimit` works here). */
export type RunAs = Ids & { limits?: Limits };

/**
 * Starts a program in a process group of its own (and a PID namespace when it can); with `as`, as that user, without
 * capabilities, under its limits (./privsep.ts: prlimit, then setpriv, after unshare, which needs root).
 */
/** What the lab passes on of its own environment to a dropped program, besides the contract's UDPLAB_* values. */
const PASSED = ['LANG', 'LC_ALL', 'LC_CTYPE', 'TZ', 'TERM'];

/**
 * The whole environment of a program dropped to a user of its own: the contract's UDPLAB_* values, its mark, a PATH
 * its user can search, HOME and TMPDIR its own /tmp (jail.ts), the locale, and what the operator names in
 * UDPLAB_PASS_ENV (comma-separated) — never the rest of the lab's environment (a token, a password, a registry
 * credential the grader's shell happens to hold).
 */
export function programEnv(env: Readonly<Record<string, string>>, tag: string): Record<string, string> {
  const out: Record<string, string> = { PATH: othersPath().path, HOME: '/tmp', TMPDIR: '/tmp' };
  const named = (process.env.UDPLAB_PASS_ENV ?? '').split(',').map((n) => n.trim());
  for (const k of [...PASSED, ...named]) {
    const v = process.env[k];
    if (k && !k.includes('=') && v !== undefined) out[k] = v;
  }
  return { ...out, ...env, [PROC_TAG]: tag };
}

export function startProc(argv: string[], cwd: string, env: Record<string, string>, host: Host, as?: RunAs): Proc {
  const cmd = argv[0];
  // a mark in the environment that every descendant inherits, even one that leaves the group (setsid, double fork)
  const tag = `${process.pid}.${++procSeq}`;
  // group: setsid, so the program and everything it starts share a process group the lab can kill whole; in a PID
  // namespace of its own when it can be (the group's leader is then unshare, and the program is the namespace's
  // PID 1: when it dies, the kernel kills everything left in the namespace)
  const limits = as?.limits && resourceLimits().ok ? prlimitArgv(as.limits) : [];
  // a dropped program gets only the environment it needs (programEnv), not the lab's: `env -i` before setpriv
  const own = as ? programEnv(env, tag) : undefined;
  const dropped = own
    ? ['env', '-i', ...Object.entries(own).map(([k, v]) => `${k}=${v}`), ...limits, ...setprivArgv(as!), ...argv]
    : argv;
  // and, in its PID namespace's mount namespace, /tmp, /dev/shm, … of its own, and an IPC namespace (./jail.ts)
  const full = !pidNamespace().ok
    ? dropped
    : own
      ? [...PIDNS_ARGV, '--ipc', ...jailArgv(kept(argv, cwd, own), cwd), ...dropped]
      : [...PIDNS_ARGV, ...dropped];
  const path = own ? { PATH: own.PATH! } : {};
  const child = host.spawn(full, { cwd, env: { ...env, ...path, [PROC_TAG]: tag }, group: true });
  const stderrLines: string[] = [];
  const listeners: Array<(l: string) => void> = [];
  // both read to their end, a line at most LINE_MAX bytes kept (./lines.ts): a program's output holds no more
  boundedLines(child.stderr!, (l) => {
    if (l.trim()) stderrLines.push(l);
    if (stderrLines.length > 20) stderrLines.shift();
  });
  boundedLines(child.stdout!, (l) => {
    for (const f of [...listeners]) f(l);
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((ok) => {
    child.once('exit', (code, signal) => ok({ code, signal }));
    child.once('error', (e) => {
      stderrLines.push(`${cmd}: ${e.message}`);
      ok({ code: 127, signal: null });
    });
  });
  return {
    child,
    host,
    pgid: child.pid ?? -1,
    tag,
    exited,
    lastStderr: () => stderrLines.at(-1) ?? '',
    onLine: (f) => {
      listeners.push(f);
      return () => {
        const i = listeners.indexOf(f);
        if (i >= 0) listeners.splice(i, 1);
      };
    },
  };
}

/** PIDs of live (not zombie) processes in a process group. */
export function groupMembers(pgid: number): number[] {
  if (pgid <= 0) return [];
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // state ppid pgrp …
      if (Number(f[2]) === pgid && f[0] !== 'Z') out.push(Number(d));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** The environment variable that marks a program the lab started, and everything that program starts. */
export const PROC_TAG = 'UDPLAB_PROC';

/**
 * PIDs of live processes whose environment carries UDPLAB_PROC=`tag`: the program's descendants, also those that
 * left its process group and session (setsid, double fork). One that clears its environment is not found: the PID
 * namespace (pidNamespace) ends those; /proc/PID/environ of another user's process is unreadable unless root.
 */
export function tagged(tag: string): number[] {
  const needle = Buffer.from(`\0${PROC_TAG}=${tag}\0`);
  const first = Buffer.from(`${PROC_TAG}=${tag}\0`);
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d) || Number(d) === process.pid) continue;
    try {
      const env = readFileSync(`/proc/${d}/environ`);
      if (env.indexOf(needle) >= 0 || env.subarray(0, first.length).equals(first)) out.push(Number(d));
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return out;
}

/**
 * SIGKILLs a whole process group (with a PID namespace: unshare and the namespace's PID 1, whose death ends
 * everything in the namespace), and every process that carries the program's UDPLAB_PROC mark (a setsid'd or
 * double-forked descendant escapes the group, not the mark), and waits (at most 3 s) until none of it is left.
 */
export async function killGroup(p: Proc): Promise<void> {
  if (p.pgid <= 0) return;
  const deadline = Date.now() + 3000;
  do {
    p.host.kill(p.pgid, 'SIGKILL', { group: true }); // ESRCH when nothing is left: ignored
    const escaped = tagged(p.tag);
    for (const pid of escaped) {
      try {
        process.kill(pid, 'SIGKILL'); // the namespaces share this machine's PIDs
      } catch {
        // ESRCH: already gone
      }
    }
    if (groupMembers(p.pgid).length === 0 && escaped.length === 0) break;
    await new Promise((ok) => setTimeout(ok, 20));
  } while (Date.now() < deadline);
  if (p.child.exitCode === null && p.child.signalCode === null) await Promise.race([p.exited, sleep(1000)]);
}

const sleep = (ms: number) => new Promise((ok) => setTimeout(ok, ms));

/**
 * The owners (uids) of the sockets bound (UDP) or listening (TCP) on `port` in the network namespace of `pid`: none
 * when it is free. Reads /proc/PID/net/{udp,tcp}{,6} (column 8 is the socket's uid).
 */
export function portOwners(pid: number, transport: 'udp' | 'tcp', port: number): number[] {
  const out: number[] = [];
  for (const f of [transport, `${transport}6`]) {
    let text: string;
    try {
      text = readFileSync(`/proc/${pid}/net/${f}`, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length < 8) continue;
      const p = Number.parseInt(cols[1]!.split(':')[1] ?? '', 16);
      if (p === port && (transport === 'udp' || cols[3] === '0A')) out.push(Number(cols[7]));
    }
  }
  return out;
}

/** Why a server is not serving: the verdict and its reason. */
export class ExecServerError extends Error {
  constructor(
    readonly verdict: 'server never ready' | 'server exited',
    message: string,
  ) {
    super(message);
  }
}

export interface ExecServer {
  proc: Proc;
  port: number;
  /** How readiness was decided (the report says so). */
  readiness: string;
  /** Set once the server exited: code or signal, and its last stderr line. */
  exit: () => string | undefined;
}

const exitText = (e: { code: number | null; signal: NodeJS.Signals | null }, stderr: string) =>
  `${e.signal ? `killed by ${e.signal}` : `exit code ${e.code}`}${stderr ? `: ${stderr}` : ''}`;

/** Starts an implementation's server and waits until it is ready, or throws ExecServerError. */
export async function startExecServer(o: {
  spec: ExecSpec;
  host: Host;
  bind: string;
  port: number;
  root: string;
  seed: number;
  /** the user it runs as (./privsep.ts); its port then counts as bound only by a socket of that user's */
  as?: RunAs;
}): Promise<ExecServer> {
  const values = { bind: o.bind, port: String(o.port), root: o.root };
  const env = execEnv({ ...values, seed: String(o.seed) });
  const proc = startProc(fill(o.spec.server, values), o.spec.cwd, env, o.host, o.as);
  let exit: string | undefined;
  void proc.exited.then((e) => {
    exit = exitText(e, proc.lastStderr());
  });
  const r = o.spec.ready;
  let readiness: string;
  let matched = false;
  // plain text, not a regular expression: a manifest's pattern never runs in the lab (./lines.ts)
  const isReady = 'stdout' in r ? readyLine(r.stdout) : undefined;
  // removed once the server is ready (a server that is not is killed); its output is still drained (startProc)
  const unwatch = isReady
    ? proc.onLine((l) => {
        if (isReady(l)) matched = true;
      })
    : () => {};
  const deadline = Date.now() + ('delayMs' in r ? r.delayMs : READY_TIMEOUT_MS);
  for (;;) {
    await sleep(20);
    if (exit !== undefined) {
      await sleep(50); // let the last stderr line arrive
      throw new ExecServerError(
        'server exited',
        `the server exited before it was ready: ${exitText(await proc.exited, proc.lastStderr())}`,
      );
    }
    // a socket of another user's on the port: someone else took it (another implementation's program)
    const owners = portOwners(proc.pgid, o.spec.transport, o.port);
    const other = o.as && owners.find((u) => u !== o.as!.uid);
    if (other !== undefined) {
      await killGroup(proc);
      throw new ExecServerError(
        'server never ready',
        `${o.spec.transport.toUpperCase()} port ${o.port} taken by another program (uid ${other}, not the server's ${o.as!.uid})`,
      );
    }
    if ('port' in r && owners.length > 0) {
      readiness = `${o.spec.transport.toUpperCase()} port ${o.port} bound (/proc/net/${o.spec.transport})`;
      break;
    }
    if ('stdout' in r && matched) {
      readiness = `a ${readyLineText(r.stdout)}`;
      break;
    }
    if (Date.now() >= deadline) {
      if ('delayMs' in r) {
        readiness = `a delay of ${r.delayMs} ms (last resort: the lab did not check that the server listens)`;
        break;
      }
      await killGroup(proc);
      throw new ExecServerError(
        'server never ready',
        'port' in r
          ? `${o.spec.transport.toUpperCase()} port ${o.port} not bound within ${READY_TIMEOUT_MS / 1000} s${proc.lastStderr() ? ` (last stderr: ${proc.lastStderr()})` : ''}`
          : `no ${readyLineText(r.stdout)} within ${READY_TIMEOUT_MS / 1000} s${proc.lastStderr() ? ` (last stderr: ${proc.lastStderr()})` : ''}`,
      );
    }
  }
  unwatch();
  return { proc, port: o.port, readiness, exit: () => exit };
}

/** A running client of an implementation: its process, when it started, and whether the lab killed it. */
export interface ExecClient {
  proc: Proc;
  startedMs: number;
  timedOut: () => boolean;
}

export function startExecClient(o: {
  argv: string[];
  spec: ExecSpec;
  host: Host;
  values: { host: string; port: string; remote: string; local: string };
  seed: number;
  timeoutMs: number;
  /** the user it runs as (./privsep.ts) */
  as?: RunAs;
}): ExecClient {
  const startedMs = performance.now();
  const proc = startProc(o.argv, o.spec.cwd, execEnv({ ...o.values, seed: String(o.seed) }), o.host, o.as);
  let killed = false;
  const timer = setTimeout(() => {
    killed = true;
    void killGroup(proc);
  }, o.timeoutMs);
  void proc.exited.then(() => clearTimeout(timer));
  return { proc, startedMs, timedOut: () => killed };
}

/** Waits for a client, kills what is left of its process group, and judges the file it left (docs/endpoints.md). */
export async function finishExecClient(
  c: ExecClient,
  o: { local: string; remote: string; original: string; sha256: string; timeoutMs: number },
): Promise<ClientOutcome> {
  const e = await c.proc.exited;
  const durationMs = Math.max(1, Math.round(performance.now() - c.startedMs));
  await killGroup(c.proc); // whatever it started is not left running
  await sleep(20); // the last stderr line
  // judged where it lies (the namespaces share this machine's file system): opened, never followed (judged-file.ts)
  const j = await judgedFile(o.local, { path: o.original, sha256: o.sha256 });
  const sha = j.kind === 'file' ? j.sha256 : undefined;
  if (c.timedOut()) return fail('hung', `killed after the scenario's timeout of ${o.timeoutMs / 1000} s`, sha);
  if (j.kind === 'file' && sha === o.sha256)
    return programPass({ remote: o.remote, local: o.local, bytes: j.size, durationMs, sha256: j.sha256 });
  const wrong = j.kind === 'none' ? undefined : j.kind === 'refused' ? j.reason : j.difference!;
  const onDisk = wrong === undefined ? 'no file' : `wrong bytes: ${wrong}`;
  if (e.signal !== null || e.code !== 0) return fail('crashed', `${exitText(e, c.proc.lastStderr())} (${onDisk})`, sha);
  return wrong === undefined
    ? fail('no file', `exit code 0 but nothing written to ${o.local}`, sha)
    : fail('wrong bytes', wrong, sha);
}

function fail(code: string, message: string, sha: string | undefined): ClientOutcome {
  return { ok: false, code, message, ...(sha !== undefined && { sha256Local: sha }) };
}
