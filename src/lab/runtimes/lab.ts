// Lab objects with typestate (design §"Lab objects"; code review §8 rec. 1). A `Runtime` is a factory with nothing
// to call but `start()`; `start()` returns a `StartedLab`, the only object that has the lab's methods, and it is
// `AsyncDisposable`: `await using lab = await runtime.start({ notices })`. Rules:
// - a start that fails half-way tears down what it created, then throws the start's error;
// - teardown (`stop()` and `[Symbol.asyncDispose]`, one and the same) runs once however often it is asked for, and
//   also when `signal` aborts (the CLI aborts it on SIGINT and SIGTERM);
// - teardown is bounded by the teardown timeout (30 s, UDPLAB_TEARDOWN_TIMEOUT seconds, or `teardownTimeoutMs`): when
//   it fires, or a step of it throws, one line goes to stderr and the same words to the lab's notices (the report),
//   naming what was left (container ids, networks, namespace names, PIDs, folders); it never throws;
// - after teardown began every method throws E_RUNTIME; `stop()` resolves to a `StoppedLab`, which has no methods.

import { LabError } from '../errors.js';
import type { Variant } from '../protocols/index.js';
import type { ClientOutcome, LabRuntime, Leftovers, PreparedFile, RuntimeName, ShapingRequest } from './types.js';

export interface StartOptions {
  /** Loud facts about the environment; the runtime and its teardown add to them, every report repeats them. */
  notices: string[];
  /** Tear down when this aborts (the CLI aborts it on SIGINT and SIGTERM). */
  signal?: AbortSignal;
  /** How long teardown may take before the lab gives up on it and says what was left; default `teardownTimeoutMs()`. */
  teardownTimeoutMs?: number;
  /** Where the one line about a teardown that timed out or failed goes; stderr unless given. */
  warn?: (line: string) => void;
}

/** A runtime not started yet: it has no lab methods, only `start()`. */
export interface Runtime {
  readonly name: RuntimeName;
  start(o: StartOptions): Promise<StartedLab>;
}

type LabMethods = Omit<LabRuntime, 'start' | 'stop' | 'leftovers' | 'notices' | 'shaper' | 'kernel'>;

/** A started lab: the only holder of the lab's methods until it is stopped (or disposed). */
export interface StartedLab extends LabMethods, AsyncDisposable {
  readonly shaper: LabRuntime['shaper'];
  readonly kernel: string;
  readonly notices: string[];
  /** Tears the lab down (once; later calls get the same promise); never throws. */
  stop(): Promise<StoppedLab>;
}

/** What is left of a lab after teardown: facts, no methods. */
export interface StoppedLab {
  readonly name: RuntimeName;
  readonly shaper: LabRuntime['shaper'];
  readonly kernel: string;
  /** Teardown did not finish within the teardown timeout. */
  readonly timedOut: boolean;
  /** What teardown did not confirm removed (empty when it finished). */
  readonly left: Leftovers;
}

/** The teardown timeout: 30 s, or UDPLAB_TEARDOWN_TIMEOUT seconds. */
export function teardownTimeoutMs(): number {
  const s = Number(process.env.UDPLAB_TEARDOWN_TIMEOUT);
  return Number.isFinite(s) && s > 0 ? s * 1000 : 30_000;
}

/** `containers 1a2b3c4d5e6f; namespaces udplab-1-c3, udplab-1-s3; PIDs 123` — or `nothing`. */
export function describeLeftovers(l: Leftovers): string {
  const parts = (
    [
      ['containers', l.containers],
      ['networks', l.networks],
      ['namespaces', l.namespaces],
      ['PIDs', l.pids],
      ['folders', l.dirs],
    ] as const
  )
    .filter(([, xs]) => xs !== undefined && xs.length > 0)
    .map(([what, xs]) => `${what} ${xs!.join(', ')}`);
  return parts.length > 0 ? parts.join('; ') : 'nothing';
}

/** A `Runtime` whose `start()` builds a lab with `create` (a runtime class) and starts it. */
export function defineRuntime(name: RuntimeName, create: (notices: string[]) => LabRuntime): Runtime {
  return { name, start: (o) => startLab(create(o.notices), o) };
}

/** Starts `rt`; if that throws (or `signal` aborted meanwhile), tears down what it created and throws. */
export async function startLab(rt: LabRuntime, o: StartOptions): Promise<StartedLab> {
  const lab = new Started(rt, o);
  try {
    if (o.signal?.aborted) throw interrupted(rt.name);
    await rt.start();
    if (o.signal?.aborted) throw interrupted(rt.name);
  } catch (e) {
    await lab.stop();
    throw e;
  }
  lab.watch();
  return lab;
}

function interrupted(name: RuntimeName): LabError {
  return new LabError('E_RUNTIME', `the ${name} lab was interrupted while starting`);
}

