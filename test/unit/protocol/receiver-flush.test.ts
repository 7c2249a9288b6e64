// The receiver tells its sink once when it holds the whole file (flush), so that a sink that gathers writes
// (PartFile) writes them while the transfer can still end with the write's error code.
import { describe, expect, it } from 'vitest';
import { type DataSink, MemorySink } from '../../../src/protocol/index.js';
import { Receiver } from '../../../src/protocol/receiver.js';

const fin = (sizeBytes: number) =>
  ({
    type: 'fin',
    sizeBytes,
    sha256: new Uint8Array(32),
    rtt: { minUs: 0, avgUs: 0, p99Us: 0, packetsSent: 0, packetsRetransmitted: 0 },
  }) as const;
const data = (offset: number, length: number) =>
  ({ type: 'data', offset, length, compressed: false, bytes: new Uint8Array(length) }) as const;

describe('Receiver and the sink’s flush', () => {
  it('flush is called once, when the last missing byte or the FIN arrives, not before', () => {
    const mem = new MemorySink(300);
    let flushes = 0;
    const sink: DataSink = { write: (o, d) => mem.write(o, d), flush: () => void flushes++ };
    const r = new Receiver(sink, 300, 1 << 20);
    expect(r.onPacket(0, 0, [data(200, 100), fin(300)])).toBe('accepted');
    expect(r.onPacket(0, 1, [data(0, 100)])).toBe('accepted');
    expect(flushes).toBe(0); // FIN in, a gap left
    expect(r.onPacket(0, 2, [data(100, 100)])).toBe('accepted');
    expect(flushes).toBe(1);
    expect(r.onPacket(0, 3, [data(100, 100)])).toBe('accepted'); // a late duplicate: not again
    expect(flushes).toBe(1);
  });

  it('an error from flush reaches the caller with its code, like a write error', () => {
    const sink: DataSink = {
      write: () => {},
      flush: () => {
        throw Object.assign(new Error('no space left'), { code: 'E_DISK_FULL' });
      },
    };
    const r = new Receiver(sink, 100, 1 << 20);
    expect(() => r.onPacket(0, 0, [data(0, 100), fin(100)])).toThrow(/no space left/);
  });
});
