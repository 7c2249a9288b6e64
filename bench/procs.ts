// Processes for the benchmarks: udplab servers and clients as separate processes (the way users run them),
// Debian's TFTP peers, and CPU / peak-RSS readings from /proc. Every process started here is ended here.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { sha256OfFile } from '../src/lab/index.js';

// the checkout: this file runs as dist/bench/procs.js (npm run bench) or as bench/procs.ts (the tests)
const ROOT = join(import.meta.dirname, basename(dirname(import.meta.dirname)) === 'dist' ? '../..' : '..');
export const BIN = join(ROOT, 'bin', 'udplab.js');
const execFileP = promisify(execFile);

export interface Proc {
  child: ChildProcess;
  port: number;
  stop(): Promise<void>;
}

/** Starts `udplab ARGS` and waits for its "listening on HOST:PORT," line. */
export async function startUdplab(args: string[], home: string): Promise<Proc> {
  const child = spawn(process.execPath, [BIN, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, UDPLAB_HOME: home },
  });
  const port = await new Promise<number>((ok, fail) => {
    const t = setTimeout(() => fail(new Error(`udplab ${args[0]} did not start`)), 20_000);
    createInterface({ input: child.stdout! }).on('line', (l) => {
      const m = /listening on [^ ]*:(\d+),/.exec(l) ?? /"port":(\d+)/.exec(l);
      if (m) {
        clearTimeout(t);
        ok(Number(m[1]));
      }
    });
    child.once('exit', (c) => fail(new Error(`udplab ${args[0]} exited with ${c}`)));
  });
  return { child, port, stop: () => stop(child) };
}

export async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((ok) => child.once('exit', ok));
  child.kill('SIGTERM');
  await Promise.race([exited, new Promise((ok) => setTimeout(ok, 3000))]);
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}

/** Runs `udplab ARGS --json` to completion; returns its result and its CPU seconds and peak RSS. */
export async function runUdplabClient(
  args: string[],
  home: string,
): Promise<{
  /** The --json result (a RUFT transfer's also has packets_sent and datagram_bytes; a TCP one has not). */
  result: { bytes: number; duration_ms: number; goodput_bps: number; packets_sent?: number; datagram_bytes?: number };
  cpuS: number;
  rssMb: number;
}> {
  const child = spawn(process.execPath, [BIN, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, UDPLAB_HOME: home },
  });
  const usage = watchUsage(child.pid!);
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => {
    out += d;
  });
  child.stderr!.on('data', (d) => {
    err += d;
  });
  const code = await new Promise<number | null>((ok) => child.once('exit', ok));
  const u = usage.stop();
  if (code !== 0) throw new Error(`udplab ${args[0]} failed: ${err.trim()}`);
  return { result: JSON.parse(out.trim().split('\n').pop()!), cpuS: u.cpuS, rssMb: u.rssMb };
}

/** CPU seconds (user + system) of a process so far, from /proc (Linux). */
export function cpuSeconds(pid: number): number {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(f[11]) + Number(f[12])) / 100; // utime, stime in clock ticks (100 Hz)
  } catch {
    return 0;
  }
}

/** Peak resident set (VmHWM) in MB, from /proc (Linux). */
export function peakRssMb(pid: number): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

/** Samples CPU and peak RSS every 50 ms until stop() (the last sample before the process exits counts). */
export function watchUsage(pid: number): { stop(): { cpuS: number; rssMb: number } } {
  let cpuS = 0;
  let rssMb = 0;
  const sample = () => {
    const c = cpuSeconds(pid);
    if (c > 0) cpuS = c;
    rssMb = Math.max(rssMb, peakRssMb(pid));
  };
  sample();
  const t = setInterval(sample, 50);
  return {
    stop: () => {
      clearInterval(t);
      return { cpuS, rssMb };
    },
  };
}

export const hasCmd = (p: string) => existsSync(p);

/** Wall time of a command (Debian's peers), or undefined when it is missing. */
export async function timeCmd(cmd: string, args: string[], timeoutMs = 600_000): Promise<number | undefined> {
  if (!existsSync(cmd)) return undefined;
  const t0 = performance.now();
  await execFileP(cmd, args, { timeout: timeoutMs });
  return performance.now() - t0;
}

