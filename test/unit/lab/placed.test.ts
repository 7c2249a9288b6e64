// The jobs every runtime shares (src/lab/runtimes/placed.ts), on a fake container-like Host: each spawned command
// and each kill is recorded (argv, PID on the host, signal), the fake client's journal grows on a timer, and the
// fake server prints its `listening` line. So the fault loop, the test file and the capture are checked without a
// process, a namespace or a container.
import { EventEmitter } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import type { Fault, Variant } from '../../../src/lab/protocols/index.js';
import type { ExecResult, Host, Role } from '../../../src/lab/runtimes/host.js';
import { PlacedRuntime } from '../../../src/lab/runtimes/placed.js';
import type { Leftovers, RuntimeName, ShaperName } from '../../../src/lab/runtimes/types.js';

const RUFT: Variant = { id: 'ruft', protocol: 'ruft', options: {}, expectFailure: false };
const RESULT = JSON.stringify({ op: 'get', bytes: 1000, sha256: 'f'.repeat(64) });

/** A process the fake host runs: its `docker exec`-like child (exit 128+N when signalled where it runs). */
class FakeChild extends EventEmitter {
  stdout = new PassThrough();
  stderr = new PassThrough();
  exitCode: number | null = null;
  signalCode: NodeJS.Signals | null = null;
  constructor(readonly pid: number) {
    super();
  }
  end(code: number): void {
    if (this.exitCode !== null) return;
    this.exitCode = code;
    this.emit('exit', code, null);
    this.stdout.end();
    this.stderr.end();
    setImmediate(() => this.emit('close', code, null));
  }
  kill(): boolean {
    return true; // the proxy only: what runs on the host goes on (a kill must reach it by its PID there)
  }
}

interface Proc {
  pid: number;
  argv: string[];
  child: FakeChild;
  timer?: NodeJS.Timeout;
}

/** A host like a container: children are proxies, PIDs are the host's own, files live in a map. */
class FakeHost implements Host {
  readonly childIsProxy = true;
  readonly spawned: Proc[] = [];
  readonly kills: Array<[number, NodeJS.Signals]> = [];
  readonly execs: string[][] = [];
  readonly copies: string[][] = [];
  readonly files = new Map<string, Buffer>();
  private nextPid = 1000;
  /** share of the download the fake client holds (its journal says it), grown 2% every 5 ms while it runs */
  held = 0;
  /** the fake client promotes its part to the final name when it is killed (the bug the loop must catch) */
  promoteOnKill = false;
  constructor(
    readonly name: string,
    readonly address: string,
  ) {}

