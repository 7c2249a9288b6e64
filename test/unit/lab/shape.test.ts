// `udplab shape`: the argv it runs (golden), how it finds its container, and what it says when it cannot.
import { afterEach, describe, expect, it } from 'vitest';
import { parseNetem } from '../../../src/impair/index.js';
import {
  applySteps,
  clearSteps,
  type DockerExec,
  dockerExecArgv,
  type ExecResult,
  explainFailure,
  ifbFor,
  inspectArgv,
  resolveTarget,
  SIDECAR_IMAGE,
  servicePsArgv,
  shape,
  shapeNotices,
  showSteps,
  sidecarArgv,
} from '../../../src/lab/index.js';
import { IMAGE_TAG } from '../../../src/lab/runtimes/docker.js';
import { cliRunner } from '../../helpers/cli.js';

const ok = (stdout = ''): ExecResult => ({ code: 0, stdout, stderr: '' });
const failed = (stderr: string, code = 2): ExecResult => ({ code, stdout: '', stderr });

/** A fake `docker`: answers by the first matching rule, records every argv. */
function fakeDocker(rules: Array<[(a: string[]) => boolean, ExecResult]>): DockerExec & { calls: string[][] } {
  const calls: string[][] = [];
  const fn = (async (args: string[]) => {
    calls.push(args);
    return rules.find(([m]) => m(args))?.[1] ?? ok();
  }) as DockerExec & { calls: string[][] };
  fn.calls = calls;
  return fn;
}
const isPs = (a: string[]) => a[0] === 'ps';
const isInspect = (a: string[]) => a[0] === 'inspect';

describe('shape: argv (golden)', () => {
  const n = parseNetem('delay 10ms loss 1%');
  it('egress: del then add (never replace), netem words from the grammar printer', () => {
    expect(applySteps('eth0', 'egress', n).map((s) => s.argv)).toEqual([
      ['tc', 'qdisc', 'del', 'dev', 'eth0', 'root'],
      ['tc', 'qdisc', 'add', 'dev', 'eth0', 'root', 'netem', 'delay', '10ms', 'loss', '1%'],
    ]);
    expect(applySteps('eth0', 'egress', n)[0]!.mayFail).toBe(true);
    expect(applySteps('eth0', 'egress', n)[1]!.mayFail).toBeUndefined();
  });

  it('ingress: netem on the ifb device first, then the redirect of eth0 ingress to it', () => {
    expect(applySteps('eth0', 'ingress', n).map((s) => s.argv.join(' '))).toEqual([
      'tc qdisc del dev eth0 ingress',
      'ip link del ifb4eth0',
      'ip link add ifb4eth0 type ifb',
      'ip link set ifb4eth0 up',
      'tc qdisc add dev ifb4eth0 root netem delay 10ms loss 1%',
      'tc qdisc add dev eth0 handle ffff: ingress',
      'tc filter add dev eth0 parent ffff: protocol all u32 match u32 0 0 action mirred egress redirect dev ifb4eth0',
    ]);
  });

  it('clear and show', () => {
    expect(clearSteps('eth0', 'egress')).toEqual([
      { argv: ['tc', 'qdisc', 'del', 'dev', 'eth0', 'root'], mayFail: true },
    ]);
    expect(clearSteps('eth1', 'ingress').map((s) => s.argv.join(' '))).toEqual([
      'tc qdisc del dev eth1 ingress',
      'ip link del ifb4eth1',
    ]);
    expect(showSteps('eth0').map((s) => s.argv.join(' '))).toEqual([
      'tc qdisc show dev eth0',
      'tc qdisc show dev ifb4eth0',
    ]);
    expect(ifbFor('averylonginterface')).toHaveLength(15);
  });

  it('docker argv: exec into the resolved container; ps by compose labels; inspect by name', () => {
    expect(dockerExecArgv({ id: 'abc', name: 'x' }, { argv: ['tc', 'qdisc', 'show', 'dev', 'eth0'] })).toEqual([
      'exec',
      'abc',
      'tc',
      'qdisc',
      'show',
      'dev',
      'eth0',
    ]);
    expect(servicePsArgv('server')).toEqual([
      'ps',
      '--filter',
      'label=com.docker.compose.service=server',
      '--filter',
      'label=com.docker.compose.oneoff=False',
      '--format',
      '{{.ID}}\t{{.Names}}\t{{.Label "com.docker.compose.project"}}',
    ]);
    expect(servicePsArgv('server', 'lab1').slice(3, 5)).toEqual(['--filter', 'label=com.docker.compose.project=lab1']);
    expect(inspectArgv('box')).toEqual([
      'inspect',
      '--type',
      'container',
      '--format',
      '{{.Id}}\t{{.Name}}\t{{.State.Running}}',
      'box',
    ]);
  });
});

