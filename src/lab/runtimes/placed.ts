// What every runtime that places udplab processes on hosts does, written once over the Host seam (./host.ts):
// the test file made on this machine, copied where the server reads it (`copyIn`) and its SHA-256 and size read
// there; udplab servers started on the server host (their `listening` line, their port, their PID there), the shaped
// path (kernel netem over the runtime's `netemEnds`, or the relay shaper on the relay host), udplab clients spawned
// on the client host (their outcome from their JSON line, the SHA-256 of what they wrote read where it lies), flows
// at once, the crash-fault loop (progress read from the client's `.part.journal` through `readFile`, kills by PID
// where the process runs, the server restarted on its port, `--resume`, the early-promotion check), tcpdump on the
// client host with the pcap copied back, the reflection test (`attack: amplification`, ./amplification.ts: sink,
// victim and the real client on the client host, hping3 in its network namespace through `Host.netnsArgv`), and a
// teardown that ends all of it. A runtime (local.ts, netns.ts, docker-runtime.ts, swarm/) only builds the network
// and places hosts: `host(role)`, the argv that runs udplab there, its folders and addresses — and what is truly
// its own (users' programs, image protocols).
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { formatHostPort } from '../../transport/index.js';
import { LabError } from '../errors.js';
import { firstLine } from '../process.js';
import { clientArgs, type Fault, type FaultRecord, serverSpec, type Variant } from '../protocols/index.js';
import { NetemPath } from '../shapers/netem.js';
import { type RelayListening, type RunningRelay, relayReadback, startRelay } from '../shapers/relay.js';
import type { ShapedEnd } from '../shapers/types.js';
import { type AmplificationOutcome, amplify } from './amplification.js';
import { type Host, type Placed, place, type Role } from './host.js';
import {
  type ClientOutcome,
  clientOutcome,
  type FlowSpec,
  faultRecord,
  type LabRuntime,
  type Leftovers,
  notRestarted,
  type PreparedFile,
  type RuntimeName,
  type ShaperName,
  type ShapingRequest,
  withLocalSha,
} from './types.js';

/** Writes `sizeBytes` of content to a file of this machine, a MiB at a time. */
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

/** A server the lab started: a udplab one (`placed`) or a user's program (`exec`, local.ts). */
export interface RunningServer {
  port: number;
  /** the address it listens on when not its host's (an exec server on its namespace's loopback, behind the relay) */
  address?: string;
  /** udplab's arguments (`--port` as first given: 0 or a fixed port); empty for a program */
  args: string[];
  /** what this machine started for it */
  child: ChildProcess;
  placed?: Placed;
  /** a user's program: set once it exited */
  exit?: () => string | undefined;
  stop(): Promise<void>;
}

/** The share (%) of a download a client's journal (`LOCAL.part.journal`, JSON) says it holds, read on its host. */
export async function journalShare(host: Host, local: string): Promise<number | undefined> {
  const text = await host.readFile(`${local}.part.journal`).then(
    (b) => b.toString('utf8'),
    () => undefined,
  );
  if (text === undefined) return undefined;
  try {
    const j = JSON.parse(text) as { sizeBytes?: unknown; ranges?: unknown };
    const size = Number(j.sizeBytes);
    if (!(size > 0) || !Array.isArray(j.ranges)) return undefined;
    let held = 0;
    for (const r of j.ranges as Array<[number, number]>)
      held += Math.max(0, Math.min(size, Number(r[1])) - Math.max(0, Number(r[0])));
    return (100 * held) / size;
  } catch {
    return undefined; // a journal being replaced
  }
}

/**
 * Polls `read` (a share in %) every 10 ms until it is at least `pct`; undefined when the client ends first or the
 * deadline passes.
 */
export async function waitForShare(
  read: () => Promise<number | undefined>,
  pct: number,
  exited: Promise<unknown>,
  deadline: number,
): Promise<number | undefined> {
  let done = false;
  void exited.then(() => {
    done = true;
  });
  while (!done && Date.now() < deadline) {
    const held = await read();
    if (held !== undefined && held >= pct) return held;
    await new Promise((ok) => setTimeout(ok, 10));
  }
  return undefined;
}

/** A step that placed something after teardown had begun (the runner reports `interrupted`). */
export function stoppingError(what: string): LabError {
  return new LabError('E_RUNTIME', `the lab is being torn down: ${what} started meanwhile was stopped again`);
}

