// What a runtime provides to the runner: a server with the test file, a shaped path, a client to drive.
import type { Netem } from '../../impair/index.js';
import type { TransferResult } from '../../transport/index.js';

export type RuntimeName = 'docker' | 'local' | 'netns';
export type ShaperName = 'netem' | 'userspace';

export interface PreparedFile {
  remote: string;
  sizeBytes: number;
  sha256: string;
}

export type ClientOutcome =
  | { ok: true; result: TransferResult; sha256Local: string }
  | { ok: false; code: string; message: string; sha256Local?: string };

export interface LabRuntime {
  readonly name: RuntimeName;
  readonly shaper: ShaperName;
  /** Loud facts about the environment (fallbacks); every report repeats them. */
  readonly notices: string[];
  readonly kernel: string;
  prepareFile(
    spec: { sizeBytes: number; content: 'random' | 'zeros' | 'text' } | { path: string },
  ): Promise<PreparedFile>;
  /** Applies the impairment; returns what the shaper reports it applied (tc qdisc show, or the relay's own). */
  applyShaping(up: Netem, down: Netem, seed: number): Promise<string>;
  /** Removes the impairment; returns the shaper's counters when it has them (the relay's JSON report). */
  clearShaping(): Promise<unknown>;
  runClient(remote: string, timeoutMs: number): Promise<ClientOutcome>;
  stop(): Promise<void>;
}
