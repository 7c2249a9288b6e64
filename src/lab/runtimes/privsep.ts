// Users' programs (protocol `exec`) run as throw-away unprivileged users when the lab is root (the netns runtime
// always; local when root): util-linux's `setpriv` as an argv prefix, placed after the PID namespace's `unshare`
// (which still needs root), so a program has no capability (no CAP_NET_ADMIN: the impairment is not its to remove;
// no CAP_DAC_OVERRIDE: the served file is not its to read unless it is the server). Each implementation gets a pair
// of ids, one for its server and one for its clients, so its processes cannot signal, ptrace or write what another
// implementation's (or its own other role's) processes own. The ids come from a block of 256 that no /etc/passwd or
// /etc/group entry uses, derived from the lab's PID and runtime instance, so two labs on one machine differ.
import { spawnSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { dirname } from 'node:path';

/** A uid and gid (the same number: no /etc/group entry names it either). */
export interface Ids {
  uid: number;
  gid: number;
}

/** The ids of an implementation's server and of its clients. */
export interface IdPair {
  server: Ids;
  client: Ids;
}

/** The argv prefix that runs a program as `id`, with no supplementary group, no capability and no way to gain one. */
export function setprivArgv(id: Ids): string[] {
  return [
    'setpriv',
    `--reuid=${id.uid}`,
    `--regid=${id.gid}`,
    '--clear-groups',
    '--no-new-privs',
    '--inh-caps=-all',
    '--bounding-set=-all',
    '--',
  ];
}

/**
 * Resource limits a dropped program runs under (util-linux's `prlimit` as an argv prefix before `setpriv`: it runs as
 * root, sets its own limits, and what it execs inherits them). RLIMIT_NPROC counts the tasks (processes and threads)
 * of a real uid, and each implementation's server and clients have a uid of their own: `nproc` bounds each of them
 * whole, whatever it forks. `fsize` bounds every file a program writes (beyond it: SIGXFSZ, or EFBIG where the
 * signal is ignored, as Python does). No core files. No address-space bound (RLIMIT_AS breaks runtimes that reserve
 * large virtual areas, as Node's V8 does).
 */
export interface Limits {
  nproc: number;
  nofile: number;
  fsize: number;
}

/** The limits of a lab whose served file has `fileBytes` and whose runs start `clients` clients at once. */
export function labLimits(fileBytes: number, clients = 1): Limits {
  const MiB = 1 << 20;
  // a client must write the whole file (and may keep a second copy, a `.part` beside the final name): 2× + 1 MiB,
  // at least 64 MiB so that a small file leaves room for a program's own logs and temporary files
  return { nproc: Math.max(256, 32 * clients), nofile: 1024, fsize: Math.max(64 * MiB, 2 * fileBytes + MiB) };
}

/** The argv prefix that sets `l` (and no core files) on what it runs. */
export function prlimitArgv(l: Limits): string[] {
  return ['prlimit', `--nproc=${l.nproc}`, `--nofile=${l.nofile}`, `--fsize=${l.fsize}`, '--core=0', '--'];
}

let limitsProbed: Probe | undefined;

/** Can `prlimit` (util-linux) set limits here? Probed once, by running `prlimit … -- true`. */
export function resourceLimits(): Probe {
  limitsProbed ??= probeRoot(prlimitArgv(labLimits(0)), 'the lab is not root');
  return limitsProbed;
}

/** The report's one line on the limits dropped programs run under (or why there are none). */
export function limitsNotice(l: Limits): string {
  const p = resourceLimits();
  return p.ok
    ? `exec programs run under resource limits (prlimit): at most ${l.nproc} processes and threads per user (an implementation's server; its clients: 32 per client when more than 8 run at once), ${l.nofile} open files each, no file over ${l.fsize} bytes (SIGXFSZ/EFBIG: that run crashes), no core files; memory is not bounded`
    : `exec programs run without resource limits (${p.why}): one can fork, open files or fill the disk until the machine gives out`;
}

/** The ids a program is checked with by the probe: nobody's. */
const PROBE: Ids = { uid: 65534, gid: 65534 };

/** Whether a way of starting programs works here, and why not. */
export type Probe = { ok: true } | { ok: false; why: string };

/**
 * Runs `prefix true` once (root on Linux only, else `notRoot`; bounded at 5 s): ok when it exits 0, else its last
 * stderr line. How the exec runtimes learn whether `unshare` (exec.ts) and `setpriv` work on this machine.
 */
export function probeRoot(prefix: readonly string[], notRoot: string): Probe {
  if (process.platform !== 'linux' || process.getuid?.() !== 0) return { ok: false, why: notRoot };
  const [exe, ...args] = prefix;
  const r = spawnSync(exe!, [...args, 'true'], { timeout: 5000, stdio: ['ignore', 'ignore', 'pipe'] });
  const said = r.stderr?.toString().trim().split('\n').pop();
  if (r.status === 0) return { ok: true };
  return { ok: false, why: r.error ? `${exe}: ${r.error.message}` : `${exe}: ${said || `exit ${r.status}`}` };
}

let probed: Probe | undefined;

/**
 * Can programs be dropped to another user here (root on Linux, and `setpriv` from util-linux)? Probed once, by
 * running `setpriv … -- true` as nobody.
 */
export function privilegeDrop(): Probe {
  probed ??= probeRoot(setprivArgv(PROBE), 'the lab is not root');
  return probed;
}

/** The notice a report carries when programs keep the lab's user (and so, when that can't be helped). */
export function privilegeDropNotice(): string | undefined {
  const p = privilegeDrop();
  return p.ok
    ? undefined
    : `exec programs run as your user (${p.why}): a client can read the served file and one implementation can touch another's files and processes; grade untrusted code as root or on docker`;
}

/** Ids below this are left to the system and its users; the blocks lie between it and 2^31 (setpriv takes them). */
const FIRST = 1_200_000_000;
const BLOCK = 256;
const BLOCKS = 3_500_000;

/** Every id a lab may give a program, as iptables' owner match reads a range ("FIRST-LAST"). */
export const PROGRAM_IDS = `${FIRST}-${FIRST + BLOCKS * BLOCK - 1}`;

/** uids of /etc/passwd and gids of /etc/group (and each's primary group). */
function usedIds(): Set<number> {
  const used = new Set<number>();
  for (const [file, cols] of [
    ['/etc/passwd', [2, 3]],
    ['/etc/group', [2]],
  ] as const) {
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n')) {
      const f = line.split(':');
      for (const c of cols) if (f[c] !== undefined && /^\d+$/.test(f[c])) used.add(Number(f[c]));
    }
  }
  return used;
}

