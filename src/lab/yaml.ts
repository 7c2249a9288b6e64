// YAML files of the lab (scenarios, implementation manifests) validated with zod: the first problem becomes ONE
// error `file:line:col: field: what was expected`, the position taken from the deepest node along the issue's path.
import { isMap, LineCounter, parseDocument } from 'yaml';
import type { z } from 'zod';
import { LabError } from './errors.js';

export function parseYamlFile<S extends z.ZodType>(
  text: string,
  file: string,
  schema: S,
  what: string,
  hint: (where: string, issue: z.core.$ZodIssue) => string | undefined = () => undefined,
): z.infer<S> {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false });
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    const p = lc.linePos(e.pos[0]);
    throw new LabError('E_SCENARIO_INVALID', `${file}:${p.line}:${p.col}: YAML: ${e.message.split('\n')[0]}`);
  }
  if (!isMap(doc.contents))
    throw new LabError('E_SCENARIO_INVALID', `${file}:1:1: expected a mapping of ${what} fields`);
  let js: unknown;
  try {
    js = doc.toJS(); // resolves aliases: an alias to no anchor throws here
  } catch (e) {
    throw new LabError('E_SCENARIO_INVALID', `${file}: YAML: ${(e as Error).message.split('\n')[0]}`);
  }
  const parsed = schema.safeParse(js);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  // the deepest node that exists along the issue's path gives the position
  let node: unknown;
  for (let n = issue.path.length; n >= 0 && !node; n--)
    node = doc.getIn(issue.path.slice(0, n) as Array<string | number>, true);
  const range = (node as { range?: [number, number] } | undefined)?.range;
  const p = lc.linePos(range?.[0] ?? 0);
  const where = issue.path.length ? issue.path.join('.') : '(top level)';
  let msg = issue.message;
  if (issue.code === 'unrecognized_keys') msg = `unknown field ${issue.keys.map((k) => `"${k}"`).join(', ')}`;
  msg = hint(where, issue) ?? msg;
  throw new LabError('E_SCENARIO_INVALID', `${file}:${p.line}:${p.col}: ${where}: ${msg}`);
}