/** A udplab server (`serve`, `tftp-serve`, `tcp-serve`) on a free loopback port, serving `root`. */
export function serveOnLoopback(cmd: string, root: string, home: string, extra: string[] = []): Promise<Proc> {
  return startUdplab([cmd, '--root', root, '--host', '127.0.0.1', '--port', '0', '--quiet', ...extra], home);
}

/** The userspace relay on a free loopback port, in front of the server on `port`. */
export function relayOnLoopback(port: number, up: string, down: string, seed: number, home: string): Promise<Proc> {
  return startUdplab(
    [
      'relay',
      '--to',
      `127.0.0.1:${port}`,
      '--listen',
      '127.0.0.1:0',
      '--up',
      up,
      '--down',
      down,
      '--seed',
      String(seed),
    ],
    home,
  );
}

/**
 * Debian's uftp pushing `name` from `root` to a uftpd on loopback, unicast, encrypted (aes256-gcm, ECDH with ECDSA
 * signatures, keys made per run), at full interface speed with 4 MiB socket buffers (as ours). Goodput is over the
 * wall time of the `uftp` command (announce and key exchange included, as a RUFT client's duration includes its
 * handshake), and only counts when the received file's SHA-256 matches. With `via`, uftp sends through the relay
 * that `via.relay` starts in front of uftpd, with TFMCC congestion control, for at most `via.timeoutMs`.
 */
export async function uftpPush(
  root: string,
  name: string,
  destDir: string,
  via?: { relay: (port: number) => Promise<Proc>; timeoutMs: number },
): Promise<{ bps: number; why?: undefined } | { bps?: undefined; why: string }> {
  if (!existsSync('/usr/bin/uftp') || !existsSync('/usr/bin/uftpd'))
    return { why: 'uftp is not installed (apt-get install -y uftp)' };
  mkdirSync(destDir, { recursive: true });
  const port = String(20000 + ((process.pid + 1) % 20000));
  const buf = String(4 << 20);
  const d = spawn(
    '/usr/bin/uftpd',
    ['-d', '-q', '-D', destDir, '-p', port, '-U', '0x00000002', '-K', 'ec:prime256v1', '-B', buf],
    { stdio: 'ignore' },
  );
  let relay: Proc | undefined;
  try {
    await new Promise((ok) => setTimeout(ok, 300));
    relay = await via?.relay(Number(port));
    const src = join(root, name);
    // on loopback at full speed; through a shaped link with uftp's own congestion control (TFMCC)
    const rate = relay ? ['-C', 'tfmcc'] : ['-R', '-1', '-C', 'none'];
    let ms: number | undefined;
    try {
      ms = await timeCmd(
        '/usr/bin/uftp',
        [
          ...['-M', '127.0.0.1', '-p', String(relay?.port ?? port), '-U', '0x00000001', '-H', '0x00000002', ...rate],
          ...['-Y', 'aes256-gcm', '-h', 'sha256', '-e', 'ecdh_ecdsa', '-K', 'prime256v1', '-B', buf, '-b', '1300'],
          src,
        ],
        via?.timeoutMs,
      );
    } catch (err) {
      if ((err as { killed?: boolean }).killed) return { why: `uftp did not finish in ${via?.timeoutMs} ms` };
      const lines = String((err as { stderr?: string }).stderr ?? err)
        .trim()
        .split('\n');
      return { why: `uftp failed: ${lines.find((l) => /error/i.test(l)) ?? lines[lines.length - 1]}` };
    }
    const got = join(destDir, name);
    if (!ms || !existsSync(got)) return { why: 'uftp did not deliver the file' };
    if ((await sha256OfFile(got)) !== (await sha256OfFile(src)))
      return { why: 'uftp delivered a file with the wrong SHA-256' };
    return { bps: (statSync(src).size * 8 * 1000) / ms };
  } finally {
    await Promise.all([stop(d), relay?.stop()]);
  }
}

/** Debian's tftpd-hpa (`in.tftpd`) serving `root` on a loopback port, or undefined when it is not installed. */
export async function startTftpdHpa(root: string): Promise<{ port: number; stop(): Promise<void> } | undefined> {
  if (!existsSync('/usr/sbin/in.tftpd') || !existsSync('/usr/bin/tftp')) return undefined;
  const port = 20000 + (process.pid % 20000);
  const child = spawn('/usr/sbin/in.tftpd', ['-L', '-u', 'root', '-s', root, '-a', `127.0.0.1:${port}`], {
    stdio: 'ignore',
  });
  await new Promise((ok) => setTimeout(ok, 300));
  return { port, stop: () => stop(child) };
}

