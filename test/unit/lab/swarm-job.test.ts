// The pure parts of `udplab lab --cluster swarm`: which shard a replicated job's task runs (Docker 20.10 renders
// slot 0 as the node ID), and when a slot is settled (completed, or given up after a task and one restart).
import { describe, expect, it } from 'vitest';
import { settle, shardOfSlot } from '../../../src/lab/swarm-job.js';

describe('shardOfSlot', () => {
  it('maps slots 1..n-1 to themselves and slot 0 (a node ID, or 0) to shard n', () => {
    const n = 4;
    const slots = ['1', '2', '3', 's72q4jg2xrcfjjm6o34f2ceye'];
    expect(slots.map((s) => shardOfSlot(s, n))).toEqual([1, 2, 3, 4]);
    expect(shardOfSlot('0', n)).toBe(4);
    expect(shardOfSlot('4', n)).toBe(4); // an engine that counts 1..n
    expect(shardOfSlot('abcdefghijklmnopqrstuvwx0', 1)).toBe(1);
  });
  it('refuses slots outside the job and names that are neither', () => {
    expect(() => shardOfSlot('5', 4)).toThrow(/slot 5 is outside a job of 4 tasks/);
    expect(() => shardOfSlot('{{.Task.Slot}}', 4)).toThrow(/neither a number nor a node ID/);
    expect(() => shardOfSlot('', 4)).toThrow(/neither/);
    expect(() => shardOfSlot('1', 0)).toThrow(RangeError);
  });
});

describe('settle', () => {
  const t = (slot: string, state: string, error = '') => ({ slot, state, error });
  it('done when a task of the slot completed, given up after two ended otherwise, open while one may follow', () => {
    const s = settle(
      [
        t('1', 'complete'),
        t('2', 'failed', 'task: non-zero exit (3)'),
        t('2', 'complete'),
        t('3', 'failed', 'task: non-zero exit (3)'),
        t('3', 'rejected', 'no such image'),
        t('4', 'failed'),
        t('5', 'running'),
      ],
      2,
    );
    expect(Object.fromEntries([...s].map(([k, v]) => [k, v.state]))).toEqual({
      '1': 'done',
      '2': 'done',
      '3': 'given-up',
      '4': 'open',
      '5': 'open',
    });
    expect(s.get('3')!.last).toEqual(t('3', 'failed', 'task: non-zero exit (3)'));
  });
});
