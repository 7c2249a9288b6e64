// Stateful fuzzing past the front door: a live `udplab serve` child process (64 MiB heap cap) is fuzzed by an
// attacker that holds what a real one can get — RETRY cookies for its own addresses and complete sessions with
// its own keys (GET, PUT and LIST, real Noise handshakes) — while honest `get`/`put` transfers run against the
// same server. Datagram categories (each counted as sent, and by what the server did with it):
// - initial:   cookie-bearing INITIALs around mutated Noise messages: `e` = each of the 7 X25519 low-order
//              points, random keys, truncated / extended / bit-flipped messages, wrong or unknown suites,
//              messages bound to another connection ID, another PSK or none, empty; now and then a valid one
//              (ACCEPT, never confirmed) or a fresh request the server refuses (traversal, busy, exists, …).
// - frontdoor: INITIALs that must stop before the Noise read (bad or foreign token, another source port,
//              shorter than 1132 bytes, bad tag, overrunning lengths, other versions and types).
// - hs-live:   handshake-typed packets carrying a live session's connection ID (INITIAL, ACCEPT, REJECT,
//              RETRY, KEY REQUEST/RESPONSE; valid and broken tags; the exact INITIAL of an unconfirmed session).
// - data:      authenticated DATA of live sessions with hostile frames (src/sim/hostile.ts: DATA at extreme
//              offsets and lengths, compressed or not; ACKs with absurd largest / ranges / maxOffset; STATS,
//              PING, PAD, PATH_CHALLENGE/RESPONSE, FIN of the wrong size or hash, DONE, CLOSE with control
//              characters, up to 64 frames, over 64, two ACKs, unknown types, raw random payloads), packet numbers
//              jumping ahead or reused.
// - replay:    captured valid packets sent again (our own authenticated DATA, from its port and others; the
//              INITIAL of a live session from another port and of an ended one from its own; the server's own
//              packets reflected back).
// - foreign:   datagrams from other source ports carrying a live session's connection ID: authenticated DATA
//              (the server must challenge the new address, never follow it unvalidated), answers to the server's
//              PATH_CHALLENGE (right and wrong), handshake types, garbage, replays.
// How "reached" is measured — from what the server did, never from the fuzzer's intent:
// - the handshake: each ACCEPT (repeats of the same bytes not counted) or REJECT the server sent for a cookie-
//   bearing INITIAL is one Noise read (REJECTs are told apart: the Noise read failed, the suite was refused,
//   or the request was refused after a successful read);
// - the data path: an authenticated datagram of a session is counted once the server has shown that it
//   processed it or a later one of that session — a PATH_RESPONSE echoing a tag the fuzzer put in a
//   PATH_CHALLENGE (in a tenth of its structured packets, and in each session's end-of-batch probe), or an ACK
//   naming its packet number. The server reads its one socket in arrival order and the fuzzer sends from one
//   thread, so whatever was sent before the proven packet was processed while the session was alive
//   (datagrams the kernel dropped would be over-counted: the server socket's drop counter, read from
//   /proc/net/udp, must stay 0). What the fuzzer sent after the last proof of a session is not counted.
// Batches of 500 go out two at a time (batch k+1 is built while the server works through batch k). After each
// batch: the server answers (a KEY REQUEST from every fuzzer socket), has not
// exited, logged no internal error, its RSS is bounded, no honest transfer has failed, no replayed packet was
// answered and no session sent anything but a PATH_CHALLENGE to an address it had not validated. At the end
// the root holds exactly the expected final names: the served files unchanged and every honest upload
// byte-identical (the fuzzer's unfinished uploads may leave .part files, never a final name).
// Two servers: Noise NK (70% of the datagrams) and NKpsk0 with a --psk-file (hex, mode 0600; 30%).
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { brotliCompressSync, constants, deflateRawSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { ClientHandshake, integrityOnlyProtection } from '../../src/crypto/index.js';
import { createRng, type Rng } from '../../src/impair/index.js';
import {
  Compression,
  decodeAccept,
  decodeHeader,
  decodeInitialEnvelope,
  decodeReject,
  encodeFrames,
  encodeHeader,
  encodeInitial,
  encodeInitialEnvelope,
  type Frame,
  type Initial,
  MIN_INITIAL_PAYLOAD,
  Op,
  openStateless,
  PacketType,
  RangeSet,
  sealStateless,
} from '../../src/protocol/index.js';
import { hostilePayload } from '../../src/sim/index.js';
import { type ClientOptions, generateIdentity, get, put } from '../../src/transport/index.js';
import { EvilSession, EvilSocket, initialDatagram } from '../helpers/evil-client.js';
import { randomFile, sha256File, tempDir } from '../helpers/tmp.js';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'udplab.js');
const TOTAL = Number(process.env.UDPLAB_FUZZ_DATAGRAMS ?? 1_000_000);
const SEED = Number(process.env.UDPLAB_FUZZ_SEED ?? 20261201);
/** Datagrams per batch; the checks run after each. */
const BATCH = 500;
/** Live fuzzer sessions kept open: the server's sessions beside the honest ones. */
const KEEP = { get: 4, put: 5, list: 1 } as const;
/** Cookie-bearing connection IDs held for INITIAL fuzzing. */
const POOL = 24;
/**
 * Share of structured packets that also carry a tagged PATH_CHALLENGE (a per-datagram proof; the end-of-batch
 * probe proves the rest of a session that lives on, so the tags matter only where a session ends).
 */
const TAGGED = 0.1;
/** Share of data packets whose frames may end the session (CLOSE, DONE, FIN of another size, …). */
const FATAL = 0.01;
/**
 * Shares of the datagrams. A Noise read costs the server ~2–3 ms here (any other datagram ~30–60 µs): 0.6% of
 * a million is ~6,000 of them (with replayed INITIALs and the fuzzer's own handshakes ~7,500), a third of the
 * server's CPU for the run.
 */
const WEIGHTS = { data: 0.6, foreign: 0.12, 'hs-live': 0.11, replay: 0.11, frontdoor: 0.054, initial: 0.006 } as const;
type Cat = keyof typeof WEIGHTS;
const CATS = Object.keys(WEIGHTS) as Cat[];
const RSS_LIMIT_KIB = 200_000;
const BROTLI_FAST = { params: { [constants.BROTLI_PARAM_QUALITY]: 1 } };

/** The seven X25519 points of small order (u-coordinates, little-endian): 0, 1, two of order 8, p−1, p, p+1. */
const LOW_ORDER = [
  '0000000000000000000000000000000000000000000000000000000000000000',
  '0100000000000000000000000000000000000000000000000000000000000000',
  'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800',
  '5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157',
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
].map((h) => new Uint8Array(Buffer.from(h, 'hex')));

const hex = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
const pick = <T>(rng: Rng, xs: readonly T[]): T => xs[rng.int(xs.length)]!;
const concat = (...p: Uint8Array[]) => new Uint8Array(Buffer.concat(p));
const envelope = integrityOnlyProtection('handshake envelope');

/** CPU seconds a process has used (user + system). */
function cpuSeconds(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}

function rssKiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? 0);
}

/** Datagrams the kernel dropped at the server's socket (the `drops` column of /proc/net/udp). */
function kernelDrops(port: number): number {
  const portHex = port.toString(16).toUpperCase().padStart(4, '0');
  for (const line of readFileSync('/proc/net/udp', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f[1]?.endsWith(`:${portHex}`)) return Number(f[12] ?? 0);
  }
  return 0;
}

// ---------------------------------------------------------------------------------------------------------------
// the server

interface Server {
  child: ChildProcess;
  port: number;
  root: string;
  publicKey: Uint8Array;
  psk?: Uint8Array;
  /** The server's stderr: line count, internal errors, lines with raw control characters, the last lines. */
  log: { lines: number; internal: string[]; control: string[]; tail: string[] };
}

