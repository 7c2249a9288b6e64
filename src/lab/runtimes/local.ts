// The `local` runtime: servers, relay and clients as separate processes on loopback (any OS, no root).
// The shaper is always the userspace relay (UDP only: TCP runs unshaped, and says so).
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import {
  copyFileSync,
  createReadStream,
  existsSync,
  mkdirSync,
  mkdtempSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { readJournalInfo, removePartial } from '../../files/index.js';
import { formatHostPort } from '../../transport/index.js';
import { LabError } from '../errors.js';
import { firstLine, stopChild } from '../process.js';
import {
  clientArgs,
  type Fault,
  type FaultRecord,
  isExec,
  resumable,
  serverSpec,
  type Variant,
} from '../protocols/index.js';
import { NetemPath } from '../shapers/netem.js';
import { type RunningRelay, relayReadback, startRelay } from '../shapers/relay.js';
import type { ShapedEnd } from '../shapers/types.js';
import { packageRoot } from './docker.js';
import {
  type ExecServer,
  ExecServerError,
  finishExecClient,
  killGroup,
  type Proc,
  pidNamespaceNotice,
  startExecClient,
  startExecServer,
} from './exec.js';
import { type Host, ProcessHost, type Role } from './host.js';

export { startTimeoutMs } from '../process.js';

import {
  type ClientOutcome,
  clientOutcome,
  type FlowSpec,
  faultRecord,
  type LabRuntime,
  type Leftovers,
  notRestarted,
  notResumable,
  type PreparedFile,
  type RuntimeName,
  type ShaperName,
  type ShapingRequest,
  withLocalSha,
} from './types.js';

const execFileP = promisify(execFile);

export interface AmplificationOutcome {
  requestBytes: number;
  victimBytes: number;
  victimDatagrams: number;
}

const BIN = () => join(packageRoot(), 'bin', 'udplab.js');

/** Starts `udplab ARGS` on a host (loopback, or a namespace through `ip netns exec NS`, which keeps the PID). */
function spawnUdplab(args: string[], home: string, host: Host): ChildProcess {
  return host.spawn([process.execPath, BIN(), ...args], { env: { UDPLAB_HOME: home } });
}

export async function sha256OfFile(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) h.update(chunk as Buffer);
  return h.digest('hex');
}

export function writeContent(path: string, sizeBytes: number, content: 'random' | 'zeros' | 'text'): void {
  const chunk = 1 << 20;
  writeFileSync(path, '');
  const line = Buffer.from('the quick brown fox jumps over the lazy dog, again and again, over UDP\n');
  for (let done = 0; done < sizeBytes; done += chunk) {
    const n = Math.min(chunk, sizeBytes - done);
    const b = content === 'random' ? randomBytes(n) : content === 'zeros' ? Buffer.alloc(n) : Buffer.alloc(n, line);
    writeFileSync(path, b, { flag: 'a' });
  }
}

/**
 * Servers, relay and clients as separate udplab processes, each with a home of its own (the RUFT server makes
 * its identity there; a client pins it on first contact). Servers start on first use, one per protocol
 * variant key. The `local` runtime runs them on loopback; a subclass places them elsewhere (network
 * namespaces) through `host(role)` (the Host seam, ./host.ts), `hosts` and `captureInterface`.
 */
