// Names of a transfer's temporary files. Rules: they live beside the final name, in the same directory;
// a part is `NAME.<16 hex>.part` (one per transfer, created O_EXCL), the journal `NAME.part.journal`, its temp
// files `NAME.part.journal.<16 hex>.tmp`. Remote requests never reach such names and LIST never shows them:
// `isTempName` also covers the older `NAME.part` / `NAME.part.journal.tmp` and anything else ending in `.part`.

const PART = /^(.+)\.([0-9a-f]{16})\.part$/;
const JOURNAL_SUFFIX = '.part.journal';
const JOURNAL_TMP = /^(.+)\.part\.journal(?:\.[0-9a-f]{16})?\.tmp$/;

/** Is this one path segment a transfer's temporary file (a part, a journal or a journal's temp file)? */
export function isTempName(segment: string): boolean {
  return segment.endsWith('.part') || segment.endsWith(JOURNAL_SUFFIX) || JOURNAL_TMP.test(segment);
}

/** `NAME.<16 hex>.part`: the part of one transfer to `base`. */
export function partNameFor(base: string, hex16: string): string {
  return `${base}.${hex16}.part`;
}

/** Is `name` a part this module would create for the final name `base` (no other shape, no slash)? */
export function isPartOf(base: string, name: string): boolean {
  const m = PART.exec(name);
  return m !== null && m[1] === base;
}

/** The final name a part (`NAME.<16 hex>.part`) belongs to, or undefined. */
export function finalOfPart(name: string): string | undefined {
  return PART.exec(name)?.[1];
}

/** The final name a journal (`NAME.part.journal`) belongs to, or undefined. */
export function finalOfJournal(name: string): string | undefined {
  return name.endsWith(JOURNAL_SUFFIX) && name.length > JOURNAL_SUFFIX.length
    ? name.slice(0, -JOURNAL_SUFFIX.length)
    : undefined;
}

/** Is `name` a journal's temp file (current or older shape)? */
export function isJournalTemp(name: string): boolean {
  return JOURNAL_TMP.test(name);
}

export function journalNameFor(base: string): string {
  return `${base}${JOURNAL_SUFFIX}`;
}

export function journalTempNameFor(base: string, hex16: string): string {
  return `${base}${JOURNAL_SUFFIX}.${hex16}.tmp`;
}
