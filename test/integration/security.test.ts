// Sessions over real sockets: Noise NK / NKpsk0, known hosts (first contact, pinning, a changed key),
// wrong PSK, the plaintext teaching mode and its refusals; nothing is written when authentication fails.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { x25519KeyPair } from '../../src/crypto/index.js';
import { generateIdentity, get, type RunningServer, serve } from '../../src/transport/index.js';
import { randomFile, tempDir } from '../helpers/tmp.js';

const dir = tempDir();
const root = join(dir.path, 'root');
const identity = x25519KeyPair(randomBytes(32));
const psk = new Uint8Array(randomBytes(32));
let plain: RunningServer;
let secure: RunningServer;
let withPsk: RunningServer;
let sha = '';

beforeAll(async () => {
  mkdirSync(root);
  sha = randomFile(join(root, 'f.bin'), 300_000);
  secure = await serve({ root, host: '127.0.0.1', port: 0, identity });
  withPsk = await serve({ root, host: '127.0.0.1', port: 0, identity, psk });
  plain = await serve({ root, host: '127.0.0.1', port: 0, insecurePlaintext: true });
});

afterAll(async () => {
  await Promise.all([plain.close(), secure.close(), withPsk.close()]);
  dir[Symbol.dispose]();
});

const out = (name: string) => join(dir.path, name);
const fail = async (p: Promise<unknown>) =>
  p.then(
    () => ({ code: 'none', message: '' }),
    (e) => e as { code: string; message: string },
  );

describe('Noise sessions', () => {
  it('NK: the pinned server key authenticates the server; the session is AEAD-protected', async () => {
    const r = await get(
      { host: '127.0.0.1', port: secure.port, serverKey: identity.publicKey },
      'f.bin',
      out('nk.bin'),
    );
    expect(r.sha256).toBe(sha);
    expect(r.security).toMatch(/^Noise_NK_25519_ChaChaPoly_SHA256, server SHA256:/);
  });

  it('AESGCM works as well as ChaChaPoly', async () => {
    const r = await get(
      { host: '127.0.0.1', port: secure.port, serverKey: identity.publicKey, cipher: 'AESGCM' },
      'f.bin',
      out('gcm.bin'),
    );
    expect(r.security).toMatch(/^Noise_NK_25519_AESGCM_SHA256/);
  });

  it('a wrong pinned key fails with authentication failed, and nothing is written', async () => {
    const e = await fail(
      get(
        { host: '127.0.0.1', port: secure.port, serverKey: x25519KeyPair(randomBytes(32)).publicKey },
        'f.bin',
        out('wrong.bin'),
      ),
    );
    expect(e.code).toBe('E_AUTH_FAILED');
    expect(e.message).toMatch(/authentication failed/);
    expect(existsSync(out('wrong.bin'))).toBe(false);
    expect(readdirSync(dir.path).filter((n) => n.startsWith('wrong.bin.'))).toEqual([]); // no part, no journal
  });

  it('NKpsk0: the right PSK works; a wrong or missing PSK fails and writes nothing', async () => {
    const ok = await get(
      { host: '127.0.0.1', port: withPsk.port, serverKey: identity.publicKey, psk },
      'f.bin',
      out('psk.bin'),
    );
    expect(ok.security).toMatch(/^Noise_NKpsk0_/);
    const wrong = await fail(
      get(
        { host: '127.0.0.1', port: withPsk.port, serverKey: identity.publicKey, psk: new Uint8Array(randomBytes(32)) },
        'f.bin',
        out('psk2.bin'),
      ),
    );
    expect(wrong.code).toBe('E_AUTH_FAILED');
    expect(wrong.message).toMatch(/authentication failed/);
    const none = await fail(
      get({ host: '127.0.0.1', port: withPsk.port, serverKey: identity.publicKey }, 'f.bin', out('psk3.bin')),
    );
    expect(none.code).toBe('E_AUTH_FAILED');
    expect(existsSync(out('psk2.bin'))).toBe(false);
    expect(existsSync(out('psk3.bin'))).toBe(false);
  });
});