describe('shape: target resolution', () => {
  it('one compose container for the service: that one', async () => {
    const d = fakeDocker([[isPs, ok('c1\tlab_server_1\tlab\n')]]);
    expect(await resolveTarget(d, 'server')).toEqual({
      id: 'c1',
      name: 'lab_server_1',
      service: 'server',
      project: 'lab',
    });
    expect(d.calls).toHaveLength(1);
  });

  it('the service in two projects: one line asking for --project', async () => {
    const d = fakeDocker([[isPs, ok('c1\ta_server_1\ta\nc2\tb-server-1\tb\n')]]);
    await expect(resolveTarget(d, 'server')).rejects.toThrow(
      'compose service "server" runs in 2 projects (a, b): pass --project NAME',
    );
  });

  it('two replicas in one project: one line asking for a container name', async () => {
    const d = fakeDocker([[isPs, ok('c1\ta_server_1\ta\nc2\ta_server_2\ta\n')]]);
    await expect(resolveTarget(d, 'server')).rejects.toThrow(/2 running containers \(a_server_1, a_server_2\)/);
  });

  it('no such service: a container name or ID (docker run)', async () => {
    const d = fakeDocker([
      [isPs, ok('')],
      [isInspect, ok('0123abcd\t/box\ttrue\n')],
    ]);
    expect(await resolveTarget(d, 'box')).toEqual({ id: '0123abcd', name: 'box' });
    expect(d.calls[1]).toEqual(inspectArgv('box'));
  });

  it('neither: one clear line; a stopped container: another', async () => {
    await expect(
      resolveTarget(
        fakeDocker([
          [isPs, ok('')],
          [isInspect, failed('Error: No such container: nope', 1)],
        ]),
        'nope',
      ),
    ).rejects.toThrow('no running compose service or container named "nope"');
    await expect(
      resolveTarget(
        fakeDocker([
          [isPs, ok('')],
          [isInspect, ok('0123\t/box\tfalse')],
        ]),
        'box',
      ),
    ).rejects.toThrow('container "box" is not running');
  });

  it('--project given and no match: no fallback to container names', async () => {
    const d = fakeDocker([[isPs, ok('')]]);
    await expect(resolveTarget(d, 'server', 'p1')).rejects.toThrow(
      'no running container of compose service "server" in project "p1"',
    );
    expect(d.calls).toHaveLength(1);
  });
});

describe('shape: running it against a fake docker', () => {
  const target = [isPs, ok('c1\tlab_server_1\tlab\n')] as [(a: string[]) => boolean, ExecResult];

  it('applies del + add in the container, reads back, prints the canonical value', async () => {
    const d = fakeDocker([
      target,
      [(a) => a.includes('show') && a.includes('eth0'), ok('qdisc netem 8001: root refcnt 2 limit 1000 delay 10ms\n')],
      [(a) => a.includes('show'), failed('Cannot find device "ifb4eth0"', 1)],
    ]);
    const r = await shape(
      'server',
      { action: 'apply', dev: 'eth0', dir: 'egress', netem: parseNetem('delay 10ms') },
      { docker: d },
    );
    expect(r.applied).toBe('delay 10ms limit 2084'); // the lab's plan: 2 × BDP at an assumed 1 Gbit/s
    expect(r.notices).toEqual([expect.stringMatching(/^egress: set netem limit 2084/)]);
    expect(r.readback).toBe('qdisc netem 8001: root refcnt 2 limit 1000 delay 10ms');
    expect(r.via).toEqual({ kind: 'exec' });
    expect(d.calls.slice(1).map((a) => a.join(' '))).toEqual([
      'exec c1 tc -V', // the image has tc: no sidecar
      'exec c1 tc qdisc del dev eth0 root',
      'exec c1 tc qdisc add dev eth0 root netem delay 10ms limit 2084',
      'exec c1 tc qdisc show dev eth0',
      'exec c1 tc qdisc show dev ifb4eth0',
    ]);
  });

  it('no sch_netem: one line naming the relay profile', async () => {
    const d = fakeDocker([
      target,
      [(a) => a.includes('add'), failed('Error: Specified qdisc kind is unknown.\n')],
      [(a) => a.includes('uname'), ok('6.18.0\n')],
    ]);
    const err = await shape(
      'server',
      { action: 'apply', dev: 'eth0', dir: 'egress', netem: parseNetem('delay 10ms') },
      { docker: d },
    ).catch((e: Error & { code: string }) => e);
    expect((err as { code: string }).code).toBe('E_SHAPER');
    expect((err as Error).message).not.toContain('\n');
    expect((err as Error).message).toMatch(/^this kernel \(6\.18\.0\) has no sch_netem .*--profile relay up -d/);
  });

  it('ingress refused: what it created is removed again', async () => {
    const d = fakeDocker([target, [(a) => a.includes('netem'), failed('Error: Specified qdisc kind is unknown.')]]);
    await expect(
      shape('server', { action: 'apply', dev: 'eth0', dir: 'ingress', netem: parseNetem('delay 10ms') }, { docker: d }),
    ).rejects.toThrow(/no sch_netem/);
    const after = d.calls.slice(d.calls.findIndex((a) => a.includes('netem')) + 1).map((a) => a.slice(2).join(' '));
    expect(after).toEqual(['tc qdisc del dev eth0 ingress', 'ip link del ifb4eth0', 'uname -r']);
    expect(d.calls.some((a) => a.includes('mirred'))).toBe(false);
  });
});

