// Placing an image protocol's server (docs/endpoints.md, "On the docker runtime"): the implementation's image
// (built from its folder or found in the engine), one server container per implementation on the lab's network,
// its readiness (a port-check sidecar in its network namespace, `docker logs`, or a delay), why it is not serving,
// and its restart after a fault (`docker start` of the same container: same argv, port and mounts).
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { LabError } from '../errors.js';
import type { DockerExec } from '../shape.js';
import { buildArgv, type ImageEndpointSpec, portCheckArgv, serverRunArgv } from './docker-image-argv.js';
import { describeExit, lastLine } from './docker-image-grade.js';
import { LINE_MAX, readyLine, readyLineText } from './lines.js';

/** What the placement functions need of the lab that owns the containers. */
export interface ImageLabContext {
  docker: DockerExec;
  /** unique per lab: every container name starts `udplab-img-<tag>-` */
  tag: string;
  /** the udplab image (holder, relay, sidecars) */
  udplabImage: string;
  network: string;
  holder: string;
  /** every container started and not yet removed (removed at teardown, even after failures) */
  containers: Set<string>;
  notices: string[];
  readyTimeoutMs: number;
  /** a fresh number for a container name */
  seq: () => number;
  /** after `docker start` of a killed server: its network namespace is new (a resident sidecar must follow it) */
  restarted?: (s: Server) => Promise<void>;
  must: (args: string[], what: string) => Promise<string>;
  inspect: (name: string, format: string) => Promise<string>;
  ipOf: (name: string) => Promise<string>;
}

export interface Server {
  spec: ImageEndpointSpec;
  name: string;
  id: string;
  ip: string;
  port: number;
  /** set when the server never became ready or exited: every run gets this verdict */
  failed?: { verdict: 'server never ready' | 'server exited'; reason: string };
  /** what readiness the report should name */
  readyBy: string;
}

/** Builds the implementation's image when its spec says `build` (docker build, BASE = the offline Python base). */
export async function ensureImage(ctx: ImageLabContext, spec: ImageEndpointSpec): Promise<void> {
  if (spec.build !== undefined) {
    if (!existsSync(join(spec.build, 'Dockerfile')))
      throw new LabError('E_IMAGE_BUILD', `${spec.label}: no Dockerfile in ${spec.build} (build: .)`);
    const r = await dockerLong(buildArgv(spec.build, spec.image), 600_000);
    if (r.code !== 0)
      throw new LabError(
        'E_IMAGE_BUILD',
        `${spec.label}: docker build ${spec.build} failed: ${lastLine(r.stderr) || lastLine(r.stdout)}`,
      );
    return;
  }
  const r = await ctx.docker(['image', 'inspect', '--format', '{{.Id}}', spec.image]);
  if (r.code !== 0)
    throw new LabError(
      'E_IMAGE_BUILD',
      `${spec.label}: image ${spec.image} is not in this Docker engine (build it, or give build: .)`,
    );
}

/** Starts the implementation's server container (the `index`-th server) and waits for its readiness. */
export async function startServer(
  ctx: ImageLabContext,
  spec: ImageEndpointSpec,
  o: { index: number; port: number; rootDir: string; seed: number },
): Promise<Server> {
  const name = `udplab-img-${ctx.tag}-srv-${o.index}`;
  try {
    await ensureImage(ctx, spec);
  } catch (e) {
    if (!(e instanceof LabError && e.code === 'E_IMAGE_BUILD')) throw e;
    // one implementation's image that does not build (or is not there) is its own verdict, not the matrix's end
    return {
      spec,
      name,
      id: '',
      ip: '',
      port: o.port,
      readyBy: '',
      failed: { verdict: 'server never ready', reason: `no image to start: ${e.message}` },
    };
  }
  ctx.containers.add(name);
  const id = await ctx.must(
    serverRunArgv({ spec, name, network: ctx.network, port: o.port, rootDir: o.rootDir, seed: o.seed }),
    `${spec.label}: starting its server container`,
  );
  const T = spec.transport.toUpperCase();
  const readyBy =
    'port' in spec.ready
      ? `${T} port ${o.port} bound (/proc/net/${spec.transport}, read from a sidecar)`
      : 'stdout' in spec.ready
        ? `a ${readyLineText(spec.ready.stdout)}`
        : `a delay of ${spec.ready.delayMs} ms (last resort: the lab did not check that the server listens)`;
  const server: Server = { spec, name, id, ip: '', port: o.port, readyBy };
  await becomeReady(ctx, server);
  return server;
}

/** Waits for readiness (of the container's current start: `since` for its logs); sets `failed` or the address. */
async function becomeReady(ctx: ImageLabContext, server: Server, since?: string): Promise<void> {
  const failed = await waitReady(ctx, server, since);
  if (failed) {
    server.failed = failed;
    return;
  }
  server.ip = await ctx.ipOf(server.name);
  const n = `${server.spec.label}: server ready by ${server.readyBy}`;
  if (!ctx.notices.includes(n)) ctx.notices.push(n);
}

