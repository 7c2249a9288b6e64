// `udplab shape TARGET "<netem>"`: kernel netem on a running container's interface, from outside.
// How: `docker exec <container> tc …` (the udplab image has tc; the container needs NET_ADMIN, as the compose
// services and the lab's containers have); a container whose image has no `tc` (a user's image) is shaped from a
// short-lived sidecar, as Pumba does: `docker run --rm --network container:<id> --cap-add NET_ADMIN <udplab image>
// tc …`, one per step, sharing the target's network namespace (so NET_ADMIN is the sidecar's, not the target's).
// Every command is an argv array, never a shell string.
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

/** The image sidecars run in when none is given: the lab's own (src/lab/runtimes/docker.ts IMAGE_TAG), it has tc. */
export const SIDECAR_IMAGE = 'udplab/udplab:local';

/**
 * `docker run` argv of a short-lived sidecar that runs one step in the target's network namespace with NET_ADMIN,
 * labelled as the lab's (udplab=1, owner = this process, so a crash leaves nothing the next sweep keeps).
 */
export function sidecarArgv(target: Pick<ShapeTarget, 'id'>, step: TcStep, image = SIDECAR_IMAGE): string[] {
  return [
    'run',
    '--rm',
    '--network',
    `container:${target.id}`,
    '--cap-add',
    'NET_ADMIN',
    '--label',
    'udplab=1',
    '--label',
    `udplab.owner=${process.pid}`,
    '--label',
    'udplab.role=sidecar',
    image,
    ...step.argv,
  ];
}

/** How steps reach the target: `docker exec` into it, or a sidecar in its network namespace. */
export type ShapeVia = { kind: 'exec' } | { kind: 'sidecar'; image: string };

/** The `docker` argv that runs STEP on TARGET the way VIA says. */
export function stepArgv(target: ShapeTarget, step: TcStep, via: ShapeVia): string[] {
  return via.kind === 'exec' ? dockerExecArgv(target, step) : sidecarArgv(target, step, via.image);
}

