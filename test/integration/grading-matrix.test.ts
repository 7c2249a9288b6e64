// `udplab lab SCENARIO… --protocols-from DIR` end to end on the local runtime: every implementation folder on
// every scenario, the matrix in matrix.json / .md / .html / junit.xml and on the terminal, exit 1 when a cell fails.
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runningIn } from '../helpers/procs.js';
import { tempDir } from '../helpers/tmp.js';

const ROOT = join(import.meta.dirname, '..', '..');
const FIXTURES = join(ROOT, 'test', 'fixtures', 'endpoints');

function implementation(dir: string, name: string, clientMode: string): void {
  mkdirSync(join(dir, name));
  writeFileSync(
    join(dir, name, 'udplab.yaml'),
    `description: fixture (${clientMode})\nserver: [python3, ${FIXTURES}/server.py, ok, "{bind}", "{port}", "{root}"]\nclient: [python3, ${FIXTURES}/client.py, ${clientMode}, "{host}", "{port}", "{remote}", "{local}"]\n`,
  );
}

/** A scenario file `NAME.yaml` in `dir` of a 16 KiB file and `rest` (network, timeout, repeat); its path. */
function scenario(dir: string, name: string, rest: string): string {
  const path = join(dir, `${name}.yaml`);
  writeFileSync(path, `name: ${name}\nfile: { size: 16KiB }\n${rest}`);
  return path;
}

/** `udplab lab ARGS…` through the CLI, killed at `timeoutMs` (SIGKILL: a lab stuck in a loop never runs its SIGTERM
 * handler). */
function lab(args: string[], timeoutMs: number) {
  return spawnSync(process.execPath, [join(ROOT, 'bin', 'udplab.js'), 'lab', ...args], {
    encoding: 'utf8',
    timeout: timeoutMs,
    killSignal: 'SIGKILL',
  });
}

/** `udplab lab SCENARIOS --protocols-from IMPLS --runtime local --out OUT`. */
function grade(scenarios: string[], impls: string, out: string, timeoutMs: number) {
  return lab([...scenarios, '--protocols-from', impls, '--runtime', 'local', '--out', out], timeoutMs);
}

