// TFTP options: blksize (RFC 2348), timeout and tsize (RFC 2349), windowsize (RFC 7440) and tftp-hpa's
// utimeout (microseconds), negotiated per RFC
// 2347. The server accepts what it can (never more than asked), ignores unknown or malformed options, and
// answers with an OACK only when it accepted at least one. The client refuses an OACK that names an option it
// did not ask for or raises a value.

export interface Negotiated {
  blksize: number;
  windowsize: number;
  timeoutMs: number;
  tsize: number | undefined;
}

export const DEFAULT_BLKSIZE = 512;
export const MAX_BLKSIZE = 65464;
export const MAX_WINDOWSIZE = 65535;

const int = (v: string) => (/^\d{1,10}$/.test(v) ? Number(v) : Number.NaN);

export interface ServerLimits {
  maxBlksize: number;
  maxWindowsize: number;
  defaultTimeoutMs: number;
}

/** Server side: returns the options to put in the OACK (empty = no OACK) and the values to use. */
export function negotiateServer(
  requested: Array<[string, string]>,
  kind: 'RRQ' | 'WRQ',
  fileSizeBytes: number | undefined,
  limits: ServerLimits,
): { oack: Array<[string, string]>; use: Negotiated } {
  const use: Negotiated = {
    blksize: DEFAULT_BLKSIZE,
    windowsize: 1,
    timeoutMs: limits.defaultTimeoutMs,
    tsize: undefined,
  };
  const oack: Array<[string, string]> = [];
  const seen = new Set<string>();
  for (const [name, value] of requested) {
    if (seen.has(name)) continue;
    seen.add(name);
    const n = int(value);
    if (name === 'blksize' && n >= 8 && n <= MAX_BLKSIZE) {
      use.blksize = Math.min(n, limits.maxBlksize);
      oack.push([name, String(use.blksize)]);
    } else if (name === 'windowsize' && n >= 1 && n <= MAX_WINDOWSIZE) {
      use.windowsize = Math.min(n, limits.maxWindowsize);
      oack.push([name, String(use.windowsize)]);
    } else if (name === 'timeout' && n >= 1 && n <= 255) {
      use.timeoutMs = n * 1000;
      oack.push([name, String(n)]);
    } else if (name === 'utimeout' && n >= 10_000 && n <= 255_000_000) {
      // tftp-hpa's nonstandard microsecond timeout
      use.timeoutMs = n / 1000;
      oack.push([name, String(n)]);
    } else if (name === 'tsize' && Number.isFinite(n)) {
      if (kind === 'RRQ' && fileSizeBytes !== undefined) {
        use.tsize = fileSizeBytes;
        oack.push([name, String(fileSizeBytes)]);
      } else if (kind === 'WRQ') {
        use.tsize = n;
        oack.push([name, String(n)]);
      }
    }
  }
  return { oack, use };
}

export interface ClientRequest {
  blksize?: number;
  windowsize?: number;
  timeoutS?: number;
  /** tftp-hpa's nonstandard `utimeout` (microseconds), for timeouts below a second. */
  utimeoutUs?: number;
  /** RRQ: ask for the size (sent as 0); WRQ: announce it. */
  tsize?: number;
}

export function requestOptions(r: ClientRequest): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  if (r.blksize !== undefined) out.push(['blksize', String(r.blksize)]);
  if (r.tsize !== undefined) out.push(['tsize', String(r.tsize)]);
  if (r.timeoutS !== undefined) out.push(['timeout', String(r.timeoutS)]);
  if (r.utimeoutUs !== undefined) out.push(['utimeout', String(r.utimeoutUs)]);
  if (r.windowsize !== undefined) out.push(['windowsize', String(r.windowsize)]);
  return out;
}

/** Client side: checks an OACK against what was asked; returns the values to use or why it is refused. */
export function acceptOack(
  asked: ClientRequest,
  oack: Array<[string, string]>,
  defaultTimeoutMs: number,
): { ok: true; use: Negotiated } | { ok: false; error: string } {
  const use: Negotiated = { blksize: DEFAULT_BLKSIZE, windowsize: 1, timeoutMs: defaultTimeoutMs, tsize: undefined };
  for (const [name, value] of oack) {
    const n = int(value);
    if (name === 'blksize' && asked.blksize !== undefined && n >= 8 && n <= asked.blksize) use.blksize = n;
    else if (name === 'windowsize' && asked.windowsize !== undefined && n >= 1 && n <= asked.windowsize)
      use.windowsize = n;
    else if (name === 'timeout' && asked.timeoutS !== undefined && n === asked.timeoutS) use.timeoutMs = n * 1000;
    else if (name === 'utimeout' && asked.utimeoutUs !== undefined && n === asked.utimeoutUs) use.timeoutMs = n / 1000;
    else if (name === 'tsize' && asked.tsize !== undefined && Number.isFinite(n)) use.tsize = n;
    else return { ok: false, error: `the server's OACK has ${name}=${value}, which was not asked for` };
  }
  return { ok: true, use };
}
