// JSON with object keys in sorted order, so that equal values give equal text whatever order their fields were
// built in (a refactor may spread an object's fields differently without changing a single value).
// Numbers print as JSON.stringify prints them (the shortest text that reads back as the same double).

export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (v === null || typeof v !== 'object' || Array.isArray(v) || ArrayBuffer.isView(v)) return v;
    const sorted: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) sorted[k] = (v as Record<string, unknown>)[k];
    return sorted;
  });
}
