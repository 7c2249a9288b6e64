// The seminar's teaching set, end to end on the local runtime: every scenario shows its lesson (the naive
// protocol goes wrong the way its page says, RUFT does not), and the packet captures hold the packets the
// pages tell students to look for (read with Debian's tshark).
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { bufferDemands, loadScenario, readSysctl, runScenario } from '../../src/lab/index.js';
import type { LabResults } from '../../src/report/index.js';
import { tempDir } from '../helpers/tmp.js';

const DIR = 'scenarios/teaching';
const tshark = ['/usr/bin/tshark'].find(existsSync);
if (!tshark) {
  const msg = 'tshark missing (apt-get install tshark): packet captures are not checked';
  if (process.env.UDPLAB_REQUIRE_PEERS === '1') throw new Error(msg);
  console.warn(`SKIPPED capture checks: ${msg}`);
}
const root = process.getuid?.() === 0;

async function run(name: string, out: string): Promise<LabResults> {
  return checkRuns(await runRaw(name, out));
}

async function runRaw(name: string, out: string): Promise<LabResults> {
  // a host whose net.core.rmem_max is below a scenario's rcvbuf runs it anyway, with the CAPPED notice checked
  const s = loadScenario(join(DIR, name));
  const res = await runScenario(s, { runtime: 'local', shaper: 'auto', outDir: out, allowCapped: true });
  const capped = bufferDemands(s).some((d) => d.hard && d.bytes > (readSysctl(d.sysctl) ?? Infinity));
  expect(res.environment.notices.some((n) => n.startsWith('CAPPED (--allow-capped)'))).toBe(capped);
  return res;
}

function checkRuns(res: LabResults): LabResults {
  for (const r of res.runs) expect(r.verdict, `${r.id}: ${r.failures.join('; ')}`).toBe('pass');
  return res;
}

/** 06's race did not happen: the naive run, which must go wrong, had every transfer right. */
function raceMissed(res: LabResults): boolean {
  return res.runs.some(
    (r) => r.id.startsWith('naive') && r.verdict === 'fail' && r.failures.join().includes('every transfer was correct'),
  );
}

/** tshark's one-line summaries of a capture, with a display filter and optional decode-as. */
function packets(pcap: string, filter: string, decodeAs: string[] = []): string[] {
  const out = execFileSync(tshark!, ['-r', pcap, ...decodeAs.flatMap((d) => ['-d', d]), '-Y', filter], {
    encoding: 'utf8',
  });
  return out.split('\n').filter(Boolean);
}

const byId = (res: LabResults, id: string) => res.runs.find((r) => r.protocol === id)!;

