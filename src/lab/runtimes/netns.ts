// The `netns` runtime: root on Linux, no Docker. Two network namespaces joined by a veth pair
// (client 10.77.<k>.1 ⟷ server 10.77.<k>.2; with `ip: 6` also fd77:0:0:<k>::1 ⟷ fd77:0:0:<k>::2, which the
// run then uses); server, relay and client are udplab processes started with `ip netns exec` (`ProcessHost`s with
// that prefix: everything else is ./local.ts and ./placed.ts). Shaper `netem`
// (shapers/netem.ts, over this runtime's hosts): each veth end's egress (client = up, server = down); where the
// kernel has no sch_netem, the relay runs in the server's namespace instead, loudly.
// Namespaces are named udplab-<pid>-{c,s}; a start-up sweep deletes those whose owner process is gone.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { LabError } from '../errors.js';
import { serverSpec, type Variant } from '../protocols/index.js';
import { netemShaper } from '../shapers/netem.js';
import type { ShapedEnd } from '../shapers/types.js';
import { type Host, ProcessHost, type Role } from './host.js';
import { LocalRuntime } from './local.js';
import { PROGRAM_IDS } from './privsep.js';
import type { Leftovers, RuntimeName, ShaperName } from './types.js';

const exec = promisify(execFile);

async function ip(...args: string[]): Promise<string> {
  return (await exec('ip', args, { timeout: 10_000 })).stdout;
}

/** Deletes udplab namespaces left by processes that no longer exist. */
export async function sweepNamespaces(): Promise<number> {
  let removed = 0;
  for (const line of (await ip('netns', 'list').catch(() => '')).split('\n')) {
    const m = /^udplab-(\d+)-[cs]\b/.exec(line.trim());
    if (!m) continue;
    let alive = true;
    try {
      process.kill(Number(m[1]), 0);
    } catch {
      alive = false;
    }
    if (!alive) {
      await ip('netns', 'del', line.trim().split(/\s/)[0]!).catch(() => undefined);
      removed++;
    }
  }
  return removed;
}

let instances = 0;

export class NetnsRuntime extends LocalRuntime {
  override readonly name: RuntimeName = 'netns';
  private readonly k = (process.pid + instances++) % 250;
  private readonly cns = `udplab-${process.pid}-c${this.k}`;
  private readonly sns = `udplab-${process.pid}-s${this.k}`;
  /** The namespaces `ip netns add` made, each as soon as it exists: stop deletes these, also after a half-done start. */
  private readonly made = new Set<string>();

  constructor(
    notices: string[],
    private readonly shaperWanted: ShaperName | 'auto',
    ip: 4 | 6 = 4,
  ) {
    super(notices, ip);
  }

  /** The veth pair's IPv6 prefix (unique local, fd77:0:0:<k>::/64), ending in `::`. */
  private net6(): string {
    return `fd77:0:0:${this.k.toString(16)}::`;
  }

  /**
   * A user's program behind the relay binds the server namespace's loopback (127.0.0.1, ::1): the relay, in that
   * namespace, forwards to it, and the client's namespace cannot reach it past the relay (issue #18, C3). A program
   * that binds the wildcard instead is caught by the byte cross-check (../shapers/crossed.ts). Under kernel netem
   * (both veth ends shaped) and for TCP (the relay carries UDP only: it runs unshaped, client to server) it binds the
   * veth address. udplab's own servers keep the veth address: the reflection test sends to it from the client's
   * namespace, and they do not bypass.
   */
  protected override execBind(v: Variant): string {
    if (this.shaper !== 'userspace' || serverSpec(v).transport !== 'udp') return super.execBind(v);
    return this.ip === 6 ? '::1' : '127.0.0.1';
  }

  /** exec servers bind in the server's namespace, where nothing else binds below 32768. */
  protected override async freePort(): Promise<number> {
    return this.nsPort();
  }

  protected override captureInterface(): string {
    return `ul${this.k}c`;
  }

  /** The client's namespace for clients, the server's for the server and the relay. */
  protected override host(role: Role): Host {
    const ns = role === 'client' ? this.cns : this.sns;
    const end = role === 'client' ? 1 : 2;
    const address = this.ip === 6 ? `${this.net6()}${end}` : `10.77.${this.k}.${end}`;
    return new ProcessHost(`netns ${ns}`, address, ['ip', 'netns', 'exec', ns]);
  }