async function startServer(dir: string, psk: Uint8Array | undefined): Promise<Server> {
  const root = join(dir, 'root');
  mkdirSync(root);
  const idPath = join(dir, 'id.key');
  const id = generateIdentity(idPath);
  const args = [
    // a hard heap cap makes "memory bounded" a fact: state that grew with the datagrams would end the server
    '--max-old-space-size=64',
    BIN,
    'serve',
    '--root',
    root,
    '--host',
    '127.0.0.1',
    '--port',
    '0',
    '--identity',
    idPath,
    // Admission is measured elsewhere (test/integration/dos.test.ts); here it must not hide the state behind
    // it. Every datagram comes from 127.0.0.1 — fuzzer and honest clients alike — so the per-address limits
    // are the whole server's: the handshake limiter (default 50 burst, 20/s) would refuse all but ~20 Noise
    // reads a second (the fuzzer asks for ~200/s), and the per-source cap (16) and the global cap (64) would
    // turn the honest transfers away behind the fuzzer's ~10 sessions and its unconfirmed ones (ACCEPTed
    // INITIALs live 10 s). So: limiter 10^6/10^6, 512 sessions per source and in all (the fuzzer holds ~80).
    '--handshake-rate',
    '1000000/1000000',
    '--max-sessions-per-source',
    '512',
    '--max-sessions',
    '512',
  ];
  if (psk) {
    const pskPath = join(dir, 'psk.hex');
    writeFileSync(pskPath, `${Buffer.from(psk).toString('hex')}\n`, { mode: 0o600 });
    chmodSync(pskPath, 0o600);
    args.push('--psk-file', pskPath);
  }
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const log: Server['log'] = { lines: 0, internal: [], control: [], tail: [] };
  let partial = '';
  // the log must be drained: a full pipe would block the server's writes (and so the server)
  child.stderr!.on('data', (d: Buffer) => {
    const lines = (partial + d.toString('utf8')).split('\n');
    partial = lines.pop() ?? '';
    for (const l of lines) {
      log.lines++;
      if (/internal error/.test(l)) log.internal.push(l);
      // peer text (CLOSE reasons, names) must reach the log escaped
      if (/[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u2028\u2029]/.test(l)) log.control.push(JSON.stringify(l));
      log.tail.push(l);
      if (log.tail.length > 40) log.tail.shift();
    }
  });
  const port = await new Promise<number>((ok, fail) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString('utf8');
      const m = /listening on [\d.]+:(\d+)/.exec(out);
      if (m) ok(Number(m[1]));
    });
    child.once('exit', (code) =>
      fail(new Error(`udplab serve exited (${code}) before listening: ${log.tail.join(' | ')}`)),
    );
  });
  return { child, port, root, publicKey: id.publicKey, ...(psk && { psk }), log };
}

async function stopServer(s: Server): Promise<void> {
  const c = s.child;
  if (c.exitCode !== null || c.signalCode !== null || c.pid === undefined) return;
  const gone = new Promise((ok) => c.once('exit', ok));
  process.kill(c.pid, 'SIGTERM');
  const t = setTimeout(() => {
    try {
      process.kill(c.pid!, 'SIGKILL');
    } catch {
      /* gone already */
    }
  }, 5000);
  await gone;
  clearTimeout(t);
}

// ---------------------------------------------------------------------------------------------------------------
// what the fuzzer counts

interface Tally {
  sent: Record<Cat, number>;
  /** Datagrams proven to have reached the data path of a live session, by category. */
  dataPath: Record<Cat, number>;
  /** Noise reads (ACCEPT or REJECT answers), by the category that caused them. */
  handshake: Record<Cat, number>;
  handshakeBy: { accept: number; noiseFailed: number; suiteRefused: number; requestRefused: number };
  initialKinds: Record<string, number>;
  dataKinds: Record<string, number>;
  acceptRepeats: number;
  frontDoor: { retry: number; keyResponse: number };
  control: { sent: number; sessionsOpened: number; openFailed: number; sessionsEnded: number; cookies: number };
  serverCloses: Record<string, number>;
  /** DONE frames from PUT receivers that ended (verified / integrity mismatch / I/O error), one per session. */
  serverDone: Record<string, number>;
  /** Packet numbers of fuzzer PUT sessions the server acknowledged. */
  ackedPns: number;
  pathChallengesToForeign: number;
  migrations: number;
  violations: { replayAnswered: number; unvalidatedSend: number };
  violationDetail: string[];
  /** Why the fuzzer's own session openings failed. */
  openFailures: Record<string, number>;
  sendErrors: number;
  batches: number;
  /** KEY REQUESTs of the barrier sent again (the answer, or the request, was lost). */
  barrierRetries: number;
  /** What the server sent the fuzzer's sockets (small DATA packets by their first frame). */
  received: { datagrams: number; bytes: number; frames: Record<string, number> };
}

function newTally(): Tally {
  const zero = () => Object.fromEntries(CATS.map((c) => [c, 0])) as Record<Cat, number>;
  return {
    sent: zero(),
    dataPath: zero(),
    handshake: zero(),
    handshakeBy: { accept: 0, noiseFailed: 0, suiteRefused: 0, requestRefused: 0 },
    initialKinds: {},
    dataKinds: {},
    acceptRepeats: 0,
    frontDoor: { retry: 0, keyResponse: 0 },
    control: { sent: 0, sessionsOpened: 0, openFailed: 0, sessionsEnded: 0, cookies: 0 },
    serverCloses: {},
    serverDone: {},
    ackedPns: 0,
    pathChallengesToForeign: 0,
    migrations: 0,
    violations: { replayAnswered: 0, unvalidatedSend: 0 },
    violationDetail: [],
    openFailures: {},
    sendErrors: 0,
    batches: 0,
    barrierRetries: 0,
    received: { datagrams: 0, bytes: 0, frames: {} },
  };
}

const f0 = (frames: Frame[]) => frames.map((f) => f.type).join('+');
const bump = (r: Record<string, number>, k: string, n = 1) => {
  r[k] = (r[k] ?? 0) + n;
};

// ---------------------------------------------------------------------------------------------------------------
// the fuzzer's state

type Kind = 'get' | 'put' | 'list';

interface Live {
  kind: Kind;
  ev: EvilSession;
  cidHex: string;
  /** Where the server sends this session's packets, as last observed. */
  peer: EvilSocket;
  /** Sockets that may receive more than PATH_CHALLENGEs (the validated one, and any we answered from). */
  allowed: Set<EvilSocket>;
  sizeBytes: number;
  compress?: (d: Uint8Array) => Uint8Array;
  pn: number;
  /** Authenticated datagrams not yet proven processed, in sending order. */
  pending: Array<{ idx: number; cat: Cat | 'control' }>;
  nextIdx: number;
  provenIdx: number;
  /** [packet number, idx] of pending authenticated packets, in increasing packet number (ACK proofs). */
  pnLog: Array<[number, number]>;
  acked: RangeSet;
  serverLargestPn: number;
  /** Sent packets proven processed (with their tag, if any), for replays. */
  captured: Array<{ bytes: Uint8Array; tag?: string }>;
  recent: Array<{ bytes: Uint8Array; idx: number; tag?: string }>;
  /** Server packets seen, for reflection. */
  reflected: Uint8Array[];
  challenges: Map<EvilSocket, Uint8Array>;
  closedBy?: string;
  doneSeen?: boolean;
}

interface Slot {
  sock: EvilSocket;
  cid: Uint8Array;
  cidHex: string;
  token: Uint8Array;
  at: number;
  bases: Array<{ suite: number; msg: Uint8Array }>;
}

