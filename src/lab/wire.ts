// What a packet capture shows an eavesdropper: the lab reads the run's own .pcap (the classic libpcap format
// tcpdump writes), takes the UDP payloads of IPv4 and IPv6 datagrams, and counts those that carry bytes of the file in
// the clear, and the seminar's toy key exchange ("KEY", then the public key) when it crossed the wire.
import { readFileSync } from 'node:fs';

export interface UdpPayload {
  srcPort: number;
  dstPort: number;
  /** As captured: cut to the snap length (the lab captures 256 bytes of each packet). */
  payload: Buffer;
}

/**
 * The UDP payloads of the IPv4 and IPv6 packets in a pcap (Ethernet, Linux cooked or raw IP); fragments after the
 * first skipped. IPv6: UDP right after the fixed header, or after one fragment header (the first fragment).
 */
export function udpPayloads(pcap: Buffer): UdpPayload[] {
  if (pcap.length < 24) return [];
  const magic = pcap.readUInt32LE(0);
  const le = magic === 0xa1b2c3d4 || magic === 0xa1b23c4d;
  if (!le && pcap.readUInt32BE(0) !== 0xa1b2c3d4 && pcap.readUInt32BE(0) !== 0xa1b23c4d) return [];
  const u32 = (o: number) => (le ? pcap.readUInt32LE(o) : pcap.readUInt32BE(o));
  const link = u32(20);
  const out: UdpPayload[] = [];
  for (let off = 24; off + 16 <= pcap.length; ) {
    const incl = u32(off + 8);
    const pkt = pcap.subarray(off + 16, off + 16 + incl);
    off += 16 + incl;
    let ip: number;
    if (link === 1) {
      // Ethernet; one VLAN tag at most
      let type = pkt.length >= 14 ? pkt.readUInt16BE(12) : 0;
      ip = 14;
      if (type === 0x8100 && pkt.length >= 18) {
        type = pkt.readUInt16BE(16);
        ip = 18;
      }
      if (type !== 0x0800 && type !== 0x86dd) continue;
    } else if (link === 113) {
      if (pkt.length < 16 || (pkt.readUInt16BE(14) !== 0x0800 && pkt.readUInt16BE(14) !== 0x86dd)) continue;
      ip = 16;
    } else if (link === 101 || link === 12) ip = 0;
    else continue;
    let udp: number;
    if (pkt.length > ip && pkt[ip]! >> 4 === 6) {
      if (pkt.length < ip + 40) continue;
      udp = ip + 40;
      if (pkt[ip + 6] === 44) {
        // a fragment header: only the first fragment (offset 0) holds the UDP header
        if (pkt.length < udp + 8 || pkt[udp] !== 17 || pkt.readUInt16BE(udp + 2) >> 3 !== 0) continue;
        udp += 8;
      } else if (pkt[ip + 6] !== 17) continue;
    } else {
      if (pkt.length < ip + 20 || pkt[ip]! >> 4 !== 4 || pkt[ip + 9] !== 17) continue;
      if ((pkt.readUInt16BE(ip + 6) & 0x1fff) !== 0) continue; // a later fragment: no UDP header
      udp = ip + (pkt[ip]! & 0x0f) * 4;
    }
    if (pkt.length < udp + 8) continue;
    out.push({
      srcPort: pkt.readUInt16BE(udp),
      dstPort: pkt.readUInt16BE(udp + 2),
      payload: pkt.subarray(udp + 8, udp + Math.min(pkt.readUInt16BE(udp + 4), pkt.length - udp)),
    });
  }
  return out;
}

export interface WireAnalysis {
  /** UDP datagrams in the capture. */
  datagrams: number;
  /** Datagrams whose payload (at least 16 bytes, as captured) is a piece of the file, readable as is. */
  plaintext_file_datagrams: number;
  /** The toy key exchange as seen on the wire ("KEY" → "14"), when it was there. */
  key_exchange?: string;
}

/** Reads a capture and says what of the file and the key exchange an eavesdropper could read. */
export function analyseWire(pcapPath: string, original: Buffer): WireAnalysis {
  const ds = udpPayloads(readFileSync(pcapPath));
  let plain = 0;
  for (const d of ds) if (d.payload.length >= 16 && original.indexOf(d.payload) >= 0) plain++;
  const k = ds.findIndex((d) => d.payload.toString('latin1') === 'KEY');
  const answer = k >= 0 ? ds.slice(k + 1).find((d) => d.srcPort === ds[k]!.dstPort) : undefined;
  const text = answer?.payload.toString('latin1');
  return {
    datagrams: ds.length,
    plaintext_file_datagrams: plain,
    ...(text !== undefined && /^[\x20-\x7e]{1,40}$/.test(text) && { key_exchange: `"KEY" → "${text}"` }),
  };
}
