// Implementation manifests (udplab.yaml, docs/endpoints.md): a good one becomes an exec protocol; a malformed one
// is ONE error naming file:line:col and the field. An implementation's image is its own folder's build, tagged by its
// label only; `image:` alone names only an image the grader allowed (--allow-image).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { dockerfileRefusal } from '../../../src/lab/dockerfile.js';
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

  describe('image: only its own build, or an image the grader allowed', () => {
    const where = (d: string, line: number) => `${join(d, 'udplab.yaml')}:${line}:8: image: `;
    const message = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        return (e as Error).message;
      }
      return 'no error';
    };
    it('image: NAME without build: . is refused at its line and column, unless --allow-image names it', () => {
      using dir = tempDir();
      const d = folder(dir.path, 'mallory', `${GOOD}image: udplab-impl/alice:local\n`);
      const msg = message(() => loadImplementation(d));
      expect(msg).toBe(
        `${where(d, 6)}image udplab-impl/alice:local is not built from this folder: give build: . (a Dockerfile here), or the grader allows it with --allow-image udplab-impl/alice:local`,
      );
      expect(() => loadImplementation(d, { allowImages: ['udplab-impl/alice:other'] })).toThrow(/is not built/);
      const ok = loadImplementation(d, { allowImages: ['udplab-impl/alice:local'] });
      expect(ok.image).toBe('udplab-impl/alice:local');
      expect(ok.imageVariant?.options.image?.image).toBe('udplab-impl/alice:local');
      expect(ok.imageVariant?.options.image?.build).toBeUndefined();
    });

    it('build: . is tagged with the label only: another tag beside it is refused (it would overwrite that image)', () => {
      using dir = tempDir();
      const d = folder(dir.path, 'mallory', `${GOOD}build: .\nimage: udplab-impl/alice:local\n`);
      expect(message(() => loadImplementation(d, { allowImages: ['udplab-impl/alice:local'] }))).toBe(
        `${where(d, 7)}build: . tags this folder's image udplab-impl/mallory:local (its label's); leave out image: udplab-impl/alice:local`,
      );
      const own = loadImplementation(folder(dir.path, 'bob', `${GOOD}build: .\n`));
      expect(own.imageVariant?.options.image).toMatchObject({
        image: 'udplab-impl/bob:local',
        build: join(dir.path, 'bob'),
      });
      // its own label's tag, said explicitly, is what it gets anyway
      const said = loadImplementation(folder(dir.path, 'carol', `${GOOD}build: .\nimage: udplab-impl/carol:local\n`));
      expect(said.imageVariant?.options.image?.image).toBe('udplab-impl/carol:local');
      // label: decides the tag, not the folder's name
      expect(
        message(() =>
          loadImplementation(
            folder(dir.path, 'dave', `label: alice\n${GOOD}build: .\nimage: udplab-impl/dave:local\n`),
          ),
        ),
      ).toMatch(/:8:8: image: build: \. tags this folder's image udplab-impl\/alice:local/);
    });

    it('a build whose tag --allow-image names (a reference image) is refused: it would replace that image', () => {
      using dir = tempDir();
      folder(dir.path, 'ref', `${GOOD}build: .\n`);
      expect(() => loadImplementations(dir.path, { allowImages: ['udplab-impl/ref:local'] })).toThrow(
        /ref\/udplab\.yaml:1:1: label "ref": its build would be tagged udplab-impl\/ref:local, the image --allow-image names/,
      );
      expect(loadImplementations(dir.path).map((i) => i.label)).toEqual(['ref']);
    });
  });

  describe("build: . — the Dockerfile starts from the lab's base only, not from another image of the host", () => {
    it.each([
      ['FROM another image', 'ARG BASE\nFROM udplab-impl/alice:local\n', 2, 6, 'FROM udplab-impl/alice:local'],
      ['FROM after a flag', 'ARG BASE\nFROM --platform=linux/amd64 alice\n', 2, 29, 'FROM alice'],
      [
        'COPY --from an image',
        'ARG BASE\nFROM ${BASE}\nCOPY --from=udplab-impl/alice:local /impl /impl\n',
        3,
        6,
        'COPY --from=udplab-impl/alice:local',
      ],
      ['a continued COPY', 'ARG BASE\nFROM ${BASE}\nCOPY \\\n  --from=alice /impl /impl\n', 3, 1, 'COPY --from=alice'],
      [
        'RUN --mount from an image',
        'ARG BASE\nFROM $BASE\nRUN --mount=type=bind,from=alice,target=/a cp -r /a /impl\n',
        3,
        5,
        'RUN --mount=type=bind,from=alice',
      ],
      ['a stage named later', 'FROM b\nFROM ${BASE} AS b\n', 1, 6, 'FROM b'],
    ])('%s: refused at its line and column', (_, text, line, col, what) => {
      expect(dockerfileRefusal(text)).toMatchObject({ line, col, message: expect.stringContaining(what) });
    });

    it('the base, scratch, its own stages (by name or index) and the examples pass', () => {
      const ok = [
        'ARG BASE=udplab/python:local\nFROM ${BASE}\nCOPY client.py server.py /impl/\n',
        '# a comment\nARG BASE\nfrom ${BASE} as build\nRUN true\nFROM scratch\nCOPY --from=build /impl /impl\nCOPY --from=0 /x /x\n',
      ];
      for (const t of ok) expect(dockerfileRefusal(t)).toBeUndefined();
      const examples = join(import.meta.dirname, '..', '..', '..', 'examples');
      expect(loadImplementations(examples).filter((i) => i.build).length).toBeGreaterThan(0);
    });

    it("the manifest loader refuses such a folder with one line at the Dockerfile's file:line:col", () => {
      using dir = tempDir();
      const d = folder(dir.path, 'mallory', `${GOOD}build: .\n`);
      writeFileSync(join(d, 'Dockerfile'), 'ARG BASE\nFROM udplab-impl/alice:local\n');
      expect(() => loadImplementation(d)).toThrow(
        `${join(d, 'Dockerfile')}:2:6: FROM udplab-impl/alice:local: an implementation's image is built FROM \${BASE} (the lab's base), scratch, or its own earlier stages`,
      );
    });

    it('a Dockerfile that is no regular file (a FIFO would hang the read) is refused, one line', () => {
      using dir = tempDir();
      const d = folder(dir.path, 'mallory', `${GOOD}build: .\n`);
      mkdirSync(join(d, 'Dockerfile'));
      expect(() => loadImplementation(d)).toThrow(`${join(d, 'Dockerfile')}:1:1: not a regular file`);
    });

    it('a folder with only a lowercase dockerfile (which docker build takes then) is checked too', () => {
      using dir = tempDir();
      const d = folder(dir.path, 'mallory', `${GOOD}build: .\n`);
      writeFileSync(join(d, 'dockerfile'), 'ARG BASE\nFROM udplab-impl/alice:local\n');
      expect(() => loadImplementation(d)).toThrow(`${join(d, 'dockerfile')}:2:6: FROM udplab-impl/alice:local:`);
    });
  });
});
