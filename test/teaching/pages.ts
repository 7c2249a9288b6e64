// Reads the checkable parts of the teaching pages (docs/teaching/*.md):
// - a figure a page states is followed by `<!-- figure: EXPR in LO..HI -->` (or `<!-- figure NN: … -->` for
//   scenario NN when the page is not that scenario's own page): EXPR is evaluated on the scenario's results.json
//   and must lie in [LO, HI], and the number (or range "a–b") written just before the comment must lie in it too;
// - a command a student types is in a fenced block ```sh title="student"``` (run in the report folder after the
//   scenario; `report="NN"` names the scenario on pages that are not its own) or ```sh title="student-before"```
//   (run from the repository's root before the scenario); `from="root"` runs a block where `npm run lab` was typed
//   (the folder holding reports/) instead of in the report folder. A block may be followed by `<!-- output: /regex/ -->`,
//   `<!-- output = EXPR -->` or `<!-- output in LO..HI -->` (the first number of the output's last line).
// EXPR: numbers and paths into results.json joined by + - * / and parentheses. A path is dotted, an array element
// is picked by `name[key=value]`, and `~/regex/` takes the regex's first group (as a number) from a string.

export interface Figure {
  page: string;
  line: number;
  scenario: string | undefined;
  expr: string;
  lo: string;
  hi: string;
  /** The number or range written just before the comment. */
  stated: [number, number] | undefined;
}

export interface Block {
  page: string;
  line: number;
  scenario: string | undefined;
  when: 'before' | 'after';
  /** `from="root"`: run where `npm run lab` was typed (the folder holding reports/), not in the report folder. */
  fromRoot: boolean;
  script: string;
  output?: { regex: RegExp } | { equals: string } | { lo: string; hi: string };
}

export interface Page {
  path: string;
  /** The scenario file the page runs (`npm run lab -- scenarios/teaching/X.yaml`), as "X". */
  scenario: string | undefined;
  figures: Figure[];
  blocks: Block[];
  /** Relative link targets of the page's markdown links, without their #fragment. */
  links: string[];
}

const lineOf = (text: string, index: number) => text.slice(0, index).split('\n').length;

/** The scenario a two-digit number names, among the given scenario names ("01-loss", …). */
function scenarioByNumber(n: string, scenarios: string[], where: string): string {
  const s = scenarios.find((x) => x.startsWith(`${n}-`));
  if (!s) throw new Error(`${where}: no scenario numbered ${n}`);
  return s;
}

const NUMBER = /(\d[\d,]*(?:\.\d+)?)(?:\s*[–-]\s*(\d[\d,]*(?:\.\d+)?))?/g;

/** The last number or range in the text before a figure comment (within its sentence part). */
export function statedBefore(text: string): [number, number] | undefined {
  const seg = text.slice(Math.max(text.lastIndexOf('-->') + 3, text.length - 160));
  let last: RegExpExecArray | undefined;
  for (const m of seg.matchAll(NUMBER)) last = m as RegExpExecArray;
  if (!last) return undefined;
  const n = (s: string) => Number(s.replaceAll(',', ''));
  return [n(last[1]!), n(last[2] ?? last[1]!)];
}