describe('known hosts', () => {
  it('first contact needs --accept-new; it pins the key; a changed key aborts as a possible man-in-the-middle', async () => {
    const kh = out('known_hosts');
    const base = { host: '127.0.0.1', knownHostsPath: kh };
    const first = await fail(get({ ...base, port: secure.port }, 'f.bin', out('kh0.bin')));
    expect(first.code).toBe('E_UNKNOWN_KEY');
    expect(first.message).toMatch(/SHA256:.*--accept-new/);
    const warnings: string[] = [];
    await get(
      { ...base, port: secure.port, acceptNew: true, onWarning: (w) => warnings.push(w) },
      'f.bin',
      out('kh1.bin'),
    );
    expect(warnings.join()).toMatch(/pinned 127\.0\.0\.1:\d+ SHA256:/);
    expect(readFileSync(kh, 'utf8')).toContain(Buffer.from(identity.publicKey).toString('base64'));
    await get({ ...base, port: secure.port }, 'f.bin', out('kh2.bin')); // pinned now, no flag needed
    // the same address now answers with another key
    const port = secure.port;
    await secure.close();
    const impostor = await serve({ root, host: '127.0.0.1', port, identity: x25519KeyPair(randomBytes(32)) });
    try {
      const e = await fail(get({ ...base, port, acceptNew: true }, 'f.bin', out('kh3.bin')));
      expect(e.code).toBe('E_KEY_CHANGED');
      expect(e.message).toMatch(/server key changed — possible man-in-the-middle/);
      expect(existsSync(out('kh3.bin'))).toBe(false);
    } finally {
      await impostor.close();
      secure = await serve({ root, host: '127.0.0.1', port: 0, identity });
    }
  });

  it('one server, several spellings: localhost, 127.1 and 127.0.0.1 share their pins; a mismatch on either is E_KEY_CHANGED', async () => {
    const kh = out('known_hosts_alias');
    const first = await serve({ root, host: '127.0.0.1', port: 0, identity });
    const port = first.port;
    try {
      const pinned: string[] = [];
      await get(
        { host: 'localhost', port, knownHostsPath: kh, acceptNew: true, onWarning: (w) => pinned.push(w) },
        'f.bin',
        out('alias0.bin'),
      );
      expect(pinned.join('\n')).toMatch(new RegExp(`pinned localhost:${port} SHA256:`));
      expect(pinned.join('\n')).toMatch(new RegExp(`pinned 127\\.0\\.0\\.1:${port} SHA256:`));
      // the other spellings are known now: no --accept-new needed, nothing more written
      const before = readFileSync(kh, 'utf8');
      await get({ host: '127.1', port, knownHostsPath: kh }, 'f.bin', out('alias1.bin'));
      await get({ host: 'LOCALHOST', port, knownHostsPath: kh }, 'f.bin', out('alias2.bin'));
      expect(readFileSync(kh, 'utf8')).toBe(before);
    } finally {
      await first.close();
    }
    const impostor = await serve({ root, host: '127.0.0.1', port, identity: x25519KeyPair(randomBytes(32)) });
    try {
      for (const host of ['127.0.0.1', '127.1', 'localhost']) {
        const e = await fail(get({ host, port, knownHostsPath: kh, acceptNew: true }, 'f.bin', out('alias3.bin')));
        expect(e.code, host).toBe('E_KEY_CHANGED');
      }
      // pins disagreeing with each other (an old file pinned the name, another key the address): still refused
      const mixed = out('known_hosts_mixed');
      const other = Buffer.from(x25519KeyPair(randomBytes(32)).publicKey).toString('base64');
      const real = readFileSync(kh, 'utf8').split('\n')[0]!.split(' ')[1];
      writeFileSync(mixed, `localhost:${port} ${real}\n127.0.0.1:${port} ${other}\n`);
      expect(
        (await fail(get({ host: 'localhost', port, knownHostsPath: mixed }, 'f.bin', out('alias4.bin')))).code,
      ).toBe('E_KEY_CHANGED');
    } finally {
      await impostor.close();
    }
    expect(existsSync(out('alias3.bin')) || existsSync(out('alias4.bin'))).toBe(false);
  });

  it('--accept-new says what it pinned on stderr even with --json or --quiet (a security decision, not chatter)', async () => {
    const bin = join(import.meta.dirname, '..', '..', 'bin', 'udplab.js');
    for (const flag of ['--json', '--quiet']) {
      const kh = out(`known_hosts_cli${flag}`);
      const r = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
        const c = spawn(process.execPath, [
          bin,
          'get',
          `127.0.0.1:${secure.port}`,
          'f.bin',
          out(`cli${flag}.bin`),
          '--accept-new',
          '--known-hosts',
          kh,
          flag,
        ]);
        let stdout = '';
        let stderr = '';
        c.stdout.on('data', (d) => {
          stdout += d;
        });
        c.stderr.on('data', (d) => {
          stderr += d;
        });
        c.on('exit', (code) => resolve({ code, stdout, stderr }));
      });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toMatch(
        new RegExp(`^udplab: pinned 127\\.0\\.0\\.1:${secure.port} SHA256:\\S+ in .*known_hosts`, 'm'),
      );
      if (flag === '--json') expect(JSON.parse(r.stdout).sha256).toBe(sha);
      else expect(r.stdout).toBe('');
    }
  });

  it('keygen writes the key with mode 0600', () => {
    const f = out('id.key');
    const kp = generateIdentity(f);
    expect(statSync(f).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(f, 'utf8')).public).toBe(Buffer.from(kp.publicKey).toString('base64'));
  });
});

describe('plaintext teaching mode', () => {
  it('works only when both sides ask for it, and says so', async () => {
    const r = await get({ host: '127.0.0.1', port: plain.port, insecurePlaintext: true }, 'f.bin', out('plain.bin'));
    expect(r.sha256).toBe(sha);
    expect(r.security).toMatch(/^PLAINTEXT teaching mode/);
    const e1 = await fail(
      get({ host: '127.0.0.1', port: secure.port, insecurePlaintext: true }, 'f.bin', out('p1.bin')),
    );
    expect(e1.code).toBe('E_AUTH_FAILED');
    expect(e1.message).toMatch(/requires encryption/);
    const e2 = await fail(
      get({ host: '127.0.0.1', port: plain.port, serverKey: identity.publicKey }, 'f.bin', out('p2.bin')),
    );
    expect(e2.code).toBe('E_AUTH_FAILED');
    expect(e2.message).toMatch(/teaching mode/);
  });
});
