// The `image` protocol on the docker runtime: a user's implementation (any language) in a container image of its
// own, run to the endpoint contract (docs/endpoints.md) on the lab's `internal` network.
//   server  one container per implementation, `{bind}` 0.0.0.0, `{port}` chosen here, `{root}` a read-only bind
//           mount of a host folder holding the test file; kept for all runs until teardown.
//   client  one container per run, in the network namespace of an idle "client holder" container (a stable
//           address and one eth0 to shape), `{local}` on a bind-mounted host folder: the lab reads the file from
//           the host and checks its SHA-256 itself; timed from the container's own start and finish times.
//   ready   the port bound (the server's /proc/net/udp|tcp(6), read by a sidecar in its network namespace: the
//           user's image may have nothing but its program), a line of `docker logs` matching a regex, or a delay.
//   shaping the userspace relay (shapers/relay.ts's argv, read-back, counters) in a container of its own (this
//           host: no sch_netem), or kernel netem (shapers/netem.ts) put on the holder's eth0 (up) and the server's eth0
//           (down) from sidecars (host.ts SidecarHost), as Pumba does.
// Rules: every `docker` call is an argv array (no shell); every container is labelled udplab=1 + owner, and removed
// after its run (clients) or at teardown (servers, holder, relay); readiness and runs are bounded in time.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Blackout, Netem } from '../../impair/index.js';
import { LabError } from '../errors.js';
import type { ImageSpec } from '../protocols/types.js';
import { type DockerExec, execDocker, RELAY_ALTERNATIVE } from '../shape.js';
import { NetemPath, netemShaper } from '../shapers/netem.js';
import { type RelayListening, relayArgs, relayCounters, relayReadback } from '../shapers/relay.js';
import { buildImage, createInternalNetwork, type LabNetwork, labels } from './docker.js';
import { ExecServerError } from './exec.js';
import { SidecarHost } from './host.js';
import { writeContent } from './local.js';
import { type ClientOutcome, type PreparedFile, programPass } from './types.js';

/** The offline Python base (node lab/base/build.mjs --python) that implementations' Dockerfiles get as BASE. */
export const IMPL_BASE = 'udplab/python:local';
const SERVER_PORT_BASE = 4470;
const RELAY_PORT = 4456;
const ROOT_IN = '/udplab/root';
const OUT_IN = '/udplab/out';

/** One implementation, as the docker runtime runs it: its label, and the image protocol's spec (image, build, argv). */
export type ImageEndpointSpec = ImageSpec & { label: string };

export type ImageVerdict =
  | 'pass'
  | 'wrong bytes'
  | 'no file'
  | 'hung'
  | 'crashed'
  | 'server never ready'
  | 'server exited';

/** One client run, judged by the lab (never by the program's exit code). */
export interface ImageRunOutcome {
  verdict: ImageVerdict;
  /** why, in one line (empty on pass) */
  reason: string;
  /** from the container's start to its exit (Docker's own clock), ms */
  ms: number;
  exitCode: number | null;
  /** SHA-256 of `{local}` as found on disk, when there was a file */
  sha256Local?: string;
  sizeLocal?: number;
}

export { implTag } from '../protocols/image.js';

/** `docker build` argv of an implementation folder (legacy builder: no BuildKit here; labelled udplab=1). */
export function buildArgv(dir: string, tag: string, base = process.env.UDPLAB_IMPL_BASE ?? IMPL_BASE): string[] {
  return ['build', '--quiet', '--build-arg', `BASE=${base}`, '--label', 'udplab=1', '-t', tag, dir];
}

/** Replaces `{name}` placeholders in each argv element (never through a shell); unknown ones are an error. */
export function template(argv: string[], values: Record<string, string>, what: string): string[] {
  return argv.map((a) =>
    a.replace(/\{([a-z]+)\}/g, (m, k: string) => {
      const v = values[k];
      if (v === undefined) throw new LabError('E_SCENARIO_INVALID', `${what}: unknown placeholder ${m} in "${a}"`);
      return v;
    }),
  );
}

/** The environment of the contract: UDPLAB_BIND … UDPLAB_SEED, as `-e` pairs for docker run. */
export function envArgs(values: Record<string, string>): string[] {
  return Object.entries(values).flatMap(([k, v]) => ['-e', `UDPLAB_${k.toUpperCase()}=${v}`]);
}

