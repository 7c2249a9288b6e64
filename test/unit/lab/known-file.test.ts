// A file whose content is known before the run (content: zeros or text) lets a user's program write it without any
// transfer (the byte cross-check's bound of such a file is a few hundred bytes): with users' programs (exec, image,
// or those --protocols-from adds) it is refused, one line at the scenario's file.content; a given file (path:) gets a
// notice (review of 2026-12-02, F7).
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { knownFileNotice, parseScenario } from '../../../src/lab/scenario.js';
import { tempDir } from '../../helpers/tmp.js';

const BIN = join(import.meta.dirname, '..', '..', '..', 'bin', 'udplab.js');
const ARGV =
  'server: [python3, s.py, "{bind}", "{port}", "{root}"], client: [python3, c.py, "{host}", "{port}", "{remote}", "{local}"]';
const scenario = (file: string, protocols: string) =>
  `name: known\nfile: ${file}\nnetwork: { netem: "delay 1ms" }\nprotocols:\n${protocols}`;

describe("a known file with users' programs", () => {
  it.each([
    ['exec, zeros', '{ size: 4KiB, content: zeros }', `  - { protocol: exec, label: alice, ${ARGV} }\n`, 'zeros'],
    ['image, text', '{ size: 4KiB, content: text }', `  - { protocol: image, image: x, ${ARGV} }\n`, 'text'],
  ])('%s: refused at file.content, one line', (_, file, protocols, content) => {
    expect(() => parseScenario(scenario(file, protocols), 'sc/known.yaml')).toThrow(
      `sc/known.yaml:2:30: file.content: ${content} is known before the run, so a user's program (exec, image, from protocols) could write it without any transfer: give content: random`,
    );
  });

  it("random, or udplab's own protocols on any content, pass; a given file gets a notice", () => {
    const exec = `  - { protocol: exec, label: alice, ${ARGV} }\n`;
    expect(parseScenario(scenario('{ size: 4KiB, content: random }', exec)).variants).toHaveLength(1);
    expect(parseScenario(scenario('{ size: 4KiB }', exec)).variants).toHaveLength(1);
    const own = parseScenario(scenario('{ size: 4KiB, content: zeros }', '  - ruft\n'));
    expect(knownFileNotice(own)).toBeUndefined();
    const given = parseScenario(scenario('{ path: ./f.bin }', exec));
    expect(knownFileNotice(given)).toMatch(
      /^file: \{ path: \.\/f\.bin \} with users' programs: a file they may know .* can be written without a transfer/,
    );
  });

  it("--protocols-from: a scenario of udplab's protocols on zeros is refused once the folder's programs are its variants", () => {
    using d = tempDir('udplab-known-');
    const file = join(d.path, 'zeros.yaml');
    writeFileSync(file, scenario('\n  size: 4KiB\n  content: zeros', '  - ruft\n'));
    const examples = join(import.meta.dirname, '..', '..', '..', 'examples');
    const r = spawnSync(
      process.execPath,
      [BIN, 'lab', file, '--protocols-from', examples, '--runtime', 'local', '--out', join(d.path, 'out')],
      { encoding: 'utf8', timeout: 60_000 },
    );
    expect(r.status).toBe(2);
    expect(r.stderr.trim()).toBe(
      `udplab: E_SCENARIO_INVALID: ${file}:4:12: file.content: zeros is known before the run, so a user's program (exec, image, from --protocols-from ${examples}) could write it without any transfer: give content: random`,
    );
  });
});
