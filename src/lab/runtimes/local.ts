// The `local` runtime: servers, relay and clients as separate processes on loopback (any OS, no root).
// The shaper is always the userspace relay (UDP only: TCP runs unshaped, and says so). Servers, the relay, clients,
// faults, capture and the test file are ./placed.ts over this runtime's hosts (`ProcessHost`s: loopback here,
// `ip netns exec` in the netns subclass, ./netns.ts); this file keeps a folder of its own (the server's root, the
// clients' files, a home per role: the RUFT server makes its identity there, a client pins it on first contact),
// users' programs (`protocol: exec`, placed with ./exec.ts); the reflection test (amplification) is ./placed.ts's
// too, over ./amplification.ts.
import { createSocket } from 'node:dgram';
import {
  chmodSync,
  chownSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  statSync,
} from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_LINK_MTU } from '../../transport/index.js';
import {
  clientArgs,
  type Fault,
  type FaultRecord,
  isExec,
  resumable,
  serverSpec,
  type Variant,
} from '../protocols/index.js';
import { packageRoot } from './docker.js';
import {
  ExecServerError,
  finishExecClient,
  killGroup,
  type Proc,
  pidNamespaceNotice,
  startExecClient,
  startExecServer,
} from './exec.js';
import { type Host, ProcessHost, type Role } from './host.js';
import { PlacedRuntime, type RunningServer, stoppingError, waitForShare } from './placed.js';
import {
  type IdPair,
  IdPool,
  labLimits,
  limitsNotice,
  othersPath,
  privilegeDrop,
  privilegeDropNotice,
  unreadableBy,
} from './privsep.js';
import {
  type ClientOutcome,
  faultRecord,
  type Leftovers,
  notResumable,
  type RuntimeName,
  type ShaperName,
  type ShapingRequest,
} from './types.js';

export { startTimeoutMs } from '../process.js';

/**
 * udplab's processes on this machine, each role with a home of its own, and users' programs. The `local` runtime
 * places them on loopback; a subclass places them elsewhere (network namespaces) through `host(role)`,
 * `captureInterface` and `netemEnds`.
 */
export class LocalRuntime extends PlacedRuntime {
  readonly name: RuntimeName = 'local';
  shaper: ShaperName = 'userspace';
  kernel = `${process.platform} (loopback, no kernel shaping)`;
  protected readonly dir = mkdtempSync(join(tmpdir(), 'udplab-lab-'));
  /** The users exec programs run as (./privsep.ts), when the lab is root; else they keep the lab's user. */
  private readonly ids = privilegeDrop().ok ? new IdPool() : undefined;
  /** Each implementation's own folders (and users): see `implementation`. */
  private readonly impls = new Map<string, Implementation>();
  /** Where a role's processes run: this machine's loopback. */
  protected host(_role: Role): Host {
    return new ProcessHost('loopback', this.ip === 6 ? '::1' : '127.0.0.1');
  }
  protected udplab(): string[] {
    return [process.execPath, join(packageRoot(), 'bin', 'udplab.js')];
  }
  protected folders(): { root: string; clients: string; stage: string } {
    return { root: join(this.dir, 'root'), clients: join(this.dir, 'client'), stage: join(this.dir, 'root') };
  }
  /** The link the relay emulates (the scenario's `mtu:`, else the relay's default): what RUFT is told below. */
  private linkMtu = DEFAULT_LINK_MTU;
  protected override home(role: Role): Record<string, string> {
    // On loopback RUFT would read the route MTU 65,536 and probe datagrams no Ethernet link carries: it is told the
    // emulated link's MTU instead (transport/path-mtu.ts), as an endpoint of that link reads its interface's. In
    // network namespaces the veth's MTU already bounds it (and `mtu:` applies to the relay alone).
    return {
      UDPLAB_HOME: join(this.dir, `${role}-home`),
      ...(this.name === 'local' && { UDPLAB_LINK_MTU: String(this.linkMtu) }),
    };
  }
  override async applyShaping(r: ShapingRequest): Promise<string> {
    this.linkMtu = r.mtu ?? DEFAULT_LINK_MTU;
    return super.applyShaping(r);
  }
  /** Where the client's packets can be captured. */
  protected captureInterface(): string {
    return 'lo';
  }
  protected override captureRefusal(): string | undefined {
    return process.getuid?.() !== 0 ? 'packet capture needs root' : undefined;
  }
  /** exec servers that never became ready: every run of theirs fails with this, without trying again. */
  private readonly serverFailures = new Map<string, ExecServerError>();
  /** Ports for exec servers in a namespace of our own (netns): nothing else binds there below 32768. */
  private nextPort = 20_000;
  /** Users' programs running as clients now (exec): teardown kills their process groups. */
  private readonly execClients = new Set<Proc>();

