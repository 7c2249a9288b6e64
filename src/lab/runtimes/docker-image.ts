// The `image` protocol on the docker runtime: a user's implementation (any language) in a container image of its
// own, run to the endpoint contract (docs/endpoints.md) on the lab's `internal` network.
//   server  one container per implementation, `{bind}` 0.0.0.0, `{port}` chosen here, `{root}` a read-only bind
//           mount of a host folder holding the test file; kept for all runs until teardown (restarted by a fault).
//   client  one container per run, in the network namespace of an idle "client holder" container (a stable
//           address and one eth0 to shape), `{local}` on a bind-mounted host folder: the lab reads the file from
//           the host and checks its SHA-256 itself; timed from the container's own start and finish times.
//   ready   the port bound (the server's /proc/net/udp|tcp(6), read by a sidecar in its network namespace: the
//           user's image may have nothing but its program), a line of `docker logs` matching a regex, or a delay.
//   shaping the userspace relay (shapers/relay.ts's argv, read-back, counters) in a container of its own (this
//           host: no sch_netem; the UDP servers then on an internal network of their own that only the relay joins
//           too, out of the clients' reach), or kernel netem (shapers/netem.ts's NetemPath, blackouts included) put
//           on the holder's eth0 (up) and the server's eth0 (down) from resident sidecars (sidecar.ts: one long-lived
//           container in each one's network namespace with NET_ADMIN, entered with `docker exec`), as Pumba does; a
//           restarted server gets a new sidecar (its network namespace is new).
//   faults  the client's or the server's container killed when {local} holds the fault's share (as for exec).
// This file holds the lab's life cycle and its shaping; argv (docker-image-argv.ts), grading (docker-image-grade.ts),
// server placement and readiness (docker-image-servers.ts), clients, faults and capture (docker-image-clients.ts).
// Rules: every `docker` call is an argv array (no shell); every container is labelled udplab=1 + owner, and removed
// after its run (clients) or at teardown (servers, holder, relay); readiness and runs are bounded in time.
import { chmodSync, copyFileSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Blackout, Netem } from '../../impair/index.js';
import { LabError } from '../errors.js';
import type { Fault, FaultRecord } from '../protocols/index.js';
import { type DockerExec, execDocker, RELAY_ALTERNATIVE } from '../shape.js';
import { NetemPath, type NetemPathOptions, netemShaper } from '../shapers/netem.js';
import { type RelayListening, relayArgs, relayCounters, relayReadback } from '../shapers/relay.js';
import { buildImage, createInternalNetwork, type LabNetwork } from './docker.js';
import { type ImageEndpointSpec, labelArgs } from './docker-image-argv.js';
import { type ClientPlan, runClient, runClientWithFaults, startCapture, stopCapture } from './docker-image-clients.js';
import { type HashedFile, type ImageRunOutcome, lastLine, sha256Sync } from './docker-image-grade.js';
import { ensureImage, type ImageLabContext, type Server, serverExited, startServer } from './docker-image-servers.js';
import { ExecServerError } from './exec.js';
import { writeContent } from './placed.js';
import { ResidentSidecar } from './sidecar.js';
import type { ClientOutcome, PreparedFile } from './types.js';

export { implTag } from '../protocols/image.js';
export { IMPL_BASE, type ImageEndpointSpec } from './docker-image-argv.js';

const SERVER_PORT_BASE = 4470;
const RELAY_PORT = 4456;

/**
 * A set of containers for image endpoints on one internal network: a client holder, servers on first use, a relay
 * or sidecar-applied netem between them, and clients per run. `stop()` removes everything, even after failures.
 */
