// The swarm runtime's endpoints on other nodes and its placement, without an engine: which Docker engine reaches a
// task (`--node-engine`, the node's `udplab.engine` label, this node's own engine, or a one-line refusal), where a
// task is according to a fake manager engine (its `docker service ps`, `docker inspect --type task` and
// `docker node inspect` answers), the `--node-engine` syntax, the scenario's `placement:` merged with the flags, and
// the notice a non-swarm runtime gives a scenario that has `placement:`; and each endpoint's service argv (NET_ADMIN
// only where kernel netem may run: never the relay, not the endpoints under --shaper userspace).
import { afterEach, describe, expect, it } from 'vitest';
import { LabError } from '../../../src/lab/errors.js';
import { parseScenario, runScenario } from '../../../src/lab/index.js';
import { ContainerHost } from '../../../src/lab/runtimes/host.js';
import { defineRuntime } from '../../../src/lab/runtimes/lab.js';
import {
  checkNodeNames,
  chooseEndpoint,
  type EngineRun,
  engineAt,
  locateTask,
  parseNodeEngines,
} from '../../../src/lab/runtimes/swarm/engines.js';
import { mergePlacement } from '../../../src/lab/runtimes/swarm/placement.js';
import { endpointServiceArgv } from '../../../src/lab/runtimes/swarm/swarm-runtime.js';
import {
  type ClientOutcome,
  type LabRuntime,
  type PreparedFile,
  programPass,
  type ShaperName,
} from '../../../src/lab/runtimes/types.js';
import { cliRunner } from '../../helpers/cli.js';

const SELF = 'selfnodeid0000000000000a';
const B = { id: 'bnodeid00000000000000000b', hostname: 'node-b', labels: {} as Record<string, string> };

describe('chooseEndpoint: the engine that reaches a task on a node', () => {
  it('--node-engine by hostname or ID wins over the label and over this node’s own engine', () => {
    const labelled = { ...B, labels: { 'udplab.engine': 'tcp://node-b:2376' } };
    expect(chooseEndpoint(labelled, SELF, new Map([['node-b', 'ssh://lab@node-b']]), 'x')).toEqual({
      url: 'ssh://lab@node-b',
      via: '--node-engine node-b=ssh://lab@node-b',
    });
    expect(chooseEndpoint(B, SELF, new Map([[B.id, 'ssh://lab@10.0.0.2']]), 'x').url).toBe('ssh://lab@10.0.0.2');
    const self = { id: SELF, hostname: 'here', labels: {} };
    expect(chooseEndpoint(self, SELF, new Map([['here', 'unix:///var/run/docker.sock']]), 'x')).toEqual({
      url: 'unix:///var/run/docker.sock',
      via: '--node-engine here=unix:///var/run/docker.sock',
    });
  });

  it('else the node’s udplab.engine label, else this node’s engine for a task here', () => {
    const labelled = { ...B, labels: { 'udplab.engine': 'tcp://node-b:2376', site: 'b' } };
    expect(chooseEndpoint(labelled, SELF, new Map(), 'x')).toEqual({
      url: 'tcp://node-b:2376',
      via: 'node label udplab.engine=tcp://node-b:2376',
    });
    expect(chooseEndpoint({ id: SELF, hostname: 'here', labels: {} }, SELF, new Map(), 'x')).toEqual({
      url: undefined,
      via: "this node's engine",
    });
  });

  it('a task on another node with no endpoint: one line naming the node and both ways to give it', () => {
    const fail = () => chooseEndpoint(B, SELF, new Map([['node-c', 'ssh://c']]), "the client service s's task");
    expect(fail).toThrow(LabError);
    let msg = '';
    try {
      fail();
    } catch (e) {
      msg = (e as Error).message;
    }
    expect(msg.split('\n')).toHaveLength(1);
    expect(msg).toBe(
      `--runtime swarm: the client service s's task runs on node node-b (ID ${B.id}), and the lab knows no Docker engine endpoint for it: give --node-engine node-b=ssh://USER@node-b (or tcp://node-b:2376), or label the node once: docker node update --label-add udplab.engine=ssh://USER@node-b node-b`,
    );
  });

  it('a label that is not a URL docker --host takes is refused in one line', () => {
    expect(() => chooseEndpoint({ ...B, labels: { 'udplab.engine': 'node-b' } }, SELF, new Map(), 'x')).toThrow(
      /^--runtime swarm: node node-b has label udplab.engine="node-b", which is not a URL docker --host takes/,
    );
  });
});

