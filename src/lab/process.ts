// Child processes of the lab (servers, relays, captures): waiting for a first line, stopping them, and how long
// a start may take. Used by the runtimes and by the relay shaper, whatever host the process runs on.
import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { LabError } from './errors.js';

/**
 * How long a server or relay may take to print its first line: 30 s, or UDPLAB_START_TIMEOUT seconds (the VM lane
 * sets 300: under TCG emulation Node alone needs several seconds to load).
 */
export function startTimeoutMs(): number {
  const s = Number(process.env.UDPLAB_START_TIMEOUT);
  return Number.isFinite(s) && s > 0 ? s * 1000 : 30_000;
}

/** Waits for the first stdout line of a child that matches `re`. */
export function firstLine(
  child: ChildProcess,
  re: RegExp,
  what: string,
  timeoutMs = startTimeoutMs(),
): Promise<string> {
  return new Promise((resolve, reject) => {
    const rl = createInterface({ input: child.stdout! });
    let stderr = '';
    child.stderr?.on('data', (d) => {
      stderr += d;
    });
    const t = setTimeout(
      () => reject(new LabError('E_RUNTIME', `${what} did not start within ${timeoutMs} ms: ${stderr.trim()}`)),
      timeoutMs,
    );
    rl.on('line', (l) => {
      if (re.test(l)) {
        clearTimeout(t);
        resolve(l);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(t);
      reject(new LabError('E_RUNTIME', `${what} exited with ${code}: ${stderr.trim()}`));
    });
  });
}

/** Resolves once the child has exited, or after `ms` (false then). */
export function exitedWithin(c: ChildProcess, ms: number): Promise<boolean> {
  if (c.exitCode !== null || c.signalCode !== null) return Promise.resolve(true);
  return new Promise((ok) => {
    const t = setTimeout(() => ok(false), ms);
    c.once('exit', () => {
      clearTimeout(t);
      ok(true);
    });
  });
}

/** SIGTERM (or `signal`), then SIGKILL after 3 s. */
export async function stopChild(c: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (c.exitCode !== null || c.signalCode !== null) return;
  const exited = exitedWithin(c, 3000);
  c.kill(signal);
  if (!(await exited)) c.kill('SIGKILL');
}
