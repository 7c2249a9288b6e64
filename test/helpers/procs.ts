// What a test's programs left running, found from the host's side: processes whose working directory is a given
// folder. Works also for programs in a PID namespace of their own (the exec runtimes run them so when root), where
// the PIDs a program sees and notes are its namespace's, not this machine's.
import { readdirSync, readFileSync, readlinkSync, realpathSync } from 'node:fs';

/** Live (not zombie) processes on this machine whose working directory is `dir`. */
export function runningIn(dir: string): number[] {
  const want = realpathSync(dir);
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d) || Number(d) === process.pid) continue;
    try {
      if (readlinkSync(`/proc/${d}/cwd`) !== want) continue;
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      if (stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z') out.push(Number(d));
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return out;
}
