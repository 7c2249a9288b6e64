// The docker runtime's IPv6 pieces that need no engine: the per-lab ULA subnet and reading UDP over IPv6 from a
// capture (the wire analysis of an `ip: 6` run).
import { isIPv6 } from 'node:net';
import { describe, expect, it } from 'vitest';
import { ulaSubnet } from '../../../src/lab/runtimes/docker.js';
import { udpPayloads } from '../../../src/lab/wire.js';

describe('ulaSubnet', () => {
  it('makes an RFC 4193 /64 from the 40-bit global ID, each group without leading zeros', () => {
    expect(ulaSubnet(Uint8Array.from([0x12, 0x34, 0x56, 0x78, 0x9a]))).toBe('fd12:3456:789a::/64');
    expect(ulaSubnet(Uint8Array.from([0x00, 0x00, 0x01, 0x0a, 0xff]))).toBe('fd00:1:aff::/64');
    expect(ulaSubnet(Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0xff]))).toBe('fdff:ffff:ffff::/64');
  });

  it('is a valid IPv6 prefix under fd00::/8, different per lab', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 50; i++) {
      const s = ulaSubnet();
      expect(s).toMatch(/^fd[0-9a-f]{2}:[0-9a-f]{1,4}:[0-9a-f]{1,4}::\/64$/);
      expect(isIPv6(s.slice(0, -3))).toBe(true);
      seen.add(s);
    }
    expect(seen.size).toBeGreaterThan(45);
  });

  it('refuses a global ID that is not 5 bytes', () => {
    expect(() => ulaSubnet(Uint8Array.from([1, 2, 3]))).toThrow(/5 bytes, not 3/);
  });
});

/** A pcap of Ethernet frames carrying IPv6: `next` 17 (UDP) or 44 (a fragment header with `fragOffset`). */
function pcap6(packets: Array<{ dst: number; payload: Buffer; next?: 17 | 44 | 6; fragOffset?: number }>): Buffer {
  const head = Buffer.alloc(24);
  head.writeUInt32LE(0xa1b2c3d4, 0);
  head.writeUInt16LE(2, 4);
  head.writeUInt16LE(4, 6);
  head.writeUInt32LE(256, 16);
  head.writeUInt32LE(1, 20);
  const recs = packets.map((p) => {
    const eth = Buffer.alloc(14);
    eth.writeUInt16BE(0x86dd, 12);
    const ip = Buffer.alloc(40);
    ip[0] = 0x60;
    ip[6] = p.next ?? 17;
    const frag = Buffer.alloc(p.next === 44 ? 8 : 0);
    if (p.next === 44) {
      frag[0] = 17;
      frag.writeUInt16BE((p.fragOffset ?? 0) << 3, 2);
    }
    const udp = Buffer.alloc(8);
    udp.writeUInt16BE(40000, 0);
    udp.writeUInt16BE(p.dst, 2);
    udp.writeUInt16BE(8 + p.payload.length, 4);
    ip.writeUInt16BE(frag.length + 8 + p.payload.length, 4);
    const frame = Buffer.concat([eth, ip, frag, udp, p.payload]);
    const rec = Buffer.alloc(16);
    rec.writeUInt32LE(frame.length, 8);
    rec.writeUInt32LE(frame.length, 12);
    return Buffer.concat([rec, frame]);
  });
  return Buffer.concat([head, ...recs]);
}

describe('udpPayloads over IPv6', () => {
  it('reads UDP after the fixed header and after a first fragment; skips later fragments and TCP', () => {
    const got = udpPayloads(
      pcap6([
        { dst: 4456, payload: Buffer.from('hello') },
        { dst: 4457, payload: Buffer.from('first'), next: 44, fragOffset: 0 },
        { dst: 4458, payload: Buffer.from('later'), next: 44, fragOffset: 185 },
        { dst: 4459, payload: Buffer.from('tcp'), next: 6 },
      ]),
    );
    expect(got.map((x) => [x.srcPort, x.dstPort, x.payload.toString()])).toEqual([
      [40000, 4456, 'hello'],
      [40000, 4457, 'first'],
    ]);
  });
});
