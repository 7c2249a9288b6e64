// Real UDP sockets on loopback: the server, the client and the userspace relay, in this process.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseNetem } from '../../src/impair/index.js';
import { get, ls, put, serve, startRelay } from '../../src/transport/index.js';
import { useServer } from '../helpers/server.js';
import { randomFile, sha256File } from '../helpers/tmp.js';

let bigSha = '';
const live = useServer({
  setup: (root, dir) => {
    mkdirSync(join(dir, 'out'));
    mkdirSync(join(root, 'sub'));
    bigSha = randomFile(join(root, 'big.bin'), 8 << 20);
    writeFileSync(join(root, 'text.txt'), 'hello udplab\n'.repeat(20000));
    writeFileSync(join(root, 'empty.bin'), '');
    symlinkSync('/etc', join(root, 'escape'));
  },
});
const { dir, root, identity } = live;
const out = join(dir, 'out');
const opts = live.clientOptions;

describe('udplab get / put / ls over loopback', () => {
  it('gets an 8 MiB file, verified, with the figures the lab reads', async () => {
    const local = join(out, 'big.bin');
    const r = await get(opts(), 'big.bin', local);
    expect(sha256File(local)).toBe(bigSha);
    expect(r.sha256).toBe(bigSha);
    expect(r.bytes).toBe(8 << 20);
    expect(r.goodput_bps).toBeGreaterThan(0);
    // path-MTU probing on loopback (route MTU 65,536): the data moves to 32,000-byte datagrams (31,956 bytes of
    // file each), where the probes used to stop at 1,472 (8 MiB: > 5,874 packets)
    expect(r.datagram_bytes).toBe(32_000);
    expect(r.packets_received).toBeGreaterThan((8 << 20) / 31_956);
    expect(r.packets_received).toBeLessThan((8 << 20) / 1428 / 10);
    expect(r.rtt_ms_min).toBeGreaterThanOrEqual(0);
    expect(r.security).toMatch(/^Noise_NK_25519_ChaChaPoly_SHA256, server SHA256:/);
    expect(readdirSync(out).filter((n) => n.startsWith('big.bin.') && n.includes('.part'))).toEqual([]);
    expect(existsSync(`${local}.part.journal`)).toBe(false);
  });

  it('gets an empty file', async () => {
    const local = join(out, 'empty.bin');
    const r = await get(opts(), 'empty.bin', local);
    expect(r.bytes).toBe(0);
    expect(sha256File(local)).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  });

  it('puts a file, compressed where chunks shrink, and the server promotes it after the hash matches', async () => {
    const r = await put({ ...opts(), compress: 'auto' }, join(root, 'text.txt'), 'sub/uploaded.txt');
    expect(sha256File(join(root, 'sub', 'uploaded.txt'))).toBe(sha256File(join(root, 'text.txt')));
    expect(r.compression).not.toBe('off');
    expect(r.compression_ratio).toBeGreaterThan(5);
    expect(readdirSync(join(root, 'sub')).filter((n) => n.includes('.part'))).toEqual([]);
    // compression saves packets, not only bytes: a DATA frame carries as much raw data as fits once compressed
    // (260,000 bytes are 183 packets of 1,428 raw bytes; at most 65,535 raw bytes a frame: 4 and then some)
    expect(r.packets_sent).toBeLessThan(260_000 / 1428 / 4);
  });

  it('lists a directory without .part files', async () => {
    const entries = await ls(opts(), '');
    expect(entries.map((e) => e.name)).toEqual(
      expect.arrayContaining(['big.bin', 'empty.bin', 'escape', 'sub', 'text.txt']),
    );
    expect(entries.find((e) => e.name === 'big.bin')?.size).toBe(8 << 20);
  });

  it('survives 10% loss each way, reordering and duplication through the relay', async () => {
    const relay = await startRelay({
      targetHost: '127.0.0.1',
      targetPort: live.server.port,
      up: parseNetem('delay 5ms loss 10% duplicate 5%'),
      down: parseNetem('delay 5ms loss 10% reorder 10% duplicate 5% corrupt 1%'),
      seed: 7,
    });
    try {
      // server, relay and client share this event loop: a 2 MiB file keeps the test short
      randomFile(join(root, 'mid.bin'), 2 << 20);
      const local = join(out, 'lossy.bin');
      const r = await get(opts({ port: relay.port }), 'mid.bin', local);
      expect(sha256File(local)).toBe(sha256File(join(root, 'mid.bin')));
      expect(r.packets_retransmitted).toBeGreaterThan(0);
      const rep = relay.report();
      expect(rep.downStats.lost).toBeGreaterThan(50);
      expect(rep.downStats.duplicated).toBeGreaterThan(5);
      expect(rep.downStats.corrupted).toBeGreaterThan(0);
    } finally {
      await relay.close();
    }
  });

  it('compressed frames that carry several packets of raw data survive 10% loss each way (retransmitted raw ranges)', async () => {
    const relay = await startRelay({
      targetHost: '127.0.0.1',
      targetPort: live.server.port,
      up: parseNetem('delay 5ms loss 10%'),
      down: parseNetem('delay 5ms loss 10% reorder 10%'),
      seed: 11,
    });
    try {
      // text that compresses about 3–4×: log-like lines with random numbers
      const lines: string[] = [];
      for (let i = 0; i < 40_000; i++)
        lines.push(`${i} GET /files/${randomBytes(3).toString('hex')} 200 ${randomBytes(2).readUInt16BE(0)} ms`);
      writeFileSync(join(root, 'log.txt'), `${lines.join('\n')}\n`);
      const local = join(out, 'log.txt');
      const r = await get(opts({ port: relay.port, compress: 'auto' }), 'log.txt', local);
      expect(sha256File(local)).toBe(sha256File(join(root, 'log.txt')));
      expect(r.packets_retransmitted).toBeGreaterThan(0);
      expect(r.compression).not.toBe('off');
      // fewer packets than raw bytes ÷ one packet's worth, retransmissions included
      expect(r.packets_received).toBeLessThan(r.bytes / 1428 / 1.5);
    } finally {
      await relay.close();
    }
  });

  it('the relay emulates a 1,500-byte link: RUFT’s larger probes are dropped there and data stays at 1,472', async () => {
    const relay = await startRelay({
      targetHost: '127.0.0.1',
      targetPort: live.server.port,
      up: parseNetem('delay 1ms'),
      down: parseNetem('delay 1ms'),
      seed: 5,
    });
    try {
      const local = join(out, 'via-relay.bin');
      const r = await get(opts({ port: relay.port }), 'big.bin', local);
      expect(sha256File(local)).toBe(bigSha);
      expect(r.datagram_bytes).toBe(1472);
      // the server probed 32,000 and 8,972 (its route to the relay is loopback's); the link dropped every try
      expect(relay.report().oversize).toEqual({ link_mtu: 1500, dropped: 6 });
      expect(relay.report().fragments).toBeUndefined();
    } finally {
      await relay.close();
    }
  });

  it('a ceiling (--max-datagram) keeps loopback data within 1,472 bytes, no probe above it', async () => {
    const capped = await serve({ root, host: '127.0.0.1', port: 0, identity, datagramCeiling: 1472 });
    try {
      const local = join(out, 'capped.bin');
      const r = await get(opts({ port: capped.port }), 'big.bin', local);
      expect(sha256File(local)).toBe(bigSha);
      expect(r.datagram_bytes).toBe(1472);
      expect(r.packets_received).toBeGreaterThan((8 << 20) / 1428);
    } finally {
      await capped.close();
    }
  });

  it('--datagram-size 1472 sends data in datagrams that fill a 1500-byte MTU exactly', async () => {
    const big = await serve({
      root,
      host: '127.0.0.1',
      port: 0,
      identity,
      config: { maxDatagramBytes: 1472, probeDatagramBytes: [] }, // as --datagram-size 1472 sets it
    });
    randomFile(join(root, 'd.bin'), 1 << 20);
    try {
      for (const mtu of [1500, 1400]) {
        const relay = await startRelay({
          targetHost: '127.0.0.1',
          targetPort: big.port,
          up: parseNetem('delay 1ms'),
          down: parseNetem('delay 1ms'),
          seed: 3,
          mtu,
        });
        try {
          const local = join(out, `d-${mtu}.bin`);
          const r = await get(opts({ port: relay.port }), 'd.bin', local);
          expect(sha256File(local)).toBe(sha256File(join(root, 'd.bin')));
          const frag = relay.report().fragments!;
          if (mtu === 1500) {
            expect(frag.datagrams).toBe(0); // 1472 + 28 bytes of IP and UDP headers = 1500
            // 1 MiB in 1,428-byte data frames: ~735 packets, where 1200-byte datagrams need ~907
            expect(r.packets_received).toBeLessThan(800);
          } else expect(frag.datagrams).toBeGreaterThan(700); // every full data packet is cut in two
        } finally {
          await relay.close();
        }
      }
    } finally {
      await big.close();
    }
  });

  it('udplab put --json reports the datagram size: probed (loopback: 32,000), bounded by --max-datagram, fixed by --datagram-size', async () => {
    const src = join(out, 'p.bin');
    randomFile(src, 1 << 20);
    const key = Buffer.from(identity.publicKey).toString('base64');
    const putJson = (name: string, extra: string[]) =>
      new Promise<{ datagram_bytes: number; packets_sent: number }>((resolve, reject) => {
        const bin = join(import.meta.dirname, '..', '..', 'bin', 'udplab.js');
        const args = ['put', src, `127.0.0.1:${live.server.port}`, name, '--json', '--server-key', key, ...extra];
        const c = spawn(process.execPath, [bin, ...args], { env: { ...process.env, UDPLAB_HOME: dir } });
        let text = '';
        let err = '';
        c.stdout.on('data', (d) => {
          text += d;
        });
        c.stderr.on('data', (d) => {
          err += d;
        });
        c.on('exit', (code) => (code === 0 ? resolve(JSON.parse(text)) : reject(new Error(`exit ${code}: ${err}`))));
      });
    const probed = await putJson('p1.bin', []);
    expect(probed.datagram_bytes).toBe(32_000);
    const bounded = await putJson('p3.bin', ['--max-datagram', '1472']);
    expect(bounded.datagram_bytes).toBe(1472);
    const fixed = await putJson('p2.bin', ['--datagram-size', '1300']);
    expect(fixed.datagram_bytes).toBe(1300);
    // 1 MiB: 1,256 bytes of file per 1300-byte datagram → > 834 packets; 1,428 per 1472-byte one → ~735
    expect(fixed.packets_sent).toBeGreaterThan(834);
    expect(bounded.packets_sent).toBeLessThan(fixed.packets_sent);
    // 1 MiB in 31,956-byte frames: 33 packets, after the 1,200-byte ones of the first round trips (up to 64)
    expect(probed.packets_sent).toBeLessThan(bounded.packets_sent / 4);
  });

  it('--datagram-size outside 1200–65507: one line, E_USAGE, exit 2', () => {
    for (const args of [
      ['serve', '--root', root, '--datagram-size', '1000'],
      ['put', join(root, 'd.bin'), '127.0.0.1:9', '--datagram-size', '70000'],
    ]) {
      const r = spawnSync(process.execPath, [join(import.meta.dirname, '..', '..', 'bin', 'udplab.js'), ...args], {
        encoding: 'utf8',
      });
      expect(r.status).toBe(2);
      expect(r.stderr.trim()).toMatch(/^udplab: E_USAGE: --datagram-size expects 1200–65507 bytes, got "\d+"$/);
    }
  });

  it('--max-datagram outside 1200–65507, or with --datagram-size: one line, E_USAGE, exit 2', () => {
    for (const [args, line] of [
      [['serve', '--root', root, '--max-datagram', '70000'], /--max-datagram expects 1200–65507 bytes, got "70000"$/],
      [
        ['put', join(root, 'd.bin'), '127.0.0.1:9', '--max-datagram', '9000', '--datagram-size', '1300'],
        /--datagram-size fixes the size and --max-datagram bounds the probing: give one of them$/,
      ],
    ] as const) {
      const r = spawnSync(process.execPath, [join(import.meta.dirname, '..', '..', 'bin', 'udplab.js'), ...args], {
        encoding: 'utf8',
      });
      expect(r.status).toBe(2);
      expect(r.stderr.trim()).toMatch(/^udplab: E_USAGE: /);
      expect(r.stderr.trim()).toMatch(line);
    }
  });

  it('serves four clients at once on one port', async () => {
    const results = await Promise.all(
      [1, 2, 3, 4].map((i) => get({ ...opts(), force: true }, 'big.bin', join(out, `c${i}.bin`))),
    );
    for (const [i, r] of results.entries()) {
      expect(r.sha256).toBe(bigSha);
      expect(sha256File(join(out, `c${i + 1}.bin`))).toBe(bigSha);
    }
  });
});

