import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseNetem, printNetem } from '../../../src/impair/index.js';
import {
  executionOrder,
  loadScenario,
  parseScenario,
  planRuns,
  planShaping,
  scenarioJsonSchema,
  withLoss,
} from '../../../src/lab/index.js';
import { clientArgs, serverSpec } from '../../../src/lab/protocols/index.js';

const ROOT = join(import.meta.dirname, '..', '..', '..');

function err(text: string): string {
  try {
    parseScenario(text, 'bad.yaml');
  } catch (e) {
    expect((e as { code: string }).code).toBe('E_SCENARIO_INVALID');
    return (e as Error).message;
  }
  throw new Error('no error');
}

describe('scenario files', () => {
  it('a ruft variant with datagram_size gets a server of its own with --datagram-size', () => {
    const text = [
      'name: d',
      'file: { size: 1MiB }',
      'network: { netem: "delay 1ms" }',
      'protocols: [ruft, { protocol: ruft, label: jumbo, datagram_size: 1472 }]',
    ].join('\n');
    const s = parseScenario(text, 'd.yaml');
    const [plain, jumbo] = s.variants.map(serverSpec);
    expect(plain!.args).toEqual(['serve', '--quiet']);
    expect(jumbo!.args).toEqual(['serve', '--quiet', '--datagram-size', '1472']);
    expect(jumbo!.key).not.toBe(plain!.key);
    expect(err(text.replace('1472', '1000'))).toMatch(/datagram_size/);
  });

  it('a ruft variant with background: true downloads with --background from the same server (issue 22)', () => {
    const text = [
      'name: b',
      'file: { size: 1MiB }',
      'network: { netem: "delay 1ms" }',
      'protocols: [ruft, { protocol: ruft, label: bg, background: true }]',
    ].join('\n');
    const s = parseScenario(text, 'b.yaml');
    const [plain, bg] = s.variants;
    expect(serverSpec(bg!).key).toBe(serverSpec(plain!).key); // the client asks; the server is the same
    expect(clientArgs(bg!, '127.0.0.1:1', 'f', 'out')).toContain('--background');
    expect(clientArgs(plain!, '127.0.0.1:1', 'f', 'out')).not.toContain('--background');
    expect(err(text.replace('background: true', 'background: 1'))).toMatch(/^bad\.yaml:4:\d+: protocols\.1/);
  });

  it("a tftp server lifts tftp-serve's per-source cap: a run's clients share one address", () => {
    const s = parseScenario(
      ['name: t', 'file: { size: 1MiB }', 'network: { netem: "" }', 'protocols: [tftp]', 'clients: 20'].join('\n'),
      't.yaml',
    );
    const args = serverSpec(s.variants[0]!).args;
    expect(Number(args[args.indexOf('--max-per-source') + 1])).toBeGreaterThanOrEqual(200);
  });

  it('a tcp variant with timeout waits that long for data (tcp-get --timeout); without, the default', () => {
    const text = [
      'name: t',
      'file: { size: 1MiB }',
      'network: { netem: "delay 1ms" }',
      'protocols: [tcp, { protocol: tcp, label: patient, timeout: 300s }]',
    ].join('\n');
    const [plain, patient] = parseScenario(text, 't.yaml').variants;
    expect(clientArgs(plain!, 'h:1', 'f', 'l')).toEqual(['tcp-get', 'h:1', 'f', 'l', '--json', '--force']);
    expect(clientArgs(patient!, 'h:1', 'f', 'l').slice(-2)).toEqual(['--timeout', '300000']);
    expect(err(text.replace('300s', 'soon'))).toMatch(/timeout/);
    expect(err(text.replace('timeout: 300s', 'blksize: 512'))).toMatch(/blksize/);
  });

  it('every shipped scenario validates', () => {
    const files = [
      join(ROOT, 'scenarios', 'lossy-10pct.yaml'),
      join(ROOT, 'scenarios', 'ipv6-path.yaml'),
      ...['regression', 'vm', 'grading'].flatMap((d) =>
        readdirSync(join(ROOT, 'scenarios', d)).map((f) => join(ROOT, 'scenarios', d, f)),
      ),
    ];
    for (const f of files) expect(loadScenario(f).name).toBeTruthy();
    const main = loadScenario(files[0]!);
    // the main chart tells the story (#12): a link rate (the rate·(1−p) line), RUFT against TFTP with windowsize
    // and TCP on the same axes, the curve from 0 to 20% loss, sized to run in under ~3 minutes on the docker runtime
    expect(main.sweepLossPct).toEqual([0, 5, 10, 20]);
    expect(main.repeat).toBeGreaterThanOrEqual(2);
    expect(main.down.rate?.rateBit).toBe(20e6);
    expect(main.variants.map((v) => v.protocol)).toEqual(['ruft', 'tftp', 'tcp']);
    expect(main.variants[1]!.options.windowsize).toBe(16);
    expect(main.file).toEqual({ sizeBytes: 1536 << 10, content: 'random' });
    expect(main.expect).toEqual({ integrity: true, goodputMinBps: 256e3, durationMaxMs: 60_000 });
  });

  it('ip: 4 by default; ip: 6 refused with naive (IPv4-only) and with attacks (hping3 has no IPv6)', () => {
    const base = 'name: x\nfile: { size: 1MiB }\nnetwork: { netem: "" }\n';
    expect(parseScenario(base).ip).toBe(4);
    expect(parseScenario(`${base}ip: 6\nprotocols: [ruft, tftp, tcp]\n`).ip).toBe(6);
    expect(loadScenario(join(ROOT, 'scenarios', 'ipv6-path.yaml')).ip).toBe(6);
    expect(err(`${base}ip: 6\nprotocols: [ruft, naive]\n`)).toBe(
      "bad.yaml: ip: 6: the naive protocol is the seminar's IPv4-only program",
    );
    expect(err(`${base}ip: 6\nattack: amplification\n`)).toMatch(/ip: 6: attack scenarios .* hping3/);
    expect(err(`${base}ip: 5\n`)).toMatch(/^bad\.yaml:4:5: ip: /);
  });

  it('scenarios/schema.json is generated from the zod schema and is current', () => {
    const onDisk = JSON.parse(readFileSync(join(ROOT, 'scenarios', 'schema.json'), 'utf8'));
    expect(onDisk).toEqual(scenarioJsonSchema());
  });

  it.each([
    [
      'name: x\nfile: { size: 1MiB }\nnetwork: { netem: "delay 10x" }\n',
      'bad.yaml:3:19: network.netem: netem: expected a time like 20ms (word 2 "10x", column 7)',
    ],
    ['name: x\nfile: { size: 1MiB }\nnetwork: { netem: "" }\nrepeat: zero\n', 'bad.yaml:4:9: repeat: '],
    ['name: x\nfile: { size: lots }\nnetwork: { netem: "" }\n', 'bad.yaml:2:15: file.size: expected a size like 16MiB'],
    ['name: x\nfile: { size: 1MiB }\nnetwork: { netem: "" }\nbogus: 1\n', 'unknown field "bogus"'],
    [
      'name: x\nfile: { size: 1MiB }\nnetwork: { netem: "loss 10%" }\nsweep: { loss: [5%, lots] }\n',
      'bad.yaml:4:21: sweep.loss.1: expected a percentage like 10%',
    ],
    ['name: x\nfile: { size: 1MiB }\nnetwork: { netem: "reorder 10%" }\n', 'network.up: reorder needs a delay'],
    ['name: x\nfile: [1\n', 'bad.yaml:3:1: YAML: '],
    ['name: x\nfile: { size: 1MiB }\nnetwork: { profile: moon }\n', 'bad.yaml:3:10: network: expected'],
  ])('%j fails with %j', (text, message) => {
    expect(err(text)).toContain(message);
  });

  it('competing: kind, count and start resolved; bad values one line at file:line:col', () => {
    const base = 'name: c\nfile: { size: 1MiB }\nnetwork: { netem: "delay 20ms rate 10mbit" }\n';
    expect(parseScenario(`${base}competing: { kind: tcp }\n`, 'c.yaml').competing).toEqual({
      kind: 'tcp',
      count: 1,
      startMs: 0,
    });
    expect(parseScenario(`${base}competing: { kind: ruft, count: 3, start: 2s }\n`, 'c.yaml').competing).toEqual({
      kind: 'ruft',
      count: 3,
      startMs: 2000,
    });
    expect(parseScenario(base, 'c.yaml').competing).toBeUndefined();
    expect(err(`${base}competing: { kind: quic }\n`)).toMatch(/^bad\.yaml:4:20: competing\.kind: /);
    expect(err(`${base}competing: { kind: ruft, count: 0 }\n`)).toMatch(/^bad\.yaml:4:33: competing\.count: /);
    expect(err(`${base}competing: { kind: ruft, start: soon }\n`)).toMatch(
      /^bad\.yaml:4:33: competing\.start: expected a duration/,
    );
    expect(err(`${base}competing: { kind: ruft, until: end }\n`)).toMatch(
      /^bad\.yaml:4:12: competing: unknown field "until"/,
    );
    expect(err(`${base}clients: 2\ncompeting: { kind: ruft }\n`)).toBe(
      'bad.yaml:5:1: competing: use competing.count for more flows, not clients',
    );
    expect(err(`${base}faults: [{ at: 50%, kill: server }]\ncompeting: { kind: tcp }\n`)).toMatch(
      /^bad\.yaml:5:1: competing: faults restart the transfer/,
    );
    expect(err(`${base}compare_shapers: true\ncompeting: { kind: tcp }\n`)).toMatch(
      /^bad\.yaml:5:1: competing: kind tcp cannot run under the userspace relay/,
    );
  });

  it('named profiles resolve to netem', () => {
    const s = parseScenario('name: x\nfile: { size: 1MiB }\nnetwork: { profile: satellite }\n');
    expect(printNetem(s.up)).toBe('delay 300ms 10ms loss 1% rate 10mbit');
  });

  it('plans sweep × protocols × repeat, and shards split it without overlap', () => {
    const s = parseScenario(
      'name: x\nfile: { size: 1MiB }\nnetwork: { netem: "" }\nrepeat: 3\nsweep: { loss: [0%, 5%, 10%] }\n',
    );
    const all = planRuns(s);
    expect(all).toHaveLength(9);
    const shards = [1, 2, 3, 4].map((i) => planRuns(s, { index: i, count: 4 }).map((r) => r.index));
    expect(shards.flat().sort((a, b) => a - b)).toEqual(all.map((r) => r.index));
  });

  it("runs users' programs implementation-major (each keeps its planned index); built-ins in the planned order", () => {
    const head = 'name: x\nfile: { size: 1MiB }\nnetwork: { netem: "" }\nrepeat: 2\nsweep: { loss: [0%, 5%] }\n';
    const prog = (l: string) =>
      `  - { protocol: exec, label: ${l}, server: [s, "{port}"], client: [c, "{host}", "{port}", "{local}"] }\n`;
    const s = parseScenario(`${head}protocols:\n${prog('a')}${prog('b')}`, join(ROOT, 'x.yaml'));
    const order = executionOrder(s, planRuns(s)).map((r) => `${r.variant.id}${r.index}`);
    // planned (loss-major): a0 a1 b2 b3 a4 a5 b6 b7
    expect(order).toEqual(['a0', 'a1', 'a4', 'a5', 'b2', 'b3', 'b6', 'b7']);
    const builtin = parseScenario(`${head}protocols: [ruft, tftp]\n`);
    expect(executionOrder(builtin, planRuns(builtin))).toEqual(planRuns(builtin));
  });

  it('sizes netem limit from rate × delay, and a sweep replaces the loss', () => {
    const p = planShaping('down', parseNetem('delay 50ms rate 1gbit'));
    expect(p.netem.limit).toBe(2 * Math.ceil(((1e9 / 8) * 0.05) / 1200));
    expect(p.notices[0]).toContain('limit');
    expect(planShaping('up', parseNetem('delay 5ms rate 10mbit')).netem.limit).toBeUndefined();
    expect(printNetem(withLoss(parseNetem('delay 10ms loss 10%'), 5))).toBe('delay 10ms loss 5%');
    expect(printNetem(withLoss(parseNetem('delay 10ms loss 10%'), 0))).toBe('delay 10ms');
    expect(planShaping('up', parseNetem('delay 10ms 5ms')).notices.join()).toContain('reorders');
  });
});