  override async start(): Promise<void> {
    if (process.getuid?.() !== 0) throw new LabError('E_RUNTIME', '--runtime netns needs root (ip netns, veth)');
    await sweepNamespaces();
    const net = `10.77.${this.k}`;
    try {
      for (const ns of [this.cns, this.sns]) {
        await ip('netns', 'add', ns);
        this.made.add(ns);
      }
      await ip(
        'link',
        'add',
        `ul${this.k}c`,
        'netns',
        this.cns,
        'type',
        'veth',
        'peer',
        'name',
        `ul${this.k}s`,
        'netns',
        this.sns,
      );
      for (const [ns, dev, addr, addr6] of [
        [this.cns, `ul${this.k}c`, `${net}.1/24`, `${this.net6()}1/64`],
        [this.sns, `ul${this.k}s`, `${net}.2/24`, `${this.net6()}2/64`],
      ] as const) {
        await ip('-n', ns, 'addr', 'add', addr, 'dev', dev);
        // nodad: usable at once, no duplicate address detection to wait for (nothing else is on this link)
        if (this.ip === 6) await ip('-n', ns, '-6', 'addr', 'add', addr6, 'dev', dev, 'nodad');
        await ip('-n', ns, 'link', 'set', dev, 'up');
        await ip('-n', ns, 'link', 'set', 'lo', 'up');
      }
    } catch (e) {
      // what was made is deleted by stop(), which startLab (./lab.ts) calls when start throws
      throw new LabError('E_RUNTIME', `could not build the namespaces: ${(e as Error).message.split('\n')[0]}`);
    }
    this.kernel = (await exec('uname', ['-sr'])).stdout.trim();
    if (this.shaperWanted !== 'userspace') {
      const probe = await netemShaper.probe(this.host('client'), `ul${this.k}c`);
      if (probe.ok) this.shaper = 'netem';
      else if (this.shaperWanted === 'netem') {
        throw new LabError(
          'E_SHAPER',
          `--shaper netem: this kernel (${this.kernel}) cannot run netem: ${probe.detail}`,
        );
      } else {
        this.notices.push(
          `FALLBACK: kernel ${this.kernel} has no sch_netem (tc: "${probe.detail}"); shaping with the userspace relay in the server's namespace instead. Figures describe the relay, not kernel netem.`,
        );
      }
    }
    if (this.shaper === 'userspace') await this.onlyThroughRelay();
    await super.start();
  }

  /**
   * Behind the relay, no user's program may send anything from the server's namespace to the client's: programs run
   * as users of their own (./privsep.ts, PROGRAM_IDS), so one that binds the wildcard and answers a client that came
   * straight to it past the relay (UDP, or a TCP side channel: the second review passed a 10%-loss row that way),
   * has its packets refused on their way out (iptables' owner match, OUTPUT chain of the server's namespace; IPv6
   * likewise). Root's traffic — the relay, udplab's own servers, a TCP handshake's SYN-ACK, which has no owner yet —
   * passes. Without iptables the byte cross-check is what holds, said once.
   */
  private async onlyThroughRelay(): Promise<void> {
    const tool = this.ip === 6 ? 'ip6tables' : 'iptables';
    const client = this.ip === 6 ? `${this.net6()}1` : `10.77.${this.k}.1`;
    const argv = ['netns', 'exec', this.sns, tool, '-A', 'OUTPUT', '-d', client, '-m', 'owner'];
    try {
      await exec('ip', [...argv, '--uid-owner', PROGRAM_IDS, '-j', 'DROP'], { timeout: 10_000 });
    } catch (e) {
      this.notices.push(
        `users' programs can answer a client that bypasses the relay (${tool}: ${(e as Error).message.split('\n')[0]}): the byte cross-check alone catches it`,
      );
    }
  }

  /** Each veth end's egress: the client's carries up, the server's down. */
  protected override netemEnds(): ShapedEnd[] {
    return [
      { host: this.host('client'), dev: `ul${this.k}c`, direction: 'up', where: `ul${this.k}c` },
      { host: this.host('server'), dev: `ul${this.k}s`, direction: 'down', where: `ul${this.k}s` },
    ];
  }

  /** The processes first (they run in the namespaces), then the namespaces, even when stopping a process threw. */
  override async stop(): Promise<void> {
    try {
      await super.stop();
    } finally {
      for (const ns of [...this.made]) {
        await ip('netns', 'del', ns).then(
          () => this.made.delete(ns),
          () => undefined,
        );
      }
    }
  }

  override leftovers(): Leftovers {
    return { ...super.leftovers(), namespaces: [...this.made] };
  }
}
