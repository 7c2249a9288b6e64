// exec: any program, in any language, started from argv templates (the endpoint contract, docs/endpoints.md).
// Placeholders are substituted into argv elements, never through a shell; the same values are in the
// environment. The lab reads the outcome from the file on disk (SHA-256), never from the program's word.
import { isAbsolute, resolve } from 'node:path';
import { dirname } from 'node:path/posix';
import { z } from 'zod';
import { duration } from '../units.js';
import { common, defineProtocol, type ExecSpec, type ReadySpec, type Variant } from './types.js';

export const SERVER_PLACEHOLDERS = ['bind', 'port', 'root'] as const;
export const CLIENT_PLACEHOLDERS = ['host', 'port', 'remote', 'local'] as const;

/** An argv template: non-empty strings whose {placeholders} are all of `allowed`. */
export function argvTemplate(role: 'server' | 'client', allowed: readonly string[]) {
  return z
    .array(z.string().min(1))
    .min(1)
    .superRefine((argv, ctx) => {
      for (const [i, a] of argv.entries())
        for (const m of a.matchAll(/\{([A-Za-z_][A-Za-z0-9_]*)\}/g))
          if (!allowed.includes(m[1]!))
            ctx.addIssue({
              code: 'custom',
              path: [i],
              message: `unknown placeholder {${m[1]}} (the ${role}'s are ${allowed.map((p) => `{${p}}`).join(' ')})`,
            });
    });
}

/** The longest `ready: { stdout: TEXT }` (it must fit in a line the lab keeps: runtimes/lines.ts, LINE_MAX). */
export const READY_TEXT_MAX = 256;

/**
 * `ready: { stdout: TEXT }`: plain text a line of the server's stdout contains (a leading `^`: starts with), never a
 * regular expression (one would run in the lab's own process: `(a+)+$` hung the grading); see runtimes/lines.ts.
 */
const readyText = z
  .string()
  .min(1)
  .max(READY_TEXT_MAX, `at most ${READY_TEXT_MAX} characters of plain text`)
  .refine((v) => !/[\r\n]/.test(v), 'one line of plain text (a line of stdout contains it)');

/** `ready:` of the contract: { port: true } (default), { stdout: "text" } or { delay: 2s }. */
export const readySchema = z.union([
  z.object({ port: z.literal(true) }).strict(),
  z.object({ stdout: readyText }).strict(),
  z.object({ delay: duration }).strict(),
]);
export const READY_HINT = 'expected { port: true }, { stdout: "text a line contains" } or { delay: 2s }';

/** The fields an implementation describes itself with, in a scenario entry and in a udplab.yaml manifest alike. */
export const implementationFields = {
  transport: z.enum(['udp', 'tcp']).default('udp'),
  server: argvTemplate('server', SERVER_PLACEHOLDERS),
  client: argvTemplate('client', CLIENT_PLACEHOLDERS),
  ready: readySchema.optional(),
  resumable: z.boolean().default(false),
};

export function readyOf(r: z.infer<typeof readySchema> | undefined, ms: (v: number | string) => number): ReadySpec {
  if (!r || 'port' in r) return { port: true };
  if ('stdout' in r) return { stdout: r.stdout };
  return { delayMs: ms(r.delay) };
}

export const exec = defineProtocol({
  name: 'exec',
  bare: false,
  schema: z
    .object({ protocol: z.literal('exec'), ...common, cwd: z.string().min(1).optional(), ...implementationFields })
    .strict(),
  options(v, { file, ms }) {
    const base = file.startsWith('<') ? process.cwd() : dirname(resolve(file));
    const cwd = v.cwd === undefined ? base : isAbsolute(v.cwd) ? v.cwd : resolve(base, v.cwd);
    const spec: ExecSpec = {
      cwd,
      transport: v.transport,
      server: v.server,
      client: v.client,
      ready: readyOf(v.ready, ms),
      resumable: v.resumable,
    };
    return { exec: spec };
  },
  transport: (v) => execOf(v).transport,
  resumable: (v) => execOf(v).resumable,
  server: (v) => ({ key: `exec-${v.id}`, transport: execOf(v).transport, args: [], ready: /$^/, exec: execOf(v) }),
  client(v, target, remote, local) {
    const { host, port } = splitTarget(target);
    return fill(execOf(v).client, { host, port, remote, local });
  },
  outcome: 'file',
  runtimes: ['local', 'netns'],
});

export function execOf(v: Variant): ExecSpec {
  const e = v.options.exec;
  if (!e) throw new Error(`${v.id}: not an exec protocol`);
  return e;
}

/** host:port or [v6]:port → its parts. */
export function splitTarget(target: string): { host: string; port: string } {
  const i = target.lastIndexOf(':');
  return { host: target.slice(0, i).replace(/^\[(.*)\]$/, '$1'), port: target.slice(i + 1) };
}

/** Substitutes {name} in each argv element (never through a shell). */
export function fill(argv: string[], values: Record<string, string>): string[] {
  return argv.map((a) => a.replace(/\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (m, k: string) => values[k] ?? m));
}

/** The contract's environment variables. */
export function execEnv(values: Record<string, string | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(values)) if (v !== undefined) out[`UDPLAB_${k.toUpperCase()}`] = v;
  return out;
}
