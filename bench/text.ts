// A compressible text for the compression rows and tests: server-log lines (a timestamp, a level, one of a few
// message templates with numbers, addresses and paths drawn from a seed). Deterministic for a seed; deflate level 1
// compresses it ~4× over a 5 KB span, about what real logs and source code give.
import { createRng } from '../src/impair/index.js';

const LEVELS = ['INFO ', 'INFO ', 'INFO ', 'DEBUG', 'WARN ', 'ERROR'];
const WORDS = ['alpha', 'bravo', 'charlie', 'delta', 'echo', 'foxtrot', 'golf', 'hotel', 'india', 'juliet'];

export function logText(sizeBytes: number, seed = 1): Uint8Array {
  const rng = createRng(seed);
  const out = Buffer.alloc(sizeBytes);
  let pos = 0;
  let ms = Date.UTC(2026, 11, 2, 2, 0, 0);
  const pick = <T>(xs: readonly T[]): T => xs[rng.int(xs.length)]!;
  const hex = (n: number) =>
    rng
      .int(16 ** n)
      .toString(16)
      .padStart(n, '0');
  while (pos < sizeBytes) {
    ms += rng.int(250);
    const peer = `10.0.${rng.int(4)}.${1 + rng.int(250)}:${40000 + rng.int(20000)}`;
    const file = `/srv/data/${pick(WORDS)}/${pick(WORDS)}-${rng.int(100)}.bin`;
    let msg: string;
    switch (rng.int(4)) {
      case 0:
        msg = `session ${hex(8)} accepted from ${peer} op=GET path=${file} size=${rng.int(1 << 30)}`;
        break;
      case 1:
        msg = `session ${hex(8)} closed ok=true bytes=${rng.int(1 << 30)} rtt_ms=${(rng.next() * 80).toFixed(2)}`;
        break;
      case 2:
        msg = `retransmit pn=${rng.int(1e6)} offset=${rng.int(1 << 30)} length=1160 peer=${peer}`;
        break;
      default:
        msg = `cache ${pick(WORDS)} hit=${rng.int(1000)} miss=${rng.int(100)} evicted=${rng.int(10)}`;
    }
    const line = `${new Date(ms).toISOString()} ${pick(LEVELS)} ${msg}\n`;
    pos += out.write(line, pos, 'latin1');
  }
  return new Uint8Array(out.buffer, out.byteOffset, sizeBytes);
}