export function parsePage(path: string, text: string, scenarios: string[]): Page {
  const run = /npm run lab -- scenarios\/teaching\/([\w-]+)\.yaml/.exec(text);
  const scenario = run?.[1];
  const figures: Figure[] = [];
  for (const m of text.matchAll(/<!--\s*figure(?:\s+(\d\d))?:\s*([\s\S]+?)\s*-->/g)) {
    const where = `${path}:${lineOf(text, m.index)}`;
    const body = m[2]!;
    const at = body.lastIndexOf(' in ');
    if (at < 0) throw new Error(`${where}: figure without "in LO..HI": ${body}`);
    const [lo, hi] = splitRange(body.slice(at + 4), where);
    figures.push({
      page: path,
      line: lineOf(text, m.index),
      scenario: m[1] ? scenarioByNumber(m[1], scenarios, where) : scenario,
      expr: body.slice(0, at).trim(),
      lo,
      hi,
      stated: statedBefore(text.slice(0, m.index)),
    });
  }
  const blocks: Block[] = [];
  const fence =
    /^```sh title="(student|student-before)"(?: report="(\d\d)")?( from="root")?\n([\s\S]*?)^```\n(?:<!--\s*output\s*([\s\S]*?)\s*-->)?/gm;
  for (const m of text.matchAll(fence)) {
    const where = `${path}:${lineOf(text, m.index)}`;
    const b: Block = {
      page: path,
      line: lineOf(text, m.index),
      scenario: m[2] ? scenarioByNumber(m[2], scenarios, where) : scenario,
      when: m[1] === 'student-before' ? 'before' : 'after',
      fromRoot: m[3] !== undefined,
      script: m[4]!,
    };
    const out = m[5];
    if (out !== undefined) {
      if (out.startsWith(':')) {
        const r = /^:\s*\/([\s\S]*)\/([a-z]*)$/.exec(out);
        if (!r) throw new Error(`${where}: output check "${out}" is not /regex/`);
        b.output = { regex: new RegExp(r[1]!, r[2]) };
      } else if (out.startsWith('=')) b.output = { equals: out.slice(1).trim() };
      else if (out.startsWith('in ')) {
        const [lo, hi] = splitRange(out.slice(3), where);
        b.output = { lo, hi };
      } else throw new Error(`${where}: output check "${out}" is not ": /regex/", "= EXPR" or "in LO..HI"`);
    }
    blocks.push(b);
  }
  const links = [...text.matchAll(/\]\(([^)\s]+)\)/g)]
    .map((m) => m[1]!)
    .filter((l) => !/^[a-z]+:/.test(l) && !l.startsWith('#'))
    .map((l) => l.replace(/#.*$/, ''));
  return { path, scenario, figures, blocks, links };
}

function splitRange(s: string, where: string): [string, string] {
  const at = s.indexOf('..');
  if (at < 0) throw new Error(`${where}: range "${s}" is not LO..HI`);
  return [s.slice(0, at).trim(), s.slice(at + 2).trim()];
}

type Token = { kind: 'num'; value: number } | { kind: 'path'; value: string } | { kind: 'op'; value: string };

function tokenize(expr: string): Token[] {
  const out: Token[] = [];
  const re =
    /\s*(?:(\d+(?:\.\d+)?(?:e\d+)?)|([A-Za-z_][\w-]*(?:\[[^\]]*\])?(?:\.[A-Za-z_][\w-]*(?:\[[^\]]*\])?)*(?:~\/(?:\\.|[^/\\])*\/)?)|([-+*/()]))/y;
  let i = 0;
  while (i < expr.length) {
    if (/^\s*$/.test(expr.slice(i))) break;
    re.lastIndex = i;
    const m = re.exec(expr);
    if (!m) throw new Error(`cannot read "${expr.slice(i)}" in "${expr}"`);
    if (m[1] !== undefined) out.push({ kind: 'num', value: Number(m[1]) });
    else if (m[2] !== undefined) out.push({ kind: 'path', value: m[2] });
    else out.push({ kind: 'op', value: m[3]! });
    i = re.lastIndex;
  }
  return out;
}

/** The value at a path of results.json (see the header). */
export function lookup(root: unknown, path: string): number {
  const [dotted, regex] = path.split(/~(?=\/)/, 2) as [string, string | undefined];
  let v: unknown = root;
  for (const seg of dotted.split('.')) {
    const m = /^([\w-]+)(?:\[([\w-]+)=([^\]]+)\])?$/.exec(seg);
    if (!m) throw new Error(`bad path segment "${seg}" in ${path}`);
    v = (v as Record<string, unknown> | undefined)?.[m[1]!];
    if (m[2] !== undefined) {
      if (!Array.isArray(v)) throw new Error(`${path}: ${m[1]} is not an array`);
      v = v.find((e) => String((e as Record<string, unknown>)[m[2]!]) === m[3]);
    }
    if (v === undefined || v === null) throw new Error(`${path}: nothing at "${seg}"`);
  }
  if (regex !== undefined) {
    const re = new RegExp(regex.slice(1, -1));
    const s = typeof v === 'string' ? v : JSON.stringify(v);
    const m = re.exec(s);
    if (!m?.[1]) throw new Error(`${path}: ${re} does not match ${JSON.stringify(s)}`);
    return Number(m[1]);
  }
  if (typeof v !== 'number') throw new Error(`${path}: ${JSON.stringify(v)} is not a number`);
  return v;
}

