// The `docker` runtime: server and client (and, for the userspace shaper, a relay) in separate containers on
// an `internal` network, NET_ADMIN, labelled udplab=1, always removed. Each container is a Host (`docker exec`,
// host.ts); the netem shaper (shapers/netem.ts) runs `tc` inside each endpoint through it (egress: the client's eth0
// carries "up", the server's "down"); where the kernel has no sch_netem it falls back to the relay
// (shapers/relay.ts) in a third container, loudly.
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatHostPort } from '../../transport/index.js';
import { LabError } from '../errors.js';
import { startTimeoutMs } from '../process.js';
import { imageOf } from '../protocols/image.js';
import { clientArgs, type Fault, type FaultRecord, serverSpec, type Variant } from '../protocols/index.js';
import { NetemPath, netemShaper } from '../shapers/netem.js';
import { type RunningRelay, relayReadback, startRelay } from '../shapers/relay.js';
import {
  containerIPv6,
  createInternalNetwork,
  type LabNetwork,
  type LabNode,
  startNode,
  sweepLeftovers,
  teardown,
} from './docker.js';
import { ImageEndpointLab, type ImageEndpointSpec } from './docker-image.js';
import { toClientOutcome } from './docker-image-grade.js';
import { ContainerHost } from './host.js';
import { writeContent } from './local.js';
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

const SERVER_PORT_BASE = 4460;

/** node -e WATCHER JOURNAL PCT PID SECONDS: prints the share held once ≥ PCT; exit 3 if PID ends first. */
const WATCHER = `const fs=require('fs');const [f,p,pid,s]=process.argv.slice(1);const end=Date.now()+s*1000;
setInterval(()=>{try{process.kill(+pid,0)}catch{process.exit(3)}if(Date.now()>end)process.exit(4);
try{const j=JSON.parse(fs.readFileSync(f,'utf8'));const h=j.ranges.reduce((n,r)=>n+r[1]-r[0],0)*100/j.sizeBytes;
if(h>=+p){console.log(h);process.exit(0)}}catch{}},10)`;
const RELAY_PORT = 4456;

async function run(
  c: LabNode,
  cmd: string[],
): Promise<{ exitCode: number; output: string; stdout: string; stderr: string }> {
  const r = await c.exec(cmd);
  return { exitCode: r.exitCode, output: r.output, stdout: r.stdout, stderr: r.stderr };
}

export class DockerRuntime implements LabRuntime {
  readonly name: RuntimeName = 'docker';
  shaper: ShaperName = 'netem';
  kernel = '';
  private net: LabNetwork | undefined;
  private server: LabNode | undefined;
  private client: LabNode | undefined;
  private relay: LabNode | undefined;
  private relayRunning: RunningRelay | undefined;
  /** kernel netem on the path, while it is applied */
  private netem: NetemPath | undefined;
  private readonly servers = new Map<string, { port: number; pid: string; args: string[] }>();
  private target = '';
  private capturePath = '';
  private capturePid = '';
  /** image protocols: their containers (docker-image.ts), started on first use on this lab's network */
  private images: ImageEndpointLab | undefined;
  /** the test file on the host, kept for the image protocols' {root} */
  private hostFile: { dir: string; path: string } | undefined;
  /** the shaping in place is an image protocol's */
  private imageShaped = false;
  /** the capture running is an image protocol's (a tcpdump sidecar in their clients' network namespace) */
  private imageCapture = false;

  /** `ip: 6`: each container's IPv6 address on the lab network, read back from the engine */
  private readonly addr6 = new Map<LabNode, string>();

  constructor(
    readonly notices: string[],
    private readonly shaperWanted: ShaperName | 'auto',
    /** The IP version of the path: 6 makes the network dual-stack and puts every hop on IPv6. */
    private readonly ipVersion: 4 | 6 = 4,
  ) {}