class Fuzzer {
  readonly t = newTally();
  private readonly rng: Rng;
  private readonly sessions: Live[] = [];
  private readonly byCid = new Map<string, Live>();
  private pool: Slot[] = [];
  /** Connection IDs whose ACCEPT/REJECTs come from fuzz INITIALs, and the category responsible. */
  private readonly hsCids = new Map<string, Cat>();
  private readonly seenAccepts = new Set<string>();
  /** INITIALs of unconfirmed server sessions (an ACCEPTed fuzz INITIAL): resending them asks for the ACCEPT. */
  private unconfirmed: Array<{ sock: EvilSocket; bytes: Uint8Array; until: number }> = [];
  /** The last INITIAL sent on each pool connection ID (the one an ACCEPT answers). */
  private readonly lastInitial = new Map<string, { sock: EvilSocket; bytes: Uint8Array }>();
  /** INITIALs of sessions that ended, with the socket their cookie is bound to. */
  private ended: Array<{ sock: EvilSocket; bytes: Uint8Array; cidHex: string }> = [];
  private readonly waiters = new Map<string, (r: { bytes: Uint8Array; sock: EvilSocket }) => void>();
  private readonly tags = new Map<string, { s: Live; idx: number }>();
  /** Tags inside packets we replay: an answer beyond the first means a replay was accepted. */
  private readonly replayTags = new Map<string, number>();
  /** Tags of end-of-batch probes not yet answered. */
  private readonly probeTags = new Set<string>();
  private names = 0;
  fuzzSent = 0;

  constructor(
    private readonly server: Server,
    private readonly main: EvilSocket[],
    private readonly foreign: EvilSocket[],
    seed: number,
    private readonly variant: string,
  ) {
    this.rng = createRng(seed);
    for (const s of [...main, ...foreign]) {
      // the server's GET data and answers arrive while a batch is being built: room for them
      s.socket.setRecvBufferSize(4 << 20);
      s.socket.on('message', (m) => this.onMessage(s, new Uint8Array(m.buffer, m.byteOffset, m.byteLength)));
      s.socket.on('error', () => this.t.sendErrors++);
    }
  }

  /** Connects every socket to the server: sends skip the per-datagram address lookup. */
  async connect(): Promise<void> {
    await Promise.all(
      [...this.main, ...this.foreign].map(
        (s) => new Promise<void>((ok) => s.socket.connect(this.server.port, '127.0.0.1', () => ok())),
      ),
    );
  }

  // --- sending --------------------------------------------------------------------------------------------------

  private send(sock: EvilSocket, bytes: Uint8Array, cat: Cat | 'control'): void {
    if (cat === 'control') this.t.control.sent++;
    else {
      this.t.sent[cat]++;
      this.fuzzSent++;
    }
    sock.socket.send(bytes); // connected to the server (see connect())
  }

  /** An authenticated packet of `s`, counted toward the data path once the server proves it processed it. */
  private sendAuth(s: Live, from: EvilSocket, pn: number, bytes: Uint8Array, cat: Cat | 'control', tag?: string) {
    const idx = s.nextIdx++;
    s.pending.push({ idx, cat });
    const last = s.pnLog[s.pnLog.length - 1];
    if (!last || pn > last[0]) s.pnLog.push([pn, idx]);
    if (tag) this.tags.set(tag, { s, idx });
    s.recent.push({ bytes, idx, ...(tag && { tag }) });
    if (s.recent.length > 64) s.recent.shift();
    this.send(from, bytes, cat);
  }

  /** Sends `bytes` and waits (bounded) for an answer of one of `types` on connection ID `cid`. */
  private request(
    sock: EvilSocket,
    types: number[],
    cid: Uint8Array,
    bytes: Uint8Array,
    timeoutMs = 3000,
  ): Promise<{ bytes: Uint8Array; sock: EvilSocket } | undefined> {
    const keys = types.map((t) => `${t}:${hex(cid)}`);
    return new Promise((ok) => {
      const timer = setTimeout(() => {
        for (const k of keys) this.waiters.delete(k);
        ok(undefined);
      }, timeoutMs);
      const done = (r: { bytes: Uint8Array; sock: EvilSocket }) => {
        clearTimeout(timer);
        for (const k of keys) this.waiters.delete(k);
        ok(r);
      };
      for (const k of keys) this.waiters.set(k, done);
      this.send(sock, bytes, 'control');
    });
  }

  // --- receiving ------------------------------------------------------------------------------------------------

  private onMessage(sock: EvilSocket, b: Uint8Array): void {
    this.t.received.datagrams++;
    this.t.received.bytes += b.length;
    const h = decodeHeader(b);
    if (!h.ok) return;
    const cid = hex(h.value.connectionId);
    const type = h.value.type;
    const w = this.waiters.get(`${type}:${cid}`);
    if (w) {
      w({ bytes: b.slice(), sock });
      return;
    }
    if (type === PacketType.Accept || type === PacketType.Reject) this.onAnswer(cid, type, b);
    else if (type === PacketType.Retry) this.t.frontDoor.retry++;
    else if (type === PacketType.KeyResponse) this.t.frontDoor.keyResponse++;
    else if (type === PacketType.Data) {
      const s = this.byCid.get(cid);
      if (s) this.onData(s, sock, b);
    }
  }

  /** An ACCEPT or REJECT: one Noise read, unless it repeats an ACCEPT already seen. */
  private onAnswer(cid: string, type: number, b: Uint8Array): void {
    const cat = this.hsCids.get(cid) ?? (this.byCid.has(cid) ? 'replay' : undefined);
    if (type === PacketType.Accept) {
      const key = hex(b);
      if (this.seenAccepts.has(key)) {
        this.t.acceptRepeats++;
        return;
      }
      this.seenAccepts.add(key);
      if (this.seenAccepts.size > 50_000) this.seenAccepts.clear();
      if (!cat) return;
      this.t.handshake[cat]++;
      this.t.handshakeBy.accept++;
      this.retire(cid);
      // that server session stays unconfirmed for 10 s: its INITIAL, resent, may only repeat this ACCEPT
      const last = this.lastInitial.get(cid);
      if (last) this.unconfirmed.push({ ...last, until: Date.now() + 8000 });
      if (this.unconfirmed.length > 64) this.unconfirmed.shift();
      return;
    }
    if (!cat) return;
    this.t.handshake[cat]++;
    const p = openStateless(b)?.payload;
    if (p && p[0] !== 0)
      this.t.handshakeBy.requestRefused++; // authenticated: the read succeeded
    else {
      const r = p && p.length > 2 ? decodeReject(p.subarray(2)) : undefined;
      const m = r?.ok ? r.value.message : '';
      if (/does not hold/.test(m)) this.t.handshakeBy.noiseFailed++;
      else this.t.handshakeBy.suiteRefused++;
    }
  }