/** `docker run -d` argv of the implementation's server: on NETWORK, the test file's folder read-only at {root}. */
export function serverRunArgv(o: {
  spec: ImageEndpointSpec;
  name: string;
  network: string;
  port: number;
  rootDir: string;
  seed: number;
}): string[] {
  const values = { bind: '0.0.0.0', port: String(o.port), root: ROOT_IN };
  return [
    'run',
    '-d',
    '--name',
    o.name,
    '--network',
    o.network,
    ...labelArgs('server'),
    '-v',
    `${o.rootDir}:${ROOT_IN}:ro`,
    ...envArgs({ ...values, seed: String(o.seed) }),
    o.spec.image,
    ...template(o.spec.server, values, `${o.spec.label} server`),
  ];
}

/** `docker run -d` argv of one client run: in the holder's network namespace, {local} in a bind-mounted folder. */
export function clientRunArgv(o: {
  spec: ImageEndpointSpec;
  name: string;
  holder: string;
  host: string;
  port: number;
  remote: string;
  outDir: string;
  local: string;
  seed: number;
  user?: string;
}): string[] {
  const values = { host: o.host, port: String(o.port), remote: o.remote, local: `${OUT_IN}/${o.local}` };
  return [
    'run',
    '-d',
    '--name',
    o.name,
    '--network',
    `container:${o.holder}`,
    ...labelArgs('client'),
    ...(o.user ? ['--user', o.user] : []),
    '-v',
    `${o.outDir}:${OUT_IN}`,
    ...envArgs({ ...values, seed: String(o.seed) }),
    o.spec.image,
    ...template(o.spec.client, values, `${o.spec.label} client`),
  ];
}

function labelArgs(role: string): string[] {
  const all = { ...labels(), 'udplab.role': role };
  return Object.entries(all).flatMap(([k, v]) => ['--label', `${k}=${v}`]);
}

/**
 * node -e PORTCHECK PORT TRANSPORT MS: exits 0 once PORT is bound in this network namespace (/proc/net/udp, udp6;
 * for tcp a LISTEN socket), 1 after MS. Run in a sidecar that shares the server's network namespace.
 */
export const PORTCHECK = `const fs=require('fs');const [p,t,ms]=process.argv.slice(1);
const hex=':'+Number(p).toString(16).toUpperCase().padStart(4,'0');const end=Date.now()+Number(ms);
const bound=()=>[t,t+'6'].some(f=>{try{return fs.readFileSync('/proc/net/'+f,'utf8').split('\\n').slice(1)
.some(l=>{const c=l.trim().split(/\\s+/);return c[1]&&c[1].endsWith(hex)&&(t==='udp'||c[3]==='0A')})}catch{return false}});
(function poll(){if(bound())process.exit(0);if(Date.now()>end)process.exit(1);setTimeout(poll,50)})()`;

/** The sidecar argv that waits for the port (in container:ID's network namespace, no capabilities needed). */
export function portCheckArgv(id: string, name: string, image: string, port: number, transport: string, ms: number) {
  return [
    'run',
    '--rm',
    '--name',
    name,
    '--network',
    `container:${id}`,
    ...labelArgs('sidecar'),
    image,
    'node',
    '-e',
    PORTCHECK,
    String(port),
    transport,
    String(ms),
  ];
}

/** The last non-empty line of a text. */
export function lastLine(s: string): string {
  return (
    s
      .trimEnd()
      .split('\n')
      .reverse()
      .find((l) => l.trim()) ?? ''
  ).trim();
}

const SIGNALS: Record<number, string> = {
  1: 'SIGHUP',
  2: 'SIGINT',
  6: 'SIGABRT',
  9: 'SIGKILL',
  11: 'SIGSEGV',
  15: 'SIGTERM',
};

/** "exit code 3" or "killed by SIGSEGV (exit code 139)": Docker reports a signal as 128 + its number. */
export function describeExit(code: number): string {
  if (code > 128 && code < 160) return `killed by ${SIGNALS[code - 128] ?? `signal ${code - 128}`} (exit code ${code})`;
  return `exit code ${code}`;
}

/** "N bytes written of M, first difference at byte K" (the exec runtime's wording). */
export function difference(expected: Buffer, got: Buffer): string {
  const n = Math.min(got.length, expected.length);
  let i = 0;
  while (i < n && got[i] === expected[i]) i++;
  return `${got.length} bytes written of ${expected.length}, first difference at byte ${i}`;
}

