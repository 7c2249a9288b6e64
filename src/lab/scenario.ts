// Scenario files (design §5): YAML validated with a zod schema; errors carry file:line:column and say what
// was expected. Sizes, rates and durations take units. The JSON Schema in scenarios/schema.json is generated
// from the same zod schema (`udplab lab --print-schema`), and a test keeps the two in step.
import { readFileSync } from 'node:fs';
import { LineCounter, parseDocument } from 'yaml';
import { z } from 'zod';
import { type Blackout, type Netem, parseNetem, parsePercent, parseRateBit, parseSizeBytes } from '../impair/index.js';
import { LESSON_KINDS, type LessonKind, type LessonRecord, lessonFigureKeys, lessonRecord } from '../report/index.js';
import { LabError } from './errors.js';
import { PROFILES } from './profiles.js';
import {
  type Fault,
  isExec,
  protocolEntry,
  toVariant,
  type Variant,
  type VariantInput,
  variantSchema,
} from './protocols/index.js';
import { duration, ms, pct, rate, size } from './units.js';
import { parseYamlFile } from './yaml.js';

const netemString = z.string().superRefine((v, ctx) => {
  try {
    parseNetem(v);
  } catch (e) {
    ctx.addIssue({ code: 'custom', message: (e as Error).message });
  }
});

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
    blackouts: z
      .array(z.object({ at: duration, duration: duration }).strict())
      .optional()
      .describe(
        "windows in which the path drops every datagram both ways, measured from each run's first datagram (the client's first packet)",
      ),
    faults: z
      .array(z.object({ at: pct, kill: z.enum(['server', 'client']), restart: z.boolean().default(true) }).strict())
      .optional(),
    competing: z
      .object({
        kind: z.enum(['tcp', 'ruft']),
        count: z.number().int().min(1).max(16).default(1),
        start: duration.default(0),
      })
      .strict()
      .optional()
      .describe(
        "flows that share the shaped path with each run's transfer: `count` downloads of the scenario's file, over TCP (kernel netem only: the userspace relay carries UDP) or RUFT, started `start` after it; the report charts each flow's goodput per 100 ms",
      ),
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
    /**
     * What the scenario teaches: the report leads with this figure per protocol (table and chart first, the same in
     * report.md, the terminal summary and JUnit properties). Inferred from the impairments and protocols when absent.
     */
    placement: z
      .object({
        server: z.string().min(1).optional(),
        client: z.string().min(1).optional(),
        relay: z.string().min(1).optional(),
      })
      .strict()
      .optional()
      .describe(
        "--runtime swarm: a Docker Swarm placement constraint per endpoint's service (node.labels.site==a, node.hostname==h); --server-node, --client-node and --relay-node win over it; other runtimes ignore it with a notice",
      ),
    lesson: z
      .object({
        kind: z.enum(LESSON_KINDS),
        title: z.string().min(1).optional(),
        figure: z.union([z.string(), z.array(z.string()).min(1)]).optional(),
        unit: z.string().optional(),
      })
      .strict()
      .optional(),
  })
  .strict();

export type ScenarioInput = z.input<typeof scenarioSchema>;

/** A validated scenario with units resolved. */
export interface Scenario {
  name: string;
  description: string;
  source: string;
  file: { sizeBytes: number; content: 'random' | 'zeros' | 'text' } | { path: string };
  /** `line:col` of `file.content` (or of `file:`) in the scenario file, for an error about it. */
  fileAt?: string;
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
  /** Windows in which the path drops everything both ways, from each run's first datagram (userspace relay). */
  blackouts: Blackout[];
  /** Crash faults in each RUFT run, in order of progress: SIGKILL at a fraction of the file, restart, resume. */
  faults: Fault[];
  /** Competing flows during each run through the same shaped path: `count` downloads of the file, `startMs` after the run's own. */
  competing: Competing | undefined;
  repeat: number;
  seed: number;
  sweepLossPct: number[] | undefined;
  expect: { integrity: boolean; goodputMinBps?: number; durationMaxMs?: number };
  timeoutMs: number;
  /** What it teaches (declared, or inferred): the figure its report leads with. */
  lesson: LessonRecord;
  /** `--runtime swarm`: a placement constraint per endpoint's service (other runtimes: a notice, ignored). */
  placement?: { server?: string; client?: string; relay?: string };
}

