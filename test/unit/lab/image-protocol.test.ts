// Protocol `image` in scenarios: its entry parses to an ImageSpec (build relative to the scenario file, the default
// tag), a malformed one is one file:line:col line, and the runner places it on the docker runtime only — refused
// before anything starts on local/netns, and never mixed with exec in one scenario.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseScenario, runScenario } from '../../../src/lab/index.js';
import { implTag } from '../../../src/lab/protocols/image.js';

const head = 'name: x\nfile: { size: 1KiB }\nnetwork: { netem: "" }\nprotocols:\n';
const argv =
  'server: [python3, s.py, "{bind}", "{port}", "{root}"], client: [python3, c.py, "{host}", "{port}", "{remote}", "{local}"]';

describe('protocol image', () => {
  it('parses: build relative to the scenario file, the default tag from the label, ready and transport', () => {
    const s = parseScenario(
      `${head}  - { protocol: image, label: alice, build: ./impl/alice, ready: { stdout: "^up" }, ${argv} }\n  - { protocol: image, label: bob, image: "reg.example:5000/bob/x:1.2", transport: tcp, ${argv} }\n`,
      '/srv/grading/s.yaml',
    );
    expect(s.variants[0]!.options.image).toEqual({
      image: 'udplab-impl/alice:local',
      build: join('/srv/grading', 'impl', 'alice'),
      transport: 'udp',
      server: ['python3', 's.py', '{bind}', '{port}', '{root}'],
      client: ['python3', 'c.py', '{host}', '{port}', '{remote}', '{local}'],
      ready: { stdout: '^up' },
      resumable: false,
    });
    expect(s.variants[1]!.options.image).toMatchObject({ image: 'reg.example:5000/bob/x:1.2', transport: 'tcp' });
    expect(s.variants[1]!.options.image!.build).toBeUndefined();
    expect(implTag('Alice')).toBe('udplab-impl/alice:local');
  });

  it.each([
    [
      `  - { protocol: image, label: a, ${argv} }\n`,
      /^bad\.yaml:5:5: protocols\.0: an image protocol needs image: NAME\[:TAG\], or build: FOLDER/,
    ],
    [
      `  - { protocol: image, image: "Not Valid", ${argv} }\n`,
      /^bad\.yaml:5:31: protocols\.0\.image: an image reference NAME\[:TAG\]/,
    ],
    [
      `  - { protocol: image, image: x, server: [s, "{hots}"], client: [c] }\n`,
      /^bad\.yaml:5:\d+: protocols\.0\.server\.1: unknown placeholder \{hots\}/,
    ],
  ])('one line for a malformed entry: %#', (entry, want) => {
    let msg = '';
    try {
      parseScenario(head + entry, 'bad.yaml');
    } catch (e) {
      msg = (e as Error).message;
    }
    expect(msg).toMatch(want);
    expect(msg).not.toContain('\n');
  });

  it('runs on docker only: local and netns refuse it before anything starts; exec and image never share a scenario', async () => {
    const img = parseScenario(`${head}  - { protocol: image, image: x, ${argv} }\n`, 'img.yaml');
    for (const runtime of ['local', 'netns'] as const)
      await expect(runScenario(img, { runtime, shaper: 'auto' })).rejects.toThrow(
        `img.yaml: exec protocols run on the local and netns runtimes (--runtime local|netns), image protocols on the docker runtime (--runtime docker); --runtime ${runtime} cannot run them`,
      );
    const mixed = parseScenario(
      `${head}  - { protocol: image, image: x, ${argv} }\n  - { protocol: exec, label: e, ${argv} }\n`,
      'mixed.yaml',
    );
    await expect(runScenario(mixed, { runtime: 'auto', shaper: 'auto' })).rejects.toThrow(
      /^mixed\.yaml: .*: not in one scenario$/,
    );
  });
});