/**
 * The lab's jobs over `host(role)`. Servers start on first use, one per protocol variant key; clients of the run go
 * to the shaped path's entry (the relay, or the server itself under netem).
 */
export abstract class PlacedRuntime implements LabRuntime {
  abstract readonly name: RuntimeName;
  abstract shaper: ShaperName;
  abstract kernel: string;

  /** Where a role's processes run. */
  protected abstract host(role: Role): Host;
  /** The argv that runs udplab on this runtime's hosts. */
  protected abstract udplab(): string[];
  /**
   * `root`: the server's folder on the server host; `clients`: where clients write, on the client host; `stage`: a
   * folder of this machine the test file is made in (the same folder as `root` when the server host shares this
   * machine's files).
   */
  protected abstract folders(): { root: string; clients: string; stage: string };
  /** The interface on the client host a capture listens on. */
  protected abstract captureInterface(): string;
  /** The environment of udplab processes of a role (the local runtime: a home each). */
  protected home(_role: Role): Record<string, string> | undefined {
    return undefined;
  }
  /** The address a role's listener binds (its host's address; a container binds the wildcard). */
  protected bindAddress(role: Role): string {
    return this.host(role).address;
  }
  /** The port of the `n`-th server (0: the one the OS hands out, read from its `listening` line). */
  protected serverPort(_n: number): number {
    return 0;
  }
  /** The relay's port (0: the one the OS hands out). */
  protected relayPort(): number {
    return 0;
  }
  /** The relay's read-back in reports. */
  protected relayShown(j: RelayListening, r: ShapingRequest, to: string): string {
    return relayReadback('userspace relay', j, r, `${formatHostPort(j.address, j.port)} → ${to}`);
  }
  /** Where tcpdump writes on the client host (the report's own path when that host shares this machine's files). */
  protected captureFile(pcapPath: string): string {
    return pcapPath;
  }
  /** tcpdump's filter: the path's port (the client host's interface may carry other traffic). */
  protected captureFilter(): string[] {
    return [`port ${this.targetPort}`];
  }
  /** Why no capture can be taken here, if so. */
  protected captureRefusal(): string | undefined {
    return undefined;
  }
  /** The devices kernel netem shapes, one per direction, for runtimes that have it. */
  protected netemEnds(): ShapedEnd[] {
    throw new LabError('E_SHAPER', `the ${this.name} runtime shapes in user space only`);
  }
  /** Starts a user's program as the variant's server (`protocol: exec`) and records it in `servers`. */
  protected startProgramServer(v: Variant, _seed: number): Promise<number> {
    throw new LabError('E_RUNTIME', `${v.id}: the ${this.name} runtime does not place exec programs`);
  }
  /** What else the runtime removes at teardown, after the processes (folders, namespaces, containers). */
  protected async release(): Promise<void> {}

  protected readonly servers = new Map<string, RunningServer>();
  /** Kernel netem on the path, while it is applied. */
  private netem: NetemPath | undefined;
  protected relay: RunningRelay | undefined;
  /** The server key of the variant the path is shaped for (its clients go to the path's entry). */
  private shapedKey = '';
  /** The path's entry: where clients of the current run send (relay or server), and the port a capture sees. */
  protected targetAddress = '';
  protected targetPort = 0;
  /** udplab clients running now: teardown kills them (an interrupted lab does not wait for their timeouts). */
  private readonly clients = new Set<Placed>();
  private capture: { tcpdump: Placed; onHost: string; path: string } | undefined;
  /** The test file as made on this machine, and its SHA-256 where the server reads it. */
  private original: string | undefined;
  protected fileSha = '';
  /**
   * Set when teardown begins (a signal can start it while a step is half-way, e.g. between a relay's spawn and its
   * `listening` line): what a step places after that is ended at once, or it would outlive the lab.
   */
  protected stopping = false;

  constructor(readonly notices: string[]) {}

  abstract start(): Promise<void>;

  /** The path's entry as `host:port`. */
  protected target(): string {
    return formatHostPort(this.targetAddress, this.targetPort);
  }

  /** Client `i`'s file on the client host. */
  protected clientFile(i: number): string {
    return join(this.folders().clients, `file-${i}.bin`);
  }

