// Datagram sizes above 1,472 bytes that a path may carry, from the local route's MTU to the peer (Linux, read from
// /proc and /sys: nothing is spawned). Why it is bounded here: Node cannot set IP_MTU_DISCOVER, and Linux's default
// (IP_PMTUDISC_WANT) fragments a datagram larger than the outgoing interface's MTU locally, so a probe above that
// MTU would "succeed" as IP fragments and every later packet would be fragmented (one lost fragment loses the
// datagram). So the core (pmtu-search.ts) is offered sizes above 1,472 only up to the route's MTU minus the IP and
// UDP headers (28 bytes over IPv4, 48 over IPv6), and only where that MTU is known for the whole path:
// - the peer is this machine (a loopback address or one of its own): /sys/class/net/lo/mtu;
// - the peer is on a link of its own (a route without a gateway, longest prefix, lowest metric, in /proc/net/route or
//   /proc/net/ipv6_route): /sys/class/net/IF/mtu, and the route's MTU column of /proc/net/route when set (it shows
//   the route's advmss + 40, what `ip route … advmss` pins);
// - a link-local IPv6 peer (fe80::/10): the interface its scope names (`fe80::1%eth1`), none without a scope;
// - beyond a gateway the next hops' MTU is unknown (a router with a smaller MTU drops the probe and sends ICMP, after
//   which the kernel fragments locally): no larger sizes, as for an unknown route, or off Linux.
// Only the main table of /proc/net/route is read (policy routing is not seen). UDPLAB_LINK_MTU (576–65535), set by
// the lab's local runtime for processes behind its relay, stands for the interface MTU of every path: the relay
// emulates that link on loopback.
import { readdirSync, readFileSync } from 'node:fs';
import { isIPv4, isIPv6 } from 'node:net';
import { endianness, networkInterfaces } from 'node:os';

/** The largest datagram offered on a loopback-sized MTU (measured: docs/performance.md, "Datagrams above 1,472"). */
export const LARGEST_PROBE_BYTES = 32_000;
/** A 9,000-byte jumbo frame over IPv4, tried after the largest when the route carries it. */
export const JUMBO_PROBE_BYTES = 8_972;
/** The default probes stop here (a 1,500-byte Ethernet MTU over IPv4). */
export const ETHERNET_PROBE_BYTES = 1_472;
/** UDP's largest payload over IPv4. */
export const MAX_UDP_PAYLOAD = 65_507;

const RTF_UP = 0x1;
const RTF_GATEWAY = 0x2;
const RTF_REJECT = 0x200;
const RTF_LOCAL = 0x80000000;

export interface PathMtuSources {
  /** default /proc/net/route */
  route4?: string;
  /** default /proc/net/ipv6_route */
  route6?: string;
  /** default /sys/class/net */
  sysClassNet?: string;
  /** this machine's own addresses (default: os.networkInterfaces()) */
  localAddresses?: () => string[];
  /** default process.env.UDPLAB_LINK_MTU */
  linkMtu?: string | undefined;
}

export interface RouteMtu {
  /** the MTU of the interface the route leaves by (or the route's own, when smaller) */
  mtu: number;
  iface: string;
  /** the peer is this machine, or on a link of its own (no gateway): the MTU holds for the whole path */
  direct: boolean;
  family: 4 | 6;
}

export interface Route4 {
  iface: string;
  dest: number;
  mask: number;
  prefix: number;
  gateway: number;
  flags: number;
  metric: number;
  /** the MTU column (advmss + 40 when the route pins one; 0: not set) */
  mtu: number;
}

export interface Route6 {
  iface: string;
  dest: bigint;
  prefix: number;
  nextHop: bigint;
  flags: number;
  metric: number;
}

/** /proc/net/route's rows (addresses are hex in host order: little-endian on x86 and arm), as numbers in network order. */
export function parseProcRoute(text: string): Route4[] {
  const out: Route4[] = [];
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 11) continue;
    const hex = (s: string) => Number.parseInt(s, 16);
    const [iface, dest, gateway, flags, , , metric, mask, mtu] = f as [string, ...string[]];
    const m = hostOrder(hex(mask!));
    out.push({
      iface,
      dest: hostOrder(hex(dest!)),
      mask: m,
      prefix: popcount(m),
      gateway: hostOrder(hex(gateway!)),
      flags: hex(flags!),
      metric: Number(metric),
      mtu: Number(mtu),
    });
  }
  return out.filter((r) => Number.isFinite(r.dest) && Number.isFinite(r.mask) && Number.isFinite(r.flags));
}

