// What a packet weighs on the wire, in the one place the lab decides it. Kernel netem's `rate` (and a slot's byte
// budget) counts the packet as it sits in the qdisc: on a veth or an Ethernet device that is the frame without
// its FCS, i.e. the Ethernet header (14 bytes), the IP header (20 bytes IPv4, 40 bytes IPv6) and the UDP header
// (8 bytes) around the payload — plus any `packetoverhead` the netem names. The userspace relay sees only UDP
// payloads, so it adds the same headers before pacing (measured in the lane: netem at `rate 1mbit` delivered 971
// kbit/s of IPv4 rate for 472-byte payloads, 1 Mbit/s × 500/514; the relay counting payload only, 1060 kbit/s).
// The simulator's links pace the datagram alone (its figures predate this and stay comparable run to run).

/** The Ethernet header netem sees on a veth or an Ethernet device (no FCS, no VLAN tag). */
export const ETHERNET_HEADER_BYTES = 14;

/** IP and UDP headers around a UDP payload: 20 + 8 (IPv4, no options) or 40 + 8 (IPv6, no extension headers). */
export function ipUdpHeaderBytes(ip: 4 | 6): number {
  return ip === 6 ? 48 : 28;
}

/** The frame netem paces for a UDP datagram of `payloadBytes`: Ethernet + IP + UDP headers + payload. */
export function udpFrameBytes(payloadBytes: number, ip: 4 | 6): number {
  return payloadBytes + ipUdpHeaderBytes(ip) + ETHERNET_HEADER_BYTES;
}
