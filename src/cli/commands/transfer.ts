// `udplab serve / get / put / ls`: the transfer commands (design §3 contract).

import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { basename } from 'node:path';
import cliProgress from 'cli-progress';
import type { Command } from 'commander';
import type { KeyPair } from '../../crypto/index.js';
import type { CompressionName } from '../../files/index.js';
import { printable } from '../../protocol/index.js';
import {
  type ClientOptions,
  defaultIdentityPath,
  fingerprint,
  formatHostPort,
  generateIdentity,
  generatePsk,
  get,
  loadIdentity,
  loadPsk,
  ls,
  type Progress,
  parsePublicKey,
  put,
  reusePortMissing,
  type ServerStats,
  serve,
  serveWorkers,
  splitHostPort,
  type TransferResult,
  WorkersUnavailable,
} from '../../transport/index.js';
import type { Register } from '../index.js';
import { UsageError } from '../usage-error.js';

const DEFAULT_PORT = 4455;

/** The target argument's help: an IPv6 address takes its port in brackets. */
export const TARGET_HELP = 'server: HOST, HOST:PORT or [IPV6]:PORT (default port 4455), e.g. 10.0.0.2, [::1]:4455';

/**
 * A target as users write it: `HOST`, `HOST:PORT`, `[IPV6]:PORT`, `[IPV6]` or a bare IPV6 (`::1`), the port
 * `defaultPort` when not given. A bare `::1:4455` is refused: it is an IPv6 address too (write `[::1]:4455`).
 */
export function parseHostPort(
  s: string,
  allowZero = false,
  defaultPort = DEFAULT_PORT,
): { host: string; port: number } {
  const r = splitHostPort(s, defaultPort, allowZero);
  if ('error' in r) throw new UsageError(r.error);
  return r;
}

function parseCount(flag: string, v: string): number {
  if (!/^\d+$/.test(v) || Number(v) < 1 || Number(v) > 100_000)
    throw new UsageError(`${flag} expects a whole number from 1 to 100000, got "${v}"`);
  return Number(v);
}

/** --workers: a count, or auto (the cores this process may use). */
export function parseWorkers(v: string): number {
  if (v === 'auto') return availableParallelism();
  if (!/^\d+$/.test(v) || Number(v) < 1 || Number(v) > 256)
    throw new UsageError(`--workers expects a whole number from 1 to 256 or auto, got "${v}"`);
  return Number(v);
}

function parsePartMaxAge(v: string): number {
  if (!/^\d+(\.\d+)?$/.test(v)) throw new UsageError(`--part-max-age expects hours (0 keeps parts), got "${v}"`);
  return Number(v) * 3600_000;
}

function parseRate(v: string): { burst: number; perSecond: number } {
  const m = /^(\d+)\/(\d+)$/.exec(v);
  if (!m || Number(m[1]) < 1 || Number(m[2]) < 1)
    throw new UsageError(`--handshake-rate expects BURST/PER-SECOND like 50/20, got "${v}"`);
  return { burst: Number(m[1]), perSecond: Number(m[2]) };
}

/**
 * `--datagram-size`: a fixed datagram size for the data this side sends (header, frames and tag; IP and UDP headers
 * not counted). The receiver takes any size, so it is the sender's choice alone. Without it the sender starts at
 * 1200 (any IPv4 or IPv6 path carries it) and probes for 1472, 1452, 1400 and 1280 (path-MTU discovery): 1472
 * fills a 1500-byte Ethernet MTU over IPv4 with ~19% fewer packets per byte; where the route's MTU to the peer is
 * known and larger (this machine, a directly attached jumbo-frame link: transport/path-mtu.ts) it probes up to that
 * MTU first (at most 32,000; `--max-datagram` lowers the bound). A size beyond the path MTU is fragmented by IP, and
 * a lost fragment loses the whole datagram (teaching scenario 04).
 */
export function parseDatagramSize(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!/^\d+$/.test(v) || n < 1200 || n > 65507)
    throw new UsageError(`--datagram-size expects 1200–65507 bytes, got "${v}"`);
  return n;
}

/** `--max-datagram`: the largest datagram path-MTU probing may try (1200–65507). */
export function parseMaxDatagram(v: string | undefined, fixed: number | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!/^\d+$/.test(v) || n < 1200 || n > 65507)
    throw new UsageError(`--max-datagram expects 1200–65507 bytes, got "${v}"`);
  if (fixed !== undefined)
    throw new UsageError('--datagram-size fixes the size and --max-datagram bounds the probing: give one of them');
  return n;
}