export class LocalRuntime implements LabRuntime {
  readonly name: RuntimeName = 'local';
  shaper: ShaperName = 'userspace';
  kernel = `${process.platform} (loopback, no kernel shaping)`;
  protected readonly dir = mkdtempSync(join(tmpdir(), 'udplab-lab-'));
  /** Where each role binds or sends. */
  protected hosts = {
    serverBind: '127.0.0.1',
    relayListen: '127.0.0.1',
    relayTo: '127.0.0.1',
    clientTarget: '127.0.0.1',
  };
  /** Where a role's processes run: this machine's loopback. */
  protected host(_role: Role): Host {
    return new ProcessHost('loopback', this.hosts.serverBind);
  }
  /** Where the client's packets can be captured. */
  protected captureInterface(): string {
    return 'lo';
  }
  /** The devices kernel netem shapes, one per direction, for runtimes that have it; the local runtime has none. */
  protected netemEnds(): ShapedEnd[] {
    throw new LabError('E_SHAPER', 'the local runtime shapes in user space only');
  }
  /** Kernel netem on the path, while it is applied. */
  private netem: NetemPath | undefined;
  private readonly servers = new Map<
    string,
    { child: ChildProcess; port: number; args: string[]; exec?: ExecServer }
  >();
  /** exec servers that never became ready: every run of theirs fails with this, without trying again. */
  private readonly serverFailures = new Map<string, ExecServerError>();
  /** Ports for exec servers in a namespace of our own (netns): nothing else binds there below 32768. */
  private nextPort = 20_000;
  private relay: RunningRelay | undefined;
  /** The server key of the variant the path is shaped for (its clients go through targetPort). */
  private shapedKey = '';
  /** udplab clients running now: teardown kills them (an interrupted lab does not wait for their timeouts). */
  private readonly clients = new Set<ChildProcess>();
  /** Users' programs running as clients now (exec): teardown kills their process groups. */
  private readonly execClients = new Set<Proc>();
  /**
   * Set when teardown begins (a signal can start it while a step is half-way, e.g. between a relay's spawn and its
   * `listening` line): what a step places after that is ended at once, or it would outlive the lab and keep this
   * process alive.
   */
  private stopping = false;
  /** Where clients of the current run send (relay or server), and the ports a capture should see. */
  private targetPort = 0;
  private capture: ChildProcess | undefined;
  private capturePath = '';
  /** SHA-256 of the test file (exec outcomes are judged against it). */
  private fileSha = '';

  constructor(
    readonly notices: string[],
    /** The IP version of the path: 6 puts server, relay and client on ::1. */
    protected readonly ip: 4 | 6 = 4,
  ) {
    if (ip === 6) this.hosts = { serverBind: '::1', relayListen: '::1', relayTo: '::1', clientTarget: '::1' };
  }

  async start(): Promise<void> {
    mkdirSync(join(this.dir, 'root'));
    mkdirSync(join(this.dir, 'client'));
  }

  private async ensureServer(v: Variant, seed = 1): Promise<{ port: number; transport: 'udp' | 'tcp' }> {
    const spec = serverSpec(v);
    const running = this.servers.get(spec.key);
    if (running?.exec?.exit() !== undefined)
      this.servers.delete(spec.key); // it died: start it again
    else if (running) return { port: running.port, transport: spec.transport };
    if (spec.exec) {
      const failed = this.serverFailures.get(spec.key);
      if (failed) throw failed;
      try {
        const exec = await this.startExec(v, await this.freePort(spec.transport), seed);
        if (this.stopping) {
          await killGroup(exec.proc);
          throw stoppingError('an exec server');
        }
        this.servers.set(spec.key, { child: exec.proc.child, port: exec.port, args: [], exec });
        return { port: exec.port, transport: spec.transport };
      } catch (e) {
        if (e instanceof ExecServerError) this.serverFailures.set(spec.key, e);
        throw e;
      }
    }
    const args = [...spec.args, '--root', join(this.dir, 'root'), '--host', this.hosts.serverBind, '--port', '0'];
    const { child, port } = await this.startServer(spec.args[0]!, args, spec.ready);
    if (this.stopping) {
      await stopChild(child);
      throw stoppingError('a server');
    }
    this.servers.set(spec.key, { child, port, args });
    return { port, transport: spec.transport };
  }

  private async startExec(v: Variant, port: number, seed: number): Promise<ExecServer> {
    const exec = await startExecServer({
      spec: serverSpec(v).exec!,
      host: this.host('server'),
      bind: this.hosts.serverBind,
      port,
      root: join(this.dir, 'root'),
      seed,
    });
    const n = `${v.id}: server ready by ${exec.readiness}`;
    if (!this.notices.includes(n)) this.notices.push(n);
    const ns = pidNamespaceNotice();
    if (ns && !this.notices.includes(ns)) this.notices.push(ns);
    return exec;
  }

  /** A port for an exec server: one the OS hands out on loopback (the netns runtime: one of its own range). */
  protected async freePort(transport: 'udp' | 'tcp'): Promise<number> {
    if (transport === 'tcp') {
      const srv = createServer();
      await new Promise<void>((ok) => srv.listen(0, this.hosts.serverBind, ok));
      const { port } = srv.address() as AddressInfo;
      await new Promise((ok) => srv.close(ok));
      return port;
    }
    const sock = createSocket(this.ip === 6 ? 'udp6' : 'udp4');
    await new Promise<void>((ok) => sock.bind(0, this.hosts.serverBind, ok));
    const { port } = sock.address();
    sock.close();
    return port;
  }

  protected nsPort(): number {
    return this.nextPort++;
  }