describe("shape: from a sidecar in the target's network namespace", () => {
  const target = [isPs, ok('c1\tlab_server_1\tlab\n')] as [(a: string[]) => boolean, ExecResult];
  const noTc = failed(
    'OCI runtime exec failed: exec failed: unable to start container process: exec: "tc": executable file not found in $PATH: unknown',
    126,
  );
  const owner = `udplab.owner=${process.pid}`;
  const side = ['run', '--rm', '--network', 'container:c1', '--cap-add', 'NET_ADMIN'];
  const labels = ['--label', 'udplab=1', '--label', owner, '--label', 'udplab.role=sidecar'];

  it('argv (golden): docker run --rm in container:ID with NET_ADMIN, labelled, the step as argv', () => {
    expect(sidecarArgv({ id: 'c1' }, { argv: ['tc', 'qdisc', 'show', 'dev', 'eth0'] })).toEqual([
      ...side,
      ...labels,
      'udplab/udplab:local',
      'tc',
      'qdisc',
      'show',
      'dev',
      'eth0',
    ]);
    expect(sidecarArgv({ id: 'c1' }, { argv: ['tc', '-V'] }, 'img:x').slice(-3)).toEqual(['img:x', 'tc', '-V']);
    expect(SIDECAR_IMAGE).toBe(IMAGE_TAG); // the image the docker runtime builds
  });

  it('an image without tc: every step runs in a sidecar, said in a notice; the read-back is the same', async () => {
    const d = fakeDocker([
      target,
      [(a) => a[0] === 'exec', noTc],
      [(a) => a.includes('show') && a.includes('eth0'), ok('qdisc tbf 8001: root refcnt 2 rate 1Mbit\n')],
      [(a) => a.includes('show'), failed('Cannot find device "ifb4eth0"', 1)],
    ]);
    const r = await shape(
      'server',
      { action: 'apply', dev: 'eth0', dir: 'egress', netem: parseNetem('delay 10ms') },
      { docker: d },
    );
    expect(r.via).toEqual({ kind: 'sidecar', image: 'udplab/udplab:local' });
    expect(r.notices[0]).toBe(
      'container lab_server_1 has no tc: shaping from a sidecar (udplab/udplab:local) in its network namespace',
    );
    expect(r.readback).toBe('qdisc tbf 8001: root refcnt 2 rate 1Mbit');
    expect(d.calls.slice(1).map((a) => a.join(' '))).toEqual([
      'exec c1 tc -V',
      ...[
        'tc qdisc del dev eth0 root',
        'tc qdisc add dev eth0 root netem delay 10ms limit 2084',
        'tc qdisc show dev eth0',
        'tc qdisc show dev ifb4eth0',
      ].map((step) => [...side, ...labels, 'udplab/udplab:local', step].join(' ')),
    ]);
  });

  it('sidecar: true skips the probe; no sch_netem through a sidecar is the same one line; a missing image is said', async () => {
    const d = fakeDocker([
      target,
      [(a) => a.includes('add'), failed('Error: Specified qdisc kind is unknown.\n')],
      [(a) => a.includes('uname'), ok('6.18.0\n')],
    ]);
    const err = await shape(
      'server',
      { action: 'apply', dev: 'eth0', dir: 'egress', netem: parseNetem('delay 10ms') },
      { docker: d, sidecar: true, sidecarImage: 'side:1' },
    ).catch((e: Error) => e);
    expect((err as Error).message).toMatch(/^this kernel \(6\.18\.0\) has no sch_netem /);
    expect(d.calls.some((a) => a[0] === 'exec')).toBe(false);
    expect(d.calls.filter((a) => a[0] === 'run').every((a) => a.includes('side:1'))).toBe(true);
    const gone = fakeDocker([target, [(a) => a[0] === 'run', failed("Unable to find image 'side:1' locally", 125)]]);
    await expect(
      shape(
        'server',
        { action: 'show', dev: 'eth0', dir: 'egress' },
        { docker: gone, sidecar: true, sidecarImage: 'side:1' },
      ),
    ).rejects.toThrow(/^the sidecar image side:1 is not in this Docker engine/);
  });
});