/** Competing flows (scenario field `competing`). */
export interface Competing {
  kind: 'tcp' | 'ruft';
  count: number;
  startMs: number;
}

/**
 * The lesson of a scenario that declares none, from what it does: an attack, a loss sweep, several clients, an
 * MTU, the naive protocol under reordering, duplication, with the toy key, a small receive buffer or loss, TFTP on
 * a long path — else goodput.
 */
export function inferLesson(s: Omit<Scenario, 'lesson'>): LessonKind {
  const naive = s.variants.filter((v) => v.protocol === 'naive');
  const n = [s.up, s.down];
  if (s.attack === 'amplification') return 'amplification';
  if (s.sweepLossPct) return 'goodput';
  if (s.clients > 1) return 'clients';
  if (s.mtu !== undefined) return 'fragmentation';
  // reordering and duplication are lessons about a client that writes in arrival order (RUFT-only runs: goodput)
  if (n.some((x) => x.reorder) && naive.length > 0) return 'reorder';
  if (n.some((x) => x.duplicate) && naive.length > 0) return 'duplicate';
  if (naive.some((v) => v.options.key)) return 'plaintext';
  if (n.every((x) => !x.loss) && naive.some((v) => (v.options.rcvbufBytes ?? Infinity) < 1 << 20)) return 'overrun';
  if (n.some((x) => x.loss) && naive.length > 0) return 'stall';
  if (s.variants.some((v) => v.protocol === 'tftp') && n.some((x) => (x.delay?.delayMs ?? 0) >= 20)) return 'lockstep';
  return 'goodput';
}

function rateBps(v: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kMG]?)bit\/s$/i.exec(v);
  if (m) return Number(m[1]) * ({ '': 1, k: 1e3, m: 1e6, g: 1e9 }[m[2]!.toLowerCase()] ?? 1);
  return parseRateBit(v)!;
}
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
  const s = parseYamlFile(text, file, scenarioSchema, 'scenario', (where, issue) => {
    if (issue.code === 'invalid_union' && where === 'network')
      return 'expected { netem: "…" }, { up: "…", down: "…" } or { profile: 3g|dsl-poor|wifi|lte|satellite|intercontinental }';
    if (issue.code === 'invalid_union' && where === 'file')
      return 'expected { size: 16MiB, content: random|zeros|text } or { path: ./file }';
    return undefined;
  });
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
        : s.protocols
            .map((v) => protocolEntry(typeof v === 'string' ? v : v.protocol).ipv4Only)
            .find((w) => w !== undefined);
    if (why) throw new LabError('E_SCENARIO_INVALID', `${file}: ip: 6: ${why}`);
  }
  if (s.competing) {
    const why = s.attack
      ? 'attack scenarios send no transfer to compete with'
      : (s.faults?.length ?? 0) > 0
        ? 'faults restart the transfer; competing flows are measured on uninterrupted runs'
        : s.clients > 1
          ? 'use competing.count for more flows, not clients'
          : s.protocols.some((v) => ['exec', 'image'].includes(typeof v === 'string' ? v : v.protocol))
            ? "a user's program reports no timeline to line the flows up with"
            : s.competing.kind === 'tcp' && s.compare_shapers
              ? 'kind tcp cannot run under the userspace relay, which compare_shapers runs every run under too'
              : undefined;
    if (why) throw new LabError('E_SCENARIO_INVALID', `${file}:${competingWhere(text)}: competing: ${why}`);
  }
  const e = s.expect;
  const figure = typeof s.lesson?.figure === 'string' ? [s.lesson.figure] : s.lesson?.figure;
  if (s.lesson && figure) {
    const keys = lessonFigureKeys(s.lesson.kind);
    const bad = figure.find(
      (k) => !keys.includes(k) && !(s.lesson!.kind === 'clients' && /^client\d+_(bytes|part)$/.test(k)),
    );
    if (bad !== undefined)
      throw new LabError(
        'E_SCENARIO_INVALID',
        `${file}: lesson.figure: "${bad}" is not a figure of a ${s.lesson.kind} lesson (expected ${keys.join(', ')})`,
      );
  }
  const out: Omit<Scenario, 'lesson'> = {
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
    fileAt: fileAt(text),
    variants: variants(s.protocols, file),
    clients: s.clients,
    capture: s.capture,
    compareShapers: s.compare_shapers,
    mtu: s.mtu,
    ip: s.ip,
    attack: s.attack,
    blackouts: (s.blackouts ?? []).map((b) => ({ startMs: ms(b.at), durationMs: ms(b.duration) })),
    faults: (s.faults ?? [])
      .map((f) => ({ atPct: pctOf(f.at), kill: f.kill, restart: f.restart }))
      .sort((a, b) => a.atPct - b.atPct),
    competing: s.competing && { kind: s.competing.kind, count: s.competing.count, startMs: ms(s.competing.start) },
    repeat: s.repeat,
    seed: s.seed,
    sweepLossPct: s.sweep?.loss.map(pctOf),
    expect: {
      integrity: e.integrity,
      ...(e.goodput_min !== undefined && { goodputMinBps: rateBps(e.goodput_min) }),
      ...(e.duration_max !== undefined && { durationMaxMs: ms(e.duration_max) }),
    },
    timeoutMs: ms(s.timeout),
    ...(s.placement && Object.keys(s.placement).length > 0 && { placement: placementOf(s.placement) }),
  };
  const known = knownFileRefusal(out, 'protocols');
  if (known) throw new LabError('E_SCENARIO_INVALID', known);
  return {
    ...out,
    lesson: s.lesson
      ? lessonRecord(s.lesson.kind, {
          ...(s.lesson.title !== undefined && { title: s.lesson.title }),
          ...(figure && { figure }),
          ...(s.lesson.unit !== undefined && { unit: s.lesson.unit }),
        })
      : lessonRecord(inferLesson(out)),
  };
}