/**
 * Judges one run from what is on disk, compared with the file that was served (the contract: the exit code is not
 * trusted; the right bytes pass whatever the program said; a non-zero exit without them is a crash).
 */
export function judge(
  expected: Buffer,
  got: Buffer | undefined,
  run: { exitCode: number | null; timedOut: boolean; stderrLast: string; timeoutMs: number; local: string },
): Pick<ImageRunOutcome, 'verdict' | 'reason'> {
  if (run.timedOut)
    return { verdict: 'hung', reason: `killed after the scenario's timeout of ${run.timeoutMs / 1000} s` };
  if (got?.equals(expected)) return { verdict: 'pass', reason: '' };
  const onDisk = got === undefined ? 'no file' : `wrong bytes: ${difference(expected, got)}`;
  if (run.exitCode !== 0)
    return {
      verdict: 'crashed',
      reason: `${describeExit(run.exitCode ?? -1)}${run.stderrLast ? `: ${run.stderrLast}` : ''} (${onDisk})`,
    };
  if (got === undefined) return { verdict: 'no file', reason: `exit code 0 but nothing written to ${run.local}` };
  return { verdict: 'wrong bytes', reason: difference(expected, got) };
}

/** A run's outcome as the runner reads it: a pass carries a TransferResult timed by Docker; else verdict + reason. */
export function toClientOutcome(o: ImageRunOutcome, remote: string, local: string): ClientOutcome {
  if (o.verdict !== 'pass')
    return {
      ok: false,
      code: o.verdict,
      message: o.reason,
      ...(o.sha256Local !== undefined && { sha256Local: o.sha256Local }),
    };
  return programPass({ remote, local, bytes: o.sizeLocal ?? 0, durationMs: o.ms, sha256: o.sha256Local ?? '' });
}

interface Server {
  spec: ImageEndpointSpec;
  name: string;
  id: string;
  ip: string;
  port: number;
  /** set when the server never became ready or exited: every run gets this verdict */
  failed?: { verdict: 'server never ready' | 'server exited'; reason: string };
  /** what readiness the report should name */
  readyBy: string;
}

/**
 * A set of containers for image endpoints on one internal network: a client holder, servers on first use, a relay
 * or sidecar-applied netem between them, and clients per run. `stop()` removes everything, even after failures.
 */
export class ImageEndpointLab {
  shaper: 'netem' | 'userspace' = 'userspace';
  kernel = '';
  private net: LabNetwork | undefined;
  private ownNet = false;
  private holder = '';
  private relay = '';
  /** kernel netem on the path (from sidecars), while it is applied */
  private netem: NetemPath | undefined;
  private readonly servers = new Map<string, Server>();
  private readonly containers = new Set<string>();
  private readonly dirs: string[] = [];
  private rootDir = '';
  private file: Buffer = Buffer.alloc(0);
  private target: { host: string; port: number } | undefined;
  private seed = 1;
  private udplabImage = '';
  private runs = 0;
  private readonly tag = `${process.pid}-${Date.now().toString(36)}`;

  constructor(
    readonly notices: string[],
    private readonly shaperWanted: 'auto' | 'netem' | 'userspace' = 'auto',
    private readonly docker: DockerExec = execDocker,
    /** how long a server may take to become ready (the contract: 10 s) */
    readonly readyTimeoutMs = 10_000,
  ) {}

  private async must(args: string[], what: string): Promise<string> {
    const r = await this.docker(args);
    if (r.code !== 0)
      throw new LabError('E_RUNTIME', `${what}: ${lastLine(r.stderr) || lastLine(r.stdout) || `exit ${r.code}`}`);
    return r.stdout.trim();
  }

  private async inspect(name: string, format: string): Promise<string> {
    return (await this.docker(['inspect', '--type', 'container', '--format', format, name])).stdout.trim();
  }

