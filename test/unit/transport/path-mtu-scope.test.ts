// A link-local IPv6 peer (fe80::/10) is on the link its scope names: every interface has an fe80::/64 route of the
// same prefix and metric, so the longest-prefix match alone took whichever came first in /proc/net/ipv6_route. Here
// that is a 9,000-byte jumbo LAN (eth1), listed before a 1,500-byte one (eth0): a peer on eth0 was offered 8,952-byte
// probes, which eth0's kernel fragments (the failure path-mtu.ts exists to prevent). Without a scope the link is
// unknown: nothing above 1,472.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type PathMtuSources, probeSizesFor, routeMtu } from '../../../src/transport/index.js';
import { tempDir } from '../../helpers/tmp.js';

const IPV6_ROUTE = `fe800000000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001     eth1
fe800000000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001     eth0
00000000000000000000000000000000 00 00000000000000000000000000000000 00 fd000000000000000000000000000001 00000400 00000003 00000000 00000003     eth0
00000000000000000000000000000001 80 00000000000000000000000000000000 00 00000000000000000000000000000000 00000000 00000004 00000000 80200001       lo
`;

const dir = tempDir();
afterAll(() => dir[Symbol.dispose]());
const sys = join(dir.path, 'sys');
for (const [iface, mtu, index] of [
  ['lo', 65536, 1],
  ['eth0', 1500, 2],
  ['eth1', 9000, 3],
] as const) {
  mkdirSync(join(sys, iface), { recursive: true });
  writeFileSync(join(sys, iface, 'mtu'), `${mtu}\n`);
  writeFileSync(join(sys, iface, 'ifindex'), `${index}\n`);
}
writeFileSync(join(dir.path, 'ipv6_route'), IPV6_ROUTE);
const src: PathMtuSources = {
  route4: join(dir.path, 'none'),
  route6: join(dir.path, 'ipv6_route'),
  sysClassNet: sys,
  localAddresses: () => ['fd00::2'],
  linkMtu: '',
};
const DEFAULTS = [1472, 1452, 1400, 1280];

describe('a link-local IPv6 peer is on the link its scope names', () => {
  it('on the 1,500-byte link (eth0) nothing above 1,452, though the jumbo link (eth1) is listed first', () => {
    expect(routeMtu('fe80::1%eth0', src)).toMatchObject({ mtu: 1500, iface: 'eth0', direct: true });
    expect(probeSizesFor('fe80::1%eth0', DEFAULTS, undefined, src)).toEqual([1452, 1400, 1280]);
  });

  it('on the jumbo link (eth1) its MTU, by name or by interface index', () => {
    expect(probeSizesFor('fe80::1%eth1', DEFAULTS, undefined, src)).toEqual([8952, 1472, 1452, 1400, 1280]);
    expect(routeMtu('fe80::1%3', src)).toMatchObject({ mtu: 9000, iface: 'eth1', direct: true });
    expect(routeMtu('fe80::1%2', src)).toMatchObject({ mtu: 1500, iface: 'eth0' });
  });

  it('fails safe: no scope, an unknown interface or index, a scope that is a path', () => {
    for (const a of ['fe80::1', 'fe80::1%eth9', 'fe80::1%42', 'fe80::1%..', 'febf::1%../eth1']) {
      expect(routeMtu(a, src), a).toBeUndefined();
      expect(probeSizesFor(a, DEFAULTS, undefined, src), a).toEqual(DEFAULTS);
    }
  });
});