  constructor(
    notices: string[],
    /** The IP version of the path: 6 puts server, relay and client on ::1. */
    protected readonly ip: 4 | 6 = 4,
  ) {
    super(notices);
  }

  async start(): Promise<void> {
    mkdirSync(join(this.dir, 'root'));
    mkdirSync(join(this.dir, 'client'));
    if (this.ids) {
      // programs run as other users: the lab's folder they may cross (to their own) but not list; udplab's own
      // folders (the stage of the served file, its clients' files) not at all
      chmodSync(this.dir, 0o711);
      for (const d of ['root', 'client']) chmodSync(join(this.dir, d), 0o700);
    }
  }

  /** The served file's size (prepareFile): dropped programs' RLIMIT_FSIZE follows from it (./privsep.ts). */
  private fileBytes = 0;
  override async prepareFile(
    spec: Parameters<PlacedRuntime['prepareFile']>[0],
  ): ReturnType<PlacedRuntime['prepareFile']> {
    const f = await super.prepareFile(spec);
    this.fileBytes = f.sizeBytes;
    return f;
  }

  /** Once, with the first implementation: whose user its programs run as. */
  private userNotices(): void {
    const ns = privilegeDropNotice() ?? [
      "exec programs run as unprivileged users of their own (setpriv: no capabilities, no supplementary groups): each implementation's server and its clients as two users, other than every other implementation's; the served file readable by its server only, {local}'s folder writable by its clients only",
      ...(othersPath().left.length > 0
        ? [`exec programs' PATH leaves out what their users cannot read: ${othersPath().left.join(', ')}`]
        : []),
      limitsNotice(labLimits(this.fileBytes)),
    ];
    for (const n of typeof ns === 'string' ? [ns] : ns) if (!this.notices.includes(n)) this.notices.push(n);
  }

  /**
   * The implementation's own folders, made on first use: `{root}` (the served file, copied from the stage) and its
   * clients' folder, under `impl-N/` of the lab's folder. When programs run as other users (./privsep.ts) `{root}`
   * and the file in it are root's, readable by the server's group only (0750/0640: not writable by the server, not
   * readable by the clients), the clients' folder the clients' own (0700), `impl-N/` crossable only (0711).
   */
  private implementation(v: Variant): Implementation {
    const key = serverSpec(v).key;
    const known = this.impls.get(key);
    if (known) return known;
    this.userNotices();
    const unreadable = this.ids && unreadableBy(serverSpec(v).exec!.cwd);
    if (unreadable)
      throw new ExecServerError(
        'server never ready',
        `the unprivileged users its programs run as cannot read its folder: ${unreadable} (chmod o+rX it, or grade on docker)`,
      );
    const top = join(this.dir, `impl-${this.impls.size}`);
    const impl: Implementation = { root: join(top, 'root'), client: join(top, 'client') };
    const ids = this.ids?.pair(key);
    if (ids) impl.ids = ids;
    mkdirSync(impl.root, { recursive: true });
    mkdirSync(impl.client);
    const stage = join(this.dir, 'root');
    const files = readdirSync(stage).filter((n) => statSync(join(stage, n)).isFile());
    for (const n of files) copyFileSync(join(stage, n), join(impl.root, n));
    if (ids) {
      chmodSync(top, 0o711);
      chownSync(impl.root, 0, ids.server.gid);
      chmodSync(impl.root, 0o750);
      for (const n of files) {
        chownSync(join(impl.root, n), 0, ids.server.gid);
        chmodSync(join(impl.root, n), 0o640);
      }
      chownSync(impl.client, ids.client.uid, ids.client.gid);
      chmodSync(impl.client, 0o700);
    }
    this.impls.set(key, impl);
    return impl;
  }

