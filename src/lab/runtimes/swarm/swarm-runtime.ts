// The `swarm` runtime: the docker runtime's lab (shaping, read-back, SHA-256 checks, faults, captures, reports) with
// its endpoints as Docker Swarm services. The lab's network is an attachable `internal` overlay network; server,
// client and (with the relay) relay are one-replica services of the udplab image (pinned by ID) — server and client
// with NET_ADMIN where kernel netem may shape them (not under --shaper userspace), the relay (userspace) without —
// placed by a constraint each (the scenario's `placement:`, or `--server-node` / `--client-node` / `--relay-node`,
// which win). The docker runtime places its endpoints through the `LabNode` seam (an ID, an address, a removal) and
// enters each as a `ContainerHost` through `dockerFor(role)`; here a node is the service's task container, and
// `dockerFor` is the engine of the node its task runs on (engines.ts: this machine's own, `--node-engine NODE=URL`,
// or the node's `udplab.engine` label) — every `docker exec`, `docker cp` and `docker inspect` of it goes there. Everything is labelled udplab=1 + udplab.owner and removed on stop
// (services, their containers on every engine used, the network), also after a half-failed start (the runner stops a
// runtime whose start failed).
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { promisify } from 'node:util';
import { LabError } from '../../errors.js';
import { sweepServices } from '../../swarm-job.js';
import { buildImage, LABEL, type LabNetwork, type LabNode } from '../docker.js';
import { DockerRuntime } from '../docker-runtime.js';
import type { DockerCli, Role } from '../host.js';
import type { RuntimeName, ShaperName } from '../types.js';
import { checkNodeNames, type Engine, engineAt, locateTask } from './engines.js';
import { type Placement, type PlacementRole, ROLES } from './placement.js';
import { removeNetwork, removeService } from './services.js';

const exec = promisify(execFile);

async function docker(args: string[], timeoutMs = 30_000): Promise<string> {
  const { stdout } = await exec('docker', args, { timeout: timeoutMs, maxBuffer: 16 << 20 });
  return stdout;
}

function owned(): string[] {
  return ['--label', `${LABEL}=1`, '--label', `udplab.owner=${process.pid}`];
}

/** A swarm task's container, reached through its node's engine, as the docker runtime uses its containers. */
export class TaskNode implements LabNode {
  constructor(
    readonly service: string,
    private readonly id: string,
    /** its address on the lab's network */
    readonly address: string,
    private readonly network: string,
    /** the engine of the node the task runs on */
    readonly engine: Engine,
    /** that node's hostname, for messages */
    readonly nodeName: string,
  ) {}

  getId(): string {
    return this.id;
  }

  getIpAddress(network: string): string {
    const a = network === this.network ? this.address : undefined;
    if (!a) throw new LabError('E_RUNTIME', `swarm: service ${this.service} has no address on network ${network}`);
    return a;
  }

  async stop(): Promise<void> {
    await removeService(this.service, [this.engine]);
  }
}

/**
 * `docker service create` argv of one endpoint's service (pure: the tests read it). NET_ADMIN only where `tc` may
 * run: server and client, unless the userspace relay shapes for certain; the relay is a userspace UDP forwarder.
 */
export function endpointServiceArgv(o: {
  service: string;
  role: PlacementRole;
  network: string;
  image: string;
  constraint?: string | undefined;
  shaper: ShaperName | 'auto';
}): string[] {
  const tc = o.role !== 'relay' && o.shaper !== 'userspace';
  return [
    'service',
    'create',
    '--detach',
    '--quiet',
    '--no-resolve-image',
    '--name',
    o.service,
    ...owned(),
    '--container-label',
    `${LABEL}=1`,
    '--container-label',
    `udplab.owner=${process.pid}`,
    '--container-label',
    `udplab.role=${o.role}`,
    '--restart-condition',
    'none',
    ...(tc ? ['--cap-add', 'NET_ADMIN'] : []),
    '--network',
    o.network,
    ...(o.constraint ? ['--constraint', o.constraint] : []),
    o.image,
  ];
}

export interface SwarmOptions {
  /** a constraint per endpoint (mergePlacement's) */
  placement?: Placement;
  /** where each constraint came from, for the notice (mergePlacement's `said`) */
  said?: string[];
  /** `--node-engine NODE=URL`: the engine endpoint of a node, by hostname or node ID */
  nodeEngines?: ReadonlyMap<string, string>;
}

export class SwarmRuntime extends DockerRuntime {
  override readonly name: RuntimeName = 'swarm';
  private image = '';
  private selfId = '';
  private readonly started: string[] = [];
  /** each endpoint's task, once located (its engine also removes the task's container on stop) */
  private readonly tasks = new Map<PlacementRole, TaskNode>();
  private readonly placement: Placement;
  private readonly nodeEngines: ReadonlyMap<string, string>;

  constructor(
    notices: string[],
    private readonly shaperAsked: ShaperName | 'auto',
    private readonly o: SwarmOptions = {},
  ) {
    super(notices, shaperAsked, 4);
    this.placement = o.placement ?? {};
    this.nodeEngines = o.nodeEngines ?? new Map();
  }

