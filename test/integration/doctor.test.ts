// The preflight end to end through the CLI on the local runtime: a lowered net.core.rmem_max and a host without
// tcpdump, caught by `udplab doctor` and refused by `udplab lab` (or run with --allow-capped / --no-capture and
// a notice in results.json).
// The cap: net.core.rmem_max is per network namespace on recent kernels, but a child namespace cannot write it
// (6.18: EINVAL from `ip netns exec … sysctl -w`, EACCES from `docker run --sysctl`), and lowering the host's
// would hit everything else on the machine. So the lowered cap is a /proc tree given in UDPLAB_PROC_ROOT: the
// same reading code, pointed elsewhere. That this code reads what the kernel reports is checked against sysctl(8).
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readSysctl } from '../../src/lab/index.js';
import type { LabResults } from '../../src/report/index.js';
import { tempDir } from '../helpers/tmp.js';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'udplab.js');

function udplab(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
    timeout: 120_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A /proc tree whose net.core caps are `rmem` / `wmem`. */
function procTree(dir: string, rmem: number, wmem: number): string {
  const core = join(dir, 'proc', 'sys', 'net', 'core');
  mkdirSync(core, { recursive: true });
  writeFileSync(join(core, 'rmem_max'), `${rmem}\n`);
  writeFileSync(join(core, 'wmem_max'), `${wmem}\n`);
  return join(dir, 'proc');
}

/** A small scenario: naive with a 256 KiB SO_RCVBUF (and RUFT), on a clean path. */
function scenario(dir: string, capture: boolean): string {
  const file = join(dir, capture ? 'capture.yaml' : 'rcvbuf.yaml');
  writeFileSync(
    file,
    [
      `name: doctor-${capture ? 'capture' : 'rcvbuf'}`,
      'file: { size: 64KiB, content: random }',
      'network: { netem: "delay 1ms" }',
      'protocols: [ { protocol: naive, rcvbuf: 256KiB, stall: 2s }, ruft ]',
      `capture: ${capture}`,
      'seed: 1',
      'timeout: 30s',
    ].join('\n'),
  );
  return file;
}

function results(out: string): LabResults {
  const [dir] = readdirSync(out);
  return JSON.parse(readFileSync(join(out, dir!, 'results.json'), 'utf8')) as LabResults;
}

describe('udplab doctor and the lab with a lowered rmem_max', () => {
  it('reads the cap the kernel reports (the same value as sysctl -n)', () => {
    for (const name of ['rmem_max', 'wmem_max'] as const)
      expect(readSysctl(name)).toBe(Number(execFileSync('sysctl', ['-n', `net.core.${name}`], { encoding: 'utf8' })));
  });

  it('doctor FAILs a scenario whose rcvbuf is above the cap, with the sysctl line; exit 1', () => {
    using d = tempDir();
    const env = { UDPLAB_PROC_ROOT: procTree(d.path, 212992, 212992) };
    const r = udplab(['doctor', 'scenarios/teaching/01-loss.yaml', '--runtime', 'local', '--json'], env);
    expect(r.code, r.stderr).toBe(1);
    const { ok, checks } = JSON.parse(r.stdout) as { ok: boolean; checks: Array<Record<string, string>> };
    expect(ok).toBe(false);
    const rmem = checks.find((c) => c.check === 'net.core.rmem_max')!;
    expect(rmem.level).toBe('FAIL');
    expect(rmem.message).toContain('net.core.rmem_max = 212992 (208 KiB) cuts scenarios/teaching/01-loss.yaml');
    expect(rmem.fix).toMatch(/^(sudo )?sysctl -w net\.core\.rmem_max=8388608$/);
    // RUFT's own 4 MiB send buffer is cut too, which only warns
    expect(checks.find((c) => c.check === 'net.core.wmem_max')!.level).toBe('WARN');
    // and the text form: one line per check
    const text = udplab(['doctor', 'scenarios/teaching/01-loss.yaml', '--runtime', 'local'], env);
    expect(text.stdout).toMatch(/^FAIL {2}net\.core\.rmem_max +net\.core\.rmem_max = 212992/m);
  });

  it('the lab refuses to start in one line; --allow-capped runs with the CAPPED notice in results.json', () => {
    using d = tempDir();
    const env = { UDPLAB_PROC_ROOT: procTree(d.path, 212992, 16 << 20) };
    const file = scenario(d.path, false);
    const out = join(d.path, 'reports');
    const r = udplab(['lab', file, '--runtime', 'local', '--out', out], env);
    expect(r.code).toBe(2);
    const lines = r.stderr
      .trim()
      .split('\n')
      .filter((l) => l.startsWith('udplab:'));
    expect(lines).toEqual([
      expect.stringMatching(
        /^udplab: E_PREFLIGHT: .*rcvbuf\.yaml: protocols naive: rcvbuf 256 KiB is above net\.core\.rmem_max = 212992 \(208 KiB\).*sysctl -w net\.core\.rmem_max=262144 \(or run with --allow-capped/,
      ),
    ]);
    expect(() => readdirSync(out)).toThrow(); // nothing ran, no report

    const ok = udplab(['lab', file, '--runtime', 'local', '--out', out, '--allow-capped'], env);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stderr).toMatch(/NOTICE: CAPPED \(--allow-capped\): .*rcvbuf 256 KiB/);
    const res = results(out);
    expect(res.environment.notices).toContainEqual(
      expect.stringMatching(/^CAPPED \(--allow-capped\): .*rcvbuf\.yaml: protocols naive: rcvbuf 256 KiB/),
    );
    expect(res.summary.failed).toBe(0);
  });

  it('with the cap above the request the same scenario starts without any notice', () => {
    using d = tempDir();
    const env = { UDPLAB_PROC_ROOT: procTree(d.path, 16 << 20, 16 << 20) };
    const out = join(d.path, 'reports');
    const r = udplab(['lab', scenario(d.path, false), '--runtime', 'local', '--out', out], env);
    expect(r.code, r.stderr).toBe(0);
    expect(results(out).environment.notices.filter((n) => n.startsWith('CAPPED'))).toEqual([]);
  });
});

describe.skipIf(process.getuid?.() !== 0)('the lab with no tcpdump on the host (local runtime)', () => {
  it('capture: true is refused in one line; --no-capture runs with a notice and no pcap', () => {
    using d = tempDir();
    // a PATH holding node only
    const bin = join(d.path, 'bin');
    mkdirSync(bin);
    symlinkSync(process.execPath, join(bin, 'node'));
    const env = { PATH: bin, UDPLAB_PROC_ROOT: procTree(d.path, 16 << 20, 16 << 20) };
    const file = scenario(d.path, true);
    const out = join(d.path, 'reports');
    const doc = udplab(['doctor', file, '--runtime', 'local', '--json'], env);
    const tcpdump = (JSON.parse(doc.stdout) as { checks: Array<Record<string, string>> }).checks.find(
      (c) => c.check === 'tcpdump',
    )!;
    expect(tcpdump.level).toBe('FAIL');
    expect(tcpdump.message).toContain('capture.yaml');
    const r = udplab(['lab', file, '--runtime', 'local', '--out', out], env);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(
      /^udplab: E_PREFLIGHT: .*capture\.yaml: capture: true, but no tcpdump on this host's PATH for --runtime local .*--no-capture/m,
    );
    const ok = udplab(['lab', file, '--runtime', 'local', '--out', out, '--no-capture'], env);
    expect(ok.code, ok.stderr).toBe(0);
    const res = results(out);
    expect(res.environment.notices).toContain(
      'NO CAPTURE (--no-capture): the scenario asks for packet captures; this report has none.',
    );
    expect(res.runs.every((x) => x.capture === undefined)).toBe(true);
    // the same scenario with tcpdump on PATH: captures are taken (the refusal was about the tool)
    const withTool = udplab(['lab', file, '--runtime', 'local', '--out', join(d.path, 'r2')], {
      UDPLAB_PROC_ROOT: env.UDPLAB_PROC_ROOT,
    });
    expect(withTool.code, withTool.stderr).toBe(0);
    expect(results(join(d.path, 'r2')).runs.every((x) => typeof x.capture === 'string')).toBe(true);
  });
});
