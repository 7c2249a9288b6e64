// What every protocol entry of the registry provides (design §8; code review §8 rec. 5): a name, its transport,
// whether the lab may kill and restart it mid-transfer, the options schema of its `protocols:` entries, the
// server it needs, the client argv of one run, and how a client's outcome is read. Runtimes only place these
// commands (on loopback, in namespaces, in containers); the protocol knowledge lives in one file per protocol.
import { z } from 'zod';
import type { RuntimeName } from '../runtimes/types.js';

export interface VariantOptions {
  /** ruft: the loudly-labelled plaintext teaching mode. */
  plaintext?: boolean;
  /** ruft: the server's --datagram-size (what downloads are sent in). */
  datagramBytes?: number;
  /** ruft: the download asks for the background (LEDBAT) controller (`udplab get --background`). */
  background?: boolean;
  /** naive: datagram payload of the server (the seminar: 1024). */
  chunkBytes?: number;
  /** naive: the client's receive buffer (the seminar: 1024). */
  bufsizeBytes?: number;
  /** naive: SO_RCVBUF of the client. */
  rcvbufBytes?: number;
  /** naive: give up after this long without a datagram. */
  stallMs?: number;
  /** naive: ask for the toy public key first ("KEY" → "14"). */
  key?: boolean;
  /** tftp */
  blksize?: number;
  windowsize?: number;
  /** tftp: the retransmission timeout; tcp: how long the client waits without data */
  timeoutMs?: number;
  noOptions?: boolean;
  /** exec: a user's program, started from argv templates (docs/endpoints.md). */
  exec?: ExecSpec;
  /** image: a user's program in a container image of its own (the docker runtime). */
  image?: ImageSpec;
}

/** A user's implementation as a container image (protocol `image`, docker runtime; docs/endpoints.md). */
export interface ImageSpec {
  /** NAME[:TAG] to run; with `build`, the tag the lab's build gets */
  image: string;
  /** absolute folder with a Dockerfile, built with --build-arg BASE=udplab/python:local (`build: .` in a manifest) */
  build?: string;
  transport: 'udp' | 'tcp';
  server: string[];
  client: string[];
  ready: ReadySpec;
  resumable: boolean;
}

/** How the lab knows an exec server is ready (docs/endpoints.md). */
export type ReadySpec = { port: true } | { stdout: string } | { delayMs: number };

/** A user's implementation, as the endpoint contract describes it (docs/endpoints.md). */
export interface ExecSpec {
  /** Absolute working directory of server and client (a scenario's `cwd:` resolved against its folder). */
  cwd: string;
  transport: 'udp' | 'tcp';
  /** argv templates: {bind} {port} {root} for the server, {host} {port} {remote} {local} for the client. */
  server: string[];
  client: string[];
  ready: ReadySpec;
  resumable: boolean;
}

export interface Variant {
  /** The label in reports: the protocol name unless the scenario gives one. */
  id: string;
  protocol: string;
  options: VariantOptions;
  /** A teaching variant whose failure is the lesson: the run passes when the transfer goes wrong. */
  expectFailure: boolean;
}

/** A crash fault: SIGKILL the server or the client once the client holds `atPct` of the file. */
export interface Fault {
  atPct: number;
  kill: 'server' | 'client';
  /** Start it again and resume (`get --resume`); false leaves the transfer failed. */
  restart: boolean;
}

/** What happened to one fault in a run. */
export interface FaultRecord {
  at_pct: number;
  kill: 'server' | 'client';
  /** Progress when the process died (the journal can lag the data slightly). */
  killed_at_pct: number;
  /** Was a file under the final name before the transfer was complete? Must be false. */
  promoted_early: boolean;
  restarted: boolean;
}

export interface ServerSpec {
  /** Variants with the same key share one server. */
  key: string;
  transport: 'udp' | 'tcp';
  /** udplab arguments; the runtime appends --root, --host and --port (empty for exec). */
  args: string[];
  /** What the server prints once it listens. */
  ready: RegExp;
  /** exec: the user's program instead of udplab (args is then empty). */
  exec?: ExecSpec;
}

/** What parsing a `protocols:` entry may need: the scenario file (for errors and relative paths), durations. */
export interface OptionsContext {
  file: string;
  ms: (v: number | string) => number;
}

/**
 * How a client's outcome is read: `json` — a udplab client's --json result on its last stdout line (its exit code
 * and `udplab: E_…:` line when it fails); `file` — the lab's own check of the file on disk (SHA-256, timed by the
 * lab), never the program's word.
 */
export type OutcomeKind = 'json' | 'file';

export interface ProtocolEntry<S extends z.ZodType = z.ZodType> {
  name: string;
  /** May be written as a bare name in `protocols:` (`- ruft`). */
  bare: boolean;
  /** The schema of its object form `{ protocol: NAME, … }` (strict; carries `label` and `expect_failure`). */
  schema: S;
  /** The entry's options in the lab's units. */
  options(input: z.infer<S>, ctx: OptionsContext): VariantOptions;
  transport(v: Variant): 'udp' | 'tcp';
  /** May the lab kill it mid-transfer and expect the transfer to resume (`faults:` with restart)? */
  resumable(v: Variant): boolean;
  server(v: Variant): ServerSpec;
  /** The argv of one client run: udplab arguments (`json`), or the program's argv with placeholders filled (`file`). */
  client(v: Variant, target: string, remote: string, local: string): string[];
  outcome: OutcomeKind;
  /** Why it cannot run over IPv6, when it cannot. */
  ipv4Only?: string;
  /** The runtimes that can place it (all when absent). */
  runtimes?: RuntimeName[];
}

/** Fields every object entry of `protocols:` has. */
export const common = {
  label: z
    .string()
    .regex(/^[a-z0-9][a-z0-9._-]*$/i)
    .optional(),
  expect_failure: z.boolean().optional(),
};
export const intIn = (min: number, max: number) => z.number().int().min(min).max(max);

/** Keeps an entry's schema type while storing it in the registry's list. */
export function defineProtocol<S extends z.ZodType>(e: ProtocolEntry<S>): ProtocolEntry {
  return e as unknown as ProtocolEntry;
}