describe('grading matrix', () => {
  it('runs every implementation on every scenario and writes the matrix; exit 1 when a cell fails', () => {
    using dir = tempDir();
    // as root the programs run as users of their own, who must be able to read their folders (docs/endpoints.md)
    chmodSync(dir.path, 0o755);
    const impls = join(dir.path, 'impls');
    mkdirSync(impls);
    implementation(impls, 'good', 'ok');
    implementation(impls, 'lazy', 'nowrite');
    mkdirSync(join(impls, 'not-an-implementation'));
    // the scenarios' own protocols (ruft) are replaced by the implementations
    const clean = scenario(dir.path, 'clean', 'network: { netem: "" }\ntimeout: 5s\n');
    const lossy = scenario(dir.path, 'lossy', 'network: { netem: "delay 1ms loss 10%" }\ntimeout: 10s\nrepeat: 2\n');
    const out = join(dir.path, 'reports');
    const r = grade([clean, lossy], impls, out, 120_000);
    expect(r.status, r.stderr).toBe(1);
    const [grading] = readdirSync(out);
    expect(grading).toMatch(/^grading-\d{8}T\d{6}Z$/);
    const g = join(out, grading!);
    for (const f of ['matrix.html', 'matrix.md', 'matrix.json', 'junit.xml', 'clean/report.html', 'lossy/results.json'])
      expect(existsSync(join(g, f)), f).toBe(true);
    const m = JSON.parse(readFileSync(join(g, 'matrix.json'), 'utf8'));
    expect(m.implementations).toEqual([
      { label: 'good', description: 'fixture (ok)' },
      { label: 'lazy', description: 'fixture (nowrite)' },
    ]);
    expect(
      m.cells.map((c: { implementation: string; scenario: string; verdict: string; runs: number }) => [
        c.implementation,
        c.scenario,
        c.verdict,
        c.runs,
      ]),
    ).toEqual([
      ['good', 'clean', 'pass', 1],
      ['good', 'lossy', 'pass', 2],
      ['lazy', 'clean', 'fail', 1],
      ['lazy', 'lossy', 'fail', 2],
    ]);
    expect(m.cells[1].goodput_bps).toBeGreaterThan(0);
    expect(m.cells[2].reason).toMatch(/^transfer failed: no file: exit code 0 but nothing written to /);
    expect(m.summary).toEqual({ cells: 4, passed: 2, failed: 2 });
    const junit = readFileSync(join(g, 'junit.xml'), 'utf8');
    expect(junit.match(/<testcase /g)).toHaveLength(4);
    expect(junit).toMatch(/<testsuites name="udplab grading" tests="4" failures="2"/);
    expect(readFileSync(join(g, 'matrix.md'), 'utf8')).toMatch(/\| lazy \| FAIL \| FAIL \|/);
    expect(readFileSync(join(g, 'matrix.html'), 'utf8')).toMatch(/<td class="fail" title="transfer failed: no file/);
    // the terminal table: a row per implementation, the reasons under it
    expect(r.stdout).toMatch(/^good\s+pass \d+\.\d\d\s+pass \d+\.\d\d\s*$/m);
    expect(r.stdout).toMatch(/^lazy\s+FAIL\s+FAIL\s*$/m);
    expect(r.stdout).toMatch(/lazy × clean: transfer failed: no file/);
  }, 150_000);

  it.skipIf(process.getuid?.() !== 0)(
    'as root: an implementation whose folder others cannot read fails with one line naming it and its mode',
    () => {
      using dir = tempDir(); // 0700: the users programs run as cannot cross it
      implementation(dir.path, 'private', 'ok');
      const r = lab(
        [join(ROOT, 'scenarios', 'regression', 'clean.yaml'), '--protocols-from', dir.path, '--runtime', 'local'],
        60_000,
      );
      expect(r.status, r.stderr).toBe(1);
      expect(r.stdout).toContain(
        `private × regression-clean: transfer failed: server never ready: the unprivileged users its programs run as cannot read its folder: ${dir.path} is mode 0700 (chmod o+rX it, or grade on docker)`,
      );
    },
  );

  it('hostile clients: a {local} linked to the served file fails, a {local} made a folder fails its runs, not the matrix', () => {
    using dir = tempDir();
    chmodSync(dir.path, 0o755); // as root, programs run as users of their own: they must reach their folder
    const impls = join(dir.path, 'impls');
    mkdirSync(impls);
    implementation(impls, 'good', 'ok');
    implementation(impls, 'linker', 'symlink');
    implementation(impls, 'mkdir', 'mkdir');
    const twice = scenario(dir.path, 'twice', 'network: { netem: "" }\ntimeout: 5s\nrepeat: 2\n');
    const again = scenario(dir.path, 'again', 'network: { netem: "" }\ntimeout: 5s\n');
    const out = join(dir.path, 'reports');
    const r = grade([twice, again], impls, out, 120_000);
    expect(r.status, r.stderr).toBe(1);
    const g = join(out, readdirSync(out)[0]!);
    for (const f of [
      'matrix.html',
      'matrix.md',
      'matrix.json',
      'junit.xml',
      'twice/results.json',
      'again/results.json',
    ])
      expect(existsSync(join(g, f)), f).toBe(true);
    const m = JSON.parse(readFileSync(join(g, 'matrix.json'), 'utf8'));
    const cells = m.cells.map((c: { implementation: string; scenario: string; verdict: string; runs: number }) => [
      c.implementation,
      c.scenario,
      c.verdict,
      c.runs,
    ]);
    expect(cells).toEqual([
      ['good', 'twice', 'pass', 2],
      ['good', 'again', 'pass', 1],
      ['linker', 'twice', 'fail', 2],
      ['linker', 'again', 'fail', 1],
      ['mkdir', 'twice', 'fail', 2],
      ['mkdir', 'again', 'fail', 1],
    ]);
    // every run of theirs judged, each with the reason: the link is not followed, the folder is not a file
    const runs = JSON.parse(readFileSync(join(g, 'twice', 'results.json'), 'utf8')).runs as {
      protocol: string;
      failures: string[];
    }[];
    const why = (p: string) => runs.filter((x) => x.protocol === p).map((x) => x.failures.join('; '));
    expect(why('linker')).toHaveLength(2);
    for (const w of why('linker'))
      expect(w).toMatch(/^transfer failed: wrong bytes: \/\S+\/file-0\.bin is a symbolic link, not a file$/);
    expect(why('mkdir')).toHaveLength(2);
    for (const w of why('mkdir'))
      expect(w).toMatch(/^transfer failed: wrong bytes: \/\S+\/file-0\.bin is a directory, not a file$/);
  }, 150_000);

  it('ready: { stdout: "(a+)+$" } is plain text, not run as a regular expression: no hang on a line of 40 a and a b', () => {
    using dir = tempDir();
    chmodSync(dir.path, 0o755); // as root, programs run as users of their own: they must reach their folder
    const impls = join(dir.path, 'impls');
    mkdirSync(impls);
    mkdirSync(join(impls, 'hostile'));
    // its server prints 1 MiB without a newline, then "aaaa…ab" (exponential for that pattern in a backtracking
    // engine), then "serving (a+)+$ literally" once bound, and 64 KiB of stdout per request
    writeFileSync(
      join(impls, 'hostile', 'udplab.yaml'),
      `ready: { stdout: "(a+)+$" }\nserver: [python3, ${FIXTURES}/server.py, hostile, "{bind}", "{port}", "{root}"]\nclient: [python3, ${FIXTURES}/client.py, ok, "{host}", "{port}", "{remote}", "{local}"]\n`,
    );
    const clean = scenario(dir.path, 'clean', 'network: { netem: "" }\ntimeout: 10s\n');
    const out = join(dir.path, 'reports');
    // readiness (at most 10 s by the contract) and the run (10 s) fit well within this: a hung lab is killed at it
    // (SIGKILL: one stuck in a regular expression never runs its SIGTERM handler)
    const r = grade([clean], impls, out, 60_000);
    // a lab killed so leaves its programs behind (they run in the implementation's folder): ended here, and none
    // should have been left
    const left = runningIn(join(impls, 'hostile'));
    for (const pid of left) process.kill(pid, 'SIGKILL');
    expect(r.status, r.stderr).toBe(0);
    expect(left).toEqual([]);
    const g = join(out, readdirSync(out)[0]!);
    const res = JSON.parse(readFileSync(join(g, 'clean', 'results.json'), 'utf8'));
    expect(res.runs.map((x: { verdict: string }) => x.verdict)).toEqual(['pass']);
    expect(res.environment.notices).toContain('hostile: server ready by a stdout line containing "(a+)+$"');
  }, 90_000);

  it('a malformed manifest stops everything with one file:line:col line and exit 2', () => {
    using dir = tempDir();
    mkdirSync(join(dir.path, 'alice'));
    writeFileSync(
      join(dir.path, 'alice', 'udplab.yaml'),
      'server: [python3, s.py]\nclient: [python3, c.py, "{hots}"]\n',
    );
    const r = lab(
      [join(ROOT, 'scenarios', 'regression', 'clean.yaml'), '--protocols-from', dir.path, '--runtime', 'local'],
      30_000,
    );
    expect(r.status).toBe(2);
    expect(r.stderr.trim()).toBe(
      `udplab: E_SCENARIO_INVALID: ${join(dir.path, 'alice', 'udplab.yaml')}:2:25: client.2: unknown placeholder {hots} (the client's are {host} {port} {remote} {local})`,
    );
  });

  it('--runtime docker and a manifest without image: or build: . — one clear line naming it; nothing runs', () => {
    using dir = tempDir();
    implementation(dir.path, 'good', 'ok');
    const r = lab(
      [join(ROOT, 'scenarios', 'regression', 'clean.yaml'), '--protocols-from', dir.path, '--runtime', 'docker'],
      30_000,
    );
    expect(r.status).toBe(2);
    expect(r.stderr.trim()).toBe(
      `udplab: E_SCENARIO_INVALID: ${join(dir.path, 'good', 'udplab.yaml')}:1:1: --runtime docker runs implementations as images: give build: . with a Dockerfile in ${join(dir.path, 'good')} (or image: NAME:TAG, which the grader allows with --allow-image)`,
    );
  });

  it("a manifest naming another implementation's image (image: without build: .) — one line at its file:line:col; nothing runs", () => {
    using dir = tempDir();
    implementation(dir.path, 'mallory', 'ok');
    const manifest = join(dir.path, 'mallory', 'udplab.yaml');
    writeFileSync(manifest, `${readFileSync(manifest, 'utf8')}image: udplab-impl/alice:local\n`);
    const clean = (...more: string[]) => lab([join(ROOT, 'scenarios', 'regression', 'clean.yaml'), ...more], 30_000);
    const r = clean('--protocols-from', dir.path, '--runtime', 'docker', '--out', join(dir.path, 'out'));
    expect(r.status).toBe(2);
    expect(r.stderr.trim()).toBe(
      `udplab: E_SCENARIO_INVALID: ${manifest}:4:8: image: image udplab-impl/alice:local is not built from this folder: give build: . (a Dockerfile here), or the grader allows it with --allow-image udplab-impl/alice:local`,
    );
    expect(existsSync(join(dir.path, 'out'))).toBe(false);
    const alone = clean(
      '--allow-image',
      'udplab-impl/alice:local',
      '--runtime',
      'local',
      '--out',
      join(dir.path, 'out'),
    );
    expect(alone.status).toBe(2);
    expect(alone.stderr).toContain('--allow-image goes with --protocols-from');
  });
});