export class ImageEndpointLab {
  shaper: 'netem' | 'userspace' = 'userspace';
  kernel = '';
  private net: LabNetwork | undefined;
  private ownNet = false;
  /**
   * With the relay: the servers' own internal network, which only the relay container joins besides them, so a client
   * (on `net`, in the holder's namespace) cannot reach a server past the relay (issue #18, C3).
   */
  private serverNet: LabNetwork | undefined;
  private holder = '';
  private relay = '';
  /** kernel netem on the path (from sidecars), while it is applied */
  private netem: NetemPath | undefined;
  /** one resident sidecar per container that netem shapes (holder, servers), by container ID, until stop() */
  private readonly sidecars = new Map<string, ResidentSidecar>();
  private readonly servers = new Map<string, Server>();
  private readonly containers = new Set<string>();
  private readonly dirs: string[] = [];
  private rootDir = '';
  /** the served file on the host, and its SHA-256 */
  private original: HashedFile = { path: '', sha256: '' };
  private target: { host: string; port: number } | undefined;
  private seed = 1;
  private udplabImage = '';
  private runs = 0;
  private readonly tag = `${process.pid}-${Date.now().toString(36)}`;

  constructor(
    readonly notices: string[],
    private readonly shaperWanted: 'auto' | 'netem' | 'userspace' = 'auto',
    private readonly docker: DockerExec = execDocker,
    /** how long a server may take to be ready (the contract: 10 s) */
    readonly readyTimeoutMs = 10_000,
    /** NetemPath's clock and poll interval (tests) */
    private readonly netemOptions: NetemPathOptions = {},
  ) {}

