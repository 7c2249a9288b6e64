// Host and port as users write them, and addresses as the kernel reports them.
// - `[v6]:port` (RFC 3986 §3.2.2) is the only way to give an IPv6 address a port; a bare IPv6 address (`::1`,
//   `fe80::1%eth0`) takes the default port. A bare `::1:4455` is itself an IPv6 address (::0.1.0x4455), so
//   whether 4455 is meant as a port cannot be told: it is refused with one line naming both readings.
// - An address is compared in canonical form (lowercase, shortest: `0:0::1` → `::1`, `::FFFF:127.0.0.1` →
//   `::ffff:127.0.0.1`), the form `rinfo.address` has; `::ffff:a.b.c.d` stays mapped (a dual-stack socket
//   reports IPv4 peers so, a udp4 socket never does, and each side compares within one socket).
import { isIP, SocketAddress } from 'node:net';

/** `host:port`, an IPv6 address in brackets: `[::1]:4455`. */
export function formatHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** The canonical text of an IP address, as `rinfo.address` gives it; anything else unchanged. */
export function canonicalAddress(address: string): string {
  const family = isIP(address);
  if (family === 0) return address;
  try {
    return new SocketAddress({ address, family: family === 6 ? 'ipv6' : 'ipv4' }).address;
  } catch {
    return address.toLowerCase(); // a scope id (fe80::1%eth0) SocketAddress does not take
  }
}

/** The wildcard address of `address`'s family: where a client socket that sends to it binds. */
export function wildcardFor(address: string): '::' | '0.0.0.0' {
  return isIP(address) === 6 ? '::' : '0.0.0.0';
}

export type HostPort = { host: string; port: number } | { error: string };

/**
 * `HOST`, `HOST:PORT`, `[IPV6]`, `[IPV6]:PORT` or a bare IPV6 (default port). Ports 1–65535 (0 too with
 * `allowZero`, for listening). Returns a one-line error instead of throwing.
 */
export function splitHostPort(s: string, defaultPort: number, allowZero = false): HostPort {
  const usage = `"${s}" is not HOST, HOST:PORT or [IPV6]:PORT`;
  let host: string;
  let portText: string | undefined;
  const bracket = /^\[([^\][]*)\](?::([^:]*))?$/.exec(s);
  if (bracket) {
    host = bracket[1]!;
    portText = bracket[2];
    if (isIP(host.replace(/%[^%]+$/, '')) !== 6) return { error: `"${s}": [${host}] is not an IPv6 address` };
  } else if ((s.match(/:/g) ?? []).length >= 2) {
    // a bare IPv6 address: allowed without a port, refused when its last group could be one
    host = s;
    const last = s.lastIndexOf(':');
    const head = s.slice(0, last);
    const tail = s.slice(last + 1);
    const whole = isIP(s.replace(/%[^%]+$/, '')) === 6;
    if (/^\d{1,5}$/.test(tail) && isIP(head.replace(/%[^%]+$/, '')) === 6)
      return {
        error: whole
          ? `"${s}" is ambiguous: write [${head}]:${tail} for port ${tail} on ${head}, or [${s}] for the address ${s}`
          : `"${s}": an IPv6 address takes its port in brackets: write [${head}]:${tail}`,
      };
    if (!whole) return { error: usage };
  } else {
    const m = /^([^:[\]\s]+)(?::([^:]*))?$/.exec(s);
    if (!m) return { error: usage };
    host = m[1]!;
    portText = m[2];
  }
  if (host === '') return { error: usage };
  if (portText === undefined) return { host, port: defaultPort };
  const port = Number(portText);
  if (!/^\d{1,5}$/.test(portText) || port < (allowZero ? 0 : 1) || port > 65535)
    return { error: `port "${portText}" is out of range ${allowZero ? 0 : 1}–65535` };
  return { host, port };
}