/**
 * The tftp-hpa client fetching `name` (binary mode) from 127.0.0.1:`port` into `dest`, with `rexmtS` seconds per
 * retransmission (its default is 5) and a 10-minute total; wall time in ms, or undefined unless `dest` ends up
 * identical to `source`.
 */
export async function tftpHpaGet(
  port: number,
  name: string,
  dest: string,
  rexmtS: number,
  source: string,
): Promise<number | undefined> {
  const t0 = performance.now();
  const child = spawn('/usr/bin/tftp', ['127.0.0.1', String(port)], { stdio: ['pipe', 'ignore', 'ignore'] });
  child.stdin!.end(`mode binary\nrexmt ${rexmtS}\ntimeout 600\nget ${name} ${dest}\nquit\n`);
  let timer: NodeJS.Timeout | undefined;
  const code = await Promise.race([
    new Promise<number | null>((ok) => child.once('exit', ok)),
    new Promise<'timeout'>((ok) => {
      timer = setTimeout(() => ok('timeout'), 660_000);
    }),
  ]);
  clearTimeout(timer); // a pending 11-minute timer kept `npm run bench` alive that long after its last row
  if (code === 'timeout') await stop(child);
  const ms = performance.now() - t0;
  // the interactive client exits 0 even when a transfer timed out: only an intact copy counts
  if (code !== 0 || !existsSync(dest) || (await sha256OfFile(dest)) !== (await sha256OfFile(source))) return undefined;
  return ms;
}

const STREAM_PEER = join(ROOT, 'dist', 'bench', 'stream-peer.js');

/**
 * A stream peer's server (bench/stream-peer.ts: `udx` for udx-native, `utp` for utp-native) serving `file` on a
 * loopback port, or why it cannot run (the package is an optional dependency).
 */
export async function startStreamPeer(
  kind: 'udx' | 'utp',
  file: string,
): Promise<{ port: number; stop(): Promise<void>; why?: undefined } | { why: string }> {
  const child = spawn(process.execPath, [STREAM_PEER, kind, 'serve', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d) => {
    err += d;
  });
  const port = await new Promise<number | undefined>((ok) => {
    const t = setTimeout(() => ok(undefined), 20_000);
    createInterface({ input: child.stdout! }).on('line', (l) => {
      const m = /"port":(\d+)/.exec(l);
      if (m) {
        clearTimeout(t);
        ok(Number(m[1]));
      }
    });
    child.once('exit', () => {
      clearTimeout(t);
      ok(undefined);
    });
  });
  if (port === undefined) {
    await stop(child);
    return {
      why:
        err
          .trim()
          .split('\n')
          .pop()
          ?.replace(/^stream-peer: /, '') || `the ${kind} server did not start`,
    };
  }
  return { port, stop: () => stop(child) };
}

/**
 * A stream peer's client fetching from 127.0.0.1:`port` into `dest`; goodput over the client's wall clock (first
 * packet to the last byte on disk), counted only when `dest` is identical to `source`.
 */
export async function streamPeerGet(
  kind: 'udx' | 'utp',
  port: number,
  dest: string,
  source: string,
  timeoutS = 300,
): Promise<{ bps: number; why?: undefined } | { bps?: undefined; why: string }> {
  try {
    const { stdout } = await execFileP(
      process.execPath,
      [STREAM_PEER, kind, 'get', String(port), dest, String(timeoutS)],
      {
        timeout: (timeoutS + 10) * 1000,
      },
    );
    const r = JSON.parse(stdout.trim().split('\n').pop()!) as { bytes: number; ms: number };
    if ((await sha256OfFile(dest)) !== (await sha256OfFile(source)))
      return { why: `${kind} delivered a file with the wrong SHA-256` };
    return { bps: (r.bytes * 8 * 1000) / r.ms };
  } catch (e) {
    const msg = String((e as { stderr?: string }).stderr || (e as Error).message)
      .trim()
      .split('\n')
      .pop();
    return { why: `${kind} failed: ${msg?.replace(/^stream-peer: /, '')}` };
  }
}
