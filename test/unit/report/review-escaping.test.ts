// Review of the grading matrix (issue 18): a failure reason carries a program's last stderr line, and a crash that
// printed an ANSI colour code (ESC, U+001B) put a character XML 1.0 forbids into junit.xml — CI's JUnit reader then
// rejects the whole file, every implementation's verdict with it. The escaping keeps reports well-formed.
import { describe, expect, it } from 'vitest';
import { esc } from '../../../src/report/files.js';

describe('report escaping', () => {
  it('replaces characters XML 1.0 forbids and escapes markup', () => {
    const reason = 'crashed: \x1b[31mSegmentation fault\x1b[0m <core> & "x"\x00\x0b\ud800';
    const out = esc(reason);
    expect(out).toBe(
      'crashed: \ufffd[31mSegmentation fault\ufffd[0m &lt;core&gt; &amp; &quot;x&quot;\ufffd\ufffd\ufffd',
    );
    // nothing left that XML 1.0 refuses (tab, LF, CR and paired surrogates are kept)
    expect(out).not.toMatch(/[\x00-\x08\x0B\x0C\x0E-\x1F]/);
    expect(esc('a\tb\nc\rd \ud83d\ude00')).toBe('a\tb\nc\rd \ud83d\ude00');
  });
});