/** /proc/net/ipv6_route's rows: dest, prefix, src, src prefix, next hop, metric, refcnt, use, flags, device. */
export function parseIpv6Route(text: string): Route6[] {
  const out: Route6[] = [];
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length < 10 || !/^[0-9a-f]{32}$/i.test(f[0]!)) continue;
    out.push({
      iface: f[9]!,
      dest: BigInt(`0x${f[0]}`),
      prefix: Number.parseInt(f[1]!, 16),
      nextHop: BigInt(`0x${f[4]}`),
      metric: Number.parseInt(f[5]!, 16),
      flags: Number.parseInt(f[8]!, 16) >>> 0,
    });
  }
  return out;
}

/** The local route's MTU to `address`, or undefined when it cannot be read. */
export function routeMtu(address: string, src: PathMtuSources = {}): RouteMtu | undefined {
  const sys = src.sysClassNet ?? '/sys/class/net';
  const ifMtu = (iface: string) => readNumber(`${sys}/${iface}/mtu`);
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  const scope = /%(.+)$/.exec(address)?.[1];
  const addr = mapped ? mapped[1]! : address.replace(/%.*$/, '');
  const family = isIPv4(addr) ? 4 : isIPv6(addr) ? 6 : 0;
  if (family === 0) return undefined;
  const link = src.linkMtu ?? process.env.UDPLAB_LINK_MTU;
  if (link !== undefined && link !== '') {
    const n = Number(link);
    if (/^\d+$/.test(link) && n >= 576 && n <= 65_535)
      return { mtu: n, iface: 'UDPLAB_LINK_MTU', direct: true, family };
    return undefined;
  }
  const own = (src.localAddresses ?? ownAddresses)();
  if (isLoopback(addr, family) || own.includes(addr)) {
    const mtu = ifMtu('lo');
    return mtu === undefined ? undefined : { mtu, iface: 'lo', direct: true, family };
  }
  if (family === 4) {
    const text = readText(src.route4 ?? '/proc/net/route');
    if (text === undefined) return undefined;
    const a = ipv4Number(addr);
    const best = parseProcRoute(text)
      .filter((r) => r.flags & RTF_UP && !(r.flags & RTF_REJECT) && (a & r.mask) >>> 0 === (r.dest & r.mask) >>> 0)
      .sort((x, y) => y.prefix - x.prefix || x.metric - y.metric)[0];
    if (!best) return undefined;
    const mtu = ifMtu(best.iface);
    if (mtu === undefined) return undefined;
    return {
      mtu: best.mtu > 0 ? Math.min(mtu, best.mtu) : mtu,
      iface: best.iface,
      direct: !(best.flags & RTF_GATEWAY) && best.gateway === 0,
      family,
    };
  }
  const a = ipv6BigInt(addr);
  if (a >> 118n === 0x3fan) {
    // link-local (fe80::/10): every interface has its own fe80::/64 route, all alike, so the table cannot tell which
    // link the peer is on; the address's scope (`%eth1`, as Node spells rinfo's, or an interface index) names it.
    // Without a scope the link is unknown: no larger sizes
    const iface = scope === undefined ? undefined : scopeInterface(scope, sys);
    const mtu = iface === undefined ? undefined : ifMtu(iface);
    return mtu === undefined || iface === undefined ? undefined : { mtu, iface, direct: true, family };
  }
  const text = readText(src.route6 ?? '/proc/net/ipv6_route');
  if (text === undefined) return undefined;
  const best = parseIpv6Route(text)
    .filter((r) => r.flags & RTF_UP && !(r.flags & RTF_REJECT) && prefixMatch6(a, r.dest, r.prefix))
    .sort((x, y) => y.prefix - x.prefix || x.metric - y.metric)[0];
  if (!best) return undefined;
  // a local route (an address of this machine) is delivered over loopback whatever device it names
  const iface = best.flags & RTF_LOCAL ? 'lo' : best.iface;
  const mtu = ifMtu(iface);
  if (mtu === undefined) return undefined;
  return { mtu, iface, direct: !(best.flags & RTF_GATEWAY) && best.nextHop === 0n, family };
}