class Started implements StartedLab {
  readonly name: RuntimeName;
  readonly notices: string[];
  readonly runWithFaults?: NonNullable<LabRuntime['runWithFaults']>;
  readonly runExecWithFaults?: NonNullable<LabRuntime['runExecWithFaults']>;
  readonly amplification?: NonNullable<LabRuntime['amplification']>;
  readonly runFlows?: NonNullable<LabRuntime['runFlows']>;
  readonly retireServer?: NonNullable<LabRuntime['retireServer']>;
  #rt: LabRuntime;
  #stopped: Promise<StoppedLab> | undefined;
  #unwatch: () => void = () => {};

  constructor(
    rt: LabRuntime,
    private readonly o: StartOptions,
  ) {
    this.#rt = rt;
    this.name = rt.name;
    this.notices = o.notices;
    // the optional capabilities exist on the started lab only where the runtime has them
    if (rt.runWithFaults) this.runWithFaults = async (...a) => this.#live('runWithFaults').runWithFaults!(...a);
    if (rt.runExecWithFaults)
      this.runExecWithFaults = async (...a) => this.#live('runExecWithFaults').runExecWithFaults!(...a);
    if (rt.amplification) this.amplification = async (...a) => this.#live('amplification').amplification!(...a);
    if (rt.runFlows) this.runFlows = async (...a) => this.#live('runFlows').runFlows!(...a);
    if (rt.retireServer) this.retireServer = async (...a) => this.#live('retireServer').retireServer!(...a);
  }

  /** Tears down when the signal aborts (SIGINT, SIGTERM). */
  watch(): void {
    const signal = this.o.signal;
    if (!signal) return;
    const onAbort = () => void this.stop();
    signal.addEventListener('abort', onAbort, { once: true });
    this.#unwatch = () => signal.removeEventListener('abort', onAbort);
  }

  get shaper() {
    return this.#rt.shaper;
  }
  get kernel() {
    return this.#rt.kernel;
  }

  #live(method: string): LabRuntime {
    if (this.#stopped) throw new LabError('E_RUNTIME', `the ${this.name} lab is stopped: ${method}() after teardown`);
    return this.#rt;
  }

  async prepareFile(spec: Parameters<LabRuntime['prepareFile']>[0]): Promise<PreparedFile> {
    return this.#live('prepareFile').prepareFile(spec);
  }
  async applyShaping(r: ShapingRequest): Promise<string> {
    return this.#live('applyShaping').applyShaping(r);
  }
  async clearShaping(): Promise<unknown> {
    return this.#live('clearShaping').clearShaping();
  }
  async runClients(
    v: Variant,
    remote: string,
    timeoutMs: number,
    count: number,
    seed?: number,
  ): Promise<ClientOutcome[]> {
    return this.#live('runClients').runClients(v, remote, timeoutMs, count, seed);
  }
  async startCapture(pcapPath: string): Promise<string | undefined> {
    return this.#live('startCapture').startCapture(pcapPath);
  }
  async stopCapture(): Promise<number> {
    return this.#live('stopCapture').stopCapture();
  }
  originalPath(): string | undefined {
    return this.#live('originalPath').originalPath();
  }
  async keepClientFile(index: number, dest: string): Promise<boolean> {
    return this.#live('keepClientFile').keepClientFile(index, dest);
  }

  stop(): Promise<StoppedLab> {
    this.#stopped ??= this.#teardown();
    return this.#stopped;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }

  async #teardown(): Promise<StoppedLab> {
    this.#unwatch();
    const rt = this.#rt;
    const limitMs = this.o.teardownTimeoutMs ?? teardownTimeoutMs();
    let timer: NodeJS.Timeout | undefined;
    const outcome = await Promise.race([
      Promise.resolve()
        .then(() => rt.stop())
        .then(
          () => ({ kind: 'done' as const }),
          (e: unknown) => ({
            kind: 'failed' as const,
            why: (e instanceof Error ? e.message : String(e)).split('\n')[0],
          }),
        ),
      new Promise<{ kind: 'timeout' }>((ok) => {
        timer = setTimeout(() => ok({ kind: 'timeout' }), limitMs);
      }),
    ]);
    clearTimeout(timer);
    let left: Leftovers = {};
    if (outcome.kind !== 'done') {
      let known = true;
      try {
        left = rt.leftovers();
      } catch {
        known = false;
      }
      const what =
        outcome.kind === 'timeout'
          ? `TEARDOWN TIMEOUT: the ${rt.name} lab's teardown did not finish within ${limitMs / 1000} s`
          : `TEARDOWN FAILED: the ${rt.name} lab's teardown threw: ${outcome.why}`;
      const swept = [left.containers, left.networks, left.namespaces].some((xs) => xs !== undefined && xs.length > 0);
      const line = `${what}; left: ${known ? describeLeftovers(left) : 'unknown (the runtime could not tell)'}${swept ? " (a later lab's start-up sweep removes the containers, networks and namespaces once this process has exited)" : ''}`;
      this.notices.push(line);
      (this.o.warn ?? ((l: string) => process.stderr.write(`udplab: ${l}\n`)))(line);
    }
    return { name: rt.name, shaper: rt.shaper, kernel: rt.kernel, timedOut: outcome.kind === 'timeout', left };
  }
}