/** The connection config of a fixed `--datagram-size` (no path-MTU probes), or a probing ceiling, or nothing. */
function datagramOptions(
  bytes: number | undefined,
  ceiling: number | undefined,
): { config?: { maxDatagramBytes: number; probeDatagramBytes: [] }; datagramCeiling?: number } {
  if (bytes) return { config: { maxDatagramBytes: bytes, probeDatagramBytes: [] } };
  return ceiling === undefined ? {} : { datagramCeiling: ceiling };
}

const DATAGRAM_SIZE_HELP =
  'fixed datagram size to send data in (1200–65507; default: 1200, raised by path-MTU probing, see --max-datagram)';
const MAX_DATAGRAM_HELP =
  'largest datagram path-MTU probing may try when sending data (1200–65507; default: the route MTU to the peer ' +
  'minus IP/UDP headers, at most 32000, where the peer is this machine or on a directly attached link, else at ' +
  "most 1472 (less where the local route's MTU is smaller); " +
  '1472 keeps data within a 1500-byte Ethernet MTU)';

function parsePort(v: string): number {
  const n = Number(v);
  if (!/^\d+$/.test(v) || n < 0 || n > 65535) throw new UsageError(`--port expects 0–65535, got "${v}"`);
  return n;
}

interface CommonFlags {
  datagramSize?: string;
  maxDatagram?: string;
  serverKey?: string;
  acceptNew?: boolean;
  knownHosts?: string;
  pskFile?: string;
  insecurePlaintext?: boolean;
  resume?: boolean;
  force?: boolean;
  background?: boolean;
  compress: string;
  json?: boolean;
  quiet?: boolean;
}

const COMPRESS = ['auto', 'off', 'brotli', 'deflate', 'zstd'];

function clientOptions(target: string, f: CommonFlags, signal: AbortSignal): ClientOptions {
  if (!COMPRESS.includes(f.compress))
    throw new UsageError(`--compress must be one of ${COMPRESS.join(', ')}, got "${f.compress}"`);
  const { host, port } = parseHostPort(target);
  if (f.insecurePlaintext && (f.serverKey || f.pskFile))
    throw new UsageError('--insecure-plaintext cannot be combined with --server-key or --psk-file');
  return {
    host,
    port,
    ...(f.insecurePlaintext && { insecurePlaintext: true }),
    ...(f.serverKey && { serverKey: parsePublicKey(f.serverKey) }),
    ...(f.acceptNew && { acceptNew: true }),
    ...(f.knownHosts && { knownHostsPath: f.knownHosts }),
    ...(f.pskFile && { psk: loadPsk(f.pskFile) }),
    compress: f.compress as CompressionName,
    resume: f.resume ?? false,
    force: f.force ?? false,
    ...(f.background && { background: true }),
    signal,
    onWarning: (w) => {
      if (!f.quiet && !f.json) process.stderr.write(`udplab: warning: ${w}\n`);
    },
    // a key pinned by --accept-new is a security decision the user must see, --json or --quiet notwithstanding
    onSecurityNotice: (line) => process.stderr.write(`udplab: ${line}\n`),
  };
}

