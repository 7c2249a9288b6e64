#!/usr/bin/env node
// The real-kernel lane by hand: `npm run lab:vm [SCENARIO…] [-- lab options]`.
// Boots the VM of lab/vm/run.mjs (Debian's 6.1 kernel, which has sch_netem) and, by default, runs the lab there
// on the docker runtime with kernel netem: a Docker engine started inside the guest, the udplab image built on
// this host from this checkout (`udplab/udplab:vm`), saved once to .cache/vm/udplab-image.tar (reused while the
// image is unchanged) and `docker load`ed in the guest, so nothing is built under TCG. `--runtime netns` runs
// the netns runtime instead (no engine, no image); `--compare-shapers` runs every run under kernel netem and under
// the userspace relay (netns unless --runtime docker is given). After the lab, a probe stream measures each
// scenario's netem per direction on the guest's kernel (`udplab fidelity --shaper netem`: counted loss, one-way
// delay; `--no-probe` skips it). Then it prints, from each report's results.json: runtime, shaper, the qdiscs read
// back inside the endpoints and, per direction, netem's counters after each run (the loss it really applied) and
// the probe's loss and one-way delay; the round-trip time the client measured, SHA-256, the shapers side by side
// when compared, and how long each phase took.
//   node lab/vm/lab.mjs [SCENARIO…] [--timeout 1200] [--runtime docker|netns] [--compare-shapers] [--no-probe]
//                       [other `udplab lab` options]
// Default scenario: scenarios/vm/docker-netem.yaml (loss, delay and reorder, each way its own).
import { spawn } from 'node:child_process';
import { $, fs, path } from 'zx';

$.verbose = false;
const repo = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..');
const cache = path.join(repo, '.cache', 'vm');
const TAG = 'udplab/udplab:vm';
const BASE = 'udplab/base:local';
const tar = path.join(cache, 'udplab-image.tar');

// arguments: scenarios (not starting with -), this wrapper's --timeout, the rest goes to `udplab lab`
const args = process.argv.slice(2).filter((a) => a !== '--');
const scenarios = [];
const labArgs = [];
let runtime;
let shaper = 'netem';
let timeoutS = 1200;
let compare = false;
let probe = true;
for (let i = 0; i < args.length; i++) {
  const a = args[i];
  const val = () => {
    const v = a.includes('=') ? a.slice(a.indexOf('=') + 1) : args[++i];
    if (v === undefined) throw new Error(`${a} needs a value`);
    return v;
  };
  if (a.startsWith('--timeout')) timeoutS = Number(val());
  else if (a.startsWith('--runtime')) runtime = val();
  else if (a === '--netns') runtime = 'netns';
  else if (a.startsWith('--shaper')) shaper = val();
  else if (a === '--compare-shapers') {
    compare = true;
    labArgs.push(a);
  } else if (a === '--no-probe') probe = false;
  else if (a.startsWith('--out'))
    val(); // reports always go to the VM's output share
  else if (a.startsWith('-')) labArgs.push(a);
  else if (/\.ya?ml$/.test(a)) scenarios.push(path.resolve(a));
  else labArgs.push(a); // the value of a lab option (e.g. --shard 1/2)
}
if (scenarios.length === 0) scenarios.push(path.join(repo, 'scenarios', 'vm', 'docker-netem.yaml'));
if (!fs.existsSync(path.join(repo, 'dist', 'src', 'cli', 'index.js'))) {
  console.error('lab:vm: no compiled CLI in dist/: run `npm run build` first');
  process.exit(2);
}
// the scenarios as udplab reads them: their netem per direction (for the probe stream after the lab), and whether
// one asks for both shapers (`compare_shapers: true`)
const { loadScenario } = await import(path.join(repo, 'dist', 'src', 'lab', 'index.js'));
const { printNetem } = await import(path.join(repo, 'dist', 'src', 'impair', 'index.js'));
const loaded = [];
for (const file of scenarios) {
  if (!fs.existsSync(file)) {
    console.error(`lab:vm: no scenario file ${file}`);
    process.exit(2);
  }
  loaded.push(loadScenario(file));
}
if (loaded.some((s) => s.compareShapers)) compare = true;
// comparing the shapers needs no engine: the netns runtime, unless docker is asked for
runtime ??= compare ? 'netns' : 'docker';
if (!['docker', 'netns'].includes(runtime)) {
  console.error(`lab:vm: --runtime is docker (default) or netns in the VM, got "${runtime}"`);
  process.exit(2);
}
await fs.mkdirp(cache);
const t0 = Date.now();
const secs = (ms) => `${(ms / 1000).toFixed(1)} s`;
const timings = [];

