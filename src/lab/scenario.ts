// Scenario files (design §5): YAML validated with a zod schema; errors carry file:line:column and say what
// was expected. Sizes, rates and durations take units. The JSON Schema in scenarios/schema.json is generated
// from the same zod schema (`udplab lab --print-schema`), and a test keeps the two in step.
import { readFileSync } from 'node:fs';
import { isMap, LineCounter, parseDocument } from 'yaml';
import { z } from 'zod';
import { type Netem, parseNetem, parsePercent, parseRateBit, parseSizeBytes, parseTimeMs } from '../impair/index.js';
import { LabError } from './errors.js';
import { PROFILES } from './profiles.js';
import { type Fault, PROTOCOLS, type Variant, type VariantOptions } from './protocols.js';

const size = z
  .union([z.number().int().nonnegative(), z.string()])
  .refine((v) => typeof v === 'number' || parseSizeBytes(v) !== undefined, {
    message: 'expected a size like 16MiB, 500KB or a number of bytes',
  });
const pct = z
  .union([z.number().min(0).max(100), z.string()])
  .refine((v) => typeof v === 'number' || parsePercent(v.replace(/\s/g, '')) !== undefined, {
    message: 'expected a percentage like 10%',
  });
const rate = z.string().refine((v) => /^\d+(\.\d+)?\s*[kMG]?bit\/s$/i.test(v) || parseRateBit(v) !== undefined, {
  message: 'expected a rate like 2Mbit/s',
});
const duration = z
  .union([z.number().nonnegative(), z.string()])
  .refine((v) => typeof v === 'number' || parseTimeMs(v) !== undefined, {
    message: 'expected a duration like 120s or 500ms',
  });
const netemString = z.string().superRefine((v, ctx) => {
  try {
    parseNetem(v);
  } catch (e) {
    ctx.addIssue({ code: 'custom', message: (e as Error).message });
  }
});

const common = {
  label: z
    .string()
    .regex(/^[a-z0-9][a-z0-9._-]*$/i)
    .optional(),
  expect_failure: z.boolean().optional(),
};
const intIn = (min: number, max: number) => z.number().int().min(min).max(max);
const variantSchema = z.union([
  z.enum(PROTOCOLS),
  z.discriminatedUnion('protocol', [
    z
      .object({
        protocol: z.literal('ruft'),
        ...common,
        plaintext: z.boolean().optional(),
        datagram_size: intIn(1200, 65507).optional(),
      })
      .strict(),
    z
      .object({
        protocol: z.literal('naive'),
        ...common,
        chunk: intIn(1, 65507).optional(),
        bufsize: intIn(1, 65535).optional(),
        rcvbuf: size.optional(),
        stall: duration.optional(),
        key: z.boolean().optional(),
      })
      .strict(),
    z
      .object({
        protocol: z.literal('tftp'),
        ...common,
        blksize: intIn(8, 65464).optional(),
        windowsize: intIn(1, 65535).optional(),
        timeout: duration.optional(),
        no_options: z.boolean().optional(),
      })
      .strict(),
    z.object({ protocol: z.literal('tcp'), ...common, timeout: duration.optional() }).strict(),
  ]),
]);

export const scenarioSchema = z
  .object({
    $schema: z.string().optional(),
    name: z.string().regex(/^[a-z0-9][a-z0-9._-]*$/i, 'expected a name of letters, digits, dot, dash, underscore'),
    description: z.string().optional(),
    file: z.union([
      z.object({ size, content: z.enum(['random', 'zeros', 'text']).default('random') }).strict(),
      z.object({ path: z.string() }).strict(),
    ]),
    network: z.union([
      z.object({ netem: netemString }).strict(),
      z.object({ up: netemString, down: netemString }).strict(),
      z.object({ profile: z.enum(Object.keys(PROFILES) as [string, ...string[]]) }).strict(),
    ]),
    protocols: z.array(variantSchema).min(1).default(['ruft']),
    clients: z.number().int().min(1).max(200).default(1),
    capture: z.boolean().default(false),
    /** Run every run under kernel netem and under the userspace relay, and compare them (as --compare-shapers). */
    compare_shapers: z.boolean().default(false),
    mtu: z.number().int().min(576).max(65535).optional(),
    /** The IP version of the path between client and server (local: 127.0.0.1 or ::1; netns: a veth pair). */
    ip: z.union([z.literal(4), z.literal(6)]).default(4),
    attack: z.enum(['amplification']).optional(),
    faults: z
      .array(z.object({ at: pct, kill: z.enum(['server', 'client']), restart: z.boolean().default(true) }).strict())
      .optional(),
    repeat: z.number().int().min(1).max(100).default(1),
    seed: z.number().int().nonnegative().default(1),
    sweep: z
      .object({ loss: z.array(pct).min(1) })
      .strict()
      .optional(),
    expect: z
      .object({ integrity: z.boolean().default(true), goodput_min: rate.optional(), duration_max: duration.optional() })
      .strict()
      .default({ integrity: true }),
    timeout: duration.default('300s'),
  })
  .strict();