  private async startServer(
    what: string,
    args: string[],
    ready: RegExp,
  ): Promise<{ child: ChildProcess; port: number }> {
    const child = spawnUdplab(args, join(this.dir, 'server-home'), this.host('server'));
    try {
      const line = await firstLine(child, ready, `udplab ${what}`);
      return { child, port: Number(/:(\d+),/.exec(line)?.[1]) };
    } catch (e) {
      child.kill('SIGKILL');
      throw e;
    }
  }

  /**
   * One RUFT download with crash faults: each fault waits until the client's journal holds `atPct` of the file,
   * then SIGKILLs the client or the server; a killed server restarts on its port with its identity (the waiting
   * client is then interrupted, as its user would), and the download continues with `get --resume`. Before
   * every resume the final name must not exist: a `.part` promoted early is a failure.
   */
  async runWithFaults(
    v: Variant,
    remote: string,
    timeoutMs: number,
    faults: Fault[],
  ): Promise<{ outcome: ClientOutcome; faults: FaultRecord[] }> {
    const spec = serverSpec(v);
    const local = join(this.dir, 'client', 'file-0.bin');
    removePartial(local); // the journal and the part it names (NAME.<16 hex>.part)
    for (const f of [local, `${local}.part`, `${local}.part.journal`]) rmSync(f, { force: true });
    const args = clientArgs(v, formatHostPort(this.hosts.clientTarget, this.targetPort), remote, local);
    const records: FaultRecord[] = [];
    const deadline = Date.now() + timeoutMs;
    const pending = [...faults];
    let client = this.spawnClient(args);
    for (;;) {
      const f = pending[0];
      const hitPct = f ? await waitForProgress(local, f.atPct, client.exited, deadline) : undefined;
      if (!f || hitPct === undefined) break;
      pending.shift();
      if (f.kill === 'client') {
        client.child.kill('SIGKILL');
        await client.exited;
      } else {
        const srv = this.servers.get(spec.key)!;
        srv.child.kill('SIGKILL');
        await new Promise((ok) =>
          srv.child.exitCode !== null || srv.child.signalCode !== null ? ok(0) : srv.child.once('exit', ok),
        );
        if (f.restart) {
          const port = String(srv.port);
          const again = srv.args.map((a, i) => (srv.args[i - 1] === '--port' ? port : a));
          const { child } = await this.startServer(spec.args[0]!, again, spec.ready);
          this.servers.set(spec.key, { child, port: srv.port, args: srv.args });
        }
        // the client waits for a server that lost the session: interrupt it, as its user would
        client.child.kill('SIGINT');
        await client.exited;
      }
      // a final file is early unless that client had itself finished (exit 0) before the kill
      records.push(faultRecord(f, hitPct, existsSync(local) && client.child.exitCode !== 0));
      if (!f.restart) return { outcome: notRestarted(f, hitPct), faults: records };
      client = this.spawnClient([...args, '--resume']);
    }
    const timer = setTimeout(() => client.child.kill('SIGKILL'), Math.max(1000, deadline - Date.now()));
    const code = await client.exited;
    clearTimeout(timer);
    const o = clientOutcome(code, client.out(), client.err(), timeoutMs);
    const sha = existsSync(local) ? await sha256OfFile(local) : undefined;
    return {
      outcome: withLocalSha(o, sha),
      faults: records,
    };
  }

  private spawnClient(args: string[]): {
    child: ChildProcess;
    exited: Promise<number | null>;
    out: () => string;
    err: () => string;
  } {
    if (this.stopping) throw stoppingError('a client');
    const child = spawnUdplab(args, join(this.dir, 'client-home'), this.host('client'));
    this.clients.add(child);
    let out = '';
    let err = '';
    child.stdout!.on('data', (d) => {
      out += d;
    });
    child.stderr!.on('data', (d) => {
      err += d;
    });
    const exited = new Promise<number | null>((ok) =>
      child.once('exit', (c) => {
        this.clients.delete(child);
        ok(c);
      }),
    );
    return { child, exited, out: () => out, err: () => err };
  }

  async prepareFile(
    spec: { sizeBytes: number; content: 'random' | 'zeros' | 'text' } | { path: string },
  ): Promise<PreparedFile> {
    const dest = join(this.dir, 'root', 'file.bin');
    if ('path' in spec) copyFileSync(spec.path, dest);
    else writeContent(dest, spec.sizeBytes, spec.content);
    const sha256 = await sha256OfFile(dest);
    this.fileSha = sha256;
    return { remote: 'file.bin', sizeBytes: statSync(dest).size, sha256 };
  }

