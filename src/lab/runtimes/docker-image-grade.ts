// Grading one client run of an image protocol from what it left on disk (docs/endpoints.md, "Verdicts"): the
// client's {local} is a bind-mounted host folder, so the lab hashes and compares the file here, streaming it (never
// read whole), with the same words as the exec runtime (judged-file.ts, difference.ts). The program's exit code is not trusted.
import { createHash } from 'node:crypto';
import { closeSync, openSync, readSync } from 'node:fs';
import type { JudgedFile } from './judged-file.js';
import { type ClientOutcome, programPass } from './types.js';

export type ImageVerdict =
  | 'pass'
  | 'wrong bytes'
  | 'no file'
  | 'hung'
  | 'crashed'
  | 'server never ready'
  | 'server exited';

/** One client run, judged by the lab (never by the program's exit code). */
export interface ImageRunOutcome {
  verdict: ImageVerdict;
  /** why, in one line (empty on pass) */
  reason: string;
  /** from the container's start to its exit (Docker's own clock), ms */
  ms: number;
  exitCode: number | null;
  /** SHA-256 of `{local}` as found on disk, when there was a file */
  sha256Local?: string;
  sizeLocal?: number;
}

/** The last non-empty line of a text. */
export function lastLine(s: string): string {
  return (
    s
      .trimEnd()
      .split('\n')
      .reverse()
      .find((l) => l.trim()) ?? ''
  ).trim();
}

const SIGNALS: Record<number, string> = {
  1: 'SIGHUP',
  2: 'SIGINT',
  6: 'SIGABRT',
  9: 'SIGKILL',
  11: 'SIGSEGV',
  15: 'SIGTERM',
};

/** "exit code 3" or "killed by SIGSEGV (exit code 139)": Docker reports a signal as 128 + its number. */
export function describeExit(code: number): string {
  if (code > 128 && code < 160) return `killed by ${SIGNALS[code - 128] ?? `signal ${code - 128}`} (exit code ${code})`;
  return `exit code ${code}`;
}

/** A file on this machine and its SHA-256. */
export interface HashedFile {
  path: string;
  sha256: string;
}

/** SHA-256 of a file, read 1 MiB at a time (synchronously: the lab's prepareFile is). */
export function sha256Sync(path: string): string {
  const h = createHash('sha256');
  const fd = openSync(path, 'r');
  const buf = Buffer.alloc(1 << 20);
  try {
    for (let n = readSync(fd, buf); n > 0; n = readSync(fd, buf)) h.update(buf.subarray(0, n));
  } finally {
    closeSync(fd);
  }
  return h.digest('hex');
}

/**
 * Judges one run from what is on disk (`got`: {local} as judged-file.ts found it on the host side of its bind mount —
 * opened, never followed), compared with the file that was served (the contract: the exit code is not trusted; the
 * right bytes pass whatever the program said; a non-zero exit without them is a crash).
 */
export function judge(
  expected: HashedFile,
  got: JudgedFile,
  run: { exitCode: number | null; timedOut: boolean; stderrLast: string; timeoutMs: number; local: string },
): Pick<ImageRunOutcome, 'verdict' | 'reason'> {
  if (run.timedOut)
    return { verdict: 'hung', reason: `killed after the scenario's timeout of ${run.timeoutMs / 1000} s` };
  if (got.kind === 'file' && got.sha256 === expected.sha256) return { verdict: 'pass', reason: '' };
  const wrong = got.kind === 'none' ? undefined : got.kind === 'refused' ? got.reason : got.difference!;
  const onDisk = wrong === undefined ? 'no file' : `wrong bytes: ${wrong}`;
  if (run.exitCode !== 0)
    return {
      verdict: 'crashed',
      reason: `${describeExit(run.exitCode ?? -1)}${run.stderrLast ? `: ${run.stderrLast}` : ''} (${onDisk})`,
    };
  if (wrong === undefined) return { verdict: 'no file', reason: `exit code 0 but nothing written to ${run.local}` };
  return { verdict: 'wrong bytes', reason: wrong };
}

/** A run's outcome as the runner reads it: a pass carries a TransferResult timed by Docker; else verdict + reason. */
export function toClientOutcome(o: ImageRunOutcome, remote: string, local: string): ClientOutcome {
  if (o.verdict !== 'pass')
    return {
      ok: false,
      code: o.verdict,
      message: o.reason,
      ...(o.sha256Local !== undefined && { sha256Local: o.sha256Local }),
    };
  return programPass({ remote, local, bytes: o.sizeLocal ?? 0, durationMs: o.ms, sha256: o.sha256Local ?? '' });
}