export type ScenarioInput = z.input<typeof scenarioSchema>;

/** A validated scenario with units resolved. */
export interface Scenario {
  name: string;
  description: string;
  source: string;
  file: { sizeBytes: number; content: 'random' | 'zeros' | 'text' } | { path: string };
  up: Netem;
  down: Netem;
  networkLabel: string;
  variants: Variant[];
  /** Concurrent clients per run. */
  clients: number;
  /** Record a packet capture of every run. */
  capture: boolean;
  /** Run every run under both shapers on one kernel and compare them (`udplab lab --compare-shapers`). */
  compareShapers: boolean;
  /** Userspace relay: emulate IP fragmentation at this MTU (kernel paths fragment by themselves). */
  mtu: number | undefined;
  /** The IP version client, relay and server talk over. */
  ip: 4 | 6;
  /** Instead of transfers: forge one request from a victim's address and measure what the server sends it. */
  attack: 'amplification' | undefined;
  /** Crash faults in each RUFT run, in order of progress: SIGKILL at a fraction of the file, restart, resume. */
  faults: Fault[];
  repeat: number;
  seed: number;
  sweepLossPct: number[] | undefined;
  expect: { integrity: boolean; goodputMinBps?: number; durationMaxMs?: number };
  timeoutMs: number;
}

function rateBps(v: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kMG]?)bit\/s$/i.exec(v);
  if (m) return Number(m[1]) * ({ '': 1, k: 1e3, m: 1e6, g: 1e9 }[m[2]!.toLowerCase()] ?? 1);
  return parseRateBit(v)!;
}
const ms = (v: number | string) => (typeof v === 'number' ? v * 1000 : parseTimeMs(v)!);
const pctOf = (v: number | string) => (typeof v === 'number' ? v : parsePercent(v.replace(/\s/g, ''))!);

/** Reads and validates a scenario file; throws LabError E_SCENARIO_INVALID with file:line:col. */
export function loadScenario(file: string): Scenario {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new LabError('E_SCENARIO_INVALID', `${file}: cannot read: ${(e as Error).message}`);
  }
  return parseScenario(text, file);
}

