// Text a peer controls (a CLOSE reason, a REJECT message, a remote name) on its way to a terminal or a log:
// control characters (C0, DEL, C1, line/paragraph separators) are escaped as \uXXXX and the length bounded,
// so a peer cannot move the cursor, forge log lines or flood a terminal.
/** Peer-controlled text made safe for a terminal or a log line: control characters escaped, length bounded. */
export function printable(text: string, max = 200): string {
  const cut = text.length > max ? `${text.slice(0, max)}…` : text;
  return cut.replace(
    /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}