  private onData(s: Live, sock: EvilSocket, b: Uint8Array): void {
    const h = decodeHeader(b);
    const pn = h.ok ? h.value.packetNumber : 0; // in the clear
    if (pn > s.serverLargestPn) s.serverLargestPn = pn;
    if (s.reflected.length < 8) s.reflected.push(b.slice());
    const validated = sock === s.peer || s.allowed.has(sock);
    // what the checks need travels in small packets (ACKs ≤ 450 bytes, PATH_CHALLENGE / RESPONSE 41, CLOSE);
    // file data (GET, LIST) is not decrypted — to an address the session has not validated it is a violation
    if (b.length > 600) {
      if (!validated) {
        this.t.violations.unvalidatedSend++;
        if (this.t.violationDetail.length < 10)
          this.t.violationDetail.push(`${s.kind} session sent ${b.length} bytes to an unvalidated port`);
      }
      return;
    }
    const frames = s.ev.open(b);
    if (!frames) return;
    const onlyChallenges = frames.length > 0 && frames.every((f) => f.type === 'path_challenge');
    if (!validated) {
      if (onlyChallenges) this.t.pathChallengesToForeign++;
      else {
        this.t.violations.unvalidatedSend++;
        if (this.t.violationDetail.length < 10)
          this.t.violationDetail.push(`${s.kind} session sent ${frames.map((f) => f.type)} to an unvalidated port`);
      }
    }
    bump(this.t.received.frames, f0(frames));
    for (const f of frames) {
      if (f.type === 'path_challenge') s.challenges.set(sock, f.data.slice());
      else if (f.type === 'path_response') {
        const tag = hex(f.data);
        const rt = this.replayTags.get(tag);
        if (rt !== undefined) {
          this.replayTags.set(tag, rt + 1);
          if (rt + 1 > 1 && this.t.violationDetail.length < 10)
            this.t.violationDetail.push(
              `tag ${tag} answered again on port ${sock.port} (session peer ${s.peer.port}, pn now ${s.pn}, server pn ${pn})`,
            );
          if (rt + 1 > 1) {
            this.t.violations.replayAnswered++;
            if (this.t.violationDetail.length < 10) this.t.violationDetail.push(`replayed packet answered (${s.kind})`);
          }
        }
        const known = this.tags.get(tag);
        if (known) {
          this.tags.delete(tag);
          this.prove(known.s, known.idx);
          if (this.probeTags.delete(tag)) {
            if (known.s.peer !== sock) {
              known.s.peer = sock;
              this.t.migrations++;
            }
          }
        }
      } else if (f.type === 'ack' && s.kind === 'put') this.onAck(s, f);
      else if (f.type === 'close') {
        s.closedBy = /^E_[A-Z_]+$/.test(f.code) ? f.code : '?';
        bump(this.t.serverCloses, s.closedBy);
      } else if (f.type === 'done' && !s.doneSeen) {
        // a receiver that verified (or refused) the file lingers, answering each packet with DONE: the session
        // is over; the fuzzer retires it at the next barrier
        s.doneSeen = true;
        bump(this.t.serverDone, ['verified', 'integrity', 'io'][f.status] ?? '?');
      }
    }
  }

  private onAck(s: Live, ack: Extract<Frame, { type: 'ack' }>): void {
    for (const [lo, hi] of ack.ranges) {
      s.acked.add(lo, hi + 1);
      // the latest packet we logged with a number in [lo, hi]
      let a = 0;
      let z = s.pnLog.length - 1;
      let found = -1;
      while (a <= z) {
        const m = (a + z) >> 1;
        if (s.pnLog[m]![0] <= hi) {
          found = m;
          a = m + 1;
        } else z = m - 1;
      }
      if (found >= 0 && s.pnLog[found]![0] >= lo) this.prove(s, s.pnLog[found]![1]);
    }
  }

  /** The server processed datagram `idx` of `s`: it and everything sent before it reached the data path. */
  private prove(s: Live, idx: number): void {
    if (idx <= s.provenIdx) return;
    s.provenIdx = idx;
    while (s.pending.length > 0 && s.pending[0]!.idx <= idx) {
      const p = s.pending.shift()!;
      if (p.cat !== 'control') this.t.dataPath[p.cat]++;
    }
    while (s.pnLog.length > 0 && s.pnLog[0]![1] <= idx) s.pnLog.shift();
    for (const r of s.recent) {
      if (r.idx > idx) break;
      if (s.captured.length >= 16) s.captured.splice(this.rng.int(16), 1);
      // a tagged packet is watched for a second answer only once its own answer has been read (answers to
      // different sockets — before and after a migration — are not read in the order the server sent them)
      const answered = r.tag !== undefined && !this.tags.has(r.tag);
      s.captured.push({ bytes: r.bytes, ...(answered && { tag: r.tag }) });
    }
    while (s.recent.length > 0 && s.recent[0]!.idx <= idx) s.recent.shift();
  }

  // --- pools ----------------------------------------------------------------------------------------------------

  private retire(cidHex: string): void {
    const i = this.pool.findIndex((p) => p.cidHex === cidHex);
    if (i >= 0) this.pool.splice(i, 1);
    this.hsCids.set(cidHex, 'hs-live'); // further answers on it come from its unconfirmed session
  }

  private security(fresh: { psk?: Uint8Array | 'wrong' | 'none'; cipher?: 'ChaChaPoly' | 'AESGCM' } = {}) {
    const psk =
      fresh.psk === 'wrong' ? new Uint8Array(randomBytes(32)) : fresh.psk === 'none' ? undefined : this.server.psk;
    return {
      mode: 'noise' as const,
      serverPublicKey: this.server.publicKey,
      ephemeral: new Uint8Array(randomBytes(32)),
      cipher: fresh.cipher ?? (this.rng.next() < 0.8 ? ('ChaChaPoly' as const) : ('AESGCM' as const)),
      ...(psk && { psk }),
    };
  }

  /** A request an attacker might make: ordinary, refused, or at the edges of the fields. */
  private requestFor(kind: Kind | 'any'): Initial {
    const rng = this.rng;
    const k = kind === 'any' ? pick(rng, ['get', 'put', 'list', 'get', 'put'] as const) : kind;
    const base = { resume: false, force: false, compression: Compression.Off as Compression, ranges: [] };
    if (k === 'list') return { ...base, op: Op.List, path: pick(rng, ['', '.', 'nope', '..']), sizeBytes: 0 };
    if (k === 'get') {
      const path =
        kind === 'any'
          ? pick(rng, [
              'fuzz-src.bin',
              'honest-src.bin',
              'nope.bin',
              '../etc/passwd',
              '%2e%2e/x',
              'honest-up-1.bin.part',
            ])
          : rng.next() < 0.8
            ? 'fuzz-src.bin'
            : 'honest-src.bin';
      const resume = rng.next() < 0.2;
      return {
        ...base,
        op: Op.Get,
        path,
        resume,
        sizeBytes: resume ? pick(rng, [65536, 0, 2 ** 48 - 1]) : 0,
        ranges: resume ? [[0, rng.int(65536)]] : [],
        compression: pick(rng, [0, 1, 2]) as Compression,
      };
    }
    const path =
      kind === 'any'
        ? pick(rng, [
            `fz-${this.variant}-${this.names++}.bin`,
            'honest-up-1.bin',
            'honest-src.bin',
            '/abs',
            'a/../../b',
          ])
        : rng.next() < 0.1
          ? 'fuzz-src.bin'
          : `fz-${this.variant}-${this.names++}.bin`;
    return {
      ...base,
      op: Op.Put,
      path,
      force: path === 'fuzz-src.bin' || (kind === 'any' && rng.next() < 0.3),
      compression: pick(rng, [0, 0, 1, 2]) as Compression,
      sizeBytes: pick(rng, [0, 1, 1000, 65_536, 65_536, 1 << 20, 1 << 20, 2 ** 40, 2 ** 40]),
    };
  }

  /** A complete session with our own keys, confirmed at once (a PING): the server opens its file then. */
  private async openSession(kind: Kind, home: EvilSocket): Promise<void> {
    const cid = new Uint8Array(randomBytes(8));
    const retry = await this.request(
      home,
      [PacketType.Retry],
      cid,
      initialDatagram(cid, 1, new Uint8Array(0), new Uint8Array(48)),
    );
    if (!retry) return this.openFailed('no RETRY');
    const token = openStateless(retry.bytes)!.payload.slice();
    const req = this.requestFor(kind);
    const hs = new ClientHandshake(this.security(), { connectionId: cid });
    const initial = initialDatagram(cid, hs.suite, token, hs.firstMessage(encodeInitial(req)));
    const ans = await this.request(home, [PacketType.Accept, PacketType.Reject], cid, initial);
    const env = ans && openStateless(ans.bytes);
    const read = env && hs.readAnswer(env.payload[0]!, env.payload.subarray(1));
    const acc = read?.kind === 1 ? decodeAccept(read.body) : undefined;
    if (!ans) return this.openFailed('no answer');
    if (!acc?.ok || !hs.protection) {
      const rej = read?.kind === 2 ? decodeReject(read.body) : undefined;
      return this.openFailed(rej?.ok ? `${rej.value.code} (${rej.value.message.slice(0, 40)})` : 'not accepted');
    }
    this.seenAccepts.add(hex(ans.bytes));
    const c = acc.value.compression;
    const s: Live = {
      kind,
      ev: new EvilSession(home, this.server.port, cid, hs.protection, acc.value, initial),
      cidHex: hex(cid),
      peer: home,
      allowed: new Set([home]),
      sizeBytes: kind === 'put' ? req.sizeBytes : acc.value.sizeBytes,
      ...(c === Compression.Deflate && { compress: (d: Uint8Array) => deflateRawSync(d, { level: 1 }) }),
      ...(c === Compression.Brotli && { compress: (d: Uint8Array) => brotliCompressSync(d, BROTLI_FAST) }),
      pn: 1,
      pending: [],
      nextIdx: 0,
      provenIdx: -1,
      pnLog: [],
      acked: new RangeSet(),
      serverLargestPn: -1,
      captured: [],
      recent: [],
      reflected: [],
      challenges: new Map(),
    };
    this.sessions.push(s);
    this.byCid.set(s.cidHex, s);
    this.t.control.sessionsOpened++;
    const pn = s.pn++;
    this.sendAuth(s, home, pn, s.ev.seal([{ type: 'ping' }], pn), 'control');
  }

