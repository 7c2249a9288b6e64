// The userspace impairment relay: the fallback where the kernel has no netem, and the `local` runtime's shaper.
// Clients talk to the relay's front port; each client address gets its own upstream socket to the target, so
// replies find their way back. Each direction applies one seeded Impairment (netem semantics: loss,
// duplication, corruption, queue limit, delay/jitter/reorder, rate, slot) with a single timer per direction
// over a time-ordered queue (no timer per packet). Optional tampering stages (after N packets: flip bits,
// truncate, replay, reorder) sit after the impairment, toxiproxy-style.
// Fault boundary: a datagram whose handling throws (a send on a closing socket, a failed upstream bind) is
// counted and dropped, never the relay; at most MAX_UPSTREAMS client addresses get an upstream socket.
import type { Socket } from 'node:dgram';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import {
  type Blackout,
  copyBytes,
  createRng,
  ETHERNET_HEADER_BYTES,
  Impairment,
  type ImpairmentStats,
  type Netem,
  printNetem,
  udpFrameBytes,
} from '../impair/index.js';
import { EventQueue } from '../sim/index.js';
import { wildcardFor } from './address.js';
import { resolveHost } from './client.js';
import { type Clock, monotonicMs } from './clock.js';
import { LatenessHistogram, type LatenessSummary, readUdpDrops } from './relay-self.js';
import { Tamper, type TamperOptions, type TamperStats } from './tamper.js';
import { bindUdp, type RemoteInfo } from './udp-socket.js';

export interface RelayOptions {
  listenHost?: string;
  listenPort?: number;
  targetHost: string;
  targetPort: number;
  up: Netem;
  down: Netem;
  seed?: number;
  /** Windows in which both directions drop everything. */
  blackouts?: Blackout[];
  /** Where the blackouts' clock starts: the relay's start (default) or the first datagram a client sends. */
  blackoutsFrom?: 'start' | 'first-datagram';
  /** A hostile stage after the impairment (security tests): flips, truncation, replay, reordering. */
  tamper?: TamperOptions;
  /** Emulate IPv4 fragmentation at this MTU: each fragment meets the impairment on its own. */
  mtu?: number;
  /**
   * Without `mtu`: the emulated link's MTU (default DEFAULT_LINK_MTU, 1,500; 0: none). A datagram whose IP packet is
   * larger (payload + 28 bytes over IPv4, + 48 over IPv6) is dropped, as a 1,500-byte hop drops what endpoints on
   * loopback send it: their interface (MTU 65,536) carries the datagram whole, so Linux's default
   * (IP_PMTUDISC_WANT) sends it unfragmented with DF set; the ICMP "fragmentation needed" a router would answer
   * cannot reach a loopback kernel. Counted in the report's `oversize`.
   */
  linkMtu?: number;
  /** The receive buffer of the relay's sockets in bytes (default: bindUdp's 4 MiB ask); a small one makes the
   * kernel drop datagrams at the relay's sockets, which `self.*.socket_drops` then reports. */
  recvBufferBytes?: number;
  /**
   * Take the server's datagrams for a client only from targetHost:targetPort (users' programs, whose contract has
   * them answer from {port}); without it any port of the server's address may answer, and the client's next
   * datagrams go there (a TFTP transfer ID).
   */
  pinServerPort?: boolean;
  clock?: Clock;
}

export interface RelayReport {
  shaper: 'userspace';
  up: string;
  down: string;
  seed: number;
  /** The blackout windows, as `START_MS+DURATION_MS from start|first-datagram`. */
  blackouts?: string[];
  upStats: ImpairmentStats;
  downStats: ImpairmentStats;
  tamper?: { up: TamperStats; down: TamperStats };
  clients: number;
  /** Datagrams the relay dropped for its own reasons (upstream cap, failed bind, a send that threw). */
  dropped?: number;
  /** With an MTU: datagrams sent as fragments, and those lost because a fragment was. */
  fragments?: { mtu: number; datagrams: number; lost: number };
  /** Datagrams dropped, both ways, for being larger than the emulated link's MTU (present once one was). */
  oversize?: { link_mtu: number; dropped: number };
  /**
   * What the relay handed to its sockets per direction after shaping (up: to the server, down: to the clients), UDP
   * payload bytes and datagrams, duplicates and tampered copies included: what crossed the shaped path, which the lab's
   * byte cross-check reads (src/lab/shapers/crossed.ts).
   */
  forwarded: { up: RelayForwarded; down: RelayForwarded };
  /**
   * What the relay itself added, per direction: `lateness` of each release (actual send − the time the
   * impairment model scheduled it, from when the relay's handler saw the datagram); `socket_drops`, datagrams
   * the kernel dropped at the relay's receiving sockets (front socket: up; upstream sockets: down) before the
   * relay saw them — not part of the configured loss (/proc/net/udp{,6} `drops`; null off Linux);
   * `send_errors`, sends that failed (thrown or reported by the socket).
   */
  self: {
    up: RelaySelfDirection;
    down: RelaySelfDirection;
    /**
     * The relay process's event-loop delay since start (ms beyond its 10 ms sampling tick; node:perf_hooks): how long a
     * datagram already in a socket's queue can wait before the relay's handler sees it — time `lateness`
     * cannot see, as it starts at the handler.
     */
    event_loop_delay: { p50_ms: number; p99_ms: number; max_ms: number };
  };
}