/** The scenario's `placement:` without the keys it left out. */
function placementOf(p: { server?: string | undefined; client?: string | undefined; relay?: string | undefined }) {
  return {
    ...(p.server !== undefined && { server: p.server }),
    ...(p.client !== undefined && { client: p.client }),
    ...(p.relay !== undefined && { relay: p.relay }),
  };
}

/** `line:col` of `file.content` (else of `file:`) in a scenario's text. */
function fileAt(text: string): string {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc });
  const node = (doc.getIn(['file', 'content'], true) ?? doc.getIn(['file'], true)) as { range?: [number, number] };
  const p = lc.linePos(node?.range?.[0] ?? 0);
  return `${p.line}:${p.col}`;
}

/**
 * A `content: zeros` or `text` file with users' programs (exec, image) among the variants: refused, one line. Such a
 * file is known before the run, so a client can write it without any transfer, and the byte cross-check's bound of a
 * compressible file is a few hundred bytes. `by` says where the programs come from (`protocols`, `--protocols-from`).
 */
export function knownFileRefusal(
  s: Pick<Scenario, 'file' | 'variants' | 'source' | 'fileAt'>,
  by: string,
): string | undefined {
  if ('path' in s.file || s.file.content === 'random' || !s.variants.some(isExec)) return undefined;
  return `${s.source}:${s.fileAt ?? '1:1'}: file.content: ${s.file.content} is known before the run, so a user's program (exec, image, from ${by}) could write it without any transfer: give content: random`;
}

/** A notice for `file: { path }` with users' programs: a file they may know can be written without a transfer. */
export function knownFileNotice(s: Pick<Scenario, 'file' | 'variants'>): string | undefined {
  if (!('path' in s.file) || !s.variants.some(isExec)) return undefined;
  return `file: { path: ${s.file.path} } with users' programs: a file they may know (a public one, or one that compresses well) can be written without a transfer, and the byte cross-check bounds it by its compressed size only; grade with content: random.`;
}

/** `line:col` of the `competing:` key in a scenario's text (1-based), for an error that spans several fields. */
function competingWhere(text: string): string {
  const lines = text.split('\n');
  const i = lines.findIndex((l) => /^competing\s*:/.test(l));
  return i < 0 ? '1:1' : `${i + 1}:1`;
}

function variants(list: Array<z.infer<typeof variantSchema>>, file: string): Variant[] {
  const out = list.map((v) => toVariant(v as VariantInput, { file, ms }));
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
