// What a runtime provides to the runner: servers with the test file, a shaped path, clients to drive.
import type { Blackout, Netem } from '../../impair/index.js';
import type { TransferResult } from '../../transport/index.js';
import type { Fault, FaultRecord, Variant } from '../protocols/index.js';
import type { AmplificationOutcome } from './amplification.js';

export type RuntimeName = 'docker' | 'local' | 'netns' | 'swarm';
export type ShaperName = 'netem' | 'userspace';

export interface PreparedFile {
  remote: string;
  sizeBytes: number;
  sha256: string;
}

export type ClientOutcome =
  | { ok: true; result: TransferResult; sha256Local: string }
  | { ok: false; code: string; message: string; sha256Local?: string };

export interface ShapingRequest {
  up: Netem;
  down: Netem;
  seed: number;
  /** The variant about to run: the relay forwards to its server. */
  variant: Variant;
  /** Userspace relay: emulate IP fragmentation at this MTU. */
  mtu?: number;
  /**
   * Windows in which the path drops everything both ways, from the run's first datagram: the relay's own, or kernel
   * netem switched to `loss 100%` and back (shapers/netem.ts NetemPath).
   */
  blackouts?: Blackout[];
}

/** A flow of a run with competing flows: a client of `variant`, started `delayMs` after the run's first. */
export interface FlowSpec {
  variant: Variant;
  delayMs: number;
}

/** What a lab created and has not confirmed removed: named in the line a teardown timeout prints. */
export interface Leftovers {
  containers?: string[];
  networks?: string[];
  namespaces?: string[];
  pids?: number[];
  dirs?: string[];
}

/**
 * What a runtime class implements. Only `startLab` (./lab.ts) holds one: it calls `start` once, hands out the lab's
 * methods on a `StartedLab` while it runs, and calls `stop` once, bounded by the teardown timeout.
 */
export interface LabRuntime {
  readonly name: RuntimeName;
  readonly shaper: ShaperName;
  /** Loud facts about the environment (fallbacks); every report repeats them. */
  readonly notices: string[];
  readonly kernel: string;
  prepareFile(
    spec: { sizeBytes: number; content: 'random' | 'zeros' | 'text' } | { path: string },
  ): Promise<PreparedFile>;
  /**
   * Starts the variant's server when it is not running yet, applies the impairment, and returns what the
   * shaper reports it applied (tc qdisc show, or the relay's own).
   */
  applyShaping(r: ShapingRequest): Promise<string>;
  /** Removes the impairment; returns the shaper's counters when it has them (the relay's JSON report). */
  clearShaping(): Promise<unknown>;
  /**
   * The variant's last run is done: stops its server when it is a user's program (exec), which is not to run beside
   * another implementation's runs. Absent where a runtime keeps its servers to the end.
   */
  retireServer?(v: Variant): Promise<void>;
  /** Runs `count` clients of the variant at once, each into a file of its own. */
  runClients(
    variant: Variant,
    remote: string,
    timeoutMs: number,
    count: number,
    seed?: number,
  ): Promise<ClientOutcome[]>;
  /**
   * Runs flows at once through the shaped path (each into a file of its own; the first is the run's own, of the
   * variant applyShaping was given): the scenario field `competing`. Absent where a runtime cannot place them.
   */
  runFlows?(flows: FlowSpec[], remote: string, timeoutMs: number): Promise<ClientOutcome[]>;
  /** Starts a packet capture on the client's side of the path; returns why not when it cannot. */
  startCapture(pcapPath: string): Promise<string | undefined>;
  /** Stops the capture and returns the number of bytes written. */
  stopCapture(): Promise<number>;
  /** The test file as served, on this machine (for comparing what a client wrote with it). */
  originalPath(): string | undefined;
  /** Copies what client `index` of the last run left under its local name to `dest`; false when it left nothing. */
  keepClientFile(index: number, dest: string): Promise<boolean>;
  /** Crash faults for a resumable built-in protocol (local, netns, docker). */
  runWithFaults?(
    v: Variant,
    remote: string,
    timeoutMs: number,
    faults: Fault[],
  ): Promise<{ outcome: ClientOutcome; faults: FaultRecord[] }>;
  /** Crash faults for a user's program (`protocol: exec`: local, netns). */
  runExecWithFaults?(
    v: Variant,
    remote: string,
    timeoutMs: number,
    faults: Fault[],
    seed?: number,
  ): Promise<{ outcome: ClientOutcome; faults: FaultRecord[] }>;
  /** A forged request's reflection between the lab's own hosts (attack scenarios: ./amplification.ts). */
  amplification?(v: Variant, remote: string, windowMs: number): Promise<AmplificationOutcome>;
  /** Builds the network and places what the lab needs before its first run; on a throw, `stop` removes what it made. */
  start(): Promise<void>;
  /** Removes everything the lab created, also after a half-done `start` or a step that threw; may be called again. */
  stop(): Promise<void>;
  /** What the lab created and teardown has not confirmed removed (for the teardown timeout's line). */
  leftovers(): Leftovers;
}

