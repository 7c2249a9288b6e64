// An image without tcpdump (the old Dockerfile on node:24-bookworm-slim): `udplab doctor` FAILs a capturing
// scenario against it and `udplab lab` refuses to start rather than skip the captures. The image is built here
// FROM udplab/base:local with the tcpdump package purged, labelled udplab=1, and removed afterwards.
import { execFileSync, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OFFLINE_BASE } from '../../src/lab/index.js';
import { runDocker } from '../helpers/docker.js';
import { tempDir } from '../helpers/tmp.js';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'udplab.js');
const TAG = `udplab/doctor-notcpdump:${process.pid}`;
const SCENARIO = 'scenarios/teaching/09-toy-dh.yaml'; // capture: true, no rcvbuf

function udplab(args: string[], env: Record<string, string>) {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
    timeout: 180_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

type Checks = { ok: boolean; checks: Array<{ check: string; level: string; message: string }> };

describe.skipIf(!runDocker)('an image without tcpdump', () => {
  beforeAll(() => {
    using d = tempDir();
    writeFileSync(
      join(d.path, 'Dockerfile'),
      [
        `FROM ${OFFLINE_BASE}`,
        'RUN dpkg --purge tcpdump && ! command -v tcpdump', // a Debian base without the package, as node:*-slim
        'LABEL udplab=1',
        `CMD ["node", "-e", "process.on('SIGTERM',()=>process.exit(0));setInterval(()=>{},1<<30)"]`,
      ].join('\n'),
    );
    execFileSync('docker', ['build', '-q', '--label', 'udplab=1', '-t', TAG, d.path], {
      env: { ...process.env, DOCKER_BUILDKIT: '0' },
      stdio: 'ignore',
      timeout: 120_000,
    });
  });

  afterAll(() => {
    spawnSync('docker', ['image', 'rm', '-f', TAG], { stdio: 'ignore' });
  });

  it('doctor: FAIL for a capturing scenario on docker; the same check passes on the lab image', () => {
    const r = udplab(['doctor', SCENARIO, '--runtime', 'docker', '--json'], { UDPLAB_IMAGE: TAG });
    expect(r.code, r.stderr).toBe(1);
    const img = (JSON.parse(r.stdout) as Checks).checks.find((c) => c.check === 'image tcpdump')!;
    expect(img.level).toBe('FAIL');
    expect(img.message).toContain(`${TAG} has no tcpdump`);
    expect(img.message).toContain('09-toy-dh.yaml');
    // the control: the image lab/Dockerfile built has tcpdump
    const good = udplab(['doctor', SCENARIO, '--runtime', 'docker', '--json'], { UDPLAB_IMAGE: 'udplab/udplab:local' });
    const ok = (JSON.parse(good.stdout) as Checks).checks.find((c) => c.check === 'image tcpdump')!;
    expect(ok.level).toBe('ok');
  });

  it('lab: refuses capture: true in one line, and leaves no container behind', () => {
    using d = tempDir();
    const r = udplab(['lab', SCENARIO, '--runtime', 'docker', '--out', d.path], { UDPLAB_IMAGE: TAG });
    expect(r.code).toBe(2);
    const lines = r.stderr.split('\n').filter((l) => l.startsWith('udplab:'));
    expect(lines).toEqual([
      `udplab: E_PREFLIGHT: ${SCENARIO}: capture: true, but the lab image ${TAG} has no tcpdump (rebuild it from lab/Dockerfile, which installs tcpdump); or run with --no-capture to go on without captures`,
    ]);
    const left = execFileSync('docker', ['ps', '-aq', '--filter', `ancestor=${TAG}`], { encoding: 'utf8' }).trim();
    expect(left).toBe('');
  });
});
