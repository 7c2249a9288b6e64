// The baselines as commands: `naive-serve/-get` (the seminar report's protocol), `tftp-serve/-get/-put`
// (RFC 1350 + options) and `tcp-serve/-get` (a plain TCP copy). Servers print one "listening on HOST:PORT,"
// line on stdout (the lab waits for it) and bind 127.0.0.1 unless --host says otherwise (none of them has any
// security); clients print a summary, or the same JSON as `udplab get --json`.
import { statSync } from 'node:fs';
import { basename } from 'node:path';
import type { Command } from 'commander';
import { naiveGet, naiveServe, tcpGet, tcpServe, tftpGet, tftpPut, tftpServe } from '../../baselines/index.js';
import { formatHostPort, resolveHost, type TransferResult } from '../../transport/index.js';
import type { Register } from '../index.js';
import { UsageError } from '../usage-error.js';
import { parseHostPort } from './transfer.js';

function intFlag(name: string, v: string | undefined, min: number, max: number): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!/^\d+$/.test(v) || n < min || n > max) throw new UsageError(`--${name} expects ${min}–${max}, got "${v}"`);
  return n;
}

/** --root must name a directory: said once at start, not as an access violation on every request. */
function rootDir(root: string): string {
  let ok = false;
  try {
    ok = statSync(root).isDirectory();
  } catch {
    /* missing */
  }
  if (!ok) throw new UsageError(`--root ${root}: no such directory`);
  return root;
}

/** HOST[:PORT] or [IPV6]:PORT resolved once (the OS's first address; only IPv4 ones for the naive program). */
async function target(s: string, defaultPort: number, family?: 4): Promise<{ host: string; port: number }> {
  const t = parseHostPort(s, false, defaultPort);
  if (family === 4 && t.host.includes(':'))
    throw new UsageError(`naive-get is the seminar's IPv4-only program: "${s}" is an IPv6 address`);
  return { host: await resolveHost(t.host, family), port: t.port };
}

function print(r: TransferResult, json: boolean | undefined, extra = ''): void {
  if (json) return void console.log(JSON.stringify(r));
  console.log(
    `${r.op} ${r.remote}: ${r.bytes} bytes in ${(r.duration_ms / 1000).toFixed(2)} s (${(r.goodput_bps / 1e6).toFixed(2)} Mbit/s)${extra}`,
  );
  console.log(`sha256 ${r.sha256}  security: ${r.security}`);
}

function untilSignal(): Promise<void> {
  return new Promise<void>((ok) => {
    process.once('SIGINT', () => ok());
    process.once('SIGTERM', () => ok());
  });
}

function bindError(proto: string, port: string, host: string) {
  return (e: NodeJS.ErrnoException) => {
    if (e.code === 'EADDRINUSE') throw new UsageError(`${proto} port ${port} on ${host} is already in use`);
    if (e.code === 'EADDRNOTAVAIL') throw new UsageError(`cannot bind ${host}: no such local address`);
    throw e;
  };
}

interface ServeFlags {
  root: string;
  host: string;
  port: string;
  quiet?: boolean;
}

