// `udplab lab --compare-shapers` on a host whose kernel has no sch_netem (this project's CI machine): one clear
// line that names the real-kernel lane, nothing left behind; and the combinations it refuses anywhere.
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const BIN = join(import.meta.dirname, '..', '..', 'bin', 'udplab.js');
const out = mkdtempSync(join(tmpdir(), 'udplab-cmp-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

async function lab(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run(process.execPath, [BIN, 'lab', ...args, '--out', out], { timeout: 60_000 });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const x = e as { code: number; stdout: string; stderr: string };
    return { code: x.code, stdout: x.stdout, stderr: x.stderr };
  }
}

/** Does this kernel run netem? Probed in a namespace of this test's own (deleted at once). */
function kernelHasNetem(): boolean | undefined {
  if (process.getuid?.() !== 0 || process.platform !== 'linux') return undefined;
  const ns = `udplab-${process.pid}-c-probe`;
  try {
    execFileSync('ip', ['netns', 'add', ns]);
    execFileSync('ip', ['netns', 'exec', ns, 'tc', 'qdisc', 'add', 'dev', 'lo', 'root', 'netem', 'delay', '0ms'], {
      stdio: 'ignore',
    });
    return true;
  } catch {
    return false;
  } finally {
    try {
      execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
    } catch {}
  }
}

const netem = kernelHasNetem();
const namespaces = () => execFileSync('ip', ['netns', 'list']).toString();

describe.skipIf(netem !== false)('--compare-shapers where the kernel has no sch_netem (root, Linux)', () => {
  it('refuses with one line naming the VM lane, before any run, leaving no namespace', async () => {
    const before = namespaces();
    const file = 'scenarios/regression/clean.yaml';
    const r = await lab(['--compare-shapers', file]);
    expect(r.code).toBe(2);
    const lines = r.stderr
      .trim()
      .split('\n')
      .filter((l) => l.startsWith('udplab:'));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      /^udplab: E_SHAPER: --compare-shapers needs kernel netem, and this kernel \(.+\) cannot run netem: /,
    );
    expect(lines[0]).toContain(
      `run the comparison in the real-kernel lane: npm run lab:vm -- ${file} --compare-shapers`,
    );
    expect(r.stderr).not.toMatch(/\[userspace\]|\[1\/\d+\]/); // nothing ran, not even the relay half
    expect(namespaces()).toBe(before);
  });

  it('the scenario field compare_shapers: true does the same', async () => {
    const file = join(out, 'cmp.yaml');
    writeFileSync(file, 'name: cmp\nfile: { size: 64KiB }\nnetwork: { netem: "delay 5ms" }\ncompare_shapers: true\n');
    const r = await lab([file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`npm run lab:vm -- ${file} --compare-shapers`);
  });
});

describe('--compare-shapers: what it refuses anywhere', () => {
  it('with --shaper (it runs both), with --shard, and on the local runtime (no kernel shaper)', async () => {
    const file = 'scenarios/regression/clean.yaml';
    const shaper = await lab(['--compare-shapers', '--shaper', 'netem', file]);
    expect(shaper.code).toBe(2);
    expect(shaper.stderr).toContain('--compare-shapers runs both shapers: leave out --shaper netem');
    const shard = await lab(['--compare-shapers', '--shard', '1/2', file]);
    expect(shard.code).toBe(2);
    expect(shard.stderr).toContain('--compare-shapers does not combine with --shard');
    const local = await lab(['--compare-shapers', '--runtime', 'local', file]);
    expect(local.code).toBe(2);
    expect(local.stderr).toContain('--compare-shapers needs kernel netem: the local runtime shapes in user space only');
  });
});