let pools = 0;

/**
 * A lab's ids: a block of 256 from FIRST, chosen by the lab's PID and this pool's number (so another lab on the
 * machine has another), moved on while any id in it is a system user's or group's. Implementation `n` (in the
 * order they are asked for) gets ids base+2n (server) and base+2n+1 (clients).
 */
export class IdPool {
  private readonly base: number;
  private readonly pairs = new Map<string, IdPair>();

  constructor(pid = process.pid, used = usedIds(), seq = pools++) {
    let block = (pid * 16 + (seq % 16)) % BLOCKS;
    const taken = [...used].filter((u) => u >= FIRST);
    while (taken.some((u) => u >= FIRST + block * BLOCK && u < FIRST + (block + 1) * BLOCK))
      block = (block + 1) % BLOCKS;
    this.base = FIRST + block * BLOCK;
  }

  /** The ids of the implementation `key` (the same key, the same ids). */
  pair(key: string): IdPair {
    const known = this.pairs.get(key);
    if (known) return known;
    const n = this.pairs.size;
    if (2 * n + 1 >= BLOCK) throw new Error(`more than ${BLOCK / 2} implementations in one lab`);
    const id = (i: number): Ids => ({ uid: this.base + i, gid: this.base + i });
    const p = { server: id(2 * n), client: id(2 * n + 1) };
    this.pairs.set(key, p);
    return p;
  }
}

const octal = (m: number) => m.toString(8).padStart(4, '0');

/**
 * Why a user other than the owner (and not of its group) cannot use the folder `dir`: the first folder on its path
 * others cannot cross (o+x), or `dir` itself not readable (o+r, when `read`); undefined when they can.
 */
export function unreadableBy(dir: string, o: { read?: boolean } = { read: true }): string | undefined {
  const mode = (p: string) => statSync(p).mode & 0o777;
  try {
    const need = o.read ? 0o005 : 0o001;
    if ((mode(dir) & need) !== need) return `${dir} is mode ${octal(mode(dir))}`;
    for (let p = dirname(dir); ; p = dirname(p)) {
      if ((mode(p) & 0o001) === 0) return `${p} is mode ${octal(mode(p))}`;
      if (dirname(p) === p) return undefined;
    }
  } catch (e) {
    return `${dir}: ${(e as Error).message}`;
  }
}

let path: { path: string; left: string[] } | undefined;

/**
 * The lab's PATH without the folders a dropped program cannot search (e.g. /root/.pyenv/shims: its `python3` would
 * fail with "Permission denied" where /usr/bin/python3 works), and those left out.
 */
export function othersPath(): { path: string; left: string[] } {
  if (path) return path;
  const keep: string[] = [];
  const left: string[] = [];
  for (const d of (process.env.PATH ?? '').split(':').filter(Boolean))
    if (unreadableBy(d, { read: false }) === undefined) keep.push(d);
    else if (!left.includes(d)) left.push(d);
  path = { path: keep.join(':'), left };
  return path;
}
