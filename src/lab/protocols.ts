// What the lab runs for each protocol: a variant (a protocol with options and a label) maps to the udplab
// server command it needs and the client command of one run. Runtimes only place these commands (on
// loopback, in namespaces, in containers); the protocol knowledge lives here, once.

export const PROTOCOLS = ['ruft', 'naive', 'tftp', 'tcp'] as const;
export type ProtocolName = (typeof PROTOCOLS)[number];

export interface VariantOptions {
  /** ruft: the loudly-labelled plaintext teaching mode. */
  plaintext?: boolean;
  /** ruft: the server's --datagram-size (what downloads are sent in). */
  datagramBytes?: number;
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
}

export interface Variant {
  /** The label in reports: the protocol name unless the scenario gives one. */
  id: string;
  protocol: ProtocolName;
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
  /** udplab arguments; the runtime appends --root, --host and --port. */
  args: string[];
  /** What the server prints once it listens. */
  ready: RegExp;
}

export function serverSpec(v: Variant): ServerSpec {
  const ready = /listening on/;
  switch (v.protocol) {
    case 'ruft': {
      const d = v.options.datagramBytes;
      const size = d === undefined ? [] : ['--datagram-size', String(d)];
      return v.options.plaintext
        ? {
            key: `ruft-plain${d ? `-d${d}` : ''}`,
            transport: 'udp',
            args: ['serve', '--quiet', '--insecure-plaintext', ...size],
            ready,
          }
        : { key: `ruft${d ? `-d${d}` : ''}`, transport: 'udp', args: ['serve', '--quiet', ...size], ready };
    }
    case 'naive': {
      const chunk = v.options.chunkBytes ?? 1024;
      return {
        key: `naive-${chunk}`,
        transport: 'udp',
        args: ['naive-serve', '--quiet', '--chunk', String(chunk)],
        ready,
      };
    }
    case 'tftp':
      // a run's clients (up to 200) all come from one address: the per-source cap must not refuse them
      return { key: 'tftp', transport: 'udp', args: ['tftp-serve', '--quiet', '--max-per-source', '256'], ready };
    case 'tcp':
      return { key: 'tcp', transport: 'tcp', args: ['tcp-serve', '--quiet'], ready };
  }
}

/** udplab arguments of one client run that prints its result as JSON on the last stdout line. */
export function clientArgs(v: Variant, target: string, remote: string, local: string): string[] {
  const o = v.options;
  switch (v.protocol) {
    case 'ruft':
      return [
        'get',
        target,
        remote,
        local,
        '--json',
        '--force',
        ...(o.plaintext ? ['--insecure-plaintext'] : ['--accept-new']),
      ];
    case 'naive':
      return [
        'naive-get',
        target,
        remote,
        local,
        '--json',
        ...(o.bufsizeBytes !== undefined ? ['--bufsize', String(o.bufsizeBytes)] : []),
        ...(o.rcvbufBytes !== undefined ? ['--rcvbuf', String(o.rcvbufBytes)] : []),
        ...(o.stallMs !== undefined ? ['--stall', String(o.stallMs)] : []),
        ...(o.key ? ['--key'] : []),
      ];
    case 'tftp':
      return [
        'tftp-get',
        target,
        remote,
        local,
        '--json',
        '--force',
        ...(o.blksize !== undefined ? ['--blksize', String(o.blksize)] : []),
        ...(o.windowsize !== undefined ? ['--windowsize', String(o.windowsize)] : []),
        ...(o.timeoutMs !== undefined ? ['--timeout', String(o.timeoutMs)] : []),
        ...(o.noOptions ? ['--no-options'] : []),
      ];
    case 'tcp':
      return [
        'tcp-get',
        target,
        remote,
        local,
        '--json',
        '--force',
        ...(o.timeoutMs !== undefined ? ['--timeout', String(o.timeoutMs)] : []),
      ];
  }
}
