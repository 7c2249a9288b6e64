// The load generator of the `clients` bench suite: ONE process holding N concurrent `get` sessions (each with
// its own socket, so N source ports) against one server; the clock starts when all N are launched together
// (after this process and its modules are up) and stops when the last file is verified; the files are removed after
// that (inside the clock, 100 synchronous unlinks of 2 MiB files blocked the loop the other sessions run on for
// ~0.1 s of a round: docs/performance.md). Prints one JSON line:
// {"clients":N,"bytes":…,"ms":…,"cpuS":…,"perClientMs":[…],"sent":…,"retransmitted":…,"lost":…}: this process's
// CPU seconds over the clocked interval only (its start-up excluded), and the sessions' own counts of data packets
// sent, retransmitted and declared lost (the server's, as each client's result reports them).
// Bounded: exits 1 after --timeout-s.
// Usage: node dist/bench/load.js HOST PORT REMOTE N OUTDIR SERVER_KEY_FILE [TIMEOUT_S]
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { get, loadIdentity } from '../src/transport/index.js';

const [host, port, remote, n, outDir, keyFile, timeoutS = '600'] = process.argv.slice(2);
if (!host || !port || !remote || !n || !outDir || !keyFile) {
  console.error('usage: load.js HOST PORT REMOTE N OUTDIR SERVER_KEY_FILE [TIMEOUT_S]');
  process.exit(2);
}
const count = Number(n);
const serverKey = loadIdentity(keyFile).publicKey;
setTimeout(() => {
  console.error(`load: ${count} clients did not finish in ${timeoutS} s`);
  process.exit(1);
}, Number(timeoutS) * 1000).unref();
const cpu0 = process.cpuUsage();
const t0 = performance.now();
const results = await Promise.all(
  Array.from({ length: count }, async (_, i) => {
    const local = join(outDir, `c${i}`);
    const r = await get({ host, port: Number(port), serverKey, force: true }, remote, local);
    return { r, doneMs: performance.now() - t0, local };
  }),
);
const ms = performance.now() - t0;
const cpu = process.cpuUsage(cpu0);
for (const { local } of results) rmSync(local, { force: true });
if (new Set(results.map(({ r }) => r.sha256)).size !== 1) {
  console.error('load: the clients got different bytes');
  process.exit(1);
}
const sum = (f: (x: (typeof results)[number]) => number) => results.reduce((a, x) => a + f(x), 0);
console.log(
  JSON.stringify({
    clients: count,
    bytes: sum((x) => x.r.bytes),
    ms,
    cpuS: (cpu.user + cpu.system) / 1e6,
    perClientMs: results.map((x) => Math.round(x.doneMs)),
    sent: sum((x) => x.r.packets_sent),
    retransmitted: sum((x) => x.r.packets_retransmitted),
    lost: sum((x) => x.r.packets_lost),
  }),
);
