// The result every baseline client reports: the same shape as `udplab get --json` (TransferResult), with the
// fields a baseline cannot know (RTT, compression, resume, datagram size) at their neutral values; a timeline where
// the baseline records one (tcp-get: the bytes it held every 100 ms).
import type { TransferResult } from '../transport/index.js';

export function baselineResult(r: {
  op: 'get' | 'put';
  remote: string;
  local: string;
  bytes: number;
  elapsedMs: number;
  sha256: string;
  packets: number;
  retransmitted: number;
  security: string;
  /** The client's own record of the bytes it held over time (times from the start of elapsedMs). */
  timeline?: Array<{ t_ms: number; bytes: number }>;
  /** Date.now() at the start of elapsedMs. */
  startedEpochMs?: number;
}): TransferResult {
  return {
    op: r.op,
    remote: r.remote,
    local: r.local,
    bytes: r.bytes,
    duration_ms: Math.round(r.elapsedMs * 1000) / 1000,
    goodput_bps: r.elapsedMs > 0 ? Math.round((r.bytes * 8 * 1000) / r.elapsedMs) : 0,
    packets_sent: r.packets,
    packets_retransmitted: r.retransmitted,
    packets_received: r.packets,
    packets_lost: 0,
    datagram_bytes: 0,
    rtt_ms_min: 0,
    rtt_ms_avg: 0,
    rtt_ms_p99: 0,
    sha256: r.sha256,
    compression: 'none',
    compression_ratio: 1,
    resumed_bytes: 0,
    security: r.security,
    timeline: r.timeline ?? [],
    ...(r.startedEpochMs !== undefined && { started_epoch_ms: Math.round(r.startedEpochMs) }),
  };
}