  /**
   * Creates the network (unless given one), the client holder, and decides the shaper (netem probed from a sidecar).
   * The udplab image (holder, relay, sidecars) is built unless given.
   */
  async start(network?: LabNetwork, udplabImage?: string): Promise<void> {
    this.udplabImage = udplabImage ?? (await buildImage());
    this.ownNet = network === undefined;
    this.net = network ?? (await createInternalNetwork('udplab-img'));
    this.rootDir = this.tmp('root');
    chmodSync(this.rootDir, 0o755); // the server may run as any user of its image
    const holder = `udplab-img-${this.tag}-holder`;
    this.containers.add(holder);
    this.holder = await this.must(
      ['run', '-d', '--name', holder, '--network', this.net.name, ...labelArgs('client-holder'), this.udplabImage],
      'starting the client holder container',
    );
    this.kernel = await this.must(['exec', holder, 'uname', '-sr'], 'uname in the client holder');
    if (this.shaperWanted === 'userspace') return;
    const p = await netemShaper.probe(this.sidecar(this.holder, 'client'), 'eth0');
    if (p.ok) {
      this.shaper = 'netem';
      return;
    }
    const release = this.kernel.split(' ')[1] ?? this.kernel;
    const probe = /qdisc kind is unknown/i.test(p.detail)
      ? `this kernel (${release}) has no sch_netem (tc: "${p.detail}"); ${RELAY_ALTERNATIVE}`
      : `tc netem from a sidecar in the client holder's network namespace: ${p.detail}`;
    if (this.shaperWanted === 'netem') throw new LabError('E_SHAPER', `--shaper netem: ${probe}`);
    this.notices.push(
      `FALLBACK: image endpoints: kernel netem from a sidecar was refused (${probe.split(';')[0]}); shaping with the userspace relay in a container instead.`,
    );
  }

  /** Where `tc` runs for a container of this lab: a sidecar in its network namespace (the image needs no tc). */
  private sidecar(id: string, role: string): SidecarHost {
    return new SidecarHost(`a sidecar in the ${role} container's network namespace`, id, this.udplabImage, this.docker);
  }

  private tmp(what: string): string {
    const d = mkdtempSync(join(tmpdir(), `udplab-img-${what}-`));
    this.dirs.push(d);
    return d;
  }

  private async ipOf(name: string): Promise<string> {
    const ip = await this.inspect(name, `{{(index .NetworkSettings.Networks "${this.net!.name}").IPAddress}}`);
    if (!ip) throw new LabError('E_RUNTIME', `container ${name} has no address on ${this.net!.name}`);
    return ip;
  }

  /** Writes the test file into the folder every server mounts at {root}. */
  prepareFile(spec: { sizeBytes: number; content: 'random' | 'zeros' | 'text' } | { path: string }): PreparedFile {
    const path = join(this.rootDir, 'file.bin');
    if ('path' in spec) copyFileSync(spec.path, path);
    else writeContent(path, spec.sizeBytes, spec.content);
    this.file = readFileSync(path);
    chmodSync(path, 0o644);
    return {
      remote: 'file.bin',
      sizeBytes: this.file.length,
      sha256: createHash('sha256').update(this.file).digest('hex'),
    };
  }

  /** Builds the implementation's image when its spec says `build` (docker build, BASE = the offline Python base). */
  async ensureImage(spec: ImageEndpointSpec): Promise<void> {
    if (spec.build !== undefined) {
      if (!existsSync(join(spec.build, 'Dockerfile')))
        throw new LabError('E_IMAGE_BUILD', `${spec.label}: no Dockerfile in ${spec.build} (build: .)`);
      const r = await dockerLong(buildArgv(spec.build, spec.image), 600_000);
      if (r.code !== 0)
        throw new LabError(
          'E_IMAGE_BUILD',
          `${spec.label}: docker build ${spec.build} failed: ${lastLine(r.stderr) || lastLine(r.stdout)}`,
        );
      return;
    }
    const r = await this.docker(['image', 'inspect', '--format', '{{.Id}}', spec.image]);
    if (r.code !== 0)
      throw new LabError(
        'E_IMAGE_BUILD',
        `${spec.label}: image ${spec.image} is not in this Docker engine (build it, or give build: .)`,
      );
  }

