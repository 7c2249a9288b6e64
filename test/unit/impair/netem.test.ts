import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { NetemSyntaxError, parseNetem, printNetem, tcNetemArgs } from '../../../src/impair/index.js';

describe('netem grammar', () => {
  it('parses the full design example', () => {
    const n = parseNetem(
      'delay 20ms 5ms distribution normal loss 10% 25% reorder 25% 50% duplicate 1% corrupt 0.1% rate 100mbit limit 1000',
    );
    expect(n).toEqual({
      delay: { delayMs: 20, jitterMs: 5 },
      distribution: 'normal',
      loss: { kind: 'random', pct: 10, corrPct: 25 },
      reorder: { pct: 25, corrPct: 50 },
      duplicate: { pct: 1 },
      corrupt: { pct: 0.1 },
      rate: { rateBit: 100e6 },
      limit: 1000,
    });
  });

  it.each([
    ['delay 100ms', 'delay 100ms'],
    ['delay 1s', 'delay 1000ms'],
    ['delay 1500us', 'delay 1.5ms'],
    ['delay 250', 'delay 250us'],
    ['loss random 10', 'loss 10%'],
    ['drop 5%', 'loss 5%'],
    ['loss gemodel 1% 10% 70% 0.1%', 'loss gemodel 1% 10% 70% 0.1%'],
    ['loss state 1% 30% 10%', 'loss state 1% 30% 10%'],
    ['delay 10ms reorder 25% 50% gap 5', 'delay 10ms reorder 25% 50% gap 5'],
    ['rate 10Mbit', 'rate 10mbit'],
    ['rate 1250kbps', 'rate 10mbit'],
    ['rate 1mibit', 'rate 1048576bit'],
    ['slot 10ms 20ms packets 5 bytes 3000', 'slot 10ms 20ms packets 5 bytes 3000'],
    ['delay 10ms 2ms 25%', 'delay 10ms 2ms 25%'],
    ['latency 5ms', 'delay 5ms'],
  ])('%s prints canonically as %s', (input, canonical) => {
    expect(printNetem(parseNetem(input))).toBe(canonical);
    expect(printNetem(parseNetem(canonical))).toBe(canonical);
  });

  it.each([
    ['delay', 'expected a time like 20ms (at the end, column 6)'],
    ['delay 10x', 'expected a time like 20ms (word 2 "10x", column 7)'],
    ['loss 10% bogus', 'unknown netem option'],
    ['loss 150%', 'expected a percentage like 10% (word 2 "150%"'],
    ['rate fast', 'expected a rate like 100mbit (word 2 "fast"'],
    ['delay 1ms delay 2ms', '"delay" given twice (word 3 "delay", column 11)'],
    ['limit 0', 'limit must be at least 1'],
    ['distribution normal', 'a distribution needs a delay with jitter'],
    ['reorder 10% gap x', 'expected a packet count after "gap" (word 4 "x"'],
  ])('rejects %j with a pointed message', (input, message) => {
    const err = (() => {
      try {
        parseNetem(input);
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(NetemSyntaxError);
    expect((err as Error).message).toContain(message);
    expect((err as NetemSyntaxError).code).toBe('E_NETEM_SYNTAX');
  });

  it('builds tc arguments as an array', () => {
    expect(tcNetemArgs('eth0', parseNetem('delay 10ms loss 10%'))).toEqual([
      'qdisc',
      'add',
      'dev',
      'eth0',
      'root',
      'netem',
      'delay',
      '10ms',
      'loss',
      '10%',
    ]);
  });

  const pct = fc.integer({ min: 0, max: 10000 }).map((v) => v / 100);
  const netemArb = fc.record(
    {
      delay: fc.record(
        { delayMs: fc.integer({ min: 1, max: 5000 }), jitterMs: fc.integer({ min: 1, max: 100 }) },
        { requiredKeys: ['delayMs'] },
      ),
      loss: fc.oneof(
        fc.record({ kind: fc.constant('random' as const), pct, corrPct: pct }, { requiredKeys: ['kind', 'pct'] }),
        fc.record({ kind: fc.constant('gemodel' as const), p: pct, r: pct.filter((r) => r > 0) }),
      ),
      duplicate: fc.record({ pct }),
      corrupt: fc.record({ pct }),
      rate: fc.record({ rateBit: fc.integer({ min: 1, max: 10000 }).map((k) => k * 1000) }),
      limit: fc.integer({ min: 1, max: 100000 }),
    },
    { requiredKeys: [] },
  );

  it('property: parse(print(v)) equals v, and print is a fixed point', () => {
    fc.assert(
      fc.property(netemArb, (v) => {
        const s = printNetem(v);
        expect(parseNetem(s)).toEqual(v);
        expect(printNetem(parseNetem(s))).toBe(s);
      }),
      { numRuns: 500, seed: 7 },
    );
  });

  it('property: arbitrary strings either parse or throw NetemSyntaxError', () => {
    const words = fc.constantFrom('delay', 'loss', '10%', '5ms', 'gap', 'rate', '1mbit', 'x', 'state', 'gemodel', '%');
    fc.assert(
      fc.property(fc.array(words, { maxLength: 8 }), (ws) => {
        try {
          parseNetem(ws.join(' '));
        } catch (e) {
          expect(e).toBeInstanceOf(NetemSyntaxError);
        }
      }),
      { numRuns: 2000, seed: 11 },
    );
  });
});
