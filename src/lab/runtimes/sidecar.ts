// A resident sidecar: one long-lived container in a target's network namespace (`--network container:ID`, or
// `none` for a probe of its own) with NET_ADMIN, started once with `docker run -d` and entered for each command with
// `docker exec` — tens of milliseconds a command, where a `docker run --rm` sidecar per command (host.ts
// SidecarHost, `udplab shape --sidecar`) takes about a second. Fast enough for NetemPath to poll tc's counters
// every 10 ms and time blackouts from the first datagram, as on the containers the lab enters itself.
// It is a CommandHost (what a shaper needs), started on its first command (concurrent first commands share one
// start), and removed with `docker rm -f` by remove(), by its owner's teardown (its name is the owner's to list), or
// by the leftover sweep (labelled udplab=1 + udplab.owner). After remove() the next command starts it again: a
// target container that was restarted has a new network namespace, which a new sidecar joins.
import { type DockerExec, type ExecResult, execDocker } from '../shape.js';
import { labels } from './docker.js';
import type { CommandHost } from './host.js';

/** Its idle command: the image's `sleep` (GNU or busybox), for as long as an int's seconds; removal is SIGKILL. */
export const SIDECAR_IDLE = ['--entrypoint', 'sleep'];
export const SIDECAR_IDLE_ARGS = ['2147483647'];

export interface ResidentSidecarSpec {
  /** its container name (the owner lists it for teardown) */
  container: string;
  /** `container:ID` (the target's network namespace) or `none` */
  network: string;
  /** an image with tc and sleep: the udplab image */
  image: string;
  /** `udplab.role` (default `sidecar`) */
  role?: string;
}

/** `docker run -d` argv of a resident sidecar: labelled as the lab's, NET_ADMIN, idling until removed. */
export function residentSidecarRunArgv(s: ResidentSidecarSpec): string[] {
  const all = { ...labels(), 'udplab.role': s.role ?? 'sidecar' };
  return [
    'run',
    '-d',
    '--name',
    s.container,
    '--network',
    s.network,
    '--cap-add',
    'NET_ADMIN',
    ...Object.entries(all).flatMap(([k, v]) => ['--label', `${k}=${v}`]),
    ...SIDECAR_IDLE,
    s.image,
    ...SIDECAR_IDLE_ARGS,
  ];
}

/** docker's last words (its reason follows lines such as `Unable to find image … locally`) */
const lastLine = (s: string) =>
  s
    .trim()
    .split('\n')
    .filter((l) => l.trim())
    .pop() ?? '';

export class ResidentSidecar implements CommandHost {
  private started: Promise<ExecResult> | undefined;
  /** a removal in flight: a start waits for it (the container name is free again after it) */
  private removing: Promise<unknown> = Promise.resolve();

  constructor(
    /** for messages: `a sidecar in the server container's network namespace` */
    readonly name: string,
    readonly spec: ResidentSidecarSpec,
    private readonly docker: DockerExec = execDocker,
  ) {}

  /** Starts it once (`docker run -d`); the result of that start, shared by every caller until remove(). */
  start(): Promise<ExecResult> {
    this.started ??= this.removing.then(() => this.docker(residentSidecarRunArgv(this.spec)));
    return this.started;
  }

  /** `docker exec CONTAINER CMD…` (started first when it is not); a sidecar that cannot start is a failed result. */
  async exec(cmd: string[]): Promise<ExecResult> {
    const s = await this.start();
    if (s.code !== 0)
      return {
        code: s.code,
        stdout: '',
        stderr: `starting the sidecar ${this.spec.container} (${this.spec.image}, network ${this.spec.network}): ${lastLine(s.stderr) || lastLine(s.stdout) || `exit ${s.code}`}\n`,
      };
    return this.docker(['exec', this.spec.container, ...cmd]);
  }

  /** True while a start has been asked for and not removed since. */
  get running(): boolean {
    return this.started !== undefined;
  }

  /** `docker rm -f CONTAINER` when it was started (even a failed start may have created it); the next exec starts it again. */
  async remove(): Promise<void> {
    const was = this.started;
    if (!was) return;
    this.started = undefined;
    this.removing = was.then(() => this.docker(['rm', '-f', this.spec.container]));
    await this.removing;
  }
}
