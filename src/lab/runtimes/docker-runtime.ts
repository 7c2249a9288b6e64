// The `docker` runtime: server and client (and, for the userspace shaper, a relay) in separate containers on
// an `internal` network, NET_ADMIN, labelled udplab=1, always removed. It builds the network and places the
// containers (testcontainers creates them; the swarm runtime, ./swarm/, makes them swarm tasks instead); each is a
// `ContainerHost` (`docker exec CONTAINER …`, argv arrays, through an injectable `docker` argv: `dockerFor`), and
// servers, the relay, clients, faults, capture and the test file are ./placed.ts over them. The netem shaper
// (shapers/netem.ts) runs `tc` inside each endpoint (egress: the client's eth0 carries "up", the server's "down");
// where the kernel has no sch_netem it falls back to the relay (shapers/relay.ts) in a third container, loudly.
// Image protocols (a user's image) run in containers of their own on the same network: ./docker-image.ts.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LabError } from '../errors.js';
import { imageOf } from '../protocols/image.js';
import { type Fault, type FaultRecord, serverSpec, type Variant } from '../protocols/index.js';
import { netemShaper } from '../shapers/netem.js';
import { type RelayListening, relayReadback } from '../shapers/relay.js';
import type { ShapedEnd } from '../shapers/types.js';
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
import { ContainerHost, type DockerCli, dockerCli, type Role } from './host.js';
import { PlacedRuntime } from './placed.js';
import type {
  ClientOutcome,
  FlowSpec,
  Leftovers,
  PreparedFile,
  RuntimeName,
  ShaperName,
  ShapingRequest,
} from './types.js';

const SERVER_PORT_BASE = 4460;
const RELAY_PORT = 4456;

export class DockerRuntime extends PlacedRuntime {
  readonly name: RuntimeName = 'docker';
  shaper: ShaperName = 'netem';
  kernel = '';
  private net: LabNetwork | undefined;
  private readonly nodes: Partial<Record<Role, LabNode>> = {};
  /** this machine's folder for the test file as made (copied into the server container; image protocols' {root}) */
  private stage: string | undefined;
  /** image protocols: their containers (docker-image.ts), started on first use on this lab's network */
  private images: ImageEndpointLab | undefined;
  /** the shaping in place is an image protocol's */
  private imageShaped = false;
  /** the capture running is an image protocol's (a tcpdump sidecar in their clients' network namespace) */
  private imageCapture = false;

  /** `ip: 6`: each container's IPv6 address on the lab network, read back from the engine */
  private readonly addr6 = new Map<LabNode, string>();

  constructor(
    notices: string[],
    private readonly shaperWanted: ShaperName | 'auto',
    /** The IP version of the path: 6 makes the network dual-stack and puts every hop on IPv6. */
    private readonly ipVersion: 4 | 6 = 4,
  ) {
    super(notices);
  }

