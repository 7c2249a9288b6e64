// `udplab doctor`'s checks, each branch with injected probes (sysctl values, PATH, docker): what a lecturer's
// machine can look like — a stock rmem_max, no Docker, an image without tcpdump, a user shell with or without sudo.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  bufferDemands,
  bufferPreflight,
  type Check,
  captureToolMissing,
  type DoctorProbes,
  doctor,
  formatChecks,
  loadScenario,
  parseScenario,
  readSysctl,
} from '../../../src/lab/index.js';
import { tempDir } from '../../helpers/tmp.js';

const T01 = loadScenario('scenarios/teaching/01-loss.yaml');
const T05 = loadScenario('scenarios/teaching/05-receiver-overrun.yaml');
const T08 = loadScenario('scenarios/teaching/08-amplification.yaml');

/** A machine where everything is fine; each test breaks one thing. */
function machine(over: Partial<DoctorProbes> = {}, sysctls: Record<string, number> = {}): DoctorProbes {
  const caps: Record<string, number> = { rmem_max: 16 << 20, wmem_max: 16 << 20, ...sysctls };
  return {
    sysctl: (n) => caps[n],
    which: (c) => `/usr/bin/${c}`,
    docker: async () => ({ ok: true, version: '27.0.1' }),
    imageTool: async (_i, t) => ({ state: 'present', path: `/usr/bin/${t}` }),
    netemInImage: async () => ({ ok: true, detail: 'tc netem accepted' }),
    netns: async () => ({ netns: { ok: true, detail: '' }, netem: { ok: true, detail: '' } }),
    uid: () => 0,
    capNetAdmin: () => true,
    ...over,
  };
}

const run = (p: DoctorProbes, scenarios = [T01], runtime: 'auto' | 'docker' | 'local' | 'netns' = 'auto') =>
  doctor(scenarios, p, { runtime, image: 'udplab/udplab:local' });
const get = (cs: Check[], name: string) => cs.find((c) => c.check === name)!;

