// The Host seam (design §8; code review §8 rec. 1): where a runtime places a process — the argv that runs a
// command there (no shell), running it to its end (exec), spawning it (optionally in a process group of its own),
// reading a file it wrote, killing it, and the address it binds or is reached at. The local runtime's hosts are
// loopback; the netns runtime's are its two namespaces (`ip netns exec NS`, which execs, keeping the PID); the docker
// runtime's are its containers (`docker exec CONTAINER`). udplab's servers, relay and clients, users' programs
// (exec), tcpdump and the shapers' `tc` are all placed through it. A container that must not be entered (a user's
// image, which need not have `tc`) is reached for shaping only, through a sidecar in its network namespace
// (`SidecarHost`: a `CommandHost`, which runs commands to their end and nothing else).
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { LabError } from '../errors.js';
import { type DockerExec, type ExecResult, execDocker, sidecarArgv } from '../shape.js';

export type Role = 'server' | 'relay' | 'client';
export type { ExecResult };

/** A place that runs commands to their end: what a shaper needs (`tc`), nothing more. */
export interface CommandHost {
  /** For messages: `loopback`, `netns udplab-…-s3`, `container server`. */
  readonly name: string;
  /** Runs `cmd` here to its end (bounded in time); never throws for a non-zero exit. */
  exec(cmd: string[], o?: { env?: Record<string, string> }): Promise<ExecResult>;
}

export interface Host extends CommandHost {
  /** The address processes on this host bind (server, relay) or are reached at. */
  readonly address: string;
  /** The argv that runs `cmd` on this host. */
  argv(cmd: string[]): string[];
  /** Starts `cmd` here; `group`: in a process group of its own (setsid), so it can be killed whole. */
  spawn(cmd: string[], o?: { cwd?: string; env?: Record<string, string>; group?: boolean }): ChildProcess;
  readFile(path: string): Promise<Buffer>;
  /** Signals a process (a PID on this host), or with `group` its whole process group. */
  kill(pid: number, signal: NodeJS.Signals, o?: { group?: boolean }): void;
  /**
   * True when a spawned child is not the process itself (`docker exec`: the child is the docker client), so its
   * PID there must be asked for (`pidOnHost`).
   */
  readonly childIsProxy?: boolean;
}

/**
 * `cmd` behind `sh -c 'echo {"event":"pid","pid":$$}; exec "$@"'`: its first stdout line is its PID where it runs
 * (exec keeps the PID), its arguments untouched (no shell string is built from them).
 */
export function pidOnHost(cmd: string[]): string[] {
  return ['sh', '-c', 'echo "{\\"event\\":\\"pid\\",\\"pid\\":$$}"; exec "$@"', 'sh', ...cmd];
}

const EXEC_TIMEOUT_MS = 10_000;

/** Runs an argv on this machine (no shell), bounded at 10 s; a non-zero exit is a result, not an exception. */
function execArgv(argv: string[], env?: Record<string, string>): Promise<ExecResult> {
  const [exe, ...rest] = argv;
  return new Promise((ok) => {
    execFile(
      exe!,
      rest,
      { timeout: EXEC_TIMEOUT_MS, maxBuffer: 16 << 20, ...(env && { env: { ...process.env, ...env } }) },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        const why = err && typeof err.code !== 'number' ? `${err.message}\n` : '';
        ok({ code, stdout: String(stdout), stderr: `${String(stderr)}${why}` });
      },
    );
  });
}

/** A process on this machine, behind an optional argv prefix (`ip netns exec NS`). */
export class ProcessHost implements Host {
  constructor(
    readonly name: string,
    readonly address: string,
    private readonly prefix: string[] = [],
  ) {}

  argv(cmd: string[]): string[] {
    return [...this.prefix, ...cmd];
  }

  exec(cmd: string[], o: { env?: Record<string, string> } = {}): Promise<ExecResult> {
    return execArgv(this.argv(cmd), o.env);
  }

  spawn(cmd: string[], o: { cwd?: string; env?: Record<string, string>; group?: boolean } = {}): ChildProcess {
    const [exe, ...rest] = this.argv(cmd);
    return spawn(exe!, rest, {
      ...(o.cwd !== undefined && { cwd: o.cwd }),
      detached: o.group ?? false,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...o.env },
    });
  }

  readFile(path: string): Promise<Buffer> {
    return readFile(path); // namespaces share this machine's file system
  }

  kill(pid: number, signal: NodeJS.Signals, o: { group?: boolean } = {}): void {
    try {
      process.kill(o.group ? -pid : pid, signal);
    } catch {
      // ESRCH: already gone
    }
  }
}

/**
 * A running container, entered with `docker exec CONTAINER …` (argv arrays, never a shell string). PIDs are the
 * container's own (what a process there prints as its PID); files are read out through `base64`, which the udplab
 * image has, so binary files survive the text channel.
 */
export class ContainerHost implements Host {
  readonly childIsProxy = true;
  constructor(
    /** `container server`, for messages */
    readonly name: string,
    /** the container's ID or name */
    readonly id: string,
    readonly address: string,
    private readonly docker: DockerExec = execDocker,
  ) {}

  private execArgs(cmd: string[], o: { cwd?: string; env?: Record<string, string> } = {}): string[] {
    const env = Object.entries(o.env ?? {}).flatMap(([k, v]) => ['-e', `${k}=${v}`]);
    return ['exec', ...(o.cwd !== undefined ? ['-w', o.cwd] : []), ...env, this.id, ...cmd];
  }

  argv(cmd: string[]): string[] {
    return ['docker', ...this.execArgs(cmd)];
  }

  exec(cmd: string[], o: { env?: Record<string, string> } = {}): Promise<ExecResult> {
    return this.docker(this.execArgs(cmd, o));
  }

  /** The child is the `docker exec` client: its stdout and stderr are the command's, its exit the command's. */
  spawn(cmd: string[], o: { cwd?: string; env?: Record<string, string>; group?: boolean } = {}): ChildProcess {
    return spawn('docker', this.execArgs(cmd, o), { stdio: ['ignore', 'pipe', 'pipe'], detached: o.group ?? false });
  }

  async readFile(path: string): Promise<Buffer> {
    const r = await this.exec(['base64', '-w0', path]);
    if (r.code !== 0)
      throw new LabError('E_RUNTIME', `reading ${path} in ${this.name}: ${r.stderr.trim() || `exit ${r.code}`}`);
    return Buffer.from(r.stdout.trim(), 'base64');
  }

  /** `docker exec CONTAINER kill -s SIG PID` (a PID inside the container); not awaited, like process.kill. */
  kill(pid: number, signal: NodeJS.Signals, o: { group?: boolean } = {}): void {
    void this.docker(['exec', this.id, 'kill', '-s', signal.replace(/^SIG/, ''), '--', String(o.group ? -pid : pid)]);
  }
}

/**
 * A container whose image need not have `tc` (a user's), reached for commands through a short-lived sidecar in its
 * network namespace with NET_ADMIN (`docker run --rm --network container:ID --cap-add NET_ADMIN IMAGE …`), as
 * Pumba does; the sidecar is labelled as the lab's.
 */
export class SidecarHost implements CommandHost {
  constructor(
    /** `client eth0, from a sidecar`-style messages name the container */
    readonly name: string,
    readonly id: string,
    private readonly image: string,
    private readonly docker: DockerExec = execDocker,
  ) {}

  exec(cmd: string[]): Promise<ExecResult> {
    return this.docker(sidecarArgv({ id: this.id }, { argv: cmd }, this.image));
  }
}