describe('--node-engine NODE=URL', () => {
  it('parses repeated entries; URLs as docker --host takes them', () => {
    expect([
      ...parseNodeEngines(['a=ssh://u@a', 'b=tcp://b:2376', 'c=unix:///var/run/docker.sock', 'a=ssh://u@a']),
    ]).toEqual([
      ['a', 'ssh://u@a'],
      ['b', 'tcp://b:2376'],
      ['c', 'unix:///var/run/docker.sock'],
    ]);
  });
  it('refuses a missing node, a missing or unknown scheme, and one node named with two URLs', () => {
    expect(() => parseNodeEngines(['=ssh://a'])).toThrow(/expects NODE=URL .* got "=ssh:\/\/a"/);
    expect(() => parseNodeEngines(['a'])).toThrow(/got "a"/);
    expect(() => parseNodeEngines(['a=node-a:2376'])).toThrow(/got "a=node-a:2376"/);
    expect(() => parseNodeEngines(['a=http://a'])).toThrow(/got "a=http:\/\/a"/);
    expect(() => parseNodeEngines(['a=ssh://x', 'a=ssh://y'])).toThrow(
      '--node-engine names node a twice (ssh://x, ssh://y)',
    );
  });
  it('every name must be a node of the swarm (hostname or ID)', () => {
    const nodes = [`${SELF} here`, `${B.id} node-b`, ''];
    expect(() =>
      checkNodeNames(
        new Map([
          ['node-b', 'ssh://b'],
          [SELF, 'unix:///s'],
        ]),
        nodes,
      ),
    ).not.toThrow();
    expect(() => checkNodeNames(new Map([['node-x', 'ssh://x']]), nodes)).toThrow(
      '--node-engine node-x=…: no node node-x in this swarm (nodes: here, node-b)',
    );
  });
});

/** A manager engine that answers from a table (argv joined by spaces → its answer), recording what it was asked. */
function fakeManager(table: Record<string, { code?: number; stdout?: string; stderr?: string }>) {
  const asked: string[][] = [];
  const run: EngineRun = async (args) => {
    asked.push(args);
    const hit = Object.entries(table).find(([k]) => args.join(' ').startsWith(k));
    if (!hit) return { code: 1, stdout: '', stderr: `fake: no answer for docker ${args.join(' ')}` };
    return { code: hit[1].code ?? 0, stdout: hit[1].stdout ?? '', stderr: hit[1].stderr ?? '' };
  };
  return { run, asked };
}

const PS = 'service ps --no-trunc';
const TASK = 'inspect --type task';
const NODE = 'node inspect';

describe('locateTask: where a service’s task runs, through the manager’s engine', () => {
  it('a running task on another node with no endpoint fails in one line (the remote case one node cannot host)', async () => {
    const m = fakeManager({
      [PS]: { stdout: 'task1\tRunning\tRunning 2 seconds ago\t\n' },
      [TASK]: { stdout: `${B.id}\tcontainer1\n` },
      [NODE]: { stdout: `${B.id}\tnode-b\t{"site":"b"}\n` },
    });
    await expect(locateTask(m.run, 'svc', SELF, new Map(), "the server service svc's task")).rejects.toThrow(
      `--runtime swarm: the server service svc's task runs on node node-b (ID ${B.id}), and the lab knows no Docker engine endpoint for it: give --node-engine node-b=`,
    );
    expect(m.asked.map((a) => a.slice(0, 2).join(' '))).toEqual(['service ps', 'inspect --type', 'node inspect']);
    expect(m.asked[1]!.at(-1)).toBe('task1');
    expect(m.asked[2]!.at(-1)).toBe(B.id);
  });

  it('the same task with the node’s label: its container through that engine (`docker --host URL`)', async () => {
    const m = fakeManager({
      [PS]: { stdout: 'task1\tRunning\tRunning 2 seconds ago\t\n' },
      [TASK]: { stdout: `${B.id}\tcontainer1\n` },
      [NODE]: { stdout: `${B.id}\tnode-b\t{"udplab.engine":"ssh://lab@node-b"}\n` },
    });
    const t = await locateTask(m.run, 'svc', SELF, new Map(), 'x');
    expect(t.state).toBe('running');
    if (t.state !== 'running') return;
    expect(t.containerId).toBe('container1');
    expect(t.node.hostname).toBe('node-b');
    expect(t.engine.argv).toEqual(['docker', '--host', 'ssh://lab@node-b']);
    expect(t.engine.via).toBe('node label udplab.engine=ssh://lab@node-b');
  });

  it('a task on this node: this node’s engine, plain `docker`', async () => {
    const m = fakeManager({
      [PS]: { stdout: 'task1\tRunning\tRunning 1 second ago\t\n' },
      [TASK]: { stdout: `${SELF}\tcontainer1\n` },
      [NODE]: { stdout: `${SELF}\there\tnull\n` },
    });
    const t = await locateTask(m.run, 'svc', SELF, new Map(), 'x');
    expect(t.state === 'running' && t.engine.argv).toEqual(['docker']);
  });

  it('pending while the task is not running yet; failed when no node fits or the task was rejected', async () => {
    const pending = fakeManager({ [PS]: { stdout: 'task1\tRunning\tPreparing 1 second ago\t\n' } });
    expect(await locateTask(pending.run, 'svc', SELF, new Map(), 'x')).toEqual({
      state: 'pending',
      detail: 'Preparing 1 second ago',
    });
    expect(pending.asked).toHaveLength(1);
    const none = fakeManager({
      [PS]: {
        stdout:
          'task1\tRunning\tPending 3 seconds ago\tno suitable node (scheduling constraints not satisfied on 1 node)\n',
      },
    });
    expect(await locateTask(none.run, 'svc', SELF, new Map(), 'x')).toEqual({
      state: 'failed',
      detail: 'Pending 3 seconds ago no suitable node (scheduling constraints not satisfied on 1 node)',
    });
    const rejected = fakeManager({
      [PS]: { stdout: 'task1\tShutdown\tRejected 1 second ago\tNo such image: sha256:abc\n' },
    });
    expect(await locateTask(rejected.run, 'svc', SELF, new Map(), 'x')).toMatchObject({ state: 'failed' });
    expect(await locateTask(fakeManager({ [PS]: { stdout: '' } }).run, 'svc', SELF, new Map(), 'x')).toEqual({
      state: 'pending',
      detail: 'no task yet',
    });
  });
});