/** Evaluates EXPR (numbers, paths, + - * /, parentheses) over a results object. */
export function evaluate(expr: string, results: unknown): number {
  const t = tokenize(expr);
  let i = 0;
  const primary = (): number => {
    const tok = t[i++];
    if (!tok) throw new Error(`"${expr}" ends too early`);
    if (tok.kind === 'num') return tok.value;
    if (tok.kind === 'path') return lookup(results, tok.value);
    if (tok.value === '(') {
      const v = sum();
      if (t[i++]?.value !== ')') throw new Error(`"${expr}": missing )`);
      return v;
    }
    throw new Error(`"${expr}": unexpected "${tok.value}"`);
  };
  const product = (): number => {
    let v = primary();
    while (t[i]?.kind === 'op' && (t[i]!.value === '*' || t[i]!.value === '/')) {
      const op = t[i++]!.value;
      const r = primary();
      v = op === '*' ? v * r : v / r;
    }
    return v;
  };
  const sum = (): number => {
    let v = product();
    while (t[i]?.kind === 'op' && (t[i]!.value === '+' || t[i]!.value === '-')) {
      const op = t[i++]!.value;
      const r = product();
      v = op === '+' ? v + r : v - r;
    }
    return v;
  };
  const v = sum();
  if (i !== t.length) throw new Error(`"${expr}": unexpected "${JSON.stringify(t[i])}"`);
  return v;
}

/** What is wrong with a figure, given the results of its scenario ('' when nothing). */
export function checkFigure(f: Figure, results: unknown): string {
  const where = `${f.page}:${f.line}`;
  let lo: number;
  let hi: number;
  let got: number;
  try {
    lo = evaluate(f.lo, results);
    hi = evaluate(f.hi, results);
    got = evaluate(f.expr, results);
  } catch (e) {
    return `${where}: ${(e as Error).message}`;
  }
  const problems: string[] = [];
  if (!(got >= lo && got <= hi)) problems.push(`measured ${f.expr} = ${got}, outside ${lo}..${hi}`);
  if (!f.stated) problems.push('no number written before the figure comment');
  else if (f.stated[0] < lo || f.stated[1] > hi)
    problems.push(`the page says ${f.stated.join('–')}, outside its own range ${lo}..${hi}`);
  return problems.length ? `${where}: ${problems.join('; ')}` : '';
}

/** What is wrong with a block's output ('' when nothing). */
export function checkOutput(b: Block, stdout: string, results: unknown): string {
  const where = `${b.page}:${b.line}`;
  if (!b.output) return '';
  const out = stdout.replace(/\s+$/, '');
  if ('regex' in b.output)
    return b.output.regex.test(out)
      ? ''
      : `${where}: output ${JSON.stringify(out.slice(0, 600))} does not match ${b.output.regex}`;
  const last = out.split('\n').at(-1) ?? '';
  const m = /-?\d+(?:\.\d+)?/.exec(last);
  if (!m) return `${where}: no number in the output's last line ${JSON.stringify(last)}`;
  const got = Number(m[0]);
  try {
    if ('equals' in b.output) {
      const want = evaluate(b.output.equals, results);
      return got === want ? '' : `${where}: output ${got}, expected ${b.output.equals} = ${want}`;
    }
    const lo = evaluate(b.output.lo, results);
    const hi = evaluate(b.output.hi, results);
    return got >= lo && got <= hi ? '' : `${where}: output ${got}, outside ${lo}..${hi}`;
  } catch (e) {
    return `${where}: ${(e as Error).message}`;
  }
}
