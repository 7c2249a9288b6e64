// The folders every user can write (/tmp, /var/tmp, /run/lock, /dev/shm, /dev/mqueue) are where one program could
// leave a file for another — a server the served file for its own client, which then "receives" it without a
// transfer (an adversarial review did exactly that through /tmp). So a program dropped to a user of its own
// (privsep.ts) also gets each of them as an empty tmpfs of its own, in the mount namespace its PID namespace already
// has (`unshare --mount-proc`), and sees again only what it needs, bound back at the same paths: its own folder to
// write ({local}'s folder, for a client), read-only its cwd, the folders its argv and PATH name, and read-write the
// operator's files its environment names (a test's pid file, say). A fixed bash script (no value is ever part of it:
// every path is an argument) does the mounts as root, closes every descriptor but 0–2, then execs setpriv.
import { mkdirSync, realpathSync, statSync } from 'node:fs';
import { dirname, isAbsolute, normalize } from 'node:path';

/** Folders anyone may write in, each hidden behind a tmpfs of the program's own. */
export const SHARED_DIRS = ['/tmp', '/var/tmp', '/run/lock', '/dev/shm', '/dev/mqueue'] as const;

/** Where the script reaches the hidden folders while it binds back what it keeps (root's, 0700, on the host). */
export const JAIL_STAGE = '/run/udplab-jail';

/**
 * $1 stage, $2 N, N read-write paths, then M, M read-only paths, then the cwd, then the command. A path kept that
 * does not exist under the hidden folder is skipped; one that is a file is bound as a file.
 */
const SCRIPT = `set -eu
stage=$1; shift
n=$1; shift; rw=; i=0
while [ "$i" -lt "$n" ]; do rw="$rw$1
"; shift; i=$((i+1)); done
n=$1; shift; ro=; i=0
while [ "$i" -lt "$n" ]; do ro="$ro$1
"; shift; i=$((i+1)); done
cwd=$1; shift
k=0
for d in /tmp /var/tmp /run/lock /dev/shm /dev/mqueue; do
  [ -d "$d" ] || continue
  k=$((k+1)); mkdir -p "$stage/$k"
  mount --rbind "$d" "$stage/$k"
  mount -t tmpfs -o mode=1777,size=16m,nr_inodes=4096,nosuid,nodev udplab-private "$d"
  for how in ro rw; do
    if [ "$how" = rw ]; then list=$rw; else list=$ro; fi
    printf '%s' "$list" | while IFS= read -r p; do
      case "$p" in "$d"/*) ;; *) continue ;; esac
      from="$stage/$k\${p#"$d"}"
      if [ -L "$from" ] || [ -L "$p" ]; then echo "udplab-jail: $p is a symbolic link: refused" >&2; exit 1; fi
      if [ -d "$from" ]; then [ -d "$p" ] || mkdir -p "$p"
      elif [ -f "$from" ]; then [ -e "$p" ] || { mkdir -p "\${p%/*}"; : > "$p"; }
      else continue; fi
      if [ "$how" = ro ]; then mount --bind "$from" "$p"; mount -o remount,bind,ro "$p"
      else mount --bind "$from" "$p"; fi
    done
  done
  umount -l "$stage/$k"
done
cd "$cwd"
for f in /proc/self/fd/*; do
  fd=\${f##*/}
  case "$fd" in 0|1|2|*[!0-9]*) ;; *) eval "exec $fd>&-" 2>/dev/null || true ;; esac
done
exec "$@"
`;

/** What a program keeps of the hidden folders. */
export interface Kept {
  /** folders (or files) it may write: its own output folder, the operator's files its environment names */
  writable: string[];
  /** folders (or files) it may read: its cwd, what its argv and PATH name */
  readable: string[];
}

const under = (p: string) => SHARED_DIRS.some((d) => p.startsWith(`${d}/`));

/**
 * An absolute path under a hidden folder with no symbolic link on it (the script binds it as root: a path through a
 * link, or through /proc, could name anything), or (when it is not there yet) its folder when that is; else
 * undefined.
 */
function existing(p: string): { path: string; dir: boolean } | undefined {
  if (!isAbsolute(p) || p.includes('\n')) return undefined;
  const n = normalize(p).replace(/\/+$/, '');
  if (!under(n)) return undefined;
  const plain = (q: string) => {
    try {
      return realpathSync(q) === q ? { path: q, dir: statSync(q).isDirectory() } : undefined;
    } catch {
      return undefined;
    }
  };
  const found = plain(n);
  if (found) return found;
  const d = dirname(n);
  const folder = under(d) ? plain(d) : undefined;
  return folder?.dir ? folder : undefined;
}

/**
 * What a program started with `argv` in `cwd` and environment `env` keeps: its own folder ({local}'s) writable,
 * files its environment names writable (the operator's: a student cannot set the environment), and read-only its
 * cwd, the folders of what its argv names (a student's manifest writes argv: read-only, so naming a folder under
 * /tmp shows it but lets it write nothing there; /tmp itself is never kept) and its PATH. Shorter paths first.
 */
export function kept(argv: readonly string[], cwd: string, env: Readonly<Record<string, string | undefined>>): Kept {
  const writable = new Set<string>();
  const readable = new Set<string>();
  const local = env.UDPLAB_LOCAL;
  if (local) {
    const e = existing(dirname(local));
    if (e?.dir) writable.add(e.path);
  }
  for (const [k, v] of Object.entries(env)) {
    if (!v || k === 'PATH' || k.startsWith('UDPLAB_')) continue;
    const e = existing(v);
    if (e && !e.dir && e.path === normalize(v)) writable.add(e.path);
  }
  for (const p of [cwd, ...argv, ...(env.PATH ?? '').split(':')]) {
    const e = p ? existing(p) : undefined;
    if (e) readable.add(e.dir ? e.path : dirname(e.path));
  }
  // nothing kept twice, and nothing read-only in or under what the program can write (it could plant links there)
  const inside = (p: string, q: string) => p === q || p.startsWith(`${q}/`);
  for (const r of [...readable]) if ([...writable].some((w) => inside(r, w) || inside(w, r))) readable.delete(r);
  for (const r of [...readable]) if ([...readable].some((q) => q !== r && inside(r, q))) readable.delete(r);
  const order = (s: Set<string>) => [...s].sort((a, b) => a.length - b.length || a.localeCompare(b));
  return { writable: order(writable), readable: order(readable) };
}

/** The argv prefix (after `unshare … --mount-proc`, before setpriv) that gives a program its own shared folders. */
export function jailArgv(k: Kept, cwd: string): string[] {
  mkdirSync(JAIL_STAGE, { recursive: true, mode: 0o700 });
  return [
    // bash, not sh: dash closes only descriptors 0–9 (`exec 251>&-` is a command named 251 there); as root, it
    // reads no startup file (no BASH_ENV, no rc)
    'env',
    '-u',
    'BASH_ENV',
    '-u',
    'ENV',
    'bash',
    '--norc',
    '--noprofile',
    '-c',
    SCRIPT,
    'udplab-jail',
    JAIL_STAGE,
    String(k.writable.length),
    ...k.writable,
    String(k.readable.length),
    ...k.readable,
    cwd,
  ];
}
