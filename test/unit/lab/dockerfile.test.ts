// The Dockerfile check of `build: .` (src/lab/dockerfile.ts) against ways to build from another image that Docker
// accepts but a naive reading misses (review of 2026-12-02, F3): variable names are case-sensitive, parser
// directives (with leading spaces or after a BOM) change the continuation character, Docker joins continued lines
// with nothing between, and heredocs, ONBUILD, remote ADD and substitutions are refused rather than followed.
import { describe, expect, it } from 'vitest';
import { dockerfileRefusal } from '../../../src/lab/dockerfile.js';

const STEAL = 'udplab-impl/alice:local';

describe('dockerfileRefusal: what Docker reads differently is refused', () => {
  it.each([
    // F3a: ARG names are case-sensitive, ${Base} is not ${BASE}
    ['${Base} from an ARG Base', `ARG Base=${STEAL}\nFROM \${Base}\n`, 1, 5, /ARG Base=.*case-sensitive/],
    ['FROM ${base}', 'ARG BASE\nFROM ${base}\n', 2, 6, /FROM \$\{base\}: an implementation's image/],
    ['FROM $Base', 'ARG BASE\nFROM $Base\n', 2, 6, /FROM \$Base/],
    ['a default substitution', `ARG BASE\nFROM \${BASE:-${STEAL}}\n`, 2, 6, /FROM \$\{BASE:-/],
    ['an alternative substitution', `ARG BASE\nFROM \${BASE:+${STEAL}}\n`, 2, 6, /FROM \$\{BASE:\+/],
    ['a quoted base', 'ARG BASE\nFROM "${BASE}"\n', 2, 6, /FROM "\$\{BASE\}"/],
    ['ARG BASE with another default', `ARG BASE=${STEAL}\nFROM \${BASE}\n`, 1, 5, /--build-arg BASE/],
    ['ENV BASE then --from=${BASE}', `ARG BASE\nFROM \${BASE}\nENV BASE=${STEAL}\n`, 3, 5, /may not set BASE/],
    ['COPY --from=${Base}', 'ARG BASE\nFROM ${BASE}\nCOPY --from=${Base} /impl /x\n', 3, 6, /COPY --from=\$\{Base\}/],
    // F3b/F3c: parser directives, also indented or after a BOM, in any case
    [
      'an indented escape directive',
      `  # escape=\`\nARG BASE\nFROM \${BASE}\nRUN true \\\nCOPY --from=${STEAL} /impl /stolen\n`,
      1,
      3,
      /parser directive # escape=`: not allowed/,
    ],
    ['an escape directive after a BOM', '\uFEFF# escape=`\nARG BASE\nFROM ${BASE}\n', 1, 1, /parser directive/],
    ['a syntax directive', '#syntax = docker/dockerfile:1\nARG BASE\nFROM ${BASE}\n', 1, 1, /parser directive/],
    ['a check directive in capitals', '# CHECK=skip=all\nARG BASE\nFROM ${BASE}\n', 1, 1, /parser directive/],
    ['a directive after a comment', '# hello\n# escape=`\nARG BASE\nFROM ${BASE}\n', 2, 1, /parser directive/],
    // Docker joins a continued line with nothing between: `--fr\` + `om=` is `--from=`
    ['a flag split across lines', `ARG BASE\nFROM \${BASE}\nCOPY --fr\\\nom=${STEAL} /impl /x\n`, 3, 1, /COPY --from=/],
    [
      'spaces after the backslash, a comment and a blank line in between',
      `ARG BASE\nFROM \${BASE}\nCOPY --fr\\ \t\n  # note \\\n\nom=${STEAL} /impl /x\n`,
      3,
      1,
      /COPY --from=udplab-impl/,
    ],
    ['a keyword split across lines', `ARG BASE\nFR\\\nOM ${STEAL}\n`, 2, 1, /FROM udplab-impl/],
    [
      "FROM's flag quoting a space and ${BASE}",
      `ARG BASE\nFROM --platform='a \${BASE} ' ${STEAL}\n`,
      2,
      30,
      /FROM udplab-impl\/alice:local: an implementation's image/,
    ],
    [
      'an escaped quote in a mount (a quoted CSV field)',
      `ARG BASE\nFROM \${BASE}\nRUN --mount=type=bind,\\"from=${STEAL}\\",target=/a true\n`,
      3,
      5,
      /RUN --mount/,
    ],
    ['quotes inside a flag', `ARG BASE\nFROM \${BASE}\nCOPY --fr"om"=${STEAL} /impl /x\n`, 3, 6, /COPY --fr"om"/],
    [
      'a quoted mount key',
      `ARG BASE\nFROM \${BASE}\nRUN --mount=type=bind,"from=${STEAL}",target=/a cp -r /a /x\n`,
      3,
      5,
      /RUN --mount/,
    ],
    ['a mount FROM key in capitals', `ARG BASE\nFROM \${BASE}\nRUN --mount=FROM=${STEAL} true\n`, 3, 5, /RUN --mount/],
    ['--from without a value', 'ARG BASE\nFROM ${BASE}\nCOPY --from /impl /x\n', 3, 6, /COPY --from:/],
    // stage indexes: earlier stages only
    ['--from its own stage index', 'ARG BASE\nFROM ${BASE}\nCOPY --from=0 /a /b\n', 3, 6, /COPY --from=0/],
    ['--from a later stage index', 'ARG BASE\nFROM ${BASE}\nCOPY --from=5 /a /b\n', 3, 6, /COPY --from=5/],
    [
      'a stage named by a variable',
      'ARG BASE\nARG X\nFROM ${BASE} AS $X\nFROM $X\n',
      3,
      17,
      /FROM \$X: a stage is named/,
    ],
    ['FROM a stage index', 'ARG BASE\nFROM ${BASE}\nFROM 0\n', 3, 6, /FROM 0/],
    // what the check does not follow
    ['ONBUILD', `ARG BASE\nFROM \${BASE}\nONBUILD COPY --from=${STEAL} /impl /x\n`, 3, 9, /ONBUILD is not allowed/],
    [
      'ONBUILD with a dotted capital I (Go lowercases it to i)',
      'ARG BASE\nFROM ${BASE}\nONBU\u0130LD RUN true\n',
      3,
      1,
      /not an instruction/,
    ],
    ['onbuild in lower case', 'ARG BASE\nFROM ${BASE}\nonbuild RUN true\n', 3, 9, /ONBUILD is not allowed/],
    ['a RUN heredoc', 'ARG BASE\nFROM ${BASE}\nRUN <<EOF\nFROM x\nEOF\n', 3, 5, /heredoc/],
    ['a COPY heredoc', 'ARG BASE\nFROM ${BASE}\nCOPY <<EOF /impl/x\nhi\nEOF\n', 3, 6, /heredoc/],
    ['ADD of a URL', 'ARG BASE\nFROM ${BASE}\nADD https://evil.example/x /impl/\n', 3, 5, /ADD of a URL/],
    ['ADD of a git repository', 'ARG BASE\nFROM ${BASE}\nADD git@github.com:a/b.git /impl/\n', 3, 5, /ADD of a URL/],
    ['ADD of a variable', 'ARG BASE\nARG U\nFROM ${BASE}\nADD ${U} /impl/\n', 4, 5, /ADD of a URL/],
    ['a non-breaking space', 'ARG BASE\nFROM\u00A0alice\n', 2, 5, /U\+00A0/],
    ['U+0085 before FROM', 'ARG BASE\n\u0085FROM alice\n', 2, 1, /U\+0085/],
    ['a lone carriage return', 'ARG BASE\nFROM ${BASE}\rFROM alice\n', 2, 13, /U\+000D/],
  ])('%s: refused at its line and column', (_, text, line, col, message) => {
    const r = dockerfileRefusal(text);
    expect(r).toMatchObject({ line, col });
    expect(r?.message).toMatch(message);
  });

  it('a long word is cut in the message (one short line)', () => {
    const r = dockerfileRefusal(`ARG BASE\nFROM ${'x'.repeat(500)}\n`);
    expect(r?.message).toBe(
      `FROM ${'x'.repeat(59)}…: an implementation's image is built FROM \${BASE} (the lab's base), scratch, or its own earlier stages`,
    );
  });

  it('what a graded implementation needs passes', () => {
    const ok = [
      'ARG BASE=udplab/python:local\nFROM ${BASE}\nCOPY client.py server.py /impl/\n',
      '\uFEFFARG BASE\r\nFROM $BASE\r\nCOPY \\ \r\n  a.py /impl/\r\n',
      '# a comment\nARG BASE\nFROM --platform=linux/amd64 ${BASE} AS Build\nRUN true\nFROM scratch\nCOPY --from=build /impl /impl\nCOPY --from=0 /x /x\nCOPY --from=${BASE} /etc/x /x\n',
      'ARG BASE\nFROM ${BASE}\nRUN --mount=type=bind,from=${BASE},target=/b true\nADD x.tar.gz /impl/\nCOPY ["a.py", "/impl/"]\nENV DATABASE=1\n',
      'ARG BASE\nFROM ${BASE}\n# escape=`\nRUN true\n',
    ];
    for (const t of ok) expect(dockerfileRefusal(t), t).toBeUndefined();
  });
});