  originalPath(): string | undefined {
    const p = join(this.dir, 'root', 'file.bin');
    return existsSync(p) ? p : undefined;
  }

  async keepClientFile(index: number, dest: string): Promise<boolean> {
    const p = join(this.dir, 'client', `file-${index}.bin`);
    if (!existsSync(p)) return false;
    copyFileSync(p, dest);
    return true;
  }

  async applyShaping(r: ShapingRequest): Promise<string> {
    await this.clearShaping();
    const server = await this.ensureServer(r.variant, r.seed);
    this.targetPort = server.port;
    this.shapedKey = serverSpec(r.variant).key;
    if (this.shaper === 'netem') {
      this.netem = new NetemPath(this.netemEnds());
      return this.netem.apply({ up: r.up, down: r.down }, r.blackouts);
    }
    if (server.transport === 'tcp')
      return 'NOT SHAPED: the userspace relay carries UDP only; TCP runs on the clean path (kernel netem shapes it)';
    const to = formatHostPort(this.hosts.relayTo, server.port);
    this.relay = await startRelay(
      this.host('relay'),
      [process.execPath, BIN()],
      r,
      { to, listen: formatHostPort(this.hosts.relayListen, 0) },
      { UDPLAB_HOME: join(this.dir, 'relay-home') },
    );
    if (this.stopping) {
      await this.clearShaping();
      throw stoppingError('the relay');
    }
    const j = this.relay.listening;
    this.targetPort = j.port;
    return relayReadback('userspace relay', j, r, `${formatHostPort(j.address, j.port)} → ${to}`);
  }

  async clearShaping(): Promise<unknown> {
    const n = this.netem;
    this.netem = undefined;
    if (n) return n.clear();
    const r = this.relay;
    if (!r) return undefined;
    this.relay = undefined;
    return r.stop();
  }

  async runClients(v: Variant, remote: string, timeoutMs: number, count: number, seed = 1): Promise<ClientOutcome[]> {
    if (isExec(v)) return this.runExecClients(v, remote, timeoutMs, count, seed);
    const target = formatHostPort(this.hosts.clientTarget, this.targetPort);
    return Promise.all(
      Array.from({ length: count }, async (_, i) => {
        const local = join(this.dir, 'client', `file-${i}.bin`);
        rmSync(local, { force: true });
        const c = this.spawnClient(clientArgs(v, target, remote, local));
        const timer = setTimeout(() => c.child.kill('SIGKILL'), timeoutMs);
        const code = await c.exited;
        clearTimeout(timer);
        const o = clientOutcome(code, c.out(), c.err(), timeoutMs);
        const sha = existsSync(local) ? await sha256OfFile(local) : undefined;
        return withLocalSha(o, sha);
      }),
    );
  }