  /** What the placement and client functions (docker-image-servers.ts, docker-image-clients.ts) need of this lab. */
  private get ctx(): ImageLabContext {
    return {
      docker: this.docker,
      tag: this.tag,
      udplabImage: this.udplabImage,
      network: (this.serverNet ?? this.net!).name,
      holder: this.holder,
      containers: this.containers,
      notices: this.notices,
      readyTimeoutMs: this.readyTimeoutMs,
      seq: () => this.runs++,
      restarted: (s) => this.serverRestarted(s),
      must: (args, what) => this.must(args, what),
      inspect: (name, format) => this.inspect(name, format),
      ipOf: (name) => this.ipOf(name), // a server's: on one network only
    };
  }

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
    if (this.shaperWanted !== 'userspace') {
      const p = await netemShaper.probe(this.sidecar(this.holder, 'client'), 'eth0');
      if (p.ok) {
        this.shaper = 'netem';
        return;
      }
      await this.relayInstead(p.detail);
    }
    // through the lab's docker (owner-labelled as createInternalNetwork's: the leftover sweep removes it)
    const name = `udplab-img-${this.tag}-srv`;
    await this.must(
      ['network', 'create', '--internal', ...labelArgs('servers'), name],
      "creating the servers' network",
    );
    this.serverNet = {
      name,
      remove: async () => {
        await this.docker(['network', 'rm', name]);
      },
    };
    this.notices.push(
      'image endpoints behind the relay: the servers are on an internal network of their own, which only the relay container joins; a client cannot reach a server past it',
    );
  }

  /** netem from a sidecar was refused: the relay shapes (said loudly), or --shaper netem fails. */
  private async relayInstead(detail: string): Promise<void> {
    await this.dropSidecar(this.holder, true); // the relay shapes: no tc from here on
    const release = this.kernel.split(' ')[1] ?? this.kernel;
    const probe = /qdisc kind is unknown/i.test(detail)
      ? `this kernel (${release}) has no sch_netem (tc: "${detail}"); ${RELAY_ALTERNATIVE}`
      : `tc netem from a sidecar in the client holder's network namespace: ${detail}`;
    if (this.shaperWanted === 'netem') throw new LabError('E_SHAPER', `--shaper netem: ${probe}`);
    this.notices.push(
      `FALLBACK: image endpoints: kernel netem from a sidecar was refused (${probe.split(';')[0]}); shaping with the userspace relay in a container instead.`,
    );
  }

  /**
   * Where `tc` runs for a container of this lab: its resident sidecar (the image needs no tc), started on its first
   * command and kept until stop(); `docker exec` into it takes tens of ms, so blackouts can be timed through it.
   */
  private sidecar(id: string, role: string): ResidentSidecar {
    let s = this.sidecars.get(id);
    if (!s) {
      const container = `udplab-img-${this.tag}-tc-${role}-${this.sidecars.size}`;
      this.containers.add(container);
      s = new ResidentSidecar(
        `a sidecar in the ${role} container's network namespace`,
        { container, network: `container:${id}`, image: this.udplabImage },
        this.docker,
      );
      this.sidecars.set(id, s);
    }
    return s;
  }

  /**
   * A fault restarted SERVER's container: it has a new network namespace, without the netem put on its eth0. Its
   * sidecar is replaced by one in the new namespace, and the path's netem is applied there again (said once).
   */
  private async serverRestarted(server: Server): Promise<void> {
    await this.dropSidecar(server.id);
    const side = this.sidecars.get(server.id);
    if (!this.netem || !side || (await this.netem.reapply(side)) === 0) return;
    const n = `kernel netem: a fault restarted ${server.spec.label}'s server container (a new network namespace): its netem was applied again from a new sidecar, and its counters count from the restart`;
    if (!this.notices.includes(n)) this.notices.push(n);
  }

  /**
   * Removes a container's resident sidecar: the next command starts a new one in the container's current network
   * namespace (a restarted container has a new one), unless `forget` (no more commands: netem is not used).
   */
  private async dropSidecar(id: string, forget = false): Promise<void> {
    const s = this.sidecars.get(id);
    if (!s) return;
    await s.remove();
    if (!forget) return;
    this.sidecars.delete(id);
    this.containers.delete(s.spec.container);
  }

  private tmp(what: string): string {
    const d = mkdtempSync(join(tmpdir(), `udplab-img-${what}-`));
    this.dirs.push(d);
    return d;
  }

  /** A container's address on NETWORK; without one, its address on the one network it is on (a server). */
  private async ipOf(name: string, network?: string): Promise<string> {
    const format = network
      ? `{{(index .NetworkSettings.Networks "${network}").IPAddress}}`
      : '{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}';
    const ip = (await this.inspect(name, format)).split(' ')[0];
    if (!ip) throw new LabError('E_RUNTIME', `container ${name} has no address${network ? ` on ${network}` : ''}`);
    return ip;
  }

  /** Writes the test file into the folder every server mounts at {root}. */
  prepareFile(spec: { sizeBytes: number; content: 'random' | 'zeros' | 'text' } | { path: string }): PreparedFile {
    const path = join(this.rootDir, 'file.bin');
    if ('path' in spec) copyFileSync(spec.path, path);
    else writeContent(path, spec.sizeBytes, spec.content);
    chmodSync(path, 0o644);
    this.original = { path, sha256: sha256Sync(path) };
    return { remote: 'file.bin', sizeBytes: statSync(path).size, sha256: this.original.sha256 };
  }

  /** Builds the implementation's image when its spec says `build` (docker build, BASE = the offline Python base). */
  ensureImage(spec: ImageEndpointSpec): Promise<void> {
    return ensureImage(this.ctx, spec);
  }

  /** Starts the implementation's server on first use and waits for its readiness; a failure is kept as a verdict. */
  async ensureServer(spec: ImageEndpointSpec, seed: number): Promise<Server> {
    const known = this.servers.get(spec.label);
    if (known) return known;
    const index = this.servers.size;
    // a TCP server stays on the clients' network: the relay carries UDP only, so TCP goes to it unshaped
    const ctx = spec.transport === 'tcp' ? { ...this.ctx, network: this.net!.name } : this.ctx;
    const s = await startServer(ctx, spec, {
      index,
      port: SERVER_PORT_BASE + index,
      rootDir: this.rootDir,
      seed,
    });
    this.servers.set(spec.label, s);
    return s;
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
      this.netem = new NetemPath(
        [
          {
            host: this.sidecar(this.holder, 'client'),
            dev: 'eth0',
            direction: 'up',
            where: 'client eth0, from a sidecar',
          },
          { host: this.sidecar(s.id, 'server'), dev: 'eth0', direction: 'down', where: 'server eth0, from a sidecar' },
        ],
        this.netemOptions,
      );
      return this.netem.apply({ up: req.up, down: req.down }, req.blackouts);
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
    // the servers' network too: the relay alone joins both (its upstream sockets send nothing before a client does)
    if (this.serverNet)
      await this.must(['network', 'connect', this.serverNet.name, relay], 'connecting the relay to the servers');
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
    this.target = { host: await this.ipOf(relay, this.net!.name), port: RELAY_PORT };
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
    const gone = await serverExited(this.ctx, s);
    if (gone) s.failed = gone;
    return gone;
  }

  /** Where the clients of a run send, and what they share; undefined (with the reason) when the server is not serving. */
  private async plan(
    spec: ImageEndpointSpec,
    remote: string,
  ): Promise<{ server: Server; plan: ClientPlan } | { failed: NonNullable<Server['failed']> }> {
    const server = await this.ensureServer(spec, this.seed);
    const failed = await this.serverFailure(server);
    if (failed) return { failed };
    const outDir = this.tmp('out');
    const user = typeof process.getuid === 'function' ? `${process.getuid()}:${process.getgid!()}` : undefined;
    const target = this.target ?? { host: server.ip, port: server.port };
    return { server, plan: { spec, target, remote, outDir, seed: this.seed, user, original: this.original } };
  }

  private dropDir(dir: string): void {
    rmSync(dir, { recursive: true, force: true });
    this.dirs.splice(this.dirs.indexOf(dir), 1);
  }

  /** Runs COUNT clients at once, one container each; every container is removed before this returns. */
  async runClients(
    spec: ImageEndpointSpec,
    remote: string,
    timeoutMs: number,
    count: number,
  ): Promise<ImageRunOutcome[]> {
    const r = await this.plan(spec, remote);
    if ('failed' in r) return Array.from({ length: count }, () => ({ ...r.failed, ms: 0, exitCode: null }));
    try {
      return await Promise.all(
        Array.from({ length: count }, (_, i) => runClient(this.ctx, r.plan, `file-${i}.bin`, timeoutMs)),
      );
    } finally {
      this.dropDir(r.plan.outDir);
    }
  }

  /** One client run with crash faults (docker-image-clients.ts): the fault records and the run's outcome. */
  async runWithFaults(
    spec: ImageEndpointSpec,
    remote: string,
    timeoutMs: number,
    faults: Fault[],
  ): Promise<{ outcome: ClientOutcome; faults: FaultRecord[] }> {
    const r = await this.plan(spec, remote);
    if ('failed' in r) return { outcome: { ok: false, code: r.failed.verdict, message: r.failed.reason }, faults: [] };
    try {
      return await runClientWithFaults(this.ctx, r.plan, r.server, timeoutMs, faults);
    } finally {
      this.dropDir(r.plan.outDir);
    }
  }

  private capture: { name: string; path: string } | undefined;

  /**
   * Starts tcpdump in a sidecar in the client holder's network namespace (every client of a run sends from there),
   * filtered on the port the clients send to; returns why not when it cannot.
   */
  async startCapture(pcapPath: string): Promise<string | undefined> {
    const r = await startCapture(this.ctx, this.target?.port);
    if ('why' in r) return r.why;
    this.capture = { name: r.name, path: pcapPath };
    return undefined;
  }

  /** Stops the capture (tcpdump flushes on SIGTERM), copies the pcap out, returns its size in bytes. */
  async stopCapture(): Promise<number> {
    const c = this.capture;
    if (!c) return 0;
    this.capture = undefined;
    return stopCapture(this.ctx, c.name, c.path);
  }

  /** The containers (by name), own network and folders that stop() has not removed yet. */
  leftovers(): { containers: string[]; networks: string[]; dirs: string[] } {
    return {
      containers: [...this.containers],
      networks: [...(this.ownNet && this.net ? [this.net.name] : []), ...(this.serverNet ? [this.serverNet.name] : [])],
      dirs: [...this.dirs],
    };
  }

  /** Removes every container this lab started (servers, holder, relay, sidecars, clients), its network and folders. */
  async stop(): Promise<void> {
    this.sidecars.clear(); // their containers are in `containers`
    const names = [...this.containers];
    if (names.length > 0) await this.docker(['rm', '-f', '-v', ...names]);
    this.containers.clear();
    this.servers.clear();
    if (this.ownNet) await this.net?.remove();
    this.net = undefined;
    await this.serverNet?.remove();
    this.serverNet = undefined;
    for (const d of this.dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  }
}
