#!/usr/bin/env node
// Builds the offline base images without any registry: a minimal Debian bookworm made by mmdebstrap from
// Debian's mirror, imported with `docker import`.
//   udplab/base:local    (default)   iproute2, iptables, nftables, tcpdump, procps + this host's `node` binary:
//                                    what lab/Dockerfile builds the udplab image on.
//   udplab/python:local  (--python)  python3-minimal only (no tc, no node, no certificates): what user implementations written in
//                                    Python are built on (`image:` + `build: .` in a udplab.yaml, build arg BASE).
//                                    It has no iproute2 on purpose: the lab shapes such images from a sidecar.
// Usage: node lab/base/build.mjs [--python] [--force] [--tag NAME:TAG]
import { $, argv, fs, which } from 'zx';

$.verbose = false;
const python = Boolean(argv.python);
const tag = argv.tag ?? (python ? 'udplab/python:local' : 'udplab/base:local');
const force = Boolean(argv.force);

const exists = await $`docker image inspect ${tag}`.nothrow().quiet();
if (exists.exitCode === 0 && !force) {
  console.log(`base image ${tag} already present (use --force to rebuild)`);
  process.exit(0);
}
if (!(await which('mmdebstrap', { nothrow: true }))) {
  console.error('lab/base: mmdebstrap is missing: apt-get install -y mmdebstrap');
  process.exit(2);
}
const node = fs.realpathSync(process.execPath);
const started = Date.now();
const packages = (
  python ? ['python3-minimal'] : ['iproute2', 'iptables', 'nftables', 'tcpdump', 'ca-certificates', 'procps']
).join(',');
const hooks = [
  ...(python ? [] : [`copy-in ${node} /usr/local/bin`]),
  'chroot "$1" sh -c "rm -rf /var/lib/apt/lists/* /usr/share/doc/* /usr/share/man/*"',
].flatMap((h) => ['--customize-hook', h]);
console.log(`building ${tag}: mmdebstrap bookworm (${packages})${python ? '' : ` + ${node} (${process.version})`}`);
await $`mmdebstrap --quiet --variant=minbase --include=${packages} ${hooks} bookworm - | docker import --change ${'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'} --change ${'LABEL udplab=1'} - ${tag}`.pipe(
  process.stdout,
);
const check = python ? ['python3', '--version'] : ['node', '--version'];
const version = (await $`docker run --rm --label udplab=1 ${tag} ${check}`).stdout.trim();
// lab/Dockerfile installs nothing on this base when these are present: make sure they are (tcpdump: captures)
for (const tool of python ? [] : ['tc', 'ip', 'iptables', 'tcpdump']) {
  const r =
    await $`docker run --rm --label udplab=1 --network none ${tag} sh -c ${'command -v "$0"'} ${tool}`.nothrow();
  if (r.exitCode !== 0) {
    console.error(`lab/base: ${tool} is missing from ${tag}: check the package list in lab/base/build.mjs`);
    process.exit(1);
  }
}
console.log(`built ${tag} in ${((Date.now() - started) / 1000).toFixed(1)} s; in image: ${version}`);