  /** A user's program as the variant's server, on a port of its own; one that never became ready is not tried again. */
  protected override async startProgramServer(v: Variant, seed: number): Promise<number> {
    const spec = serverSpec(v);
    const failed = this.serverFailures.get(spec.key);
    if (failed) throw failed;
    try {
      const s = await this.startExec(v, await this.freePort(spec.transport), seed);
      if (this.stopping) {
        await s.stop();
        throw stoppingError('an exec server');
      }
      this.servers.set(spec.key, s);
      return s.port;
    } catch (e) {
      if (e instanceof ExecServerError) this.serverFailures.set(spec.key, e);
      throw e;
    }
  }

  /**
   * The `{bind}` of an exec server: its host's address; the netns runtime gives one only the relay reaches when the
   * relay shapes (./netns.ts).
   */
  protected execBind(_v: Variant): string {
    return this.bindAddress('server');
  }

  private async startExec(v: Variant, port: number, seed: number): Promise<RunningServer> {
    const bind = this.execBind(v);
    const impl = this.implementation(v);
    const exec = await startExecServer({
      spec: serverSpec(v).exec!,
      host: this.host('server'),
      bind,
      port,
      root: impl.root,
      seed,
      ...(impl.ids && { as: { ...impl.ids.server, limits: labLimits(this.fileBytes) } }),
    });
    const n = `${v.id}: server ready by ${exec.readiness}`;
    if (!this.notices.includes(n)) this.notices.push(n);
    const ns = pidNamespaceNotice();
    if (ns && !this.notices.includes(ns)) this.notices.push(ns);
    return {
      port: exec.port,
      ...(bind !== this.host('server').address && { address: bind }),
      args: [],
      child: exec.proc.child,
      exit: exec.exit,
      stop: () => killGroup(exec.proc),
    };
  }

  /** A port for an exec server: one the OS hands out on loopback (the netns runtime: one of its own range). */
  protected async freePort(transport: 'udp' | 'tcp'): Promise<number> {
    const bind = this.bindAddress('server');
    if (transport === 'tcp') {
      const srv = createServer();
      await new Promise<void>((ok) => srv.listen(0, bind, ok));
      const { port } = srv.address() as AddressInfo;
      await new Promise((ok) => srv.close(ok));
      return port;
    }
    const sock = createSocket(this.ip === 6 ? 'udp6' : 'udp4');
    await new Promise<void>((ok) => sock.bind(0, bind, ok));
    const { port } = sock.address();
    sock.close();
    return port;
  }

  protected nsPort(): number {
    return this.nextPort++;
  }

  override async runClients(
    v: Variant,
    remote: string,
    timeoutMs: number,
    count: number,
    seed = 1,
  ): Promise<ClientOutcome[]> {
    if (isExec(v)) return this.runExecClients(v, remote, timeoutMs, count, seed);
    return super.runClients(v, remote, timeoutMs, count);
  }

  /** Runs `count` clients of an implementation at once; each outcome is read from the file it left (docs/endpoints.md). */
  private async runExecClients(
    v: Variant,
    remote: string,
    timeoutMs: number,
    count: number,
    seed: number,
  ): Promise<ClientOutcome[]> {
    const outcomes = await Promise.all(
      Array.from({ length: count }, async (_, i) => {
        const local = this.execClientFile(v, i);
        rmSync(local, { recursive: true, force: true }); // whatever the last client left there, a folder too
        const c = this.startExecClientOf(v, remote, local, seed, timeoutMs, count);
        return this.judgeExec(c, local, remote, timeoutMs);
      }),
    );
    return this.withServerExit(v, outcomes);
  }

  /** Client `i`'s file of an implementation: in its clients' own folder. */
  private execClientFile(v: Variant, i: number): string {
    return join(this.implementation(v).client, `file-${i}.bin`);
  }

  private startExecClientOf(v: Variant, remote: string, local: string, seed: number, timeoutMs: number, clients = 1) {
    if (this.stopping) throw stoppingError('a client program');
    const ids = this.implementation(v).ids;
    const c = startExecClient({
      argv: clientArgs(v, this.target(), remote, local),
      spec: serverSpec(v).exec!,
      host: this.host('client'),
      values: { host: this.targetAddress, port: String(this.targetPort), remote, local },
      seed,
      timeoutMs,
      ...(ids && { as: { ...ids.client, limits: labLimits(this.fileBytes, clients) } }),
    });
    this.execClients.add(c.proc);
    void c.proc.exited.then(() => this.execClients.delete(c.proc));
    return c;
  }

