// `npm run bench [-- NAME…] [-- --json FILE] [-- --readme]`: benchmarks, never timed tests; ratios measured in one run on one
// machine (absolute figures drift, ratios hold). Suites:
//   sim      — simulated goodput ÷ (rate × (1 − p)) on a 100 Mbit/s, 40 ms RTT bottleneck with one BDP of queue
//   loopback — RUFT (encrypted, plaintext) ÷ a raw node:dgram blast, ÷ TCP, ÷ our TFTP (windowsize 16), ÷ tftp-hpa,
//              ÷ uftp (Debian's encrypted UDP file transfer in C, unicast); RUFT plaintext ÷ udx-native and
//              ÷ utp-native (reliable UDP streams from npm, in C, unencrypted: bench/stream-peer.ts)
//   shaped   — 100 Mbit/s at loss 0–20% and 1 Gbit/s at 1%, 20 ms RTT: goodput ÷ (rate × (1 − p)) through the
//              userspace relay for RUFT encrypted and plaintext and udx-native (each the median of three downloads),
//              utp-native and uftp (TFMCC; one smaller file, bounded wait), our TFTP and tftp-hpa (100 Mbit/s), and
//              TCP on kernel netem (here: the VM lane; BENCH_KERNEL_LANE=0 skips). UDPLAB_REQUIRE_PEERS=1 makes a
//              missing peer (uftp, udx-native, utp-native) an error instead of a "not measured" row
//   cost     — CPU seconds per GiB on each side (path-MTU probing, and again pinned to 1472-byte datagrams); peak
//              RSS of each side while moving BENCH_RSS_GIB (default 4) GiB
//   clients  — one server (--workers 1 and 2), 1, 2 and 100 clients held by one load-generator process:
//              aggregate goodput ÷ one client's, median of 3 rounds (each round runs 1, 2 and 100 in turn); per
//              round the cores used, the host's UDP receive-buffer drops and the sessions' retransmissions
//   flood    — a client's transfer time during a handshake flood ÷ its time without one (target ≤ 2)
//   tcp50    — RUFT ÷ TCP at 5% loss on a 50 ms path (target ≥ 30); TCP on kernel netem (here: the VM lane)
//   fairness — the shared-bottleneck simulator (10 Mbit/s, 40 ms, drop-tail, 30 s, seed 1): Jain's index of
//              2/4/8 RUFT flows staggered by 2 s (target ≥ 0.95), convergence (≤ 5 s), RUFT ÷ the reference TCP
//              model at 1 BDP without random loss (≤ 2), p99 queueing delay ÷ base RTT (≤ 1); --background
//              (LEDBAT) against the TCP model: TCP's share (≥ 0.9), and background alone (≥ 0.8 of the link); issue 22
//   compress — a log text through a 10 Mbit/s relay, compressed and not: goodput ÷ (ratio × link), target ≥ 0.8;
//              the sender's CPU per GiB of random bytes with compression on and off (bench/compress.ts)
//   fidelity — the userspace relay against its netem on loopback (a probe stream, `udplab fidelity`): median delay
//              − configured per direction (target ±1 ms), loss − configured (±1 pp), the wire rate under `rate 1mbit`
//              ÷ 1 Mbit/s counting the frame (±3%); timed on this process's clock, so a loaded host misses them
//   crypto   — µs per seal and per open of one 1,160-byte packet (16-byte header as associated data), per AEAD
//              backend (libsodium through sodium-native, node:crypto) and cipher; X25519 and a whole NK handshake;
//              and the congestion controller's work per ACK (its 10-round window of rate samples full)
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import {
  type CipherName,
  ClientHandshake,
  type CryptoBackend,
  loadSodium,
  nodeBackend,
  serverRead,
  sodiumBackend,
  x25519,
  x25519KeyPair,
} from '../src/crypto/index.js';
import { ipUdpHeaderBytes, parseNetem, udpFrameBytes } from '../src/impair/index.js';
import { checkTargets, measureRelay } from '../src/lab/fidelity.js';
import { CongestionController, DATA_FRAME_OVERHEAD, PACKET_OVERHEAD } from '../src/protocol/index.js';
import { parseFlows, simulateBottleneck, simulateTransfer } from '../src/sim/index.js';
import { compressSuite } from './compress.js';
import { scenarioFolder } from './lab-results.js';
import {
  cpuSeconds,
  relayOnLoopback,
  runUdplabClient,
  serveOnLoopback,
  startStreamPeer,
  startTftpdHpa,
  stop,
  streamPeerGet,
  tftpHpaGet,
  uftpPush,
  watchUsage,
} from './procs.js';
import { machineLine, type Saved, watchLoad, writeReadme } from './readme.js';

interface Row {
  suite: string;
  case: string;
  value: number;
  unit: string;
  target?: number;
  met?: boolean;
}

function simSuite(): Row[] {
  const rows: Row[] = [];
  const targets: Record<number, number> = { 0: 0.93, 1: 0.93, 5: 0.9, 10: 0.88, 20: 0.8, 30: 0.7 };
  const sizeBytes = 64 << 20;
  for (const loss of [0, 1, 5, 10, 20, 30]) {
    const l = loss ? ` loss ${loss}%` : '';
    // 100 Mbit/s, 20 ms each way, a queue of one BDP (100 Mbit/s × 40 ms ≈ 417 packets of 1200 bytes)
    const down = parseNetem(`delay 20ms rate 100mbit limit 417${l}`);
    const up = parseNetem(`delay 20ms${l}`);
    const r = simulateTransfer({ seed: 1, up, down, sizeBytes });
    const ratio = r.outcome === 'completed' ? r.goodputBps / (100e6 * (1 - loss / 100)) : 0;
    const target = targets[loss]!;
    rows.push({
      suite: 'sim',
      case: `loss ${loss}%`,
      value: Number(ratio.toFixed(4)),
      unit: 'goodput ÷ rate·(1−p)',
      target,
      met: ratio >= target,
    });
  }
  return rows;
}

function fairnessSuite(): Row[] {
  const rows: Row[] = [];
  const run = (flows: string, queueBdp: number, lossPct = 0) =>
    simulateBottleneck({
      seed: 1,
      rateBit: 10e6,
      queueBdp,
      rttMs: 40,
      lossPct,
      durationMs: 30_000,
      flows: parseFlows(flows, flows.startsWith('ruft*') ? 2000 : 0)!,
    });
  for (const n of [2, 4, 8]) {
    const r = run(`ruft*${n}`, 1);
    rows.push({
      suite: 'fairness',
      case: `jain ruft*${n}`,
      value: r.jain,
      unit: 'Jain, 1 BDP',
      target: 0.95,
      met: r.jain >= 0.95,
    });
    const conv = r.convergenceMs === null ? -1 : Number((r.convergenceMs / 1000).toFixed(1));
    rows.push({
      suite: 'fairness',
      case: `converge ruft*${n}`,
      value: conv,
      unit: 's after the last start (-1: never)',
      target: 5,
      met: conv >= 0 && conv <= 5,
    });
    if (n === 2) {
      const d = Number((r.queueDelayMs.p99 / r.rttMs).toFixed(3));
      rows.push({
        suite: 'fairness',
        case: 'qdelay ruft*2',
        value: d,
        unit: 'p99 ÷ base RTT, 1 BDP',
        target: 1,
        met: d <= 1,
      });
    }
  }
  for (const [q, loss] of [
    [0.5, 0],
    [1, 0],
    [4, 0],
    [1, 1],
  ] as const) {
    const r = run('ruft,tcp', q, loss);
    const ratio = Number((r.flows[0]!.goodputBit / Math.max(r.flows[1]!.goodputBit, 1)).toFixed(2));
    const scored = q === 1 && loss === 0;
    rows.push({
      suite: 'fairness',
      case: `ruft÷tcp ${q} BDP${loss ? ` ${loss}%` : ''}`,
      value: ratio,
      unit: 'goodput ratio (TCP model)',
      ...(scored && { target: 2, met: ratio <= 2 }),
    });
  }
  const t = run('tcp*2', 1);
  rows.push({ suite: 'fairness', case: 'jain tcp*2', value: t.jain, unit: 'Jain, the TCP model with itself' });
  // --background (LEDBAT): TCP's share of the goodput when both run (≥ 0.9), the link it takes alone (≥ 0.8)
  const b = run('bg,tcp', 1);
  const tcpShare = Number(
    (b.flows[1]!.goodputBit / Math.max(b.flows[0]!.goodputBit + b.flows[1]!.goodputBit, 1)).toFixed(3),
  );
  rows.push({
    suite: 'fairness',
    case: 'bg,tcp tcp share',
    value: tcpShare,
    unit: "TCP model's share with background RUFT, 1 BDP",
    target: 0.9,
    met: tcpShare >= 0.9,
  });
  const alone = run('bg', 1);
  rows.push({
    suite: 'fairness',
    case: 'bg alone',
    value: alone.utilization,
    unit: 'background RUFT alone: goodput ÷ line rate, 1 BDP',
    target: 0.8,
    met: alone.utilization >= 0.8,
  });
  return rows;
}