describe('a task’s container as a ContainerHost through its node’s engine', () => {
  it('puts the engine’s argv before `docker exec`, for commands run to their end and for spawned ones', async () => {
    const e = engineAt('ssh://lab@node-b', '--node-engine node-b=ssh://lab@node-b');
    const h = new ContainerHost('container relay (node node-b)', 'c0ffee', '10.0.1.5', e);
    expect(h.argv(['udplab', 'relay'])).toEqual([
      'docker',
      '--host',
      'ssh://lab@node-b',
      'exec',
      'c0ffee',
      'udplab',
      'relay',
    ]);
    expect(h.address).toBe('10.0.1.5');
    expect(engineAt(undefined, 'here').argv).toEqual(['docker']);
  });
});

describe('an endpoint’s service: NET_ADMIN only where tc may run', () => {
  const caps = (a: string[]) => a.flatMap((x, i) => (x === '--cap-add' ? [a[i + 1]] : []));
  const argv = (role: 'server' | 'client' | 'relay', shaper: 'auto' | 'netem' | 'userspace') =>
    endpointServiceArgv({ service: `udplab-${role}-1-abc`, role, network: 'net', image: 'sha256:1', shaper });
  it('the relay (a userspace UDP forwarder) never gets it; server and client do unless the relay shapes for certain', () => {
    for (const shaper of ['auto', 'netem', 'userspace'] as const) expect(caps(argv('relay', shaper))).toEqual([]);
    for (const role of ['server', 'client'] as const) {
      expect(caps(argv(role, 'auto'))).toEqual(['NET_ADMIN']);
      expect(caps(argv(role, 'netem'))).toEqual(['NET_ADMIN']);
      expect(caps(argv(role, 'userspace'))).toEqual([]);
    }
  });
  it('labels, network, constraint and the image last', () => {
    const a = endpointServiceArgv({
      service: 's',
      role: 'client',
      network: 'net',
      image: 'sha256:1',
      constraint: 'node.labels.site==b',
      shaper: 'auto',
    });
    expect(a.slice(0, 2)).toEqual(['service', 'create']);
    expect(a).toContain('udplab.role=client');
    expect(a[a.indexOf('--network') + 1]).toBe('net');
    expect(a[a.indexOf('--constraint') + 1]).toBe('node.labels.site==b');
    expect(a.at(-1)).toBe('sha256:1');
  });
});