describe('scenario decoder, property-tested', () => {
  const valid = readFileSync(join(ROOT, 'scenarios', 'lossy-10pct.yaml'), 'utf8');
  /** Either a scenario, or one LabError E_SCENARIO_INVALID whose message starts with file:line:col. */
  const judge = (text: string) => {
    try {
      parseScenario(text, 'fuzz.yaml');
    } catch (e) {
      expect((e as { code?: string }).code, String(e)).toBe('E_SCENARIO_INVALID');
      expect((e as Error).message).toMatch(/^fuzz\.yaml(:\d+:\d+)?: /);
    }
  };

  it('an alias to no anchor is a scenario error, not a crash (found by the property below)', () => {
    expect(err('name: x\nfile: { size: 1MiB }\nnetwork: { netem: "" }\nexpect: { integrity: *rue }\n')).toMatch(
      /^bad\.yaml: YAML: Unresolved alias/,
    );
  });

  it('arbitrary text never crashes the loader', () => {
    fc.assert(fc.property(fc.string({ maxLength: 300 }), judge), { numRuns: 3000 });
  });

  it('mutated valid scenarios (characters flipped, lines dropped or swapped, cut short) never crash it', () => {
    const lines = valid.split('\n');
    fc.assert(
      fc.property(fc.nat(), fc.nat(), fc.integer({ min: 32, max: 126 }), fc.nat(), (a, b, ch, cut) => {
        const chars = [...valid];
        chars[a % chars.length] = String.fromCharCode(ch);
        judge(chars.join(''));
        const l = [...lines];
        l.splice(a % l.length, 1);
        judge(l.join('\n'));
        const m = [...lines];
        [m[a % m.length], m[b % m.length]] = [m[b % m.length]!, m[a % m.length]!];
        judge(m.join('\n'));
        judge(valid.slice(0, cut % valid.length));
      }),
      { numRuns: 2000 },
    );
  });
});
