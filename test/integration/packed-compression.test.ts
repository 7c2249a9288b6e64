// Compression that saves packets, over real UDP on loopback through the CLI: a ~15 MB log text (bench/text.ts)
// uploaded and downloaded with `--compress auto`, its packets counted and its SHA-256 checked; then a compressed
// download killed -9 midway (behind a 20 Mbit/s relay) and resumed, its rest packed as well. Before packing, each DATA frame carried one
// packet's raw bytes, compressed: the upload took ≥ 10,505 packets (15,000,000 / 1,428 bytes of file each).
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { logText } from '../../bench/text.js';
import { sha256Of, toHex } from '../../src/crypto/index.js';
import { parseNetem } from '../../src/impair/index.js';
import { type RunningRelay, startRelay } from '../../src/transport/index.js';
import { useServer } from '../helpers/server.js';
import { sha256File } from '../helpers/tmp.js';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'udplab.js');
const SIZE = 15_000_000;
/** Bytes of file in one uncompressed packet at the 1472-byte datagram loopback probes up to. */
const RAW_PER_PACKET = 1428;
let relay: RunningRelay;
let sha = '';
const live = useServer({
  setup: (root, dir) => {
    const text = logText(SIZE, 3);
    writeFileSync(join(dir, 'log.txt'), text);
    writeFileSync(join(root, 'served.txt'), text);
    sha = toHex(sha256Of(text));
  },
});
const { dir, root, identity } = live;
const key = Buffer.from(identity.publicKey).toString('base64');

beforeAll(async () => {
  relay = await startRelay({
    targetHost: '127.0.0.1',
    targetPort: live.server.port,
    up: parseNetem('delay 2ms'),
    down: parseNetem('delay 2ms rate 20mbit limit 200'),
  });
});

afterAll(async () => {
  await relay?.close();
});

interface Report {
  sha256: string;
  bytes: number;
  packets_sent: number;
  compression: string;
  compression_ratio: number;
  resumed_bytes: number;
}

/** Runs the CLI to its end (at most 60 s) and returns its --json report. */
function udplab(args: string[]): Promise<Report> {
  return new Promise((resolve, reject) => {
    const c = spawn(process.execPath, [BIN, ...args, '--json', '--server-key', key]);
    const timer = setTimeout(() => c.kill('SIGKILL'), 60_000);
    let out = '';
    let err = '';
    c.stdout.on('data', (d) => {
      out += d;
    });
    c.stderr.on('data', (d) => {
      err += d;
    });
    c.on('exit', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(JSON.parse(out) as Report);
      else reject(new Error(`udplab ${args[0]} exit ${code}: ${err.trim()}`));
    });
  });
}

function heldBytes(journal: string): number {
  try {
    const j = JSON.parse(readFileSync(journal, 'utf8')) as { ranges: Array<[number, number]> };
    return j.ranges.reduce((n, [a, b]) => n + b - a, 0);
  } catch {
    return 0;
  }
}

describe('packed compression over loopback', () => {
  it('puts and gets a 15 MB text in under 1/2.5 of the packets it takes uncompressed, SHA-256 matching', async () => {
    const up = await udplab([
      'put',
      join(dir, 'log.txt'),
      `127.0.0.1:${live.server.port}`,
      'uploaded.txt',
      '--compress',
      'auto',
    ]);
    const local = join(dir, 'downloaded.txt');
    const down = await udplab(['get', `127.0.0.1:${live.server.port}`, 'served.txt', local, '--compress', 'auto']);
    const uncompressed = Math.ceil(SIZE / RAW_PER_PACKET);
    console.log(
      `15 MB log text: put ${up.packets_sent} packets (${up.compression} ×${up.compression_ratio}), ` +
        `get ${down.packets_sent} packets; uncompressed ≥ ${uncompressed}`,
    );
    for (const r of [up, down]) {
      expect(r.sha256).toBe(sha);
      expect(r.bytes).toBe(SIZE);
      expect(r.compression).not.toBe('off');
      expect(r.packets_sent * 2.5).toBeLessThan(uncompressed);
    }
    expect(sha256File(join(root, 'uploaded.txt'))).toBe(sha);
    expect(sha256File(local)).toBe(sha);
  });

  it('resumes a compressed download killed -9 midway, ending with the right file', async () => {
    const local = join(dir, 'resumed.txt');
    const journal = `${local}.part.journal`;
    const child = spawn(
      process.execPath,
      [
        BIN,
        'get',
        `127.0.0.1:${relay.port}`,
        'served.txt',
        local,
        '--compress',
        'auto',
        '--quiet',
        '--server-key',
        key,
      ],
      { stdio: 'ignore' },
    );
    const deadline = Date.now() + 30_000;
    while (heldBytes(journal) < 4 << 20 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    const held = heldBytes(journal);
    expect(held).toBeGreaterThanOrEqual(4 << 20);
    expect(held).toBeLessThan(SIZE);
    const r = await udplab(['get', `127.0.0.1:${relay.port}`, 'served.txt', local, '--resume', '--compress', 'auto']);
    console.log(`killed holding ${held} bytes; resumed ${r.resumed_bytes}, ${r.packets_sent} packets to the end`);
    expect(r.resumed_bytes).toBeGreaterThan(0);
    expect(r.resumed_bytes).toBeLessThanOrEqual(held);
    expect(r.compression).not.toBe('off');
    // the rest is packed too (before: one packet per 1,428 bytes, 7,331 packets for the last 10.5 MB)
    expect(r.packets_sent * 2.5).toBeLessThan((SIZE - r.resumed_bytes) / RAW_PER_PACKET);
    expect(r.sha256).toBe(sha);
    expect(sha256File(local)).toBe(sha);
  });
});