  async start(): Promise<void> {
    await sweepLeftovers();
    this.net = await this.createNetwork(this.ipVersion);
    // both settle before a failure is thrown, so a container that did start is kept for stop() to remove
    const [server, client] = await Promise.allSettled([
      this.startNode(this.net, 'server'),
      this.startNode(this.net, 'client'),
    ]);
    if (server.status === 'fulfilled') this.server = server.value;
    if (client.status === 'fulfilled') this.client = client.value;
    for (const r of [server, client]) if (r.status === 'rejected') throw r.reason;
    if (!this.server || !this.client) throw new LabError('E_RUNTIME', 'the server or client container did not start');
    this.kernel = (await run(this.server, ['uname', '-sr'])).stdout.trim();
    if (this.shaperWanted !== 'userspace') {
      const p = await netemShaper.probe(this.host(this.client, 'client'), 'eth0');
      if (!p.ok) {
        if (this.shaperWanted === 'netem') {
          throw new LabError('E_SHAPER', `--shaper netem: this kernel (${this.kernel}) cannot run netem: ${p.detail}`);
        }
        this.notices.push(
          `FALLBACK: kernel ${this.kernel} has no sch_netem (tc: "${p.detail}"); shaping with the userspace relay in a third container instead. Figures describe the relay, not kernel netem.`,
        );
        this.shaper = 'userspace';
      }
    } else this.shaper = 'userspace';
    if (this.shaper === 'userspace') this.relay = await this.startNode(this.net, 'relay');
    if (this.ipVersion === 6) {
      const hops: Array<[string, LabNode | undefined]> = [
        ['client', this.client],
        ['relay', this.relay],
        ['server', this.server],
      ];
      const shown: string[] = [];
      for (const [role, c] of hops) {
        if (!c) continue;
        const a = await containerIPv6(c.getId(), this.net, role);
        this.addr6.set(c, a);
        shown.push(`${role} ${a}`);
      }
      this.notices.push(
        `IPv6 path: client, ${this.relay ? 'relay and ' : ''}server talk over docker network ${this.net.name} (${this.net.subnet6}): ${shown.join(', ')}.`,
      );
    }
  }

  /** The seam another engine's runtime (swarm) overrides: the lab's network, */
  protected createNetwork(ip: 4 | 6): Promise<LabNetwork> {
    return createInternalNetwork('udplab-lab', { ip });
  }

  /** … and one of its endpoints' containers (server, client, relay). */
  protected startNode(network: LabNetwork, role: 'server' | 'client' | 'relay'): Promise<LabNode> {
    return startNode({ network, name: role });
  }

  /** A container as a Host: commands through `docker exec`, at its address on the lab network. */
  protected host(c: LabNode, role: string): ContainerHost {
    return new ContainerHost(`container ${role}`, c.getId(), this.ip(c));
  }

  /** The wildcard a listener binds: `::` on an IPv6 path. */
  private get any(): string {
    return this.ipVersion === 6 ? '::' : '0.0.0.0';
  }

  /** Starts the variant's server in the server container on first use (one port per server key). */
  private async ensureServer(v: Variant): Promise<{ port: number; transport: 'udp' | 'tcp' }> {
    const spec = serverSpec(v);
    const known = this.servers.get(spec.key);
    if (known !== undefined) return { port: known.port, transport: spec.transport };
    const port = SERVER_PORT_BASE + this.servers.size;
    const pid = await this.startServer(spec.key, spec.args, port);
    this.servers.set(spec.key, { port, pid, args: spec.args });
    return { port, transport: spec.transport };
  }

  /** Starts `udplab ARGS` in the server container on `port`; returns its PID there. */
  private async startServer(key: string, args: string[], port: number): Promise<string> {
    const log = `/tmp/${key}.log`;
    const cmd = [...args, '--root', '/srv/udplab', '--host', this.any, '--port', String(port)]
      .map((a) => `'${a}'`)
      .join(' ');
    const srv = await run(this.server!, ['sh', '-c', `udplab ${cmd} > ${log} 2>&1 & echo $!`]);
    if (srv.exitCode !== 0) throw new LabError('E_RUNTIME', `could not start udplab ${args[0]}: ${srv.output}`);
    await this.waitFor(this.server!, log, 'listening', `udplab ${args[0]}`);
    return srv.stdout.trim();
  }

