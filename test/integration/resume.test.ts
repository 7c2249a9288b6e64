// kill -9 a downloading client mid-transfer, then --resume: the journal carries what was stored.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseNetem } from '../../src/impair/index.js';
import { get, type RunningRelay, startRelay } from '../../src/transport/index.js';
import { useServer } from '../helpers/server.js';
import { randomFile, sha256File } from '../helpers/tmp.js';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'udplab.js');
let relay: RunningRelay;
let sha = '';
const live = useServer({
  setup: (root) => {
    sha = randomFile(join(root, 'f.bin'), 6 << 20);
  },
});
const { dir, root, identity } = live;
const key = Buffer.from(identity.publicKey).toString('base64');

beforeAll(async () => {
  // 20 Mbit/s: the 6 MiB download takes ~2.5 s, time enough to kill it in the middle
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

/** The part a journal records (`NAME.<16 hex>.part`, beside NAME), or undefined. */
function partOf(journal: string): string | undefined {
  try {
    const j = JSON.parse(readFileSync(journal, 'utf8')) as { part?: string };
    return j.part ? join(dirname(journal), j.part) : undefined;
  } catch {
    return undefined;
  }
}

/** Parts of NAME left in its directory (any `NAME.*.part`). */
const partsOf = (final: string) =>
  readdirSync(dirname(final)).filter(
    (n) => n.startsWith(`${final.slice(dirname(final).length + 1)}.`) && n.endsWith('.part'),
  );

function heldBytes(journal: string): number {
  try {
    const j = JSON.parse(readFileSync(journal, 'utf8')) as { ranges: Array<[number, number]> };
    return j.ranges.reduce((n, [a, b]) => n + b - a, 0);
  } catch {
    return 0;
  }
}

describe('resume after kill -9', () => {
  it('continues from the journal and ends with the right file', async () => {
    const local = join(dir, 'f.bin');
    const child = spawn(
      process.execPath,
      [BIN, 'get', `127.0.0.1:${relay.port}`, 'f.bin', local, '--quiet', '--server-key', key],
      {
        stdio: 'ignore',
      },
    );
    const deadline = Date.now() + 20_000;
    while (heldBytes(`${local}.part.journal`) < 2 << 20 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 50));
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    const held = heldBytes(`${local}.part.journal`);
    expect(held).toBeGreaterThanOrEqual(2 << 20);
    expect(existsSync(local)).toBe(false); // nothing under the final name
    const part = partOf(`${local}.part.journal`);
    expect(part).toMatch(/f\.bin\.[0-9a-f]{16}\.part$/);
    expect(existsSync(part!)).toBe(true);

    const out = await new Promise<string>((resolve, reject) => {
      const c = spawn(process.execPath, [
        BIN,
        'get',
        `127.0.0.1:${relay.port}`,
        'f.bin',
        local,
        '--resume',
        '--json',
        '--server-key',
        key,
      ]);
      let text = '';
      c.stdout.on('data', (d) => {
        text += d;
      });
      c.on('exit', (code) => (code === 0 ? resolve(text) : reject(new Error(`exit ${code}`))));
    });
    const r = JSON.parse(out) as { resumed_bytes: number; sha256: string };
    expect(r.resumed_bytes).toBeGreaterThan(0);
    expect(r.resumed_bytes).toBeLessThanOrEqual(held);
    expect(r.sha256).toBe(sha);
    expect(sha256File(local)).toBe(sha);
    expect(existsSync(part!)).toBe(false);
    expect(partsOf(local)).toEqual([]);
    expect(existsSync(`${local}.part.journal`)).toBe(false);
  });
});

describe('resume of a file that changed on the server', () => {
  it('same size, other bytes: the server does not honour the old ranges and the new file arrives whole (E_INTEGRITY at the end before)', async () => {
    writeFileSync(join(root, 'g.bin'), randomBytes(4 << 20));
    const local = join(dir, 'g.bin');
    const ac = new AbortController();
    const first = get(
      live.clientOptions({
        port: relay.port,
        signal: ac.signal,
        onProgress: (p) => {
          if (p.bytesDone > 1 << 20) ac.abort();
        },
      }),
      'g.bin',
      local,
    ).catch((e) => e as { code: string });
    expect(((await first) as { code: string }).code).toBe('E_ABORTED');
    expect(heldBytes(`${local}.part.journal`)).toBeGreaterThan(1 << 20);
    // the file is replaced by another of the same size
    const newSha = randomFile(join(root, 'g.bin'), 4 << 20);
    const r = await get(live.clientOptions({ port: relay.port, resume: true }), 'g.bin', local);
    expect(r.resumed_bytes).toBe(0);
    expect(r.sha256).toBe(newSha);
    expect(sha256File(local)).toBe(newSha);
    expect(partsOf(local)).toEqual([]);
  });
});

describe('resume after the server was killed -9 during an upload', () => {
  it('the restarted server continues from its own journal and promotes only the right file', async () => {
    const srvRoot = join(dir, 'srvroot');
    mkdirSync(srvRoot);
    const src = join(dir, 'up.bin');
    const upSha = randomFile(src, 6 << 20);
    const idFile = join(dir, 'id.key');
    const { generateIdentity, put } = await import('../../src/transport/index.js');
    const id = generateIdentity(idFile);
    // below Linux's ephemeral range (32768+): a port from it could be taken by any client socket on this machine
    // between the kill and the restart (a CI run once hung here for 60 s, the restarted server never listening)
    const port = 20000 + Math.floor(Math.random() * 12000);
    const startServer = async () => {
      const c = spawn(
        process.execPath,
        [
          BIN,
          'serve',
          '--root',
          srvRoot,
          '--host',
          '127.0.0.1',
          '--port',
          String(port),
          '--identity',
          idFile,
          '--quiet',
        ],
        {
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      let err = '';
      c.stderr!.on('data', (d) => {
        err += d;
      });
      await new Promise<void>((ok, fail) => {
        c.stdout!.on('data', (d) => String(d).includes('listening') && ok());
        c.once('exit', (code) => fail(new Error(`udplab serve on port ${port} exited (${code}): ${err.trim()}`)));
      });
      return c;
    };
    const upRelay = await startRelay({
      targetHost: '127.0.0.1',
      targetPort: port,
      up: parseNetem('delay 2ms rate 20mbit limit 200'),
      down: parseNetem('delay 2ms'),
    });
    try {
      const srv = await startServer();
      const key = Buffer.from(id.publicKey).toString('base64');
      const client = spawn(
        process.execPath,
        [BIN, 'put', src, `127.0.0.1:${upRelay.port}`, 'up.bin', '--quiet', '--server-key', key],
        {
          stdio: 'ignore',
        },
      );
      const journal = join(srvRoot, 'up.bin.part.journal');
      const deadline = Date.now() + 20_000;
      while (heldBytes(journal) < 2 << 20 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      srv.kill('SIGKILL');
      client.kill('SIGKILL');
      await Promise.all([new Promise((r) => srv.once('exit', r)), new Promise((r) => client.once('exit', r))]);
      const held = heldBytes(journal);
      expect(held).toBeGreaterThanOrEqual(2 << 20);
      expect(existsSync(join(srvRoot, 'up.bin'))).toBe(false);
      const upPart = partOf(journal);
      expect(existsSync(upPart!)).toBe(true);

      const srv2 = await startServer();
      try {
        const r = await put({ host: '127.0.0.1', port, serverKey: id.publicKey, resume: true }, src, 'up.bin');
        expect(r.resumed_bytes).toBeGreaterThan(0);
        expect(r.sha256).toBe(upSha);
        expect(sha256File(join(srvRoot, 'up.bin'))).toBe(upSha);
        expect(existsSync(journal)).toBe(false);
        expect(existsSync(upPart!)).toBe(false);
        expect(partsOf(join(srvRoot, 'up.bin'))).toEqual([]);
      } finally {
        srv2.kill('SIGTERM');
      }
    } finally {
      await upRelay.close();
    }
  });
});
