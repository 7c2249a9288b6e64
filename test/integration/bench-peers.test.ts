// The benchmark's peers outside udplab work as `npm run bench` uses them: Debian's uftp (unicast, encrypted)
// delivers the file with the right SHA-256 and a rate; udx-native and utp-native (optional npm dependencies,
// prebuilds inside their packages) move a file over loopback and through the userspace relay's lossy link. `.ci/run` installs uftp and sets UDPLAB_REQUIRE_PEERS=1,
// so a missing peer fails there instead of silently dropping a row from the performance table.
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  relayOnLoopback,
  startStreamPeer,
  startTftpdHpa,
  streamPeerGet,
  tftpHpaGet,
  uftpPush,
} from '../../bench/procs.js';
import { loadPeer } from '../../bench/stream-peer.js';
import { randomFile, sha256File, tempDir } from '../helpers/tmp.js';

const have = existsSync('/usr/bin/uftp') && existsSync('/usr/bin/uftpd');
if (!have) {
  const msg = 'uftp is not installed (apt-get install -y uftp)';
  if (process.env.UDPLAB_REQUIRE_PEERS === '1') throw new Error(msg);
  console.warn(`SKIPPED bench peer tests: ${msg}`);
}

describe.skipIf(!have)('bench peers', () => {
  it('uftp pushes a file over loopback, encrypted, and the SHA-256 is checked', async () => {
    using dir = tempDir();
    mkdirSync(join(dir.path, 'root'));
    randomFile(join(dir.path, 'root', 'f.bin'), 4 << 20);
    const r = await uftpPush(join(dir.path, 'root'), 'f.bin', join(dir.path, 'dest'));
    expect(r.why).toBeUndefined();
    expect(r.bps).toBeGreaterThan(0);
    expect(sha256File(join(dir.path, 'dest', 'f.bin'))).toBe(sha256File(join(dir.path, 'root', 'f.bin')));
  }, 60_000);

  it('a missing source is reported, not measured', async () => {
    using dir = tempDir();
    mkdirSync(join(dir.path, 'root'));
    const r = await uftpPush(join(dir.path, 'root'), 'absent.bin', join(dir.path, 'dest'));
    expect(r.bps).toBeUndefined();
    expect(r.why).toMatch(/^uftp failed: .*absent\.bin/);
  }, 60_000);
});

describe.skipIf(!existsSync('/usr/sbin/in.tftpd') || !existsSync('/usr/bin/tftp'))('bench peers: tftp-hpa', () => {
  it('the tftp-hpa client fetches from tftpd-hpa; only an intact copy is timed', async () => {
    using dir = tempDir();
    mkdirSync(join(dir.path, 'root'));
    randomFile(join(dir.path, 'root', 't.bin'), 64 * 1024);
    const hpa = (await startTftpdHpa(join(dir.path, 'root')))!;
    try {
      const ms = await tftpHpaGet(hpa.port, 't.bin', join(dir.path, 'got'), 1, join(dir.path, 'root', 't.bin'));
      expect(ms).toBeGreaterThan(0);
      const missing = await tftpHpaGet(hpa.port, 'nope.bin', join(dir.path, 'n'), 1, join(dir.path, 'root', 't.bin'));
      expect(missing).toBeUndefined();
    } finally {
      await hpa.stop();
    }
  }, 60_000);
});

for (const kind of ['udx', 'utp'] as const) {
  const loaded = loadPeer(kind);
  if ('why' in loaded) {
    if (process.env.UDPLAB_REQUIRE_PEERS === '1') throw new Error(loaded.why);
    console.warn(`SKIPPED bench peer tests: ${loaded.why}`);
  }
  describe.skipIf('why' in loaded)(`bench peers: ${kind}`, () => {
    it('moves a file over loopback and through the relay at 5% loss each way; the SHA-256 is checked', async () => {
      using dir = tempDir();
      const src = join(dir.path, 'f.bin');
      randomFile(src, 1 << 20);
      const srv = await startStreamPeer(kind, src);
      if (srv.why !== undefined) throw new Error(srv.why);
      const relay = await relayOnLoopback(srv.port, 'delay 5ms loss 5%', 'delay 5ms loss 5%', 7, dir.path);
      try {
        const direct = await streamPeerGet(kind, srv.port, join(dir.path, 'a'), src, 60);
        expect(direct.why).toBeUndefined();
        expect(direct.bps).toBeGreaterThan(0);
        const lossy = await streamPeerGet(kind, relay.port, join(dir.path, 'b'), src, 60);
        expect(lossy.why).toBeUndefined();
        expect(lossy.bps).toBeGreaterThan(0);
        expect(sha256File(join(dir.path, 'b'))).toBe(sha256File(src));
        // a file that is not the source is not measured
        const other = await streamPeerGet(kind, srv.port, join(dir.path, 'c'), join(dir.path, 'a.none'), 60);
        expect(other.bps).toBeUndefined();
      } finally {
        await Promise.all([relay.stop(), srv.stop()]);
      }
    }, 120_000);

    it('a server that does not answer is reported, not measured', async () => {
      using dir = tempDir();
      const r = await streamPeerGet(kind, 9, join(dir.path, 'x'), join(dir.path, 'x'), 2);
      expect(r.bps).toBeUndefined();
      expect(r.why).toMatch(new RegExp(`^${kind} failed: .*did not finish in 2 s`));
    }, 30_000);
  });
}