  /** Starts the implementation's server on first use and waits for its readiness; a failure is kept as a verdict. */
  async ensureServer(spec: ImageEndpointSpec, seed: number): Promise<Server> {
    const known = this.servers.get(spec.label);
    if (known) return known;
    await this.ensureImage(spec);
    const port = SERVER_PORT_BASE + this.servers.size;
    const name = `udplab-img-${this.tag}-srv-${this.servers.size}`;
    this.containers.add(name);
    const id = await this.must(
      serverRunArgv({ spec, name, network: this.net!.name, port, rootDir: this.rootDir, seed }),
      `${spec.label}: starting its server container`,
    );
    const T = spec.transport.toUpperCase();
    const readyBy =
      'port' in spec.ready
        ? `${T} port ${port} bound (/proc/net/${spec.transport}, read from a sidecar)`
        : 'stdout' in spec.ready
          ? `stdout matched /${spec.ready.stdout}/`
          : `a delay of ${spec.ready.delayMs} ms (last resort: the lab did not check that the server listens)`;
    const server: Server = { spec, name, id, ip: '', port, readyBy };
    this.servers.set(spec.label, server);
    const failed = await this.waitReady(server);
    if (failed) server.failed = failed;
    else {
      server.ip = await this.ipOf(name);
      const n = `${spec.label}: server ready by ${readyBy}`;
      if (!this.notices.includes(n)) this.notices.push(n);
    }
    return server;
  }

  /** Why the server is not running, or undefined while it runs. */
  private async exited(s: Server): Promise<Server['failed']> {
    const state = await this.inspect(s.name, '{{.State.Running}} {{.State.ExitCode}}');
    const [running, code] = state.split(' ');
    if (running === 'true') return undefined;
    const logs = await this.docker(['logs', '--tail', '20', s.name]);
    const said = lastLine(logs.stderr) || lastLine(logs.stdout);
    return {
      verdict: 'server exited',
      reason: `the server exited${s.ip ? '' : ' before it was ready'}: ${describeExit(Number(code))}${said ? `: ${said}` : ''}`,
    };
  }

  private async waitReady(s: Server): Promise<Server['failed']> {
    const ms = this.readyTimeoutMs;
    const r = s.spec.ready;
    const end = Date.now() + ms;
    if ('delayMs' in r) {
      await new Promise((ok) => setTimeout(ok, r.delayMs));
      return this.exited(s);
    }
    if ('stdout' in r) {
      const re = new RegExp(r.stdout);
      while (Date.now() < end) {
        const logs = await this.docker(['logs', s.name]);
        if (logs.stdout.split('\n').some((l) => re.test(l))) return undefined;
        const gone = await this.exited(s);
        if (gone) return gone;
        await new Promise((ok) => setTimeout(ok, 100));
      }
      return (
        (await this.exited(s)) ?? {
          verdict: 'server never ready',
          reason: `no stdout line matched /${r.stdout}/ within ${ms / 1000} s`,
        }
      );
    }
    // port: a sidecar in the server's network namespace polls /proc/net; the server's state is watched meanwhile
    const side = `udplab-img-${this.tag}-ready-${this.servers.size}`;
    this.containers.add(side);
    let done = false;
    const check = this.docker(portCheckArgv(s.id, side, this.udplabImage, s.port, s.spec.transport, ms)).finally(() => {
      done = true;
    });
    for (;;) {
      const gone = await this.exited(s);
      if (gone) {
        await this.docker(['rm', '-f', side]);
        await check;
        return gone;
      }
      if (done) break;
      await Promise.race([check, new Promise((ok) => setTimeout(ok, 200))]);
    }
    const res = await check;
    this.containers.delete(side);
    if (res.code === 0) return undefined;
    return (
      (await this.exited(s)) ?? {
        verdict: 'server never ready',
        reason: `${s.spec.transport.toUpperCase()} port ${s.port} not bound within ${ms / 1000} s${res.code !== 1 ? ` (sidecar: ${lastLine(res.stderr)})` : ''}`,
      }
    );
  }