  private openFailed(why: string): void {
    this.t.control.openFailed++;
    bump(this.t.openFailures, why);
  }

  private async newSlot(sock: EvilSocket): Promise<void> {
    const cid = new Uint8Array(randomBytes(8));
    const retry = await this.request(
      sock,
      [PacketType.Retry],
      cid,
      initialDatagram(cid, 1, new Uint8Array(0), new Uint8Array(48)),
    );
    if (!retry) return;
    this.t.control.cookies++;
    const bases = [0, 1].map(() => {
      const hs = new ClientHandshake(this.security(), { connectionId: cid });
      return { suite: hs.suite, msg: hs.firstMessage(encodeInitial(this.requestFor('any'))) };
    });
    const slot = {
      sock,
      cid,
      cidHex: hex(cid),
      token: openStateless(retry.bytes)!.payload.slice(),
      at: Date.now(),
      bases,
    };
    this.hsCids.set(slot.cidHex, 'initial');
    this.pool.push(slot);
  }

  private readonly opening = { get: 0, put: 0, list: 0, slots: 0 };

  /** Starts opening missing sessions and cookies (in the background; each wait bounded); settles when done. */
  topUp(): Promise<void> {
    const now = Date.now();
    for (const p of this.pool) if (now - p.at >= 25_000) this.lastInitial.delete(p.cidHex);
    this.pool = this.pool.filter((p) => now - p.at < 25_000); // cookies last 30–60 s
    this.unconfirmed = this.unconfirmed.filter((u) => u.until > now);
    const jobs: Promise<void>[] = [];
    const track = (k: keyof Fuzzer['opening'], job: Promise<void>) => {
      this.opening[k]++;
      jobs.push(job.finally(() => this.opening[k]--));
    };
    for (const kind of ['get', 'put', 'list'] as const) {
      const have = this.sessions.filter((s) => s.kind === kind).length + this.opening[kind];
      for (let i = have; i < KEEP[kind]; i++) track(kind, this.openSession(kind, pick(this.rng, this.main)));
    }
    for (let i = this.pool.length + this.opening.slots; i < POOL; i++)
      track('slots', this.newSlot(this.main[i % this.main.length]!));
    return Promise.all(jobs).then(() => {});
  }

  // --- one batch ------------------------------------------------------------------------------------------------

  batch(): void {
    let budget = BATCH;
    for (let idle = 0; budget > 0 && idle < 100; ) {
      const r = this.rng.next();
      let acc = 0;
      let cat: Cat = 'data';
      for (const c of CATS) {
        acc += WEIGHTS[c];
        if (r < acc) {
          cat = c;
          break;
        }
      }
      if (this.emit(cat)) {
        budget--;
        idle = 0;
      } else idle++;
    }
  }

  /** One datagram of `cat`; false when the category has nothing to work on right now. */
  private emit(cat: Cat): boolean {
    const rng = this.rng;
    const s = this.sessions.length > 0 ? pick(rng, this.sessions) : undefined;
    switch (cat) {
      case 'initial':
        return this.emitInitial();
      case 'frontdoor':
        return this.emitFrontDoor();
      case 'hs-live':
        return s ? this.emitHandshakeLive(s) : false;
      case 'data':
        return s ? this.emitData(s) : false;
      case 'replay':
        return this.emitReplay(s);
      case 'foreign':
        return s ? this.emitForeign(s) : false;
    }
  }

  private emitInitial(): boolean {
    const rng = this.rng;
    if (this.pool.length === 0) return false;
    const slot = pick(rng, this.pool);
    const b = pick(rng, slot.bases);
    let suite = b.suite;
    let msg: Uint8Array;
    let kind: string;
    const r = rng.int(100);
    if (r < 15) {
      kind = 'low-order-e';
      msg = concat(pick(rng, LOW_ORDER), b.msg.subarray(32));
    } else if (r < 25) {
      kind = 'random-e';
      msg = concat(randomBytes(32), b.msg.subarray(32));
    } else if (r < 35) {
      kind = 'truncated';
      msg = b.msg.subarray(0, rng.int(b.msg.length));
    } else if (r < 44) {
      kind = 'extended';
      msg = concat(b.msg, randomBytes(1 + rng.int(64)));
    } else if (r < 57) {
      kind = 'bit-flipped';
      msg = b.msg.slice();
      for (let i = 0, n = 1 + rng.int(3); i < n; i++) msg[rng.int(msg.length)]! ^= 1 << rng.int(8);
    } else if (r < 67) {
      kind = 'wrong-suite';
      msg = b.msg;
      suite = pick(
        rng,
        [0, 1, 2, 3, 4, 5, 255].filter((x) => x !== b.suite),
      );
    } else if (r < 77) {
      // a message bound to another connection ID (another slot's, or a live session's real INITIAL)
      kind = 'other-cid';
      const other = this.sessions.length > 0 && rng.next() < 0.5 ? pick(rng, this.sessions) : undefined;
      const env = other && decodeInitialEnvelope(openStateless(other.ev.initial)!.payload);
      msg = env?.ok ? env.value.message.slice() : pick(rng, pick(rng, this.pool).bases).msg;
      if (env?.ok) suite = env.value.suite;
    } else if (r < 84) {
      kind = 'random-message';
      msg = new Uint8Array(randomBytes(rng.int(200)));
    } else if (r < 87) {
      kind = 'empty-message';
      msg = new Uint8Array(0);
    } else if (r < 90) {
      kind = 'valid';
      msg = b.msg;
    } else if (r < 95) {
      kind = 'fresh-request';
      const hs = new ClientHandshake(this.security(), { connectionId: slot.cid });
      suite = hs.suite;
      msg = hs.firstMessage(encodeInitial(this.requestFor('any')));
    } else {
      kind = this.server.psk ? pick(rng, ['wrong-psk', 'no-psk']) : 'psk-unasked';
      const hs = new ClientHandshake(this.security({ psk: kind === 'no-psk' ? 'none' : 'wrong' }), {
        connectionId: slot.cid,
      });
      suite = hs.suite;
      msg = hs.firstMessage(encodeInitial(this.requestFor('any')));
    }
    bump(this.t.initialKinds, kind);
    const d = initialDatagram(slot.cid, suite, slot.token, msg);
    this.lastInitial.set(slot.cidHex, { sock: slot.sock, bytes: d });
    this.send(slot.sock, d, 'initial');
    return true;
  }

