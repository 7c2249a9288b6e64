// What an implementation's Dockerfile (`build: .` in a manifest) may start from: the lab's base (`FROM ${BASE}`, built
// with --build-arg BASE=udplab/python:local), `scratch`, and its own earlier stages — not another image of the host
// (another student's `udplab-impl/<label>:local`: FROM it, or COPY --from it, or a RUN --mount from it, would take
// that student's program into this one's image). One error at the Dockerfile's file:line:col.
//
// The checker reads the file as Docker (BuildKit) does where that matters, and refuses what it does not follow:
// - a UTF-8 BOM is dropped; any parser directive (`# syntax=`, `# escape=`, `# check=`, in any case, with spaces
//   before the `#` or around the `=`) before the first instruction is refused: `escape` changes the continuation
//   character and `syntax` runs another frontend image, and a graded implementation needs neither;
// - a character Docker and this checker might take differently as a space (anything but space and tab: NBSP,
//   U+0085, U+FEFF, vertical tab, …) or a control character is refused;
// - a continued line (`\` then spaces/tabs at its end) is joined to the next one as Docker joins it, with nothing
//   between (`--fr\` + `om=x` is `--from=x`), skipping comment and blank lines in between;
// - keywords are case-insensitive, variable names are not: a FROM image or a --from must be exactly `${BASE}`,
//   `$BASE`, `scratch` (FROM only), an earlier stage's name or (--from) an earlier stage's index — no `${BASE:-x}`,
//   no quotes; flag words are read with their quotes and backslashes removed (`--fr"om"=x` is `--from=x`);
// - `ARG Base` (BASE in another case) and `ENV BASE` are refused, and `ARG BASE` only with no default or the lab's;
// - a heredoc (`<<` in RUN, COPY or ADD), ONBUILD, and an ADD of a URL, a git repository or a variable are refused.

export interface DockerfileRefusal {
  line: number;
  col: number;
  message: string;
}

/** The lab's base (what `ARG BASE=` may default to: the lab passes --build-arg BASE anyway). */
const LAB_BASE = 'udplab/python:local';
const FROM_ONLY =
  "an implementation's image is built FROM ${BASE} (the lab's base), scratch, or its own earlier stages";
/** Whitespace other than space and tab, and control characters (a lone CR too): read differently by Go and JS. */
const ODD = /[\x00-\x08\x0B-\x1F\x7F\x85\xA0\u1680\u2000-\u200B\u2028\u2029\u202F\u205F\u3000\uFEFF]/;
const DIRECTIVE = /^#\s*(syntax|escape|check)\s*=/i;
/** A continuation: a backslash and then only spaces or tabs at the end of the line. */
const CONT = /\\[ \t]*$/;

/** A word as an error shows it: at most 60 characters. */
const cut = (w: string) => (w.length > 60 ? `${w.slice(0, 59)}…` : w);

