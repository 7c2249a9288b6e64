// The route-MTU reader (transport/path-mtu.ts) over fixture files: /proc/net/route and /proc/net/ipv6_route text as
// Linux prints it, a fake /sys/class/net, and the probe sizes each route allows above 1,472 bytes.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  largerProbeSizes,
  type PathMtuSources,
  parseIpv6Route,
  parseProcRoute,
  probeSizesFor,
  routeMtu,
} from '../../../src/transport/index.js';
import { tempDir } from '../../helpers/tmp.js';

// this machine's table: a default route by a gateway, two bridges, the LAN; eth1 a jumbo-frame LAN with an advmss
const ROUTE = `Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0
docker0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0
eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
eth1\t0000000A\t00000000\t0001\t0\t0\t100\t0000FFFF\t0\t0\t0
eth1\t0001000A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
eth1\t0002000A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t4040\t0\t0
eth0\t0003000A\t00000000\t0201\t0\t0\t0\t00FFFFFF\t0\t0\t0
`;

const IPV6_ROUTE = `fd000000000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000002 00000000 00000001     eth0
fe800000000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001     eth0
fd120000000000000000000000000000 30 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001     eth1
00000000000000000000000000000000 00 00000000000000000000000000000000 00 fd000000000000000000000000000001 00000400 00000003 00000000 00000003     eth0
00000000000000000000000000000001 80 00000000000000000000000000000000 00 00000000000000000000000000000000 00000000 00000004 00000000 80200001       lo
fd000000000000000000000000000002 80 00000000000000000000000000000000 00 00000000000000000000000000000000 00000000 00000006 00000000 80200001     eth0
`;

const dir = tempDir();
afterAll(() => dir[Symbol.dispose]());
const sys = join(dir.path, 'sys');
for (const [iface, mtu] of [
  ['lo', 65536],
  ['eth0', 1500],
  ['eth1', 9000],
  ['docker0', 1500],
] as const) {
  mkdirSync(join(sys, iface), { recursive: true });
  writeFileSync(join(sys, iface, 'mtu'), `${mtu}\n`);
}
writeFileSync(join(dir.path, 'route'), ROUTE);
writeFileSync(join(dir.path, 'ipv6_route'), IPV6_ROUTE);
const src: PathMtuSources = {
  route4: join(dir.path, 'route'),
  route6: join(dir.path, 'ipv6_route'),
  sysClassNet: sys,
  localAddresses: () => ['192.0.2.5', 'fd00::2'],
  linkMtu: '',
};

describe('parseProcRoute / parseIpv6Route', () => {
  it('reads destination, mask, gateway and flags in network order', () => {
    const r = parseProcRoute(ROUTE);
    expect(r).toHaveLength(7);
    expect(r[0]).toMatchObject({ iface: 'eth0', dest: 0, prefix: 0, gateway: 0xc0000201, flags: 3 });
    expect(r[2]).toMatchObject({ iface: 'eth0', dest: 0xc0000200, mask: 0xffffff00, prefix: 24, gateway: 0 });
    expect(r[5]!.mtu).toBe(4040);
  });

  it('reads IPv6 prefixes, next hops and flags', () => {
    const r = parseIpv6Route(IPV6_ROUTE);
    expect(r).toHaveLength(6);
    expect(r[2]).toMatchObject({ iface: 'eth1', prefix: 48, nextHop: 0n, flags: 1 });
    expect(r[3]).toMatchObject({ prefix: 0, nextHop: 0xfd000000000000000000000000000001n, flags: 3 });
    expect(r[5]!.flags).toBe(0x80200001);
  });
});