describe('udplab doctor: checks', () => {
  it('a machine with everything: every line ok', async () => {
    const cs = await run(machine());
    expect(cs.map((c) => `${c.level} ${c.check}`)).toEqual([
      'ok docker',
      'ok sch_netem',
      'ok net.core.rmem_max',
      'ok net.core.wmem_max',
      'ok tcpdump',
      'ok tshark',
      'ok hping3',
      'ok image tcpdump',
      'ok root',
      'ok ip netns',
    ]);
    expect(get(cs, 'docker').message).toContain('27.0.1');
  });

  it("a stock rmem_max (208 KiB) FAILs against a scenario's rcvbuf with the exact sysctl line", async () => {
    const cs = await run(machine({}, { rmem_max: 212992 }));
    const c = get(cs, 'net.core.rmem_max');
    expect(c.level).toBe('FAIL');
    expect(c.message).toContain('net.core.rmem_max = 212992 (208 KiB)');
    expect(c.message).toContain('scenarios/teaching/01-loss.yaml protocols naive: rcvbuf 8 MiB');
    expect(c.fix).toBe('sysctl -w net.core.rmem_max=8388608');
  });

  it('a cap that only cuts RUFT’s own 4 MiB request WARNs (RUFT still works); wmem_max likewise', async () => {
    const cs = await run(machine({}, { rmem_max: 2 << 20, wmem_max: 212992 }), [T05]);
    expect(get(cs, 'net.core.rmem_max')).toMatchObject({
      level: 'WARN',
      fix: 'sysctl -w net.core.rmem_max=4194304',
    });
    expect(get(cs, 'net.core.wmem_max')).toMatchObject({
      level: 'WARN',
      fix: 'sysctl -w net.core.wmem_max=4194304',
    });
    // 05's naive asks 32 KiB: below the cap, so no FAIL
    expect(cs.some((x) => x.level === 'FAIL')).toBe(false);
  });

  it('without scenarios the caps are checked against RUFT’s request; a user shell gets sudo in the line', async () => {
    const cs = await run(machine({ uid: () => 1000, capNetAdmin: () => false }, { rmem_max: 212992 }), []);
    expect(get(cs, 'net.core.rmem_max')).toMatchObject({
      level: 'WARN',
      fix: 'sudo sysctl -w net.core.rmem_max=4194304',
    });
    expect(get(cs, 'root')).toMatchObject({ level: 'WARN' });
    expect(get(cs, 'root').message).toContain('no CAP_NET_ADMIN');
    expect(get(cs, 'root').fix).toContain('sudo -E');
  });

  it('an unreadable sysctl WARNs instead of guessing', async () => {
    const cs = await run(machine({ sysctl: () => undefined }));
    expect(get(cs, 'net.core.rmem_max').level).toBe('WARN');
    expect(get(cs, 'net.core.rmem_max').message).toContain('cannot read');
  });

  it('no Docker engine: WARN (loopback instead), FAIL when --runtime docker is asked for', async () => {
    const off = machine({ docker: async () => ({ ok: false, detail: 'Cannot connect to the Docker daemon' }) });
    const cs = await run(off);
    expect(get(cs, 'docker')).toMatchObject({ level: 'WARN' });
    expect(get(cs, 'docker').message).toContain('Cannot connect');
    // netem is then probed in a namespace
    expect(get(cs, 'sch_netem').message).toContain('probe namespace');
    expect(get(await run(off, [T01], 'docker'), 'docker').level).toBe('FAIL');
  });

  it('no sch_netem: WARN naming the relay fallback and tc’s own words', async () => {
    const cs = await run(
      machine({ netemInImage: async () => ({ ok: false, detail: 'Error: Specified qdisc kind is unknown.' }) }),
    );
    expect(get(cs, 'sch_netem')).toMatchObject({ level: 'WARN' });
    expect(get(cs, 'sch_netem').message).toContain('Specified qdisc kind is unknown');
    expect(get(cs, 'sch_netem').message).toContain('userspace relay');
  });

  it('an image without tcpdump FAILs for a capturing scenario on docker, WARNs without one', async () => {
    const noTcpdump = machine({
      imageTool: async () => ({ state: 'missing' }),
    });
    const c = get(await run(noTcpdump, [T01]), 'image tcpdump');
    expect(c.level).toBe('FAIL');
    expect(c.message).toContain('udplab/udplab:local has no tcpdump');
    expect(c.message).toContain('01-loss.yaml');
    expect(get(await run(noTcpdump, [T05]), 'image tcpdump').level).toBe('WARN'); // 05: capture: false
    // on --runtime local the image does not matter, the host's tcpdump does
    expect(get(await run(noTcpdump, [T01], 'local'), 'image tcpdump').level).toBe('WARN');
  });

  it('no tcpdump on the host FAILs a capturing scenario on the local runtime; hping3 for 08', async () => {
    const bare = machine({ which: (c) => (['tcpdump', 'hping3', 'tshark'].includes(c) ? undefined : `/bin/${c}`) });
    const cs = await run(bare, [T01, T08], 'local');
    expect(get(cs, 'tcpdump')).toMatchObject({ level: 'FAIL', fix: 'apt-get install -y tcpdump' });
    expect(get(cs, 'hping3').level).toBe('FAIL');
    expect(get(cs, 'hping3').message).toContain('08-amplification.yaml');
    expect(get(cs, 'tshark').level).toBe('WARN');
    // on docker, 01 captures in the container: the host's tcpdump is only a WARN
    expect(get(await run(bare, [T01], 'auto'), 'tcpdump').level).toBe('WARN');
  });

  it('root shell vs sudo: says which, and FAILs a root-only scenario in a user shell', async () => {
    const rootNoSudo = await run(machine({ which: (c) => (c === 'sudo' ? undefined : `/usr/bin/${c}`) }));
    expect(get(rootNoSudo, 'root').message).toContain('without sudo (this shell has no sudo at all)');
    const user = await run(machine({ uid: () => 1000, capNetAdmin: () => false }), [T08]);
    expect(get(user, 'root').level).toBe('FAIL');
    expect(get(user, 'root').message).toContain('08-amplification.yaml');
    const userNoSudo = await run(
      machine({ uid: () => 1000, which: (c) => (c === 'sudo' ? undefined : `/usr/bin/${c}`) }),
      [T08],
    );
    expect(get(userNoSudo, 'root').fix).toContain('su -');
  });

  it('ip netns unusable: WARN, FAIL for --runtime netns', async () => {
    const p = machine({
      netns: async () => ({ netns: { ok: false, detail: 'mount --make-shared /run/netns failed' } }),
    });
    expect(get(await run(p), 'ip netns').level).toBe('WARN');
    expect(get(await run(p, [T05], 'netns'), 'ip netns').level).toBe('FAIL');
  });

  it('prints one line per check, the fix under it', async () => {
    const text = formatChecks(await run(machine({}, { rmem_max: 212992 })));
    expect(text.split('\n').filter((l) => /^(ok|WARN|FAIL)\s/.test(l))).toHaveLength(10);
    expect(text).toMatch(/^FAIL {2}net\.core\.rmem_max .*\n {24}→ sysctl -w net\.core\.rmem_max=8388608$/m);
  });
});