/** A flag word as Docker's flag reader takes it: quotes removed, a backslash keeps the next character. */
function unquote(w: string): string {
  return w.replace(/\\(.)|["']/g, (_, c: string | undefined) => c ?? '');
}

/**
 * The leading `--flag` words of an instruction's arguments as Docker reads them (BuildKit's extractBuilderFlags:
 * quotes group and are removed, a backslash keeps the next character, a word `--` ends the flags), each with its
 * text as written, and the arguments after them.
 */
function builderFlags(line: string): { flags: Array<{ word: string; raw: string }>; rest: string } {
  const flags: Array<{ word: string; raw: string }> = [];
  let phase: 'space' | 'word' | 'quote' = 'space';
  let word = '';
  let start = 0;
  let quote = '';
  let blankOk = false;
  const blank = (c: string) => c === ' ' || c === '\t';
  for (let pos = 0; pos <= line.length; pos++) {
    const ch = line[pos] ?? '';
    if (phase === 'space') {
      if (pos === line.length) break;
      if (blank(ch)) continue;
      if (ch !== '-' || line[pos + 1] !== '-') return { flags, rest: line.slice(pos) };
      phase = 'word';
      start = pos;
    }
    if (pos === line.length) {
      if (word !== '--' && (blankOk || word !== '')) flags.push({ word, raw: line.slice(start) });
      break;
    }
    if (phase === 'word') {
      if (blank(ch)) {
        phase = 'space';
        if (word === '--') return { flags, rest: line.slice(pos) };
        if (blankOk || word !== '') flags.push({ word, raw: line.slice(start, pos) });
        word = '';
        blankOk = false;
      } else if (ch === '"' || ch === "'") {
        quote = ch;
        blankOk = true;
        phase = 'quote';
      } else if (ch === '\\') {
        if (pos + 1 < line.length) word += line[++pos];
      } else word += ch;
    } else if (ch === quote) phase = 'word';
    else if (ch === '\\') {
      if (pos + 1 < line.length) word += line[++pos];
      else phase = 'word';
    } else word += ch;
  }
  return { flags, rest: '' };
}

/** The first instruction that names an image other than the base or an earlier stage, or undefined. */
export function dockerfileRefusal(text: string): DockerfileRefusal | undefined {
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const odd = ODD.exec(lines[i]!);
    if (odd) {
      const code = odd[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0');
      return {
        line: i + 1,
        col: odd.index + 1,
        message: `character U+${code}: only spaces and tabs separate words in an implementation's Dockerfile (no other space or control character)`,
      };
    }
  }
  const stages: string[] = []; // names (AS …) of the stages so far, '' for an unnamed one
  let seenInstruction = false;
  for (let i = 0; i < lines.length; i++) {
    const first = lines[i]!;
    const trimmed = first.trim();
    if (!seenInstruction && DIRECTIVE.test(trimmed))
      return {
        line: i + 1,
        col: first.indexOf('#') + 1,
        message: `parser directive ${trimmed}: not allowed in an implementation's Dockerfile (escape changes how lines continue, syntax runs another frontend image; the lab's build needs neither)`,
      };
    if (trimmed === '' || trimmed.startsWith('#')) continue;
    seenInstruction = true;
    let instr = first;
    const at = i;
    // Docker joins a continued line to the next as is (no space between), skipping comment and blank lines
    while (CONT.test(instr) && i + 1 < lines.length) {
      instr = instr.replace(CONT, '');
      while (i + 1 < lines.length && /^\s*(#|$)/.test(lines[i + 1]!)) i++;
      if (i + 1 < lines.length) instr += lines[++i]!;
    }
    if (CONT.test(instr)) instr = instr.replace(CONT, '');
    const words = instr.trim().split(/[ \t]+/);
    const keyword = words[0]!.toUpperCase();
    const refuse = (word: string, why: string): DockerfileRefusal => {
      const col = first.indexOf(word);
      return { line: at + 1, col: Math.max(col, 0) + 1, message: `${keyword} ${cut(word)}: ${why}` };
    };
    const isBase = (w: string) => w === '${BASE}' || w === '$BASE';
    // Docker lowercases the keyword by Unicode rules (ONBUİLD, with U+0130, is ONBUILD there): ASCII letters only
    if (!/^[A-Za-z]+$/.test(words[0]!))
      return {
        line: at + 1,
        col: first.search(/\S/) + 1,
        message: `${cut(words[0]!)}: not an instruction (a keyword is ASCII letters)`,
      };
    if (keyword === 'ONBUILD')
      return refuse(
        words[1] ?? '',
        "ONBUILD is not allowed in an implementation's Dockerfile (it runs in another build)",
      );
    const { flags, rest } = builderFlags(instr.trim().slice(words[0]!.length));
    if (keyword === 'FROM') {
      const args = rest.trim().split(/[ \t]+/);
      const image = args[0] ?? '';
      const known = isBase(image) || image === 'scratch' || (image !== '' && stages.includes(image.toLowerCase()));
      if (!known) return refuse(image, FROM_ONLY);
      if (args[1]?.toUpperCase() === 'AS') {
        const name = args[2] ?? '';
        // Docker's own rule for a stage's name (so that no `$X` or image reference can be one)
        if (!/^[a-z][a-z0-9_.-]*$/i.test(name))
          return refuse(name, 'a stage is named with a letter then letters, digits, -, _ or .');
        stages.push(name.toLowerCase());
      } else stages.push('');
    } else if (keyword === 'ARG' || keyword === 'ENV') {
      for (const raw of words.slice(1)) {
        const w = unquote(raw);
        const eq = w.indexOf('=');
        const name = eq < 0 ? w : w.slice(0, eq);
        if (name.toLowerCase() !== 'base') continue;
        if (keyword === 'ENV')
          return refuse(raw, "an implementation's Dockerfile may not set BASE (--from=${BASE} would take it)");
        if (name !== 'BASE')
          return refuse(raw, `variable names are case-sensitive: ${name} is not the lab's BASE; name it BASE`);
        if (eq >= 0 && w.slice(eq + 1) !== LAB_BASE)
          return refuse(raw, `the lab passes --build-arg BASE: give ARG BASE or ARG BASE=${LAB_BASE}`);
      }
    } else if (keyword === 'COPY' || keyword === 'ADD' || keyword === 'RUN') {
      if (instr.includes('<<'))
        return refuse(
          '<<',
          "a heredoc is not allowed in an implementation's Dockerfile (its lines are not instructions; the check does not follow them)",
        );
      if (keyword === 'ADD') {
        const remote = /:\/\/|git@|\$/.exec(instr);
        if (remote)
          return refuse(
            words.find((w) => w.includes(remote[0])) ?? remote[0],
            'ADD of a URL, a git repository or a variable is not allowed (it fetches content from outside the folder): COPY files of the folder',
          );
      }
      const earlier = stages.slice(0, -1);
      const fromOk = (from: string) => {
        if (isBase(from)) return true;
        if (/^\d+$/.test(from)) return Number(from) < earlier.length;
        return from !== '' && earlier.includes(from.toLowerCase());
      };
      const why = `${FROM_ONLY}; it may copy from those only (another image could hold another implementation's program)`;
      for (const { word: w, raw } of flags) {
        const flag = /^--([^=]*)(?:=(.*))?$/.exec(w)!;
        const name = flag[1]!.toLowerCase();
        if (name === 'from') {
          if (flag[2] === undefined || !fromOk(flag[2])) return refuse(raw, why);
        } else if (name === 'mount') {
          // a CSV line: a quoted field's quotes are not part of it
          for (const field of (flag[2] ?? '').split(',')) {
            const kv = /^\s*([^=]*?)\s*=(.*)$/.exec(field.replace(/"/g, ''));
            if (kv && kv[1]!.toLowerCase() === 'from' && !fromOk(kv[2]!)) return refuse(raw, why);
          }
        }
      }
    }
  }
  return undefined;
}