  /** Removes a client's file and what a download of it left (`NAME.<16 hex>.part`, its journal) on the client host. */
  private clearClientFile(local: string): Promise<void> {
    return this.host('client').removeNamed(dirname(local), basename(local));
  }

  protected async ensureServer(v: Variant, seed = 1): Promise<{ port: number; transport: 'udp' | 'tcp' }> {
    const spec = serverSpec(v);
    const running = this.servers.get(spec.key);
    if (running?.exit?.() !== undefined)
      this.servers.delete(spec.key); // it died: start it again
    else if (running) return { port: running.port, transport: spec.transport };
    if (spec.exec) return { port: await this.startProgramServer(v, seed), transport: spec.transport };
    const port = String(this.serverPort(this.servers.size));
    const args = [...spec.args, '--root', this.folders().root, '--host', this.bindAddress('server'), '--port', port];
    const s = await this.startServer(spec.args[0]!, args, spec.ready);
    if (this.stopping) {
      await s.stop();
      throw stoppingError('a server');
    }
    this.servers.set(spec.key, s);
    return { port: s.port, transport: spec.transport };
  }

  /** Starts `udplab ARGS` on the server host and waits for its `listening` line, which says its port. */
  private async startServer(what: string, args: string[], ready: RegExp): Promise<RunningServer> {
    const placed = place(this.host('server'), [...this.udplab(), ...args], this.env('server'));
    try {
      const line = await firstLine(placed.child, ready, `udplab ${what} (${placed.host.name})`);
      return { port: Number(/:(\d+),/.exec(line)?.[1]), args, child: placed.child, placed, stop: () => placed.stop() };
    } catch (e) {
      await placed.stop('SIGKILL');
      throw e;
    }
  }

  private env(role: Role): { env?: Record<string, string> } {
    const env = this.home(role);
    return env ? { env } : {};
  }

  private spawnClient(args: string[]): Placed {
    if (this.stopping) throw stoppingError('a client');
    const c = place(this.host('client'), [...this.udplab(), ...args], this.env('client'));
    this.clients.add(c);
    void c.exited.then(() => this.clients.delete(c));
    return c;
  }

  /** Waits for a client (SIGKILLed where it runs after `timeoutMs`) and reads its outcome and its file's SHA-256. */
  private async finishClient(c: Placed, local: string, timeoutMs: number, budgetMs = timeoutMs) {
    const timer = setTimeout(() => void c.signal('SIGKILL'), budgetMs);
    const code = await c.exited;
    clearTimeout(timer);
    const o = clientOutcome(code, c.out(), c.err(), timeoutMs);
    return withLocalSha(o, await this.host('client').sha256(local));
  }

  /** One udplab client into client file `i` (cleared first), `delayMs` after the call. */
  private async runClient(v: Variant, target: string, remote: string, i: number, timeoutMs: number, delayMs = 0) {
    const local = this.clientFile(i);
    await this.clearClientFile(local);
    if (delayMs > 0) await new Promise((ok) => setTimeout(ok, delayMs));
    return this.finishClient(this.spawnClient(clientArgs(v, target, remote, local)), local, timeoutMs);
  }

  async prepareFile(
    spec: { sizeBytes: number; content: 'random' | 'zeros' | 'text' } | { path: string },
  ): Promise<PreparedFile> {
    const { root, stage } = this.folders();
    const made = join(stage, 'file.bin');
    if ('path' in spec) copyFileSync(spec.path, made);
    else writeContent(made, spec.sizeBytes, spec.content);
    const server = this.host('server');
    const served = join(root, 'file.bin');
    await server.copyIn(made, served);
    // checked where the server reads it
    const [sha256, sizeBytes] = await Promise.all([server.sha256(served), server.size(served)]);
    if (sha256 === undefined || sizeBytes === undefined)
      throw new LabError('E_RUNTIME', `the test file is not at ${served} in ${server.name}`);
    this.original = made;
    this.fileSha = sha256;
    return { remote: 'file.bin', sizeBytes, sha256 };
  }

  originalPath(): string | undefined {
    return this.original;
  }

  async keepClientFile(index: number, dest: string): Promise<boolean> {
    return this.host('client').copyOut(this.clientFile(index), dest);
  }

