// An image protocol's clients (docs/endpoints.md, "On the docker runtime"): one container per client run in the
// client holder's network namespace, {local} in a bind-mounted host folder; `docker wait` bounded by the scenario's
// timeout; the verdict from the file on disk (docker-image-grade.ts); crash faults (kill the client or the server
// container when {local} holds the fault's share, restart only if the manifest says the program can resume); and
// the packet capture, from a sidecar in the holder's network namespace where every client sends from.
import { existsSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Fault, FaultRecord } from '../protocols/index.js';
import { clientRunArgv, type ImageEndpointSpec, labelArgs, OUT_IN } from './docker-image-argv.js';
import { type HashedFile, type ImageRunOutcome, judge, lastLine, toClientOutcome } from './docker-image-grade.js';
import { dockerLong, type ImageLabContext, killServer, restartServer, type Server } from './docker-image-servers.js';
import { judgedFile } from './judged-file.js';
import { waitForShare } from './placed.js';
import { type ClientOutcome, faultRecord, notResumable } from './types.js';

/** One client run's container, and its `docker wait` (resolves when it exits, or with 124 at the bound). */
interface ClientRun {
  name: string;
  waited: Promise<{ code: number; stdout: string; stderr: string }>;
}

/** What every client of a run shares: where it sends, the folder {local} is in, the run's seed, the lab's user. */
export interface ClientPlan {
  spec: ImageEndpointSpec;
  target: { host: string; port: number };
  remote: string;
  outDir: string;
  seed: number;
  user: string | undefined;
  /** the served file on the host, and its SHA-256 */
  original: HashedFile;
}

async function startClient(ctx: ImageLabContext, p: ClientPlan, local: string, timeoutMs: number): Promise<ClientRun> {
  const name = `udplab-img-${ctx.tag}-cli-${ctx.seq()}`;
  ctx.containers.add(name);
  try {
    await ctx.must(
      clientRunArgv({
        spec: p.spec,
        name,
        holder: ctx.holder,
        host: p.target.host,
        port: p.target.port,
        remote: p.remote,
        outDir: p.outDir,
        local,
        seed: p.seed,
        ...(p.user && { user: p.user }),
      }),
      `${p.spec.label}: starting a client container`,
    );
  } catch (e) {
    await removeClient(ctx, name);
    throw e;
  }
  return { name, waited: dockerLong(['wait', name], timeoutMs) };
}

async function removeClient(ctx: ImageLabContext, name: string): Promise<void> {
  await ctx.docker(['rm', '-f', '-v', name]);
  ctx.containers.delete(name);
}

/** Waits for a client container, judges the file it left, and removes the container. */
async function finishClient(
  ctx: ImageLabContext,
  p: ClientPlan,
  c: ClientRun,
  local: string,
  timeoutMs: number,
): Promise<ImageRunOutcome> {
  try {
    const waited = await c.waited;
    const timedOut = waited.code !== 0;
    if (timedOut) await ctx.docker(['kill', c.name]);
    const [started, finished, code] = (
      await ctx.inspect(c.name, '{{.State.StartedAt}} {{.State.FinishedAt}} {{.State.ExitCode}}')
    ).split(' ');
    const ms = Math.max(0, Date.parse(finished!) - Date.parse(started!));
    const logs = await ctx.docker(['logs', '--tail', '50', c.name]);
    const got = await judgedFile(join(p.outDir, local), p.original, `${OUT_IN}/${local}`);
    const exitCode = timedOut ? null : Number(code);
    const j = judge(p.original, got, {
      exitCode,
      timedOut,
      stderrLast: lastLine(logs.stderr),
      timeoutMs,
      local: `${OUT_IN}/${local}`,
    });
    return {
      ...j,
      ms: timedOut ? timeoutMs : ms,
      exitCode,
      ...(got.kind === 'file' && { sha256Local: got.sha256, sizeLocal: got.size }),
    };
  } finally {
    await removeClient(ctx, c.name);
  }
}

/** Runs one client container to its end (or the timeout) and judges it; the container is removed. */
export async function runClient(
  ctx: ImageLabContext,
  p: ClientPlan,
  local: string,
  timeoutMs: number,
): Promise<ImageRunOutcome> {
  return finishClient(ctx, p, await startClient(ctx, p, local, timeoutMs), local, timeoutMs);
}

