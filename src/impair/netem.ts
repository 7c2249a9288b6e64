// netem's option grammar (tc-netem(8)) as a typed value: parse, validate, print canonically.
// Rules: the value records what was written (optional fields stay undefined; defaults are applied
// by the decision function, as the kernel does); `printNetem(parseNetem(s)) === s` for canonical s;
// every error names the offending word and its column.
import { NetemSyntaxError } from './errors.js';
import { formatPercent, formatRateBit, formatTimeMs, parsePercent, parseRateBit, parseTimeMs } from './units.js';

export type Distribution = 'uniform' | 'normal' | 'pareto' | 'paretonormal';

export type Loss =
  | { kind: 'random'; pct: number; corrPct?: number }
  /** 4-state Markov model; probabilities in percent. */
  | { kind: 'state'; p13: number; p31?: number; p32?: number; p23?: number; p14?: number }
  /** Gilbert-Elliott: p = P(good→bad), r = P(bad→good), lossBadPct = 1-h, lossGoodPct = 1-k. */
  | { kind: 'gemodel'; p: number; r?: number; lossBadPct?: number; lossGoodPct?: number };

export interface Netem {
  delay?: { delayMs: number; jitterMs?: number; corrPct?: number };
  distribution?: Distribution;
  loss?: Loss;
  reorder?: { pct: number; corrPct?: number; gap?: number };
  duplicate?: { pct: number; corrPct?: number };
  corrupt?: { pct: number; corrPct?: number };
  rate?: { rateBit: number; packetOverheadBytes?: number };
  slot?: { minDelayMs: number; maxDelayMs?: number; packets?: number; bytes?: number };
  limit?: number;
  seed?: number;
}

interface Tok {
  word: string;
  index: number;
  column: number;
}

function tokenize(s: string): Tok[] {
  const out: Tok[] = [];
  const re = /\S+/g;
  for (let m = re.exec(s); m; m = re.exec(s)) out.push({ word: m[0], index: out.length + 1, column: m.index + 1 });
  return out;
}

class Cursor {
  private i = 0;
  constructor(
    private readonly toks: Tok[],
    private readonly endColumn: number,
  ) {}
  peek(): Tok | undefined {
    return this.toks[this.i];
  }
  next(): Tok | undefined {
    return this.toks[this.i++];
  }
  fail(detail: string, tok = this.toks[this.i]): never {
    if (!tok) throw new NetemSyntaxError(detail, '', this.toks.length + 1, this.endColumn);
    throw new NetemSyntaxError(detail, tok.word, tok.index, tok.column);
  }
  /** Takes the next word through `parse`, failing with `what` when it does not parse. */
  take<T>(parse: (w: string) => T | undefined, what: string): T {
    const t = this.peek();
    const v = t ? parse(t.word) : undefined;
    if (v === undefined) this.fail(`expected ${what}`);
    this.i++;
    return v;
  }
  /** Takes the next word only when it parses. */
  maybe<T>(parse: (w: string) => T | undefined): T | undefined {
    const t = this.peek();
    const v = t ? parse(t.word) : undefined;
    if (v !== undefined) this.i++;
    return v;
  }
}

const parseCount = (w: string): number | undefined => (/^\d+$/.test(w) ? Number(w) : undefined);
const PCT = 'a percentage like 10%';
const TIME = 'a time like 20ms';