  async applyShaping(r: ShapingRequest): Promise<string> {
    await this.clearShaping();
    const server = await this.ensureServer(r.variant, r.seed);
    this.targetAddress = this.host('server').address;
    this.targetPort = server.port;
    this.shapedKey = serverSpec(r.variant).key;
    if (this.shaper === 'netem') {
      this.netem = new NetemPath(this.netemEnds());
      return this.netem.apply({ up: r.up, down: r.down }, r.blackouts);
    }
    if (server.transport === 'tcp')
      return 'NOT SHAPED: the userspace relay carries UDP only; TCP runs on the clean path (kernel netem shapes it)';
    // the server's own address: its host's, or one only the relay's host reaches (netns: the namespace's loopback)
    const to = formatHostPort(this.servers.get(this.shapedKey)?.address ?? this.host('server').address, server.port);
    const listen = formatHostPort(this.bindAddress('relay'), this.relayPort());
    // a user's program answers from {port} (docs/endpoints.md): nothing else of its address may reach a client
    const req = serverSpec(r.variant).exec ? { ...r, pinPort: true } : r;
    this.relay = await startRelay(this.host('relay'), this.udplab(), req, { to, listen }, this.home('relay'));
    if (this.stopping) {
      await this.clearShaping();
      throw stoppingError('the relay');
    }
    const j = this.relay.listening;
    this.targetAddress = this.host('relay').address;
    this.targetPort = j.port;
    return this.relayShown(j, r, to);
  }

  async clearShaping(): Promise<unknown> {
    const n = this.netem;
    this.netem = undefined;
    if (n) return n.clear();
    const r = this.relay;
    if (!r) return undefined;
    this.relay = undefined;
    // the relay is the shaping: one gone before the end of the run let the rest of it through unshaped, or not at all
    const c = r.child;
    const gone = r.alive()
      ? undefined
      : `the relay exited during the run (${c.signalCode ? `killed by ${c.signalCode}` : `exit code ${c.exitCode}`})`;
    const counters = await r.stop();
    return gone ? { ...(counters as object | undefined), tampered: gone } : counters;
  }