describe('routeMtu: the local route to a peer', () => {
  it('loopback and this machine’s own addresses: lo', () => {
    for (const a of ['127.0.0.1', '127.3.4.5', '::1', '::ffff:127.0.0.1', '192.0.2.5', 'fd00::2'])
      expect(routeMtu(a, src)).toMatchObject({ mtu: 65536, iface: 'lo', direct: true });
  });

  it('IPv4: the longest prefix wins, a gateway makes it indirect, the MTU column bounds the interface’s', () => {
    expect(routeMtu('192.0.2.9', src)).toEqual({ mtu: 1500, iface: 'eth0', direct: true, family: 4 });
    expect(routeMtu('198.51.100.7', src)).toEqual({ mtu: 1500, iface: 'eth0', direct: false, family: 4 });
    expect(routeMtu('10.0.1.20', src)).toEqual({ mtu: 9000, iface: 'eth1', direct: true, family: 4 });
    expect(routeMtu('10.0.2.20', src)).toMatchObject({ mtu: 4040, iface: 'eth1' });
    // 10.0.3.0/24 is a reject route: the /16 of eth1 (metric 100) is the longest that is not
    expect(routeMtu('10.0.3.1', src)).toMatchObject({ mtu: 9000, iface: 'eth1' });
    expect(routeMtu('::ffff:10.0.1.20', src)).toMatchObject({ mtu: 9000, family: 4 });
  });

  it('IPv6: the longest prefix, a next hop makes it indirect, a local route is loopback', () => {
    expect(routeMtu('fd12:0:0:1::5', src)).toEqual({ mtu: 9000, iface: 'eth1', direct: true, family: 6 });
    expect(routeMtu('fd00::77', src)).toEqual({ mtu: 1500, iface: 'eth0', direct: true, family: 6 });
    expect(routeMtu('2001:db8::1', src)).toEqual({ mtu: 1500, iface: 'eth0', direct: false, family: 6 });
    expect(routeMtu('fd00::2', { ...src, localAddresses: () => [] })).toMatchObject({ iface: 'lo', mtu: 65536 });
  });

  it('unknown: no route file, no interface, not an address', () => {
    expect(routeMtu('10.0.1.20', { ...src, route4: join(dir.path, 'missing') })).toBeUndefined();
    expect(routeMtu('10.0.1.20', { ...src, sysClassNet: join(dir.path, 'nosys') })).toBeUndefined();
    expect(routeMtu('example.org', src)).toBeUndefined();
  });

  it('UDPLAB_LINK_MTU (the lab’s emulated link) stands for every path’s interface; a bad value: unknown', () => {
    expect(routeMtu('127.0.0.1', { ...src, linkMtu: '1500' })).toMatchObject({ mtu: 1500, direct: true });
    expect(routeMtu('127.0.0.1', { ...src, linkMtu: 'jumbo' })).toBeUndefined();
  });
});

describe('the probe sizes above 1,472', () => {
  it('bounded by the route’s MTU minus 28 (IPv4) or 48 (IPv6) bytes, at most 32,000, 8,972 below it', () => {
    expect(largerProbeSizes({ mtu: 65536, iface: 'lo', direct: true, family: 4 })).toEqual([32_000, 8972]);
    expect(largerProbeSizes({ mtu: 9000, iface: 'eth1', direct: true, family: 4 })).toEqual([8972]);
    expect(largerProbeSizes({ mtu: 9000, iface: 'eth1', direct: true, family: 6 })).toEqual([8952]);
    expect(largerProbeSizes({ mtu: 4040, iface: 'eth1', direct: true, family: 4 })).toEqual([4012]);
  });

  it('none on a 1,500-byte link, beyond a gateway, or when unknown', () => {
    expect(largerProbeSizes({ mtu: 1500, iface: 'eth0', direct: true, family: 4 })).toEqual([]);
    expect(largerProbeSizes({ mtu: 9000, iface: 'eth1', direct: false, family: 4 })).toEqual([]);
    expect(largerProbeSizes(undefined)).toEqual([]);
  });

  it('the whole list for a peer, and a ceiling (--max-datagram) over it', () => {
    const defaults = [1472, 1452, 1400, 1280];
    expect(probeSizesFor('127.0.0.1', defaults, undefined, src)).toEqual([32_000, 8972, ...defaults]);
    expect(probeSizesFor('10.0.1.20', defaults, undefined, src)).toEqual([8972, ...defaults]);
    expect(probeSizesFor('198.51.100.7', defaults, undefined, src)).toEqual(defaults);
    expect(probeSizesFor('127.0.0.1', defaults, 9000, src)).toEqual([8972, ...defaults]);
    expect(probeSizesFor('127.0.0.1', defaults, 1472, src)).toEqual(defaults);
    expect(probeSizesFor('127.0.0.1', defaults, 1400, src)).toEqual([1400, 1280]);
  });

  it('no default size above what the local route carries: IPv6 on a 1,500-byte link starts at 1,452', () => {
    const defaults = [1472, 1452, 1400, 1280];
    expect(probeSizesFor('fd00::77', defaults, undefined, src)).toEqual([1452, 1400, 1280]);
    expect(probeSizesFor('2001:db8::1', defaults, undefined, src)).toEqual([1452, 1400, 1280]);
    expect(probeSizesFor('::1', defaults, undefined, { ...src, linkMtu: '1500' })).toEqual([1452, 1400, 1280]);
    expect(probeSizesFor('10.0.0.1', defaults, undefined, { ...src, linkMtu: '1400' })).toEqual([1280]);
    // unknown route: the defaults as they were
    expect(probeSizesFor('10.0.1.20', defaults, undefined, { ...src, route4: join(dir.path, 'missing') })).toEqual(
      defaults,
    );
  });
});
