// The `docker` runtime: server and client (and, for the userspace shaper, a relay) in separate containers on
// an `internal` network, NET_ADMIN, labelled udplab=1, always removed. The netem shaper runs `tc` inside each
// endpoint (egress: the client's eth0 carries "up", the server's "down"); where the kernel has no sch_netem it
// falls back to a relay container, loudly.
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { StartedTestContainer } from 'testcontainers';
import { type Netem, printNetem, tcNetemArgs } from '../../impair/index.js';
import { LabError } from '../errors.js';
import { createInternalNetwork, type LabNetwork, startNode, sweepLeftovers, teardown } from './docker.js';
import { writeContent } from './local.js';
import type { ClientOutcome, LabRuntime, PreparedFile, ShaperName } from './types.js';

const PORT = 4455;
const RELAY_PORT = 4456;

async function run(
  c: StartedTestContainer,
  cmd: string[],
): Promise<{ exitCode: number; output: string; stdout: string; stderr: string }> {
  const r = await c.exec(cmd);
  return { exitCode: r.exitCode, output: r.output, stdout: r.stdout, stderr: r.stderr };
}

/** Does this kernel have sch_netem? Probed inside a container with NET_ADMIN. */
export async function probeNetem(c: StartedTestContainer): Promise<{ ok: boolean; detail: string }> {
  const r = await run(c, ['tc', 'qdisc', 'add', 'dev', 'eth0', 'root', 'netem', 'delay', '0ms']);
  if (r.exitCode === 0) {
    await run(c, ['tc', 'qdisc', 'del', 'dev', 'eth0', 'root']);
    return { ok: true, detail: 'tc netem accepted' };
  }
  return { ok: false, detail: r.output.trim().split('\n')[0] ?? `tc exit ${r.exitCode}` };
}

export class DockerRuntime implements LabRuntime {
  readonly name = 'docker' as const;
  shaper: ShaperName = 'netem';
  kernel = '';
  private net: LabNetwork | undefined;
  private server: StartedTestContainer | undefined;
  private client: StartedTestContainer | undefined;
  private relay: StartedTestContainer | undefined;
  private relayPid = '';

  constructor(
    readonly notices: string[],
    private readonly shaperWanted: ShaperName | 'auto',
  ) {}