  async start(): Promise<void> {
    await sweepLeftovers();
    this.stage = mkdtempSync(join(tmpdir(), 'udplab-file-'));
    this.net = await this.createNetwork(this.ipVersion);
    // both settle before a failure is thrown, so a container that did start is kept for stop() to remove
    const roles = ['server', 'client'] as const;
    const started = await Promise.allSettled(roles.map((r) => this.startNode(this.net!, r)));
    started.forEach((r, i) => {
      if (r.status === 'fulfilled') this.nodes[roles[i]!] = r.value;
    });
    for (const r of started) if (r.status === 'rejected') throw r.reason;
    this.kernel = (await this.host('server').exec(['uname', '-sr'])).stdout.trim();
    if (this.shaperWanted !== 'userspace') {
      const p = await netemShaper.probe(this.host('client'), 'eth0');
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
    if (this.shaper === 'userspace') this.nodes.relay = await this.startNode(this.net, 'relay');
    if (this.ipVersion === 6) {
      const shown: string[] = [];
      for (const role of ['client', 'relay', 'server'] as const) {
        const c = this.nodes[role];
        if (!c) continue;
        const a = await containerIPv6(c.getId(), this.net, role);
        this.addr6.set(c, a);
        shown.push(`${role} ${a}`);
      }
      this.notices.push(
        `IPv6 path: client, ${this.nodes.relay ? 'relay and ' : ''}server talk over docker network ${this.net.name} (${this.net.subnet6}): ${shown.join(', ')}.`,
      );
    }
  }

  /** The seam another engine's runtime (swarm) overrides: the lab's network, */
  protected createNetwork(ip: 4 | 6): Promise<LabNetwork> {
    return createInternalNetwork('udplab-lab', { ip });
  }

  /** … one of its endpoints' containers (server, client, relay), */
  protected startNode(network: LabNetwork, role: Role): Promise<LabNode> {
    return startNode({ network, name: role });
  }

  /** … and the `docker` that reaches a role's container (`docker --host URL` for another node's engine). */
  protected dockerFor(_role: Role): DockerCli {
    return dockerCli();
  }

  /** A role's container as a Host: commands through `docker exec`, at its address on the lab network. */
  protected host(role: Role): ContainerHost {
    const c = this.nodes[role];
    if (!c || !this.net) throw new LabError('E_RUNTIME', `the docker runtime has no ${role} container`);
    const address = this.addr6.get(c) ?? c.getIpAddress(this.net.name);
    return new ContainerHost(`container ${role}`, c.getId(), address, this.dockerFor(role));
  }

  protected udplab(): string[] {
    return ['udplab'];
  }

  protected folders(): { root: string; clients: string; stage: string } {
    if (!this.stage) throw new LabError('E_RUNTIME', 'the docker runtime has not started');
    return { root: '/srv/udplab', clients: '/data', stage: this.stage };
  }

  /** Listeners bind the wildcard (`::` on an IPv6 path); servers on fixed ports from 4460, the relay on 4456. */
  protected override bindAddress(): string {
    return this.ipVersion === 6 ? '::' : '0.0.0.0';
  }
  protected override serverPort(n: number): number {
    return SERVER_PORT_BASE + n;
  }
  protected override relayPort(): number {
    return RELAY_PORT;
  }
  protected override relayShown(j: RelayListening, r: ShapingRequest): string {
    return relayReadback('userspace relay container', j, r);
  }
  protected captureInterface(): string {
    return 'eth0';
  }
  /** None: the client container's eth0 carries only the lab's path, and a port filter would drop IPv6 fragments. */
  protected override captureFilter(): string[] {
    return [];
  }
  protected override captureFile(): string {
    return '/tmp/capture.pcap';
  }
  protected override netemEnds(): ShapedEnd[] {
    return [
      { host: this.host('client'), dev: 'eth0', direction: 'up', where: 'client eth0' },
      { host: this.host('server'), dev: 'eth0', direction: 'down', where: 'server eth0' },
    ];
  }

  override async prepareFile(
    spec: { sizeBytes: number; content: 'random' | 'zeros' | 'text' } | { path: string },
  ): Promise<PreparedFile> {
    const prepared = await super.prepareFile(spec);
    // the image protocols serve the same bytes from this machine's copy
    this.images?.prepareFile({ path: this.originalPath()! });
    return prepared;
  }

  /** The image protocols' containers, started on first use (sharing this lab's network and test file). */
  private async imageLab(): Promise<ImageEndpointLab> {
    if (!this.images) {
      const lab = new ImageEndpointLab(this.notices, this.shaper);
      this.images = lab;
      await lab.start(this.net);
      const original = this.originalPath();
      if (original) lab.prepareFile({ path: original });
    }
    return this.images;
  }

  private static imageSpec(v: Variant): ImageEndpointSpec {
    return { ...imageOf(v), label: v.id };
  }

  override async applyShaping(req: ShapingRequest): Promise<string> {
    if (req.variant.protocol !== 'image') return super.applyShaping(req);
    await this.clearShaping();
    const lab = await this.imageLab();
    this.imageShaped = true;
    return lab.applyShaping({
      spec: DockerRuntime.imageSpec(req.variant),
      up: req.up,
      down: req.down,
      seed: req.seed,
      ...(req.mtu !== undefined && { mtu: req.mtu }),
      ...(req.blackouts !== undefined && { blackouts: req.blackouts }),
    });
  }

  /** netem: the counters each endpoint's qdisc kept (`tc -s qdisc show`), read before it is deleted. */
  override async clearShaping(): Promise<unknown> {
    if (!this.imageShaped) return super.clearShaping();
    this.imageShaped = false;
    return this.images?.clearShaping();
  }

  override async runClients(v: Variant, remote: string, timeoutMs: number, count: number): Promise<ClientOutcome[]> {
    if (v.protocol !== 'image') return super.runClients(v, remote, timeoutMs, count);
    const lab = await this.imageLab();
    const runs = await lab.runClients(DockerRuntime.imageSpec(v), remote, timeoutMs, count);
    return runs.map((o, i) => toClientOutcome(o, remote, `/udplab/out/file-${i}.bin`));
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
  override async runFlows(flows: FlowSpec[], remote: string, timeoutMs: number): Promise<ClientOutcome[]> {
    const main = flows[0]!.variant;
    const other = flows.find(
      (f) => serverSpec(f.variant).key !== serverSpec(main).key || f.variant.protocol === 'image',
    );
    if (other)
      throw new LabError(
        'E_SCENARIO_INVALID',
        `competing: ${other.variant.id} beside ${main.id}: the docker runtime runs competing flows of the run's own protocol only (kind ruft with protocol ruft); use --runtime netns --shaper netem for TCP`,
      );
    return super.runFlows(flows, remote, timeoutMs);
  }

  override async startCapture(pcapPath: string): Promise<string | undefined> {
    if (!this.imageShaped) return super.startCapture(pcapPath);
    const why = await this.images!.startCapture(pcapPath);
    this.imageCapture = why === undefined;
    return why;
  }

  override async stopCapture(): Promise<number> {
    if (!this.imageCapture) return super.stopCapture();
    this.imageCapture = false;
    return this.images!.stopCapture();
  }

  /** Containers, networks and the folder (the `docker exec` children this machine started end with the containers). */
  leftovers(): Leftovers {
    const mine = Object.values(this.nodes).map((c) => c.getId().slice(0, 12));
    const theirs = this.images?.leftovers();
    return {
      containers: [...mine, ...(theirs?.containers ?? [])],
      networks: [...(this.net ? [this.net.name] : []), ...(theirs?.networks ?? [])],
      ...(this.stage && { dirs: [this.stage] }),
    };
  }

  /** The image protocols' containers (before the network they share), the processes, the containers, the folder. */
  override async stop(): Promise<void> {
    await this.images?.stop().catch(() => undefined);
    this.images = undefined;
    await super.stop();
  }

  protected override async release(): Promise<void> {
    if (this.stage) rmSync(this.stage, { recursive: true, force: true });
    this.stage = undefined;
    const { server, client, relay } = this.nodes;
    await teardown([client, server, relay], this.net);
    for (const r of ['server', 'client', 'relay'] as const) delete this.nodes[r];
    this.addr6.clear();
    this.net = undefined;
  }
}