export const register: Register = (program: Command, setExit) => {
  program
    .command('naive-serve')
    .description("TEACHING: the seminar report's UDP server (no acknowledgements; answers the last address it heard)")
    .requiredOption('--root <dir>', 'directory to serve')
    .option('--host <addr>', 'IPv4 address to bind (the seminar program is IPv4 only)', '127.0.0.1')
    .option('--port <n>', 'UDP port', '4455')
    .option('--chunk <bytes>', 'datagram payload (the seminar: 1024)', '1024')
    .option('--quiet', 'log nothing')
    .action(async (f: ServeFlags & { chunk: string }) => {
      const log = f.quiet ? () => {} : (l: string) => console.error(l);
      if (f.host.includes(':'))
        throw new UsageError(`naive-serve is the seminar's IPv4-only program: --host ${f.host} is an IPv6 address`);
      const s = await naiveServe({
        root: rootDir(f.root),
        host: f.host,
        port: intFlag('port', f.port, 0, 65535)!,
        chunkBytes: intFlag('chunk', f.chunk, 1, 65507)!,
        log,
      }).catch(bindError('UDP', f.port, f.host));
      console.log(
        `udplab naive-serve: listening on ${formatHostPort(s.address, s.port)}, root ${f.root}, security: NONE (teaching)`,
      );
      await Promise.race([untilSignal(), s.closed]);
      await s.close();
      setExit(0);
    });

  program
    .command('naive-get')
    .description("TEACHING: the seminar report's client — writes whatever arrives, in arrival order, under LOCAL")
    .argument('<host[:port]>', 'server: HOST or HOST:PORT, IPv4 only (the seminar program)')
    .argument('<remote>', 'file name')
    .argument('[local]', 'where to write (default: the remote name)')
    .option('--bufsize <bytes>', 'receive buffer; longer datagrams are cut (the seminar: 1024)', '1024')
    .option('--rcvbuf <bytes>', 'SO_RCVBUF (default: the OS default, as in the seminar)')
    .option('--stall <ms>', 'give up after this long without a datagram (the seminar waits forever)', '3000')
    .option('--key', 'ask for the toy public key first ("KEY")')
    .option('--json', 'print JSON')
    .action(
      async (
        t: string,
        remote: string,
        local: string | undefined,
        f: { bufsize: string; rcvbuf?: string; stall: string; key?: boolean; json?: boolean },
      ) => {
        const r = await naiveGet(
          {
            ...(await target(t, 4455, 4)),
            bufsizeBytes: intFlag('bufsize', f.bufsize, 1, 65535)!,
            ...(f.rcvbuf !== undefined && { rcvbufBytes: intFlag('rcvbuf', f.rcvbuf, 1024, 1 << 30)! }),
            stallMs: intFlag('stall', f.stall, 1, 3_600_000)!,
            key: f.key ?? false,
          },
          remote,
          local ?? basename(remote),
        );
        print(r, f.json, `, ${r.datagrams} datagrams${r.truncated_datagrams ? `, ${r.truncated_datagrams} cut` : ''}`);
        setExit(0);
      },
    );

  program
    .command('tftp-serve')
    .description('serve a directory over TFTP (RFC 1350 with blksize, timeout, tsize and windowsize options)')
    .requiredOption('--root <dir>', 'directory to serve (nothing outside it is read or written)')
    .option(
      '--host <addr>',
      'address to bind (::1 for IPv6 loopback; :: every interface, IPv6 and IPv4; 0.0.0.0 every IPv4 one)',
      '127.0.0.1',
    )
    .option('--port <n>', 'UDP port', '6969')
    .option('--writable', 'accept write requests (new files only)')
    .option('--max-blksize <n>', 'largest blksize granted', '65464')
    .option('--max-windowsize <n>', 'largest windowsize granted', '64')
    .option('--timeout <ms>', 'retransmission timeout unless the client sets one', '1000')
    .option('--max-per-source <n>', 'transfers at once from one IP address (more get ERROR 0)', '8')
    .option('--quiet', 'log nothing')
    .action(
      async (
        f: ServeFlags & {
          writable?: boolean;
          maxBlksize: string;
          maxWindowsize: string;
          timeout: string;
          maxPerSource: string;
        },
      ) => {
        const log = f.quiet ? () => {} : (l: string) => console.error(l);
        const s = await tftpServe({
          root: rootDir(f.root),
          host: f.host,
          port: intFlag('port', f.port, 0, 65535)!,
          writable: f.writable ?? false,
          maxBlksize: intFlag('max-blksize', f.maxBlksize, 8, 65464)!,
          maxWindowsize: intFlag('max-windowsize', f.maxWindowsize, 1, 65535)!,
          timeoutMs: intFlag('timeout', f.timeout, 10, 255_000)!,
          maxPerSource: intFlag('max-per-source', f.maxPerSource, 1, 256)!,
          log,
        }).catch(bindError('UDP', f.port, f.host));
        console.log(
          `udplab tftp-serve: listening on ${formatHostPort(s.address, s.port)}, root ${f.root}${f.writable ? ' (writable)' : ''}, security: NONE (TFTP)`,
        );
        await untilSignal();
        await s.close();
        setExit(0);
      },
    );

  const tftpFlags = (c: Command) =>
    c
      .option('--blksize <n>', 'ask for this block size (RFC 2348)')
      .option('--windowsize <n>', 'ask for this window (RFC 7440)')
      .option('--timeout <ms>', 'retransmission timeout (sent as the timeout option when whole seconds)', '1000')
      .option('--retries <n>', 'consecutive timeouts before giving up', '6')
      .option('--netascii', 'netascii mode (line ends converted) instead of octet')
      .option('--no-tsize', 'do not ask for / announce the size')
      .option('--no-options', 'plain RFC 1350: send no options')
      .option('--json', 'print JSON');
  type TftpFlags = {
    blksize?: string;
    windowsize?: string;
    timeout: string;
    retries: string;
    netascii?: boolean;
    tsize: boolean;
    options: boolean;
    json?: boolean;
    force?: boolean;
  };
  const tftpOpts = async (t: string, f: TftpFlags) => ({
    ...(await target(t, 69)),
    mode: f.netascii ? ('netascii' as const) : ('octet' as const),
    ...(f.blksize !== undefined && { blksize: intFlag('blksize', f.blksize, 8, 65464)! }),
    ...(f.windowsize !== undefined && { windowsize: intFlag('windowsize', f.windowsize, 1, 65535)! }),
    timeoutMs: intFlag('timeout', f.timeout, 10, 255_000)!,
    retries: intFlag('retries', f.retries, 0, 1000)!,
    tsize: f.tsize,
    noOptions: !f.options,
    force: f.force ?? false,
  });
  const negotiated = (r: Awaited<ReturnType<typeof tftpGet>>) =>
    `, blksize ${r.negotiated.blksize}, windowsize ${r.negotiated.windowsize}${r.negotiated.oack ? '' : ' (server sent no OACK)'}`;

  tftpFlags(
    program
      .command('tftp-get')
      .description('download REMOTE from a TFTP server')
      .argument('<host[:port]>', 'server: HOST, HOST:PORT or [IPV6]:PORT (default port 69)')
      .argument('<remote>', 'file name on the server')
      .argument('[local]', 'where to write (default: the remote name)')
      .option('--force', 'replace LOCAL if it exists'),
  ).action(async (t: string, remote: string, local: string | undefined, f: TftpFlags) => {
    const r = await tftpGet(await tftpOpts(t, f), remote, local ?? basename(remote));
    print(r, f.json, negotiated(r));
    setExit(0);
  });

  tftpFlags(
    program
      .command('tftp-put')
      .description('upload LOCAL to a TFTP server')
      .argument('<local>', 'file to send')
      .argument('<host[:port]>', 'server: HOST, HOST:PORT or [IPV6]:PORT (default port 69)')
      .argument('[remote]', 'file name on the server (default: the local name)'),
  ).action(async (local: string, t: string, remote: string | undefined, f: TftpFlags) => {
    const r = await tftpPut(await tftpOpts(t, f), local, remote ?? basename(local));
    print(r, f.json, negotiated(r));
    setExit(0);
  });

  program
    .command('tcp-serve')
    .description('serve a directory over plain TCP (the reference to compare with)')
    .requiredOption('--root <dir>', 'directory to serve')
    .option(
      '--host <addr>',
      'address to bind (::1 for IPv6 loopback; :: every interface, IPv6 and IPv4; 0.0.0.0 every IPv4 one)',
      '127.0.0.1',
    )
    .option('--port <n>', 'TCP port', '4457')
    .option('--quiet', 'log nothing')
    .action(async (f: ServeFlags) => {
      const log = f.quiet ? () => {} : (l: string) => console.error(l);
      const s = await tcpServe({
        root: rootDir(f.root),
        host: f.host,
        port: intFlag('port', f.port, 0, 65535)!,
        log,
      }).catch(bindError('TCP', f.port, f.host));
      console.log(
        `udplab tcp-serve: listening on ${formatHostPort(s.address, s.port)}, root ${f.root}, security: NONE (TCP)`,
      );
      await untilSignal();
      await s.close();
      setExit(0);
    });

  program
    .command('tcp-get')
    .description('download REMOTE from `udplab tcp-serve`')
    .argument('<host[:port]>', 'server: HOST, HOST:PORT or [IPV6]:PORT (default port 4457)')
    .argument('<remote>', 'file name')
    .argument('[local]', 'where to write (default: the remote name)')
    .option('--force', 'replace LOCAL if it exists')
    .option('--timeout <ms>', 'give up after this long without data (TCP itself retries for ~15 min)', '30000')
    .option('--json', 'print JSON')
    .action(
      async (
        t: string,
        remote: string,
        local: string | undefined,
        f: { force?: boolean; json?: boolean; timeout: string },
      ) => {
        const r = await tcpGet(
          {
            ...(await target(t, 4457)),
            force: f.force ?? false,
            timeoutMs: intFlag('timeout', f.timeout, 100, 3_600_000)!,
          },
          remote,
          local ?? basename(remote),
        );
        print(r, f.json);
        setExit(0);
      },
    );
};
