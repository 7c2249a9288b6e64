// The load generator of the `clients` bench suite: ONE process holding N concurrent `get` sessions (each with
// its own socket, so N source ports) against one server; the clock starts when all N are launched together
// (after this process and its modules are up) and stops when the last file is verified. Prints one JSON line:
// {"clients":N,"bytes":…,"ms":…,"perClientMs":[…]}. Bounded: exits 1 after --timeout-s.
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
const t0 = performance.now();
const results = await Promise.all(
  Array.from({ length: count }, async (_, i) => {
    const local = join(outDir, `c${i}`);
    const r = await get({ host, port: Number(port), serverKey, force: true }, remote, local);
    const doneMs = performance.now() - t0;
    rmSync(local, { force: true });
    return { bytes: r.bytes, doneMs, sha256: r.sha256 };
  }),
);
const ms = performance.now() - t0;
if (new Set(results.map((r) => r.sha256)).size !== 1) {
  console.error('load: the clients got different bytes');
  process.exit(1);
}
console.log(
  JSON.stringify({
    clients: count,
    bytes: results.reduce((a, r) => a + r.bytes, 0),
    ms,
    perClientMs: results.map((r) => Math.round(r.doneMs)),
  }),
);
