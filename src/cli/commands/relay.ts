// `udplab relay`: the userspace impairment relay as a process (the lab's fallback shaper).
import type { Command } from 'commander';
import { type Blackout, parseNetem } from '../../impair/index.js';
import { parseTamper, startRelay } from '../../transport/index.js';
import type { Register } from '../index.js';
import { UsageError } from '../usage-error.js';
import { parseHostPort } from './transfer.js';

interface RelayFlags {
  to: string;
  listen: string;
  up: string;
  down: string;
  netem?: string;
  seed: string;
  tamper?: string;
  mtu?: string;
  linkMtu: string;
  rcvbuf?: string;
  reportEvery: string;
  blackout: string[];
  blackoutFrom: string;
  pinPort?: boolean;
}

export const register: Register = (program: Command, setExit) => {
  program
    .command('relay')
    .description('forward UDP to a server through netem-style impairments applied in user space')
    .requiredOption('--to <host:port>', 'where to forward (the server): HOST:PORT or [IPV6]:PORT')
    .option('--listen <[host:]port>', 'where clients send: PORT, HOST:PORT or [IPV6]:PORT', '127.0.0.1:4456')
    .option('--up <netem>', 'impairment client → server', '')
    .option('--down <netem>', 'impairment server → client', '')
    .option('--netem <netem>', 'the same impairment both ways')
    .option('--seed <n>', 'PRNG seed', '1')
    .option('--mtu <bytes>', 'emulate IPv4 fragmentation at this MTU (each fragment lost on its own)')
    .option(
      '--link-mtu <bytes|none>',
      "without --mtu: drop datagrams whose IP packet exceeds the emulated link's MTU, as a 1500-byte hop drops " +
        'the unfragmented (DF) datagrams endpoints on loopback send (none: no limit)',
      '1500',
    )
    .option('--rcvbuf <bytes>', "the relay sockets' receive buffer (default: 4 MiB asked of the kernel)")
    .option('--tamper <spec>', 'hostile stage, e.g. "after 10 flip 5% truncate 2% replay 5% reorder 5%"')
    .option(
      '--blackout <start:duration>',
      'drop everything both ways for DURATION ms from START ms, e.g. 1000:3000 (repeatable)',
      (v: string, acc: string[]) => [...acc, v],
      [] as string[],
    )
    .option(
      '--blackout-from <origin>',
      "blackouts' clock: start (the relay's) or first-datagram (a client's first)",
      'start',
    )
    .option('--pin-port', "forward to a client only what comes from --to's own port (not another port of its host)")
    .option('--report-every <ms>', 'print a JSON report line every N ms (0: only at exit)', '0')
    .action(async (f: RelayFlags) => {
      const parse = (name: string, v: string) => {
        try {
          return parseNetem(v);
        } catch (e) {
          throw new UsageError(`--${name}: ${(e as Error).message}`);
        }
      };
      const to = parseHostPort(f.to);
      // a bare number is a port on 127.0.0.1; else HOST:PORT or [IPV6]:PORT (port 0: any free one)
      const listen = /^\d+$/.test(f.listen)
        ? parseHostPort(`127.0.0.1:${f.listen}`, true)
        : parseHostPort(f.listen, true, 4456);
      const up = parse(f.netem ? 'netem' : 'up', f.netem ?? f.up);
      const down = parse(f.netem ? 'netem' : 'down', f.netem ?? f.down);
      const relay = await startRelay({
        listenHost: listen.host,
        listenPort: listen.port,
        targetHost: to.host,
        targetPort: to.port,
        up,
        down,
        seed: Number(f.seed),
        blackouts: f.blackout.map(blackoutFlag),
        blackoutsFrom: blackoutFromFlag(f.blackoutFrom),
        ...(f.pinPort && { pinServerPort: true }),
        ...(f.tamper !== undefined && { tamper: tamperFlag(f.tamper) }),
        ...(f.mtu !== undefined && { mtu: mtuFlag(f.mtu) }),
        linkMtu: f.linkMtu === 'none' ? 0 : mtuFlag(f.linkMtu, '--link-mtu'),
        ...(f.rcvbuf !== undefined && { recvBufferBytes: rcvbufFlag(f.rcvbuf) }),
      });
      console.log(
        JSON.stringify({
          event: 'listening',
          address: relay.address,
          port: relay.port,
          pid: process.pid,
          ...relay.report(),
        }),
      );
      const every = Number(f.reportEvery);
      const timer = every > 0 ? setInterval(() => console.log(JSON.stringify(relay.report())), every) : undefined;
      await new Promise<void>((ok) => {
        process.once('SIGINT', () => ok());
        process.once('SIGTERM', () => ok());
      });
      if (timer) clearInterval(timer);
      console.log(JSON.stringify({ event: 'closed', ...relay.report() }));
      await relay.close();
      setExit(0);
    });
};

function blackoutFlag(v: string): Blackout {
  const m = /^(\d+):(\d+)$/.exec(v);
  if (!m) throw new UsageError(`--blackout expects START_MS:DURATION_MS, e.g. 1000:3000, got "${v}"`);
  return { startMs: Number(m[1]), durationMs: Number(m[2]) };
}

function blackoutFromFlag(v: string): 'start' | 'first-datagram' {
  if (v !== 'start' && v !== 'first-datagram')
    throw new UsageError(`--blackout-from expects start or first-datagram, got "${v}"`);
  return v;
}

function mtuFlag(v: string, flag = '--mtu'): number {
  const n = Number(v);
  if (!/^\d+$/.test(v) || n < 576 || n > 65535)
    throw new UsageError(`${flag} expects 576–65535${flag === '--mtu' ? '' : ' or none'}, got "${v}"`);
  return n;
}

function tamperFlag(v: string) {
  try {
    return parseTamper(v);
  } catch (e) {
    throw new UsageError(`--tamper: ${(e as Error).message}`);
  }
}

function rcvbufFlag(v: string): number {
  const n = Number(v);
  if (!/^\d+$/.test(v) || n < 256 || n > 1 << 30)
    throw new UsageError(`--rcvbuf expects 256–1073741824 bytes, got "${v}"`);
  return n;
}
