// A program's output as the lab reads it (runtimes/lines.ts): lines cut to LINE_MAX bytes as they come, the stream
// read to its end after the reader stops, and a manifest's ready text matched as plain text, never as a pattern.
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { boundedLines, LINE_MAX, readyLine, readyLineText } from '../../../src/lab/runtimes/lines.js';

describe('boundedLines', () => {
  it('splits across chunks, cuts a long line to LINE_MAX bytes, keeps a last line without a newline', () => {
    const s = new PassThrough();
    const got: string[] = [];
    boundedLines(s, (l) => got.push(l));
    s.write('ab');
    s.write('c\nd');
    for (let i = 0; i < 10; i++) s.write('x'.repeat(1 << 20)); // 10 MiB without a newline
    s.write('\nlast');
    s.end();
    return new Promise<void>((ok) =>
      s.on('end', () => {
        expect(got.map((l) => l.length)).toEqual([3, LINE_MAX, 4]);
        expect(got[0]).toBe('abc');
        expect(got[1]).toBe(`d${'x'.repeat(LINE_MAX - 1)}`);
        expect(got[2]).toBe('last');
        ok();
      }),
    );
  });

  it('once stopped, calls no more but still reads the stream to its end (a full pipe would block the program)', () => {
    const s = new PassThrough({ highWaterMark: 16 });
    const got: string[] = [];
    const stop = boundedLines(s, (l) => got.push(l));
    s.write('one\n');
    stop();
    for (let i = 0; i < 100; i++) s.write(`more ${i}\n`);
    s.end(); // 'end' comes only once everything written was read
    return new Promise<void>((ok) =>
      s.on('end', () => {
        expect(got).toEqual(['one']);
        ok();
      }),
    );
  });
});

describe('readyLine (ready: { stdout: TEXT })', () => {
  it('plain text anywhere in the line; a leading ^ anchors it at the start; nothing is a pattern', () => {
    expect(readyLine('listening')('server listening on 4000')).toBe(true);
    expect(readyLine('^listening')('server listening on 4000')).toBe(false);
    expect(readyLine('^listening')('listening on 4000')).toBe(true);
    expect(readyLine('(a+)+$')(`${'a'.repeat(100_000)}b`)).toBe(false); // at once: no backtracking to do
    expect(readyLine('(a+)+$')('serving (a+)+$ literally')).toBe(true);
    expect(readyLine('on \\d+')('on 4000')).toBe(false);
    expect(readyLineText('^up')).toBe('stdout line starting with "up"');
    expect(readyLineText('(a+)+$')).toBe('stdout line containing "(a+)+$"');
  });
});