const MiB = 1 << 20;
const mbit = (bps: number) => Number((bps / 1e6).toFixed(2));

/** `udplab get NAME` from TARGET into DEST, uncompressed, trusting a fresh server key (or `extra` instead). */
const getArgs = (target: string, name: string, dest: string, extra = ['--accept-new']) => [
  'get',
  target,
  name,
  dest,
  '--json',
  '--force',
  '--compress',
  'off',
  ...extra,
];

/** `udplab tftp-get` at its best: blksize 1428, windowsize 16. */
const tftpW16Args = (target: string, name: string, dest: string, extra: string[] = []) => [
  'tftp-get',
  target,
  name,
  dest,
  '--json',
  '--force',
  '--blksize',
  '1428',
  '--windowsize',
  '16',
  ...extra,
];

function scratch(): {
  dir: string;
  root: string;
  home: string;
  file(name: string, bytes: number): string;
  done(): void;
} {
  const dir = mkdtempSync(join(tmpdir(), 'udplab-bench-'));
  mkdirSync(join(dir, 'root'));
  mkdirSync(join(dir, 'out'));
  return {
    dir,
    root: join(dir, 'root'),
    home: join(dir, 'home'),
    file(name, bytes) {
      const p = join(dir, 'root', name);
      const fd = openSync(p, 'w');
      const chunk = randomBytes(4 * MiB);
      for (let done = 0; done < bytes; done += chunk.length)
        writeSync(fd, chunk, 0, Math.min(chunk.length, bytes - done));
      closeSync(fd);
      return name;
    },
    done: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** A raw node:dgram blast: a sender with 64 sends in flight to a receiver that counts, both processes of their own. */
async function rawBlast(sizeBytes: number, datagramBytes: number): Promise<number> {
  const recv = spawn(
    process.execPath,
    [
      '-e',
      `const s=require('dgram').createSocket('udp4');let b=0,t0=0,last=0;s.on('message',m=>{if(!t0)t0=performance.now();b+=m.length;last=performance.now()});
s.bind(0,'127.0.0.1',()=>{try{s.setRecvBufferSize(4<<20)}catch{}console.log(s.address().port)});
setInterval(()=>{if(t0&&performance.now()-last>500){console.log(JSON.stringify({b,ms:last-t0}));process.exit(0)}},100)`,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const lines = createInterface({ input: recv.stdout! });
  const it = lines[Symbol.asyncIterator]();
  const port = Number((await it.next()).value);
  const n = Math.ceil(sizeBytes / datagramBytes);
  const send = spawn(
    process.execPath,
    [
      '-e',
      `const s=require('dgram').createSocket('udp4');const b=Buffer.alloc(${datagramBytes},7);let sent=0,inflight=0;
s.bind(0,()=>{try{s.setSendBufferSize(4<<20)}catch{};const go=()=>{while(inflight<64&&sent<${n}){inflight++;sent++;s.send(b,${port},'127.0.0.1',()=>{inflight--;if(sent>=${n}&&inflight===0)process.exit(0);go()})}};go()})`,
    ],
    { stdio: 'inherit' },
  );
  await new Promise((ok) => send.once('exit', ok));
  const r = JSON.parse((await it.next()).value as string) as { b: number; ms: number };
  await new Promise((ok) => recv.once('exit', ok));
  return (r.b * 8 * 1000) / r.ms;
}

async function ruftGet(
  root: string,
  home: string,
  out: string,
  name: string,
  target: string | undefined,
  plaintext: boolean,
  serverExtra: string[] = [],
): Promise<{
  bps: number;
  serverCpuS: number;
  clientCpuS: number;
  serverRssMb: number;
  clientRssMb: number;
  /** The server's data packets, and the datagram size the data went in at the end (what the client saw). */
  packetsSent: number;
  datagramBytes: number;
}> {
  const srv = await serveOnLoopback('serve', root, join(home, 'server'), [
    ...(plaintext ? ['--insecure-plaintext'] : []),
    ...serverExtra,
  ]);
  try {
    const su = watchUsage(srv.child.pid!);
    const c = await runUdplabClient(
      getArgs(
        target ?? `127.0.0.1:${srv.port}`,
        name,
        join(out, `${name}.ruft`),
        plaintext ? ['--insecure-plaintext'] : undefined,
      ),
      join(home, 'client'),
    );
    const s = su.stop();
    return {
      bps: c.result.goodput_bps,
      serverCpuS: s.cpuS,
      clientCpuS: c.cpuS,
      serverRssMb: s.rssMb,
      clientRssMb: c.rssMb,
      packetsSent: c.result.packets_sent ?? 0,
      datagramBytes: c.result.datagram_bytes ?? 0,
    };
  } finally {
    await srv.stop();
  }
}

async function loopbackSuite(): Promise<Row[]> {
  const sc = scratch();
  const size = Number(process.env.BENCH_SIZE_MIB ?? 64) * MiB;
  const name = sc.file('f.bin', size);
  const out = join(sc.dir, 'out');
  try {
    const raw = await rawBlast(size, 1472);
    const enc = (await ruftGet(sc.root, sc.home, out, name, undefined, false)).bps;
    const plain = (await ruftGet(sc.root, sc.home, out, name, undefined, true)).bps;
    const tcp = await serveOnLoopback('tcp-serve', sc.root, sc.home);
    const tcpBps = (
      await runUdplabClient(['tcp-get', `127.0.0.1:${tcp.port}`, name, join(out, 't'), '--json', '--force'], sc.home)
    ).result.goodput_bps;
    await tcp.stop();
    const tftp = await serveOnLoopback('tftp-serve', sc.root, sc.home);
    const tftpBps = (await runUdplabClient(tftpW16Args(`127.0.0.1:${tftp.port}`, name, join(out, 'w')), sc.home)).result
      .goodput_bps;
    await tftp.stop();
    // Debian's tftp-hpa: tftpd-hpa serving, the tftp-hpa client fetching (RFC 1350 lockstep, 512-byte blocks)
    let hpaBps: number | undefined;
    const hpa = await startTftpdHpa(sc.root);
    if (hpa) {
      try {
        const ms = await tftpHpaGet(hpa.port, name, join(out, 'h'), 5, join(sc.root, name));
        hpaBps = ms ? (size * 8 * 1000) / ms : undefined;
      } finally {
        await hpa.stop();
      }
    }
    const uftp = await uftpPush(sc.root, name, join(out, 'u'));
    if (uftp.why !== undefined) requirePeer(uftp.why);
    // the peers a Node user would pick instead: udx-native and utp-native, both unencrypted (so: ÷ RUFT plaintext)
    const streams: Row[] = [];
    for (const kind of ['udx', 'utp'] as const) {
      const pkg = `${kind}-native`;
      const srv = await startStreamPeer(kind, join(sc.root, name));
      const r = srv.why === undefined ? await streamPeerGet(kind, srv.port, join(out, kind), join(sc.root, name)) : srv;
      if (srv.why === undefined) await srv.stop();
      else requirePeer(srv.why);
      if (r.why !== undefined) {
        streams.push({ suite: 'loopback', case: kind, value: 0, unit: `not measured: ${r.why}` });
        continue;
      }
      streams.push(
        { suite: 'loopback', case: kind, value: mbit(r.bps), unit: `Mbit/s (${pkg} from npm, C; unencrypted)` },
        {
          suite: 'loopback',
          case: `plain ÷ ${kind}`,
          value: Number((plain / r.bps).toFixed(3)),
          unit: `ratio: RUFT plaintext ÷ ${pkg}, both unencrypted`,
          ...(kind === 'udx' && { target: 0.5, met: plain / r.bps >= 0.5 }),
        },
      );
    }
    const rows: Row[] = [
      {
        suite: 'loopback',
        case: 'raw dgram blast',
        value: mbit(raw),
        unit: 'Mbit/s (1472-byte datagrams, the size RUFT probes up to; no reliability)',
      },
      { suite: 'loopback', case: 'ruft encrypted', value: mbit(enc), unit: 'Mbit/s' },
      { suite: 'loopback', case: 'ruft plaintext', value: mbit(plain), unit: 'Mbit/s (teaching mode)' },
      { suite: 'loopback', case: 'tcp', value: mbit(tcpBps), unit: 'Mbit/s' },
      { suite: 'loopback', case: 'tftp w16', value: mbit(tftpBps), unit: 'Mbit/s (ours, blksize 1428)' },
      ...(hpaBps
        ? [{ suite: 'loopback', case: 'tftp-hpa', value: mbit(hpaBps), unit: 'Mbit/s (Debian tftpd-hpa + tftp)' }]
        : []),
      { suite: 'loopback', case: 'enc ÷ raw', value: Number((enc / raw).toFixed(3)), unit: 'ratio' },
      { suite: 'loopback', case: 'enc ÷ tcp', value: Number((enc / tcpBps).toFixed(3)), unit: 'ratio' },
      { suite: 'loopback', case: 'enc ÷ tftp w16', value: Number((enc / tftpBps).toFixed(3)), unit: 'ratio' },
      ...(hpaBps
        ? [{ suite: 'loopback', case: 'enc ÷ tftp-hpa', value: Number((enc / hpaBps).toFixed(3)), unit: 'ratio' }]
        : []),
      ...(uftp.bps
        ? [
            {
              suite: 'loopback',
              case: 'uftp',
              value: mbit(uftp.bps),
              unit: 'Mbit/s (Debian uftp 4.10 unicast, aes256-gcm + ecdh_ecdsa, full speed)',
            },
            {
              suite: 'loopback',
              case: 'enc ÷ uftp',
              value: Number((enc / uftp.bps).toFixed(3)),
              unit: 'ratio: RUFT encrypted ÷ uftp, both encrypted',
              target: 0.5,
              met: enc / uftp.bps >= 0.5,
            },
          ]
        : [{ suite: 'loopback', case: 'uftp', value: 0, unit: `not measured: ${uftp.why}` }]),
      ...streams,
    ];
    return rows;
  } finally {
    sc.done();
  }
}

const SHAPED_RUNS = 3;
const FLOOD_RUNS = 3;
const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]!;

/** A shaped link of the `shaped` suite: its rate, 20 ms RTT, one BDP of 1200-byte packets of queue, its losses. */
interface Link {
  label: string;
  rateBit: number;
  losses: number[];
  /** the issue's targets for RUFT (encrypted) by loss %: goodput ÷ rate·(1−p) */
  targets: Record<number, number>;
  /** the kernel-lane scenario with TCP on the same link */
  tcpScenario: string;
}

const LINKS: Link[] = [
  {
    label: '100M',
    rateBit: 100e6,
    losses: [0, 1, 5, 10, 20],
    targets: { 0: 0.93, 1: 0.93, 5: 0.93, 10: 0.9, 20: 0.75 },
    tcpScenario: 'vm-tcp-shaped',
  },
  { label: '1G', rateBit: 1e9, losses: [1], targets: { 1: 0.8 }, tcpScenario: 'vm-tcp-shaped-1g' },
];

/** Exits the bench when a peer is missing and UDPLAB_REQUIRE_PEERS=1 (CI), as the peer tests do. */
function requirePeer(why: string): void {
  if (process.env.UDPLAB_REQUIRE_PEERS === '1' && /not installed|did not load/.test(why))
    throw new Error(`bench: a peer is missing (UDPLAB_REQUIRE_PEERS=1): ${why}`);
}

/** One RUFT download through a shaped relay: its goodput and the CPU each process spent while it ran. */
interface ShapedRun {
  goodputBps: number;
  durationS: number;
  datagramBytes: number;
  /** CPU seconds over the run: the relay's and server's counted from just before the client started to its exit */
  cpuS: { relay: number; server: number; client: number };
}

async function shapedRun(args: string[], home: string, pids: { relay: number; server: number }): Promise<ShapedRun> {
  const before = { relay: cpuSeconds(pids.relay), server: cpuSeconds(pids.server) };
  const r = await runUdplabClient(args, home);
  const res = r.result;
  return {
    goodputBps: res.goodput_bps,
    durationS: res.duration_ms / 1000,
    datagramBytes: res.datagram_bytes ?? 1472,
    cpuS: {
      relay: cpuSeconds(pids.relay) - before.relay,
      server: cpuSeconds(pids.server) - before.server,
      client: r.cpuS,
    },
  };
}

/**
 * How busy each process was in a shaped run, in cores (CPU seconds ÷ the transfer's duration; the client's count
 * includes its own start-up), against this machine's cores; and the goodput this host's CPU could carry at that cost
 * (its cores ÷ the three processes' CPU seconds per byte), as a fraction of rate·(1−p): a row at its CPU bound
 * cannot be raised by the protocol on this host.
 */
function busyText(r: ShapedRun, bytes: number, goalBps: number): string {
  const c = (s: number) => (r.durationS > 0 ? s / r.durationS : 0).toFixed(2);
  const cpu = r.cpuS.relay + r.cpuS.server + r.cpuS.client;
  const bound = cpu > 0 ? (cpus().length * bytes * 8) / cpu / goalBps : 0;
  return `CPU in cores (median run): relay ${c(r.cpuS.relay)}, server ${c(r.cpuS.server)}, client ${c(r.cpuS.client)} of ${cpus().length}; this host's CPU bound at that cost ${bound.toFixed(2)}`;
}

/**
 * The most file bytes a link can carry when its rate counts Ethernet frames (as kernel netem and the relay do):
 * RUFT's file bytes per datagram ÷ the frame that datagram makes, IPv4 — no protocol reaches it (the handshake,
 * the end of the transfer and any retransmission are left out), and a target above it cannot be met at that size.
 */
function ceilingRow(link: Link, datagramBytes: number): Row {
  const file = datagramBytes - PACKET_OVERHEAD - DATA_FRAME_OVERHEAD;
  return {
    suite: 'shaped',
    case: `ceiling ${link.label}`,
    value: Number((file / udpFrameBytes(datagramBytes, 4)).toFixed(3)),
    unit: `file bytes ÷ frame bytes at ${datagramBytes}-byte datagrams (${file} of ${udpFrameBytes(datagramBytes, 4)}): the most any RUFT row can reach`,
  };
}

async function shapedSuite(): Promise<Row[]> {
  const sc = scratch();
  const size = Number(process.env.BENCH_SHAPED_MIB ?? 64) * MiB;
  // uftp (TFMCC) and utp-native move a few Mbit/s on a lossy link: smaller files, a bounded wait
  const peerSize = Number(process.env.BENCH_SHAPED_PEER_MIB ?? 8) * MiB;
  const peerTimeoutS = Number(process.env.BENCH_SHAPED_PEER_TIMEOUT_S ?? 120);
  const name = sc.file('f.bin', size);
  const peerFile = sc.file('p.bin', peerSize);
  const small = sc.file('s.bin', 2 * MiB);
  const tiny = sc.file('t.bin', 64 * 1024);
  const out = join(sc.dir, 'out');
  const rows: Row[] = [];
  const ratioRow = (c: string, v: number, unit: string, target?: number): Row => ({
    suite: 'shaped',
    case: c,
    value: Number(v.toFixed(3)),
    unit,
    ...(target !== undefined && { target, met: v >= target }),
  });
  try {
    for (const link of LINKS) {
      for (const loss of link.losses) {
        const at = `${link.label} ${loss}%`;
        const goal = link.rateBit * (1 - loss / 100);
        const l = loss ? ` loss ${loss}%` : '';
        // one BDP of 1200-byte packets (at 100 Mbit/s 209: 1.2 BDPs of 1472-byte ones); the link as defined before
        // RUFT probed its datagram size, so that figures compare across versions
        const limit = Math.ceil(((link.rateBit / 8) * 0.02) / 1200);
        const down = `delay 10ms rate ${link.rateBit / 1e6}mbit limit ${limit}${l}`;
        const up = `delay 10ms${l}`;
        const linkUnit = `${link.rateBit / 1e6} Mbit/s, 20 ms RTT, ${loss}% loss each way, userspace relay`;
        // each peer through its own relay with the same seed: the same loss pattern
        const relayTo = (port: number) => relayOnLoopback(port, up, down, loss + 1, sc.home);
        // RUFT encrypted, RUFT plaintext, udx-native: three downloads each through the same link (the relay's loss
        // pattern goes on), each by a fresh client process; the median is the figure — one transfer's ratio moves
        // with this 2-core host's load and, at 20% loss, with how many tries the handshake needed
        const medianOf = async (get: () => Promise<number>) => {
          const r: number[] = [];
          for (let i = 0; i < SHAPED_RUNS; i++) r.push((await get()) / goal);
          return { v: median(r), of: r.map((v) => v.toFixed(3)).join(', ') };
        };
        // RUFT: each run's CPU per process while it moved the file (relay, server, client; cores, of this machine's
        // own), so a row below its target says whether a process was saturated (a 2-core host cannot carry 1 Gbit/s
        // through a userspace relay: docs/performance.md "The shaped rows") or the protocol left the link idle
        const ruft = async (plaintext: boolean) => {
          const flag = plaintext ? ['--insecure-plaintext'] : [];
          const srv = await serveOnLoopback('serve', sc.root, join(sc.home, 'server'), flag);
          const relay = await relayTo(srv.port);
          try {
            const runs: ShapedRun[] = [];
            for (let i = 0; i < SHAPED_RUNS; i++)
              runs.push(
                await shapedRun(
                  getArgs(`127.0.0.1:${relay.port}`, name, join(out, 'r'), plaintext ? flag : undefined),
                  join(sc.home, 'client'),
                  { relay: relay.child.pid!, server: srv.child.pid! },
                ),
              );
            const byRatio = [...runs].sort((a, b) => a.goodputBps - b.goodputBps);
            const mid = byRatio[Math.floor(byRatio.length / 2)]!;
            return {
              v: mid.goodputBps / goal,
              of: runs.map((r) => (r.goodputBps / goal).toFixed(3)).join(', '),
              mid,
            };
          } finally {
            await Promise.all([relay.stop(), srv.stop()]);
          }
        };
        const enc = await ruft(false);
        rows.push(
          ratioRow(
            `ruft ${at}`,
            enc.v,
            `goodput ÷ rate·(1−p), encrypted, median of ${enc.of}; ${busyText(enc.mid, size, goal)}`,
            link.targets[loss],
          ),
        );
        const plain = await ruft(true);
        rows.push(
          ratioRow(
            `ruft plain ${at}`,
            plain.v,
            `goodput ÷ rate·(1−p), plaintext, median of ${plain.of}; ${busyText(plain.mid, size, goal)}`,
          ),
        );
        if (loss === 0) rows.push(ceilingRow(link, enc.mid.datagramBytes));
        // udx-native: unencrypted, as RUFT's plaintext mode
        const udxSrv = await startStreamPeer('udx', join(sc.root, name));
        if (udxSrv.why === undefined) {
          const relay = await relayTo(udxSrv.port);
          let why: string | undefined;
          try {
            const udx = await medianOf(async () => {
              const r = await streamPeerGet('udx', relay.port, join(out, 'x'), join(sc.root, name));
              if (r.why !== undefined) throw new Error(r.why);
              return r.bps;
            }).catch((e: Error) => {
              why = e.message;
              return undefined;
            });
            if (udx) {
              rows.push(
                ratioRow(`udx ${at}`, udx.v, `goodput ÷ rate·(1−p), udx-native (unencrypted), median of ${udx.of}`),
              );
              rows.push(
                ratioRow(
                  `plain ÷ udx ${at}`,
                  plain.v / udx.v,
                  'ratio: RUFT plaintext ÷ udx-native, both unencrypted',
                  loss > 0 ? 1 : undefined,
                ),
              );
            } else rows.push({ suite: 'shaped', case: `udx ${at}`, value: 0, unit: `not measured: ${why}` });
          } finally {
            await Promise.all([relay.stop(), udxSrv.stop()]);
          }
        } else {
          requirePeer(udxSrv.why);
          rows.push({ suite: 'shaped', case: `udx ${at}`, value: 0, unit: `not measured: ${udxSrv.why}` });
        }
        // utp-native (libutp, unencrypted) and Debian's uftp (encrypted, TFMCC): one smaller transfer each
        const utpSrv = await startStreamPeer('utp', join(sc.root, peerFile));
        if (utpSrv.why === undefined) {
          const relay = await relayTo(utpSrv.port);
          try {
            const r = await streamPeerGet('utp', relay.port, join(out, 'p'), join(sc.root, peerFile), peerTimeoutS);
            rows.push(
              r.why === undefined
                ? ratioRow(
                    `utp ${at}`,
                    r.bps / goal,
                    `goodput ÷ rate·(1−p), utp-native (unencrypted), ${peerSize / MiB} MiB`,
                  )
                : { suite: 'shaped', case: `utp ${at}`, value: 0, unit: `not measured: ${r.why}` },
            );
          } finally {
            await Promise.all([relay.stop(), utpSrv.stop()]);
          }
        } else {
          requirePeer(utpSrv.why);
          rows.push({ suite: 'shaped', case: `utp ${at}`, value: 0, unit: `not measured: ${utpSrv.why}` });
        }
        const uftp = await uftpPush(sc.root, peerFile, join(out, `u${link.label}${loss}`), {
          relay: relayTo,
          timeoutMs: peerTimeoutS * 1000,
        });
        if (uftp.why !== undefined) requirePeer(uftp.why);
        rows.push(
          uftp.why === undefined
            ? ratioRow(
                `uftp ${at}`,
                uftp.bps / goal,
                `goodput ÷ rate·(1−p), Debian uftp (aes256-gcm, TFMCC congestion control), ${peerSize / MiB} MiB`,
              )
            : { suite: 'shaped', case: `uftp ${at}`, value: 0, unit: `not measured: ${uftp.why}` },
        );
        console.error(`bench: shaped ${at} (${linkUnit}) done`);
        if (link.label !== '100M') continue;
        // our TFTP (windowsize 16) and Debian's tftp-hpa: the 100 Mbit/s link only
        const tftp = await serveOnLoopback('tftp-serve', sc.root, sc.home);
        const relay2 = await relayTo(tftp.port);
        try {
          const t = await runUdplabClient(
            tftpW16Args(`127.0.0.1:${relay2.port}`, small, join(out, 't'), ['--timeout', '100', '--retries', '50']),
            sc.home,
          );
          rows.push({
            suite: 'shaped',
            case: `tftp w16 ${at}`,
            value: Number((t.result.goodput_bps / goal).toFixed(4)),
            unit: 'goodput ÷ rate·(1−p) (2 MiB)',
          });
        } finally {
          await Promise.all([relay2.stop(), tftp.stop()]);
        }
        // Debian's tftp-hpa through the same link: lockstep 512-byte blocks, 1 s retransmission (64 KiB: at 20% loss
        // each way a third of the blocks wait for a timeout)
        const hpa = await startTftpdHpa(sc.root);
        if (hpa) {
          const relay3 = await relayTo(hpa.port);
          try {
            const ms = await tftpHpaGet(relay3.port, tiny, join(out, 'h'), 1, join(sc.root, tiny));
            rows.push({
              suite: 'shaped',
              case: `tftp-hpa ${at}`,
              value: ms ? Number(((64 * 1024 * 8 * 1000) / ms / goal).toFixed(4)) : 0,
              unit: ms ? 'goodput ÷ rate·(1−p) (64 KiB, Debian tftpd-hpa + tftp)' : 'not measured: the transfer failed',
            });
          } finally {
            await Promise.all([relay3.stop(), hpa.stop()]);
          }
        }
      }
    }
    // TCP: the relay carries UDP only, so TCP's rows come from kernel netem (the same links, a small file)
    const k = await kernelLane();
    for (const link of LINKS)
      for (const loss of link.losses) {
        const at = `${link.label} ${loss}%`;
        const bps = 'why' in k ? undefined : kernelGoodput(k.runs, link.tcpScenario, loss);
        rows.push(
          bps === undefined
            ? {
                suite: 'shaped',
                case: `tcp ${at}`,
                value: 0,
                unit: `not measured: ${'why' in k ? k.why : kernelFailure(k.runs, link.tcpScenario, loss)}`,
              }
            : ratioRow(
                `tcp ${at}`,
                bps / (link.rateBit * (1 - loss / 100)),
                `goodput ÷ rate·(1−p) (kernel netem in ${'why' in k ? '' : k.where}${'why' in k || k.where === 'this kernel' ? '' : '; the emulated CPU caps clean runs'})`,
              ),
        );
      }
    return rows;
  } finally {
    sc.done();
  }
}

/**
 * RUFT ÷ TCP on a 50 ms path at 5% loss (issue 10: ≥ 30×). TCP needs a kernel shaper: it runs the lab scenario
 * scenarios/vm/tcp-50ms.yaml on the netns runtime with kernel netem — here when this kernel has netem, otherwise
 * in the real-kernel VM lane (lab/vm/run.mjs, minutes under TCG; TCP at these rates is path-bound, not CPU-bound,
 * which the clean run shows). RUFT is measured on the host through the relay with the same netem parameters both
 * ways (under TCG emulation RUFT would measure the emulated CPU, not the path).
 */
async function tcp50Suite(): Promise<Row[]> {
  const sc = scratch();
  const netem = 'delay 25ms rate 100mbit loss 5%';
  const name = sc.file('f.bin', Number(process.env.BENCH_SHAPED_MIB ?? 64) * MiB);
  try {
    const srv = await serveOnLoopback('serve', sc.root, join(sc.home, 'server'));
    const relay = await relayOnLoopback(srv.port, netem, netem, 5, sc.home);
    let ruft: number;
    try {
      ruft = (
        await runUdplabClient(getArgs(`127.0.0.1:${relay.port}`, name, join(sc.dir, 'r')), join(sc.home, 'client'))
      ).result.goodput_bps;
    } finally {
      await Promise.all([relay.stop(), srv.stop()]);
    }
    const tcp = await kernelTcp();
    const rows: Row[] = [
      { suite: 'tcp50', case: 'ruft 5% (relay)', value: mbit(ruft), unit: `Mbit/s, ${netem} both ways` },
    ];
    if ('why' in tcp) {
      rows.push({ suite: 'tcp50', case: 'tcp', value: 0, unit: `not measured: ${tcp.why}` });
      return rows;
    }
    rows.push(
      { suite: 'tcp50', case: 'tcp clean (kernel)', value: mbit(tcp.clean), unit: `Mbit/s, netem in ${tcp.where}` },
      { suite: 'tcp50', case: 'tcp 5% (kernel)', value: mbit(tcp.lossy), unit: `Mbit/s, netem in ${tcp.where}` },
      {
        suite: 'tcp50',
        case: 'ruft ÷ tcp at 5%',
        value: Number((ruft / tcp.lossy).toFixed(1)),
        unit: 'ratio',
        target: 30,
        met: ruft / tcp.lossy >= 30,
      },
    );
    return rows;
  } finally {
    sc.done();
  }
}

type LabRun = { loss_pct: number | null; goodput_bps: number; verdict: string; failures?: string[] };
let kernelRuns: Promise<{ runs: Map<string, LabRun[]>; where: string } | { why: string }> | undefined;

/**
 * TCP's figures need a kernel shaper: the lab runs scenarios/vm/tcp-50ms.yaml and tcp-shaped.yaml on the netns
 * runtime with kernel netem — here when this kernel has netem, otherwise once per bench run in the real-kernel VM
 * lane (lab/vm/run.mjs: minutes under TCG). BENCH_KERNEL_LANE=0 skips it.
 */
function kernelLane(): Promise<{ runs: Map<string, LabRun[]>; where: string } | { why: string }> {
  kernelRuns ??= (async () => {
    if (process.env.BENCH_KERNEL_LANE === '0') return { why: 'BENCH_KERNEL_LANE=0' };
    const root = join(import.meta.dirname, '..', '..');
    const names = ['vm-tcp-50ms', 'vm-tcp-shaped', 'vm-tcp-shaped-1g'];
    const lab = ['bin/udplab.js', 'lab', '--runtime', 'netns', '--shaper', 'netem'];
    const files = names.map((n) => `scenarios/vm/${n.slice(3)}.yaml`);
    let resultsDir = mkdtempSync(join(tmpdir(), 'udplab-bench-kernel-'));
    let where = 'this kernel';
    const here = spawnSync(process.execPath, [...lab, ...files, '--out', resultsDir], { cwd: root, encoding: 'utf8' });
    if (here.status !== 0 && /cannot run netem/.test(here.stderr)) {
      where = 'the real-kernel VM lane';
      console.error('bench: this kernel has no netem; running the TCP scenarios in the VM lane (several minutes)…');
      const vm = spawnSync(
        process.execPath,
        ['lab/vm/run.mjs', '--timeout', '2400', '--', 'node', ...lab, ...files, '--out', '/udplab-out/reports'],
        { cwd: root, encoding: 'utf8' },
      );
      resultsDir = join(root, '.cache', 'vm', 'out', 'reports');
      // the lab exits non-zero when a run fails (a TCP transfer that gave up); its results still count. A lane that
      // exits 0 without results (seen: a .cache/vm copied from another checkout, whose cached initrd runs that
      // checkout's stage2.sh) is a failure too, said in the TCP rows instead of a crash that loses the bench run
      if (!hasResults(resultsDir, names))
        return {
          why: `the VM lane left no results in ${resultsDir} (exit ${vm.status}): ${vm.stdout.trim().split('\n').slice(-3).join(' | ')}`,
        };
    } else if (!hasResults(resultsDir, names))
      return { why: `the lab left no results (exit ${here.status}): ${here.stderr.trim().split('\n').pop()}` };
    const runs = new Map<string, LabRun[]>();
    for (const n of names) {
      const sub = scenarioFolder(readdirSync(resultsDir), n)!;
      runs.set(n, (JSON.parse(readFileSync(join(resultsDir, sub, 'results.json'), 'utf8')) as { runs: LabRun[] }).runs);
    }
    return { runs, where };
  })();
  return kernelRuns;
}

function hasResults(dir: string, names: string[]): boolean {
  const subs = existsSync(dir) ? readdirSync(dir) : [];
  return names.every((n) => {
    const d = scenarioFolder(subs, n);
    return d !== undefined && existsSync(join(dir, d, 'results.json'));
  });
}

/** Goodput of the passing run at `lossPct` of one kernel-lane scenario. */
function kernelGoodput(runs: Map<string, LabRun[]>, scenario: string, lossPct: number): number | undefined {
  return runs.get(scenario)?.find((r) => (r.loss_pct ?? 0) === lossPct && r.verdict === 'pass')?.goodput_bps;
}

/** Why the run at `lossPct` of one kernel-lane scenario did not pass ("no run" when there is none). */
function kernelFailure(runs: Map<string, LabRun[]>, scenario: string, lossPct: number): string {
  const r = runs.get(scenario)?.find((x) => (x.loss_pct ?? 0) === lossPct);
  return r ? `the run failed: ${r.failures?.join('; ') ?? r.verdict}` : 'no run';
}

async function kernelTcp(): Promise<{ clean: number; lossy: number; where: string } | { why: string }> {
  const k = await kernelLane();
  if ('why' in k) return k;
  const clean = kernelGoodput(k.runs, 'vm-tcp-50ms', 0);
  const lossy = kernelGoodput(k.runs, 'vm-tcp-50ms', 5);
  if (!clean || !lossy) return { why: 'a TCP run in the kernel lane did not pass' };
  return { clean, lossy, where: k.where };
}

async function costSuite(): Promise<Row[]> {
  const sc = scratch();
  const gib = Number(process.env.BENCH_RSS_GIB ?? 4);
  const name = sc.file('big.bin', gib * 1024 * MiB);
  const out = join(sc.dir, 'out');
  try {
    const r = await ruftGet(sc.root, sc.home, out, name, undefined, false);
    // The same transfer pinned to 1472-byte datagrams, what a 1,500-byte Ethernet path carries: the cost a user pays
    // off loopback, where path-MTU probing cannot go above it.
    const e = await ruftGet(sc.root, sc.home, out, name, undefined, false, ['--datagram-size', '1472']);
    const cpuRow = (c: string, cpuS: number, unit: string): Row => {
      const v = Number((cpuS / gib).toFixed(2));
      return { suite: 'cost', case: c, value: v, unit, target: 10, met: v <= 10 };
    };
    return [
      cpuRow(
        'server CPU/GiB',
        r.serverCpuS,
        `CPU s per GiB sent (${gib} GiB, encrypted, ${r.datagramBytes}-byte datagrams)`,
      ),
      cpuRow('client CPU/GiB', r.clientCpuS, `CPU s per GiB received`),
      cpuRow(
        'server CPU/GiB 1472',
        e.serverCpuS,
        `CPU s per GiB sent at 1472-byte datagrams (${e.packetsSent} packets)`,
      ),
      cpuRow('client CPU/GiB 1472', e.clientCpuS, `CPU s per GiB received at 1472-byte datagrams`),
      {
        suite: 'cost',
        case: 'server RSS',
        value: Math.round(r.serverRssMb),
        // the packets tell a run at large datagrams from one that fell back to small ones (the RSS differs)
        unit: `MB peak while sending ${gib} GiB in ${r.packetsSent} packets (${Math.round((gib * 1024 * MiB) / Math.max(1, r.packetsSent))} file bytes each on average; ${r.datagramBytes}-byte datagrams at the end)`,
        target: 150,
        met: r.serverRssMb <= 150,
      },
      {
        suite: 'cost',
        case: 'client RSS',
        value: Math.round(r.clientRssMb),
        unit: `MB peak while receiving ${gib} GiB`,
        target: 150,
        met: r.clientRssMb <= 150,
      },
      { suite: 'cost', case: 'goodput', value: mbit(r.bps), unit: 'Mbit/s on loopback' },
      { suite: 'cost', case: 'goodput 1472', value: mbit(e.bps), unit: 'Mbit/s on loopback at 1472-byte datagrams' },
    ];
  } finally {
    sc.done();
  }
}

/** The host's UDP counters (/proc/net/snmp): on loopback both sides' sockets count here. */
function udpCounters(): { inErrors: number; rcvbufErrors: number } {
  try {
    const lines = readFileSync('/proc/net/snmp', 'utf8').split('\n');
    const i = lines.findIndex((l) => l.startsWith('Udp: InDatagrams'));
    const names = lines[i]!.split(/\s+/);
    const values = lines[i + 1]!.split(/\s+/).map(Number);
    const at = (name: string) => values[names.indexOf(name)] ?? 0;
    return { inErrors: at('InErrors'), rcvbufErrors: at('RcvbufErrors') };
  } catch {
    return { inErrors: 0, rcvbufErrors: 0 };
  }
}

interface LoadRound {
  bps: number;
  ms: number;
  serverCpuS: number;
  /** The generator's CPU over the clocked interval (its start-up excluded). */
  loadCpuS: number;
  /** Datagrams the host's UDP sockets dropped for a full receive buffer during the round (both sides). */
  rcvbufDrops: number;
  sent: number;
  retransmitted: number;
}

/** Runs the one-process load generator (bench/load.ts): N concurrent sessions, the clock around them only. */
async function loadRound(
  port: number,
  name: string,
  n: number,
  outDir: string,
  keyFile: string,
  serverPid: number,
): Promise<LoadRound> {
  mkdirSync(outDir, { recursive: true });
  const udp0 = udpCounters();
  const child = spawn(
    process.execPath,
    [join(import.meta.dirname, 'load.js'), '127.0.0.1', String(port), name, String(n), outDir, keyFile, '600'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  // CPU seconds of the server (all its threads) over the round, the generator's from its own line: which side is
  // the limit
  const server0 = cpuSeconds(serverPid);
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => {
    out += d;
  });
  child.stderr!.on('data', (d) => {
    err += d;
  });
  const code = await new Promise<number | null>((ok) => child.once('exit', ok));
  const serverCpuS = cpuSeconds(serverPid) - server0;
  const udp1 = udpCounters();
  if (code !== 0) throw new Error(`bench: the load generator (${n} clients) failed: ${err.trim()}`);
  const r = JSON.parse(out.trim().split('\n').pop()!) as {
    bytes: number;
    ms: number;
    cpuS: number;
    sent: number;
    retransmitted: number;
  };
  return {
    bps: (r.bytes * 8 * 1000) / r.ms,
    ms: r.ms,
    serverCpuS,
    loadCpuS: r.cpuS,
    rcvbufDrops: udp1.rcvbufErrors - udp0.rcvbufErrors,
    sent: r.sent,
    retransmitted: r.retransmitted,
  };
}

// One server (`serve --workers W`, W = 1 and 2 by default), then 1, 2 and N clients held by ONE load-generator
// process (its start-up outside the clock). BENCH_REPEAT rounds (default 3), each running 1, 2 and N clients in
// turn, so that every count is measured at about the same moments of a shared machine's load (before, all rounds
// of 1 client ran, then all of N: a ratio could compare a quiet minute with a busy one). The median aggregate
// goodput, its spread (min–max), and aggregate ÷ one client's on the same server. Per round: the cores used by the
// server / the generator (CPU seconds ÷ the round's wall time), the host's UDP receive-buffer drops, and the
// sessions' retransmitted ÷ sent data packets.
async function clientsSuite(): Promise<Row[]> {
  const sc = scratch();
  const n = Number(process.env.BENCH_CLIENTS ?? 100);
  const repeat = Number(process.env.BENCH_REPEAT ?? 3);
  const workerCounts = (process.env.BENCH_WORKERS ?? '1,2').split(',').map(Number);
  const mib = Number(process.env.BENCH_CLIENT_MIB ?? 2);
  const name = sc.file('f.bin', mib * MiB);
  const counts = [...new Set([1, 2, n])];
  const rows: Row[] = [];
  try {
    for (const w of workerCounts) {
      const home = join(sc.home, `server-w${w}`);
      const srv = await serveOnLoopback('serve', sc.root, home, [
        '--workers',
        String(w),
        // the rounds' finished sessions linger a while in the table: room for all of them
        '--max-sessions',
        String(2 * repeat * (n + 3) + 10),
        '--max-sessions-per-source',
        String(2 * repeat * (n + 3) + 10),
        '--handshake-rate',
        `${4 * n}/${2 * n}`,
      ]);
      try {
        const rounds = new Map<number, LoadRound[]>(counts.map((k) => [k, []]));
        for (let r = 0; r < repeat; r++) {
          for (const k of counts) {
            const round = await loadRound(
              srv.port,
              name,
              k,
              join(sc.dir, 'out', `w${w}-${k}`),
              join(home, 'server.key'),
              srv.child.pid!,
            ).catch((e: Error) => {
              throw new Error(`--workers ${w}, round ${r + 1}: ${e.message}`);
            });
            rounds.get(k)!.push(round);
          }
        }
        const medians = new Map<number, number>();
        for (const k of counts) {
          const rs = rounds.get(k)!;
          const bps = rs.map((x) => x.bps);
          medians.set(k, median(bps));
          const cores = rs.map(
            (x) => `${(x.serverCpuS / (x.ms / 1000)).toFixed(2)}/${(x.loadCpuS / (x.ms / 1000)).toFixed(2)}`,
          );
          const sent = rs.reduce((a, x) => a + x.sent, 0);
          const retx = rs.reduce((a, x) => a + x.retransmitted, 0);
          const drops = rs.reduce((a, x) => a + x.rcvbufDrops, 0);
          rows.push({
            suite: 'clients',
            case: `w${w} ${k} client${k > 1 ? 's' : ''}`,
            value: mbit(median(bps)),
            unit:
              `Mbit/s aggregate (${mib} MiB each), median of ${repeat} (${bps.map((b) => mbit(b)).join(', ')}); ` +
              `cores used server/generator ${cores.join(', ')}; UDP receive-buffer drops ${drops}; ` +
              `retransmitted ${sent ? ((100 * retx) / sent).toFixed(2) : '0'}% of ${sent} data packets`,
          });
        }
        for (const k of [...new Set([2, n])])
          rows.push({
            suite: 'clients',
            case: `w${w} ${k} ÷ 1`,
            value: Number((medians.get(k)! / medians.get(1)!).toFixed(3)),
            unit: `ratio: ${k} clients' aggregate ÷ one client's, --workers ${w}`,
            ...(k === n && { target: 0.8, met: medians.get(k)! / medians.get(1)! >= 0.8 }),
          });
      } finally {
        await srv.stop();
      }
    }
  } finally {
    sc.done();
  }
  return rows;
}

async function floodSuite(): Promise<Row[]> {
  const sc = scratch();
  const name = sc.file('f.bin', 32 * MiB);
  const srv = await serveOnLoopback('serve', sc.root, join(sc.home, 'server'));
  const args = getArgs(`127.0.0.1:${srv.port}`, name, join(sc.dir, 'out', 'f'));
  // three downloads each way, the medians compared: one 2-second transfer on this 2-core host moves by ±15%
  const times = async () => {
    const ms: number[] = [];
    for (let i = 0; i < FLOOD_RUNS; i++)
      ms.push((await runUdplabClient(args, join(sc.home, 'client'))).result.duration_ms);
    return ms;
  };
  try {
    const usual = await times();
    // the flood: 200 sockets sending 1200-byte handshake-sized datagrams, 20,000 per second, at most 60 s
    const flood = spawn(
      process.execPath,
      [
        '-e',
        `const d=require('dgram');const socks=[];let n=0;for(let i=0;i<200;i++){const s=d.createSocket('udp4');s.bind(0,'127.0.0.1');s.on('error',()=>{});socks.push(s)}
const b=Buffer.alloc(1200);b[0]=1;b[1]=1;const end=Date.now()+60000;
const t=setInterval(()=>{for(let k=0;k<200;k++){require('crypto').randomFillSync(b,2,14);socks[n++%200].send(b,${srv.port},'127.0.0.1')}if(Date.now()>end)process.exit(0)},10)`,
      ],
      { stdio: 'ignore' },
    );
    let during: number[];
    try {
      await new Promise((ok) => setTimeout(ok, 500));
      during = await times();
    } finally {
      await stop(flood);
    }
    const ratio = median(during) / median(usual);
    const list = (v: number[]) => v.map((x) => Math.round(x)).join(', ');
    return [
      {
        suite: 'flood',
        case: 'usual',
        value: Math.round(median(usual)),
        unit: `ms for 32 MiB, median of ${list(usual)}`,
      },
      {
        suite: 'flood',
        case: 'under flood',
        value: Math.round(median(during)),
        unit: `ms for 32 MiB, 20,000 junk handshakes/s, median of ${list(during)}`,
      },
      {
        suite: 'flood',
        case: 'time ratio',
        value: Number(ratio.toFixed(2)),
        unit: 'under flood ÷ usual',
        target: 2,
        met: ratio <= 2,
      },
    ];
  } finally {
    await srv.stop();
    sc.done();
  }
}

/**
 * µs per call of `f`: the median of ROUNDS rounds, each at most `n` calls and at most 300 ms (the machine is
 * shared: a round that another process interrupts is an outlier the median drops), after a warm-up round.
 */
function microseconds(f: () => void, n: number): { us: number; rounds: number[] } {
  const ROUNDS = 7;
  const round = () => {
    const t0 = performance.now();
    let i = 0;
    while (i < n && (i & 63 || performance.now() - t0 < 300)) {
      f();
      i++;
    }
    return ((performance.now() - t0) * 1000) / i;
  };
  round();
  const rounds = Array.from({ length: ROUNDS }, round);
  return { us: median(rounds), rounds };
}

function cryptoSuite(): Row[] {
  const s = loadSodium();
  const backends: Array<[string, CryptoBackend]> = [
    ...('why' in s ? [] : [['libsodium', sodiumBackend(s)] as [string, CryptoBackend]]),
    ['node:crypto', nodeBackend],
  ];
  const rows: Row[] = [];
  const fmt = (m: { us: number; rounds: number[] }) =>
    `µs (median of ${m.rounds.length} rounds, ${Math.min(...m.rounds).toFixed(2)}–${Math.max(...m.rounds).toFixed(2)})`;
  if ('why' in s) rows.push({ suite: 'crypto', case: 'libsodium', value: 0, unit: `not measured: ${s.why}` });
  const header = new Uint8Array(randomBytes(16));
  const payload = new Uint8Array(randomBytes(1160));
  const key = new Uint8Array(randomBytes(32));
  const per: Record<string, number> = {};
  for (const cipher of ['ChaChaPoly', 'AESGCM'] as CipherName[]) {
    for (const [name, be] of backends) {
      const aead = be.packetAead(cipher, key);
      let pn = 0;
      const seal = microseconds(() => aead.seal(header, pn++, payload), 20000);
      const sealed = aead.seal(header, 1, payload).subarray(header.length);
      const open = microseconds(() => {
        if (!aead.open(header, 1, sealed)) throw new Error('bench: a packet did not open');
      }, 20000);
      per[`${cipher} ${name} seal`] = seal.us;
      per[`${cipher} ${name} open`] = open.us;
      const runs = be.note(cipher);
      rows.push(
        {
          suite: 'crypto',
          case: `seal ${cipher} ${name}`,
          value: Number(seal.us.toFixed(2)),
          unit: `${fmt(seal)}; ${runs}`,
        },
        {
          suite: 'crypto',
          case: `open ${cipher} ${name}`,
          value: Number(open.us.toFixed(2)),
          unit: `${fmt(open)}; ${runs}`,
        },
      );
    }
  }
  if (!('why' in s))
    for (const op of ['seal', 'open'])
      rows.push({
        suite: 'crypto',
        case: `${op} ChaChaPoly node÷sodium`,
        value: Number((per[`ChaChaPoly node:crypto ${op}`]! / per[`ChaChaPoly libsodium ${op}`]!).toFixed(2)),
        unit: 'ratio (µs per packet through node:crypto ÷ through libsodium)',
      });
  // the controller on every ACK: a sample into its 10-round window of delivery rates (capped at 256), then the
  // pacing rate and window the sender reads — the window's max was a scan of up to 256 samples on each read
  const cc = new CongestionController(1428);
  let ack = 0;
  const perAck = microseconds(() => {
    ack++;
    cc.onAck({
      nowMs: ack * 0.01,
      deliveryRateBps: 12e6 + (ack % 1000) * 1000,
      rttMs: 20 + (ack % 7),
      minRttMs: 20,
      bytesInFlight: 300_000,
      roundEnded: ack % 200 === 0,
      ackedBytes: 1428,
      lostBytes: 0,
    });
    if (cc.pacingRateBps + cc.cwndBytes <= 0) throw new Error('bench: the controller stopped');
  }, 200_000);
  rows.push({
    suite: 'crypto',
    case: 'controller per ACK',
    value: Number(perAck.us.toFixed(3)),
    unit: `${fmt(perAck)}: onAck, pacing rate and window, 200 ACKs a round`,
  });
  for (const [name, be] of backends) {
    const a = x25519KeyPair(new Uint8Array(randomBytes(32)), be);
    const b = x25519KeyPair(new Uint8Array(randomBytes(32)), be);
    const dh = microseconds(() => x25519(a.privateKey, b.publicKey, be), 2000);
    const connectionId = new Uint8Array(8);
    const hs = microseconds(() => {
      const c = new ClientHandshake(
        { mode: 'noise', serverPublicKey: b.publicKey, ephemeral: new Uint8Array(randomBytes(32)), backend: be },
        { connectionId },
      );
      const r = serverRead(
        {
          staticPrivateKey: b.privateKey,
          staticPublicKey: b.publicKey,
          allowPlaintext: false,
          ephemeral: () => new Uint8Array(randomBytes(32)),
          backend: be,
        },
        1,
        c.firstMessage(new Uint8Array(64)),
        connectionId,
      );
      if (!r.ok || !c.readAnswer(1, r.answer(1, new Uint8Array(16)))?.authenticated)
        throw new Error('bench: a handshake failed');
    }, 500);
    rows.push(
      {
        suite: 'crypto',
        case: `x25519 ${name}`,
        value: Number(dh.us.toFixed(1)),
        unit: `${fmt(dh)} per shared secret`,
      },
      {
        suite: 'crypto',
        case: `NK handshake ${name}`,
        value: Number(hs.us.toFixed(1)),
        unit: `${fmt(hs)}: both sides, 4 DH + key derivations + 2 messages`,
      },
    );
  }
  return rows;
}

/** The relay's fidelity to its netem on loopback: the targets test/integration/fidelity-relay.test.ts used to time. */
async function fidelitySuite(): Promise<Row[]> {
  const rows: Row[] = [];
  const r = await measureRelay('delay 20ms loss 5%', 'delay 10ms duplicate 3%', { count: 2000, pps: 500, bytes: 200 });
  for (const c of checkTargets(r))
    rows.push({
      suite: 'fidelity',
      case: `relay ${c.what}`,
      value: Number((c.measured - c.configured).toFixed(2)),
      unit: `measured − configured (${c.configured}); target within ±${c.tolerance}`,
      target: c.tolerance,
      met: c.ok,
    });
  const q = await measureRelay('rate 1mbit', '', { count: 500, pps: 500, bytes: 472 });
  const frameRate = (q.upStats.rateBit! * udpFrameBytes(472, 4)) / (472 + ipUdpHeaderBytes(4));
  const ratio = Number((frameRate / 1e6).toFixed(3));
  rows.push({
    suite: 'fidelity',
    case: 'relay rate 1mbit, frames',
    value: ratio,
    unit: 'ratio (wire rate counting the Ethernet frame ÷ 1 Mbit/s); target within ±3%',
    target: 1,
    met: Math.abs(ratio - 1) < 0.03,
  });
  return rows;
}

/**
 * A suite whose RUFT endpoints talk through the userspace relay on loopback: the relay emulates a 1,500-byte link
 * (it drops larger datagrams), so the endpoints are told that link's MTU as the lab's local runtime tells them
 * (`UDPLAB_LINK_MTU`, src/transport/path-mtu.ts) — else loopback's route MTU has them probe 32,000- and 8,972-byte
 * datagrams the emulated link drops (measured, 64 MiB at 100 Mbit/s, 20 ms: ~71 Mbit/s instead of ~86).
 */
function behindRelay(suite: () => Promise<Row[]>): () => Promise<Row[]> {
  return async () => {
    const before = process.env.UDPLAB_LINK_MTU;
    process.env.UDPLAB_LINK_MTU = '1500';
    try {
      return await suite();
    } finally {
      if (before === undefined) delete process.env.UDPLAB_LINK_MTU;
      else process.env.UDPLAB_LINK_MTU = before;
    }
  };
}

const SUITES: Record<string, () => Row[] | Promise<Row[]>> = {
  sim: simSuite,
  loopback: loopbackSuite,
  shaped: behindRelay(shapedSuite),
  cost: costSuite,
  clients: clientsSuite,
  flood: floodSuite,
  tcp50: behindRelay(tcp50Suite),
  fairness: fairnessSuite,
  crypto: cryptoSuite,
  compress: compressSuite,
  fidelity: fidelitySuite,
};

const args = process.argv.slice(2);
const jsonAt = args.indexOf('--json');
const jsonFile = jsonAt >= 0 ? args[jsonAt + 1] : undefined;
// --readme: save the figures as bench/results.json and rewrite the README's performance section from them
const readme = args.includes('--readme');
const names = args.filter((a, i) => !a.startsWith('--') && (jsonAt < 0 || i !== jsonAt + 1));
for (const n of names) {
  if (!SUITES[n]) {
    console.error(`bench: unknown suite "${n}"; suites: ${Object.keys(SUITES).join(', ')}`);
    process.exit(2);
  }
}
const rows: Row[] = [];
const started = new Date();
const load = watchLoad();
const suites = names.length ? names : Object.keys(SUITES);
for (const n of suites) {
  console.error(`bench: ${n}…`);
  rows.push(...(await SUITES[n]!()));
}
console.log(`${'suite'.padEnd(9)} ${'case'.padEnd(22)} ${'value'.padStart(10)}  ${'target'.padStart(6)}  met   unit`);
for (const r of rows) {
  console.log(
    `${r.suite.padEnd(9)} ${r.case.padEnd(22)} ${String(r.value).padStart(10)}  ${String(r.target ?? '').padStart(6)}  ${r.met === undefined ? '   ' : r.met ? 'yes' : 'NO '}   ${r.unit}`,
  );
}
const saved: Saved = {
  node: process.version,
  date: started.toISOString(),
  machine: machineLine(),
  load: load.stop(),
  minutes: Math.round((Date.now() - started.getTime()) / 6000) / 10,
  suites,
  rows,
};
console.error(
  `bench: ${saved.minutes} min; load average (1 min) ${saved.load!.min}–${saved.load!.max}, median ${saved.load!.median}`,
);
const json = `${JSON.stringify(saved, null, 2)}\n`;
if (jsonFile) writeFileSync(jsonFile, json);
if (readme) {
  writeFileSync(join(import.meta.dirname, '..', '..', 'bench', 'results.json'), json);
  writeReadme(saved);
  console.error('bench: bench/results.json and the README performance section rewritten from this run');
}
