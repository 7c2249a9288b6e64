// The `local` runtime: server, relay and client as separate processes on loopback (any OS, no root).
// The shaper is always the userspace relay.
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { copyFileSync, createReadStream, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { type Netem, printNetem } from '../../impair/index.js';
import { LabError } from '../errors.js';
import { repoRoot } from './docker.js';
import type { ClientOutcome, LabRuntime, PreparedFile, RuntimeName, ShaperName } from './types.js';

const BIN = () => join(repoRoot(), 'bin', 'udplab.js');

/** Starts `udplab ARGS`, optionally behind a prefix such as `ip netns exec NS` (which execs, keeping the PID). */
function spawnUdplab(args: string[], home: string, prefix: string[] = []): ChildProcess {
  const [cmd, ...rest] = [...prefix, process.execPath, BIN(), ...args];
  return spawn(cmd!, rest, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, UDPLAB_HOME: home } });
}

/** Waits for the first stdout line of a child that matches `re`. */
function firstLine(child: ChildProcess, re: RegExp, what: string, timeoutMs = 30_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const rl = createInterface({ input: child.stdout! });
    let stderr = '';
    child.stderr?.on('data', (d) => {
      stderr += d;
    });
    const t = setTimeout(
      () => reject(new LabError('E_RUNTIME', `${what} did not start within ${timeoutMs} ms: ${stderr.trim()}`)),
      timeoutMs,
    );
    rl.on('line', (l) => {
      if (re.test(l)) {
        clearTimeout(t);
        resolve(l);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(t);
      reject(new LabError('E_RUNTIME', `${what} exited with ${code}: ${stderr.trim()}`));
    });
  });
}

export async function sha256OfFile(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) h.update(chunk as Buffer);
  return h.digest('hex');
}

export function writeContent(path: string, sizeBytes: number, content: 'random' | 'zeros' | 'text'): void {
  const chunk = 1 << 20;
  writeFileSync(path, '');
  const line = Buffer.from('the quick brown fox jumps over the lazy dog, again and again, over UDP\n');
  for (let done = 0; done < sizeBytes; done += chunk) {
    const n = Math.min(chunk, sizeBytes - done);
    const b = content === 'random' ? randomBytes(n) : content === 'zeros' ? Buffer.alloc(n) : Buffer.alloc(n, line);
    writeFileSync(path, b, { flag: 'a' });
  }
}

/**
 * Server, relay and client as separate udplab processes, each with a home of its own (the server makes its
 * identity there; the client pins it on first contact). The `local` runtime runs them on loopback; a
 * subclass places them elsewhere (network namespaces) through `prefix` and `hosts`.
 */
export class LocalRuntime implements LabRuntime {
  readonly name: RuntimeName = 'local';
  shaper: ShaperName = 'userspace';
  kernel = `${process.platform} (loopback, no kernel shaping)`;
  protected readonly dir = mkdtempSync(join(tmpdir(), 'udplab-lab-'));
  /** Where each role binds or sends. */
  protected hosts = {
    serverBind: '127.0.0.1',
    relayListen: '127.0.0.1',
    relayTo: '127.0.0.1',
    clientTarget: '127.0.0.1',
  };
  protected prefix(_role: 'server' | 'relay' | 'client'): string[] {
    return [];
  }
  /** Kernel shaping, for runtimes that have it; the local runtime has none. */
  protected async applyKernelShaping(_up: Netem, _down: Netem): Promise<string> {
    throw new LabError('E_SHAPER', 'the local runtime shapes in user space only');
  }
  private server: ChildProcess | undefined;
  private relay: ChildProcess | undefined;
  private relayPort = 0;
  private serverPort = 0;
  private relayLines: string[] = [];

  constructor(readonly notices: string[]) {}

