// A hostile path after the handshake: bits flipped, datagrams truncated, replayed and reordered. The session
// either completes with the right SHA-256 or fails with an authentication error — never a wrong file.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseNetem } from '../../src/impair/index.js';
import { get, parseTamper, put, startRelay } from '../../src/transport/index.js';
import { useServer } from '../helpers/server.js';
import { randomFile, sha256File } from '../helpers/tmp.js';

let sha = '';
const live = useServer({
  setup: (root) => {
    sha = randomFile(join(root, 'f.bin'), 2 << 20);
  },
});
const { dir, root } = live;

describe('tampering relay', () => {
  it('parses its grammar and refuses nonsense', () => {
    expect(parseTamper('after 10 flip 5% replay 1%')).toEqual({
      afterPackets: 10,
      flipPct: 5,
      truncatePct: 0,
      replayPct: 1,
      reorderPct: 0,
    });
    expect(() => parseTamper('flip lots')).toThrow(/flip expects a percentage/);
    expect(() => parseTamper('explode 5%')).toThrow(/unknown word "explode"/);
  });

  it.each([1, 2, 3])(
    'seed %i: get and put through flips, truncation, replays and reordering end right',
    async (seed) => {
      const relay = await startRelay({
        targetHost: '127.0.0.1',
        targetPort: live.server.port,
        up: parseNetem('delay 2ms'),
        down: parseNetem('delay 2ms'),
        seed,
        tamper: parseTamper('after 3 flip 5% truncate 3% replay 5% reorder 5%'),
      });
      try {
        const opts = live.clientOptions({ port: relay.port });
        const local = join(dir, `t${seed}.bin`);
        const r = await get(opts, 'f.bin', local).catch((e) => e as { code: string });
        if ('code' in r) {
          expect(r.code).toBe('E_AUTH_FAILED');
          expect(existsSync(local)).toBe(false);
        } else {
          expect(sha256File(local)).toBe(sha);
        }
        const back = join(root, `back${seed}.bin`);
        const p = await put(opts, join(root, 'f.bin'), `back${seed}.bin`).catch((e) => e as { code: string });
        if ('code' in p) {
          expect(p.code).toBe('E_AUTH_FAILED');
          expect(existsSync(back)).toBe(false);
        } else expect(sha256File(back)).toBe(sha);
        const rep = relay.report();
        const t = rep.tamper!;
        expect(t.down.flipped + t.down.truncated + t.down.replayed + t.down.reordered).toBeGreaterThan(20);
        expect(t.up.flipped + t.up.truncated + t.up.replayed + t.up.reordered).toBeGreaterThan(0);
      } finally {
        await relay.close();
      }
    },
  );
});