describe('shape: one line per failure', () => {
  const t = { id: 'c', name: 'box' };
  const add = { argv: ['tc', 'qdisc', 'add', 'dev', 'eth0', 'root', 'netem', 'delay', '1ms'] };
  it.each([
    ['RTNETLINK answers: Operation not permitted', 2, /lacks NET_ADMIN .*--cap-add NET_ADMIN/],
    [
      'OCI runtime exec failed: exec failed: unable to start container process: exec: "tc": executable file not found in $PATH: unknown',
      126,
      /has no tc .*iproute2/,
    ],
    [
      'Error: Exclusivity flag on, cannot modify.',
      2,
      /^tc qdisc add dev eth0 root netem delay 1ms in container box: Error/,
    ],
  ])('%s', (stderr, code, want) => {
    const line = explainFailure(add, { code, stdout: '', stderr }, t, '');
    expect(line).toMatch(want);
    expect(line).not.toContain('\n');
  });

  it('an unknown qdisc other than netem is named as itself, not as netem', () => {
    const tbf = { argv: ['tc', 'qdisc', 'add', 'dev', 'eth0', 'root', 'prio', 'bands', '3'] };
    const said = failed('Error: Specified qdisc kind is unknown.');
    expect(explainFailure(tbf, said, t, '6.1.0')).toBe(
      'this kernel (6.1.0) has no sch_prio (tc: "Error: Specified qdisc kind is unknown."), in container box',
    );
    expect(explainFailure(add, said, t, '6.1.0')).toMatch(/^this kernel \(6\.1\.0\) has no sch_netem /);
  });

  it('no ifb: names --dir egress and the relay', () => {
    const line = explainFailure(
      { argv: ['ip', 'link', 'add', 'ifb4eth0', 'type', 'ifb'] },
      failed('Error: Unknown device type.'),
      t,
      '6.1.0',
    );
    expect(line).toMatch(/has no ifb.*--dir egress.*--profile relay/);
  });
});

describe('shape: notices', () => {
  it('the plan raises the limit for a long delay; correlation and seed are flagged', () => {
    const r = shapeNotices(parseNetem('delay 100ms loss 10% 25%'), 'egress');
    expect(r.netem.limit).toBeGreaterThan(1000);
    expect(r.notices.join('\n')).toMatch(/^egress: set netem limit/);
    expect(r.notices.join('\n')).toMatch(/correlation is unreliable/);
    expect(shapeNotices(parseNetem('delay 1ms'), 'egress').notices).toEqual([]);
  });
});

describe('udplab shape (CLI): input checked before Docker is asked', () => {
  const { lines, run, restore } = cliRunner();
  afterEach(restore);

  it('bad grammar: exit 2, one line with the offending word', async () => {
    const code = await run(['shape', 'no-such-container-xyz', 'delay 10ms dleay 5ms']);
    expect(code).toBe(2);
    expect(lines.join('')).toBe(
      'udplab: E_NETEM_SYNTAX: netem: unknown netem option; expected delay, distribution, loss, reorder, duplicate, corrupt, rate, slot, limit or seed (word 3 "dleay", column 12)\n',
    );
  });

  it('a netem value with --clear, or nothing at all: a usage line', async () => {
    expect(await run(['shape', 'x', 'delay 1ms', '--clear'])).toBe(2);
    expect(await run(['shape', 'x'])).toBe(2);
    expect(await run(['shape', 'x', '--dir', 'sideways', '--show'])).toBe(2);
    expect(lines.filter((l) => l.startsWith('udplab: E_USAGE'))).toHaveLength(3);
  });
});