describe('clear failures, nothing under the final name', () => {
  const code = async (p: Promise<unknown>) => {
    try {
      await p;
      return 'no error';
    } catch (e) {
      return (e as { code?: string }).code;
    }
  };

  it('E_NOT_FOUND for a missing remote file', async () => {
    expect(await code(get(opts(), 'nope.bin', join(out, 'nope.bin')))).toBe('E_NOT_FOUND');
    expect(existsSync(join(out, 'nope.bin'))).toBe(false);
  });

  it.each(['../x', '/etc/passwd', 'sub/../../x', '%2e%2e/x', 'a\0b', 'escape/passwd', 'CON', 'x'.repeat(5000)])(
    'E_PATH_OUTSIDE_ROOT for %j (get)',
    async (name) => {
      expect(await code(get(opts(), name, join(out, 'attack.bin')))).toBe('E_PATH_OUTSIDE_ROOT');
      expect(existsSync(join(out, 'attack.bin'))).toBe(false);
    },
  );

  it('E_PATH_OUTSIDE_ROOT for put outside the root, and nothing is written there', async () => {
    expect(await code(put(opts(), join(root, 'text.txt'), '../escaped.txt'))).toBe('E_PATH_OUTSIDE_ROOT');
    expect(existsSync(join(dir, 'escaped.txt'))).toBe(false);
    expect(await code(put(opts(), join(root, 'text.txt'), 'escape/evil'))).toBe('E_PATH_OUTSIDE_ROOT');
  });

  it('E_EXISTS without --force, locally and on the server', async () => {
    writeFileSync(join(out, 'exists.bin'), 'keep me');
    expect(await code(get(opts(), 'big.bin', join(out, 'exists.bin')))).toBe('E_EXISTS');
    expect(await code(put(opts(), join(root, 'text.txt'), 'big.bin'))).toBe('E_EXISTS');
    expect(sha256File(join(root, 'big.bin'))).toBe(bigSha);
  });

  it('E_UNKNOWN_HOST and E_UNREACHABLE name what was tried', async () => {
    expect(await code(get({ host: 'no-such-host.invalid', port: 1 }, 'x', join(out, 'x')))).toBe('E_UNKNOWN_HOST');
    const err = await get(
      { host: '127.0.0.1', port: 9, config: { handshakeTimeoutMs: 1200 } },
      'x',
      join(out, 'x'),
    ).catch((e) => e);
    expect(err.code).toBe('E_UNREACHABLE');
    expect(err.message).toMatch(/127\.0\.0\.1:9 .*no answer from the server after \d+ attempts over 1\.\d s/);
  });

  it('a read-only server refuses uploads', async () => {
    const ro = await serve({ root, host: '127.0.0.1', port: 0, readOnly: true, identity });
    try {
      expect(await code(put({ ...opts(), port: ro.port }, join(root, 'text.txt'), 'ro.txt'))).toBe('E_PERMISSION');
      expect(existsSync(join(root, 'ro.txt'))).toBe(false);
    } finally {
      await ro.close();
    }
  });

  it('a --no-overwrite server takes new names but refuses --force, and the file stays as it was', async () => {
    const no = await serve({ root, host: '127.0.0.1', port: 0, noOverwrite: true, identity });
    try {
      const before = sha256File(join(root, 'text.txt'));
      expect(await code(put({ ...opts(), port: no.port, force: true }, join(root, 'big.bin'), 'text.txt'))).toBe(
        'E_PERMISSION',
      );
      expect(sha256File(join(root, 'text.txt'))).toBe(before);
      const r = await put({ ...opts(), port: no.port }, join(root, 'text.txt'), 'no-overwrite-new.txt');
      expect(r.sha256).toBe(before);
    } finally {
      await no.close();
    }
  });
});