export function parseScenario(text: string, file = '<scenario>'): Scenario {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false });
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    const p = lc.linePos(e.pos[0]);
    throw new LabError('E_SCENARIO_INVALID', `${file}:${p.line}:${p.col}: YAML: ${e.message.split('\n')[0]}`);
  }
  if (!isMap(doc.contents))
    throw new LabError('E_SCENARIO_INVALID', `${file}:1:1: expected a mapping of scenario fields`);
  let js: unknown;
  try {
    js = doc.toJS(); // resolves aliases: an alias to no anchor throws here
  } catch (e) {
    throw new LabError('E_SCENARIO_INVALID', `${file}: YAML: ${(e as Error).message.split('\n')[0]}`);
  }
  const parsed = scenarioSchema.safeParse(js);
  if (!parsed.success) {
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
    if (issue.code === 'invalid_union' && where === 'network')
      msg =
        'expected { netem: "…" }, { up: "…", down: "…" } or { profile: 3g|dsl-poor|wifi|lte|satellite|intercontinental }';
    if (issue.code === 'invalid_union' && where === 'file')
      msg = 'expected { size: 16MiB, content: random|zeros|text } or { path: ./file }';
    throw new LabError('E_SCENARIO_INVALID', `${file}:${p.line}:${p.col}: ${where}: ${msg}`);
  }
  const s = parsed.data;
  let up: Netem;
  let down: Netem;
  let networkLabel: string;
  if ('profile' in s.network) {
    up = down = parseNetem(PROFILES[s.network.profile]!.netem);
    networkLabel = `profile ${s.network.profile}`;
  } else if ('netem' in s.network) {
    up = down = parseNetem(s.network.netem);
    networkLabel = s.network.netem;
  } else {
    up = parseNetem(s.network.up);
    down = parseNetem(s.network.down);
    networkLabel = `up "${s.network.up}" down "${s.network.down}"`;
  }
  for (const [dir, n] of [
    ['up', up],
    ['down', down],
  ] as const) {
    if (n.reorder && !(n.delay && n.delay.delayMs > 0))
      throw new LabError(
        'E_SCENARIO_INVALID',
        `${file}: network.${dir}: reorder needs a delay (netem reorders by sending some packets before the delayed ones)`,
      );
  }
  if (s.ip === 6) {
    const why =
      s.attack !== undefined
        ? 'attack scenarios forge IPv4 sources with hping3, which has no IPv6'
        : s.protocols.some((v) => (typeof v === 'string' ? v : v.protocol) === 'naive')
          ? "the naive protocol is the seminar's IPv4-only program"
          : undefined;
    if (why) throw new LabError('E_SCENARIO_INVALID', `${file}: ip: 6: ${why}`);
  }
  const e = s.expect;
  return {
    name: s.name,
    description: s.description ?? '',
    source: file,
    file:
      'path' in s.file
        ? { path: s.file.path }
        : {
            sizeBytes: typeof s.file.size === 'number' ? s.file.size : parseSizeBytes(s.file.size)!,
            content: s.file.content,
          },
    up,
    down,
    networkLabel,
    variants: variants(s.protocols, file),
    clients: s.clients,
    capture: s.capture,
    compareShapers: s.compare_shapers,
    mtu: s.mtu,
    ip: s.ip,
    attack: s.attack,
    faults: (s.faults ?? [])
      .map((f) => ({ atPct: pctOf(f.at), kill: f.kill, restart: f.restart }))
      .sort((a, b) => a.atPct - b.atPct),
    repeat: s.repeat,
    seed: s.seed,
    sweepLossPct: s.sweep?.loss.map(pctOf),
    expect: {
      integrity: e.integrity,
      ...(e.goodput_min !== undefined && { goodputMinBps: rateBps(e.goodput_min) }),
      ...(e.duration_max !== undefined && { durationMaxMs: ms(e.duration_max) }),
    },
    timeoutMs: ms(s.timeout),
  };
}

function variants(list: Array<z.infer<typeof variantSchema>>, file: string): Variant[] {
  const out = list.map((v): Variant => {
    if (typeof v === 'string') return { id: v, protocol: v, options: {}, expectFailure: false };
    const o: VariantOptions = {};
    if (v.protocol === 'ruft' && v.plaintext) o.plaintext = true;
    if (v.protocol === 'ruft' && v.datagram_size !== undefined) o.datagramBytes = v.datagram_size;
    if (v.protocol === 'naive') {
      if (v.chunk !== undefined) o.chunkBytes = v.chunk;
      if (v.bufsize !== undefined) o.bufsizeBytes = v.bufsize;
      if (v.rcvbuf !== undefined) o.rcvbufBytes = typeof v.rcvbuf === 'number' ? v.rcvbuf : parseSizeBytes(v.rcvbuf)!;
      if (v.stall !== undefined) o.stallMs = ms(v.stall);
      if (v.key) o.key = true;
    }
    if (v.protocol === 'tcp' && v.timeout !== undefined) o.timeoutMs = ms(v.timeout);
    if (v.protocol === 'tftp') {
      if (v.blksize !== undefined) o.blksize = v.blksize;
      if (v.windowsize !== undefined) o.windowsize = v.windowsize;
      if (v.timeout !== undefined) o.timeoutMs = ms(v.timeout);
      if (v.no_options) o.noOptions = true;
    }
    return { id: v.label ?? v.protocol, protocol: v.protocol, options: o, expectFailure: v.expect_failure ?? false };
  });
  const seen = new Set<string>();
  for (const v of out) {
    if (seen.has(v.id))
      throw new LabError(
        'E_SCENARIO_INVALID',
        `${file}: protocols: "${v.id}" appears twice; give variants of one protocol a label of their own`,
      );
    seen.add(v.id);
  }
  return out;
}

/** The JSON Schema of scenario files (for editors), generated from the zod schema. */
export function scenarioJsonSchema(): unknown {
  return z.toJSONSchema(scenarioSchema, { io: 'input', unrepresentable: 'any' });
}
