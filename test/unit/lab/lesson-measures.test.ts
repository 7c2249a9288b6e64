// The lesson's own measurements: where the datagrams a naive client wrote sit in the original (reordered,
// duplicated, missing), what a capture shows an eavesdropper, and a socket's drop counter from /proc/net/udp.
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { socketDrops } from '../../../src/baselines/naive/client.js';
import { analyseArrival } from '../../../src/lab/arrival.js';
import { analyseWire, udpPayloads } from '../../../src/lab/wire.js';
import { tempDir } from '../../helpers/tmp.js';

/** A file of `n` distinct 4-byte chunks. */
const original = (n: number) =>
  Buffer.concat(Array.from({ length: n }, (_, i) => Buffer.from([i, i >> 8, 0xaa, 0x55])));
const chunks = (f: Buffer, order: number[]) => Buffer.concat(order.map((i) => f.subarray(i * 4, i * 4 + 4)));

describe('analyseArrival', () => {
  it('counts datagrams written after a later one, those that jumped, duplicates and missing ones', () => {
    const f = original(10);
    // 3 jumped ahead of 1 and 2; 5 twice; 9 never
    const a = analyseArrival(f, chunks(f, [0, 3, 1, 2, 4, 5, 5, 6, 7, 8]), 4)!;
    expect(a).toMatchObject({ original_chunks: 10, written_chunks: 10, late: 2, ahead: 1, duplicates: 1, missing: 1 });
    expect(a.in_place).toBe(3); // 0, 4 and the first 5: the duplicate shifts everything after it
    expect(a.sequence).toEqual([0, 3, 1, 2, 4, 5, 5, 6, 7, 8]);
  });

  it('an intact file: every chunk in place, nothing late, duplicated or missing', () => {
    const f = original(8);
    expect(analyseArrival(f, f, 4)).toMatchObject({ in_place: 8, late: 0, ahead: 0, duplicates: 0, missing: 0 });
  });

  it('a stalled transfer: the chunks never written are missing; a chunk not in the file is foreign', () => {
    const f = original(6);
    const a = analyseArrival(f, Buffer.concat([chunks(f, [0, 1]), Buffer.from('zzzz')]), 4)!;
    expect(a).toMatchObject({ missing: 4, foreign: 1, sequence: [0, 1, -1] });
  });

  it('refuses a file whose chunks repeat (positions would be guesses)', () => {
    expect(analyseArrival(Buffer.alloc(16), Buffer.alloc(16), 4)).toBeUndefined();
  });
});

/** A pcap (Ethernet) with one IPv4/UDP packet per payload. */
function pcap(packets: Array<{ src: number; dst: number; payload: Buffer }>): Buffer {
  const head = Buffer.alloc(24);
  head.writeUInt32LE(0xa1b2c3d4, 0);
  head.writeUInt16LE(2, 4);
  head.writeUInt16LE(4, 6);
  head.writeUInt32LE(256, 16);
  head.writeUInt32LE(1, 20);
  const recs = packets.map((p) => {
    const eth = Buffer.alloc(14);
    eth.writeUInt16BE(0x0800, 12);
    const ip = Buffer.alloc(20);
    ip[0] = 0x45;
    ip.writeUInt16BE(28 + p.payload.length, 2);
    ip[9] = 17;
    const udp = Buffer.alloc(8);
    udp.writeUInt16BE(p.src, 0);
    udp.writeUInt16BE(p.dst, 2);
    udp.writeUInt16BE(8 + p.payload.length, 4);
    const frame = Buffer.concat([eth, ip, udp, p.payload]);
    const rec = Buffer.alloc(16);
    rec.writeUInt32LE(frame.length, 8);
    rec.writeUInt32LE(frame.length, 12);
    return Buffer.concat([rec, frame]);
  });
  return Buffer.concat([head, ...recs]);
}

describe('analyseWire', () => {
  it('finds the toy key exchange and the datagrams that carry the file in the clear', () => {
    using d = tempDir();
    const file = Buffer.from('the quick brown fox jumps over the lazy dog, again and again, over UDP\n'.repeat(20));
    const cipher = createHash('sha512').update('x').digest();
    const p = join(d.path, 'c.pcap');
    writeFileSync(
      p,
      pcap([
        { src: 5000, dst: 4455, payload: Buffer.from('KEY') },
        { src: 4455, dst: 5000, payload: Buffer.from('14') },
        { src: 4455, dst: 5000, payload: file.subarray(0, 200) },
        { src: 4455, dst: 5000, payload: file.subarray(300, 500) },
        { src: 4455, dst: 5000, payload: cipher },
      ]),
    );
    expect(udpPayloads(readFileSync(p)).map((x) => x.dstPort)).toEqual([4455, 5000, 5000, 5000, 5000]);
    expect(analyseWire(p, file)).toEqual({
      datagrams: 5,
      plaintext_file_datagrams: 2,
      key_exchange: '"KEY" → "14"',
    });
  });

  it('an encrypted capture: no file bytes, no key exchange', () => {
    using d = tempDir();
    const p = join(d.path, 'r.pcap');
    writeFileSync(p, pcap([{ src: 1, dst: 2, payload: createHash('sha256').update('y').digest() }]));
    expect(analyseWire(p, Buffer.from('plain text of the file, long enough'))).toEqual({
      datagrams: 1,
      plaintext_file_datagrams: 0,
    });
  });
});

describe('socketDrops', () => {
  it("reads the drops column of the socket bound to a port in /proc/net/udp's format", () => {
    using d = tempDir();
    const t = join(d.path, 'udp');
    writeFileSync(
      t,
      [
        '   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops',
        ' 2682: 0100007F:85A9 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 840601 2 0000000026b7d18e 0',
        ' 3031: 0100007F:C706 00000000:0000 07 00000000:0000BD00 00:00000000 00000000     0        0 844246 2 00000000094ffbd5 4913',
      ].join('\n'),
    );
    expect(socketDrops(0xc706, t)).toBe(4913);
    expect(socketDrops(0x85a9, t)).toBe(0);
    expect(socketDrops(1234, t)).toBeUndefined();
    expect(socketDrops(1234, join(d.path, 'none'))).toBeUndefined();
  });
});