/** Parses a netem option string such as `delay 20ms 5ms loss 10% 25% rate 100mbit`. */
export function parseNetem(text: string): Netem {
  const c = new Cursor(tokenize(text), text.length + 1);
  const out: Netem = {};
  const once = (key: keyof Netem, tok: Tok) => {
    if (out[key] !== undefined) c.fail(`"${key}" given twice`, tok);
  };
  for (let t = c.next(); t; t = c.next()) {
    const kw = t.word.toLowerCase();
    switch (kw) {
      case 'delay':
      case 'latency': {
        once('delay', t);
        const delayMs = c.take(parseTimeMs, TIME);
        const jitterMs = c.maybe(parseTimeMs);
        const corrPct = jitterMs === undefined ? undefined : c.maybe(parsePercent);
        out.delay = { delayMs, ...(jitterMs !== undefined && { jitterMs }), ...(corrPct !== undefined && { corrPct }) };
        break;
      }
      case 'distribution': {
        once('distribution', t);
        const d = c.take(
          (w) => (['uniform', 'normal', 'pareto', 'paretonormal'].includes(w) ? (w as Distribution) : undefined),
          'a distribution: uniform, normal, pareto or paretonormal',
        );
        out.distribution = d;
        break;
      }
      case 'loss':
      case 'drop': {
        once('loss', t);
        const sub = c.peek()?.word.toLowerCase();
        if (sub === 'state') {
          c.next();
          const p13 = c.take(parsePercent, PCT);
          const rest = [c.maybe(parsePercent)];
          for (let k = 0; k < 3 && rest[rest.length - 1] !== undefined; k++) rest.push(c.maybe(parsePercent));
          const [p31, p32, p23, p14] = rest;
          out.loss = {
            kind: 'state',
            p13,
            ...(p31 !== undefined && { p31 }),
            ...(p32 !== undefined && { p32 }),
            ...(p23 !== undefined && { p23 }),
            ...(p14 !== undefined && { p14 }),
          };
        } else if (sub === 'gemodel') {
          c.next();
          const p = c.take(parsePercent, PCT);
          const r = c.maybe(parsePercent);
          const lossBadPct = r === undefined ? undefined : c.maybe(parsePercent);
          const lossGoodPct = lossBadPct === undefined ? undefined : c.maybe(parsePercent);
          out.loss = {
            kind: 'gemodel',
            p,
            ...(r !== undefined && { r }),
            ...(lossBadPct !== undefined && { lossBadPct }),
            ...(lossGoodPct !== undefined && { lossGoodPct }),
          };
        } else {
          if (sub === 'random') c.next();
          const pct = c.take(parsePercent, PCT);
          const corrPct = c.maybe(parsePercent);
          out.loss = { kind: 'random', pct, ...(corrPct !== undefined && { corrPct }) };
        }
        break;
      }
      case 'reorder': {
        once('reorder', t);
        const pct = c.take(parsePercent, PCT);
        const corrPct = c.maybe(parsePercent);
        let gap: number | undefined;
        if (c.peek()?.word.toLowerCase() === 'gap') {
          c.next();
          gap = c.take(parseCount, 'a packet count after "gap"');
        }
        out.reorder = { pct, ...(corrPct !== undefined && { corrPct }), ...(gap !== undefined && { gap }) };
        break;
      }
      case 'duplicate':
      case 'corrupt': {
        once(kw, t);
        const pct = c.take(parsePercent, PCT);
        const corrPct = c.maybe(parsePercent);
        out[kw] = { pct, ...(corrPct !== undefined && { corrPct }) };
        break;
      }
      case 'rate': {
        once('rate', t);
        const rateBit = c.take(parseRateBit, 'a rate like 100mbit');
        if (rateBit <= 0) c.fail('rate must be above zero');
        const packetOverheadBytes = c.maybe((w) => (/^-?\d+$/.test(w) ? Number(w) : undefined));
        out.rate = { rateBit, ...(packetOverheadBytes !== undefined && { packetOverheadBytes }) };
        break;
      }
      case 'slot': {
        once('slot', t);
        if (c.peek()?.word.toLowerCase() === 'distribution')
          c.fail('"slot distribution" is not supported; use slot MIN [MAX]');
        const minDelayMs = c.take(parseTimeMs, TIME);
        const maxDelayMs = c.maybe(parseTimeMs);
        const slot: NonNullable<Netem['slot']> = { minDelayMs, ...(maxDelayMs !== undefined && { maxDelayMs }) };
        for (let w = c.peek()?.word.toLowerCase(); w === 'packets' || w === 'bytes'; w = c.peek()?.word.toLowerCase()) {
          c.next();
          slot[w] = c.take(parseCount, `a count after "${w}"`);
        }
        if (maxDelayMs !== undefined && maxDelayMs < minDelayMs) c.fail('slot MAX_DELAY must not be below MIN_DELAY');
        out.slot = slot;
        break;
      }
      case 'limit': {
        once('limit', t);
        const limit = c.take(parseCount, 'a packet count after "limit"');
        if (limit < 1) c.fail('limit must be at least 1');
        out.limit = limit;
        break;
      }
      case 'seed': {
        once('seed', t);
        out.seed = c.take(parseCount, 'a number after "seed"');
        break;
      }
      default:
        c.fail(
          'unknown netem option; expected delay, distribution, loss, reorder, duplicate, corrupt, rate, slot, limit or seed',
          t,
        );
    }
  }
  validateNetem(out);
  return out;
}