  argv(cmd: string[]): string[] {
    return ['fake', ...cmd];
  }
  async exec(cmd: string[]): Promise<ExecResult> {
    this.execs.push(cmd);
    return { code: 0, stdout: '', stderr: '' };
  }
  spawn(cmd: string[]) {
    // pidOnHost: sh -c 'echo {"event":"pid",…}; exec "$@"' sh CMD…
    expect(cmd.slice(0, 2)).toEqual(['sh', '-c']);
    const argv = cmd.slice(4);
    const p: Proc = { pid: this.nextPid++, argv, child: new FakeChild(90_000 + this.nextPid) };
    this.spawned.push(p);
    setImmediate(() => {
      p.child.stdout.write(`{"event":"pid","pid":${p.pid}}\n`);
      if (argv[1] === 'serve') p.child.stdout.write('udplab: listening on 10.0.0.2:4999, key 1234\n');
      if (argv[0] === 'tcpdump') p.child.stderr.write('tcpdump: listening on eth0, link-type EN10MB\n');
      if (argv[1] === 'relay')
        p.child.stdout.write('{"event":"listening","address":"10.0.0.2","port":5000,"up":"","down":"","seed":1}\n');
      if (argv[1] === 'get') {
        const local = argv[argv.indexOf('get') + 3]!;
        p.timer = setInterval(() => {
          this.held = Math.min(100, this.held + 2);
          const journal = { sizeBytes: 1000, ranges: [[0, this.held * 10]] };
          this.files.set(`${local}.part.journal`, Buffer.from(JSON.stringify(journal)));
          if (this.held === 100) {
            clearInterval(p.timer);
            this.files.set(local, Buffer.from('x'.repeat(1000)));
            p.child.stdout.write(`${RESULT}\n`);
            p.child.end(0);
          }
        }, 5);
      }
    });
    return p.child as never;
  }
  async readFile(path: string): Promise<Buffer> {
    const b = this.files.get(path);
    if (!b) throw new Error(`no ${path}`);
    return b;
  }
  async size(path: string): Promise<number | undefined> {
    return this.files.get(path)?.length;
  }
  async sha256(path: string): Promise<string | undefined> {
    return this.files.has(path) ? 'a'.repeat(64) : undefined;
  }
  async copyIn(localPath: string, path: string): Promise<void> {
    this.copies.push(['in', localPath, path]);
    this.files.set(path, readFileSync(localPath));
  }
  async copyOut(path: string, localPath: string): Promise<boolean> {
    this.copies.push(['out', path, localPath]);
    const b = this.files.get(path);
    if (b) writeFileSync(localPath, b);
    return b !== undefined;
  }
  async removeNamed(dir: string, prefix: string): Promise<void> {
    this.execs.push(['removeNamed', dir, prefix]);
    for (const f of [...this.files.keys()]) if (f.startsWith(`${dir}/${prefix}`)) this.files.delete(f);
  }
  kill(pid: number, signal: NodeJS.Signals): void {
    this.kills.push([pid, signal]);
    const p = this.spawned.find((s) => s.pid === pid);
    if (!p) return;
    clearInterval(p.timer);
    if (this.promoteOnKill && p.argv[1] === 'get')
      this.files.set(p.argv[p.argv.indexOf('get') + 3]!, Buffer.from('early'));
    if (p.argv[0] === 'tcpdump') this.files.set('/tmp/capture.pcap', Buffer.from('pcap bytes'));
    setImmediate(() => p.child.end(signal === 'SIGINT' ? 130 : 137));
  }
  /** What ran, as `PID argv…` lines, without the PID echo wrapper. */
  ran(): string[] {
    return this.spawned.map((p) => `${p.pid} ${p.argv.join(' ')}`);
  }
}

class FakeRuntime extends PlacedRuntime {
  readonly name: RuntimeName = 'docker';
  shaper: ShaperName = 'netem';
  kernel = 'fake';
  readonly server = new FakeHost('fake server', '10.0.0.2');
  readonly client = new FakeHost('fake client', '10.0.0.3');
  constructor(readonly stage: string) {
    super([]);
  }
  async start(): Promise<void> {}
  protected host(role: Role): FakeHost {
    return role === 'client' ? this.client : this.server;
  }
  protected udplab(): string[] {
    return ['udplab'];
  }
  protected folders() {
    return { root: '/srv/udplab', clients: '/data', stage: this.stage };
  }
  protected captureInterface(): string {
    return 'eth0';
  }
  protected override captureFile(): string {
    return '/tmp/capture.pcap';
  }
  /** The variant's server, and the path's entry at it (what applyShaping does before shaping). */
  async serve(v: Variant): Promise<void> {
    this.targetPort = (await this.ensureServer(v)).port;
    this.targetAddress = this.server.address;
  }
  leftovers(): Leftovers {
    return { pids: this.livePids() };
  }
}

