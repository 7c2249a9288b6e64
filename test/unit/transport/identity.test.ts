// Key and PSK files (review #14): like ssh, a key or PSK file open to group or others is refused with one line
// naming the file, its mode and the chmod fix; a PSK file holds 64 hex digits or base64 of exactly 32 bytes, never
// 32 raw bytes (a 32-character passphrase must not silently become a key); `udplab keygen --psk FILE` makes one.
import { spawnSync } from 'node:child_process';
import { chmodSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { generateIdentity, loadIdentity, loadPsk } from '../../../src/transport/index.js';
import { tempDir } from '../../helpers/tmp.js';

const BIN = join(import.meta.dirname, '..', '..', '..', 'bin', 'udplab.js');
const HEX = 'a1'.repeat(32);

function failure(f: () => unknown): { code?: string; message: string } {
  try {
    f();
    return { code: 'none', message: '' };
  } catch (e) {
    return e as { code?: string; message: string };
  }
}

describe('file modes of secrets', () => {
  it('loadPsk refuses a PSK file readable by group or others, naming the file, its mode and chmod 600', () => {
    using dir = tempDir();
    const f = join(dir.path, 'psk.hex');
    for (const mode of [0o644, 0o640, 0o604, 0o660]) {
      writeFileSync(f, `${HEX}\n`);
      chmodSync(f, mode);
      const e = failure(() => loadPsk(f));
      expect(e.code).toBe('E_USAGE');
      expect(e.message).not.toContain('\n');
      expect(e.message).toContain(f);
      expect(e.message).toContain(`0${mode.toString(8)}`);
      expect(e.message).toContain(`chmod 600 ${f}`);
    }
    chmodSync(f, 0o600);
    expect(loadPsk(f)).toEqual(new Uint8Array(Buffer.from(HEX, 'hex')));
    chmodSync(f, 0o400);
    expect(loadPsk(f).length).toBe(32);
  });

  it('loadIdentity refuses a key file readable by group or others', () => {
    using dir = tempDir();
    const f = join(dir.path, 'server.key');
    generateIdentity(f);
    expect(loadIdentity(f).publicKey.length).toBe(32);
    chmodSync(f, 0o644);
    const e = failure(() => loadIdentity(f));
    expect(e.code).toBe('E_USAGE');
    expect(e.message).toMatch(/server\.key has mode 0644.*chmod 600/);
  });
});

describe('PSK file contents', () => {
  const load = (body: string | Buffer) => {
    using dir = tempDir();
    const f = join(dir.path, 'psk');
    writeFileSync(f, body, { mode: 0o600 });
    return failure(() => loadPsk(f));
  };

  it('refuses 32 raw bytes: a 32-character passphrase is not a key', () => {
    const e = load('correct horse battery staple 12!');
    expect(e.code).toBe('E_USAGE');
    expect(e.message).toMatch(/32 raw bytes.*64 hex digits or base64.*udplab keygen --psk/);
    expect(load(Buffer.alloc(32, 7)).code).toBe('E_USAGE');
  });

  it('accepts 64 hex digits or base64 of exactly 32 bytes (a trailing newline is fine), refuses other lengths', () => {
    using dir = tempDir();
    const f = join(dir.path, 'psk');
    const key = Buffer.from(HEX, 'hex');
    for (const body of [HEX, `${HEX.toUpperCase()}\n`, key.toString('base64'), `${key.toString('base64')}\r\n`]) {
      writeFileSync(f, body, { mode: 0o600 });
      expect(Buffer.from(loadPsk(f))).toEqual(key);
    }
    expect(load(Buffer.alloc(31, 1).toString('base64')).code).toBe('E_USAGE');
    expect(load(Buffer.alloc(33, 1).toString('base64')).code).toBe('E_USAGE');
    expect(load(`${HEX}00`).code).toBe('E_USAGE');
    expect(load('').code).toBe('E_USAGE');
  });
});

describe('udplab keygen --psk FILE', () => {
  it('writes 32 random bytes as hex with mode 0600, loadable; never overwrites', () => {
    using dir = tempDir();
    const f = join(dir.path, 'lab.psk');
    const old = process.umask(0o022);
    try {
      const r = spawnSync(process.execPath, [BIN, 'keygen', '--psk', f], { encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toContain(f);
    } finally {
      process.umask(old);
    }
    expect(statSync(f).mode & 0o777).toBe(0o600);
    expect(readFileSync(f, 'utf8')).toMatch(/^[0-9a-f]{64}\n$/);
    const first = readFileSync(f, 'utf8');
    expect(loadPsk(f).length).toBe(32);
    const again = spawnSync(process.execPath, [BIN, 'keygen', '--psk', f], { encoding: 'utf8' });
    expect(again.status).toBe(2);
    expect(again.stderr.trim()).toMatch(/^udplab: E_USAGE: .*already exists/);
    expect(readFileSync(f, 'utf8')).toBe(first);
  });
});
