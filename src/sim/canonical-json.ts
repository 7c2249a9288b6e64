// JSON with object keys in sorted order, so that equal values give equal text whatever order their fields were
// built in (a refactor may spread an object's fields differently without changing a single value).
// Numbers print as JSON.stringify prints them (the shortest text that reads back as the same double), or, with
// `significantDigits`, non-integers rounded to that many digits: V8 versions may differ in the last bit of
// Math.pow and Math.log2 (Node 20 and 24 print one RTT percentile 1 ulp apart), which says nothing of behaviour.

export function canonicalJson(value: unknown, significantDigits?: number): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (typeof v === 'number')
      return significantDigits === undefined || Number.isInteger(v) || !Number.isFinite(v)
        ? v
        : Number(v.toPrecision(significantDigits));
    if (v === null || typeof v !== 'object' || Array.isArray(v) || ArrayBuffer.isView(v)) return v;
    const sorted: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) sorted[k] = (v as Record<string, unknown>)[k];
    return sorted;
  });
}
