// The Host seam (design §8; code review §8 rec. 1): where a runtime places a process — the argv that runs a
// command there (no shell), running it to its end (exec), spawning it (optionally in a process group of its own),
// its files (read, size, SHA-256, copied in from this machine and out to it), killing it, and the address it binds
// or is reached at. The local runtime's hosts are loopback; the netns runtime's are its two namespaces
// (`ip netns exec NS`, which execs, keeping the PID); the docker and swarm runtimes' are their containers
// (`docker exec CONTAINER`, through an injectable `docker` argv prefix). `place` starts a process on a host and
// knows its PID there (asked for with `pidOnHost` where the child is only `docker exec`), so it is signalled where it
// runs. udplab's servers, relay and clients, users' programs (exec), tcpdump and the shapers' `tc` are all placed
// through it (the shared jobs: ./placed.ts). A container that must not be entered (a user's image, which need not
// have `tc`) is reached for shaping only, through a sidecar in its network namespace: a `CommandHost`, which runs
// commands to their end and nothing else — the lab keeps one resident per container (./sidecar.ts); `SidecarHost`
// here starts one per command (`docker run --rm`, about a second each), the baseline that sidecar is measured against.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { copyFile, readdir, readFile, rm, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { LabError } from '../errors.js';
import { exitedWithin } from '../process.js';
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
  /** The size of a file here; undefined when there is none. */
  size(path: string): Promise<number | undefined>;
  /** The SHA-256 (hex) of a file here, read where it lies; undefined when there is none. */
  sha256(path: string): Promise<string | undefined>;
  /** Puts a file of this machine at `path` here (nothing to do when it is the same file). */
  copyIn(localPath: string, path: string): Promise<void>;
  /** Copies a file from here to `localPath` on this machine; false when there is none. */
  copyOut(path: string, localPath: string): Promise<boolean>;
  /** Removes the regular files in `dir` whose names start with `prefix` (a download's file, its parts and journal). */
  removeNamed(dir: string, prefix: string): Promise<void>;
  /** Signals a process (a PID on this host), or with `group` its whole process group. */
  kill(pid: number, signal: NodeJS.Signals, o?: { group?: boolean }): void;
  /**
   * True when a spawned child is not the process itself (`docker exec`: the child is the docker client), so its
   * PID there must be asked for (`pidOnHost`).
   */
  readonly childIsProxy?: boolean;
  /**
   * The argv that runs a binary of this machine (`cmd`, e.g. hping3, which the host need not have) in this host's
   * network namespace, from this machine; absent where this machine cannot enter it.
   */
  netnsArgv?(cmd: string[]): Promise<string[]>;
}

/**
 * `cmd` behind `sh -c 'echo {"event":"pid","pid":$$}; exec "$@"'`: its first stdout line is its PID where it runs
 * (exec keeps the PID), its arguments untouched (no shell string is built from them).
 */
export function pidOnHost(cmd: string[]): string[] {
  return ['sh', '-c', 'echo "{\\"event\\":\\"pid\\",\\"pid\\":$$}"; exec "$@"', 'sh', ...cmd];
}

const EXEC_TIMEOUT_MS = 10_000;

