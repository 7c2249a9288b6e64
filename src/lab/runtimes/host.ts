// The Host seam (design §8; code review §8 rec. 1): where a runtime places a process — the argv that runs a
// command there (no shell), spawning it (optionally in a process group of its own), reading a file it wrote,
// killing it, and the address it binds or is reached at. The local runtime's hosts are loopback; the netns
// runtime's are its two namespaces (`ip netns exec NS`, which execs, keeping the PID). udplab's servers, relay and
// clients, users' programs (exec) and tcpdump are all placed through it.
import { type ChildProcess, spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';

export type Role = 'server' | 'relay' | 'client';

export interface Host {
  /** For messages: `loopback`, `netns udplab-…-s3`. */
  readonly name: string;
  /** The address processes on this host bind (server, relay) or are reached at. */
  readonly address: string;
  /** The argv that runs `cmd` on this host. */
  argv(cmd: string[]): string[];
  /** Starts `cmd` here; `group`: in a process group of its own (setsid), so it can be killed whole. */
  spawn(cmd: string[], o?: { cwd?: string; env?: Record<string, string>; group?: boolean }): ChildProcess;
  readFile(path: string): Promise<Buffer>;
  /** Signals a process, or with `group` its whole process group. */
  kill(pid: number, signal: NodeJS.Signals, o?: { group?: boolean }): void;
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
