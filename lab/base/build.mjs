#!/usr/bin/env node
// Builds the offline base image `udplab/base:local` without any registry:
// a minimal Debian bookworm made by mmdebstrap from Debian's mirror, plus this
// host's own `node` binary at /usr/local/bin/node, imported with `docker import`.
// Usage: node lab/base/build.mjs [--force] [--tag udplab/base:local]
import { $, argv, fs, which } from 'zx';

$.verbose = false;
const tag = argv.tag ?? 'udplab/base:local';
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
const packages = ['iproute2', 'iptables', 'nftables', 'tcpdump', 'ca-certificates', 'procps'].join(',');
console.log(`building ${tag}: mmdebstrap bookworm (${packages}) + ${node} (${process.version})`);
await $`mmdebstrap --quiet --variant=minbase --include=${packages} --customize-hook=${`copy-in ${node} /usr/local/bin`} --customize-hook=${'chroot "$1" sh -c "rm -rf /var/lib/apt/lists/* /usr/share/doc/* /usr/share/man/*"'} bookworm - | docker import --change ${'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'} --change ${'LABEL udplab=1'} - ${tag}`.pipe(
  process.stdout,
);
const version = (await $`docker run --rm --label udplab=1 ${tag} node --version`).stdout.trim();
// lab/Dockerfile installs nothing on this base when these are present: make sure they are (tcpdump: captures)
for (const tool of ['tc', 'ip', 'iptables', 'tcpdump']) {
  const r =
    await $`docker run --rm --label udplab=1 --network none ${tag} sh -c ${'command -v "$0"'} ${tool}`.nothrow();
  if (r.exitCode !== 0) {
    console.error(`lab/base: ${tool} is missing from ${tag}: check the package list in lab/base/build.mjs`);
    process.exit(1);
  }
}
console.log(`built ${tag} in ${((Date.now() - started) / 1000).toFixed(1)} s; node in image: ${version}`);