  async start(): Promise<void> {
    mkdirSync(join(this.dir, 'root'));
    mkdirSync(join(this.dir, 'client'));
    this.server = spawnUdplab(
      ['serve', '--root', join(this.dir, 'root'), '--host', this.hosts.serverBind, '--port', '0', '--quiet'],
      join(this.dir, 'server-home'),
      this.prefix('server'),
    );
    const line = await firstLine(this.server, /listening on/, 'udplab serve');
    this.serverPort = Number(/:(\d+),/.exec(line)?.[1]);
  }

  async prepareFile(
    spec: { sizeBytes: number; content: 'random' | 'zeros' | 'text' } | { path: string },
  ): Promise<PreparedFile> {
    const dest = join(this.dir, 'root', 'file.bin');
    if ('path' in spec) copyFileSync(spec.path, dest);
    else writeContent(dest, spec.sizeBytes, spec.content);
    const sha256 = await sha256OfFile(dest);
    return { remote: 'file.bin', sizeBytes: statSync(dest).size, sha256 };
  }

  async applyShaping(up: Netem, down: Netem, seed: number): Promise<string> {
    await this.clearShaping();
    if (this.shaper === 'netem') return this.applyKernelShaping(up, down);
    this.relayLines = [];
    this.relay = spawnUdplab(
      [
        'relay',
        '--to',
        `${this.hosts.relayTo}:${this.serverPort}`,
        '--listen',
        `${this.hosts.relayListen}:0`,
        '--up',
        printNetem(up),
        '--down',
        printNetem(down),
        '--seed',
        String(seed),
      ],
      join(this.dir, 'relay-home'),
      this.prefix('relay'),
    );
    const line = await firstLine(this.relay, /"listening"/, 'udplab relay');
    createInterface({ input: this.relay.stdout! }).on('line', (l) => this.relayLines.push(l));
    const j = JSON.parse(line) as { port: number; up: string; down: string; seed: number };
    this.relayPort = j.port;
    return `userspace relay: up "${j.up}" down "${j.down}" seed ${j.seed}`;
  }

  async clearShaping(): Promise<unknown> {
    const r = this.relay;
    if (!r) return undefined;
    this.relay = undefined;
    const exited = new Promise((ok) => r.once('exit', ok));
    r.kill('SIGTERM');
    await Promise.race([exited, new Promise((ok) => setTimeout(ok, 3000))]);
    const last = this.relayLines.filter((l) => l.includes('"closed"')).pop();
    return last ? JSON.parse(last) : undefined;
  }

  async runClient(remote: string, timeoutMs: number): Promise<ClientOutcome> {
    const local = join(this.dir, 'client', 'file.bin');
    rmSync(local, { force: true });
    const target = `${this.hosts.clientTarget}:${this.relay ? this.relayPort : this.serverPort}`;
    const child = spawnUdplab(
      ['get', target, remote, local, '--json', '--force', '--accept-new'],
      join(this.dir, 'client-home'),
      this.prefix('client'),
    );
    let out = '';
    let err = '';
    child.stdout!.on('data', (d) => {
      out += d;
    });
    child.stderr!.on('data', (d) => {
      err += d;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    const code = await new Promise<number | null>((ok) => child.once('exit', ok));
    clearTimeout(timer);
    if (code !== 0) {
      const m = /udplab: (E_[A-Z_]+): (.*)/.exec(err);
      return code === null
        ? { ok: false, code: 'E_TIMEOUT', message: `client killed after the run timeout of ${timeoutMs / 1000} s` }
        : { ok: false, code: m?.[1] ?? 'E_CLIENT', message: m?.[2] ?? (err.trim() || `exit ${code}`) };
    }
    return { ok: true, result: JSON.parse(out.trim().split('\n').pop()!), sha256Local: await sha256OfFile(local) };
  }

  async stop(): Promise<void> {
    await this.clearShaping();
    if (this.server) {
      const s = this.server;
      this.server = undefined;
      const exited = new Promise((ok) => s.once('exit', ok));
      s.kill('SIGTERM');
      await Promise.race([exited, new Promise((ok) => setTimeout(ok, 3000))]);
      if (s.exitCode === null) s.kill('SIGKILL');
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