  /** Like the local runtime's: faults by PID inside the containers, progress read from the client's journal. */
  async runWithFaults(
    v: Variant,
    remote: string,
    timeoutMs: number,
    faults: Fault[],
  ): Promise<{ outcome: ClientOutcome; faults: FaultRecord[] }> {
    const c = this.client!;
    const spec = serverSpec(v);
    const local = '/data/file-0.bin';
    await run(c, ['sh', '-c', `rm -f ${local} ${local}.*.part ${local}.part ${local}.part.journal`]);
    const base = clientArgs(v, this.target, remote, local);
    const deadline = Date.now() + timeoutMs;
    /**
     * Starts a client leg in the background (its PID is udplab's own, its exit code lands in client.rc) and,
     * with a fault ahead, watches its journal from inside the container until the fault's share is held.
     */
    const leg = async (args: string[], f: Fault | undefined): Promise<{ pid: string; held: number | undefined }> => {
      const cmd = args.map((a) => `'${a}'`).join(' ');
      const secs = String(Math.max(1, Math.round((deadline - Date.now()) / 1000)));
      const script = [
        'rm -f /tmp/client.pid /tmp/client.rc',
        `(udplab ${cmd} > /tmp/client.out 2> /tmp/client.err & echo $! > /tmp/client.pid; wait $!; echo $? > /tmp/client.rc) > /dev/null 2>&1 &`,
        'while [ ! -s /tmp/client.pid ]; do sleep 0.01; done',
        'cat /tmp/client.pid',
        f ? `exec node -e "$WATCHER" ${local}.part.journal ${f.atPct} $(cat /tmp/client.pid) ${secs}` : 'true',
      ].join('\n');
      const r = await c.exec(['sh', '-c', script], { env: { WATCHER } });
      const [pid, held] = r.stdout.trim().split('\n');
      return { pid: pid!, held: f && r.exitCode === 0 && held ? Number(held) : undefined };
    };
    const alive = async (pid: string) => (await run(c, ['kill', '-0', pid])).exitCode === 0;
    const records: FaultRecord[] = [];
    let pending = [...faults];
    let cur = await leg(base, pending[0]);
    let pid = cur.pid;
    for (;;) {
      const f = pending[0];
      const held = cur.held;
      if (!f || held === undefined) break;
      pending = pending.slice(1);
      if (f.kill === 'client') await run(c, ['kill', '-9', pid]);
      else {
        const srv = this.servers.get(spec.key)!;
        await run(this.server!, ['kill', '-9', srv.pid]);
        if (f.restart) srv.pid = await this.startServer(spec.key, srv.args, srv.port);
        await run(c, ['kill', '-INT', pid]); // the client's user gives up on the lost session
      }
      for (let i = 0; i < 100 && (await alive(pid)); i++) await new Promise((ok) => setTimeout(ok, 50));
      // a final file is early unless that client had itself finished (exit 0) before the kill
      const early =
        (await run(c, ['sh', '-c', `test -e ${local} && ! grep -qx 0 /tmp/client.rc 2>/dev/null`])).exitCode === 0;
      records.push(faultRecord(f, held, early));
      if (!f.restart) return { outcome: notRestarted(f, held), faults: records };
      cur = await leg([...base, '--resume'], pending[0]);
      pid = cur.pid;
    }
    while (Date.now() < deadline && (await alive(pid))) await new Promise((ok) => setTimeout(ok, 100));
    if (await alive(pid)) await run(c, ['kill', '-9', pid]);
    const rc = await run(c, ['cat', '/tmp/client.rc']);
    const out = await run(c, ['cat', '/tmp/client.out']);
    const err = await run(c, ['cat', '/tmp/client.err']);
    const o = clientOutcome(rc.exitCode === 0 ? Number(rc.stdout.trim()) : null, out.stdout, err.stdout, timeoutMs);
    const sum = await run(c, ['sha256sum', local]);
    const sha = sum.exitCode === 0 ? sum.stdout.split(' ')[0]! : undefined;
    return {
      outcome: withLocalSha(o, sha),
      faults: records,
    };
  }