/**
 * One client run with crash faults, as for exec protocols: each fault waits until {local} holds its share, then
 * SIGKILLs the client's or the server's container (the program and everything it started). Restarted only when the
 * fault says `restart` and the manifest `resumable: true` (the client with the same argv and {local}, the server by
 * `docker start` of its container); otherwise the kill is the run's failure, and a killed server is started again
 * for the runs that follow.
 */
export async function runClientWithFaults(
  ctx: ImageLabContext,
  p: ClientPlan,
  server: Server,
  timeoutMs: number,
  faults: Fault[],
): Promise<{ outcome: ClientOutcome; faults: FaultRecord[] }> {
  const local = 'file-0.bin';
  const path = join(p.outDir, local);
  rmSync(path, { recursive: true, force: true });
  const size = statSync(p.original.path).size;
  // the size of {local} on the host side of its bind mount: the same file the container writes
  const share = async () => (existsSync(path) ? (100 * statSync(path).size) / Math.max(1, size) : 0);
  const deadline = Date.now() + timeoutMs;
  const records: FaultRecord[] = [];
  const left = () => Math.max(1000, deadline - Date.now());
  let client = await startClient(ctx, p, local, timeoutMs);
  const end = async (outcome: ClientOutcome) => {
    await ctx.docker(['kill', client.name]);
    await removeClient(ctx, client.name);
    return { outcome, faults: records };
  };
  for (const f of faults) {
    const held = await waitForShare(share, f.atPct, client.waited, deadline);
    if (held === undefined) break;
    const canResume = f.restart && p.spec.resumable;
    records.push(faultRecord({ ...f, restart: canResume }, held, false));
    const failed = notResumable(p.spec.label, p.spec.resumable, f, held);
    if (f.kill === 'client') {
      await ctx.docker(['kill', '--signal', 'KILL', client.name]);
      await client.waited;
      if (!canResume) return end(failed);
      await removeClient(ctx, client.name);
      client = await startClient(ctx, p, local, left());
      continue;
    }
    await killServer(ctx, server);
    if (!canResume) {
      const r = await end(failed);
      await restartServer(ctx, server); // for the runs that follow (a failure is kept as their verdict)
      return r;
    }
    const gone = await restartServer(ctx, server);
    if (gone) return end({ ok: false, code: gone.verdict, message: `after the restart: ${gone.reason}` });
  }
  const o = await finishClient(ctx, p, client, local, timeoutMs);
  return { outcome: toClientOutcome(o, p.remote, `${OUT_IN}/${local}`), faults: records };
}

/**
 * Starts tcpdump in a sidecar in the client holder's network namespace (every client of a run sends from there),
 * filtered on `port` (the one the clients send to); returns its name, or why not when it cannot.
 */
export async function startCapture(
  ctx: ImageLabContext,
  port: number | undefined,
): Promise<{ name: string } | { why: string }> {
  const name = `udplab-img-${ctx.tag}-capture-${ctx.seq()}`;
  ctx.containers.add(name);
  const r = await ctx.docker([
    'run',
    '-d',
    '--name',
    name,
    '--network',
    `container:${ctx.holder}`,
    ...labelArgs('capture'),
    ctx.udplabImage,
    'tcpdump',
    '-i',
    'eth0',
    '-p',
    '-U',
    '--immediate-mode',
    '-s',
    '256',
    '-w',
    '/tmp/capture.pcap',
    ...(port ? ['port', String(port)] : []),
  ]);
  let why: string | undefined = r.code === 0 ? undefined : `tcpdump sidecar: ${lastLine(r.stderr)}`;
  for (let i = 0; !why && i < 50; i++) {
    const logs = await ctx.docker(['logs', name]);
    if (/listening on/.test(logs.stderr + logs.stdout)) return { name };
    if ((await ctx.inspect(name, '{{.State.Running}}')) !== 'true') why = `tcpdump: ${lastLine(logs.stderr)}`;
    else await new Promise((ok) => setTimeout(ok, 100));
  }
  await ctx.docker(['rm', '-f', name]);
  ctx.containers.delete(name);
  return { why: why ?? 'tcpdump did not start within 5 s in its sidecar' };
}

/** Stops the capture (tcpdump flushes on SIGTERM), copies the pcap to `path`, returns its size in bytes. */
export async function stopCapture(ctx: ImageLabContext, name: string, path: string): Promise<number> {
  await ctx.docker(['stop', '-t', '3', name]);
  const cp = await ctx.docker(['cp', `${name}:/tmp/capture.pcap`, path]);
  await ctx.docker(['rm', '-f', name]);
  ctx.containers.delete(name);
  return cp.code === 0 && existsSync(path) ? statSync(path).size : 0;
}
