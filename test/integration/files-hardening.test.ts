// The file layer against a live server on 127.0.0.1 (review #2, #5, #6, #9, #14): planted symlinks at the old
// derived names, concurrent uploads of one name, remote requests for temp names, a FIFO in the root.
import { spawn } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseNetem } from '../../src/impair/index.js';
import { generateIdentity, get, put, startRelay } from '../../src/transport/index.js';
import { useServer } from '../helpers/server.js';
import { randomFile, sha256File } from '../helpers/tmp.js';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'udplab.js');
const live = useServer({
  setup: (_root, dir) => {
    mkdirSync(join(dir, 'out'));
  },
});
const { dir, root } = live;
const out = join(dir, 'out');

const opts = (port = live.server.port) => live.clientOptions({ port, config: { handshakeTimeoutMs: 3000 } });
const fail = async (p: Promise<unknown>) =>
  p.then(
    () => 'no error',
    (e) => (e as { code?: string }).code,
  );

describe('remote PUT and the part file', () => {
  it('symlinks planted at NAME.part and NAME.part.journal.tmp: a PUT writes nothing outside the root, NAME is a regular file', async () => {
    const outsideA = join(dir, 'outside-a.txt');
    const outsideB = join(dir, 'outside-b.txt');
    writeFileSync(outsideA, 'precious A');
    writeFileSync(outsideB, 'precious B');
    symlinkSync(outsideA, join(root, 'report.txt.part'));
    symlinkSync(outsideB, join(root, 'report.txt.part.journal.tmp'));
    const src = join(out, 'report-src.txt');
    const sha = randomFile(src, 50_000);
    const r = await put(opts(), src, 'report.txt');
    expect(r.sha256).toBe(sha);
    expect(readFileSync(outsideA, 'utf8')).toBe('precious A');
    expect(readFileSync(outsideB, 'utf8')).toBe('precious B');
    expect(lstatSync(join(root, 'report.txt')).isSymbolicLink()).toBe(false);
    expect(sha256File(join(root, 'report.txt'))).toBe(sha);
  });

  it('a second PUT of a name being uploaded is refused (E_BUSY) and the first upload ends intact', async () => {
    // 4 Mbit/s upstream: the first 1 MiB upload takes ~2 s, the second starts while it runs
    const relay = await startRelay({
      targetHost: '127.0.0.1',
      targetPort: live.server.port,
      up: parseNetem('delay 2ms rate 4mbit limit 400'),
      down: parseNetem('delay 2ms'),
    });
    try {
      const a = join(out, 'a.bin');
      const b = join(out, 'b.bin');
      const shaA = randomFile(a, 1 << 20);
      writeFileSync(b, Buffer.alloc(1 << 20, 0x42));
      const first = put(opts(relay.port), a, 'shared.bin');
      const deadline = Date.now() + 10_000;
      while (!readdirSync(root).some((n) => n.startsWith('shared.bin.')) && Date.now() < deadline)
        await new Promise((ok) => setTimeout(ok, 10));
      expect(await fail(put(opts(), b, 'shared.bin'))).toBe('E_BUSY');
      const r = await first;
      expect(r.sha256).toBe(shaA);
      expect(sha256File(join(root, 'shared.bin'))).toBe(shaA);
      expect(readdirSync(root).filter((n) => n.startsWith('shared.bin.'))).toEqual([]);
    } finally {
      await relay.close();
    }
  });
});

describe('remote names of temp files', () => {
  it('GET and PUT of NAME.part, NAME.part.journal and journal temp names are refused; PUT NAME leaves NAME.part alone', async () => {
    writeFileSync(join(root, 'x.part'), 'someone else’s partial upload');
    writeFileSync(join(root, 'x.part.journal'), '{}');
    writeFileSync(join(root, 'x.part.journal.tmp'), '{}');
    const src = join(out, 'x-src.bin');
    randomFile(src, 1000);
    for (const name of ['x.part', 'x.part.journal', 'x.part.journal.tmp', 'sub/y.0123456789abcdef.part']) {
      expect(await fail(get(opts(), name, join(out, 'stolen.bin'))), `get ${name}`).toBe('E_PATH_OUTSIDE_ROOT');
      expect(await fail(put(opts(), src, name)), `put ${name}`).toBe('E_PATH_OUTSIDE_ROOT');
    }
    expect(existsSync(join(out, 'stolen.bin'))).toBe(false);
    await put(opts(), src, 'x');
    expect(readFileSync(join(root, 'x.part'), 'utf8')).toBe('someone else’s partial upload');
  });
});

describe('a FIFO in the root', () => {
  it('GET of a FIFO is refused at once and the server keeps serving (server in a child process, bounded)', async () => {
    const r2 = join(dir, 'fifo-root');
    mkdirSync(r2);
    writeFileSync(join(r2, 'ok.txt'), 'fine\n');
    const mk = spawn('mkfifo', [join(r2, 'pipe')]);
    expect(await new Promise((ok) => mk.once('exit', ok))).toBe(0);
    const idFile = join(dir, 'fifo.key');
    const id = generateIdentity(idFile);
    const srv = spawn(
      process.execPath,
      [BIN, 'serve', '--root', r2, '--host', '127.0.0.1', '--port', '0', '--identity', idFile, '--quiet'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    try {
      const port = await new Promise<number>((ok, no) => {
        const t = setTimeout(() => no(new Error('server did not start')), 20_000);
        srv.stdout!.on('data', (d) => {
          const m = /listening on [^ ]*:(\d+),/.exec(String(d));
          if (m) {
            clearTimeout(t);
            ok(Number(m[1]));
          }
        });
      });
      // "at once" is the answer itself, not a stopwatch: a server blocked in open() on the FIFO never answers, and
      // the client gives up with a timeout of its own (10 s: a handshake on a loaded host is slow, not lost)
      const o = { host: '127.0.0.1', port, serverKey: id.publicKey, config: { handshakeTimeoutMs: 10_000 } };
      expect(await fail(get(o, 'pipe', join(out, 'pipe.out')))).toBe('E_NOT_FOUND');
      const r = await get(o, 'ok.txt', join(out, 'ok.txt'));
      expect(r.bytes).toBe(5);
    } finally {
      srv.kill('SIGKILL'); // a server stuck in open() on the FIFO does not run its SIGTERM handler
      await new Promise((ok) => (srv.exitCode !== null || srv.signalCode !== null ? ok(0) : srv.once('exit', ok)));
    }
  });
});
