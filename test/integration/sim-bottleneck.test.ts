// `udplab sim --bottleneck`: the CLI prints the shared-bottleneck table, replays byte for byte with --json, and
// refuses bad flags with one usage line (exit 2). Runs the built CLI (bin/udplab.js → dist/).
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'udplab.js');
const sim = (...args: string[]) =>
  spawnSync(process.execPath, [BIN, 'sim', ...args], { encoding: 'utf8', timeout: 60_000 });

describe('udplab sim --bottleneck', () => {
  it('prints per-flow goodput, Jain, convergence and queueing delay', () => {
    const r = sim('--bottleneck', '10mbit', '--flows', 'ruft,tcp', '--duration', '3s', '--rtt', '40ms');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/bottleneck 10mbit, queue 1 BDP \(50000 B, drop-tail\), base RTT 40 ms/);
    expect(r.stdout).toMatch(/^ +0 {2}ruft .*p̂ /m);
    expect(r.stdout).toMatch(/^ +1 {2}tcp .*cwnd /m);
    expect(r.stdout).toMatch(/^Jain \d\.\d{3}, utilisation \d\.\d{3}, convergence /m);
    expect(r.stdout).toMatch(/^queueing delay p50 [\d.]+ ms, p99 [\d.]+ ms/m);
    expect(r.stdout).toMatch(/^RUFT ÷ TCP per flow: [\d.]+$/m);
  });

  it('--flows bg,tcp runs background RUFT against TCP and prints its share', () => {
    const r = sim('--bottleneck', '10mbit', '--flows', 'bg,tcp', '--duration', '3s', '--rtt', '40ms');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^ +0 {2}bg {3}.*p̂ /m);
    expect(r.stdout).toMatch(/^background RUFT's share: 0\.\d{3} \(the others keep 0\.\d{3}\)$/m);
    expect(r.stdout).not.toMatch(/RUFT ÷ TCP/);
  });

  it('--json is the same bytes for the same seed, and different for another seed with random loss', () => {
    const args = ['--bottleneck', '8mbit', '--flows', 'ruft*2,tcp', '--stagger', '500ms', '--loss', '1%'];
    const a = sim(...args, '--duration', '2s', '--json');
    const b = sim(...args, '--duration', '2s', '--json');
    const c = sim(...args, '--duration', '2s', '--json', '--seed', '9');
    expect(a.status).toBe(0);
    expect(a.stdout).toBe(b.stdout);
    expect(c.stdout).not.toBe(a.stdout);
    const j = JSON.parse(a.stdout) as { flows: Array<{ kind: string; startMs: number }>; lossPct: number };
    expect(j.flows.map((f) => [f.kind, f.startMs])).toEqual([
      ['ruft', 0],
      ['ruft', 500],
      ['tcp', 1000],
    ]);
    expect(j.lossPct).toBe(1);
  });

  it.each([
    [['--bottleneck', 'fast'], /--bottleneck expects a rate/],
    [['--bottleneck', '10mbit', '--queue', '0'], /--queue expects a size in BDPs/],
    [['--bottleneck', '10mbit', '--flows', 'quic*2'], /--flows expects/],
    [['--bottleneck', '10mbit', '--stagger', '40s', '--flows', 'ruft*2'], /--duration must be after/],
    [['--bottleneck', '10mbit', '--loss', '100%'], /--loss expects/],
  ])('refuses %j with one usage line, exit 2', (args, msg) => {
    const r = sim(...args);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(msg);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });
});
