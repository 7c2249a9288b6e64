// Grading the two example implementations (examples/) through the CLI, `udplab lab … --protocols-from examples/`,
// and reading back the matrix it wrote: used by test/integration/grading-examples.test.ts (local, netns) and
// test/docker/grading-examples.test.ts (docker).
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export const ROOT = join(import.meta.dirname, '..', '..');
export const GRADING = join(ROOT, 'scenarios', 'grading');

export interface Cell {
  implementation: string;
  scenario: string;
  verdict: 'pass' | 'fail';
  runs: number;
  passed: number;
  reason: string;
}

export interface Graded {
  status: number | null;
  stderr: string;
  stdout: string;
  /** The CLI's pid: its Docker objects carry the label udplab.owner=<pid>. */
  pid: number;
  dir: string;
  files: Record<'matrix.json' | 'matrix.md' | 'matrix.html' | 'junit.xml', boolean>;
  cells: Cell[];
  summary: { cells: number; passed: number; failed: number };
  junit: string;
}

/** Runs `udplab lab <scenarios> --protocols-from examples/ --runtime R --out OUT`, killed after `timeoutMs`. */
export async function gradeExamples(scenarios: string[], runtime: string, out: string, timeoutMs: number) {
  const argv = [
    join(ROOT, 'bin', 'udplab.js'),
    'lab',
    ...scenarios.map((s) => join(GRADING, `${s}.yaml`)),
    '--protocols-from',
    join(ROOT, 'examples'),
    '--runtime',
    runtime,
    '--out',
    out,
  ];
  const child = spawn(process.execPath, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const timer = setTimeout(() => child.kill('SIGTERM'), timeoutMs);
  const status = await new Promise<number | null>((res) => child.on('close', (code) => res(code)));
  clearTimeout(timer);
  const [grading] = existsSync(out) ? readdirSync(out).filter((d) => d.startsWith('grading-')) : [];
  const dir = grading ? join(out, grading) : out;
  const has = (f: string) => existsSync(join(dir, f));
  const files = {
    'matrix.json': has('matrix.json'),
    'matrix.md': has('matrix.md'),
    'matrix.html': has('matrix.html'),
    'junit.xml': has('junit.xml'),
  };
  const m = files['matrix.json'] ? JSON.parse(readFileSync(join(dir, 'matrix.json'), 'utf8')) : { cells: [] };
  return {
    status,
    stderr,
    stdout,
    pid: child.pid ?? -1,
    dir,
    files,
    cells: m.cells,
    summary: m.summary,
    junit: files['junit.xml'] ? readFileSync(join(dir, 'junit.xml'), 'utf8') : '',
  } satisfies Graded;
}

/** The cells of one implementation, as { scenario (without "grading-"): [verdict, reason] }. */
export function row(g: Graded, implementation: string): Record<string, [string, string]> {
  return Object.fromEntries(
    g.cells
      .filter((c) => c.implementation === implementation)
      .map((c) => [c.scenario.replace(/^grading-/, ''), [c.verdict, c.reason]]),
  );
}

/** What each failing seminar-2021 cell must say (its reason), by scenario. */
export const SEMINAR_REASONS: Record<string, RegExp> = {
  // the first datagram (the size) can be the one lost: then it stalls before it knows the size
  'loss-2pct': /stalled at (\d+ of 262144 bytes|0 bytes: no answer)/,
  'loss-10pct': /stalled at (\d+ of 262144 bytes|0 bytes: no answer)/,
  reorder: /wrong bytes/,
  duplicate: /wrong bytes/,
  corrupt: /wrong bytes/,
  blackout: /stalled at 0 bytes|no file/,
  'two-clients': /^client \d: transfer failed: (wrong bytes|crashed|no file)/,
};