  private emitFrontDoor(): boolean {
    const rng = this.rng;
    if (this.pool.length === 0) return false;
    const slot = pick(rng, this.pool);
    const b = pick(rng, slot.bases);
    let d: Uint8Array;
    let from = slot.sock;
    switch (rng.int(8)) {
      case 0: // a token the server never issued
        d = initialDatagram(slot.cid, b.suite, randomBytes(rng.int(40)), b.msg);
        break;
      case 1: {
        // another connection ID's token
        const other = pick(rng, this.pool);
        d = initialDatagram(slot.cid, b.suite, other === slot ? rng.bytes(16) : other.token, b.msg);
        break;
      }
      case 2: // the right token from another source port (the cookie is bound to address and port)
        from = pick(
          rng,
          [...this.main, ...this.foreign].filter((s) => s !== slot.sock),
        );
        d = initialDatagram(slot.cid, b.suite, slot.token, b.msg);
        break;
      case 3: // shorter than the 1132 bytes the server answers at all
        d = sealStateless(
          PacketType.Initial,
          slot.cid,
          encodeInitialEnvelope({ suite: b.suite, token: slot.token, message: b.msg }),
        );
        break;
      case 4: // a broken integrity tag
        d = initialDatagram(slot.cid, b.suite, slot.token, b.msg).slice();
        d[d.length - 1 - rng.int(16)]! ^= 1 << rng.int(8);
        break;
      case 5: {
        // a message length past the end of the datagram, or a token length past it
        const env = new Uint8Array(MIN_INITIAL_PAYLOAD);
        env[0] = b.suite;
        env[1] = rng.next() < 0.5 ? 255 : slot.token.length;
        env.set(slot.token, 2);
        env[2 + slot.token.length] = 0xff;
        env[3 + slot.token.length] = 0xff;
        d = sealStateless(PacketType.Initial, slot.cid, env);
        break;
      }
      case 6: {
        // other packet types and versions with a fresh connection ID
        const t = pick(rng, [
          PacketType.Accept,
          PacketType.Reject,
          PacketType.Retry,
          PacketType.KeyResponse,
          PacketType.KeyRequest,
        ]);
        d = sealStateless(t, randomBytes(8), randomBytes(rng.int(1300)));
        if (rng.next() < 0.3) d[rng.next() < 0.5 ? 0 : 1] = pick(rng, [0, 2, 8, 255]);
        break;
      }
      default: // anything at all under a live slot's connection ID
        d = concat(
          encodeHeader({ type: PacketType.Initial, connectionId: slot.cid, packetNumber: 0 }),
          randomBytes(rng.int(1400)),
        );
    }
    this.send(from, d, 'frontdoor');
    return true;
  }

  private emitHandshakeLive(s: Live): boolean {
    const rng = this.rng;
    const cid = s.ev.cid;
    let d: Uint8Array;
    const r = rng.int(6);
    if (r === 0)
      d = s.ev.initial; // the very INITIAL that opened it (confirmed: no ACCEPT repeat)
    else if (r === 1 && this.unconfirmed.length > 0) {
      const u = pick(rng, this.unconfirmed);
      this.send(u.sock, u.bytes, 'hs-live'); // an unconfirmed session's own INITIAL: at most a repeat ACCEPT
      return true;
    } else if (r === 2)
      d = initialDatagram(cid, pick(rng, [1, 2, 3, 4]), randomBytes(16), randomBytes(48 + rng.int(100)));
    else if (r === 3) {
      const t = pick(rng, [
        PacketType.Accept,
        PacketType.Reject,
        PacketType.Retry,
        PacketType.KeyRequest,
        PacketType.KeyResponse,
      ]);
      d = sealStateless(t, cid, randomBytes(rng.int(1200)));
    } else if (r === 4) {
      // a handshake type at an extreme packet number, tag valid
      const pn = pick(rng, [1, 2 ** 48 - 1, s.pn + 1, rng.int(2 ** 32)]);
      const t = pick(rng, [PacketType.Initial, PacketType.Accept, PacketType.Reject]);
      d = envelope.seal(encodeHeader({ type: t, connectionId: cid, packetNumber: pn }), pn, randomBytes(rng.int(1200)));
    } else {
      d = sealStateless(PacketType.Initial, cid, randomBytes(1200)).slice();
      d[16 + rng.int(d.length - 16)]! ^= 1; // tag broken
    }
    this.send(rng.next() < 0.8 ? s.peer : pick(rng, this.main), d, 'hs-live');
    return true;
  }

  private emitData(s: Live): boolean {
    const rng = this.rng;
    const p = hostilePayload(rng, {
      sizeBytes: s.sizeBytes,
      peerLargestPn: s.serverLargestPn,
      fatal: rng.next() < FATAL,
      ...(s.compress && { compress: s.compress }),
      maxPayloadBytes: 4000,
    });
    bump(this.t.dataKinds, p.kind);
    let payload = p.payload;
    let tag: string | undefined;
    if (p.frames && p.frames.length < 64 && rng.next() < TAGGED) {
      const data = rng.bytes(8);
      tag = hex(data);
      const frames = [...p.frames];
      frames.splice(rng.int(frames.length + 1), 0, { type: 'path_challenge', data });
      payload = encodeFrames(frames);
    }
    const r = rng.next();
    if (r < 0.01 && s.pn > 1) {
      // a packet number already used: refused before decryption (not authenticated)
      const pn = rng.int(s.pn);
      this.send(s.peer, s.ev.sealRaw(payload, pn), 'data');
      return true;
    }
    if (r < 0.03) s.pn += 1 + rng.int(rng.next() < 0.9 ? 64 : 5000); // jumps ahead (slides the replay window)
    const pn = s.pn++;
    this.sendAuth(s, s.peer, pn, s.ev.sealRaw(payload, pn), 'data', tag);
    return true;
  }

  private emitReplay(s: Live | undefined): boolean {
    const rng = this.rng;
    const r = rng.int(6);
    if (s && r <= 1 && s.captured.length > 0) {
      // a packet the server already processed, byte for byte, from its port or another
      const c = pick(rng, s.captured);
      if (c.tag) this.replayTags.set(c.tag, Math.max(1, this.replayTags.get(c.tag) ?? 1));
      this.send(r === 0 ? s.peer : pick(rng, this.foreign), c.bytes, 'replay');
      return true;
    }
    if (s && r === 2) {
      // a live session's INITIAL from another port: its cookie is bound to the first
      this.send(pick(rng, this.foreign), s.ev.initial, 'replay');
      return true;
    }
    if (r === 3 && this.ended.length > 0) {
      // an ended session's INITIAL from its own port (cookie still valid): a new Noise read, nothing executed
      const e = pick(rng, this.ended);
      this.hsCids.set(e.cidHex, 'replay');
      this.send(e.sock, e.bytes, 'replay');
      return true;
    }
    if (s && r === 4 && s.reflected.length > 0) {
      // the server's own packets, sent back to it
      this.send(s.peer, pick(rng, s.reflected), 'replay');
      return true;
    }
    if (s && s.captured.length > 0) {
      const c = pick(rng, s.captured);
      if (c.tag) this.replayTags.set(c.tag, Math.max(1, this.replayTags.get(c.tag) ?? 1));
      this.send(s.peer, c.bytes, 'replay');
      return true;
    }
    return false;
  }

  private emitForeign(s: Live): boolean {
    const rng = this.rng;
    const f = pick(rng, this.foreign);
    const r = rng.int(10);
    const challenge = s.challenges.get(f);
    if (r < 2 && challenge) {
      // answer the server's PATH_CHALLENGE from the port it went to (the session may then move there)
      const right = rng.next() < 0.7;
      const from = right ? f : pick(rng, this.main);
      const data = rng.next() < 0.8 ? challenge : new Uint8Array(randomBytes(8));
      if (from === f && data === challenge) s.allowed.add(f);
      s.challenges.delete(f);
      const pn = s.pn++;
      this.sendAuth(s, from, pn, s.ev.seal([{ type: 'path_response', data }], pn), 'foreign');
      return true;
    }
    if (r < 6) {
      // authenticated, from an address the session has not validated
      const frames: Frame[] = [pick(rng, [{ type: 'ping' }, { type: 'pad', length: rng.int(64) }] as Frame[])];
      let tag: string | undefined;
      if (rng.next() < TAGGED) {
        const data = rng.bytes(8);
        tag = hex(data);
        frames.push({ type: 'path_challenge', data });
      }
      const pn = s.pn++;
      this.sendAuth(s, f, pn, s.ev.seal(frames, pn), 'foreign', tag);
      return true;
    }
    let d: Uint8Array;
    if (r === 6)
      d = sealStateless(
        pick(rng, [PacketType.Initial, PacketType.Accept, PacketType.KeyRequest]),
        s.ev.cid,
        randomBytes(rng.int(1200)),
      );
    else if (r === 7)
      d = concat(
        encodeHeader({ type: PacketType.Data, connectionId: s.ev.cid, packetNumber: s.pn + rng.int(10) }),
        randomBytes(17 + rng.int(1200)),
      );
    else if (r === 8 && s.captured.length > 0) d = pick(rng, s.captured).bytes;
    else d = s.ev.initial;
    this.send(f, d, 'foreign');
    return true;
  }