  /** The container's address on the lab network: its IPv6 one on an IPv6 path. */
  private ip(c: LabNode): string {
    return this.addr6.get(c) ?? c.getIpAddress(this.net!.name);
  }

  /** Waits (up to UDPLAB_START_TIMEOUT, default 30 s) for `needle` in a log inside the container. */
  private async waitFor(c: LabNode, log: string, needle: string, what: string): Promise<void> {
    const end = Date.now() + startTimeoutMs();
    while (Date.now() < end) {
      const r = await run(c, ['cat', log]);
      if (r.stdout.includes(needle)) return;
      await new Promise((ok) => setTimeout(ok, 100));
    }
    const r = await run(c, ['cat', log]);
    throw new LabError('E_RUNTIME', `${what} did not start in its container: ${r.stdout.trim()}`);
  }

  async prepareFile(
    spec: { sizeBytes: number; content: 'random' | 'zeros' | 'text' } | { path: string },
  ): Promise<PreparedFile> {
    const s = this.server!;
    // the host copy stays until stop(): what clients wrote is compared with it
    const tmp = mkdtempSync(join(tmpdir(), 'udplab-file-'));
    const host = join(tmp, 'file.bin');
    try {
      if ('path' in spec) copyFileSync(spec.path, host);
      else writeContent(host, spec.sizeBytes, spec.content);
      await s.copyFilesToContainer([{ source: host, target: '/srv/udplab/file.bin' }]);
    } catch (e) {
      rmSync(tmp, { recursive: true, force: true });
      throw e;
    }
    // kept until stop(): the image protocols serve the same bytes from a folder of the host
    if (this.hostFile) rmSync(this.hostFile.dir, { recursive: true, force: true });
    this.hostFile = { dir: tmp, path: host };
    this.images?.prepareFile({ path: host });
    const r = await run(s, ['sh', '-c', 'sha256sum /srv/udplab/file.bin && stat -c %s /srv/udplab/file.bin']);
    const [shaLine, sizeLine] = r.stdout.trim().split('\n');
    return { remote: 'file.bin', sha256: shaLine!.split(' ')[0]!, sizeBytes: Number(sizeLine) };
  }

  /** The image protocols' containers, started on first use (sharing this lab's network and test file). */
  private async imageLab(): Promise<ImageEndpointLab> {
    if (!this.images) {
      const lab = new ImageEndpointLab(this.notices, this.shaper);
      this.images = lab;
      await lab.start(this.net);
      if (this.hostFile) lab.prepareFile({ path: this.hostFile.path });
    }
    return this.images;
  }

  private static imageSpec(v: Variant): ImageEndpointSpec {
    return { ...imageOf(v), label: v.id };
  }