  /** Applies the impairment on the way to SPEC's server; returns the read-back (tc qdisc show, or the relay's line). */
  async applyShaping(req: {
    spec: ImageEndpointSpec;
    up: Netem;
    down: Netem;
    seed: number;
    mtu?: number;
    blackouts?: readonly Blackout[];
  }): Promise<string> {
    await this.clearShaping();
    this.seed = req.seed;
    const s = await this.ensureServer(req.spec, req.seed);
    if (s.failed) throw new ExecServerError(s.failed.verdict, s.failed.reason);
    this.target = { host: s.ip, port: s.port };
    if (this.shaper === 'netem') {
      if (req.blackouts?.length)
        throw new LabError(
          'E_SHAPER',
          'blackouts on kernel netem for image protocols: tc reaches their containers through a sidecar container per command (about a second each), too slow to time a window from the first datagram; run with --shaper userspace',
        );
      this.netem = new NetemPath([
        {
          host: this.sidecar(this.holder, 'client'),
          dev: 'eth0',
          direction: 'up',
          where: 'client eth0, from a sidecar',
        },
        { host: this.sidecar(s.id, 'server'), dev: 'eth0', direction: 'down', where: 'server eth0, from a sidecar' },
      ]);
      return this.netem.apply({ up: req.up, down: req.down });
    }
    if (s.spec.transport === 'tcp')
      return 'NOT SHAPED: the userspace relay carries UDP only; TCP runs on the clean path (kernel netem shapes it)';
    const relay = `udplab-img-${this.tag}-relay-${this.runs++}`;
    this.containers.add(relay);
    this.relay = relay;
    const argv = [
      'run',
      '-d',
      '--name',
      relay,
      '--network',
      this.net!.name,
      ...labelArgs('relay'),
      this.udplabImage,
      'udplab',
      ...relayArgs(req, `${s.ip}:${s.port}`, `0.0.0.0:${RELAY_PORT}`),
    ];
    await this.must(argv, 'starting the relay container');
    const end = Date.now() + 30_000;
    let line = '';
    while (Date.now() < end && !line) {
      const logs = await this.docker(['logs', relay]);
      line = logs.stdout.split('\n').find((l) => l.includes('"listening"')) ?? '';
      if (!line && (await this.inspect(relay, '{{.State.Running}}')) !== 'true')
        throw new LabError('E_RUNTIME', `udplab relay exited in its container: ${lastLine(logs.stderr)}`);
      if (!line) await new Promise((ok) => setTimeout(ok, 100));
    }
    if (!line) throw new LabError('E_RUNTIME', 'udplab relay did not start in its container within 30 s');
    this.target = { host: await this.ipOf(relay), port: RELAY_PORT };
    return relayReadback('userspace relay container', JSON.parse(line) as RelayListening, req);
  }

  /** Removes the impairment: the relay's closing report (its counters), or the netem qdiscs' read-back. */
  async clearShaping(): Promise<unknown> {
    const n = this.netem;
    this.netem = undefined;
    if (n) return n.clear();
    if (!this.relay) return undefined;
    const relay = this.relay;
    this.relay = '';
    await this.docker(['stop', '-t', '3', relay]);
    const logs = await this.docker(['logs', relay]);
    await this.docker(['rm', '-f', '-v', relay]);
    this.containers.delete(relay);
    return relayCounters(logs.stdout.split('\n'));
  }

  /** The server's failure, if it has one now (it may have exited since it became ready). */
  private async serverFailure(s: Server): Promise<Server['failed']> {
    if (s.failed) return s.failed;
    const gone = await this.exited(s);
    if (gone) s.failed = gone;
    return gone;
  }

  /** Runs COUNT clients at once, one container each; every container is removed before this returns. */
  async runClients(
    spec: ImageEndpointSpec,
    remote: string,
    timeoutMs: number,
    count: number,
  ): Promise<ImageRunOutcome[]> {
    const s = await this.ensureServer(spec, this.seed);
    const failed = await this.serverFailure(s);
    if (failed) return Array.from({ length: count }, () => ({ ...failed, ms: 0, exitCode: null }));
    const target = this.target ?? { host: s.ip, port: s.port };
    const outDir = this.tmp('out');
    const user = typeof process.getuid === 'function' ? `${process.getuid()}:${process.getgid!()}` : undefined;
    try {
      return await Promise.all(
        Array.from({ length: count }, (_, i) =>
          this.runOne(spec, target, remote, timeoutMs, outDir, `file-${i}.bin`, user),
        ),
      );
    } finally {
      rmSync(outDir, { recursive: true, force: true });
      this.dirs.splice(this.dirs.indexOf(outDir), 1);
    }
  }