/** The SHA-256 (hex) of a file of this machine, streamed. */
export async function sha256OfFile(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** Runs an argv on this machine (no shell), bounded (10 s unless told); a non-zero exit is a result, not an exception. */
function execArgv(
  argv: readonly string[],
  env?: Record<string, string>,
  timeoutMs = EXEC_TIMEOUT_MS,
): Promise<ExecResult> {
  const [exe, ...rest] = argv;
  return new Promise((ok) => {
    execFile(
      exe!,
      rest,
      { timeout: timeoutMs, maxBuffer: 64 << 20, ...(env && { env: { ...process.env, ...env } }) },
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

  /** Its prefix (`ip netns exec NS`, or none on this machine's own network) runs this machine's binaries already. */
  async netnsArgv(cmd: string[]): Promise<string[]> {
    return this.argv(cmd);
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

  size(path: string): Promise<number | undefined> {
    return stat(path).then(
      (s) => (s.isFile() ? s.size : undefined),
      () => undefined,
    );
  }

  async sha256(path: string): Promise<string | undefined> {
    return (await this.size(path)) === undefined ? undefined : sha256OfFile(path);
  }

  async copyIn(localPath: string, path: string): Promise<void> {
    if (resolve(localPath) !== resolve(path)) await copyFile(localPath, path);
  }

  async copyOut(path: string, localPath: string): Promise<boolean> {
    if ((await this.size(path)) === undefined) return false;
    if (resolve(localPath) !== resolve(path)) await copyFile(path, localPath);
    return true;
  }

  /** Through this machine's file system (no `find` needed on PATH: the namespaces share it). */
  async removeNamed(dir: string, prefix: string): Promise<void> {
    const names = await readdir(dir).catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') return [] as string[];
      throw e;
    });
    for (const n of names.filter((x) => x.startsWith(prefix))) await rm(join(dir, n), { force: true });
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
 * How this machine runs `docker`: the argv prefix (`docker`, or `docker --host URL` for another node's engine) that
 * `docker exec` children are spawned with, and commands run to their end with the same prefix.
 */
export interface DockerCli {
  readonly argv: readonly string[];
  readonly exec: DockerExec;
}

/** `docker` (or `docker --host URL …`: any prefix) as a DockerCli; its commands are bounded at 120 s (a `docker cp`). */
export function dockerCli(argv: readonly string[] = ['docker']): DockerCli {
  return {
    argv,
    exec: (args) =>
      argv.length === 1 && argv[0] === 'docker' ? execDocker(args) : execArgv([...argv, ...args], undefined, 120_000),
  };
}

/**
 * A running container, entered with `docker exec CONTAINER …` (argv arrays, never a shell string), through an
 * injectable `docker` (DockerCli: its argv prefix for spawned children, and its commands run to their end). PIDs are
 * the container's own (what a process there prints as its PID); small files are read out through `base64`, which
 * the udplab image has, so binary files survive the text channel; whole files move with `docker cp`.
 */
export class ContainerHost implements Host {
  readonly childIsProxy = true;
  constructor(
    /** `container server`, for messages */
    readonly name: string,
    /** the container's ID or name */
    readonly id: string,
    readonly address: string,
    private readonly docker: DockerCli = dockerCli(),
  ) {}

  private execArgs(cmd: string[], o: { cwd?: string; env?: Record<string, string> } = {}): string[] {
    const env = Object.entries(o.env ?? {}).flatMap(([k, v]) => ['-e', `${k}=${v}`]);
    return ['exec', ...(o.cwd !== undefined ? ['-w', o.cwd] : []), ...env, this.id, ...cmd];
  }

  argv(cmd: string[]): string[] {
    return [...this.docker.argv, ...this.execArgs(cmd)];
  }

  exec(cmd: string[], o: { env?: Record<string, string> } = {}): Promise<ExecResult> {
    return this.docker.exec(this.execArgs(cmd, o));
  }

  /**
   * `nsenter -t PID -n CMD`: the container's network namespace entered from this machine, PID its main process's
   * here (`docker inspect -f {{.State.Pid}}`); only for a container of this machine's own engine.
   */
  async netnsArgv(cmd: string[]): Promise<string[]> {
    if (this.docker.argv.length !== 1 || this.docker.argv[0] !== 'docker')
      throw new LabError(
        'E_RUNTIME',
        `${this.name} runs on another engine (${this.docker.argv.join(' ')}): its network namespace is not on this machine`,
      );
    const r = await this.docker.exec(['inspect', '-f', '{{.State.Pid}}', this.id]);
    const pid = Number(r.stdout.trim());
    if (r.code !== 0 || !Number.isInteger(pid) || pid <= 0)
      throw new LabError(
        'E_RUNTIME',
        `the PID of ${this.name} on this machine: ${r.stderr.trim() || `docker inspect said "${r.stdout.trim()}"`}`,
      );
    return ['nsenter', '-t', String(pid), '-n', ...cmd];
  }

  /** The child is the `docker exec` client: its stdout and stderr are the command's, its exit the command's. */
  spawn(cmd: string[], o: { cwd?: string; env?: Record<string, string>; group?: boolean } = {}): ChildProcess {
    const [exe, ...pre] = this.docker.argv;
    return spawn(exe!, [...pre, ...this.execArgs(cmd, o)], {
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: o.group ?? false,
    });
  }

  async readFile(path: string): Promise<Buffer> {
    const r = await this.exec(['base64', '-w0', path]);
    if (r.code !== 0)
      throw new LabError('E_RUNTIME', `reading ${path} in ${this.name}: ${r.stderr.trim() || `exit ${r.code}`}`);
    return Buffer.from(r.stdout.trim(), 'base64');
  }

  /** `stat -c %s` (regular files only). */
  async size(path: string): Promise<number | undefined> {
    const r = await this.exec(['stat', '-c', '%F %s', '--', path]);
    const m = /^regular (?:empty )?file (\d+)$/.exec(r.stdout.trim());
    return r.code === 0 && m ? Number(m[1]) : undefined;
  }

  /** `sha256sum` in the container. */
  async sha256(path: string): Promise<string | undefined> {
    const r = await this.exec(['sha256sum', '--', path]);
    return r.code === 0 ? r.stdout.split(' ')[0] : undefined;
  }

  /** `docker cp LOCAL CONTAINER:PATH`. */
  async copyIn(localPath: string, path: string): Promise<void> {
    const r = await this.docker.exec(['cp', localPath, `${this.id}:${path}`]);
    if (r.code !== 0)
      throw new LabError(
        'E_RUNTIME',
        `copying ${localPath} to ${path} in ${this.name}: ${r.stderr.trim() || `exit ${r.code}`}`,
      );
  }

  /** `docker cp CONTAINER:PATH LOCAL`, for a regular file only. */
  async copyOut(path: string, localPath: string): Promise<boolean> {
    if ((await this.size(path)) === undefined) return false;
    return (await this.docker.exec(['cp', `${this.id}:${path}`, localPath])).code === 0;
  }

  /** `find DIR -maxdepth 1 -type f -name PREFIX* -delete` in the container (the udplab image has find). */
  async removeNamed(dir: string, prefix: string): Promise<void> {
    const r = await this.exec(['find', dir, '-maxdepth', '1', '-type', 'f', '-name', `${prefix}*`, '-delete']);
    if (r.code !== 0)
      throw new LabError(
        'E_RUNTIME',
        `removing ${prefix}* in ${dir} in ${this.name}: ${r.stderr.trim() || `exit ${r.code}`}`,
      );
  }

  /** `docker exec CONTAINER kill -s SIG PID` (a PID inside the container); not awaited, like process.kill. */
  kill(pid: number, signal: NodeJS.Signals, o: { group?: boolean } = {}): void {
    void this.docker.exec([
      'exec',
      this.id,
      'kill',
      '-s',
      signal.replace(/^SIG/, ''),
      '--',
      String(o.group ? -pid : pid),
    ]);
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

/** A process placed on a host by `place`: signalled by its own PID where it runs. */
export interface Placed {
  readonly host: Host;
  /** The process this machine started (the process itself, or the `docker exec` that runs it). */
  readonly child: ChildProcess;
  /** Its exit code (null when a signal ended it; a `docker exec` says 128+N). */
  readonly exited: Promise<number | null>;
  /** Its stdout lines (not pidOnHost's), as they come, from the first. */
  onLine(f: (line: string) => void): void;
  /** All it printed so far. */
  out(): string;
  err(): string;
  /** Its PID where it runs; undefined when it ended before saying. */
  pid(): Promise<number | undefined>;
  alive(): boolean;
  /** Signals it where it runs. */
  signal(sig: NodeJS.Signals): Promise<void>;
  /** `sig` (SIGTERM unless told), then SIGKILL after 3 s; resolves once it has exited (bounded). */
  stop(sig?: NodeJS.Signals): Promise<void>;
}

/**
 * Starts `cmd` on a host. Where the child is only a proxy (`docker exec`), the command first prints its PID there
 * (`pidOnHost`), so signals reach it and not only the proxy; that line is kept out of its output.
 */
export function place(host: Host, cmd: string[], o: { env?: Record<string, string> } = {}): Placed {
  const child = host.spawn(host.childIsProxy ? pidOnHost(cmd) : cmd, { ...(o.env && { env: o.env }) });
  let out = '';
  let err = '';
  const seen: string[] = [];
  const listeners: Array<(l: string) => void> = [];
  let echoed: ((pid: number | undefined) => void) | undefined;
  const pid = host.childIsProxy ? new Promise<number | undefined>((ok) => (echoed = ok)) : Promise.resolve(child.pid);
  createInterface({ input: child.stdout! }).on('line', (l) => {
    const m = echoed && /^\{"event":"pid","pid":(\d+)\}$/.exec(l);
    if (m) {
      echoed!(Number(m[1]));
      echoed = undefined;
      return;
    }
    out += `${l}\n`;
    seen.push(l);
    for (const f of listeners) f(l);
  });
  child.stderr!.on('data', (d) => {
    err += d;
  });
  const exited = new Promise<number | null>((ok) => {
    child.once('error', (e) => {
      err += `${cmd[0]}: ${e.message}\n`;
      ok(127);
    });
    // its stdout closed too: every line it printed has been read
    child.once('close', (code) => ok(code));
  });
  void exited.then(() => echoed?.(undefined));
  const alive = () => child.exitCode === null && child.signalCode === null;
  const signal = async (sig: NodeJS.Signals) => {
    const p = await pid;
    if (p !== undefined && alive()) host.kill(p, sig);
  };
  return {
    host,
    child,
    exited,
    onLine: (f) => {
      for (const l of seen) f(l);
      listeners.push(f);
    },
    out: () => out,
    err: () => err,
    pid: () => pid,
    alive,
    signal,
    async stop(sig: NodeJS.Signals = 'SIGTERM') {
      if (!alive()) return;
      await signal(sig);
      if (await exitedWithin(child, 3000)) return;
      await signal('SIGKILL');
      child.kill('SIGKILL');
      await exitedWithin(child, 3000);
    },
  };
}