/** A fault: SIGKILLs the server container (its program and everything it started); `docker wait` sees it gone. */
export async function killServer(ctx: ImageLabContext, s: Server): Promise<void> {
  await ctx.docker(['kill', '--signal', 'KILL', s.name]);
  await dockerLong(['wait', s.name], 10_000);
}

/**
 * Starts a killed server's container again (same argv, port and mounts) and waits for its readiness; it must come
 * back at the address the relay (or the client's argv) sends to. Returns why it is not serving, if it is not.
 */
export async function restartServer(ctx: ImageLabContext, s: Server): Promise<Server['failed']> {
  const was = s.ip;
  const since = new Date().toISOString();
  s.ip = '';
  delete s.failed;
  const r = await ctx.docker(['start', s.name]);
  if (r.code !== 0) {
    s.failed = {
      verdict: 'server exited',
      reason: `docker start ${s.name}: ${lastLine(r.stderr) || `exit ${r.code}`}`,
    };
    return s.failed;
  }
  await ctx.restarted?.(s);
  await becomeReady(ctx, s, since);
  if (s.failed) return s.failed;
  if (s.ip !== was) {
    s.failed = {
      verdict: 'server exited',
      reason: `the server came back at ${s.ip}, not at ${was} where it is sent to`,
    };
    return s.failed;
  }
  return undefined;
}

/** Why the server is not running, or undefined while it runs. */
export async function serverExited(ctx: ImageLabContext, s: Server): Promise<Server['failed']> {
  const state = await ctx.inspect(s.name, '{{.State.Running}} {{.State.ExitCode}}');
  const [running, code] = state.split(' ');
  if (running === 'true') return undefined;
  const logs = await ctx.docker(['logs', '--tail', '20', s.name]);
  const said = lastLine(logs.stderr) || lastLine(logs.stdout);
  return {
    verdict: 'server exited',
    reason: `the server exited${s.ip ? '' : ' before it was ready'}: ${describeExit(Number(code))}${said ? `: ${said}` : ''}`,
  };
}

async function waitReady(ctx: ImageLabContext, s: Server, since?: string): Promise<Server['failed']> {
  const ms = ctx.readyTimeoutMs;
  const r = s.spec.ready;
  const end = Date.now() + ms;
  if ('delayMs' in r) {
    await new Promise((ok) => setTimeout(ok, r.delayMs));
    return serverExited(ctx, s);
  }
  if ('stdout' in r) {
    // plain text, not a regular expression (./lines.ts); each line cut to LINE_MAX bytes before it is looked at, and
    // what `docker logs` returns bounded by the docker command's own output buffer
    const isReady = readyLine(r.stdout);
    while (Date.now() < end) {
      const logs = await ctx.docker(['logs', ...(since ? ['--since', since] : []), s.name]);
      if (logs.stdout.split('\n').some((l) => isReady(l.slice(0, LINE_MAX)))) return undefined;
      const gone = await serverExited(ctx, s);
      if (gone) return gone;
      await new Promise((ok) => setTimeout(ok, 100));
    }
    return (
      (await serverExited(ctx, s)) ?? {
        verdict: 'server never ready',
        reason: `no ${readyLineText(r.stdout)} within ${ms / 1000} s`,
      }
    );
  }
  // port: a sidecar in the server's network namespace polls /proc/net; the server's state is watched meanwhile
  const side = `udplab-img-${ctx.tag}-ready-${ctx.seq()}`;
  ctx.containers.add(side);
  let done = false;
  const check = ctx.docker(portCheckArgv(s.id, side, ctx.udplabImage, s.port, s.spec.transport, ms)).finally(() => {
    done = true;
  });
  for (;;) {
    const gone = await serverExited(ctx, s);
    if (gone) {
      await ctx.docker(['rm', '-f', side]);
      await check;
      return gone;
    }
    if (done) break;
    await Promise.race([check, new Promise((ok) => setTimeout(ok, 200))]);
  }
  const res = await check;
  ctx.containers.delete(side);
  if (res.code === 0) return undefined;
  return (
    (await serverExited(ctx, s)) ?? {
      verdict: 'server never ready',
      reason: `${s.spec.transport.toUpperCase()} port ${s.port} not bound within ${ms / 1000} s${res.code !== 1 ? ` (sidecar: ${lastLine(res.stderr)})` : ''}`,
    }
  );
}

/** `docker ARGS` with a longer bound (builds, `docker wait` for a run): code 124 when the bound was hit. */
export function dockerLong(
  args: string[],
  timeoutMs: number,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((ok) => {
    execFile(
      'docker',
      args,
      { timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 4 << 20, env: { ...process.env, DOCKER_BUILDKIT: '0' } },
      (err, stdout, stderr) => {
        const killed = err !== null && (err as { killed?: boolean }).killed === true;
        const code = err ? (killed ? 124 : typeof err.code === 'number' ? err.code : 1) : 0;
        ok({ code, stdout: String(stdout), stderr: String(stderr) });
      },
    );
  });
}
