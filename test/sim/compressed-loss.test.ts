// Packed compression through loss, in the simulator: a 4 MiB log text (bench/text.ts) over a 10 Mbit/s, 40 ms RTT
// path with 5% random loss and some reordering, deflate agreed, GET and PUT, four seeds each. Packed frames are
// lost and sent again as raw ranges (re-packed); every run must end verified with the file's bytes, in well under
// half the data packets the same file takes uncompressed.
import { describe, expect, it } from 'vitest';
import { logText } from '../../bench/text.js';
import { codecFor } from '../../src/files/codec.js';
import { parseNetem } from '../../src/impair/index.js';
import { Compression } from '../../src/protocol/index.js';
import { simulateTransfer } from '../../src/sim/index.js';

const SIZE = 4 << 20;
const file = logText(SIZE, 7);
const path = parseNetem('delay 20ms 2ms rate 10mbit loss 5% limit 200');

describe('packed compression in the simulator, through 5% loss', () => {
  for (const op of ['get', 'put'] as const) {
    it(`${op}: a compressible file arrives whole on seeds 1–4, in < 1/2.5 of the uncompressed packets`, () => {
      for (let seed = 1; seed <= 4; seed++) {
        const common = { seed, up: path, down: path, sizeBytes: SIZE, op, file, maxVirtualMs: 120_000 };
        const packed = simulateTransfer({ ...common, compression: Compression.Deflate, config: { codecFor } });
        const plain = simulateTransfer(common);
        const where = `seed ${seed} ${op}: ${packed.outcome} ${packed.reason ?? ''}`;
        expect(packed.outcome, where).toBe('completed');
        expect(plain.outcome, where).toBe('completed');
        expect(packed.stats.packetsLost, where).toBeGreaterThan(10);
        expect(packed.stats.compressionRatio, where).toBeGreaterThan(2.5);
        expect(packed.stats.packetsSent * 2.5, where).toBeLessThan(plain.stats.packetsSent);
        console.log(
          `${where} packets ${plain.stats.packetsSent} → ${packed.stats.packetsSent} (lost ${packed.stats.packetsLost}), ` +
            `goodput ${(plain.goodputBps / 1e6).toFixed(2)} → ${(packed.goodputBps / 1e6).toFixed(2)} Mbit/s, ratio ${packed.stats.compressionRatio.toFixed(2)}`,
        );
      }
    });
  }
});