  // --- after a batch --------------------------------------------------------------------------------------------

  /**
   * A PATH_CHALLENGE per live session and a KEY REQUEST from every socket; the KEY RESPONSEs (which the server
   * sends after everything it sends for the batch) are the barrier. Sessions whose probe went unanswered ended.
   * Sent at once; the promise settles when the answers are in (the next batch may go out meanwhile).
   */
  async barrier(): Promise<void> {
    const probes = new Map<Live, string>();
    for (const s of this.sessions) {
      const data = this.rng.bytes(8);
      const tag = hex(data);
      probes.set(s, tag);
      this.probeTags.add(tag);
      const pn = s.pn++;
      this.sendAuth(s, s.peer, pn, s.ev.seal([{ type: 'path_challenge', data }], pn), 'control', tag);
    }
    const answers = await Promise.all(
      [...this.main, ...this.foreign].map(async (sock) => {
        // asked again every 2 s (a datagram may be lost on loopback too), given up after 14 s
        for (let attempt = 0; attempt < 7; attempt++) {
          const cid = this.rng.bytes(8);
          const request = sealStateless(PacketType.KeyRequest, cid, new Uint8Array(96));
          const a = await this.request(sock, [PacketType.KeyResponse], cid, request, 2000);
          if (attempt > 0) this.t.barrierRetries++;
          if (a) return a;
        }
        return undefined;
      }),
    );
    if (answers.some((a) => a === undefined)) {
      const pid = this.server.child.pid!;
      const state =
        this.server.child.exitCode === null ? readFileSync(`/proc/${pid}/stat`, 'utf8').split(' ')[2] : 'exited';
      throw new Error(
        `the server stopped answering (no KEY RESPONSE within 14 s; process state ${state}, CPU ${cpuSeconds(pid)} s, ` +
          `exit ${this.server.child.exitCode}); last log lines:\n${this.server.log.tail.join('\n')}`,
      );
    }
    for (const sock of [...this.main, ...this.foreign]) sock.inbox.length = 0; // the helper keeps every datagram
    for (const [s, tag] of probes) {
      const answered = !this.probeTags.has(tag);
      this.probeTags.delete(tag);
      if ((answered && !s.closedBy && !s.doneSeen) || !this.sessions.includes(s)) continue;
      // ended (closed, aborted, timed out): what was not proven is not counted
      this.sessions.splice(this.sessions.indexOf(s), 1);
      this.byCid.delete(s.cidHex);
      for (const [t, v] of this.tags) if (v.s === s) this.tags.delete(t);
      this.t.control.sessionsEnded++;
      this.t.ackedPns += s.acked.size;
      this.ended.push({ sock: s.ev.sock, bytes: s.ev.initial, cidHex: s.cidHex });
      if (this.ended.length > 32) this.ended.shift();
    }
    if (this.replayTags.size > 20_000) this.replayTags.clear();
    this.t.batches++;
  }