  async runClients(v: Variant, remote: string, timeoutMs: number, count: number, _seed = 1): Promise<ClientOutcome[]> {
    const target = this.target();
    return Promise.all(Array.from({ length: count }, (_, i) => this.runClient(v, target, remote, i, timeoutMs)));
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
      if (spec.key === this.shapedKey) targets.push(this.target());
      else if (this.shaper !== 'netem')
        throw new LabError(
          'E_SHAPER',
          `competing: ${f.variant.id} needs a server of its own, which the userspace relay (one server per relay) cannot shape: run with --shaper netem`,
        );
      else targets.push(formatHostPort(this.host('server').address, (await this.ensureServer(f.variant)).port));
    }
    return Promise.all(flows.map((f, i) => this.runClient(f.variant, targets[i]!, remote, i, timeoutMs, f.delayMs)));
  }

  /**
   * One udplab download with crash faults: each fault waits until the client's journal holds `atPct` of the file,
   * then SIGKILLs the client or the server where it runs; a killed server restarts on its port (the waiting client
   * is then interrupted, as its user would), and the download continues with `get --resume`. Before every resume
   * the final name must not exist: a `.part` promoted early is recorded (`promoted_early`), and fails the run.
   */
  async runWithFaults(
    v: Variant,
    remote: string,
    timeoutMs: number,
    faults: Fault[],
  ): Promise<{ outcome: ClientOutcome; faults: FaultRecord[] }> {
    const spec = serverSpec(v);
    const host = this.host('client');
    const local = this.clientFile(0);
    await this.clearClientFile(local);
    const args = clientArgs(v, this.target(), remote, local);
    const records: FaultRecord[] = [];
    const deadline = Date.now() + timeoutMs;
    const pending = [...faults];
    let client = this.spawnClient(args);
    for (;;) {
      const f = pending[0];
      const held = f
        ? await waitForShare(() => journalShare(host, local), f.atPct, client.exited, deadline)
        : undefined;
      if (!f || held === undefined) break;
      pending.shift();
      if (f.kill === 'client') await client.stop('SIGKILL');
      else {
        const srv = this.servers.get(spec.key)!;
        await srv.placed!.stop('SIGKILL');
        if (f.restart) {
          const again = srv.args.map((a, i) => (srv.args[i - 1] === '--port' ? String(srv.port) : a));
          const s = await this.startServer(spec.args[0]!, again, spec.ready);
          this.servers.set(spec.key, { ...s, port: srv.port, args: srv.args });
        }
        // the client waits for a server that lost the session: interrupt it, as its user would
        await client.stop('SIGINT');
      }
      const code = await client.exited;
      // a final file is early unless that client had itself finished (exit 0) before the kill
      records.push(faultRecord(f, held, code !== 0 && (await host.size(local)) !== undefined));
      if (!f.restart) return { outcome: notRestarted(f, held), faults: records };
      client = this.spawnClient([...args, '--resume']);
    }
    const outcome = await this.finishClient(client, local, timeoutMs, Math.max(1000, deadline - Date.now()));
    return { outcome, faults: records };
  }

  /**
   * Reflection (./amplification.ts): the variant's real client's first request, caught on the client host, sent
   * again by hping3 from the client host's network namespace with a victim's address there as its source, straight
   * to the variant's server (not through the shaped path); what the victim receives within `windowMs`.
   */
  async amplification(v: Variant, remote: string, windowMs: number): Promise<AmplificationOutcome> {
    const server = await this.ensureServer(v);
    if (server.transport === 'tcp')
      throw new LabError('E_RUNTIME', 'amplification: TCP needs a handshake, nothing to reflect');
    const env = this.home('client');
    return amplify({
      client: this.host('client'),
      server: this.host('server').address,
      serverPort: server.port,
      clientArgv: (target) => [
        ...this.udplab(),
        ...clientArgs(v, target, remote, join(this.folders().clients, 'never.bin')),
      ],
      ...(env && { env }),
      label: v.id,
      windowMs,
      placed: (p) => {
        if (this.stopping) throw stoppingError('an amplification step');
        this.clients.add(p);
        void p.exited.then(() => this.clients.delete(p));
      },
    });
  }

  async startCapture(pcapPath: string): Promise<string | undefined> {
    const refused = this.captureRefusal();
    if (refused) return refused;
    const onHost = this.captureFile(pcapPath);
    const argv = ['tcpdump', '-i', this.captureInterface(), '-U', '--immediate-mode', '-s', '256', '-w', onHost];
    const tcpdump = place(this.host('client'), [...argv, ...this.captureFilter()]);
    const why = await new Promise<string | undefined>((ok) => {
      const t = setTimeout(() => ok(`tcpdump did not start within 5 s in ${tcpdump.host.name}`), 5000);
      const listening = () => {
        if (/listening on/.test(tcpdump.err())) {
          clearTimeout(t);
          ok(undefined);
        }
      };
      tcpdump.child.stderr!.on('data', listening);
      listening();
      void tcpdump.exited.then(() => {
        clearTimeout(t);
        ok(`tcpdump: ${tcpdump.err().trim().split('\n').pop()}`);
      });
    });
    if (why) {
      await tcpdump.stop('SIGKILL');
      return why;
    }
    this.capture = { tcpdump, onHost, path: pcapPath };
    return undefined;
  }

  /** Stops tcpdump (it flushes on SIGINT) and copies the pcap back from the client host; its size in bytes. */
  async stopCapture(): Promise<number> {
    const c = this.capture;
    if (!c) return 0;
    this.capture = undefined;
    await c.tcpdump.stop('SIGINT');
    return (await c.tcpdump.host.copyOut(c.onHost, c.path)) ? statSync(c.path).size : 0;
  }

  /** The processes the lab placed: ended at teardown. */
  protected stopProcesses(): Promise<unknown> {
    return Promise.all([
      ...[...this.clients].map((c) => c.stop('SIGKILL')),
      ...[...this.servers.values()].map((s) => s.stop()),
    ]);
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
    await step(() => this.stopProcesses());
    this.servers.clear();
    await step(() => this.release());
    if (errors.length > 0) throw errors[0];
  }

  /** What this machine started that is still alive (servers, relay, capture, clients). */
  protected livePids(): number[] {
    const children = [
      ...[...this.servers.values()].map((s) => s.child),
      this.relay?.child,
      this.capture?.tcpdump.child,
      ...[...this.clients].map((c) => c.child),
    ];
    return children
      .filter((c) => c !== undefined && c.exitCode === null && c.signalCode === null)
      .map((c) => c!.pid)
      .filter((p): p is number => p !== undefined);
  }

  abstract leftovers(): Leftovers;
}