// 1. the image, built here from this checkout, saved once per image ID
let imageNote = '';
if (runtime === 'docker') {
  const tb = Date.now();
  if ((await $`docker image inspect ${BASE}`.nothrow()).exitCode !== 0) {
    console.error(`lab:vm: no ${BASE} image on this host: node lab/base/build.mjs`);
    process.exit(2);
  }
  const b =
    await $`docker build -q --force-rm -f lab/Dockerfile --build-arg BASE_IMAGE=${BASE} -t ${TAG} ${repo}`.nothrow();
  if (b.exitCode !== 0) {
    console.error(`lab:vm: docker build of ${TAG} failed:\n${b.stderr.trim().split('\n').slice(-15).join('\n')}`);
    process.exit(1);
  }
  timings.push(['image build on the host (cached layers)', Date.now() - tb]);
  const id = (await $`docker image inspect -f {{.Id}} ${TAG}`).stdout.trim();
  const idFile = `${tar}.id`;
  if (fs.existsSync(tar) && fs.existsSync(idFile) && fs.readFileSync(idFile, 'utf8').trim() === id) {
    imageNote = `reused ${path.relative(repo, tar)} (${id.slice(7, 19)})`;
  } else {
    const ts = Date.now();
    // the image the tar held before (an older checkout) is dangling now: remove it (fails harmlessly if still tagged)
    const old = fs.existsSync(idFile) ? fs.readFileSync(idFile, 'utf8').trim() : '';
    if (old && old !== id) await $`docker rmi ${old}`.nothrow();
    await fs.remove(idFile);
    await $`docker save -o ${`${tar}.tmp`} ${TAG}`;
    await fs.move(`${tar}.tmp`, tar, { overwrite: true });
    await fs.writeFile(idFile, `${id}\n`);
    timings.push(['docker save on the host', Date.now() - ts]);
    imageNote = `saved ${path.relative(repo, tar)} (${id.slice(7, 19)})`;
  }
  imageNote += `, ${(fs.statSync(tar).size / 2 ** 20).toFixed(0)} MiB`;
  console.log(`lab:vm: image ${TAG}: ${imageNote}`);
}