describe('the lab’s preflight', () => {
  const naive = (rcvbuf: string) =>
    parseScenario(
      [
        'name: t',
        'file: { size: 64KiB }',
        'network: { netem: "delay 1ms" }',
        `protocols: [ { protocol: naive, rcvbuf: ${rcvbuf} }, ruft ]`,
      ].join('\n'),
      'x.yaml',
    );

  it('lists the buffers a scenario asks for: naive rcvbuf (hard), RUFT’s own (soft)', () => {
    expect(bufferDemands(naive('8MiB')).map((d) => [d.sysctl, d.bytes, d.hard])).toEqual([
      ['rmem_max', 8 << 20, true],
      ['rmem_max', 4 << 20, false],
      ['wmem_max', 4 << 20, false],
    ]);
  });

  it('refuses a buffer above the cap in one line naming scenario, field, cap and sysctl line', () => {
    const read = (n: string) => (n === 'rmem_max' ? 212992 : 16 << 20);
    expect(() => bufferPreflight(naive('8MiB'), read, false, true)).toThrow(
      /^x\.yaml: protocols naive: rcvbuf 8 MiB is above net\.core\.rmem_max = 212992 \(208 KiB\), .*sysctl -w net\.core\.rmem_max=8388608 \(or run with --allow-capped/,
    );
    try {
      bufferPreflight(naive('8MiB'), read, false, true);
    } catch (e) {
      expect((e as { code: string }).code).toBe('E_PREFLIGHT');
      expect((e as Error).message).not.toContain('\n');
    }
  });

  it('--allow-capped: a CAPPED notice instead; RUFT’s own request only ever a notice; at the cap nothing', () => {
    const read = (n: string) => (n === 'rmem_max' ? 212992 : 16 << 20);
    const ns = bufferPreflight(naive('8MiB'), read, true, true);
    expect(ns[0]).toMatch(/^CAPPED \(--allow-capped\): x\.yaml: protocols naive: rcvbuf 8 MiB/);
    expect(ns[1]).toMatch(/^CAPPED: x\.yaml: protocols ruft: RUFT's own SO_RCVBUF request 4 MiB/);
    expect(bufferPreflight(naive('208KiB'), read, false, true)).toEqual([
      expect.stringMatching(/^CAPPED: .*RUFT's own SO_RCVBUF/),
    ]);
    expect(bufferPreflight(naive('8MiB'), () => 8 << 20, false, true)).toEqual([]);
  });

  it('capture: tcpdump where the client runs — the image for docker, the host PATH otherwise', async () => {
    const probes = { which: () => undefined, imageTool: async () => ({ state: 'missing' as const }) };
    const image = async () => 'udplab/udplab:x';
    expect(await captureToolMissing('docker', probes, image)).toContain('udplab/udplab:x has no tcpdump');
    expect(await captureToolMissing('local', probes, image)).toContain("no tcpdump on this host's PATH");
    const ok = { which: () => '/usr/bin/tcpdump', imageTool: async () => ({ state: 'present' as const, path: 'x' }) };
    expect(await captureToolMissing('docker', ok, image)).toBeUndefined();
    expect(await captureToolMissing('netns', ok, image)).toBeUndefined();
  });

  it('reads the cap from UDPLAB_PROC_ROOT’s tree when given one (a lowered cap for tests)', () => {
    using d = tempDir();
    mkdirSync(join(d.path, 'sys', 'net', 'core'), { recursive: true });
    writeFileSync(join(d.path, 'sys', 'net', 'core', 'rmem_max'), '212992\n');
    expect(readSysctl('rmem_max', d.path)).toBe(212992);
    expect(readSysctl('wmem_max', d.path)).toBeUndefined();
  });
});
