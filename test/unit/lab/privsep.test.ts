// Who users' programs run as when the lab is root (src/lab/runtimes/privsep.ts): the setpriv prefix, ids no system
// user or group has, a pair per implementation, and the folder check that says why a program could not read its own.
import { chmodSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { IdPool, setprivArgv, unreadableBy } from '../../../src/lab/runtimes/privsep.js';
import { tempDir } from '../../helpers/tmp.js';

describe('exec programs as users of their own', () => {
  it('setpriv drops every capability and group, for good, before the argv', () => {
    expect(setprivArgv({ uid: 1_200_000_004, gid: 1_200_000_004 })).toEqual([
      'setpriv',
      '--reuid=1200000004',
      '--regid=1200000004',
      '--clear-groups',
      '--no-new-privs',
      '--inh-caps=-all',
      '--bounding-set=-all',
      '--',
    ]);
  });

  it('a pair per implementation (server, clients), none shared, none a system id; the block moves past one', () => {
    const first = new IdPool(7, new Set(), 0);
    const base = first.pair('exec-a').server.uid;
    // a system user inside that block: a lab with the same PID and pool number takes the next block
    const used = new Set([0, 65534, base + 3]);
    const pool = new IdPool(7, used, 0);
    const a = pool.pair('exec-a');
    const b = pool.pair('exec-b');
    expect(pool.pair('exec-a')).toBe(a);
    const ids = [a.server.uid, a.client.uid, b.server.uid, b.client.uid];
    expect(new Set(ids).size).toBe(4);
    for (const id of ids) {
      expect(used.has(id)).toBe(false);
      expect(id).toBeGreaterThanOrEqual(1_200_000_000);
      expect(id).toBeLessThan(2 ** 31);
    }
    expect(a.server.gid).toBe(a.server.uid);
    expect(a.server.uid).toBe(base + 256);
    expect(new IdPool(7, new Set(), 1).pair('exec-a').server.uid).not.toBe(base); // another pool of this lab
  });

  it('a folder others cannot read, or one above it they cannot cross, is named with its mode', () => {
    using dir = tempDir();
    const impl = join(dir.path, 'alice');
    mkdirSync(impl);
    chmodSync(dir.path, 0o755);
    chmodSync(impl, 0o755);
    expect(unreadableBy(impl)).toBeUndefined();
    chmodSync(dir.path, 0o700);
    expect(unreadableBy(impl)).toBe(`${dir.path} is mode 0700`);
    chmodSync(dir.path, 0o711);
    chmodSync(impl, 0o711);
    expect(unreadableBy(impl)).toBe(`${impl} is mode 0711`);
    expect(unreadableBy(impl, { read: false })).toBeUndefined(); // a PATH entry: crossing is enough
  });
});