// 2. what runs in the guest: (docker) cgroup2, a tmpfs for the engine, modules, dockerd, docker load; the lab
const q = (s) => `'${s.replace(/'/g, `'\\''`)}'`;
// each scenario's netem per direction, for the probe stream after the lab (as the scenario states it)
const probes = probe ? loaded.map((s, i) => ({ i, name: s.name, up: printNetem(s.up), down: printNetem(s.down) })) : [];
const probeCmds = probes
  .map(
    (p) =>
      `echo "phase probe ${p.i}: $(up) s"; node bin/udplab.js fidelity ${q(p.up)} ${q(p.down)} --shaper netem --pps 50 --count 400 --json > /udplab-out/probe-${p.i}.json 2> /udplab-out/probe-${p.i}.err || true`,
  )
  .join('\n');
const lab = [
  'node bin/udplab.js lab',
  `--runtime ${runtime}${compare ? '' : ` --shaper ${q(shaper)}`}`,
  ...labArgs.map(q),
  ...scenarios.map(q),
  '--out /udplab-out/reports',
].join(' ');
const guest = `set -u
up() { cut -d' ' -f1 /proc/uptime; }
echo "phase boot: guest userspace at $(up) s (uptime)"
${
  runtime === 'docker'
    ? `mount -t cgroup2 none /sys/fs/cgroup
mkdir -p /var/lib/docker && mount -t tmpfs -o size=2560m tmpfs /var/lib/docker
modprobe -a sch_netem veth bridge br_netfilter overlay nf_tables
t=$(up)
DOCKER_RAMDISK=true dockerd --iptables=false --ip-masq=false --ip6tables=false > /tmp/dockerd.log 2>&1 &
i=0
until docker info > /dev/null 2>&1; do
  i=$((i + 1))
  if [ $i -gt 150 ]; then echo "lab:vm: dockerd did not answer within 150 s; its log:"; tail -40 /tmp/dockerd.log; exit 3; fi
  sleep 1
done
echo "phase dockerd: answers at $(up) s, started at $t s ($(docker info --format '{{.ServerVersion}}, {{.Driver}}, cgroup v{{.CgroupVersion}}'))"
t=$(up)
cat ${q(tar)} > /dev/null
echo "phase read: the image tar read over 9p at $(up) s, started at $t s"
t=$(up)
if ! timeout 600 docker load -q -i ${q(tar)}; then echo "lab:vm: docker load failed; dockerd's log:"; tail -40 /tmp/dockerd.log; exit 3; fi
echo "phase load: ${TAG} loaded at $(up) s, started at $t s"
export UDPLAB_IMAGE=${TAG}
`
    : 'modprobe -a sch_netem veth\n'
}t=$(up)
# each line of the lab's output stamped with the guest's uptime, to see where the time goes
{ ${lab}; echo "rc=$?" > /tmp/lab.rc; } 2>&1 | while IFS= read -r l; do echo "[$(up)] $l"; done
rc=$(cut -d= -f2 /tmp/lab.rc)
echo "phase lab: finished at $(up) s, started at $t s, exit $rc"
${probeCmds}
${runtime === 'docker' ? 'echo "guest containers labelled udplab=1 left: $(docker ps -aq --filter label=udplab=1 | wc -l)"\n' : ''}exit $rc
`;
const script = path.join(cache, 'guest-lab.sh');
await fs.writeFile(script, guest);

// 3. the VM (its output is printed as it comes back)
const tv = Date.now();
const vm = spawn(
  process.execPath,
  [
    path.join(repo, 'lab', 'vm', 'run.mjs'),
    '--timeout',
    String(timeoutS),
    '--mem',
    runtime === 'docker' ? '4096' : '3072',
    '--',
    `sh ${script}`,
  ],
  { cwd: repo, stdio: ['ignore', 'pipe', 'inherit'] },
);
let log = '';
vm.stdout.on('data', (d) => {
  log += d;
  process.stdout.write(d);
});
const rc = await new Promise((ok) => vm.on('close', (code) => ok(code ?? 1)));
const vmMs = Date.now() - tv;

// 4. what the reports say
const num = (re) => {
  const m = re.exec(log);
  return m ? Number(m[1]) : undefined;
};
const boot = num(/phase boot: guest userspace at ([\d.]+) s/);
const dUp = num(/phase dockerd: answers at ([\d.]+) s/);
const dStart = num(/phase dockerd: answers at [\d.]+ s, started at ([\d.]+) s/);
const lUp = num(/phase load: \S+ loaded at ([\d.]+) s/);
const lStart = num(/phase load: \S+ loaded at [\d.]+ s, started at ([\d.]+) s/);
const labEnd = num(/phase lab: finished at ([\d.]+) s/);
const labStart = num(/phase lab: finished at [\d.]+ s, started at ([\d.]+) s/);
if (boot !== undefined) timings.push(['VM boot to guest userspace (guest uptime)', boot * 1000]);
if (dUp !== undefined && dStart !== undefined) timings.push(['dockerd ready', (dUp - dStart) * 1000]);
const rUp = num(/phase read: .* at ([\d.]+) s, started/);
const rStart = num(/phase read: .* started at ([\d.]+) s/);
if (rUp !== undefined && rStart !== undefined) timings.push(['reading the image tar over 9p', (rUp - rStart) * 1000]);
if (lUp !== undefined && lStart !== undefined)
  timings.push([`docker load${rUp !== undefined ? ' (tar in the page cache by then)' : ''}`, (lUp - lStart) * 1000]);
if (labEnd !== undefined && labStart !== undefined) timings.push(['lab run', (labEnd - labStart) * 1000]);
timings.push(['VM, boot to power-off (host clock)', vmMs]);

const reports = path.join(cache, 'out', 'reports');
const dirs = fs.existsSync(reports) ? fs.readdirSync(reports).sort() : [];
console.log('\n== lab:vm summary');
const probeOf = (name) => {
  const p = probes.find((x) => x.name === name);
  if (!p) return undefined;
  const file = path.join(cache, 'out', `probe-${p.i}.json`);
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'))[0];
  } catch {
    const err = path.join(cache, 'out', `probe-${p.i}.err`);
    return { error: fs.existsSync(err) ? fs.readFileSync(err, 'utf8').trim().split('\n').pop() : 'no output' };
  }
};
const ms = (x) => (typeof x === 'number' ? `${x.toFixed(1)} ms` : '–');
for (const d of dirs) {
  const file = path.join(reports, d, 'results.json');
  if (!fs.existsSync(file)) continue;
  const res = JSON.parse(fs.readFileSync(file, 'utf8'));
  const env = res.environment;
  console.log(`${res.scenario}: runtime ${env.runtime}, shaper ${env.shaper}, kernel ${env.kernel}`);
  for (const n of env.notices) if (/FALLBACK|SHAPERS COMPARED/.test(n)) console.log(`  NOTICE: ${n}`);
  for (const r of res.runs) {
    const sha = r.sha256_actual.split(' ').every((x) => x === r.sha256_expected);
    console.log(
      `  run ${r.id}: ${r.verdict}, SHA-256 ${sha ? 'matches' : 'DIFFERS'} (${r.sha256_expected.slice(0, 16)}…)`,
    );
    const readback = r.shaping_readback.split(/; (?=down )/);
    for (const [dir, configured] of [
      ['up', r.netem_up],
      ['down', r.netem_down],
    ]) {
      const c = r.shaper_counters?.[dir];
      console.log(`    ${dir.padEnd(4)} configured: ${configured || '(none)'}`);
      const rb = readback.find((x) => x.startsWith(`${dir} `));
      if (rb) console.log(`         read back: ${rb}`);
      if (c && typeof c.sent_packets === 'number')
        console.log(
          `         counters after (${c.where}): Sent ${c.sent_bytes} bytes ${c.sent_packets} pkt, dropped ${c.dropped}, overlimits ${c.overlimits}, requeues ${c.requeues}, backlog ${c.backlog_packets}p → measured ${dir} loss ${c.loss_pct}%`,
        );
      else console.log('         counters after: none recorded');
    }
    console.log(
      `    RTT measured by the client (round trip, both directions): min ${r.rtt_ms_min.toFixed(1)} ms, avg ${r.rtt_ms_avg.toFixed(1)} ms, p99 ${r.rtt_ms_p99.toFixed(1)} ms; ${r.packets_sent} packets sent, ${r.retransmit_pct.toFixed(1)}% retransmitted`,
    );
  }
  const p = probeOf(res.scenario);
  if (p?.error) console.log(`  probe stream: failed: ${p.error}`);
  else if (p) {
    console.log(
      `  probe stream through kernel netem on this kernel (${p.probe.count} probes of ${p.probe.bytes} bytes at ${p.probe.pps}/s each way, veth between namespaces; counted, one-way on one clock):`,
    );
    for (const [dir, st, n] of [
      ['up', p.upStats, p.up],
      ['down', p.downStats, p.down],
    ])
      console.log(
        `    ${dir.padEnd(4)} \`${n || '(none)'}\`: loss ${st.lossPct.toFixed(2)}% (${st.lost} of ${st.sent}), duplicates ${st.duplicatePct.toFixed(2)}%, reordered ${st.reorderPct.toFixed(2)}%, one-way delay p50 ${ms(st.delayMedianMs)}, p99 ${ms(st.delayP99Ms)}`,
      );
    console.log(
      `    RTT p50 ${ms(p.rttMedianMs)}, p99 ${ms(p.rttP99Ms)} (the emulated CPU adds to every figure under TCG)`,
    );
  }
  const c = res.shaper_comparison;
  if (c) {
    console.log('  shapers compared (userspace relay | kernel netem):');
    for (const row of c.rows) {
      const one = (x) =>
        x
          ? `${x.verdict} ${(x.goodput_bps / 1e6).toFixed(2)} Mbit/s retx ${x.retransmit_pct.toFixed(1)}% loss up ${x.up.loss_pct ?? '–'}% down ${x.down.loss_pct ?? '–'}%`
          : 'not run';
      console.log(
        `    ${row.id}: ${one(row.userspace)} | ${one(row.netem)}${row.same_verdict ? '' : `  DIFFERENT: ${row.difference}`}`,
      );
    }
    console.log(
      `  relay: ${c.userspace.summary.passed}/${c.userspace.summary.runs} passed; same verdict in ${c.same_verdicts} of ${c.rows.length} runs`,
    );
  }
  console.log(`  ${res.summary.passed}/${res.summary.runs} runs passed; report: ${path.join(reports, d)}/report.md`);
}
if (dirs.length === 0) console.log('no report came back from the guest (see its output above)');
console.log('timings:');
for (const [what, ms] of timings) console.log(`  ${what}: ${secs(ms)}`);
console.log(`  whole (host clock): ${secs(Date.now() - t0)}`);
process.exit(rc);