  finish(): void {
    for (const s of this.sessions) this.t.ackedPns += s.acked.size;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// honest clients

interface Honest {
  gets: number;
  puts: number;
  uploads: string[];
  errors: string[];
}

async function honestLoop(
  kind: 'get' | 'put',
  o: ClientOptions,
  work: string,
  files: { srcSha: string; upLocal: string; upSha: string; root: string },
  stop: { done: boolean },
  h: Honest,
): Promise<void> {
  for (let i = 1; !stop.done; i++) {
    try {
      if (kind === 'get') {
        const out = join(work, `got-${i}.bin`);
        await get(o, 'honest-src.bin', out);
        const sha = sha256File(out);
        if (sha !== files.srcSha) h.errors.push(`get #${i}: SHA-256 ${sha} on disk, ${files.srcSha} served`);
        rmSync(out);
        h.gets++;
      } else {
        const name = `honest-up-${i}.bin`;
        await put(o, files.upLocal, name);
        h.uploads.push(name);
        const sha = sha256File(join(files.root, name));
        if (sha !== files.upSha) h.errors.push(`put #${i}: the server holds ${sha}, the client sent ${files.upSha}`);
        h.puts++;
      }
    } catch (e) {
      h.errors.push(`${kind} #${i}: ${(e as { code?: string }).code ?? ''} ${(e as Error).message}`);
      return;
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// one run against one server

interface Report {
  variant: string;
  seconds: number;
  t: Tally;
  honest: Honest;
  rssMaxKiB: number;
  drops: number;
  fuzzerDrops: number;
  tempLeft: number;
  logLines: number;
  serverCpu: number;
  fuzzerCpu: number;
}

const reports: Report[] = [];

async function fuzzServer(variant: string, datagrams: number, psk: Uint8Array | undefined): Promise<Report> {
  using dir = tempDir('udplab-stateful-');
  const server = await startServer(dir.path, psk);
  const sockets: EvilSocket[] = [];
  const stop = { done: false };
  const honest: Honest = { gets: 0, puts: 0, uploads: [], errors: [] };
  let loops: Promise<void>[] = [];
  try {
    const root = server.root;
    const srcSha = randomFile(join(root, 'honest-src.bin'), 1 << 20);
    const fuzzSha = randomFile(join(root, 'fuzz-src.bin'), 64 << 10);
    writeFileSync(join(root, 'notes.txt'), 'kept\n');
    const work = join(dir.path, 'client');
    mkdirSync(work);
    const upLocal = join(work, 'up.bin');
    const upSha = randomFile(upLocal, 512 << 10);
    const o: ClientOptions = { host: '127.0.0.1', port: server.port, serverKey: server.publicKey, ...(psk && { psk }) };
    loops = (['get', 'put'] as const).map((k) =>
      honestLoop(k, o, work, { srcSha, upLocal, upSha, root }, stop, honest),
    );

    for (let i = 0; i < 5; i++) sockets.push(await EvilSocket.open());
    const fz = new Fuzzer(server, sockets.slice(0, 3), sockets.slice(3), SEED ^ variant.length, variant);
    await fz.connect();
    const started = Date.now();
    const cpuBefore = (process.cpuUsage().user + process.cpuUsage().system) / 1e6;
    let rssMax = 0;
    // after each batch: alive, bounded, nothing internal, nobody honest hurt, no replay or unvalidated send
    const check = () => {
      const rss = rssKiB(server.child.pid!);
      rssMax = Math.max(rssMax, rss);
      expect(server.child.exitCode, server.log.tail.join('\n')).toBeNull();
      expect(rss).toBeLessThan(RSS_LIMIT_KIB);
      expect(server.log.internal).toEqual([]);
      expect(server.log.control).toEqual([]);
      expect(honest.errors).toEqual([]);
      expect(fz.t.violations, fz.t.violationDetail.join('\n')).toEqual({ replayAnswered: 0, unvalidatedSend: 0 });
    };
    await fz.topUp();
    // two batches in flight: batch k+1 is built and sent while the server works through batch k
    let inFlight: Promise<void> | undefined;
    let topping: Promise<void> | undefined;
    // a bound, not the budget: a server (or machine) this slow fails the count below
    while (fz.fuzzSent < datagrams && Date.now() - started < 300_000) {
      topping ??= fz.topUp().finally(() => {
        topping = undefined;
      });
      fz.batch();
      const barrier = fz.barrier();
      if (inFlight) {
        await inFlight;
        check();
      }
      inFlight = barrier;
    }
    await inFlight;
    await topping;
    check();
    fz.finish();
    const seconds = (Date.now() - started) / 1000;
    const serverCpu = cpuSeconds(server.child.pid!);
    const fuzzerCpu = (process.cpuUsage().user + process.cpuUsage().system) / 1e6 - cpuBefore;
    stop.done = true;
    await Promise.all(loops);
    loops = [];
    expect(honest.errors).toEqual([]);
    expect(server.child.exitCode).toBeNull();
    const drops = kernelDrops(server.port);
    const fuzzerDrops = sockets.reduce((n, s) => n + kernelDrops(s.port), 0);

    // the root: exactly the served files, unchanged, and every honest upload byte for byte
    const names = readdirSync(root);
    const temp = names.filter((n) => /\.part(\.journal(\.tmp)?)?$/.test(n));
    const finals = names.filter((n) => !temp.includes(n)).sort();
    expect(finals).toEqual(['fuzz-src.bin', 'honest-src.bin', 'notes.txt', ...honest.uploads].sort());
    expect(sha256File(join(root, 'honest-src.bin'))).toBe(srcSha);
    expect(sha256File(join(root, 'fuzz-src.bin'))).toBe(fuzzSha);
    expect(readFileSync(join(root, 'notes.txt'), 'utf8')).toBe('kept\n');
    for (const u of honest.uploads) expect(sha256File(join(root, u))).toBe(upSha);
    for (const n of temp) expect(statSync(join(root, n)).isFile()).toBe(true);

    const r: Report = {
      variant,
      seconds,
      t: fz.t,
      honest,
      rssMaxKiB: rssMax,
      drops,
      fuzzerDrops,
      tempLeft: temp.length,
      logLines: server.log.lines,
      serverCpu,
      fuzzerCpu,
    };
    print(r);
    return r;
  } finally {
    stop.done = true;
    await Promise.allSettled(loops);
    for (const s of sockets) s.close();
    await stopServer(server);
  }
}

function print(r: Report): void {
  const t = r.t;
  const sent = CATS.reduce((n, c) => n + t.sent[c], 0);
  const hs = CATS.reduce((n, c) => n + t.handshake[c], 0);
  const dp = CATS.reduce((n, c) => n + t.dataPath[c], 0);
  const pct = (a: number, b: number) => `${((100 * a) / Math.max(1, b)).toFixed(1)}%`;
  const rows = CATS.map(
    (c) =>
      `  ${c.padEnd(10)} sent ${String(t.sent[c]).padStart(8)}   reached handshake ${String(t.handshake[c]).padStart(6)}   reached data path ${String(t.dataPath[c]).padStart(8)} (${pct(t.dataPath[c], t.sent[c])})`,
  );
  console.log(
    [
      `stateful fuzz [${r.variant}]: ${sent} datagrams in ${r.seconds.toFixed(1)} s (${t.batches} batches, seed ${SEED}); ` +
        `reached the handshake ${hs} (${pct(hs, sent)}), reached the data path ${dp} (${pct(dp, sent)})`,
      ...rows,
      `  handshake answers: ${JSON.stringify(t.handshakeBy)}; ACCEPT repeats ${t.acceptRepeats}; front door: ${JSON.stringify(t.frontDoor)}`,
      `  INITIAL mutations: ${JSON.stringify(t.initialKinds)}`,
      `  DATA payload kinds: ${JSON.stringify(t.dataKinds)}`,
      `  server: CLOSEs ${JSON.stringify(t.serverCloses)}, DONEs ${JSON.stringify(t.serverDone)}, PUT packet numbers ACKed ${t.ackedPns}, PATH_CHALLENGEs to foreign ports ${t.pathChallengesToForeign}, sessions moved ${t.migrations}, ` +
        `RSS max ${r.rssMaxKiB} KiB, kernel drops ${r.drops} (at the fuzzer's sockets ${r.fuzzerDrops}, barrier retries ${t.barrierRetries}), log lines ${r.logLines}, .part/journal files left ${r.tempLeft}, ` +
        `CPU server ${r.serverCpu.toFixed(1)} s / test process ${r.fuzzerCpu.toFixed(1)} s`,
      `  control (not counted above): ${JSON.stringify(t.control)}, failed openings ${JSON.stringify(t.openFailures)}; send errors ${t.sendErrors}`,
      `  received from the server: ${t.received.datagrams} datagrams, ${t.received.bytes} bytes; small DATA by frames ${JSON.stringify(t.received.frames)}`,
      `  honest: ${r.honest.gets} GETs and ${r.honest.puts} PUTs verified, errors ${r.honest.errors.length}`,
    ].join('\n'),
  );
}

describe('stateful fuzzing past the front door', () => {
  const nk = Math.ceil(TOTAL * 0.7);

  afterAll(() => {
    if (reports.length === 0) return;
    const sum = (f: (r: Report) => number) => reports.reduce((n, r) => n + f(r), 0);
    const sent = sum((r) => CATS.reduce((n, c) => n + r.t.sent[c], 0));
    const hs = sum((r) => CATS.reduce((n, c) => n + r.t.handshake[c], 0));
    const dp = sum((r) => CATS.reduce((n, c) => n + r.t.dataPath[c], 0));
    const per = CATS.map(
      (c) => `${c} ${sum((r) => r.t.sent[c])}/${sum((r) => r.t.handshake[c])}/${sum((r) => r.t.dataPath[c])}`,
    ).join(', ');
    console.log(
      `stateful fuzz total: ${sent} datagrams, reached the handshake ${hs}, reached the data path ${dp}, in ` +
        `${sum((r) => r.seconds).toFixed(1)} s of fuzzing; per category sent/handshake/data path: ${per}`,
    );
  });

  for (const [variant, share, psk] of [
    ['NK', nk, undefined],
    ['NKpsk0', TOTAL - nk, new Uint8Array(randomBytes(32))],
  ] as const) {
    it(`${variant} server: ${share.toLocaleString('en')} datagrams past the cookie; alive, bounded, honest transfers intact`, async () => {
      const r = await fuzzServer(variant, share, psk);
      reports.push(r);
      const t = r.t;
      const sent = CATS.reduce((n, c) => n + t.sent[c], 0);
      const hs = CATS.reduce((n, c) => n + t.handshake[c], 0);
      const dp = CATS.reduce((n, c) => n + t.dataPath[c], 0);
      expect(sent).toBeGreaterThanOrEqual(share);
      expect(r.drops).toBe(0);
      expect(r.honest.gets).toBeGreaterThan(0);
      expect(r.honest.puts).toBeGreaterThan(0);
      // the data path: the greater part of the datagrams were authenticated DATA of a live session
      expect(dp).toBeGreaterThan(0.5 * sent);
      expect(t.dataPath.data).toBeGreaterThan(0.85 * t.sent.data);
      // the handshake: most cookie-bearing INITIALs are Noise reads (answered ACCEPT or REJECT)
      expect(hs).toBeGreaterThan(0);
      expect(t.handshake.initial).toBeGreaterThan(0.8 * t.sent.initial);
      // with fewer datagrams (UDPLAB_FUZZ_DATAGRAMS) the rarer outcomes may not occur
      if (share >= 30_000) {
        expect(t.handshakeBy.noiseFailed).toBeGreaterThan(0);
        expect(t.handshakeBy.suiteRefused).toBeGreaterThan(0);
        expect(t.handshakeBy.accept).toBeGreaterThan(0);
        expect(t.dataPath.foreign).toBeGreaterThan(0);
        expect(t.ackedPns).toBeGreaterThan(0);
        expect(t.pathChallengesToForeign).toBeGreaterThan(0);
        expect(t.migrations).toBeGreaterThan(0);
      }
    }, 330_000);
  }
});