  override async start(): Promise<void> {
    const state = (await docker(['info', '--format', '{{.Swarm.LocalNodeState}}'], 10_000)).trim();
    if (state !== 'active')
      throw new LabError(
        'E_RUNTIME',
        `--runtime swarm: this Docker engine is not in a swarm (state ${state}): docker swarm init, or join one (docs/cluster.md)`,
      );
    this.selfId = (await docker(['info', '--format', '{{.Swarm.NodeID}}'], 10_000)).trim();
    if (this.nodeEngines.size > 0)
      checkNodeNames(this.nodeEngines, (await docker(['node', 'ls', '--format', '{{.ID}} {{.Hostname}}'])).split('\n'));
    const tag = await buildImage();
    this.image = (await docker(['image', 'inspect', '--format', '{{.Id}}', tag])).trim();
    // services of a lab killed before its teardown (SIGKILL) hold their overlay network: remove them first, as
    // super.start() sweeps containers and networks
    await sweepServices();
    await super.start();
    const said = this.o.said ?? ROLES.filter((r) => this.placement[r]).map((r) => `${r} on ${this.placement[r]}`);
    this.notices.push(
      `swarm: endpoints as services on an overlay network${said.length ? ` (${said.join(', ')})` : ''}, image ${tag} (${this.image.slice(0, 19)}).`,
    );
    this.notices.push(
      `swarm: ${ROLES.flatMap((r) => {
        const n = this.tasks.get(r);
        return n ? [`${r} task on node ${n.nodeName}, reached through ${n.engine.via}`] : [];
      }).join(', ')}.`,
    );
  }

  /** Commands in a task's container go through the engine of its node (`docker --host URL exec …`). */
  protected override dockerFor(role: Role): DockerCli {
    const t = this.tasks.get(role);
    return t ? t.engine : super.dockerFor(role); // an Engine is a DockerCli: its argv prefix and its runner
  }

  protected override async createNetwork(ip: 4 | 6): Promise<LabNetwork> {
    if (ip === 6)
      throw new LabError('E_RUNTIME', '--runtime swarm: ip: 6 is not supported (the overlay network is IPv4)');
    const name = `udplab-swarm-${process.pid}-${randomBytes(3).toString('hex')}`;
    await docker(['network', 'create', '--driver', 'overlay', '--attachable', '--internal', ...owned(), name]);
    return {
      name,
      remove: () => removeNetwork(name),
    };
  }

  protected override async startNode(network: LabNetwork, role: 'server' | 'client' | 'relay'): Promise<LabNode> {
    const service = `udplab-${role}-${process.pid}-${randomBytes(3).toString('hex')}`;
    const constraint = this.placement[role];
    this.started.push(service);
    await docker(
      endpointServiceArgv({
        service,
        role,
        network: network.name,
        image: this.image,
        constraint,
        shaper: this.shaperAsked,
      }),
    );
    const manager = engineAt(undefined, "this node's engine").run;
    const what = `the ${role} service ${service}'s task`;
    // ready: the task's container runs (on whichever node) and has an address on the network (bounded: 60 s)
    const until = Date.now() + 60_000;
    let last = 'no task';
    while (true) {
      const t = await locateTask(manager, service, this.selfId, this.nodeEngines, what);
      if (t.state === 'running') {
        const fmt = `{{with index .NetworkSettings.Networks ${JSON.stringify(network.name)}}}{{.IPAddress}}{{end}}`;
        const r = await t.engine.run(['inspect', '--type', 'container', '--format', fmt, t.containerId], {
          timeoutMs: 30_000,
        });
        if (r.code !== 0)
          throw new LabError(
            'E_RUNTIME',
            `--runtime swarm: ${what} runs on node ${t.node.hostname}, but docker inspect of its container through ${t.engine.via} failed: ${r.stderr.trim().split('\n')[0]}`,
          );
        const addr = r.stdout.trim();
        if (addr) {
          const node = new TaskNode(service, t.containerId, addr, network.name, t.engine, t.node.hostname);
          this.tasks.set(role, node);
          return node;
        }
        last = `running on node ${t.node.hostname}, no address on ${network.name} yet`;
      } else if (t.state === 'failed') {
        if (/no suitable node/.test(t.detail))
          throw new LabError(
            'E_RUNTIME',
            `--runtime swarm: no node for the ${role} service ${service}${constraint ? ` (constraint ${constraint})` : ''}: ${t.detail}`,
          );
        const image = /No such image/i.test(t.detail)
          ? ` — the image is not on that node: docker save ${this.image} | docker --host URL load (docs/cluster.md)`
          : '';
        throw new LabError('E_RUNTIME', `--runtime swarm: ${what} ended before it ran: ${t.detail}${image}`);
      } else last = t.detail;
      if (Date.now() > until)
        throw new LabError('E_RUNTIME', `--runtime swarm: ${what} is not running after 60 s (${last})`);
      await delay(250);
    }
  }

  override async stop(): Promise<void> {
    // every service this lab created (also one whose task never came up; a located task's container through its
    // node's engine too), then what the docker runtime holds (image protocols' containers, the host copy of the
    // file, the nodes again: idempotent) and the network
    await Promise.all(
      this.started.splice(0).map((s) => {
        const n = [...this.tasks.values()].find((t) => t.service === s);
        return removeService(s, n ? [n.engine] : []);
      }),
    );
    this.tasks.clear();
    await super.stop();
  }
}
