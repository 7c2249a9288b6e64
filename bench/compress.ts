// The `compress` bench suite (issue 19, "compression that saves packets"): a log text (bench/text.ts) uploaded
// through the userspace relay shaped to 10 Mbit/s (10 ms each way, a 50-packet queue), compressed (zstd where
// Node has it, else deflate) and not; goodput ÷ (ratio × link), where ratio is the transfer's own raw ÷ compressed
// bytes (target ≥ 0.8: the link carries compressed bytes at ≥ 0.8 of its rate). And the sender's CPU seconds per GiB
// of random bytes on loopback with compression on and off: incompressible data must not cost more than before.
import { randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { relayOnLoopback, runUdplabClient, serveOnLoopback } from './procs.js';
import { logText } from './text.js';

export interface CompressRow {
  suite: string;
  case: string;
  value: number;
  unit: string;
  target?: number;
  met?: boolean;
}

const MiB = 1 << 20;
const LINK_BPS = 10e6;

interface PutResult {
  goodput_bps: number;
  packets_sent: number;
  compression: string;
  compression_ratio: number;
}

export async function compressSuite(): Promise<CompressRow[]> {
  const dir = mkdtempSync(join(tmpdir(), 'udplab-bench-compress-'));
  const local = join(dir, 'local');
  const root = join(dir, 'root');
  const home = join(dir, 'home');
  mkdirSync(local);
  mkdirSync(root);
  const textMiB = Number(process.env.BENCH_COMPRESS_MIB ?? 16);
  const randomMiB = Number(process.env.BENCH_COMPRESS_RANDOM_MIB ?? 256);
  const text = join(local, 'log.txt');
  writeFileSync(text, logText(textMiB * MiB, 1));
  const random = join(local, 'random.bin');
  const fd = openSync(random, 'w');
  for (let done = 0; done < randomMiB * MiB; done += 4 * MiB) writeSync(fd, randomBytes(4 * MiB));
  closeSync(fd);
  const rows: CompressRow[] = [];
  let n = 0;
  // through the relay (an emulated 1,500-byte link that drops larger datagrams) the sender is held to 1,472 bytes,
  // as the lab's local runtime holds it (UDPLAB_LINK_MTU); straight to the server, loopback's larger sizes are used
  const put = async (file: string, port: number, compress: string, extra: string[] = []) => {
    const r = await runUdplabClient(
      ['put', file, `127.0.0.1:${port}`, `up-${n++}`, '--json', '--compress', compress, '--accept-new', ...extra],
      join(home, 'client'),
    );
    return { ...(r.result as unknown as PutResult), cpuS: r.cpuS };
  };
  try {
    const srv = await serveOnLoopback('serve', root, join(home, 'server'));
    try {
      const relay = await relayOnLoopback(srv.port, 'delay 10ms rate 10mbit limit 50', 'delay 10ms', 1, home);
      try {
        const plain = await put(text, relay.port, 'off', ['--max-datagram', '1472']);
        const packed = await put(text, relay.port, 'auto', ['--max-datagram', '1472']);
        const ratio = packed.compression_ratio;
        const share = packed.goodput_bps / (ratio * LINK_BPS);
        rows.push(
          {
            suite: 'compress',
            case: 'text 10M off',
            value: Number((plain.goodput_bps / 1e6).toFixed(2)),
            unit: `Mbit/s (${textMiB} MiB log text, ${plain.packets_sent} packets)`,
          },
          {
            suite: 'compress',
            case: `text 10M ${packed.compression}`,
            value: Number((packed.goodput_bps / 1e6).toFixed(2)),
            unit: `Mbit/s (${packed.packets_sent} packets, ratio ${ratio})`,
          },
          {
            suite: 'compress',
            case: 'text 10M ÷ ratio·link',
            value: Number(share.toFixed(3)),
            unit: `goodput ÷ (${ratio} × 10 Mbit/s)`,
            target: 0.8,
            met: share >= 0.8,
          },
        );
      } finally {
        await relay.stop();
      }
      const off = await put(random, srv.port, 'off');
      const on = await put(random, srv.port, 'auto');
      const gib = randomMiB / 1024;
      rows.push(
        {
          suite: 'compress',
          case: 'random CPU/GiB off',
          value: Number((off.cpuS / gib).toFixed(2)),
          unit: `sender CPU s per GiB (${randomMiB} MiB random, loopback, ${(off.goodput_bps / 1e6).toFixed(0)} Mbit/s)`,
        },
        {
          suite: 'compress',
          case: `random CPU/GiB ${on.compression}`,
          value: Number((on.cpuS / gib).toFixed(2)),
          unit: `sender CPU s per GiB (${(on.goodput_bps / 1e6).toFixed(0)} Mbit/s, ratio ${on.compression_ratio})`,
        },
      );
    } finally {
      await srv.stop();
    }
    return rows;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