export interface RelayForwarded {
  datagrams: number;
  bytes: number;
}

export interface RelaySelfDirection {
  lateness: LatenessSummary;
  socket_drops: number | null;
  send_errors: number;
}

export interface RunningRelay {
  port: number;
  address: string;
  report(): RelayReport;
  close(): Promise<void>;
}

interface Upstream {
  socket: Socket;
  port: number;
}

type Job = { bytes: Uint8Array; send: (b: Uint8Array) => void };

/** The link the relay emulates when no `mtu` is given: Ethernet's (docs/lab.md, "The emulated link's MTU"). */
export const DEFAULT_LINK_MTU = 1500;

/** IPv4 fragment sizes (20-byte IP header each, 8-byte UDP header in the first) of a UDP payload at an MTU. */
export function fragmentSizes(payloadBytes: number, mtu: number): number[] {
  const total = payloadBytes + 8;
  const per = Math.floor((mtu - 20) / 8) * 8;
  if (total + 20 <= mtu) return [total + 20];
  const out: number[] = [];
  for (let left = total; left > 0; left -= per) out.push(Math.min(per, left) + 20);
  return out;
}

class Direction {
  private readonly q = new EventQueue<Job>();
  private timer: NodeJS.Timeout | undefined;
  private armedAt = Number.POSITIVE_INFINITY;

  constructor(
    readonly imp: Impairment,
    private readonly clock: Clock,
    private readonly t0: number,
    readonly tamper?: Tamper,
    private readonly mtu?: number,
    /** The IP version on the wire: `rate` counts the frame kernel netem would (src/impair/wire.ts). */
    private readonly ip: 4 | 6 = 4,
    /** Without `mtu`: larger IP packets are dropped (0: no limit). */
    private readonly linkMtu = 0,
  ) {}

  /** Datagrams dropped for being larger than the link's MTU. */
  oversize = 0;

  /** Datagrams whose forwarding threw (dropped, counted). */
  errors = 0;
  /** What was handed to the socket after shaping: datagrams and their payload bytes. */
  readonly forwarded: RelayForwarded = { datagrams: 0, bytes: 0 };
  /** Sends the socket reported as failed (asynchronously, after the send was issued). */
  sendErrors = 0;
  /** How late each release was against the time the impairment model scheduled it. */
  readonly lateness = new LatenessHistogram();

  push(bytes: Uint8Array, send: (b: Uint8Array) => void): void {
    const now = this.clock() - this.t0;
    const guarded = (b: Uint8Array) => {
      try {
        send(b);
        this.forwarded.datagrams++;
        this.forwarded.bytes += b.length;
      } catch {
        this.errors++;
      }
    };
    const out = this.tamper ? (b: Uint8Array) => this.tamper!.apply(b).forEach(guarded) : guarded;
    if (this.mtu && bytes.length + 28 > this.mtu) {
      this.pushFragmented(bytes, fragmentSizes(bytes.length, this.mtu), now, out);
      return;
    }
    if (!this.mtu && this.linkMtu && bytes.length + (this.ip === 6 ? 48 : 28) > this.linkMtu) {
      this.oversize++;
      return;
    }
    for (const d of this.imp.decide(now, bytes.length, udpFrameBytes(bytes.length, this.ip))) {
      let b = bytes;
      if (d.corrupt) {
        b = copyBytes(bytes);
        b[d.corrupt.byteIndex] = b[d.corrupt.byteIndex]! ^ (1 << d.corrupt.bitIndex);
      }
      if (d.atMs <= now) {
        this.lateness.record(this.clock() - this.t0 - d.atMs);
        out(b);
      } else this.q.push(d.atMs, { bytes: b, send: out });
    }
    this.arm();
  }