/**
 * The datagram sizes above 1,472 to offer the path-MTU search for a peer: the route's MTU minus the headers (at
 * most LARGEST_PROBE_BYTES), and 8,972 below it when the route carries that; none where the MTU is unknown or the
 * peer is beyond a gateway.
 */
export function largerProbeSizes(r: RouteMtu | undefined): number[] {
  if (!r?.direct) return [];
  const bound = Math.min(r.mtu - (r.family === 6 ? 48 : 28), MAX_UDP_PAYLOAD);
  const top = Math.min(bound, LARGEST_PROBE_BYTES);
  const sizes = [top];
  if (JUMBO_PROBE_BYTES < top) sizes.push(JUMBO_PROBE_BYTES);
  return sizes.filter((s) => s > ETHERNET_PROBE_BYTES);
}

/**
 * The probe list for a peer: the larger sizes its route allows, then `defaults` (the core's), none larger than the
 * local route's MTU allows (a gateway or not: the first hop's interface would fragment it; so over IPv6 on a
 * 1,500-byte link 1,472 is not tried, 1,452 is), and all at most `ceiling` (`--max-datagram`) when one is given.
 */
export function probeSizesFor(
  address: string,
  defaults: readonly number[],
  ceiling?: number,
  src?: PathMtuSources,
): number[] {
  const r = routeMtu(address, src);
  const bound = Math.min(r ? r.mtu - (r.family === 6 ? 48 : 28) : MAX_UDP_PAYLOAD, ceiling ?? MAX_UDP_PAYLOAD);
  return [...largerProbeSizes(r), ...defaults].filter((s) => s <= bound);
}

/** The interface an IPv6 scope names: a name (`eth1`) or an index (`3`, found in /sys/class/net/IF/ifindex). */
function scopeInterface(scope: string, sys: string): string | undefined {
  if (!/^\d+$/.test(scope)) return /^[\w.:@-]{1,15}$/.test(scope) && !/^\.+$/.test(scope) ? scope : undefined;
  let names: string[];
  try {
    names = readdirSync(sys);
  } catch {
    return undefined;
  }
  return names.find((n) => readText(`${sys}/${n}/ifindex`)?.trim() === scope);
}

function ownAddresses(): string[] {
  return Object.values(networkInterfaces()).flatMap((l) => (l ?? []).map((i) => i.address.replace(/%.*$/, '')));
}

function isLoopback(addr: string, family: 4 | 6): boolean {
  return family === 4 ? addr.startsWith('127.') : ipv6BigInt(addr) === 1n;
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

function readNumber(path: string): number | undefined {
  const t = readText(path)?.trim();
  return t && /^\d+$/.test(t) && Number(t) >= 68 ? Number(t) : undefined;
}

/** /proc/net/route's hex is the kernel's in-memory (network-order) bytes printed as a host-order u32. */
function hostOrder(n: number): number {
  if (endianness() === 'BE') return n >>> 0;
  return (((n & 0xff) << 24) | ((n & 0xff00) << 8) | ((n >>> 8) & 0xff00) | (n >>> 24)) >>> 0;
}

function popcount(n: number): number {
  let c = 0;
  for (let v = n >>> 0; v; v = (v & (v - 1)) >>> 0) c++;
  return c;
}

function ipv4Number(a: string): number {
  return a.split('.').reduce((n, p) => ((n << 8) | Number(p)) >>> 0, 0);
}

function ipv6BigInt(a: string): bigint {
  let s = a;
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(s);
  if (v4) {
    const n = ipv4Number(v4[1]!);
    s = `${s.slice(0, -v4[1]!.length)}${(n >>> 16).toString(16)}:${(n & 0xffff).toString(16)}`;
  }
  const [head, tail] = s.includes('::') ? s.split('::') : [s, undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  return groups.reduce((n, g) => (n << 16n) | BigInt(Number.parseInt(g || '0', 16)), 0n);
}

function prefixMatch6(a: bigint, dest: bigint, prefix: number): boolean {
  if (prefix === 0) return true;
  const shift = BigInt(128 - prefix);
  return a >> shift === dest >> shift;
}