/** Parses a client's exit into an outcome: the JSON on its last stdout line, or its `udplab: E_…:` line. */
export function clientOutcome(
  exitCode: number | null,
  stdout: string,
  stderr: string,
  timeoutMs: number,
): { ok: true; result: TransferResult } | { ok: false; code: string; message: string } {
  if (exitCode === 0) return { ok: true, result: JSON.parse(stdout.trim().split('\n').pop()!) as TransferResult };
  if (exitCode === null || exitCode === 137)
    return { ok: false, code: 'E_TIMEOUT', message: `client killed after the run timeout of ${timeoutMs / 1000} s` };
  const m = /udplab: (E_[A-Z_]+): (.*)/.exec(stderr);
  return { ok: false, code: m?.[1] ?? 'E_CLIENT', message: m?.[2] ?? (stderr.trim() || `exit ${exitCode}`) };
}

/** A client's outcome with the SHA-256 of what it left under the local name (none when it left nothing). */
export function withLocalSha(
  o: { ok: true; result: TransferResult } | { ok: false; code: string; message: string },
  sha: string | undefined,
): ClientOutcome {
  return o.ok ? { ...o, sha256Local: sha ?? '' } : { ...o, ...(sha !== undefined && { sha256Local: sha }) };
}

/** The record of a fault that struck when the client held `heldPct` of the file. */
export function faultRecord(f: Fault, heldPct: number, promotedEarly: boolean): FaultRecord {
  return {
    at_pct: f.atPct,
    kill: f.kill,
    killed_at_pct: Math.round(heldPct * 10) / 10,
    promoted_early: promotedEarly,
    restarted: f.restart,
  };
}

/** The run's outcome when a fault struck and nothing was restarted. */
export function notRestarted(f: Fault, heldPct: number): ClientOutcome {
  return {
    ok: false,
    code: 'E_FAULT',
    message: `the ${f.kill} was killed at ${heldPct.toFixed(1)}% and not restarted`,
  };
}

/**
 * The run's outcome when a fault struck a user's program (exec or image) that was not restarted: its manifest says it
 * cannot resume (`resumable: false`), or the fault says `restart: false`.
 */
export function notResumable(id: string, canResume: boolean, f: Fault, heldPct: number): ClientOutcome {
  return canResume
    ? notRestarted(f, heldPct)
    : {
        ok: false,
        code: 'E_FAULT',
        message: `the ${f.kill} was killed at ${heldPct.toFixed(1)}%; ${id} is not resumable (resumable: false), so the kill ends the run`,
      };
}

/**
 * The outcome of a user's program (exec or image) whose file on disk is right: the lab timed it and hashed the file
 * itself, so the packet and RTT fields a udplab client reports are zero (the lab cannot see inside the program).
 */
export function programPass(o: {
  remote: string;
  local: string;
  bytes: number;
  durationMs: number;
  sha256: string;
}): ClientOutcome {
  const durationMs = Math.max(1, o.durationMs);
  return {
    ok: true,
    sha256Local: o.sha256,
    result: {
      op: 'get',
      remote: o.remote,
      local: o.local,
      bytes: o.bytes,
      duration_ms: durationMs,
      goodput_bps: Math.round((o.bytes * 8 * 1000) / durationMs),
      packets_sent: 0,
      packets_retransmitted: 0,
      packets_received: 0,
      packets_lost: 0,
      datagram_bytes: 0,
      rtt_ms_min: 0,
      rtt_ms_avg: 0,
      rtt_ms_p99: 0,
      sha256: o.sha256,
      compression: 'none',
      compression_ratio: 1,
      resumed_bytes: 0,
      security: '',
      timeline: [],
    },
  };
}
