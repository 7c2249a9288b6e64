// The userspace relay as a shaper: `udplab relay` between client and server, one process shaping both directions
// with the same impairment model netem is given (src/impair), seeded, optionally fragmenting at an MTU and
// blacking the path out in windows from the run's first datagram. Written once here: its argv, starting it on a
// Host (a process on loopback, in a namespace, or in a container through `docker exec`) and waiting for its
// `listening` line, its read-back, and its counters (the JSON line it prints when it closes). A runtime that places
// the relay otherwise (a container of its own: docker-image.ts) uses the argv, read-back and counters.
import type { ChildProcess } from 'node:child_process';
import { type Blackout, type Netem, printNetem } from '../../impair/index.js';
import { firstLine } from '../process.js';
import { type Host, place } from '../runtimes/host.js';
import { blackoutReadback } from './types.js';

export interface RelayRequest {
  up: Netem;
  down: Netem;
  seed: number;
  /** emulate IP fragmentation at this MTU */
  mtu?: number | undefined;
  /** windows in which everything is dropped both ways, from the run's first datagram */
  blackouts?: readonly Blackout[] | undefined;
  /** only the server's own port may answer a client (users' programs: `--pin-port`) */
  pinPort?: boolean | undefined;
}

/** The relay's `listening` line. */
export interface RelayListening {
  address: string;
  port: number;
  up: string;
  down: string;
  seed: number;
  /** the relay's PID where it runs (in a container: the container's own) */
  pid?: number;
}

/** The relay's argv for blackouts: one `--blackout START:DURATION` each, timed from the run's first datagram. */
export function relayBlackoutArgs(blackouts: readonly Blackout[] | undefined): string[] {
  if (!blackouts?.length) return [];
  return [
    ...blackouts.flatMap((b) => ['--blackout', `${Math.round(b.startMs)}:${Math.round(b.durationMs)}`]),
    '--blackout-from',
    'first-datagram',
  ];
}

/** `relay --to TO --listen LISTEN --up … --down … --seed N [--mtu M] [--blackout …]`: udplab's arguments. */
export function relayArgs(r: RelayRequest, to: string, listen: string): string[] {
  return [
    'relay',
    '--to',
    to,
    '--listen',
    listen,
    '--up',
    printNetem(r.up),
    '--down',
    printNetem(r.down),
    '--seed',
    String(r.seed),
    ...(r.mtu ? ['--mtu', String(r.mtu)] : []),
    ...relayBlackoutArgs(r.blackouts),
    ...(r.pinPort ? ['--pin-port'] : []),
  ];
}

/** The read-back: what the relay says it applies, e.g. `userspace relay: up "loss 2%" down "…" seed 7, …`. */
export function relayReadback(what: string, j: RelayListening, r: RelayRequest, path?: string): string {
  const mtu = r.mtu ? `, IP fragmentation emulated at MTU ${r.mtu}` : '';
  return `${what}: up "${j.up}" down "${j.down}" seed ${j.seed}${mtu}${blackoutReadback(r.blackouts)}${path ? `, ${path}` : ''}`;
}

/** The relay's counters: the JSON of its last `closed` line, undefined when it printed none. */
export function relayCounters(lines: readonly string[]): unknown {
  const last = lines.filter((l) => l.includes('"closed"')).pop();
  return last ? JSON.parse(last) : undefined;
}

/** A relay running on a host; `stop()` ends it (SIGTERM, then SIGKILL after 3 s) and returns its counters. */
export interface RunningRelay {
  listening: RelayListening;
  /** The process this machine started for it (the relay itself, or `docker exec`): a teardown's leftovers name it. */
  child: ChildProcess;
  /** Still running (a relay that died under the run shaped only part of it). */
  alive(): boolean;
  stop(): Promise<unknown>;
}

/**
 * Starts `udplab relay` on HOST (`udplab` is the argv that runs udplab there) and waits for its `listening` line.
 * The relay is placed with `place` (../runtimes/host.ts), so it is signalled by its own PID on that host: a relay
 * inside a container stops too, not only the `docker exec` that started it.
 */
export async function startRelay(
  host: Host,
  udplab: string[],
  r: RelayRequest,
  where: { to: string; listen: string },
  env?: Record<string, string>,
): Promise<RunningRelay> {
  const relay = place(host, [...udplab, ...relayArgs(r, where.to, where.listen)], { ...(env && { env }) });
  const lines: string[] = [];
  relay.onLine((l) => lines.push(l));
  let line: string;
  try {
    line = await firstLine(relay.child, /"listening"/, `udplab relay (${host.name})`);
  } catch (e) {
    await relay.stop('SIGKILL');
    throw e;
  }
  return {
    listening: JSON.parse(line) as RelayListening,
    child: relay.child,
    alive: () => relay.alive(),
    async stop() {
      await relay.stop();
      let timer: NodeJS.Timeout | undefined;
      // its stdout closed: every line it printed (the `closed` one last) has been read
      await Promise.race([relay.exited, new Promise((ok) => (timer = setTimeout(ok, 1000)))]);
      clearTimeout(timer); // else it holds the process for a second after the lab is gone
      return relayCounters(lines);
    },
  };
}