describe('placement: the scenario’s field and the flags', () => {
  it('merges per endpoint; a flag wins, and the notice says over what', () => {
    expect(
      mergePlacement(
        { server: 'node.labels.role==s', client: 'node.labels.role==c', relay: 'node.role==manager' },
        { client: 'node.hostname==b' },
      ),
    ).toEqual({
      placement: { server: 'node.labels.role==s', client: 'node.hostname==b', relay: 'node.role==manager' },
      said: [
        'server on node.labels.role==s (scenario)',
        "client on node.hostname==b (--client-node, over the scenario's node.labels.role==c)",
        'relay on node.role==manager (scenario)',
      ],
    });
    expect(mergePlacement(undefined, { server: 'a==1', relay: 'b==1' }).said).toEqual([
      'server on a==1 (--server-node)',
      'relay on b==1 (--relay-node)',
    ]);
    expect(mergePlacement({ server: 'a==1' }, { server: 'a==1' }).said).toEqual(['server on a==1 (--server-node)']);
    expect(mergePlacement(undefined, undefined)).toEqual({ placement: {}, said: [] });
  });

  it('the scenario field is validated: endpoints by name, non-empty constraints', () => {
    const base = 'name: p\nfile: { size: 1KiB }\nnetwork: { netem: "delay 1ms" }\n';
    expect(
      parseScenario(`${base}placement: { server: node.labels.a==1, relay: node.role==manager }\n`).placement,
    ).toEqual({ server: 'node.labels.a==1', relay: 'node.role==manager' });
    expect(parseScenario(base).placement).toBeUndefined();
    expect(() => parseScenario(`${base}placement: { sever: node.labels.a==1 }\n`, 'p.yaml')).toThrow(/^p\.yaml:4:/);
    expect(() => parseScenario(`${base}placement: { client: "" }\n`, 'p.yaml')).toThrow(/placement\.client/);
  });

  it('a runtime other than swarm runs the scenario without it, and a notice says so', async () => {
    const s = parseScenario(
      'name: p\nfile: { size: 1KiB }\nnetwork: { netem: "delay 1ms" }\nplacement: { server: node.labels.a==1, client: node.labels.b==1 }\n',
      'p.yaml',
    );
    const res = await runScenario(s, {
      runtime: 'auto',
      shaper: 'auto',
      lab: defineRuntime('local', (n) => new Fake(n)),
    });
    expect(res.summary.passed).toBe(1);
    expect(res.environment.notices).toContain(
      'placement: (server: node.labels.a==1, client: node.labels.b==1) places services on the swarm runtime only; the local runtime ran without it.',
    );
  });
});

describe('udplab lab (CLI): --node-engine and --relay-node checked before anything runs', () => {
  const { lines, run, restore } = cliRunner();
  afterEach(restore);

  it('on another runtime: a usage line; a malformed NODE=URL: a usage line naming it', async () => {
    expect(await run(['lab', 'scenarios/lossy-10pct.yaml', '--node-engine', 'a=ssh://b'])).toBe(2);
    expect(await run(['lab', 'scenarios/lossy-10pct.yaml', '--relay-node', 'node.role==manager'])).toBe(2);
    expect(await run(['lab', 'scenarios/lossy-10pct.yaml', '--runtime', 'swarm', '--node-engine', 'a=b'])).toBe(2);
    expect(lines).toEqual([
      'udplab: E_USAGE: --server-node, --client-node, --relay-node and --node-engine place endpoints on the swarm runtime: add --runtime swarm\n',
      'udplab: E_USAGE: --server-node, --client-node, --relay-node and --node-engine place endpoints on the swarm runtime: add --runtime swarm\n',
      'udplab: E_USAGE: --node-engine expects NODE=URL with URL as docker --host takes it (ssh://user@host, tcp://host:2376, unix:///var/run/docker.sock), got "a=b"\n',
    ]);
  });
});

const SHA = 'ab'.repeat(32);

/** A runtime that places nothing and passes every run. */
class Fake implements LabRuntime {
  readonly name = 'local' as const;
  shaper: ShaperName = 'userspace';
  kernel = 'fake kernel';
  constructor(readonly notices: string[]) {}
  async start(): Promise<void> {}
  async stop(): Promise<void> {}
  leftovers() {
    return {};
  }
  async prepareFile(): Promise<PreparedFile> {
    return { remote: 'file.bin', sizeBytes: 1024, sha256: SHA };
  }
  async applyShaping(): Promise<string> {
    return 'fake shaping';
  }
  async clearShaping(): Promise<unknown> {
    return undefined;
  }
  async runClients(_v: unknown, remote: string, _t: number, count: number): Promise<ClientOutcome[]> {
    return Array.from({ length: count }, (_, i) =>
      programPass({ remote, local: `file-${i}.bin`, bytes: 1024, durationMs: 10, sha256: SHA }),
    );
  }
  async startCapture(): Promise<string | undefined> {
    return 'no capture in a fake';
  }
  async stopCapture(): Promise<number> {
    return 0;
  }
  originalPath(): string | undefined {
    return undefined;
  }
  async keepClientFile(): Promise<boolean> {
    return false;
  }
}
