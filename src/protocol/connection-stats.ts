// What a connection reports about itself: its counters (ConnectionStats, gathered from the sender or receiver it
// drives) and its timeline. A data sender knows its own RTT and losses; a data receiver knows the sender's only
// from the summary in the FIN frame and the STATS samples that arrived.
import type { SenderSample } from './frames.js';
import { PACKET_OVERHEAD } from './packetizer.js';
import type { Receiver } from './receiver.js';
import type { Sender } from './sender.js';

export interface ConnectionStats {
  packetsSent: number;
  packetsReceived: number;
  packetsRetransmitted: number;
  packetsLost: number;
  bytesSent: number;
  badPackets: number;
  duplicatePackets: number;
  timeouts: number;
  tailProbes: number;
  rttMsMin: number;
  rttMsAvg: number;
  rttMsP99: number;
  compressionRatio: number;
  /** Data packets the peer (the data sender) sent, when this side is the receiver. */
  peerPacketsSent: number;
  /** Datagram size of the data: what this side sends data in now, or the largest DATA datagram received. */
  datagramBytes: number;
  /** Path-MTU probes this side sent, and its drops back to the base size (black holes). */
  pmtuProbes: number;
  pmtuFallbacks: number;
}

/** One point of a connection's timeline: bytes at tMs, and the sender's state when a sample of it exists. */
export type TimelinePoint = { tMs: number; bytesReceived: number } & Partial<SenderSample>;

/** The connection's own counters, besides what its sender or receiver counts. */
export interface ConnectionCounters {
  /** Packets this side sent that its sender does not count: ACK/PING packets and INITIALs. */
  ackPacketsSent: number;
  initialAttempts: number;
  /** AEAD-verified DATA packets received, and packets that did not verify or decode. */
  packetsReceived: number;
  badPackets: number;
  /** The largest authenticated DATA datagram received (the peer's datagram size, when it sends data). */
  largestDataDatagram: number;
}

export function connectionStats(
  sender: Sender | undefined,
  receiver: Receiver | undefined,
  c: ConnectionCounters,
): ConnectionStats {
  const s = sender?.stats;
  const rtt = sender?.rtt;
  const peer = receiver?.fin?.rtt;
  return {
    packetsSent: (s?.packetsSent ?? 0) + c.ackPacketsSent + c.initialAttempts,
    packetsReceived: c.packetsReceived,
    packetsRetransmitted: s?.packetsRetransmitted ?? peer?.packetsRetransmitted ?? 0,
    packetsLost: s?.packetsLost ?? 0,
    bytesSent: s?.bytesSent ?? 0,
    badPackets: c.badPackets,
    duplicatePackets: receiver?.stats.duplicatePackets ?? 0,
    timeouts: s?.timeouts ?? 0,
    tailProbes: s?.tailProbes ?? 0,
    rttMsMin: rtt && Number.isFinite(rtt.minMs) ? rtt.minMs : (peer?.minUs ?? 0) / 1000,
    rttMsAvg: rtt ? rtt.avgMs : (peer?.avgUs ?? 0) / 1000,
    rttMsP99: rtt ? rtt.p99Ms : (peer?.p99Us ?? 0) / 1000,
    compressionRatio: s && s.bytesAfterCompression > 0 ? s.bytesBeforeCompression / s.bytesAfterCompression : 1,
    peerPacketsSent: peer?.packetsSent ?? 0,
    datagramBytes: sender ? sender.payloadBytes + PACKET_OVERHEAD : c.largestDataDatagram,
    pmtuProbes: s?.pmtuProbes ?? 0,
    pmtuFallbacks: s?.pmtuFallbacks ?? 0,
  };
}

/**
 * A connection's record of the transfer over time (times relative to its start `createdMs`), by tMs.
 * Data receiver: its own bytes held about every 100 ms (complete), and the sender's STATS samples where they
 * arrived (those carry the sender fields; STATS travel with the data and are lost with it).
 * Data sender: its own sample at each STATS it sent, `bytesReceived` being the bytes the peer acknowledged.
 */
export function timelineOf(
  createdMs: number,
  senderTimeline: readonly TimelinePoint[],
  receiver: Receiver | undefined,
): TimelinePoint[] {
  const rel = <T extends { tMs: number }>(t: T): T => ({ ...t, tMs: t.tMs - createdMs });
  if (!receiver) return senderTimeline.map(rel);
  return [...receiver.own.map(rel), ...receiver.timeline.map(rel)].sort((a, b) => a.tMs - b.tMs);
}