  private judgeExec(c: ReturnType<typeof startExecClient>, local: string, remote: string, timeoutMs: number) {
    return finishExecClient(c, {
      local,
      remote,
      original: join(this.dir, 'root', remote),
      sha256: this.fileSha,
      timeoutMs,
    });
  }

  /** A server that exited during the run fails the run: the contract says it serves every run. */
  private withServerExit(v: Variant, outcomes: ClientOutcome[]): ClientOutcome[] {
    const exit = this.servers.get(serverSpec(v).key)?.exit?.();
    if (exit === undefined) return outcomes;
    return outcomes.map((o) => ({
      ok: false,
      code: 'server exited',
      message: exit,
      ...(o.sha256Local !== undefined && { sha256Local: o.sha256Local }),
    }));
  }

  /**
   * Crash faults for an implementation: progress is the size of {local} against the file's; the kill takes the
   * whole process group. Restart only when the manifest says `resumable: true`; otherwise the kill is the run's
   * failure.
   */
  async runExecWithFaults(
    v: Variant,
    remote: string,
    timeoutMs: number,
    faults: Fault[],
    seed = 1,
  ): Promise<{ outcome: ClientOutcome; faults: FaultRecord[] }> {
    const local = this.execClientFile(v, 0);
    rmSync(local, { recursive: true, force: true }); // whatever the last client left there, a folder too
    const host = this.host('client');
    const size = statSync(join(this.dir, 'root', remote)).size;
    const share = async () => (100 * ((await host.size(local)) ?? 0)) / Math.max(1, size);
    const deadline = Date.now() + timeoutMs;
    const records: FaultRecord[] = [];
    let client = this.startExecClientOf(v, remote, local, seed, timeoutMs);
    for (const f of faults) {
      const held = await waitForShare(share, f.atPct, client.proc.exited, deadline);
      if (held === undefined) break;
      const canResume = f.restart && resumable(v);
      if (f.kill === 'client') {
        await killGroup(client.proc);
        records.push(faultRecord({ ...f, restart: canResume }, held, false));
        if (!canResume) return { outcome: notResumable(v.id, resumable(v), f, held), faults: records };
        client = this.startExecClientOf(v, remote, local, seed, Math.max(1000, deadline - Date.now()));
      } else {
        const key = serverSpec(v).key;
        const srv = this.servers.get(key)!;
        await srv.stop();
        this.servers.delete(key);
        records.push(faultRecord({ ...f, restart: canResume }, held, false));
        if (!canResume) {
          await killGroup(client.proc);
          return { outcome: notResumable(v.id, resumable(v), f, held), faults: records };
        }
        try {
          this.servers.set(key, await this.startExec(v, srv.port, seed));
        } catch (e) {
          if (!(e instanceof ExecServerError)) throw e;
          await killGroup(client.proc);
          return {
            outcome: { ok: false, code: e.verdict, message: `after the restart: ${e.message}` },
            faults: records,
          };
        }
      }
    }
    const outcome = await this.judgeExec(client, local, remote, timeoutMs);
    return { outcome: this.withServerExit(v, [outcome])[0]!, faults: records };
  }

  /** An implementation's last run is done: its server (process group, PID namespace, marked processes) is ended. */
  async retireServer(v: Variant): Promise<void> {
    if (!isExec(v)) return;
    const key = serverSpec(v).key;
    const s = this.servers.get(key);
    this.servers.delete(key);
    await s?.stop();
  }

  protected override stopProcesses(): Promise<unknown> {
    return Promise.all([super.stopProcesses(), ...[...this.execClients].map((p) => killGroup(p))]);
  }

  protected override async release(): Promise<void> {
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** The processes still alive (servers, relay, capture, clients, programs) and the lab's folder, if still there. */
  leftovers(): Leftovers {
    const programs = [...this.execClients]
      .map((p) => p.child)
      .filter((c) => c.exitCode === null && c.signalCode === null && c.pid !== undefined)
      .map((c) => c.pid!);
    return { pids: [...this.livePids(), ...programs], dirs: existsSync(this.dir) ? [this.dir] : [] };
  }
}

/** An implementation's folders on this machine, and the users its programs run as (none: the lab's user). */
interface Implementation {
  root: string;
  client: string;
  ids?: IdPair;
}
