// Implementation manifests (udplab.yaml, docs/endpoints.md): a good one becomes an exec protocol; a malformed one
// is ONE error naming file:line:col and the field.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadImplementation, loadImplementations } from '../../../src/lab/manifest.js';
import { tempDir } from '../../helpers/tmp.js';

const GOOD = `description: a student's program
transport: udp
server: [python3, server.py, "{bind}", "{port}", "{root}"]
client: [python3, client.py, "{host}", "{port}", "{remote}", "{local}"]
ready: { stdout: "^listening" }
`;

function folder(root: string, name: string, manifest: string): string {
  const d = join(root, name);
  mkdirSync(d, { recursive: true });
  writeFileSync(join(d, 'udplab.yaml'), manifest);
  return d;
}

describe('implementation manifests', () => {
  it('a good manifest is an exec protocol labelled by its folder, cwd the folder', () => {
    using dir = tempDir();
    const d = folder(dir.path, 'alice', GOOD);
    const impl = loadImplementation(d);
    expect(impl.label).toBe('alice');
    expect(impl.description).toBe("a student's program");
    expect(impl.variant).toEqual({
      id: 'alice',
      protocol: 'exec',
      expectFailure: false,
      options: {
        exec: {
          cwd: d,
          transport: 'udp',
          server: ['python3', 'server.py', '{bind}', '{port}', '{root}'],
          client: ['python3', 'client.py', '{host}', '{port}', '{remote}', '{local}'],
          ready: { stdout: '^listening' },
          resumable: false,
        },
      },
    });
    expect(
      loadImplementation(
        folder(dir.path, 'bob', `label: robert\nready: { delay: 2s }\n${GOOD.replace(/ready.*\n/, '')}`),
      ).variant.options.exec?.ready,
    ).toEqual({ delayMs: 2000 });
  });

  it.each([
    ['wrong type', GOOD.replace('transport: udp', 'transport: [udp]'), /udplab\.yaml:2:12: transport: /],
    ['unknown field', `${GOOD}retries: 3\n`, /udplab\.yaml:1:1: \(top level\): unknown field "retries"$/],
    [
      'missing server',
      GOOD.replace(/server:.*\n/, ''),
      /udplab\.yaml:1:1: server: missing: expected the server's argv, e\.g\. \[python3, server\.py/,
    ],
    [
      'bad placeholder',
      GOOD.replace('"{host}"', '"{hots}"'),
      /udplab\.yaml:4:30: client\.2: unknown placeholder \{hots\} \(the client's are \{host\} \{port\} \{remote\} \{local\}\)$/,
    ],
    [
      'a server placeholder in the client',
      GOOD.replace('"{remote}"', '"{root}"'),
      /udplab\.yaml:4:50: client\.4: unknown placeholder \{root\}/,
    ],
    [
      'bad ready',
      GOOD.replace('{ stdout: "^listening" }', '{ port: 5 }'),
      /udplab\.yaml:5:8: ready: expected \{ port: true \}/,
    ],
    [
      'a ready text longer than 256 characters',
      GOOD.replace('{ stdout: "^listening" }', `{ stdout: "${'a'.repeat(257)}" }`),
      /udplab\.yaml:5:18: ready\.stdout: at most 256 characters of plain text$/,
    ],
    ['bad YAML', `${GOOD}server: [\n`, /udplab\.yaml:\d+:\d+: YAML: /],
  ])('%s: one file:line:col error', (_, text, re) => {
    using dir = tempDir();
    const d = folder(dir.path, 'x', text);
    expect(() => loadImplementation(d)).toThrow(re);
    try {
      loadImplementation(d);
    } catch (e) {
      expect((e as Error).message.split('\n')).toHaveLength(1);
      expect((e as Error).message.startsWith(join(d, 'udplab.yaml'))).toBe(true);
    }
  });

  it('--protocols-from: sub-folders with a manifest, by name; a folder name that is no label needs label:', () => {
    using dir = tempDir();
    folder(dir.path, 'zed', GOOD);
    folder(dir.path, 'amy', GOOD);
    mkdirSync(join(dir.path, 'notes'));
    expect(loadImplementations(dir.path).map((i) => i.label)).toEqual(['amy', 'zed']);
    folder(dir.path, 'Bad Name', GOOD);
    expect(() => loadImplementations(dir.path)).toThrow(
      /Bad Name\/udplab\.yaml:1:1: label: the folder's name "Bad Name" is not a label/,
    );
  });
});
