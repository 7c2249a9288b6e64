// Text from outside the lab (a program's stderr in a failure reason, a notice, a manifest's description) as Markdown
// that renders as that text: one line (a line break would end a table row), characters XML forbids replaced as in
// esc(), and every character Markdown gives a meaning to inline escaped with a backslash (CommonMark lets any ASCII
// punctuation be escaped) — `|` ends a table cell, `[`…`](…)` and `![…](…)` make links and images that load, `<`
// starts raw HTML or an autolink, backticks, `*`, `_`, `~` and `$` change emphasis, code and (on GitHub) math.
/** Characters XML 1.0 forbids (C0 controls but tab, LF, CR; lone surrogates): esc() and md() replace them by U+FFFD. */
export const FORBIDDEN =
  /[\x00-\x08\x0B\x0C\x0E-\x1F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/** `s` as inline Markdown text, safe in a table cell or a list item. */
export function md(s: string): string {
  return s
    .replace(/\r\n|\r|\n/g, ' ')
    .replace(FORBIDDEN, '\uFFFD')
    .replace(/[\\`*_[\]()<>|!~&$]/g, '\\$&');
}
