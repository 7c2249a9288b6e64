// `udplab shape TARGET "<netem>"`: kernel netem on a running container's interface, from outside.
// How: `docker exec <container> tc …` (the udplab image has tc; the container needs NET_ADMIN, as the compose
// services and the lab's containers have). Every command is an argv array, never a shell string.
// Rules: the netem value is parsed by the scenarios' grammar before Docker is asked anything; applying is
// `del` + `add` (kernel 6.1 keeps old attributes on `replace`/`change`), then the qdisc is read back and printed;
// ingress goes through an ifb device (eth0's ingress redirected to its egress); a kernel without sch_netem gets
// one line naming the userspace relay (the compose profile `relay`) as the alternative.
// Target: a compose service (label com.docker.compose.service, one-off `run` containers excluded, narrowed by
// --project when several projects run it), else a container name or ID; 0 or >1 matches is one clear line.
import { execFile } from 'node:child_process';
import { type Netem, printNetem, tcNetemArgs } from '../impair/index.js';
import { LabError } from './errors.js';
import { planShaping } from './shapers/plan.js';

export type ShapeDirection = 'egress' | 'ingress';

export interface ShapeRequest {
  /** apply a netem value, or only clear what `shape` put there; `show` always follows. */
  action: 'apply' | 'clear' | 'show';
  netem?: Netem;
  dev: string;
  dir: ShapeDirection;
}

export interface TcStep {
  argv: string[];
  /** a failure here is expected and harmless (deleting what is not there, creating what exists) */
  mayFail?: boolean;
}

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `docker ARGS`; never throws for a non-zero exit (the caller judges), only for a missing docker binary. */
export type DockerExec = (args: string[]) => Promise<ExecResult>;

export interface ShapeTarget {
  id: string;
  name: string;
  /** set when the target was found as a compose service */
  service?: string;
  project?: string;
}

/** The ifb device that carries DEV's ingress (interface names hold at most 15 characters). */
export function ifbFor(dev: string): string {
  return `ifb4${dev}`.slice(0, 15);
}

/** The tc/ip commands that remove what `shape` applies in direction `dir` (each may find nothing to remove). */
export function clearSteps(dev: string, dir: ShapeDirection): TcStep[] {
  if (dir === 'egress') return [{ argv: ['tc', 'qdisc', 'del', 'dev', dev, 'root'], mayFail: true }];
  return [
    { argv: ['tc', 'qdisc', 'del', 'dev', dev, 'ingress'], mayFail: true },
    { argv: ['ip', 'link', 'del', ifbFor(dev)], mayFail: true },
  ];
}

/**
 * The commands that apply `n` (del + add, never replace). Ingress: netem goes on the ifb device first, and only
 * once the kernel took it is DEV's ingress redirected there, so a refused netem leaves the path untouched.
 */
export function applySteps(dev: string, dir: ShapeDirection, n: Netem): TcStep[] {
  if (dir === 'egress') return [...clearSteps(dev, 'egress'), { argv: ['tc', ...tcNetemArgs(dev, n)] }];
  const ifb = ifbFor(dev);
  return [
    ...clearSteps(dev, 'ingress'),
    { argv: ['ip', 'link', 'add', ifb, 'type', 'ifb'] },
    { argv: ['ip', 'link', 'set', ifb, 'up'] },
    { argv: ['tc', ...tcNetemArgs(ifb, n)] },
    { argv: ['tc', 'qdisc', 'add', 'dev', dev, 'handle', 'ffff:', 'ingress'] },
    {
      argv: [
        'tc',
        'filter',
        'add',
        'dev',
        dev,
        'parent',
        'ffff:',
        'protocol',
        'all',
        'u32',
        'match',
        'u32',
        '0',
        '0',
        'action',
        'mirred',
        'egress',
        'redirect',
        'dev',
        ifb,
      ],
    },
  ];
}

/** The read-back: DEV's qdiscs, and the ifb device's when it exists (ingress shaping). */
export function showSteps(dev: string): TcStep[] {
  return [
    { argv: ['tc', 'qdisc', 'show', 'dev', dev] },
    { argv: ['tc', 'qdisc', 'show', 'dev', ifbFor(dev)], mayFail: true },
  ];
}

