// A receiver whose disk fills: one clear error (E_DISK_FULL), nothing under the final name.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { x25519KeyPair } from '../../src/crypto/index.js';
import { get, serve } from '../../src/transport/index.js';
import { randomFile, tempDir } from '../helpers/tmp.js';

function canMount(): boolean {
  return process.getuid?.() === 0;
}

describe.skipIf(!canMount())('disk full on the receiving side (a 1 MiB tmpfs)', () => {
  it('fails with E_DISK_FULL and leaves no final file', async () => {
    using dir = tempDir();
    const root = join(dir.path, 'root');
    const small = join(dir.path, 'small');
    mkdirSync(root);
    mkdirSync(small);
    randomFile(join(root, 'big.bin'), 4 << 20);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', small]);
    const identity = x25519KeyPair(randomBytes(32));
    const server = await serve({ root, host: '127.0.0.1', port: 0, identity });
    try {
      const err = await get(
        { host: '127.0.0.1', port: server.port, serverKey: identity.publicKey },
        'big.bin',
        join(small, 'big.bin'),
      ).catch((e) => e as { code: string; message: string });
      expect((err as { code: string }).code).toBe('E_DISK_FULL');
      expect((err as { message: string }).message).toMatch(/disk full/);
      expect(existsSync(join(small, 'big.bin'))).toBe(false);
    } finally {
      await server.close();
      execFileSync('umount', [small]);
    }
  });
});
