// Lab objects with typestate (src/lab/runtimes/lab.ts): a runtime has only start(); the started lab is the only
// holder of the lab's methods and is AsyncDisposable; teardown is idempotent, bounded by the teardown timeout
// (one stderr line and a notice naming what was left), runs when the signal aborts, and follows a failed start.
import { existsSync } from 'node:fs';
import { dirname } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { LabError } from '../../../src/lab/errors.js';
import { parseScenario, runScenario } from '../../../src/lab/index.js';
import { defineRuntime, startLab } from '../../../src/lab/runtimes/lab.js';
import { LocalRuntime } from '../../../src/lab/runtimes/local.js';
import {
  type ClientOutcome,
  type LabRuntime,
  type Leftovers,
  type PreparedFile,
  programPass,
  type ShaperName,
} from '../../../src/lab/runtimes/types.js';

const SHA = 'ab'.repeat(32);

interface FakeOptions {
  /** start() makes one thing, then throws */
  failStart?: boolean;
  /** stop() never settles */
  hang?: boolean;
  /** the first run aborts this controller (as SIGINT would) and waits for the teardown to end it */
  abortOnRun?: AbortController;
  /** clearShaping finds the shaping changed under the run (shapers/types.ts `tampered`) */
  tampered?: string;
  /** the first run throws this (what a program's leftovers could make the lab's own code throw) */
  throwOnRun?: Error;
}

/** A runtime that places nothing: it counts its calls and what it "made", and can hang or fail on cue. */
class FakeRuntime implements LabRuntime {
  readonly name = 'local' as const;
  shaper: ShaperName = 'userspace';
  kernel = 'fake kernel';
  stops = 0;
  made: string[] = [];
  private onStop: (() => void) | undefined;

  constructor(
    readonly notices: string[],
    private readonly o: FakeOptions = {},
  ) {}

