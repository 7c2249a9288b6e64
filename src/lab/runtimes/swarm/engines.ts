// Which Docker engine reaches a swarm task's container. A service's task runs on whichever node the scheduler
// picks; `docker exec`, `docker cp` and `docker inspect` of its container work only through that node's engine. The
// lab finds the task's node (the task's NodeID → `docker node inspect`: hostname, labels) and picks the engine:
// `--node-engine NODE=URL` (by hostname or node ID), else the node label `udplab.engine=URL`, else — for the node the
// lab runs on — this machine's own engine; a task elsewhere with none of these fails in one line naming the node and
// both ways to give its endpoint. An engine is the argv prefix that runs `docker` against it (`docker --host URL`)
// and its execFile runner: what the swarm runtime's task nodes use, and what a ContainerHost is given.
import { execFile } from 'node:child_process';
import { LabError } from '../../errors.js';
import type { DockerExec } from '../../shape.js';

/** The node label an operator sets once (`docker node update --label-add udplab.engine=URL NODE`). */
export const ENGINE_LABEL = 'udplab.engine';

/** URL schemes `docker --host` takes. */
const URL_RE = /^(ssh|tcp|unix|npipe|fd):\/\/\S+$/;

/** `docker ARGS` on one engine; a non-zero exit is a result, not an exception. */
export type EngineRun = (
  args: string[],
  o?: { timeoutMs?: number; env?: Record<string, string> },
) => Promise<{ code: number; stdout: string; stderr: string }>;

/** One Docker engine: this machine's own (`url` undefined: DOCKER_HOST or the current context) or one by URL. */
export interface Engine {
  readonly url: string | undefined;
  /** How the lab came to use it, for notices: `this node's engine`, `--node-engine h=URL`, `label udplab.engine=URL`. */
  readonly via: string;
  /** The argv prefix that runs `docker` against it: `['docker']` or `['docker', '--host', URL]`. */
  readonly argv: string[];
  /** Runs `docker ARGS` against it (no timeout unless given; no shell). */
  readonly run: EngineRun;
  /** The same, as a ContainerHost's DockerExec (bounded at 120 s: a `docker cp` of the test file). */
  readonly exec: DockerExec;
}

export function dockerArgv(url: string | undefined): string[] {
  return url === undefined ? ['docker'] : ['docker', '--host', url];
}

/** The engine at `url` (undefined: this machine's own), reached with execFile (argv, never a shell string). */
export function engineAt(url: string | undefined, via: string): Engine {
  const argv = dockerArgv(url);
  const run: EngineRun = (args, o = {}) =>
    new Promise((ok, fail) => {
      execFile(
        argv[0]!,
        [...argv.slice(1), ...args],
        { maxBuffer: 64 << 20, ...(o.timeoutMs !== undefined && { timeout: o.timeoutMs }) },
        (err, stdout, stderr) => {
          if (err && (err as NodeJS.ErrnoException).code === 'ENOENT') {
            fail(
              new LabError(
                'E_DOCKER_UNAVAILABLE',
                'no docker command on PATH: the swarm runtime drives engines through it',
              ),
            );
            return;
          }
          const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
          const why = err && typeof err.code !== 'number' ? `${err.message}\n` : '';
          ok({ code, stdout: String(stdout), stderr: `${String(stderr)}${why}` });
        },
      );
    });
  return { url, via, argv, run, exec: (args) => run(args, { timeoutMs: 120_000 }) };
}

/**
 * `--node-engine NODE=URL`, repeatable: NODE is a node's hostname or ID, URL as `docker --host` takes it. Throws a
 * one-line Error (the CLI makes it a usage error) for a malformed entry or a node named twice.
 */
export function parseNodeEngines(list: string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const item of list) {
    const i = item.indexOf('=');
    const node = i > 0 ? item.slice(0, i) : '';
    const url = i > 0 ? item.slice(i + 1) : '';
    if (!node || !URL_RE.test(url))
      throw new Error(
        `--node-engine expects NODE=URL with URL as docker --host takes it (ssh://user@host, tcp://host:2376, unix:///var/run/docker.sock), got "${item}"`,
      );
    if (out.has(node) && out.get(node) !== url)
      throw new Error(`--node-engine names node ${node} twice (${out.get(node)}, ${url})`);
    out.set(node, url);
  }
  return out;
}

/** A swarm node as `docker node inspect` describes it. */
export interface SwarmNode {
  id: string;
  hostname: string;
  labels: Record<string, string>;
}

/**
 * The engine endpoint for a task on `node`: `--node-engine` (by hostname, then ID), the node's `udplab.engine`
 * label, or this machine's engine when the node is the one the lab runs on (`selfId`). Otherwise a one-line
 * LabError that names the node and how to give its endpoint.
 */