/** Semantic checks that netem itself makes (or should), with a message a person can act on. */
export function validateNetem(n: Netem): void {
  if (n.distribution && !n.delay?.jitterMs) {
    throw new NetemSyntaxError('a distribution needs a delay with jitter', 'distribution', 0, 0);
  }
  if (n.loss?.kind === 'gemodel' && n.loss.p > 0 && n.loss.r === 0) {
    throw new NetemSyntaxError('gemodel with r = 0% never leaves the bad state', 'gemodel', 0, 0);
  }
}

/** The canonical string of a netem value; `parseNetem(printNetem(v))` equals `v`. */
export function printNetem(n: Netem): string {
  const w: string[] = [];
  const pct = formatPercent;
  if (n.delay) {
    w.push('delay', formatTimeMs(n.delay.delayMs));
    if (n.delay.jitterMs !== undefined) {
      w.push(formatTimeMs(n.delay.jitterMs));
      if (n.delay.corrPct !== undefined) w.push(pct(n.delay.corrPct));
    }
  }
  if (n.distribution) w.push('distribution', n.distribution);
  const l = n.loss;
  if (l?.kind === 'random') {
    w.push('loss', pct(l.pct));
    if (l.corrPct !== undefined) w.push(pct(l.corrPct));
  } else if (l?.kind === 'state') {
    w.push('loss', 'state', pct(l.p13));
    for (const v of [l.p31, l.p32, l.p23, l.p14]) {
      if (v === undefined) break;
      w.push(pct(v));
    }
  } else if (l?.kind === 'gemodel') {
    w.push('loss', 'gemodel', pct(l.p));
    for (const v of [l.r, l.lossBadPct, l.lossGoodPct]) {
      if (v === undefined) break;
      w.push(pct(v));
    }
  }
  if (n.reorder) {
    w.push('reorder', pct(n.reorder.pct));
    if (n.reorder.corrPct !== undefined) w.push(pct(n.reorder.corrPct));
    if (n.reorder.gap !== undefined) w.push('gap', String(n.reorder.gap));
  }
  for (const k of ['duplicate', 'corrupt'] as const) {
    const v = n[k];
    if (v) {
      w.push(k, pct(v.pct));
      if (v.corrPct !== undefined) w.push(pct(v.corrPct));
    }
  }
  if (n.rate) {
    w.push('rate', formatRateBit(n.rate.rateBit));
    if (n.rate.packetOverheadBytes !== undefined) w.push(String(n.rate.packetOverheadBytes));
  }
  if (n.slot) {
    w.push('slot', formatTimeMs(n.slot.minDelayMs));
    if (n.slot.maxDelayMs !== undefined) w.push(formatTimeMs(n.slot.maxDelayMs));
    if (n.slot.packets !== undefined) w.push('packets', String(n.slot.packets));
    if (n.slot.bytes !== undefined) w.push('bytes', String(n.slot.bytes));
  }
  if (n.limit !== undefined) w.push('limit', String(n.limit));
  if (n.seed !== undefined) w.push('seed', String(n.seed));
  return w.join(' ');
}

/** The arguments of `tc qdisc add dev IF root netem …` as an array (never a shell string). */
export function tcNetemArgs(dev: string, n: Netem): string[] {
  const opts = printNetem(n);
  return ['qdisc', 'add', 'dev', dev, 'root', 'netem', ...(opts ? opts.split(' ') : [])];
}