describe('PlacedRuntime over a fake host', () => {
  const dirs: string[] = [];
  const runtime = () => {
    const d = mkdtempSync(join(tmpdir(), 'udplab-placed-'));
    dirs.push(d);
    return new FakeRuntime(d);
  };
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it('faults: kills the client, then the server, by their PIDs where they run, at the fault’s share; the server restarts on its port; every leg after the first resumes', async () => {
    const rt = runtime();
    await rt.serve(RUFT);
    const faults: Fault[] = [
      { atPct: 30, kill: 'client', restart: true },
      { atPct: 60, kill: 'server', restart: true },
    ];
    const { outcome, faults: records } = await rt.runWithFaults(RUFT, 'file.bin', 20_000, faults);
    expect(outcome.ok, JSON.stringify(outcome)).toBe(true);
    expect(outcome.sha256Local).toBe('a'.repeat(64));
    const get = 'udplab get 10.0.0.2:4999 file.bin /data/file-0.bin';
    const ran = [...rt.server.ran(), ...rt.client.ran()];
    expect(ran.map((l) => l.replace(/ --(json|force|accept-new)/g, ''))).toEqual([
      '1000 udplab serve --quiet --root /srv/udplab --host 10.0.0.2 --port 0',
      // the restart asks for the port the first server was handed, not 0
      '1001 udplab serve --quiet --root /srv/udplab --host 10.0.0.2 --port 4999',
      `1000 ${get}`,
      `1001 ${get} --resume`,
      `1002 ${get} --resume`,
    ]);
    // client leg 1 SIGKILLed; the server SIGKILLed, then the client waiting for it interrupted
    expect(rt.client.kills).toEqual([
      [1000, 'SIGKILL'],
      [1001, 'SIGINT'],
    ]);
    expect(rt.server.kills).toEqual([[1000, 'SIGKILL']]);
    expect(records.map((r) => [r.at_pct, r.kill, r.restarted, r.promoted_early])).toEqual([
      [30, 'client', true, false],
      [60, 'server', true, false],
    ]);
    for (const r of records) {
      expect(r.killed_at_pct).toBeGreaterThanOrEqual(r.at_pct);
      expect(r.killed_at_pct).toBeLessThan(r.at_pct + 20);
    }
    // the client's file and what a download left were cleared on the client host before the first leg
    expect(rt.client.execs[0]).toEqual(['removeNamed', '/data', 'file-0.bin']);
    await rt.stop();
    expect(rt.leftovers().pids).toEqual([]);
  });

  it('faults: a final name that exists after a kill is an early promotion; a fault without restart ends the run', async () => {
    const rt = runtime();
    await rt.serve(RUFT);
    rt.client.promoteOnKill = true;
    const { outcome, faults: records } = await rt.runWithFaults(RUFT, 'file.bin', 20_000, [
      { atPct: 40, kill: 'client', restart: false },
    ]);
    expect(records).toEqual([expect.objectContaining({ at_pct: 40, kill: 'client', promoted_early: true })]);
    expect(outcome).toMatchObject({ ok: false, code: 'E_FAULT' });
    expect(rt.client.spawned).toHaveLength(1); // no resume
    await rt.stop();
  });

  it('the relay gone before the end of the run: clearShaping says the shaping was tampered with (#18 C2)', async () => {
    const rt = runtime();
    rt.shaper = 'userspace';
    await rt.applyShaping({ up: {}, down: {}, seed: 1, variant: RUFT });
    expect(await rt.clearShaping()).toBeUndefined(); // ran to the end: stopped by the lab, no counters here
    await rt.applyShaping({ up: {}, down: {}, seed: 1, variant: RUFT });
    rt.server.spawned
      .filter((p) => p.argv[1] === 'relay')
      .at(-1)!
      .child.end(137); // e.g. killed by a program
    expect(await rt.clearShaping()).toEqual({ tampered: 'the relay exited during the run (exit code 137)' });
    await rt.stop();
  });

  it('the test file: made on this machine, copied where the server reads it, checked there', async () => {
    const rt = runtime();
    const prepared = await rt.prepareFile({ sizeBytes: 3000, content: 'zeros' });
    expect(rt.server.copies).toEqual([['in', join(rt.stage, 'file.bin'), '/srv/udplab/file.bin']]);
    expect(prepared).toEqual({ remote: 'file.bin', sizeBytes: 3000, sha256: 'a'.repeat(64) });
    expect(rt.originalPath()).toBe(join(rt.stage, 'file.bin'));
  });

  it('capture: tcpdump on the client host, filtered to the path’s port, stopped by its PID there, the pcap copied back', async () => {
    const rt = runtime();
    await rt.serve(RUFT);
    const pcap = join(rt.stage, 'out.pcap');
    expect(await rt.startCapture(pcap)).toBeUndefined();
    expect(rt.client.ran()).toEqual(['1000 tcpdump -i eth0 -U --immediate-mode -s 256 -w /tmp/capture.pcap port 4999']);
    expect(await rt.stopCapture()).toBe('pcap bytes'.length);
    expect(rt.client.kills).toEqual([[1000, 'SIGINT']]);
    expect(readFileSync(pcap, 'utf8')).toBe('pcap bytes');
    await rt.stop();
  });
});