function progressBar(f: CommonFlags): { onProgress?: (p: Progress) => void; stop: () => void } {
  if (f.quiet || f.json || !process.stderr.isTTY) return { stop: () => {} };
  const bar = new cliProgress.SingleBar(
    {
      format: '{bar} {percentage}% | {done}/{total} | {rate} | ETA {eta_formatted} | retx {retx}%',
      stream: process.stderr,
      hideCursor: true,
    },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  return {
    onProgress: (p) => {
      const mb = (b: number) => `${(b / 1048576).toFixed(1)} MiB`;
      const payload = {
        done: mb(p.bytesDone),
        total: mb(p.bytesTotal),
        rate: `${((p.bytesDone * 8) / Math.max(p.elapsedMs, 1) / 1000).toFixed(1)} Mbit/s`,
        retx: p.retransmitPct.toFixed(1),
      };
      if (!started) {
        bar.start(Math.max(p.bytesTotal, 1), p.bytesDone, payload);
        started = true;
      }
      bar.setTotal(Math.max(p.bytesTotal, 1));
      bar.update(p.bytesDone, payload);
    },
    stop: () => {
      if (started) bar.stop();
    },
  };
}

function report(r: TransferResult, f: CommonFlags): void {
  if (f.json) {
    console.log(JSON.stringify(r));
    return;
  }
  if (f.quiet) return;
  const mbit = (r.goodput_bps / 1e6).toFixed(2);
  console.log(
    `${r.op} ${r.remote}: ${r.bytes} bytes in ${(r.duration_ms / 1000).toFixed(2)} s (${mbit} Mbit/s), ` +
      `retransmitted ${r.packets_retransmitted}/${r.packets_sent} packets, rtt ${r.rtt_ms_min.toFixed(1)}/${r.rtt_ms_avg.toFixed(1)}/${r.rtt_ms_p99.toFixed(1)} ms` +
      `${r.resumed_bytes ? `, resumed ${r.resumed_bytes} bytes` : ''}${r.compression !== 'off' ? `, ${r.compression} ×${r.compression_ratio}` : ''}`,
  );
  console.log(`sha256 ${r.sha256}  security: ${r.security}`);
}

function withSigint<T>(fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const ac = new AbortController();
  const onInt = () => ac.abort();
  process.once('SIGINT', onInt);
  return fn(ac.signal).finally(() => process.off('SIGINT', onInt));
}

function addSecurity(c: Command): Command {
  return c
    .option('--server-key <key>', "pin the server's public key (base64), as printed by udplab keygen")
    .option(
      '--accept-new',
      'trust and pin a server key seen for the first time, under the host and its address (prints its fingerprint on stderr, always)',
    )
    .option('--known-hosts <file>', 'known-hosts file (default ~/.config/udplab/known_hosts)')
    .option(
      '--psk-file <file>',
      'mix a 32-byte pre-shared key into the handshake (Noise NKpsk0): 64 hex digits or base64, mode 0600 (udplab keygen --psk)',
    )
    .option('--insecure-plaintext', 'TEACHING ONLY: no encryption, no authentication (the server must agree)');
}

function addCommon(c: Command): Command {
  return addSecurity(c)
    .option('--resume', 'continue from NAME.part and its journal')
    .option('--force', 'overwrite an existing file')
    .option('--background', 'yield to every other flow: the data sender uses a LEDBAT-style scavenger controller')
    .option('--compress <alg>', `per-chunk compression: ${COMPRESS.join('|')}`, 'off')
    .option('--json', 'print one final JSON object')
    .option('--quiet', 'print nothing on success');
}

interface ServeFlags {
  root: string;
  host?: string;
  port: string;
  maxSessions: string;
  readOnly?: boolean;
  handshakeRate: string;
  maxSessionsPerSource: string;
  partMaxAge: string;
  /** commander's --no-overwrite */
  overwrite?: boolean;
  datagramSize?: string;
  maxDatagram?: string;
  identity?: string;
  pskFile?: string;
  insecurePlaintext?: boolean;
  quiet?: boolean;
  workers: string;
  json?: boolean;
}

export const register: Register = (program, setExit) => {
  program
    .command('keygen')
    .description(
      "write a server's static key pair (mode 0600) and print its public key and fingerprint; or, with --psk, a pre-shared key file",
    )
    .option('--out <file>', 'where to write it', defaultIdentityPath())
    .option('--psk <file>', 'instead: write a new pre-shared key (32 random bytes as hex, mode 0600) for --psk-file')
    .action((f: { out: string; psk?: string }) => {
      if (f.psk !== undefined) {
        try {
          generatePsk(f.psk);
        } catch (e) {
          const err = e as NodeJS.ErrnoException;
          if (err.code === 'EEXIST')
            throw new UsageError(`${f.psk} already exists; remove it first to replace the PSK`);
          throw new UsageError(`cannot write ${f.psk}: ${err.message}`);
        }
        console.log(`wrote ${f.psk} (mode 0600): a 32-byte pre-shared key in hex`);
        console.log('give the same file to udplab serve --psk-file and to its clients (--psk-file); keep it secret');
        setExit(0);
        return;
      }
      if (existsSync(f.out)) throw new UsageError(`${f.out} already exists; remove it first to replace the key`);
      const kp = generateIdentity(f.out);
      console.log(`wrote ${f.out} (mode 0600)`);
      console.log(`public key  ${Buffer.from(kp.publicKey).toString('base64')}`);
      console.log(`fingerprint ${fingerprint(kp.publicKey)}`);
      setExit(0);
    });

  program
    .command('serve')
    .description('serve files from a directory over RUFT')
    .requiredOption('--root <dir>', 'directory to serve (nothing outside it is read or written)')
    .option(
      '--host <addr>',
      'address to bind (default ::, every interface, IPv6 and IPv4 (dual-stack); 0.0.0.0 where the kernel has no IPv6; 0.0.0.0 for IPv4 only)',
    )
    .option('--port <n>', 'UDP port', String(DEFAULT_PORT))
    .option('--max-sessions <n>', 'concurrent sessions', '64')
    .option('--max-sessions-per-source <n>', 'concurrent sessions one source address may hold', '16')
    .option('--read-only', 'refuse uploads')
    .option('--no-overwrite', 'refuse uploads with --force: no client may replace a file')
    .option('--part-max-age <hours>', 'remove partial uploads nobody resumed for this long (0: keep)', '168')
    .option(
      '--handshake-rate <burst/per-s>',
      'handshakes allowed per source address (many clients behind one NAT)',
      '50/20',
    )
    .option('--datagram-size <bytes>', DATAGRAM_SIZE_HELP)
    .option('--max-datagram <bytes>', MAX_DATAGRAM_HELP)
    .option('--identity <file>', 'static key pair (default ~/.config/udplab/server.key, generated when missing)')
    .option(
      '--psk-file <file>',
      'require a 32-byte pre-shared key (Noise NKpsk0): 64 hex digits or base64, mode 0600 (udplab keygen --psk)',
    )
    .option('--insecure-plaintext', 'TEACHING ONLY: serve without encryption or authentication')
    .option(
      '--workers <n|auto>',
      'worker threads, each with its own socket on the port (SO_REUSEPORT, Node >= 22.12; auto: one per core). ' +
        'Shared: keys, RETRY cookies, the one-upload-per-name lock, the handshake rate and session limits (whole server)',
      '1',
    )
    .option(
      '--json',
      'JSON lines on stdout: {"event":"listening",…} at start, {"event":"stopped",…} with each worker’s counters at exit',
    )
    .option('--quiet', 'log nothing')
    .action(async (f: ServeFlags) => {
      const log = f.quiet ? () => {} : (l: string) => console.error(`udplab serve: ${l}`);
      const datagram = parseDatagramSize(f.datagramSize);
      const ceiling = parseMaxDatagram(f.maxDatagram, datagram);
      const workers = parseWorkers(f.workers);
      // before anything is generated or bound: a Node without reusePort cannot run workers (one line, exit 2)
      const missing = workers > 1 ? reusePortMissing() : undefined;
      if (missing) throw new UsageError(missing);
      let identity: KeyPair | undefined;
      if (f.insecurePlaintext) {
        if (f.identity || f.pskFile)
          throw new UsageError('--insecure-plaintext cannot be combined with --identity or --psk-file');
      } else if (f.identity) identity = loadIdentity(f.identity);
      else if (existsSync(defaultIdentityPath())) identity = loadIdentity(defaultIdentityPath());
      else {
        identity = generateIdentity(defaultIdentityPath());
        log(`generated a new identity in ${defaultIdentityPath()}`);
      }
      const options = (host: string) => ({
        ...(f.pskFile && { psk: loadPsk(f.pskFile) }),
        ...(f.insecurePlaintext && { insecurePlaintext: true }),
        root: f.root,
        host,
        port: parsePort(f.port),
        maxSessions: parseCount('--max-sessions', f.maxSessions),
        maxSessionsPerSource: parseCount('--max-sessions-per-source', f.maxSessionsPerSource),
        partMaxAgeMs: parsePartMaxAge(f.partMaxAge),
        readOnly: f.readOnly ?? false,
        noOverwrite: f.overwrite === false,
        handshakeRate: parseRate(f.handshakeRate),
        ...datagramOptions(datagram, ceiling),
        log,
      });
      // the default, ::, is dual-stack; a kernel without IPv6 cannot bind it: IPv4's every interface then
      const host = f.host ?? '::';
      let crashed: ((line: string) => void) | undefined;
      const start = async (h: string) => {
        const o = { ...(identity && { identity }), ...options(h) };
        if (workers === 1) {
          const one = await serve(o);
          return { ...one, perWorker: async (): Promise<ServerStats[]> => [one.stats()] };
        }
        return serveWorkers({ ...o, workers, onCrash: (line) => crashed?.(line) });
      };
      const s = await start(host)
        .catch((e: NodeJS.ErrnoException) => {
          if (f.host !== undefined || (e.code !== 'EAFNOSUPPORT' && e.code !== 'EADDRNOTAVAIL')) throw e;
          log(`no IPv6 here (${e.code}): listening on IPv4 only (0.0.0.0)`);
          return start('0.0.0.0');
        })
        .catch((e: NodeJS.ErrnoException) => {
          if (e instanceof WorkersUnavailable) throw new UsageError(e.message);
          if (e.code === 'ENOENT') throw new UsageError(`--root ${f.root}: no such directory`);
          if (e.code === 'EADDRINUSE') throw new UsageError(`UDP port ${f.port} on ${host} is already in use`);
          throw e;
        });
      for (const w of s.warnings) log(`warning: ${w}`);
      const security = identity
        ? `Noise_${f.pskFile ? 'NKpsk0' : 'NK'}, key ${fingerprint(identity.publicKey)} (${Buffer.from(identity.publicKey).toString('base64')})`
        : 'PLAINTEXT teaching mode (--insecure-plaintext): no secrecy, no authentication';
      if (f.json)
        console.log(JSON.stringify({ event: 'listening', address: s.address, port: s.port, workers, root: f.root }));
      else
        console.log(
          `udplab serve: listening on ${formatHostPort(s.address, s.port)}, root ${f.root}${f.readOnly ? ' (read-only)' : ''}, ${workers === 1 ? '' : `${workers} workers, `}security: ${security}`,
        );
      const crash = await new Promise<string | undefined>((ok) => {
        const stop = () => ok(undefined);
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
        crashed = (line) => ok(line);
      });
      if (crash !== undefined) {
        // the other workers are already stopped (workers.ts); not restarted: say so and fail
        console.error(`udplab serve: error: ${crash}`);
        setExit(1);
        return;
      }
      const perWorker = f.json ? await s.perWorker() : [];
      await s.close();
      if (f.json) {
        const ok = s.completed.filter((c) => c.ok).length;
        console.log(
          JSON.stringify({
            event: 'stopped',
            workers: perWorker,
            sessions: { created: perWorker.reduce((a, w) => a + w.created, 0), ok, failed: s.completed.length - ok },
          }),
        );
      }
      setExit(0);
    });

  addCommon(
    program
      .command('get')
      .description('download REMOTE from a udplab server')
      .argument('<host[:port]>', TARGET_HELP)
      .argument('<remote>', 'path under the server root')
      .argument('[local]', 'where to write (default: the remote name)'),
  ).action(async (target: string, remote: string, local: string | undefined, f: CommonFlags) => {
    const bar = progressBar(f);
    const r = await withSigint((signal) =>
      get(
        { ...clientOptions(target, f, signal), ...(bar.onProgress && { onProgress: bar.onProgress }) },
        remote,
        local ?? basename(remote),
      ),
    ).finally(() => bar.stop());
    report(r, f);
    setExit(0);
  });

  addCommon(
    program
      .command('put')
      .description('upload LOCAL to a udplab server')
      .argument('<local>', 'file to send')
      .argument('<host[:port]>', TARGET_HELP)
      .argument('[remote]', 'path under the server root (default: the local name)'),
  )
    .option('--datagram-size <bytes>', DATAGRAM_SIZE_HELP)
    .option('--max-datagram <bytes>', MAX_DATAGRAM_HELP)
    .action(async (local: string, target: string, remote: string | undefined, f: CommonFlags) => {
      const bar = progressBar(f);
      const datagram = parseDatagramSize(f.datagramSize);
      const ceiling = parseMaxDatagram(f.maxDatagram, datagram);
      const r = await withSigint((signal) =>
        put(
          {
            ...clientOptions(target, f, signal),
            ...(bar.onProgress && { onProgress: bar.onProgress }),
            ...datagramOptions(datagram, ceiling),
          },
          local,
          remote ?? basename(local),
        ),
      ).finally(() => bar.stop());
      report(r, f);
      setExit(0);
    });

  addSecurity(
    program
      .command('ls')
      .description('list a directory on a udplab server')
      .argument('<host[:port]>', TARGET_HELP)
      .argument('[dir]', 'directory under the server root', ''),
  )
    .option('--json', 'print JSON')
    .action(async (target: string, dir: string, f: CommonFlags) => {
      const entries = await withSigint((signal) =>
        ls(clientOptions(target, { ...f, compress: 'off', quiet: true }, signal), dir),
      );
      const mark = { file: '-', dir: 'd', link: 'l', other: '?', more: '…' } as const;
      if (f.json) console.log(JSON.stringify(entries));
      else
        for (const e of entries)
          if (e.type === 'more') console.log('… more entries than a listing shows (10,000 at most)');
          else
            console.log(`${mark[e.type] ?? '-'} ${printable(String(e.size)).padStart(12)} ${printable(e.name, 1024)}`);
      setExit(0);
    });
};