export function chooseEndpoint(
  node: SwarmNode,
  selfId: string,
  given: ReadonlyMap<string, string>,
  what: string,
): { url: string | undefined; via: string } {
  for (const key of [node.hostname, node.id]) {
    const url = given.get(key);
    if (url !== undefined) return { url, via: `--node-engine ${key}=${url}` };
  }
  const label = node.labels[ENGINE_LABEL];
  if (label !== undefined && label !== '') {
    if (!URL_RE.test(label))
      throw new LabError(
        'E_RUNTIME',
        `--runtime swarm: node ${node.hostname} has label ${ENGINE_LABEL}="${label}", which is not a URL docker --host takes (ssh://user@host, tcp://host:2376, unix:///path)`,
      );
    return { url: label, via: `node label ${ENGINE_LABEL}=${label}` };
  }
  if (node.id === selfId) return { url: undefined, via: "this node's engine" };
  throw new LabError(
    'E_RUNTIME',
    `--runtime swarm: ${what} runs on node ${node.hostname} (ID ${node.id}), and the lab knows no Docker engine endpoint for it: give --node-engine ${node.hostname}=ssh://USER@${node.hostname} (or tcp://${node.hostname}:2376), or label the node once: docker node update --label-add ${ENGINE_LABEL}=ssh://USER@${node.hostname} ${node.hostname}`,
  );
}

/**
 * Every `--node-engine` name must be a node of this swarm (by hostname or ID): a typo would otherwise go unnoticed
 * until a task lands on the node it meant. `nodes`: `docker node ls --format '{{.ID}} {{.Hostname}}'`'s lines.
 */
export function checkNodeNames(given: ReadonlyMap<string, string>, nodes: string[]): void {
  const known = nodes.map((l) => l.trim().split(/\s+/)).filter((p) => p.length >= 2);
  for (const name of given.keys()) {
    if (!known.some(([id, host]) => name === host || name === id))
      throw new LabError(
        'E_RUNTIME',
        `--node-engine ${name}=…: no node ${name} in this swarm (nodes: ${known.map(([, h]) => h).join(', ') || 'none'})`,
      );
  }
}

/** Where a service's one task runs: its container, its node and the engine that reaches it; or why not yet. */
export type TaskWhere =
  | { state: 'running'; containerId: string; node: SwarmNode; engine: Engine }
  | { state: 'pending'; detail: string }
  | { state: 'failed'; detail: string };

/**
 * The running task of `service` (one replica) through the manager's engine: `docker service ps` for the task,
 * `docker inspect --type task` for its node and container, `docker node inspect` for the node's hostname and labels,
 * then `chooseEndpoint`. `failed`: the task was rejected or ended (no suitable node, no such image on its node …).
 */
export async function locateTask(
  manager: EngineRun,
  service: string,
  selfId: string,
  given: ReadonlyMap<string, string>,
  what: string,
): Promise<TaskWhere> {
  const ps = await manager(
    ['service', 'ps', '--no-trunc', '--format', '{{.ID}}\t{{.DesiredState}}\t{{.CurrentState}}\t{{.Error}}', service],
    { timeoutMs: 30_000 },
  );
  if (ps.code !== 0) return { state: 'pending', detail: ps.stderr.trim() || `docker service ps: exit ${ps.code}` };
  const tasks = ps.stdout
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => {
      const [id = '', desired = '', current = '', error = ''] = l.split('\t');
      return { id, desired, current, error };
    });
  const t = tasks[0];
  if (!t) return { state: 'pending', detail: 'no task yet' };
  const said = `${t.current}${t.error ? ` ${t.error}` : ''}`.trim();
  if (/no suitable node/.test(t.error)) return { state: 'failed', detail: said };
  if (/^(Rejected|Failed|Complete|Shutdown|Orphaned)/.test(t.current)) return { state: 'failed', detail: said };
  if (!/^Running/.test(t.current)) return { state: 'pending', detail: said };
  const ti = await manager(
    [
      'inspect',
      '--type',
      'task',
      '--format',
      '{{.NodeID}}\t{{with .Status.ContainerStatus}}{{.ContainerID}}{{end}}',
      t.id,
    ],
    { timeoutMs: 30_000 },
  );
  const [nodeId = '', containerId = ''] = ti.stdout.trim().split('\t');
  if (ti.code !== 0 || !nodeId || !containerId) return { state: 'pending', detail: said };
  const ni = await manager(
    ['node', 'inspect', '--format', '{{.ID}}\t{{.Description.Hostname}}\t{{json .Spec.Labels}}', nodeId],
    { timeoutMs: 30_000 },
  );
  if (ni.code !== 0)
    throw new LabError('E_RUNTIME', `--runtime swarm: docker node inspect ${nodeId}: ${ni.stderr.trim()}`);
  const [id = nodeId, hostname = nodeId, labelsJson = '{}'] = ni.stdout.trim().split('\t');
  const labels = (JSON.parse(labelsJson) ?? {}) as Record<string, string>;
  const node = { id, hostname, labels };
  const ep = chooseEndpoint(node, selfId, given, what);
  return { state: 'running', containerId, node, engine: engineAt(ep.url, ep.via) };
}
