// Review of the docker and swarm sweeps (issues 18, 20): a labelled container, network or service is swept when the
// lab process that owns it is gone. kill(pid, 0) fails with EPERM for a live process of another user, and that was
// read as "gone": a second user's lab start removed the first user's running containers. Only ESRCH is gone now.
import { describe, expect, it } from 'vitest';
import { ownerAlive } from '../../../src/lab/runtimes/docker.js';

const failing = (code: string) => () => {
  throw Object.assign(new Error(code), { code });
};

describe('ownerAlive', () => {
  it('a process of another user (EPERM) is alive; a missing one (ESRCH) is gone', () => {
    expect(ownerAlive('4242', failing('EPERM'))).toBe(true);
    expect(ownerAlive('4242', failing('ESRCH'))).toBe(false);
    expect(ownerAlive('4242', () => undefined)).toBe(true);
  });
  it('no owner, or not a PID: not the lab’s to keep', () => {
    expect(ownerAlive(undefined)).toBe(false);
    expect(ownerAlive('x')).toBe(false);
    expect(ownerAlive('0')).toBe(false);
  });
  it('this process is alive', () => {
    expect(ownerAlive(String(process.pid))).toBe(true);
  });
});
