// The resident sidecar (src/lab/runtimes/sidecar.ts) over a fake `docker` that records every argv: one `docker run
// -d` in the target's network namespace with NET_ADMIN and the lab's labels, `docker exec` per command, `docker rm
// -f` on removal (and a new start after it); a start that fails is a failed result in one line, never a throw. And
// the seam rule it serves: outside src/lab/shapers/, no `tc` argv is written in src/lab (shape.ts, the `udplab shape`
// command with its ingress/ifb steps, apart).
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { DockerExec } from '../../../src/lab/index.js';
import { ResidentSidecar, residentSidecarRunArgv } from '../../../src/lab/runtimes/sidecar.js';
import { netemShaper } from '../../../src/lab/shapers/netem.js';

function fake(o: { failRun?: string } = {}) {
  const calls: string[][] = [];
  const docker: DockerExec = async (args) => {
    calls.push(args);
    if (args[0] === 'run' && o.failRun)
      return { code: 125, stdout: '', stderr: `Unable to find image 'x' locally\n${o.failRun}\n` };
    if (args[0] === 'exec' && args[2] === 'tc' && args[4] === 'show')
      return { code: 0, stdout: 'qdisc netem 8001: root refcnt 2 limit 1000 loss 1%\n', stderr: '' };
    return { code: 0, stdout: args[0] === 'run' ? 'abc123\n' : '', stderr: '' };
  };
  return { calls, docker };
}

const spec = { container: 'udplab-img-t-tc-server-1', network: 'container:srvid', image: 'udplab/udplab:test' };

describe('resident sidecar: argv', () => {
  it('run: detached, in the target network namespace, NET_ADMIN, labelled as the lab’s, idling on sleep', () => {
    expect(residentSidecarRunArgv(spec)).toEqual([
      ...['run', '-d', '--name', 'udplab-img-t-tc-server-1', '--network', 'container:srvid'],
      ...['--cap-add', 'NET_ADMIN'],
      ...['--label', 'udplab=1', '--label', `udplab.owner=${process.pid}`, '--label', 'udplab.role=sidecar'],
      ...['--entrypoint', 'sleep', 'udplab/udplab:test', '2147483647'],
    ]);
    expect(residentSidecarRunArgv({ ...spec, network: 'none', role: 'doctor' })).toContain('udplab.role=doctor');
  });

  it('started once for concurrent first commands, then docker exec per command; removed with rm -f', async () => {
    const f = fake();
    const s = new ResidentSidecar('a sidecar in the server container', spec, f.docker);
    expect(s.running).toBe(false);
    const show = await netemShaper.apply(s, 'eth0', 'down', { loss: { kind: 'random', pct: 1 } });
    expect(show).toBe('qdisc netem 8001: root refcnt 2 limit 1000 loss 1%');
    await Promise.all([s.exec(['tc', '-s', 'qdisc', 'show', 'dev', 'eth0']), s.exec(['true'])]);
    expect(f.calls.filter((a) => a[0] === 'run')).toEqual([residentSidecarRunArgv(spec)]);
    expect(f.calls.filter((a) => a[0] === 'exec').map((a) => a.join(' '))).toEqual([
      'exec udplab-img-t-tc-server-1 tc qdisc del dev eth0 root',
      'exec udplab-img-t-tc-server-1 tc qdisc add dev eth0 root netem loss 1%',
      'exec udplab-img-t-tc-server-1 tc qdisc show dev eth0',
      'exec udplab-img-t-tc-server-1 tc -s qdisc show dev eth0',
      'exec udplab-img-t-tc-server-1 true',
    ]);
    await s.remove();
    expect(f.calls.at(-1)).toEqual(['rm', '-f', 'udplab-img-t-tc-server-1']);
    expect(s.running).toBe(false);
    // after a removal (its target restarted) the next command starts a new one with the same argv
    await s.exec(['true']);
    expect(f.calls.slice(-2)).toEqual([residentSidecarRunArgv(spec), ['exec', 'udplab-img-t-tc-server-1', 'true']]);
    await s.remove();
    const n = f.calls.length;
    await s.remove(); // nothing started: nothing to remove
    expect(f.calls.length).toBe(n);
  });

  it('a start that fails: each command fails in one line saying which sidecar and docker’s reason; rm -f still runs', async () => {
    const f = fake({ failRun: 'docker: Error response from daemon: pull access denied for x.' });
    const s = new ResidentSidecar('a container of x', { ...spec, network: 'none', image: 'x' }, f.docker);
    expect(await netemShaper.probe(s, 'lo')).toEqual({
      ok: false,
      detail:
        'starting the sidecar udplab-img-t-tc-server-1 (x, network none): docker: Error response from daemon: pull access denied for x.',
    });
    expect(f.calls.filter((a) => a[0] === 'run')).toHaveLength(1); // not retried per command
    expect(f.calls.some((a) => a[0] === 'exec')).toBe(false);
    await s.remove(); // a failed start may have created the container
    expect(f.calls.at(-1)).toEqual(['rm', '-f', 'udplab-img-t-tc-server-1']);
  });
});

describe('the Shaper seam: tc argv only under src/lab/shapers/', () => {
  it("no 'tc' argv element in src/lab outside shapers/ (shape.ts, `udplab shape`, apart)", () => {
    const root = join(import.meta.dirname, '..', '..', '..');
    const files = (dir: string): string[] =>
      readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
        e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
      );
    const offenders = files(join(root, 'src', 'lab'))
      .map((f) => relative(root, f))
      .filter((f) => !f.startsWith(join('src', 'lab', 'shapers')) && f !== join('src', 'lab', 'shape.ts'))
      .flatMap((f) =>
        readFileSync(join(root, f), 'utf8')
          .split('\n')
          .map((l, i) => ({ at: `${f}:${i + 1}`, l }))
          .filter(({ l }) => /(^|[[\s,(])'tc'\s*[,\]]/.test(l)),
      )
      .map((x) => x.at);
    expect(offenders).toEqual([]);
  });
});
