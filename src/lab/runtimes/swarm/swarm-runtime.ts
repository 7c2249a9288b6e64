// The `swarm` runtime: the docker runtime's lab (shaping, read-back, SHA-256 checks, faults, captures, reports) with
// its endpoints as Docker Swarm services. The lab's network is an attachable `internal` overlay network; server,
// client and (with the relay) relay are one-replica services of the udplab image (pinned by ID) with NET_ADMIN,
// placed by a constraint each (`--server-node` / `--client-node`: `node.labels.site==a`, `node.hostname==h`). The
// docker runtime places its endpoints through the `LabNode` seam (an ID, an address, a removal); here a node is the
// service's task container, entered like the docker runtime's as a `ContainerHost` (`docker exec`, through
// `dockerFor(role)`: this engine's `docker`) — so the lab must run on the node where the tasks run (a manager that
// is also a worker: the one-node swarm tested here). Everything is labelled udplab=1 + udplab.owner and removed on stop (services,
// their containers, the network), also after a half-failed start (the runner stops a runtime whose start failed).
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { promisify } from 'node:util';
import { LabError } from '../../errors.js';
import { buildImage, LABEL, type LabNetwork, type LabNode } from '../docker.js';
import { DockerRuntime } from '../docker-runtime.js';
import type { RuntimeName, ShaperName } from '../types.js';
import { removeNetwork, removeService } from './services.js';

const exec = promisify(execFile);

async function docker(args: string[], timeoutMs = 30_000): Promise<string> {
  const { stdout } = await exec('docker', args, { timeout: timeoutMs, maxBuffer: 16 << 20 });
  return stdout;
}

/** Where each endpoint's service may run: swarm placement constraints (`node.labels.site==a`). */
export interface Placement {
  server?: string;
  client?: string;
  relay?: string;
}

function owned(): string[] {
  return ['--label', `${LABEL}=1`, '--label', `udplab.owner=${process.pid}`];
}

/** A swarm task's container, as the docker runtime uses its containers: an ID (entered with `docker exec`), an address. */
class TaskNode implements LabNode {
  constructor(
    readonly service: string,
    private readonly id: string,
    private readonly addrs: Map<string, string>,
  ) {}

  getId(): string {
    return this.id;
  }

  getIpAddress(network: string): string {
    const a = this.addrs.get(network);
    if (!a) throw new LabError('E_RUNTIME', `swarm: service ${this.service} has no address on network ${network}`);
    return a;
  }

  async stop(): Promise<void> {
    await removeService(this.service);
  }
}

export class SwarmRuntime extends DockerRuntime {
  override readonly name: RuntimeName = 'swarm';
  private image = '';
  private readonly started: string[] = [];

  constructor(
    notices: string[],
    shaperWanted: ShaperName | 'auto',
    private readonly placement: Placement = {},
  ) {
    super(notices, shaperWanted, 4);
  }

  override async start(): Promise<void> {
    const state = (await docker(['info', '--format', '{{.Swarm.LocalNodeState}}'], 10_000)).trim();
    if (state !== 'active')
      throw new LabError(
        'E_RUNTIME',
        `--runtime swarm: this Docker engine is not in a swarm (state ${state}): docker swarm init, or join one (docs/cluster.md)`,
      );
    const tag = await buildImage();
    this.image = (await docker(['image', 'inspect', '--format', '{{.Id}}', tag])).trim();
    await super.start();
    const where = (['server', 'client', 'relay'] as const)
      .filter((r) => this.placement[r])
      .map((r) => `${r} on ${this.placement[r]}`);
    this.notices.push(
      `swarm: endpoints as services on an overlay network${where.length ? ` (${where.join(', ')})` : ''}, image ${tag} (${this.image.slice(0, 19)}).`,
    );
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
    await docker([
      'service',
      'create',
      '--detach',
      '--quiet',
      '--no-resolve-image',
      '--name',
      service,
      ...owned(),
      '--container-label',
      `${LABEL}=1`,
      '--container-label',
      `udplab.owner=${process.pid}`,
      '--container-label',
      `udplab.role=${role}`,
      '--restart-condition',
      'none',
      '--cap-add',
      'NET_ADMIN',
      '--network',
      network.name,
      ...(constraint ? ['--constraint', constraint] : []),
      this.image,
    ]);
    // ready: the task's container runs on this node (bounded by the start timeout)
    const until = Date.now() + 60_000;
    while (true) {
      const id = (
        await docker([
          'ps',
          '-q',
          '--no-trunc',
          '--filter',
          `label=com.docker.swarm.service.name=${service}`,
          '--filter',
          'status=running',
        ])
      ).trim();
      if (id) {
        const fmt = `{{with index .NetworkSettings.Networks ${JSON.stringify(network.name)}}}{{.IPAddress}}{{end}}`;
        const addr = (await docker(['inspect', '--format', fmt, id])).trim();
        if (addr) return new TaskNode(service, id.split('\n')[0]!, new Map([[network.name, addr]]));
      }
      const ps = (
        await docker([
          'service',
          'ps',
          '--no-trunc',
          '--format',
          '{{.Node}} {{.CurrentState}} {{.Error}}',
          service,
        ]).catch(() => '')
      ).trim();
      if (/no suitable node/.test(ps))
        throw new LabError(
          'E_RUNTIME',
          `--runtime swarm: no node for the ${role} service ${service}${constraint ? ` (constraint ${constraint})` : ''}: ${ps.split('\n')[0]}`,
        );
      if (Date.now() > until) {
        throw new LabError(
          'E_RUNTIME',
          `--runtime swarm: the ${role} service ${service} has no running task on this node after 60 s (${ps || 'no task'}); the lab execs into its tasks, so it must run on their node`,
        );
      }
      await delay(250);
    }
  }

  override async stop(): Promise<void> {
    // every service this lab created (also one whose task never came up), then what the docker runtime holds
    // (image protocols' containers, the host copy of the file, the nodes again: idempotent) and the network
    await Promise.all(this.started.splice(0).map(removeService));
    await super.stop();
  }
}