/** `docker exec` argv for one step in the target container. */
export function dockerExecArgv(target: ShapeTarget, step: TcStep): string[] {
  return ['exec', target.id, ...step.argv];
}

const COMPOSE_SERVICE = 'com.docker.compose.service';
const COMPOSE_PROJECT = 'com.docker.compose.project';

/** `docker ps` argv listing the running containers of compose service NAME (one-off `run` containers excluded). */
export function servicePsArgv(service: string, project?: string): string[] {
  return [
    'ps',
    '--filter',
    `label=${COMPOSE_SERVICE}=${service}`,
    ...(project ? ['--filter', `label=${COMPOSE_PROJECT}=${project}`] : []),
    '--filter',
    'label=com.docker.compose.oneoff=False',
    '--format',
    `{{.ID}}\t{{.Names}}\t{{.Label "${COMPOSE_PROJECT}"}}`,
  ];
}

/** `docker inspect` argv for a container name or ID. */
export function inspectArgv(nameOrId: string): string[] {
  return ['inspect', '--type', 'container', '--format', '{{.Id}}\t{{.Name}}\t{{.State.Running}}', nameOrId];
}

/** Finds the one running container TARGET names: a compose service first, else a container name or ID. */
export async function resolveTarget(docker: DockerExec, target: string, project?: string): Promise<ShapeTarget> {
  const ps = await docker(servicePsArgv(target, project));
  if (ps.code !== 0) throw new LabError('E_RUNTIME', `docker ps failed: ${firstLine(ps.stderr)}`);
  const rows = ps.stdout
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => l.split('\t'));
  if (rows.length === 1) {
    const [id, name, proj] = rows[0]!;
    return { id: id!, name: name!, service: target, ...(proj && { project: proj }) };
  }
  if (rows.length > 1) {
    const projects = [...new Set(rows.map((r) => r[2] ?? '?'))].sort();
    const names = rows.map((r) => r[1]).join(', ');
    throw new LabError(
      'E_RUNTIME',
      projects.length > 1
        ? `compose service "${target}" runs in ${projects.length} projects (${projects.join(', ')}): pass --project NAME`
        : `compose service "${target}" has ${rows.length} running containers (${names}): name one container instead`,
    );
  }
  if (project) {
    throw new LabError('E_RUNTIME', `no running container of compose service "${target}" in project "${project}"`);
  }
  const insp = await docker(inspectArgv(target));
  if (insp.code !== 0) {
    throw new LabError(
      'E_RUNTIME',
      `no running compose service or container named "${target}" (docker ps shows the names; compose: docker compose ps)`,
    );
  }
  const [id, name, running] = insp.stdout.trim().split('\t');
  if (running !== 'true') throw new LabError('E_RUNTIME', `container "${target}" is not running`);
  return { id: id!, name: name!.replace(/^\//, '') };
}

function firstLine(s: string): string {
  return (
    s
      .trim()
      .split('\n')
      .find((l) => l.trim()) ?? ''
  ).trim();
}

export const RELAY_ALTERNATIVE =
  'shape with the userspace relay instead: docker compose --profile relay up -d, then transfer via relay:4456 (docs/compose.md; without compose: udplab relay)';

/** One clear line for a failed step, from what tc, ip or docker said. */
export function explainFailure(step: TcStep, r: ExecResult, target: ShapeTarget, kernel: string): string {
  const said = firstLine(r.stderr) || firstLine(r.stdout) || `exit ${r.code}`;
  const where = `container ${target.name}`;
  if (/qdisc kind is unknown|Unknown qdisc "?netem/i.test(said))
    return `this kernel${kernel ? ` (${kernel})` : ''} has no sch_netem (tc: "${said}"); ${RELAY_ALTERNATIVE}`;
  if (step.argv[0] === 'ip' && /Unknown device type|not supported/i.test(said))
    return `this kernel${kernel ? ` (${kernel})` : ''} has no ifb, so no ingress shaping (ip: "${said}"): shape the other end's egress (--dir egress), or ${RELAY_ALTERNATIVE}`;
  if (/Operation not permitted/i.test(said))
    return `${where} lacks NET_ADMIN (tc: "${said}"): start it with --cap-add NET_ADMIN (compose: cap_add: [NET_ADMIN])`;
  if (r.code === 126 || r.code === 127 || /executable file not found|no such file or directory/i.test(said))
    return `${where} has no ${step.argv[0]} (${said}): its image needs iproute2, as the udplab image has (lab/Dockerfile)`;
  return `${step.argv.join(' ')} in ${where}: ${said}`;
}

export interface ShapeOutcome {
  target: ShapeTarget;
  /** what was applied, canonical (after the plan's limit), when applying */
  applied?: string;
  notices: string[];
  /** `tc qdisc show` output (DEV, and the ifb device when there is one) */
  readback: string;
}

/** Notices for a netem value on this path: the plan's (limit from the BDP, jitter reorders) and kernel quirks. */
export function shapeNotices(n: Netem, dir: ShapeDirection): { netem: Netem; notices: string[] } {
  const plan = planShaping(dir === 'egress' ? 'up' : 'down', n);
  const notices = plan.notices.map((s) => s.replace(/^(up|down): /, `${dir}: `));
  const corr = [n.loss?.kind === 'random' ? n.loss.corrPct : undefined, n.duplicate?.corrPct, n.corrupt?.corrPct];
  if (corr.some((c) => c !== undefined && c > 0))
    notices.push('correlation is unreliable on Linux 6.1 netem (loss 10% 25% measured 0.8% loss): check the counts');
  if (n.seed !== undefined) notices.push('seed needs iproute2 ≥ 6.6 and a kernel that knows it; older tc refuses it');
  return { netem: plan.netem, notices };
}

/** Resolves TARGET, applies or clears, reads back. Throws LabError('E_SHAPER' | 'E_RUNTIME') with one line. */
export async function shape(
  target: string,
  req: ShapeRequest,
  opts: { project?: string; docker?: DockerExec } = {},
): Promise<ShapeOutcome> {
  const docker = opts.docker ?? execDocker;
  const t = await resolveTarget(docker, target, opts.project);
  const notices: string[] = [];
  let applied: string | undefined;
  let steps: TcStep[] = [];
  if (req.action === 'clear') steps = clearSteps(req.dev, req.dir);
  else if (req.action === 'apply') {
    if (!req.netem) throw new LabError('E_SHAPER', 'nothing to apply');
    const planned = shapeNotices(req.netem, req.dir);
    notices.push(...planned.notices);
    applied = printNetem(planned.netem);
    steps = applySteps(req.dev, req.dir, planned.netem);
  }
  for (const step of steps) {
    const r = await docker(dockerExecArgv(t, step));
    if (r.code === 0 || step.mayFail) continue;
    if (req.dir === 'ingress') for (const s of clearSteps(req.dev, 'ingress')) await docker(dockerExecArgv(t, s));
    const uname = await docker(['exec', t.id, 'uname', '-r']);
    throw new LabError('E_SHAPER', explainFailure(step, r, t, uname.code === 0 ? uname.stdout.trim() : ''));
  }
  const out: string[] = [];
  for (const step of showSteps(req.dev)) {
    const r = await docker(dockerExecArgv(t, step));
    if (r.code === 0) out.push(r.stdout.trimEnd());
    else if (!step.mayFail) throw new LabError('E_SHAPER', explainFailure(step, r, t, ''));
  }
  return { target: t, ...(applied !== undefined && { applied }), notices, readback: out.filter(Boolean).join('\n') };
}

/** `docker ARGS` through execFile (no shell), bounded at 30 s. */
export const execDocker: DockerExec = (args) =>
  new Promise((ok, fail) => {
    execFile('docker', args, { timeout: 30_000, maxBuffer: 4 << 20 }, (err, stdout, stderr) => {
      if (err && (err as NodeJS.ErrnoException).code === 'ENOENT') {
        fail(
          new LabError('E_DOCKER_UNAVAILABLE', 'no docker command on PATH: udplab shape drives containers through it'),
        );
        return;
      }
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      ok({ code, stdout: String(stdout), stderr: String(stderr) });
    });
  });
