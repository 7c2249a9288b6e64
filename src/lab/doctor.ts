// `udplab doctor`: the lab's preflight. One line per check (ok / WARN / FAIL, and what to do): the Docker engine,
// sch_netem, net.core.rmem_max / wmem_max against the socket buffers the scenarios ask for, tcpdump / tshark /
// hping3 on the host, tcpdump in the lab image, root or sudo, `ip netns`. Every check is a function of what its
// probes read (sysctl values, PATH, docker), so each branch is testable; `realProbes()` reads this machine.
// The runner uses the part that changes a lesson: bufferPreflight (before a run) and captureToolMissing.
import { execFile } from 'node:child_process';
import { accessSync, constants, readFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';
import { WANT_BUFFER_BYTES } from '../transport/index.js';
import { LabError } from './errors.js';
import { ProcessHost } from './runtimes/host.js';
import { ResidentSidecar } from './runtimes/sidecar.js';
import type { RuntimeName } from './runtimes/types.js';
import type { Scenario } from './scenario.js';
import { netemShaper } from './shapers/netem.js';

const exec = promisify(execFile);

export type Level = 'ok' | 'WARN' | 'FAIL';
export interface Check {
  check: string;
  level: Level;
  message: string;
  /** What to do, when there is something to do. */
  fix?: string;
}

export type Sysctl = 'rmem_max' | 'wmem_max';
export type ToolInImage = { state: 'present'; path: string } | { state: 'missing' } | { state: 'no-image' };
export type Probe = { ok: boolean; detail: string };

/** What the checks read. `realProbes()` reads this machine; tests pass their own. */
export interface DoctorProbes {
  /** net.core.<name> as the kernel reports it; undefined when unreadable. */
  sysctl(name: Sysctl): number | undefined;
  /** The absolute path of a command found on PATH, or undefined. */
  which(cmd: string): string | undefined;
  /** The Docker engine's version, or why it does not answer. */
  docker(): Promise<{ ok: true; version: string } | { ok: false; detail: string }>;
  /** Is `tool` on the PATH inside `image` (a throwaway container)? */
  imageTool(image: string, tool: string): Promise<ToolInImage>;
  /** tc netem inside a container of `image` with NET_ADMIN: the lab's own probe. */
  netemInImage(image: string): Promise<Probe>;
  /** `ip netns add` / `del` of a probe namespace, and tc netem on its loopback. */
  netns(): Promise<{ netns: Probe; netem?: Probe }>;
  uid(): number;
  /** CAP_NET_ADMIN in this process's effective set. */
  capNetAdmin(): boolean;
}

const KiB = 1024;
const MiB = 1024 * 1024;
export function bytesLabel(n: number): string {
  if (n >= MiB && n % MiB === 0) return `${n / MiB} MiB`;
  if (n >= KiB && n % KiB === 0) return `${n / KiB} KiB`;
  return `${n} bytes`;
}

/** The image the lab runs (UDPLAB_IMAGE, else the one it builds). */
export function labImage(env: NodeJS.ProcessEnv = process.env): string {
  return env.UDPLAB_IMAGE || 'udplab/udplab:local';
}

export interface BufferDemand {
  /** The scenario file. */
  scenario: string;
  /** Where the request comes from, e.g. `protocols naive: rcvbuf` or `protocols ruft: RUFT's own SO_SNDBUF`. */
  field: string;
  sysctl: Sysctl;
  bytes: number;
  /** The scenario's lesson depends on it: the lab refuses to start below it. RUFT's own request only warns. */
  hard: boolean;
}

/**
 * The socket buffers a scenario makes udplab ask for. The kernel cuts a SO_RCVBUF / SO_SNDBUF request to
 * net.core.rmem_max / wmem_max (then doubles it) without an error, so a request above the cap is silently smaller.
 * naive: the scenario's `rcvbuf:` (its lesson); RUFT, and the relay, which use the same socket code, ask
 * WANT_BUFFER_BYTES for both (src/transport/udp-socket.ts).
 */
export function bufferDemands(s: Scenario): BufferDemand[] {
  const out: BufferDemand[] = [];
  for (const v of s.variants) {
    if (v.options.rcvbufBytes !== undefined)
      out.push({
        scenario: s.source,
        field: `protocols ${v.id}: rcvbuf ${bytesLabel(v.options.rcvbufBytes)}`,
        sysctl: 'rmem_max',
        bytes: v.options.rcvbufBytes,
        hard: true,
      });
  }
  const ruft = s.variants.find((v) => v.protocol === 'ruft');
  if (ruft)
    for (const [sysctl, opt] of [
      ['rmem_max', 'SO_RCVBUF'],
      ['wmem_max', 'SO_SNDBUF'],
    ] as const)
      out.push({
        scenario: s.source,
        field: `protocols ${ruft.id}: RUFT's own ${opt} request ${bytesLabel(WANT_BUFFER_BYTES)}`,
        sysctl,
        bytes: WANT_BUFFER_BYTES,
        hard: false,
      });
  return out;
}

function sysctlLine(name: Sysctl, bytes: number, root: boolean): string {
  return `${root ? '' : 'sudo '}sysctl -w net.core.${name}=${bytes}`;
}

/** rmem_max or wmem_max against every demand of the scenarios (RUFT's own request when none is given). */
export function checkBuffer(name: Sysctl, cap: number | undefined, demands: BufferDemand[], root: boolean): Check {
  const check = `net.core.${name}`;
  if (cap === undefined)
    return {
      check,
      level: 'WARN',
      message: `cannot read net.core.${name} (/proc/sys/net/core/${name}): buffer caps unknown`,
      fix: `sysctl net.core.${name}`,
    };
  const mine = demands.filter((d) => d.sysctl === name);
  const over = mine.filter((d) => d.bytes > cap);
  const have = `net.core.${name} = ${cap} (${bytesLabel(cap)})`;
  if (over.length === 0) {
    const top = mine.reduce<BufferDemand | undefined>((a, d) => (a && a.bytes >= d.bytes ? a : d), undefined);
    return {
      check,
      level: 'ok',
      message: top ? `${have} ≥ every buffer asked (largest: ${top.scenario} ${top.field})` : have,
    };
  }
  const hard = over.filter((d) => d.hard);
  const worst = (hard.length ? hard : over).reduce((a, d) => (a.bytes >= d.bytes ? a : d));
  const need = Math.max(...over.map((d) => d.bytes));
  const more = (hard.length ? hard : over).length - 1;
  return {
    check,
    level: hard.length ? 'FAIL' : 'WARN',
    message: hard.length
      ? `${have} cuts ${worst.scenario} ${worst.field}${more ? ` (and ${more} more)` : ''}: the kernel grants less without an error and the lesson changes; the lab refuses such a scenario`
      : `${have} cuts ${worst.field}: RUFT still works, with a smaller buffer (lower rates, more loss at the receiver)`,
    fix: sysctlLine(name, need, root),
  };
}

/** Before a run: a scenario whose lesson needs a buffer above the cap refuses to start (or, allowed, a NOTICE). */
export function bufferPreflight(
  s: Scenario,
  read: (name: Sysctl) => number | undefined,
  allowCapped: boolean,
  root = process.getuid?.() === 0,
): string[] {
  const notices: string[] = [];
  for (const d of bufferDemands(s)) {
    const cap = read(d.sysctl);
    if (cap === undefined || d.bytes <= cap) continue;
    const line = `${d.scenario}: ${d.field} is above net.core.${d.sysctl} = ${cap} (${bytesLabel(cap)}), so the kernel grants less without an error; raise the cap: ${sysctlLine(d.sysctl, d.bytes, root)}`;
    if (d.hard && !allowCapped)
      throw new LabError('E_PREFLIGHT', `${line} (or run with --allow-capped to go on with the smaller buffer)`);
    notices.push(
      d.hard
        ? `CAPPED (--allow-capped): ${line}. The figures of this run are not the lesson's.`
        : `CAPPED: ${line}. RUFT runs with the smaller buffer.`,
    );
  }
  return notices;
}

/** Why a capture cannot be taken where the runtime runs the client (no tcpdump), or undefined. */
export async function captureToolMissing(
  runtime: RuntimeName,
  probes: Pick<DoctorProbes, 'which' | 'imageTool'>,
  image: () => Promise<string>,
): Promise<string | undefined> {
  if (runtime === 'docker') {
    const img = await image();
    const t = await probes.imageTool(img, 'tcpdump');
    if (t.state === 'present') return undefined;
    return t.state === 'no-image'
      ? `the lab image ${img} does not exist`
      : `the lab image ${img} has no tcpdump (rebuild it from lab/Dockerfile, which installs tcpdump)`;
  }
  return probes.which('tcpdump')
    ? undefined
    : `no tcpdump on this host's PATH for --runtime ${runtime} (apt-get install tcpdump)`;
}

/** Where a scenario would run: `lab`'s choice for --runtime auto. */
export function predictedRuntime(s: Scenario, runtime: RuntimeName | 'auto', dockerOk: boolean): RuntimeName {
  if (s.attack) return 'local';
  if (runtime !== 'auto') return runtime;
  return s.ip === 4 && dockerOk ? 'docker' : 'local';
}

/** Runs every check; the caller prints them. Exit 0 when nothing FAILs. */
export async function doctor(
  scenarios: Scenario[],
  p: DoctorProbes,
  o: { runtime: RuntimeName | 'auto'; image: string },
): Promise<Check[]> {
  const out: Check[] = [];
  const root = p.uid() === 0;
  const sudo = root ? '' : 'sudo ';

  const d = await p.docker();
  out.push(
    d.ok
      ? { check: 'docker', level: 'ok', message: `Docker engine ${d.version} answers` }
      : {
          check: 'docker',
          level: o.runtime === 'docker' ? 'FAIL' : 'WARN',
          message: `no Docker engine answers (${d.detail}); the lab runs on loopback (--runtime local) instead`,
          fix: 'install Docker and start it (systemctl start docker), or use --runtime local',
        },
  );

  const image = d.ok ? await p.imageTool(o.image, 'tcpdump') : undefined;
  const ns = await p.netns();
  let netem: Probe | undefined;
  let where = '';
  if (d.ok && image && image.state !== 'no-image') {
    netem = await p.netemInImage(o.image);
    where = `in a container of ${o.image}`;
  } else if (ns.netem) {
    netem = ns.netem;
    where = 'in a probe namespace';
  }
  out.push(
    netem === undefined
      ? {
          check: 'sch_netem',
          level: 'WARN',
          message: 'cannot probe for sch_netem (no lab image and no usable ip netns)',
          fix: 'run doctor as root, or build the lab image (npm run lab once)',
        }
      : netem.ok
        ? { check: 'sch_netem', level: 'ok', message: `tc netem accepted ${where}: the kernel shapes the path` }
        : {
            check: 'sch_netem',
            level: 'WARN',
            message: `this kernel has no sch_netem (tc ${where}: "${netem.detail}"): the lab shapes with the userspace relay, and every report says so`,
            fix: `${sudo}modprobe sch_netem (Debian/Ubuntu: the kernel's modules-extra package) for kernel shaping`,
          },
  );

  const demands = scenarios.flatMap(bufferDemands);
  const given: BufferDemand[] = demands.length
    ? demands
    : (['rmem_max', 'wmem_max'] as const).map((sysctl) => ({
        scenario: 'udplab',
        field: `RUFT's own ${sysctl === 'rmem_max' ? 'SO_RCVBUF' : 'SO_SNDBUF'} request ${bytesLabel(WANT_BUFFER_BYTES)}`,
        sysctl,
        bytes: WANT_BUFFER_BYTES,
        hard: false,
      }));
  for (const name of ['rmem_max', 'wmem_max'] as const) out.push(checkBuffer(name, p.sysctl(name), given, root));

  const runtimes = scenarios.map((s) => ({ s, rt: predictedRuntime(s, o.runtime, d.ok) }));
  const capturing = runtimes.filter((x) => x.s.capture);
  const hostCapture = capturing.filter((x) => x.rt !== 'docker').map((x) => x.s.source);
  const dockerCapture = capturing.filter((x) => x.rt === 'docker').map((x) => x.s.source);
  const attacks = scenarios.filter((s) => s.attack).map((s) => s.source);
  const tool = (cmd: string, needers: string[], what: string, pkg = cmd): Check => {
    const at = p.which(cmd);
    if (at) return { check: cmd, level: 'ok', message: `${cmd} at ${at}` };
    return {
      check: cmd,
      level: needers.length ? 'FAIL' : 'WARN',
      message: `no ${cmd} on PATH: ${what}${needers.length ? ` (needed by ${needers.join(', ')})` : ''}`,
      fix: `${sudo}apt-get install -y ${pkg}`,
    };
  };
  out.push(tool('tcpdump', hostCapture, 'captures on --runtime local / netns are skipped'));
  out.push(tool('tshark', [], 'students read the captures with it (or open them in Wireshark)'));
  out.push(tool('hping3', attacks, 'scenario 08 (amplification) forges its request with it'));

  if (!d.ok)
    out.push({
      check: 'image tcpdump',
      level: dockerCapture.length ? 'FAIL' : 'WARN',
      message: `cannot look into ${o.image}: no Docker engine`,
    });
  else if (image?.state === 'present')
    out.push({ check: 'image tcpdump', level: 'ok', message: `tcpdump in ${o.image} at ${image.path}` });
  else if (image?.state === 'no-image')
    out.push({
      check: 'image tcpdump',
      level: 'WARN',
      message: `no image ${o.image} yet: the lab builds it from lab/Dockerfile (with tcpdump) on its first docker run`,
      ...(process.env.UDPLAB_IMAGE && { fix: `unset UDPLAB_IMAGE or build ${o.image}` }),
    });
  else
    out.push({
      check: 'image tcpdump',
      level: dockerCapture.length ? 'FAIL' : 'WARN',
      message: `${o.image} has no tcpdump: captures on --runtime docker are refused${dockerCapture.length ? ` (needed by ${dockerCapture.join(', ')})` : ''}`,
      fix: process.env.UDPLAB_IMAGE
        ? `rebuild ${o.image} from lab/Dockerfile (it installs tcpdump on any base)`
        : `docker image rm ${o.image}; the lab rebuilds it from lab/Dockerfile, which installs tcpdump`,
    });

  const needRoot = [...hostCapture, ...attacks, ...(o.runtime === 'netns' ? ['--runtime netns'] : [])];
  const sudoAt = p.which('sudo');
  if (root)
    out.push({
      check: 'root',
      level: 'ok',
      message: `root shell (uid 0): type the pages' commands without sudo${sudoAt ? '' : ' (this shell has no sudo at all)'}`,
    });
  else
    out.push({
      check: 'root',
      level: needRoot.length ? 'FAIL' : 'WARN',
      message: `not root (uid ${p.uid()}${p.capNetAdmin() ? ', has CAP_NET_ADMIN' : ', no CAP_NET_ADMIN'}): captures on the local runtime, --runtime netns and scenario 08 need root${needRoot.length ? ` (needed by ${needRoot.join(', ')})` : ''}`,
      fix: sudoAt
        ? 'prefix those commands with sudo -E (e.g. sudo -E npm run lab -- …)'
        : 'no sudo here: open a root shell (su -) for those commands',
    });

  out.push(
    ns.netns.ok
      ? { check: 'ip netns', level: 'ok', message: `ip netns add/del works: --runtime netns is available` }
      : {
          check: 'ip netns',
          level: o.runtime === 'netns' ? 'FAIL' : 'WARN',
          message: `ip netns is not usable (${ns.netns.detail}): --runtime netns is not available`,
          fix: root ? 'apt-get install -y iproute2' : 'run as root (sudo) for --runtime netns',
        },
  );
  return out;
}

/** The lines `udplab doctor` prints. */
export function formatChecks(checks: Check[]): string {
  return checks
    .map(
      (c) => `${c.level.padEnd(4)}  ${c.check.padEnd(17)} ${c.message}${c.fix ? `\n${' '.repeat(24)}→ ${c.fix}` : ''}`,
    )
    .join('\n');
}

// ---- the real probes ----------------------------------------------------------------------------------------

/** /proc, or UDPLAB_PROC_ROOT (tests point it at a tree with a lowered cap). */
export function procRoot(env: NodeJS.ProcessEnv = process.env): string {
  return env.UDPLAB_PROC_ROOT || '/proc';
}

export function readSysctl(name: Sysctl, root = procRoot()): number | undefined {
  try {
    const v = Number(readFileSync(join(root, 'sys', 'net', 'core', name), 'utf8').trim());
    return Number.isSafeInteger(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

export function whichOnPath(cmd: string, path = process.env.PATH ?? ''): string | undefined {
  for (const dir of path.split(delimiter)) {
    if (!dir) continue;
    const at = join(dir, cmd);
    try {
      accessSync(at, constants.X_OK);
      return at;
    } catch {
      /* next */
    }
  }
  return undefined;
}

async function run(cmd: string, args: string[], timeoutMs = 30_000): Promise<{ code: number; out: string }> {
  try {
    const r = await exec(cmd, args, { timeout: timeoutMs });
    return { code: 0, out: r.stdout };
  } catch (e) {
    const x = e as { code?: unknown; stderr?: string; stdout?: string; message: string };
    return {
      code: typeof x.code === 'number' ? x.code : -1,
      out: (x.stderr || x.stdout || x.message).trim().split('\n')[0] ?? '',
    };
  }
}

let probeCount = 0;
/** `docker run --rm` of a labelled throwaway container with no network; removed by name even on a timeout. */
async function throwaway(image: string, extra: string[], cmd: string[]): Promise<{ code: number; out: string }> {
  const name = `udplab-doctor-${process.pid}-${++probeCount}`;
  try {
    return await run('docker', [
      'run',
      '--rm',
      '--name',
      name,
      '--label',
      'udplab=1',
      '--network',
      'none',
      ...extra,
      '--entrypoint',
      cmd[0]!,
      image,
      ...cmd.slice(1),
    ]);
  } finally {
    await run('docker', ['rm', '-f', name], 10_000);
  }
}

export function realProbes(env: NodeJS.ProcessEnv = process.env): DoctorProbes {
  return {
    sysctl: (name) => readSysctl(name, procRoot(env)),
    which: (cmd) => whichOnPath(cmd, env.PATH ?? ''),
    docker: async () => {
      const r = await run('docker', ['info', '--format', '{{.ServerVersion}}'], 10_000);
      return r.code === 0 && r.out.trim() ? { ok: true, version: r.out.trim() } : { ok: false, detail: r.out };
    },
    imageTool: async (image, tool) => {
      if ((await run('docker', ['image', 'inspect', '--format', '{{.Id}}', image])).code !== 0)
        return { state: 'no-image' };
      // the tool's name is sh's $0, never part of the script
      const r = await throwaway(image, [], ['sh', '-c', 'command -v "$0"', tool]);
      return r.code === 0 ? { state: 'present', path: r.out.trim() } : { state: 'missing' };
    },
    // both netem probes go through the Shaper seam (netemShaper.probe: tc netem accepted on lo, then removed)
    netemInImage: async (image) => {
      const side = new ResidentSidecar(`a container of ${image}`, {
        container: `udplab-doctor-${process.pid}-${++probeCount}`,
        network: 'none',
        image,
        role: 'doctor',
      });
      try {
        return await netemShaper.probe(side, 'lo');
      } finally {
        await side.remove();
      }
    },
    netns: async () => {
      const ns = `udplab-doctor-${process.pid}`;
      const add = await run('ip', ['netns', 'add', ns], 10_000);
      if (add.code !== 0) return { netns: { ok: false, detail: add.out } };
      try {
        const netem = await netemShaper.probe(
          new ProcessHost(`netns ${ns}`, '127.0.0.1', ['ip', 'netns', 'exec', ns]),
          'lo',
        );
        return { netns: { ok: true, detail: 'ip netns add/del' }, netem };
      } finally {
        await run('ip', ['netns', 'del', ns], 10_000);
      }
    },
    uid: () => process.getuid?.() ?? -1,
    capNetAdmin: () => {
      try {
        const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'));
        return m ? (BigInt(`0x${m[1]}`) & (1n << 12n)) !== 0n : false;
      } catch {
        return false;
      }
    },
  };
}