describe('teaching set (scenarios/teaching)', () => {
  it('has a page in docs/teaching for every scenario', () => {
    for (const f of readdirSync(DIR))
      expect(existsSync(join('docs/teaching', f.replace(/\.yaml$/, '.md'))), f).toBe(true);
  });

  it('01 loss: naive stalls at a byte count, ruft completes; the capture holds EXISTS and 1024-byte datagrams', async () => {
    using d = tempDir();
    const res = await run('01-loss.yaml', d.path);
    expect(byId(res, 'naive').observed!.join()).toMatch(/E_STALLED: stalled at \d+ of 1048576 bytes/);
    expect(byId(res, 'ruft').goodput_bps).toBeGreaterThan(0);
    if (tshark && root) {
      const pcap = join(d.path, byId(res, 'naive').capture!);
      expect(packets(pcap, 'udp contains "EXISTS 1048576"')).toHaveLength(1);
      expect(packets(pcap, 'udp.length == 1032').length).toBeGreaterThan(900);
    }
  });

  it('02 reordering and 03 duplication: naive goes wrong with no loss at all', async () => {
    using d = tempDir();
    for (const f of ['02-reorder.yaml', '03-duplicate.yaml']) {
      const res = await run(f, d.path);
      expect(byId(res, 'naive').observed!.join(), f).toMatch(/SHA-256 mismatch|does'nt exist/);
      expect(byId(res, 'ruft').sha256_actual).toBe(byId(res, 'ruft').sha256_expected);
    }
  });

  it('04 fragmentation: 60 KB datagrams lose far more than 1 KB ones at the same 1% fragment loss', async () => {
    using d = tempDir();
    const res = await run('04-fragmentation.yaml', d.path);
    const stalledAt = (id: string) => Number(/stalled at (\d+) of/.exec(byId(res, id).observed!.join())?.[1]);
    expect(stalledAt('naive-60k')).toBeLessThan(stalledAt('naive-1k'));
    const frag = (byId(res, 'naive-60k').shaper_counters as { fragments: { datagrams: number; lost: number } })
      .fragments;
    expect(frag.lost / frag.datagrams).toBeGreaterThan(0.2);
    // RUFT is told the emulated link's MTU (1,500): it probes no larger datagram, so none of its packets is cut
    const ruftFrag = (byId(res, 'ruft').shaper_counters as { fragments: { datagrams: number } }).fragments;
    expect(ruftFrag.datagrams).toBe(0);
  });

  it('05 receiver overrun and 06 two clients: the seminar server fails without any network loss', async () => {
    using d = tempDir();
    const r5 = await run('05-receiver-overrun.yaml', d.path);
    expect(byId(r5, 'naive-rcvbuf-8k').observed!.join()).toMatch(/stalled at/);
    // 06 is a race between two clients started at once: under load the second can start after the first transfer
    // ended, and the naive run (which must go wrong) is right; only then is it run again, at most twice
    let r6 = await runRaw('06-two-clients.yaml', d.path);
    for (let attempt = 2; attempt <= 3 && raceMissed(r6); attempt++) r6 = await runRaw('06-two-clients.yaml', d.path);
    checkRuns(r6);
    expect(byId(r6, 'naive').observed!.length).toBeGreaterThan(0);
    expect(byId(r6, 'ruft').sha256_actual.split(' ')).toEqual([
      byId(r6, 'ruft').sha256_expected,
      byId(r6, 'ruft').sha256_expected,
    ]);
  });

  it('07 TFTP lockstep: windowsize 16 takes many times fewer round trips on a 100 ms path; the capture shows the negotiation', async () => {
    using d = tempDir();
    const res = await run('07-tftp-lockstep.yaml', d.path);
    // "many times faster" is the clocks' verdict (the page's goodputs, test/teaching), and a loaded host slows the
    // short windowsize-16 run most; what makes it faster is counted: the client's request and ACKs through the
    // relay, one per block in lockstep, one per 16 blocks with windowsize 16. Lockstep's 185 round trips of
    // 100 ms are a lower bound on its duration that no load can break.
    const up = (id: string) => (byId(res, id).shaper_counters as { upStats: { packets: number } }).upStats.packets;
    console.log(`07: ${up('tftp-lockstep')} datagrams up in lockstep, ${up('tftp-window16')} with windowsize 16`);
    expect(up('tftp-lockstep')).toBeGreaterThan(5 * up('tftp-window16'));
    expect(up('tftp-lockstep')).toBeGreaterThanOrEqual(185); // the request and an ACK per block (256 KiB: 184)
    expect(byId(res, 'tftp-lockstep').duration_ms).toBeGreaterThanOrEqual(184 * 100);
    if (tshark && root) {
      const pcap = join(d.path, byId(res, 'tftp-window16').capture!);
      const port = execFileSync(tshark, ['-r', pcap, '-T', 'fields', '-e', 'udp.dstport', '-c', '1'], {
        encoding: 'utf8',
      }).trim();
      const decode = [`udp.port==${port},tftp`];
      expect(packets(pcap, 'tftp.opcode == 1 && tftp.option.name == "windowsize"', decode)).toHaveLength(1);
      expect(packets(pcap, 'tftp.opcode == 6', decode).join()).toMatch(/windowsize=16/);
      expect(packets(pcap, 'tftp.opcode == 3', decode).length).toBeGreaterThan(180);
    }
  });

  it('08 amplification: naive and TFTP reflect a forged request many times over, ruft stays under 3×', async () => {
    using d = tempDir();
    const res = await run('08-amplification.yaml', d.path);
    const factor = (id: string) => (byId(res, id).shaper_counters as { amplification: number }).amplification;
    expect(factor('naive')).toBeGreaterThan(1000);
    expect(factor('tftp')).toBeGreaterThan(10);
    // but no more than DATA 1 twice before an ACK: RFC 1350's own floor (512 bytes for a request)
    expect((byId(res, 'tftp').shaper_counters as { victim_bytes: number }).victim_bytes).toBeLessThanOrEqual(2 * 516);
    expect(factor('ruft')).toBeLessThanOrEqual(3);
  });

  it('09 toy Diffie-Hellman: the public key 14 crosses the wire in plaintext', async () => {
    using d = tempDir();
    const res = await run('09-toy-dh.yaml', d.path);
    if (tshark && root) {
      const pcap = join(d.path, byId(res, 'naive-toy-dh').capture!);
      expect(packets(pcap, 'udp.payload == 4b:45:59')).toHaveLength(1); // "KEY"
      expect(packets(pcap, 'udp.payload == 31:34')).toHaveLength(1); // "14"
      const ruft = join(d.path, byId(res, 'ruft').capture!);
      expect(packets(ruft, 'udp contains "the quick brown fox"')).toHaveLength(0); // encrypted
    }
  });
});