  /**
   * A datagram larger than the MTU travels as IP fragments: each one meets the impairment on its own, and the
   * datagram arrives only if every fragment does (reassembly drops a duplicated fragment; a corrupted one
   * corrupts the datagram), when its last fragment does.
   */
  private pushFragmented(bytes: Uint8Array, sizes: number[], now: number, out: (b: Uint8Array) => void): void {
    this.fragmented++;
    let at = now;
    let b = bytes;
    let offset = 0;
    let lost = false;
    for (const size of sizes) {
      const d = this.imp.decide(now, size, size + ETHERNET_HEADER_BYTES)[0]; // size: the IP fragment
      if (!d) lost = true;
      else {
        at = Math.max(at, d.atMs);
        if (d.corrupt) {
          if (b === bytes) b = copyBytes(bytes);
          const i = Math.min(bytes.length - 1, offset + Math.max(0, d.corrupt.byteIndex - 28));
          b[i] = b[i]! ^ (1 << d.corrupt.bitIndex);
        }
      }
      offset += size - 28;
    }
    if (lost) {
      this.fragmentLost++;
      return;
    }
    if (at <= now) {
      this.lateness.record(this.clock() - this.t0 - at);
      out(b);
    } else this.q.push(at, { bytes: b, send: out });
    this.arm();
  }

  fragmented = 0;
  fragmentLost = 0;

  private arm(): void {
    const head = this.q.peekTime();
    if (head === undefined || head >= this.armedAt) return;
    if (this.timer) clearTimeout(this.timer);
    this.armedAt = head;
    this.timer = setTimeout(() => this.flush(), Math.max(0, head - (this.clock() - this.t0)));
  }

  private flush(): void {
    this.timer = undefined;
    this.armedAt = Number.POSITIVE_INFINITY;
    const now = this.clock() - this.t0;
    // deliver everything due, allowing 0.5 ms of timer slack
    while (this.q.peekTime() !== undefined && this.q.peekTime()! <= now + 0.5) {
      const e = this.q.pop()!;
      this.lateness.record(this.clock() - this.t0 - e.atMs);
      e.value.send(e.value.bytes);
    }
    this.arm();
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
  }
}

/** Client addresses the relay keeps an upstream socket for (each is a file descriptor). */
export const MAX_UPSTREAMS = 1024;