  async start(): Promise<void> {
    await sweepLeftovers();
    this.net = await createInternalNetwork('udplab-lab');
    [this.server, this.client] = await Promise.all([
      startNode({ network: this.net, name: 'server' }),
      startNode({ network: this.net, name: 'client' }),
    ]);
    this.kernel = (await run(this.server, ['uname', '-sr'])).stdout.trim();
    if (this.shaperWanted !== 'userspace') {
      const p = await probeNetem(this.client);
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
    if (this.shaper === 'userspace') this.relay = await startNode({ network: this.net, name: 'relay' });
    const srv = await run(this.server, [
      'sh',
      '-c',
      `udplab serve --root /srv/udplab --port ${PORT} --quiet > /tmp/serve.log 2>&1 & echo $!`,
    ]);
    if (srv.exitCode !== 0) throw new LabError('E_RUNTIME', `could not start udplab serve: ${srv.output}`);
    await this.waitFor(this.server, '/tmp/serve.log', 'listening', 'udplab serve');
  }

  private ip(c: StartedTestContainer): string {
    return c.getIpAddress(this.net!.name);
  }

  private async waitFor(c: StartedTestContainer, log: string, needle: string, what: string): Promise<void> {
    for (let i = 0; i < 100; i++) {
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
    const tmp = mkdtempSync(join(tmpdir(), 'udplab-file-'));
    try {
      const host = join(tmp, 'file.bin');
      if ('path' in spec) copyFileSync(spec.path, host);
      else writeContent(host, spec.sizeBytes, spec.content);
      await s.copyFilesToContainer([{ source: host, target: '/srv/udplab/file.bin' }]);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
    const r = await run(s, ['sh', '-c', 'sha256sum /srv/udplab/file.bin && stat -c %s /srv/udplab/file.bin']);
    const [shaLine, sizeLine] = r.stdout.trim().split('\n');
    return { remote: 'file.bin', sha256: shaLine!.split(' ')[0]!, sizeBytes: Number(sizeLine) };
  }

  async applyShaping(up: Netem, down: Netem, seed: number): Promise<string> {
    await this.clearShaping();
    if (this.shaper === 'netem') {
      const out: string[] = [];
      for (const [c, n, dir] of [
        [this.client!, up, 'up'],
        [this.server!, down, 'down'],
      ] as const) {
        await run(c, ['tc', 'qdisc', 'del', 'dev', 'eth0', 'root']); // `replace` keeps old attributes: del + add
        if (Object.keys(n).length > 0) {
          const r = await run(c, ['tc', ...tcNetemArgs('eth0', n)]);
          if (r.exitCode !== 0)
            throw new LabError('E_SHAPER', `tc ${tcNetemArgs('eth0', n).join(' ')}: ${r.output.trim()}`);
        }
        const show = await run(c, ['tc', 'qdisc', 'show', 'dev', 'eth0']);
        out.push(`${dir} (${dir === 'up' ? 'client' : 'server'} eth0): ${show.stdout.trim().split('\n')[0]}`);
      }
      return out.join('; ');
    }
    const r = this.relay!;
    const cmd = [
      'udplab relay',
      `--to ${this.ip(this.server!)}:${PORT}`,
      `--listen 0.0.0.0:${RELAY_PORT}`,
      `--up '${printNetem(up)}'`,
      `--down '${printNetem(down)}'`,
      `--seed ${seed}`,
    ].join(' ');
    const started = await run(r, ['sh', '-c', `${cmd} > /tmp/relay.log 2>&1 & echo $!`]);
    this.relayPid = started.stdout.trim();
    await this.waitFor(r, '/tmp/relay.log', '"listening"', 'udplab relay');
    const line = (await run(r, ['head', '-1', '/tmp/relay.log'])).stdout.trim();
    const j = JSON.parse(line) as { up: string; down: string; seed: number };
    return `userspace relay container: up "${j.up}" down "${j.down}" seed ${j.seed}`;
  }

  async clearShaping(): Promise<unknown> {
    if (this.shaper === 'netem') {
      for (const c of [this.client, this.server]) if (c) await run(c, ['tc', 'qdisc', 'del', 'dev', 'eth0', 'root']);
      return undefined;
    }
    if (!this.relayPid || !this.relay) return undefined;
    const pid = this.relayPid;
    this.relayPid = '';
    await run(this.relay, [
      'sh',
      '-c',
      `kill -TERM ${pid}; for i in $(seq 1 30); do kill -0 ${pid} 2>/dev/null || break; sleep 0.1; done`,
    ]);
    const log = (await run(this.relay, ['cat', '/tmp/relay.log'])).stdout.trim().split('\n');
    const last = log.filter((l) => l.includes('"closed"')).pop();
    return last ? JSON.parse(last) : undefined;
  }

  async runClient(remote: string, timeoutMs: number): Promise<ClientOutcome> {
    const c = this.client!;
    const target =
      this.shaper === 'userspace' ? `${this.ip(this.relay!)}:${RELAY_PORT}` : `${this.ip(this.server!)}:${PORT}`;
    await run(c, ['rm', '-f', '/data/file.bin']);
    const r = await run(c, [
      'timeout',
      '-s',
      'KILL',
      String(Math.ceil(timeoutMs / 1000)),
      'udplab',
      'get',
      target,
      remote,
      '/data/file.bin',
      '--json',
      '--force',
      // the server container made its identity when it started; the client pins it on first contact
      '--accept-new',
    ]);
    if (r.exitCode !== 0) {
      const m = /udplab: (E_[A-Z_]+): (.*)/.exec(r.stderr);
      if (r.exitCode === 137)
        return {
          ok: false,
          code: 'E_TIMEOUT',
          message: `client killed after the run timeout of ${timeoutMs / 1000} s`,
        };
      return { ok: false, code: m?.[1] ?? 'E_CLIENT', message: m?.[2] ?? (r.output.trim() || `exit ${r.exitCode}`) };
    }
    const sha = (await run(c, ['sha256sum', '/data/file.bin'])).stdout.split(' ')[0]!;
    return { ok: true, result: JSON.parse(r.stdout.trim().split('\n').pop()!), sha256Local: sha };
  }

  async stop(): Promise<void> {
    await teardown([this.client, this.server, this.relay], this.net);
    this.client = this.server = this.relay = undefined;
    this.net = undefined;
  }
}
