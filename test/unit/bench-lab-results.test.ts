import { describe, expect, it } from 'vitest';
import { scenarioFolder } from '../../bench/lab-results.js';

describe('bench: a scenario results folder', () => {
  // the bench's kernel lane read `vm-tcp-shaped`'s TCP rows from whichever folder starting with that name came
  // first: `vm-tcp-shaped-1g-…` (one 1% run) when the file system listed it first, and "no run" for 0, 5, 10, 20%
  const folders = [
    'vm-tcp-shaped-1g-20261202T101500Z',
    'vm-tcp-50ms-20261202T100000Z',
    'vm-tcp-shaped-20261202T100700Z',
  ];

  it('is the scenario named, not another whose name starts with it', () => {
    expect(scenarioFolder(folders, 'vm-tcp-shaped')).toBe('vm-tcp-shaped-20261202T100700Z');
    expect(scenarioFolder(folders, 'vm-tcp-shaped-1g')).toBe('vm-tcp-shaped-1g-20261202T101500Z');
    expect(scenarioFolder(folders, 'vm-tcp-50ms')).toBe('vm-tcp-50ms-20261202T100000Z');
  });

  it('is the newest of several runs, and undefined when there is none', () => {
    expect(scenarioFolder([...folders, 'vm-tcp-shaped-20261203T090000Z'], 'vm-tcp-shaped')).toBe(
      'vm-tcp-shaped-20261203T090000Z',
    );
    expect(scenarioFolder(folders, 'vm-tcp')).toBeUndefined();
    expect(scenarioFolder([], 'vm-tcp-shaped')).toBeUndefined();
  });
});
