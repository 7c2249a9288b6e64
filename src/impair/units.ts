// Units of the netem grammar, parsed and printed in one place (tc's own conventions):
// time: s|sec|secs, ms|msec|msecs, us|usec|usecs, a bare number is microseconds;
// percent: "10%" or a bare "10"; rate: bit|kbit|mbit|gbit|tbit (SI), kibit|mibit|gibit|tibit (IEC),
// bps|kbps|mbps|gbps|tbps (bytes per second, SI), a bare number is bytes per second.

const TIME_UNITS_MS: Record<string, number> = {
  s: 1000,
  sec: 1000,
  secs: 1000,
  ms: 1,
  msec: 1,
  msecs: 1,
  us: 0.001,
  usec: 0.001,
  usecs: 0.001,
  '': 0.001,
};

const RATE_UNITS_BIT: Record<string, number> = {
  bit: 1,
  kbit: 1e3,
  mbit: 1e6,
  gbit: 1e9,
  tbit: 1e12,
  kibit: 1024,
  mibit: 1024 ** 2,
  gibit: 1024 ** 3,
  tibit: 1024 ** 4,
  bps: 8,
  kbps: 8e3,
  mbps: 8e6,
  gbps: 8e9,
  tbps: 8e12,
  '': 8,
};

const NUM = /^(\d+(?:\.\d+)?|\.\d+)([a-zA-Z%]*)$/;

/** Parses a tc time into milliseconds, or undefined when `word` is not a time. */
export function parseTimeMs(word: string): number | undefined {
  const m = NUM.exec(word);
  if (!m) return undefined;
  const f = TIME_UNITS_MS[m[2]!.toLowerCase()];
  return f === undefined ? undefined : Number(m[1]) * f;
}

/** Parses a percentage ("10%" or "10") into percent, or undefined. */
export function parsePercent(word: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?|\.\d+)(%?)$/.exec(word);
  if (!m) return undefined;
  const v = Number(m[1]);
  return v <= 100 ? v : undefined;
}

/** Parses a tc rate into bits per second, or undefined. */
export function parseRateBit(word: string): number | undefined {
  const m = NUM.exec(word);
  if (!m) return undefined;
  const f = RATE_UNITS_BIT[m[2]!.toLowerCase()];
  return f === undefined ? undefined : Number(m[1]) * f;
}

/** Parses a size with units (B, KB, KiB, MB, MiB, GB, GiB; bare = bytes) into bytes, or undefined. */
export function parseSizeBytes(word: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)\s*([a-zA-Z]*)$/.exec(word.trim());
  if (!m) return undefined;
  const units: Record<string, number> = {
    '': 1,
    b: 1,
    kb: 1e3,
    mb: 1e6,
    gb: 1e9,
    tb: 1e12,
    kib: 1024,
    mib: 1024 ** 2,
    gib: 1024 ** 3,
    tib: 1024 ** 4,
    k: 1024,
    m: 1024 ** 2,
    g: 1024 ** 3,
  };
  const f = units[m[2]!.toLowerCase()];
  return f === undefined ? undefined : Math.round(Number(m[1]) * f);
}

function trim(v: number, digits: number): string {
  return String(Number(v.toFixed(digits)));
}

export function formatTimeMs(ms: number): string {
  if (ms !== 0 && ms < 1) return `${trim(ms * 1000, 3)}us`;
  return `${trim(ms, 3)}ms`;
}

export function formatPercent(pct: number): string {
  return `${trim(pct, 4)}%`;
}

export function formatRateBit(bit: number): string {
  for (const [unit, f] of [
    ['gbit', 1e9],
    ['mbit', 1e6],
    ['kbit', 1e3],
  ] as const) {
    if (bit >= f && Number.isInteger(bit / f)) return `${bit / f}${unit}`;
  }
  if (Number.isInteger(bit)) return `${bit}bit`;
  return `${trim(bit / 1e3, 3)}kbit`;
}
