// A client whose connection cannot be built (here: an unusable UDPLAB_CRYPTO) must print its one error line and exit
// at once. It used to print the line and keep its socket open, so `udplab get` did not exit (>20 s measured).
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/tmp.js';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'udplab.js');
const dir = tempDir();

describe('client: a connection that cannot be built', () => {
  let server: ChildProcess;
  let port = 0;
  beforeAll(async () => {
    writeFileSync(join(dir.path, 'f'), 'hello\n');
    server = spawn(process.execPath, [BIN, 'serve', '--root', dir.path, '--host', '127.0.0.1', '--port', '0'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, HOME: dir.path },
    });
    port = await new Promise<number>((resolve, reject) => {
      let out = '';
      const t = setTimeout(() => reject(new Error(`serve did not listen: ${out}`)), 20_000);
      server.stdout?.on('data', (d: Buffer) => {
        out += d;
        const m = /listening on 127\.0\.0\.1:(\d+)/.exec(out);
        if (m) {
          clearTimeout(t);
          resolve(Number(m[1]));
        }
      });
    });
  }, 30_000);
  afterAll(() => {
    server.kill('SIGKILL');
    dir[Symbol.dispose]();
  });

  it('udplab get with UDPLAB_CRYPTO=bogus exits 2 with one E_USAGE line, without waiting', () => {
    const r = spawnSync(
      process.execPath,
      [BIN, 'get', `127.0.0.1:${port}`, 'f', join(dir.path, 'out'), '--accept-new'],
      { env: { ...process.env, HOME: dir.path, UDPLAB_CRYPTO: 'bogus' }, encoding: 'utf8', timeout: 15_000 },
    );
    expect(r.error, 'get did not exit within 15 s').toBeUndefined();
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/udplab: E_USAGE: UDPLAB_CRYPTO=bogus/);
  }, 30_000);
});
