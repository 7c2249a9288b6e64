// A user's program's output, read by the lab without trusting it (docs/endpoints.md, "Trust"): lines cut to
// LINE_MAX bytes as they come (a stream without newlines holds the lab to LINE_MAX bytes, not to what it printed),
// the stream drained to its end whatever the reader does (a full pipe would block the program), and the readiness
// line of a manifest (`ready: { stdout: TEXT }`) found by plain text, never by a regular expression run in the lab.

/** The longest line the lab keeps of a program's output, in bytes; the rest of a longer line is dropped. */
export const LINE_MAX = 4096;

/**
 * Calls `f` with each line of `input` (without its newline; one longer than LINE_MAX bytes cut to its first
 * LINE_MAX), and the last one when the stream ends without a newline. Returns a function that stops calling `f`:
 * the stream is still read to its end.
 */
export function boundedLines(input: NodeJS.ReadableStream, f: (line: string) => void): () => void {
  let kept: Buffer[] = [];
  let keptBytes = 0;
  let stopped = false;
  const emit = () => {
    const line = Buffer.concat(kept, keptBytes).toString('utf8');
    kept = [];
    keptBytes = 0;
    if (!stopped) f(line);
  };
  const keep = (b: Buffer) => {
    const room = LINE_MAX - keptBytes;
    if (room <= 0 || b.length === 0) return;
    const part = b.length > room ? b.subarray(0, room) : b;
    kept.push(Buffer.from(part)); // a copy: the chunk's buffer may be reused
    keptBytes += part.length;
  };
  input.on('data', (chunk: Buffer | string) => {
    const b = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    let from = 0;
    for (let nl = b.indexOf(10, from); nl >= 0; nl = b.indexOf(10, from)) {
      keep(b.subarray(from, nl));
      emit();
      from = nl + 1;
    }
    keep(b.subarray(from));
  });
  input.on('end', () => {
    if (keptBytes > 0) emit();
  });
  input.on('error', () => {}); // the program's end closes it: nothing to report
  return () => {
    stopped = true;
  };
}

/**
 * Does a line say the server is ready (`ready: { stdout: TEXT }`)? TEXT is plain text found anywhere in the line;
 * a leading `^` anchors it at the line's start (the one regular-expression form manifests used before, kept as it
 * read). Nothing in TEXT is a pattern: `(a+)+$` is those six characters.
 */
export function readyLine(text: string): (line: string) => boolean {
  if (text.startsWith('^')) {
    const start = text.slice(1);
    return (l) => l.startsWith(start);
  }
  return (l) => l.includes(text);
}

/** How a report names that readiness: `stdout line containing "serving"` (or `starting with`). */
export function readyLineText(text: string): string {
  return text.startsWith('^')
    ? `stdout line starting with ${JSON.stringify(text.slice(1))}`
    : `stdout line containing ${JSON.stringify(text)}`;
}
