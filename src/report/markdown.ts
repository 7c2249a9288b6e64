// Text from outside the lab (a program's stderr in a failure reason, a notice, a manifest's description) as Markdown
// that renders as that text: one line (a line break would end a table row), characters XML forbids replaced as in
// esc(), and every character Markdown gives a meaning to inline escaped with a backslash (CommonMark lets any ASCII
// punctuation be escaped) — `|` ends a table cell, `[`…`](…)` and `![…](…)` make links and images that load, `<`
// starts raw HTML or an autolink, backticks, `*`, `_`, `~` and `$` change emphasis, code and (on GitHub) math.
// A word GitHub links by itself (`https://…`) is put in a code span: it shows as its characters, never a link.
/** Characters XML 1.0 forbids (C0 controls but tab, LF, CR; lone surrogates): esc() and md() replace them by U+FFFD. */
export const FORBIDDEN =
  /[\x00-\x08\x0B\x0C\x0E-\x1F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

// `#` is escaped too (a heading), and at the start of the text `-`, `+`, `=` and the `.` of `1.` (a list, a setext
// underline: `>` and `)` are escaped anyway). A word that GitHub would make a link without any syntax (GFM's
// autolinks: `https://…`, `www.…`, `a@b.c`, `mailto:`) becomes a code span — escaping its `:` is not enough, as
// GitHub links such text again after the escapes are read — so it shows as the same characters, in code.
const LINKISH = /:\/\/|www\.|@|(mailto|xmpp):/i;

/** `s` as inline Markdown text, safe in a table cell or a list item. */
export function md(s: string): string {
  return s
    .replace(/\r\n|\r|\n/g, ' ')
    .replace(FORBIDDEN, '\uFFFD')
    .replace(/[^\s`|]+|[\s`|]+/g, (run) =>
      /^[^\s`|]+$/.test(run) && LINKISH.test(run) ? `\`${run}\`` : run.replace(/[\\`*_[\]()<>|!~&$#]/g, '\\$&'),
    )
    .replace(/^(\s*)([-+=])/, '$1\\$2')
    .replace(/^(\s*\d+)\./, '$1\\.');
}
