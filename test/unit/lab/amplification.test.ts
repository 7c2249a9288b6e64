// The amplification attack over the Host seam (src/lab/runtimes/amplification.ts): the forger's argv per host
// (this machine's hping3 in the client host's network namespace), golden, and the sink and victim scripts run on
// loopback.
import { createSocket } from 'node:dgram';
import { describe, expect, it } from 'vitest';
import { parseScenario, runScenario } from '../../../src/lab/index.js';
import { type Forgery, forgerArgv, SINK_SCRIPT, VICTIM_SCRIPT } from '../../../src/lab/runtimes/amplification.js';
import { ContainerHost, type Host, ProcessHost, place } from '../../../src/lab/runtimes/host.js';
import type { ExecResult } from '../../../src/lab/shape.js';

const f: Forgery = {
  server: '10.9.0.2',
  serverPort: 4460,
  source: '10.9.0.3',
  victimPort: 40001,
  file: '/tmp/udplab-amplify-x/request.bin',
  length: 17,
};
const hping = [
  'hping3',
  '10.9.0.2',
  '-2',
  '-a',
  '10.9.0.3',
  '-s',
  '40001',
  '-k',
  '-p',
  '4460',
  '-c',
  '1',
  '-d',
  '17',
  '-E',
  '/tmp/udplab-amplify-x/request.bin',
];

function fakeDocker(r: ExecResult, argv: readonly string[] = ['docker']) {
  const calls: string[][] = [];
  return {
    calls,
    cli: {
      argv,
      exec: async (args: string[]) => {
        calls.push(args);
        return r;
      },
    },
  };
}

describe('the forger: hping3 of this machine in the client host’s network namespace', () => {
  it('loopback: hping3 as is', async () => {
    expect(await forgerArgv(new ProcessHost('loopback', '127.0.0.1'), f)).toEqual(hping);
  });

  it('netns: behind ip netns exec NS', async () => {
    const h = new ProcessHost('netns udplab-1-c1', '10.77.1.1', ['ip', 'netns', 'exec', 'udplab-1-c1']);
    expect(await forgerArgv(h, f)).toEqual(['ip', 'netns', 'exec', 'udplab-1-c1', ...hping]);
  });

  it('a container: nsenter -t PID -n, its PID on this machine from docker inspect', async () => {
    const { calls, cli } = fakeDocker({ code: 0, stdout: '4242\n', stderr: '' });
    const h = new ContainerHost('container client', 'cli1', '10.9.0.3', cli);
    expect(await forgerArgv(h, f)).toEqual(['nsenter', '-t', '4242', '-n', ...hping]);
    expect(calls).toEqual([['inspect', '-f', '{{.State.Pid}}', 'cli1']]);
  });

  it('a container that is not running (PID 0), or another machine’s engine: one clear line', async () => {
    const stopped = new ContainerHost(
      'container client',
      'cli1',
      '10.9.0.3',
      fakeDocker({ code: 0, stdout: '0\n', stderr: '' }).cli,
    );
    await expect(forgerArgv(stopped, f)).rejects.toThrow(
      'the PID of container client on this machine: docker inspect said "0"',
    );
    const far = fakeDocker({ code: 0, stdout: '4242\n', stderr: '' }, ['docker', '--host', 'tcp://node2:2375']);
    const remote = new ContainerHost('container client', 'cli1', '10.9.0.3', far.cli);
    await expect(forgerArgv(remote, f)).rejects.toThrow(
      'container client runs on another engine (docker --host tcp://node2:2375): its network namespace is not on this machine',
    );
    expect(far.calls).toEqual([]);
  });

  it('a host without a namespace this machine can enter is refused', async () => {
    const { netnsArgv: _, ...rest } = new ProcessHost('loopback', '127.0.0.1');
    const h = { ...rest, name: 'somewhere', address: '10.0.0.1' } as unknown as Host;
    await expect(forgerArgv(h, f)).rejects.toThrow(
      'amplification: somewhere has no network namespace this machine can enter',
    );
  });
});

const lineOf = (p: ReturnType<typeof place>, event: string) =>
  new Promise<Record<string, unknown>>((ok) =>
    p.onLine((l) => {
      const j = JSON.parse(l) as Record<string, unknown>;
      if (j.event === event) ok(j);
    }),
  );

describe('sink and victim (node -e SCRIPT ADDRESS) on a host', () => {
  const lo = new ProcessHost('loopback', '127.0.0.1');
  const send = async (port: number, ...msgs: Buffer[]) => {
    const s = createSocket('udp4');
    for (const m of msgs) await new Promise((ok) => s.send(m, port, '127.0.0.1', ok));
    s.close();
  };

  it('the sink says its port, then the first datagram as base64, and exits', async () => {
    const sink = place(lo, [process.execPath, '-e', SINK_SCRIPT, '127.0.0.1']);
    try {
      const { port } = await lineOf(sink, 'listening');
      await send(Number(port), Buffer.from([0, 1, 2, 255]));
      expect(Buffer.from(String((await lineOf(sink, 'request')).base64), 'base64')).toEqual(
        Buffer.from([0, 1, 2, 255]),
      );
      expect(await sink.exited).toBe(0);
    } finally {
      await sink.stop('SIGKILL');
    }
  });

  it('the victim counts bytes and datagrams and says so on SIGTERM', async () => {
    const victim = place(lo, [process.execPath, '-e', VICTIM_SCRIPT, '127.0.0.1']);
    try {
      const { port } = await lineOf(victim, 'listening');
      const counted = lineOf(victim, 'counted');
      // both are queued on its socket before the signal is sent: it counts them before it answers
      await send(Number(port), Buffer.alloc(100), Buffer.alloc(28));
      await victim.stop('SIGTERM');
      expect(await counted).toEqual({ event: 'counted', bytes: 128, datagrams: 2 });
    } finally {
      await victim.stop('SIGKILL');
    }
  });
});

describe('where an attack scenario runs', () => {
  it('a swarm (containers on other machines, beyond this machine’s hping3) is refused in one line', async () => {
    const s = parseScenario(
      'name: amp\nfile: { size: 1KiB }\nnetwork: { netem: "" }\nattack: amplification\nprotocols: [ruft]\n',
      'amp.yaml',
    );
    await expect(runScenario(s, { runtime: 'swarm', shaper: 'auto' })).rejects.toThrow(
      'amp.yaml: attack scenarios run on the local, netns or docker runtime (hping3 forges from this machine), not --runtime swarm',
    );
  });
});