  async start(): Promise<void> {
    this.made.push('udplab-fake-c1');
    if (this.o.failStart) throw new LabError('E_RUNTIME', 'fake: the second namespace could not be added');
    this.made.push('udplab-fake-s1');
  }
  async stop(): Promise<void> {
    this.stops++;
    this.onStop?.();
    if (this.o.hang) return new Promise(() => {});
    this.made = [];
  }
  leftovers(): Leftovers {
    return { namespaces: [...this.made], pids: [4242] };
  }
  async prepareFile(): Promise<PreparedFile> {
    return { remote: 'file.bin', sizeBytes: 1024, sha256: SHA };
  }
  async applyShaping(): Promise<string> {
    return 'fake shaping';
  }
  async clearShaping(): Promise<unknown> {
    this.cleared++;
    return this.o.tampered ? { tampered: this.o.tampered } : undefined;
  }
  cleared = 0;
  async runClients(_v: unknown, remote: string, _t: number, count: number): Promise<ClientOutcome[]> {
    const thrown = this.o.throwOnRun;
    if (thrown) {
      delete this.o.throwOnRun;
      throw thrown;
    }
    if (this.o.abortOnRun) {
      const killed = new Promise<never>((_, fail) => {
        this.onStop = () => fail(new Error('client killed by the teardown'));
      });
      this.o.abortOnRun.abort();
      return killed;
    }
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

const scenario = () =>
  parseScenario('name: fake\nfile: { size: 1KiB }\nnetwork: { netem: "loss 1%" }\nrepeat: 2\n', 'fake.yaml');

afterEach(() => {
  vi.restoreAllMocks();
});

describe('a lab with typestate', () => {
  it('a teardown that hangs is given up after the teardown timeout: one stderr line and a notice name what was left', async () => {
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    let fake: FakeRuntime | undefined;
    const t0 = Date.now();
    const res = await runScenario(scenario(), {
      runtime: 'auto',
      shaper: 'auto',
      lab: defineRuntime('local', (n) => (fake = new FakeRuntime(n, { hang: true }))),
      teardownTimeoutMs: 300,
    });
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(res.summary).toEqual({ runs: 2, passed: 2, failed: 0 });
    expect(fake!.stops).toBe(1);
    const line =
      "TEARDOWN TIMEOUT: the local lab's teardown did not finish within 0.3 s; left: namespaces udplab-fake-c1, udplab-fake-s1; PIDs 4242";
    const written = stderr.mock.calls.map((c) => String(c[0]));
    expect(written.filter((w) => w.includes('TEARDOWN'))).toHaveLength(1);
    const said = written.find((w) => w.includes('TEARDOWN'))!;
    const tail =
      " (a later lab's start-up sweep removes the containers, networks and namespaces once this process has exited)";
    expect(said).toBe(`udplab: ${line}${tail}\n`);
    expect(res.environment.notices).toContain(`${line}${tail}`);
  });

  it('a start that throws half-way tears down what it made and throws the start’s error', async () => {
    let fake: FakeRuntime | undefined;
    await expect(
      runScenario(scenario(), {
        runtime: 'auto',
        shaper: 'auto',
        lab: defineRuntime('local', (n) => (fake = new FakeRuntime(n, { failStart: true }))),
      }),
    ).rejects.toThrow('fake: the second namespace could not be added');
    expect(fake!.stops).toBe(1);
    expect(fake!.made).toEqual([]);
  });

  it('an exception while one run is judged fails that run (lab error: …), and the next run still runs', async () => {
    let fake: FakeRuntime | undefined;
    const eisdir = new Error('Path is a directory: rm returned EISDIR (is a directory) /tmp/x/client/file-0.bin');
    const res = await runScenario(scenario(), {
      runtime: 'auto',
      shaper: 'auto',
      lab: defineRuntime('local', (n) => (fake = new FakeRuntime(n, { throwOnRun: eisdir }))),
    });
    expect(res.runs.map((r) => [r.verdict, r.failures])).toEqual([
      ['fail', [`lab error: ${eisdir.message}`]],
      ['pass', []],
    ]);
    expect(res.summary).toEqual({ runs: 2, passed: 1, failed: 1 });
    expect(fake!.cleared).toBe(2); // the failed run's shaping was cleared too
    expect(fake!.stops).toBe(1);
  });

  it('a LabError while a run runs is the lab’s own failure: it still ends the scenario', async () => {
    const broken = new LabError('E_RUNTIME', 'fake: the engine went away');
    await expect(
      runScenario(scenario(), {
        runtime: 'auto',
        shaper: 'auto',
        lab: defineRuntime('local', (n) => new FakeRuntime(n, { throwOnRun: broken })),
      }),
    ).rejects.toThrow('fake: the engine went away');
  });

  it('has no lab methods before start or after stop: a type error, and a runtime error on the started object', async () => {
    const rt = defineRuntime('local', (n) => new FakeRuntime(n));
    // @ts-expect-error a runtime not started has nothing to call but start()
    expect(rt.prepareFile).toBeUndefined();
    const lab = await rt.start({ notices: [] });
    expect(await lab.applyShaping({ up: {}, down: {}, seed: 1, variant: scenario().variants[0]! })).toBe(
      'fake shaping',
    );
    const stopped = await lab.stop();
    expect(stopped).toMatchObject({ name: 'local', shaper: 'userspace', timedOut: false, left: {} });
    // @ts-expect-error a stopped lab holds facts, no methods
    expect(stopped.runClients).toBeUndefined();
    await expect(lab.prepareFile({ sizeBytes: 1, content: 'zeros' })).rejects.toThrow(
      new LabError('E_RUNTIME', 'the local lab is stopped: prepareFile() after teardown'),
    );
    expect(() => lab.originalPath()).toThrow('the local lab is stopped: originalPath() after teardown');
  });

  it('tears down once however often asked — stop(), stop(), and `await using` leaving its block by a throw', async () => {
    let fake: FakeRuntime | undefined;
    const rt = defineRuntime('local', (n) => (fake = new FakeRuntime(n)));
    await expect(
      (async () => {
        await using lab = await rt.start({ notices: [] });
        await lab.prepareFile({ sizeBytes: 1, content: 'zeros' });
        const [a, b] = await Promise.all([lab.stop(), lab.stop()]);
        expect(a).toBe(b);
        throw new Error('a step threw');
      })(),
    ).rejects.toThrow('a step threw');
    expect(fake!.stops).toBe(1);
    {
      await using lab = await rt.start({ notices: [] });
      await lab.prepareFile({ sizeBytes: 1, content: 'zeros' });
    }
    expect(fake!.stops).toBe(1); // a second start is a lab of its own (a fresh FakeRuntime), stopped once
  });

  it('tears down as soon as the signal aborts (SIGINT, SIGTERM), and the scenario ends `interrupted`', async () => {
    const ac = new AbortController();
    let fake: FakeRuntime | undefined;
    await expect(
      runScenario(scenario(), {
        runtime: 'auto',
        shaper: 'auto',
        signal: ac.signal,
        lab: defineRuntime('local', (n) => (fake = new FakeRuntime(n, { abortOnRun: ac }))),
      }),
    ).rejects.toThrow(new LabError('E_RUNTIME', 'interrupted'));
    expect(fake!.stops).toBe(1);
    const aborted = new AbortController();
    aborted.abort();
    const late = new FakeRuntime([]);
    await expect(startLab(late, { notices: [], signal: aborted.signal })).rejects.toThrow(
      'the local lab was interrupted while starting',
    );
    expect(late.stops).toBe(1);
  });

  it('a teardown step that throws does not stop the others: the local runtime still removes its folder', async () => {
    class StuckCapture extends LocalRuntime {
      override async stopCapture(): Promise<number> {
        throw new Error('tcpdump would not stop');
      }
    }
    const rt = new StuckCapture([]);
    await rt.start();
    await rt.prepareFile({ sizeBytes: 1024, content: 'zeros' });
    const dir = dirname(dirname(rt.originalPath()!));
    expect(existsSync(dir)).toBe(true);
    await expect(rt.stop()).rejects.toThrow('tcpdump would not stop');
    expect(existsSync(dir)).toBe(false);
    // through the lab: the failure is one line and a notice, and teardown resolves
    const warned: string[] = [];
    const notices: string[] = [];
    const lab = await startLab(new StuckCapture(notices), { notices, warn: (l) => warned.push(l) });
    const stopped = await lab.stop();
    expect(stopped.timedOut).toBe(false);
    expect(warned).toEqual(["TEARDOWN FAILED: the local lab's teardown threw: tcpdump would not stop; left: nothing"]);
    expect(notices).toEqual(warned);
  });
});

describe('the runner and the shaping read back at the end of a run (#18 C2)', () => {
  it('a run whose shaping was changed under it fails with what changed, though its transfers passed', async () => {
    const changed = 'ul3s: was "qdisc netem 8001: root limit 1000 loss 1%", now "qdisc noqueue 0: root"';
    const res = await runScenario(scenario(), {
      runtime: 'auto',
      shaper: 'auto',
      lab: defineRuntime('local', (n) => new FakeRuntime(n, { tampered: changed })),
    });
    expect(res.summary).toEqual({ runs: 2, passed: 0, failed: 2 });
    for (const r of res.runs) {
      expect(r.verdict).toBe('fail');
      expect(r.failures).toEqual([`shaping tampered: ${changed}`]);
    }
  });
});