export async function startRelay(o: RelayOptions): Promise<RunningRelay> {
  const clock = o.clock ?? monotonicMs;
  const seed = o.seed ?? 1;
  const root = createRng(seed);
  const t0 = clock();
  // Both directions read this one array at every datagram; with `first-datagram` it stays empty until a client's
  // first datagram arrives and then receives the windows shifted to that moment.
  const blackouts: Blackout[] = [];
  const opts = { blackouts };
  let blackoutClock = o.blackoutsFrom === 'first-datagram' ? undefined : 0;
  if (blackoutClock === 0) blackouts.push(...(o.blackouts ?? []));
  const tamper = (label: string) => (o.tamper ? new Tamper(o.tamper, root.fork(`tamper-${label}`)) : undefined);
  // the target resolved once (IPv4 or IPv6, the OS's first), in the form the server's replies come from
  const target = await resolveHost(o.targetHost);
  const ip = target.includes(':') ? 6 : 4;
  const linkMtu = o.linkMtu ?? DEFAULT_LINK_MTU;
  const up = new Direction(new Impairment(o.up, root.fork('up'), opts), clock, t0, tamper('up'), o.mtu, ip, linkMtu);
  const down = new Direction(
    new Impairment(o.down, root.fork('down'), opts),
    clock,
    t0,
    tamper('down'),
    o.mtu,
    ip,
    linkMtu,
  );
  const front = await bindUdp(o.listenHost ?? '127.0.0.1', o.listenPort ?? 0);
  if (o.recvBufferBytes !== undefined) front.socket.setRecvBufferSize(o.recvBufferBytes);
  const upstreams = new Map<string, Promise<Upstream>>();
  /** Local ports of the upstream sockets (new sockets: their kernel drops start at 0). */
  const upstreamPorts: number[] = [];
  // the front socket's drops before any client traffic: the baseline its report subtracts
  const frontBase = readUdpDrops([front.port])?.get(front.port) ?? 0;
  // its samples are the time between 10 ms timer ticks: the delay is what exceeds the 10 ms
  const LOOP_TICK_MS = 10;
  const loop = monitorEventLoopDelay({ resolution: LOOP_TICK_MS });
  loop.enable();
  const loopMs = (ns: number) => Math.max(0, Math.round(ns / 1e3 - LOOP_TICK_MS * 1e3) / 1e3);
  const selfReport = (): RelayReport['self'] => {
    const drops = readUdpDrops([front.port, ...upstreamPorts]);
    const downDrops = drops && upstreamPorts.reduce((n, p) => n + (drops.get(p) ?? 0), 0);
    const dir = (d: Direction, socketDrops: number | null): RelaySelfDirection => ({
      lateness: d.lateness.summary(),
      socket_drops: socketDrops,
      send_errors: d.errors + d.sendErrors,
    });
    return {
      up: dir(up, drops && Math.max(0, (drops.get(front.port) ?? 0) - frontBase)),
      down: dir(down, downDrops),
      event_loop_delay: {
        p50_ms: loopMs(loop.percentile(50)),
        p99_ms: loopMs(loop.percentile(99)),
        max_ms: loopMs(loop.max),
      },
    };
  };

  // Per client: its upstream socket, and where the server answers from. A server that answers from another
  // port (a TFTP transfer ID) gets the client's next datagrams there, as the client itself would send them.
  const upstreamFor = (client: RemoteInfo): Promise<Upstream> => {
    const key = `${client.address}:${client.port}`;
    let s = upstreams.get(key);
    if (!s) {
      s = bindUdp(wildcardFor(target), 0).then((b) => {
        const u: Upstream = { socket: b.socket, port: o.targetPort };
        upstreamPorts.push(b.port);
        if (o.recvBufferBytes !== undefined) b.socket.setRecvBufferSize(o.recvBufferBytes);
        // each datagram is forwarded as node:dgram delivered it (its own memory, not copied); a corrupted copy is
        // copyBytes'd (src/impair/bytes.ts)
        b.socket.on('message', (msg, from) => {
          // only the server's host may move the client's traffic to another port (a TFTP transfer ID)
          if (from.address !== target || (o.pinServerPort && from.port !== o.targetPort)) return;
          u.port = from.port;
          down.push(msg, (bytes) =>
            front.socket.send(bytes, client.port, client.address, (e) => {
              if (e) down.sendErrors++;
            }),
          );
        });
        b.socket.on('error', () => {});
        return u;
      });
      upstreams.set(key, s);
    }
    return s;
  };

  let dropped = 0;
  front.socket.on('message', (msg, rinfo) => {
    if (rinfo.port === 0) return; // forged: nothing can be sent back to port 0
    if (blackoutClock === undefined) {
      blackoutClock = clock() - t0;
      for (const b of o.blackouts ?? [])
        blackouts.push({ startMs: blackoutClock + b.startMs, durationMs: b.durationMs });
    }
    if (upstreams.size >= MAX_UPSTREAMS && !upstreams.has(`${rinfo.address}:${rinfo.port}`)) {
      dropped++;
      return;
    }
    upstreamFor(rinfo).then(
      (u) =>
        up.push(msg, (bytes) =>
          u.socket.send(bytes, u.port, target, (e) => {
            if (e) up.sendErrors++;
          }),
        ),
      () => {
        dropped++;
      },
    );
  });
  front.socket.on('error', () => {});

  return {
    port: front.port,
    address: front.address,
    report: () => ({
      shaper: 'userspace',
      up: printNetem(o.up),
      down: printNetem(o.down),
      seed,
      ...((o.blackouts?.length ?? 0) > 0 && {
        blackouts: (o.blackouts ?? []).map(
          (b) =>
            `${b.startMs}ms+${b.durationMs}ms from ${o.blackoutsFrom === 'first-datagram' ? 'first datagram' : 'start'}`,
        ),
      }),
      upStats: { ...up.imp.stats },
      downStats: { ...down.imp.stats },
      ...(up.tamper && down.tamper && { tamper: { up: { ...up.tamper.stats }, down: { ...down.tamper.stats } } }),
      clients: upstreams.size,
      ...((dropped > 0 || up.errors + down.errors > 0) && { dropped: dropped + up.errors + down.errors }),
      self: selfReport(),
      forwarded: { up: { ...up.forwarded }, down: { ...down.forwarded } },
      ...(o.mtu && {
        fragments: {
          mtu: o.mtu,
          datagrams: up.fragmented + down.fragmented,
          lost: up.fragmentLost + down.fragmentLost,
        },
      }),
      ...(up.oversize + down.oversize > 0 && {
        oversize: { link_mtu: linkMtu, dropped: up.oversize + down.oversize },
      }),
    }),
    close: async () => {
      loop.disable();
      up.stop();
      down.stop();
      await Promise.all(
        [...upstreams.values()].map((p) => p.then((u) => new Promise<void>((ok) => u.socket.close(() => ok())))),
      );
      await new Promise<void>((ok) => front.socket.close(() => ok()));
    },
  };
}