  async applyShaping(req: ShapingRequest): Promise<string> {
    const { up, down, seed } = req;
    await this.clearShaping();
    if (req.variant.protocol === 'image') {
      const lab = await this.imageLab();
      this.imageShaped = true;
      return lab.applyShaping({
        spec: DockerRuntime.imageSpec(req.variant),
        up,
        down,
        seed,
        ...(req.mtu !== undefined && { mtu: req.mtu }),
        ...(req.blackouts !== undefined && { blackouts: req.blackouts }),
      });
    }
    const server = await this.ensureServer(req.variant);
    this.target = formatHostPort(this.ip(this.server!), server.port);
    if (this.shaper === 'netem') {
      this.netem = new NetemPath([
        { host: this.host(this.client!, 'client'), dev: 'eth0', direction: 'up', where: 'client eth0' },
        { host: this.host(this.server!, 'server'), dev: 'eth0', direction: 'down', where: 'server eth0' },
      ]);
      return this.netem.apply({ up, down }, req.blackouts);
    }
    if (server.transport === 'tcp')
      return 'NOT SHAPED: the userspace relay carries UDP only; TCP runs on the clean path (kernel netem shapes it)';
    this.relayRunning = await startRelay(this.host(this.relay!, 'relay'), ['udplab'], req, {
      to: formatHostPort(this.ip(this.server!), server.port),
      listen: formatHostPort(this.any, RELAY_PORT),
    });
    this.target = formatHostPort(this.ip(this.relay!), RELAY_PORT);
    return relayReadback('userspace relay container', this.relayRunning.listening, req);
  }

  /** netem: the counters each endpoint's qdisc kept (`tc -s qdisc show`), read before it is deleted. */
  async clearShaping(): Promise<unknown> {
    if (this.imageShaped) {
      this.imageShaped = false;
      return this.images?.clearShaping();
    }
    const n = this.netem;
    this.netem = undefined;
    if (n) return n.clear();
    const r = this.relayRunning;
    this.relayRunning = undefined;
    return r?.stop();
  }

  async runClients(v: Variant, remote: string, timeoutMs: number, count: number): Promise<ClientOutcome[]> {
    if (v.protocol === 'image') {
      const lab = await this.imageLab();
      const runs = await lab.runClients(DockerRuntime.imageSpec(v), remote, timeoutMs, count);
      return runs.map((o, i) => toClientOutcome(o, remote, `/udplab/out/file-${i}.bin`));
    }
    const c = this.client!;
    await run(c, ['sh', '-c', 'rm -f /data/file-*.bin*']);
    return Promise.all(
      Array.from({ length: count }, async (_, i) => {
        const local = `/data/file-${i}.bin`;
        const r = await run(c, [
          'timeout',
          '-s',
          'KILL',
          String(Math.ceil(timeoutMs / 1000)),
          'udplab',
          ...clientArgs(v, this.target, remote, local),
        ]);
        const o = clientOutcome(r.exitCode, r.stdout, r.stderr, timeoutMs);
        const sum = await run(c, ['sha256sum', local]);
        const sha = sum.exitCode === 0 ? sum.stdout.split(' ')[0]! : undefined;
        return withLocalSha(o, sha);
      }),
    );
  }

  /**
   * Crash faults for an image protocol, as the local runtime's runExecWithFaults: progress is the size of the
   * client's {local}; the kill takes the client's or the server's container; restarted only if `resumable: true`.
   */
  async runExecWithFaults(
    v: Variant,
    remote: string,
    timeoutMs: number,
    faults: Fault[],
  ): Promise<{ outcome: ClientOutcome; faults: FaultRecord[] }> {
    if (v.protocol !== 'image')
      throw new LabError('E_RUNTIME', `${v.id}: the docker runtime runs image protocols, not ${v.protocol}`);
    const lab = await this.imageLab();
    return lab.runWithFaults(DockerRuntime.imageSpec(v), remote, timeoutMs, faults);
  }