  private async runOne(
    spec: ImageEndpointSpec,
    target: { host: string; port: number },
    remote: string,
    timeoutMs: number,
    outDir: string,
    local: string,
    user: string | undefined,
  ): Promise<ImageRunOutcome> {
    const name = `udplab-img-${this.tag}-cli-${this.runs++}`;
    this.containers.add(name);
    try {
      await this.must(
        clientRunArgv({
          spec,
          name,
          holder: this.holder,
          host: target.host,
          port: target.port,
          remote,
          outDir,
          local,
          seed: this.seed,
          ...(user && { user }),
        }),
        `${spec.label}: starting a client container`,
      );
      const waited = await dockerLong(['wait', name], timeoutMs);
      const timedOut = waited.code !== 0;
      if (timedOut) await this.docker(['kill', name]);
      const [started, finished, code] = (
        await this.inspect(name, '{{.State.StartedAt}} {{.State.FinishedAt}} {{.State.ExitCode}}')
      ).split(' ');
      const ms = Math.max(0, Date.parse(finished!) - Date.parse(started!));
      const logs = await this.docker(['logs', '--tail', '50', name]);
      const path = join(outDir, local);
      const got = existsSync(path) ? readFileSync(path) : undefined;
      const exitCode = timedOut ? null : Number(code);
      const j = judge(this.file, got, {
        exitCode,
        timedOut,
        stderrLast: lastLine(logs.stderr),
        timeoutMs,
        local: `${OUT_IN}/${local}`,
      });
      return {
        ...j,
        ms: timedOut ? timeoutMs : ms,
        exitCode,
        ...(got && { sha256Local: createHash('sha256').update(got).digest('hex'), sizeLocal: got.length }),
      };
    } finally {
      await this.docker(['rm', '-f', '-v', name]);
      this.containers.delete(name);
    }
  }

  private capture: { name: string; path: string } | undefined;

  /**
   * Starts tcpdump in a sidecar in the client holder's network namespace (every client of a run sends from there),
   * filtered on the port the clients send to; returns why not when it cannot.
   */
  async startCapture(pcapPath: string): Promise<string | undefined> {
    const name = `udplab-img-${this.tag}-capture-${this.runs++}`;
    this.containers.add(name);
    const port = this.target?.port;
    const r = await this.docker([
      'run',
      '-d',
      '--name',
      name,
      '--network',
      `container:${this.holder}`,
      ...labelArgs('capture'),
      this.udplabImage,
      'tcpdump',
      '-i',
      'eth0',
      '-p',
      '-U',
      '--immediate-mode',
      '-s',
      '256',
      '-w',
      '/tmp/capture.pcap',
      ...(port ? ['port', String(port)] : []),
    ]);
    let why: string | undefined = r.code === 0 ? undefined : `tcpdump sidecar: ${lastLine(r.stderr)}`;
    for (let i = 0; !why && i < 50; i++) {
      const logs = await this.docker(['logs', name]);
      if (/listening on/.test(logs.stderr + logs.stdout)) {
        this.capture = { name, path: pcapPath };
        return undefined;
      }
      if ((await this.inspect(name, '{{.State.Running}}')) !== 'true') why = `tcpdump: ${lastLine(logs.stderr)}`;
      else await new Promise((ok) => setTimeout(ok, 100));
    }
    await this.docker(['rm', '-f', name]);
    this.containers.delete(name);
    return why ?? 'tcpdump did not start within 5 s in its sidecar';
  }

  /** Stops the capture (tcpdump flushes on SIGTERM), copies the pcap out, returns its size in bytes. */
  async stopCapture(): Promise<number> {
    const c = this.capture;
    if (!c) return 0;
    this.capture = undefined;
    await this.docker(['stop', '-t', '3', c.name]);
    const cp = await this.docker(['cp', `${c.name}:/tmp/capture.pcap`, c.path]);
    await this.docker(['rm', '-f', c.name]);
    this.containers.delete(c.name);
    return cp.code === 0 && existsSync(c.path) ? readFileSync(c.path).length : 0;
  }

  /** Removes every container this lab started (servers, holder, relay, sidecars, clients), its network and folders. */
  async stop(): Promise<void> {
    const names = [...this.containers];
    if (names.length > 0) await this.docker(['rm', '-f', '-v', ...names]);
    this.containers.clear();
    this.servers.clear();
    if (this.ownNet) await this.net?.remove();
    this.net = undefined;
    for (const d of this.dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  }
}

/** `docker ARGS` with a longer bound (builds, `docker wait` for a run): code 124 when the bound was hit. */
function dockerLong(args: string[], timeoutMs: number): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((ok) => {
    execFile(
      'docker',
      args,
      { timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 4 << 20, env: { ...process.env, DOCKER_BUILDKIT: '0' } },
      (err, stdout, stderr) => {
        const killed = err !== null && (err as { killed?: boolean }).killed === true;
        const code = err ? (killed ? 124 : typeof err.code === 'number' ? err.code : 1) : 0;
        ok({ code, stdout: String(stdout), stderr: String(stderr) });
      },
    );
  });
}