  /**
   * Flows at once (scenario field `competing`): the shaped variant's go through the path the run set up (relay or
   * netem); another variant's reach its own server, which only kernel netem shapes (the relay forwards to one).
   */
  async runFlows(flows: FlowSpec[], remote: string, timeoutMs: number): Promise<ClientOutcome[]> {
    const targets: string[] = [];
    for (const f of flows) {
      const spec = serverSpec(f.variant);
      if (spec.exec)
        throw new LabError('E_SCENARIO_INVALID', `competing: ${f.variant.id}: exec programs cannot compete`);
      if (spec.key === this.shapedKey) targets.push(formatHostPort(this.hosts.clientTarget, this.targetPort));
      else if (this.shaper !== 'netem')
        throw new LabError(
          'E_SHAPER',
          `competing: ${f.variant.id} needs a server of its own, which the userspace relay (one server per relay) cannot shape: run with --shaper netem`,
        );
      else targets.push(formatHostPort(this.hosts.clientTarget, (await this.ensureServer(f.variant)).port));
    }
    return Promise.all(
      flows.map(async (f, i) => {
        const local = join(this.dir, 'client', `file-${i}.bin`);
        rmSync(local, { force: true });
        if (f.delayMs > 0) await new Promise((ok) => setTimeout(ok, f.delayMs));
        const c = this.spawnClient(clientArgs(f.variant, targets[i]!, remote, local));
        const timer = setTimeout(() => c.child.kill('SIGKILL'), timeoutMs);
        const code = await c.exited;
        clearTimeout(timer);
        const o = clientOutcome(code, c.out(), c.err(), timeoutMs);
        const sha = existsSync(local) ? await sha256OfFile(local) : undefined;
        return withLocalSha(o, sha);
      }),
    );
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
        const local = join(this.dir, 'client', `file-${i}.bin`);
        rmSync(local, { force: true });
        const c = this.startExecClientOf(v, remote, local, seed, timeoutMs);
        return this.judgeExec(c, local, remote, timeoutMs);
      }),
    );
    return this.withServerExit(v, outcomes);
  }

  private startExecClientOf(v: Variant, remote: string, local: string, seed: number, timeoutMs: number) {
    if (this.stopping) throw stoppingError('a client program');
    const target = formatHostPort(this.hosts.clientTarget, this.targetPort);
    const c = startExecClient({
      argv: clientArgs(v, target, remote, local),
      spec: serverSpec(v).exec!,
      host: this.host('client'),
      values: { host: this.hosts.clientTarget, port: String(this.targetPort), remote, local },
      seed,
      timeoutMs,
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
    const srv = this.servers.get(serverSpec(v).key);
    const exit = srv?.exec?.exit();
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
    const local = join(this.dir, 'client', 'file-0.bin');
    rmSync(local, { force: true });
    const size = statSync(join(this.dir, 'root', remote)).size;
    const deadline = Date.now() + timeoutMs;
    const records: FaultRecord[] = [];
    let client = this.startExecClientOf(v, remote, local, seed, timeoutMs);
    for (const f of faults) {
      const held = await waitForSize(local, size, f.atPct, client.proc.exited, deadline);
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
        await killGroup(srv.exec!.proc);
        this.servers.delete(key);
        records.push(faultRecord({ ...f, restart: canResume }, held, false));
        if (!canResume) {
          await killGroup(client.proc);
          return { outcome: notResumable(v.id, resumable(v), f, held), faults: records };
        }
        try {
          const exec = await this.startExec(v, srv.port, seed);
          this.servers.set(key, { child: exec.proc.child, port: srv.port, args: [], exec });
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

  /**
   * Reflection on loopback: the variant's real client sends its first request to a silent socket; that datagram
   * is sent again by hping3 with the source address of a victim socket (a forged address), straight to the
   * server; the victim counts what the server sends it within `windowMs`.
   */
  async amplification(v: Variant, remote: string, windowMs: number): Promise<AmplificationOutcome> {
    const server = await this.ensureServer(v);
    if (server.transport === 'tcp')
      throw new LabError('E_RUNTIME', 'amplification: TCP needs a handshake, nothing to reflect');
    const sink = createSocket('udp4');
    const victim = createSocket('udp4');
    await Promise.all([sink, victim].map((s) => new Promise<void>((ok) => s.bind(0, '127.0.0.1', ok))));
    const got = { bytes: 0, datagrams: 0 };
    victim.on('message', (m) => {
      got.bytes += m.length;
      got.datagrams++;
    });
    const reqFile = join(this.dir, 'request.bin');
    try {
      const request = await new Promise<Buffer>((ok, fail) => {
        const client = spawnUdplab(
          clientArgs(v, `127.0.0.1:${sink.address().port}`, remote, join(this.dir, 'client', 'never.bin')),
          join(this.dir, 'client-home'),
          this.host('client'),
        );
        const t = setTimeout(() => {
          client.kill('SIGKILL');
          fail(new LabError('E_RUNTIME', `amplification: the ${v.id} client sent no request within 10 s`));
        }, 10_000);
        sink.once('message', (m) => {
          clearTimeout(t);
          client.kill('SIGKILL');
          ok(m);
        });
      });
      writeFileSync(reqFile, request);
      const { port } = victim.address();
      await execFileP(
        'hping3',
        [
          '127.0.0.1',
          '-2',
          '-a',
          '127.0.0.1',
          '-s',
          String(port),
          '-k',
          '-p',
          String(server.port),
          '-c',
          '1',
          '-d',
          String(request.length),
          '-E',
          reqFile,
        ],
        { timeout: 10_000 },
      ).catch((e: NodeJS.ErrnoException & { stdout?: string; stderr?: string }) => {
        // hping3 exits 1 when no answer comes back to its own port, which is the point: the answer went elsewhere
        if (/1 packets transmitted/.test(`${e.stdout}${e.stderr}`)) return;
        throw new LabError(
          'E_RUNTIME',
          e.code === 'ENOENT'
            ? 'amplification needs hping3 (apt-get install hping3) to forge the source address'
            : `hping3: ${e.message}`,
        );
      });
      await new Promise((ok) => setTimeout(ok, windowMs));
      return { requestBytes: request.length, victimBytes: got.bytes, victimDatagrams: got.datagrams };
    } finally {
      sink.close();
      victim.close();
    }
  }

  async startCapture(pcapPath: string): Promise<string | undefined> {
    if (process.getuid?.() !== 0) return 'packet capture needs root';
    const filter = `port ${this.targetPort}`;
    const [exe, ...args] = this.host('client').argv([
      'tcpdump',
      '-i',
      this.captureInterface(),
      '-U',
      '--immediate-mode',
      '-s',
      '256',
      '-w',
      pcapPath,
      filter,
    ]);
    const child = spawn(exe!, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    const ready = await new Promise<string | undefined>((ok) => {
      let err = '';
      child.stderr!.on('data', (d) => {
        err += d;
        if (/listening on/.test(err)) ok(undefined);
      });
      child.once('error', (e) => ok(`tcpdump: ${e.message}`));
      child.once('exit', () => ok(`tcpdump: ${err.trim().split('\n').pop()}`));
      setTimeout(() => ok('tcpdump did not start within 5 s'), 5000);
    });
    if (ready) return ready;
    this.capture = child;
    this.capturePath = pcapPath;
    return undefined;
  }

  async stopCapture(): Promise<number> {
    const c = this.capture;
    if (!c) return 0;
    this.capture = undefined;
    await stopChild(c, 'SIGINT');
    return existsSync(this.capturePath) ? statSync(this.capturePath).size : 0;
  }

  /** Every step runs even when an earlier one threw; then the first error is thrown. */
  async stop(): Promise<void> {
    this.stopping = true;
    const errors: unknown[] = [];
    const step = async (f: () => unknown) => {
      try {
        await f();
      } catch (e) {
        errors.push(e);
      }
    };
    await step(() => this.stopCapture());
    await step(() => this.clearShaping());
    for (const c of this.clients) c.kill('SIGKILL');
    await step(() =>
      Promise.all([
        ...[...this.execClients].map((p) => killGroup(p)),
        ...[...this.servers.values()].map((s) => (s.exec ? killGroup(s.exec.proc) : stopChild(s.child))),
      ]),
    );
    this.servers.clear();
    await step(() => rmSync(this.dir, { recursive: true, force: true }));
    if (errors.length > 0) throw errors[0];
  }

  /** The processes still alive (servers, relay, capture, clients) and the lab's folder, if still there. */
  leftovers(): Leftovers {
    const children = [
      ...[...this.servers.values()].map((s) => s.child),
      this.relay?.child,
      this.capture,
      ...this.clients,
      ...[...this.execClients].map((p) => p.child),
    ];
    const pids = children
      .filter((c) => c !== undefined && c.exitCode === null && c.signalCode === null)
      .map((c) => c!.pid)
      .filter((p): p is number => p !== undefined);
    return { pids, dirs: existsSync(this.dir) ? [this.dir] : [] };
  }
}

/** Polls the download's journal until it holds `pct` of the file; undefined if the client ends first. */
async function waitForProgress(
  local: string,
  pct: number,
  exited: Promise<unknown>,
  deadline: number,
): Promise<number | undefined> {
  let done = false;
  void exited.then(() => {
    done = true;
  });
  while (!done && Date.now() < deadline) {
    const j = readJournalInfo(local);
    if (j && j.sizeBytes > 0) {
      const held = (100 * j.ranges.reduce((n, [a, b]) => n + (b - a), 0)) / j.sizeBytes;
      if (held >= pct) return held;
    }
    await new Promise((ok) => setTimeout(ok, 10));
  }
  return undefined;
}

/** Polls the size of an implementation's {local} until it holds `pct` of `size`; undefined if the client ends first. */
async function waitForSize(
  local: string,
  size: number,
  pct: number,
  exited: Promise<unknown>,
  deadline: number,
): Promise<number | undefined> {
  let done = false;
  void exited.then(() => {
    done = true;
  });
  while (!done && Date.now() < deadline) {
    const held = existsSync(local) ? (100 * statSync(local).size) / Math.max(1, size) : 0;
    if (held >= pct) return held;
    await new Promise((ok) => setTimeout(ok, 10));
  }
  return undefined;
}

/** A step that placed something after teardown had begun (the runner reports `interrupted`). */
function stoppingError(what: string): LabError {
  return new LabError('E_RUNTIME', `the lab is being torn down: ${what} started meanwhile was stopped again`);
}