  /**
   * Flows at once (scenario field `competing`) from the client container through the run's path (relay or
   * netem): clients of the variant the path was shaped for only (the server container serves that one).
   */
  async runFlows(flows: FlowSpec[], remote: string, timeoutMs: number): Promise<ClientOutcome[]> {
    const main = flows[0]!.variant;
    const other = flows.find(
      (f) => serverSpec(f.variant).key !== serverSpec(main).key || f.variant.protocol === 'image',
    );
    if (other)
      throw new LabError(
        'E_SCENARIO_INVALID',
        `competing: ${other.variant.id} beside ${main.id}: the docker runtime runs competing flows of the run's own protocol only (kind ruft with protocol ruft); use --runtime netns --shaper netem for TCP`,
      );
    const c = this.client!;
    await run(c, ['sh', '-c', 'rm -f /data/file-*.bin*']);
    return Promise.all(
      flows.map(async (f, i) => {
        const local = `/data/file-${i}.bin`;
        if (f.delayMs > 0) await new Promise((ok) => setTimeout(ok, f.delayMs));
        const r = await run(c, [
          'timeout',
          '-s',
          'KILL',
          String(Math.ceil(timeoutMs / 1000)),
          'udplab',
          ...clientArgs(f.variant, this.target, remote, local),
        ]);
        const o = clientOutcome(r.exitCode, r.stdout, r.stderr, timeoutMs);
        const sum = await run(c, ['sha256sum', local]);
        return withLocalSha(o, sum.exitCode === 0 ? sum.stdout.split(' ')[0]! : undefined);
      }),
    );
  }

  async startCapture(pcapPath: string): Promise<string | undefined> {
    if (this.imageShaped) {
      const why = await this.images!.startCapture(pcapPath);
      this.imageCapture = why === undefined;
      return why;
    }
    const r = await run(this.client!, [
      'sh',
      '-c',
      'tcpdump -i eth0 -U --immediate-mode -s 256 -w /tmp/capture.pcap > /tmp/tcpdump.log 2>&1 & echo $!',
    ]);
    this.capturePid = r.stdout.trim();
    for (let i = 0; i < 50; i++) {
      const log = await run(this.client!, ['cat', '/tmp/tcpdump.log']);
      if (log.stdout.includes('listening on')) {
        this.capturePath = pcapPath;
        return undefined;
      }
      await new Promise((ok) => setTimeout(ok, 100));
    }
    this.capturePid = '';
    return `tcpdump did not start in the client container: ${(await run(this.client!, ['cat', '/tmp/tcpdump.log'])).stdout.trim()}`;
  }

  async stopCapture(): Promise<number> {
    if (this.imageCapture) {
      this.imageCapture = false;
      return this.images!.stopCapture();
    }
    if (!this.capturePid) return 0;
    const pid = this.capturePid;
    this.capturePid = '';
    await run(this.client!, [
      'sh',
      '-c',
      `kill -INT ${pid}; for i in $(seq 1 30); do kill -0 ${pid} 2>/dev/null || break; sleep 0.1; done`,
    ]);
    const bytes = await this.host(this.client!, 'client')
      .readFile('/tmp/capture.pcap')
      .catch(() => Buffer.alloc(0));
    writeFileSync(this.capturePath, bytes);
    return bytes.length;
  }

  originalPath(): string | undefined {
    return this.hostFile?.path;
  }

  async keepClientFile(index: number, dest: string): Promise<boolean> {
    const bytes = await this.host(this.client!, 'client')
      .readFile(`/data/file-${index}.bin`)
      .catch(() => undefined);
    if (!bytes) return false;
    writeFileSync(dest, bytes);
    return true;
  }

  leftovers(): Leftovers {
    const mine = [this.client, this.server, this.relay].flatMap((c) => (c ? [c.getId().slice(0, 12)] : []));
    const theirs = this.images?.leftovers();
    return {
      containers: [...mine, ...(theirs?.containers ?? [])],
      networks: [...(this.net ? [this.net.name] : []), ...(theirs?.networks ?? [])],
      ...(this.hostFile && { dirs: [this.hostFile.dir] }),
    };
  }

  async stop(): Promise<void> {
    await this.images?.stop().catch(() => undefined); // before the network they share is removed
    this.images = undefined;
    if (this.hostFile) rmSync(this.hostFile.dir, { recursive: true, force: true });
    this.hostFile = undefined;
    await teardown([this.client, this.server, this.relay], this.net);
    this.client = this.server = this.relay = undefined;
    this.addr6.clear();
    this.net = undefined;
  }
}