/** Does the target's image have `tc`? `docker exec TARGET tc -V`: 126/127 or "executable file not found" is no. */
export async function hasTc(docker: DockerExec, target: ShapeTarget): Promise<boolean> {
  const r = await docker(['exec', target.id, 'tc', '-V']);
  if (r.code === 0) return true;
  if (
    r.code === 126 ||
    r.code === 127 ||
    /executable file not found|no such file or directory/i.test(r.stderr + r.stdout)
  )
    return false;
  return true; // something else is wrong: let the real step say what
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
export function explainFailure(
  step: TcStep,
  r: ExecResult,
  target: ShapeTarget,
  kernel: string,
  via: ShapeVia = { kind: 'exec' },
): string {
  const said = firstLine(r.stderr) || firstLine(r.stdout) || `exit ${r.code}`;
  const where =
    via.kind === 'sidecar'
      ? `a sidecar (${via.image}) in container ${target.name}'s network namespace`
      : `container ${target.name}`;
  if (via.kind === 'sidecar' && /Unable to find image|No such image|pull access denied/i.test(said))
    return `the sidecar image ${via.image} is not in this Docker engine (${said}): build the udplab image (docker build -f lab/Dockerfile --build-arg BASE_IMAGE=udplab/base:local -t ${SIDECAR_IMAGE} .) or pass --sidecar-image`;
  if (/qdisc kind is unknown|Unknown qdisc "?netem/i.test(said) && step.argv.includes('netem'))
    return `this kernel${kernel ? ` (${kernel})` : ''} has no sch_netem (tc: "${said}"); ${RELAY_ALTERNATIVE}`;
  const kind = step.argv[0] === 'tc' && step.argv.includes('root') ? step.argv[step.argv.indexOf('root') + 1] : '';
  if (/qdisc kind is unknown/i.test(said) && kind)
    return `this kernel${kernel ? ` (${kernel})` : ''} has no sch_${kind} (tc: "${said}"), in ${where}`;
  if (step.argv[0] === 'ip' && /Unknown device type|not supported/i.test(said))
    return `this kernel${kernel ? ` (${kernel})` : ''} has no ifb, so no ingress shaping (ip: "${said}"): shape the other end's egress (--dir egress), or ${RELAY_ALTERNATIVE}`;
  if (/Operation not permitted/i.test(said))
    return `${where} lacks NET_ADMIN (tc: "${said}"): start it with --cap-add NET_ADMIN (compose: cap_add: [NET_ADMIN]), or shape it from a sidecar: --sidecar`;
  if (r.code === 126 || r.code === 127 || /executable file not found|no such file or directory/i.test(said))
    return `${where} has no ${step.argv[0]} (${said}): its image needs iproute2, as the udplab image has (lab/Dockerfile), or shape it from a sidecar: --sidecar`;
  return `${step.argv.join(' ')} in ${where}: ${said}`;
}

export interface ShapeOutcome {
  target: ShapeTarget;
  /** what was applied, canonical (after the plan's limit), when applying */
  applied?: string;
  notices: string[];
  /** `tc qdisc show` output (DEV, and the ifb device when there is one) */
  readback: string;
  /** how the steps reached the container */
  via: ShapeVia;
}

export interface ShapeOptions {
  project?: string;
  docker?: DockerExec;
  /** true: always from a sidecar; false: always docker exec; undefined: a sidecar when the image has no tc */
  sidecar?: boolean;
  /** the sidecar's image (default SIDECAR_IMAGE) */
  sidecarImage?: string;
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
export async function shape(target: string, req: ShapeRequest, opts: ShapeOptions = {}): Promise<ShapeOutcome> {
  const docker = opts.docker ?? execDocker;
  const t = await resolveTarget(docker, target, opts.project);
  return shapeResolved(docker, t, req, opts);
}

/**
 * Applies, clears or shows on a container already found (the lab's own containers, by ID). The steps go through
 * `docker exec` when the image has tc, else (or with `sidecar: true`) through a sidecar per step.
 */
export async function shapeResolved(
  docker: DockerExec,
  t: ShapeTarget,
  req: ShapeRequest,
  opts: Pick<ShapeOptions, 'sidecar' | 'sidecarImage'> = {},
): Promise<ShapeOutcome> {
  const image = opts.sidecarImage ?? SIDECAR_IMAGE;
  const notices: string[] = [];
  let via: ShapeVia = { kind: 'exec' };
  if (opts.sidecar === true) via = { kind: 'sidecar', image };
  else if (opts.sidecar === undefined && !(await hasTc(docker, t))) {
    via = { kind: 'sidecar', image };
    notices.push(`container ${t.name} has no tc: shaping from a sidecar (${image}) in its network namespace`);
  }
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
  await runSteps(docker, t, steps, via, () => (req.dir === 'ingress' ? clearSteps(req.dev, 'ingress') : []));
  const readback = await readBack(docker, t, req.dev, via);
  return { target: t, ...(applied !== undefined && { applied }), notices, readback, via };
}

/**
 * Runs STEPS in order on T; the first failure (not marked mayFail) runs UNDO's steps, then throws one line
 * saying what the kernel, tc, ip or docker said and where.
 */
export async function runSteps(
  docker: DockerExec,
  t: ShapeTarget,
  steps: TcStep[],
  via: ShapeVia,
  undo: () => TcStep[] = () => [],
): Promise<void> {
  for (const step of steps) {
    const r = await docker(stepArgv(t, step, via));
    if (r.code === 0 || step.mayFail) continue;
    for (const s of undo()) await docker(stepArgv(t, s, via));
    const uname = await docker(stepArgv(t, { argv: ['uname', '-r'] }, via));
    throw new LabError('E_SHAPER', explainFailure(step, r, t, uname.code === 0 ? uname.stdout.trim() : '', via));
  }
}

/** `tc qdisc show` of DEV (and of its ifb device when there is one), as one text. */
export async function readBack(docker: DockerExec, t: ShapeTarget, dev: string, via: ShapeVia): Promise<string> {
  const out: string[] = [];
  for (const step of showSteps(dev)) {
    const r = await docker(stepArgv(t, step, via));
    if (r.code === 0) out.push(r.stdout.trimEnd());
    else if (!step.mayFail) throw new LabError('E_SHAPER', explainFailure(step, r, t, '', via));
  }
  return out.filter(Boolean).join('\n');
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
