#!/usr/bin/env node
// The real-kernel lane: boots Debian's own 6.1 kernel under qemu (TCG; KVM is unreliable on these hosts) with
// this machine's root shared read-only over 9p, so the checkout and Node are simply there, and runs one command
// in the guest, where sch_netem exists. Results come back through a second, writable 9p share.
//   node lab/vm/run.mjs [--timeout 900] [--mem 3072] -- <command run in the checkout inside the guest>
// e.g. node lab/vm/run.mjs -- node bin/udplab.js lab --runtime netns --shaper netem scenarios/vm/netem-smoke.yaml
// Needs: qemu-system-x86, busybox-static, kmod (apt-get install -y qemu-system-x86 busybox-static kmod).
import { $, argv, fs, path, which } from 'zx';

$.verbose = false;
const repo = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..');
const cache = path.join(repo, '.cache', 'vm');
const timeoutS = Number(argv.timeout ?? 900);
const memMiB = Number(argv.mem ?? 3072);
const dash = process.argv.indexOf('--');
const cmd = dash >= 0 ? process.argv.slice(dash + 1).join(' ') : 'uname -a; modprobe sch_netem && echo netem: ok';

for (const [bin, pkg] of [
  ['qemu-system-x86_64', 'qemu-system-x86'],
  ['busybox', 'busybox-static'],
  ['modprobe', 'kmod'],
]) {
  if (!(await which(bin, { nothrow: true }))) {
    console.error(`lab/vm: ${bin} is missing: apt-get install -y ${pkg}`);
    process.exit(2);
  }
}
await fs.mkdirp(cache);

// 1. the kernel and its modules (Debian's package, unpacked; modules.dep made here: the .deb has none)
const kdir = path.join(cache, 'k');
let version = fs.existsSync(path.join(kdir, 'lib', 'modules'))
  ? fs.readdirSync(path.join(kdir, 'lib', 'modules'))[0]
  : undefined;
if (!version) {
  const pkgs = (await $`apt-cache search --names-only ${'^linux-image-6\\.1\\.0-[0-9]+-amd64$'}`).stdout
    .trim()
    .split('\n');
  const pkg = pkgs
    .map((l) => l.split(' ')[0])
    .sort((a, b) => Number(a.split('-')[3]) - Number(b.split('-')[3]))
    .pop();
  if (!pkg) throw new Error('no linux-image-6.1.0-*-amd64 package in the apt sources');
  await $({ cwd: cache })`apt-get download ${pkg}`.nothrow();
  const deb = fs.readdirSync(cache).find((f) => f.startsWith(pkg) && f.endsWith('.deb'));
  await $`dpkg -x ${path.join(cache, deb)} ${kdir}`;
  version = fs.readdirSync(path.join(kdir, 'lib', 'modules'))[0];
  await $`depmod -b ${kdir} ${version}`;
}
const modules = path.join(kdir, 'lib', 'modules', version);

// 2. a ~1.5 MB busybox initramfs: 9p + overlay modules, then switch_root into the host's root
const initrd = path.join(cache, 'initrd.gz');
if (!fs.existsSync(initrd)) {
  const root = path.join(cache, 'initrd');
  await fs.remove(root);
  for (const d of ['bin', 'mods', 'proc', 'sys', 'dev', 'lower', 'upper', 'newroot'])
    await fs.mkdirp(path.join(root, d));
  await fs.copy(await which('busybox'), path.join(root, 'bin', 'busybox'));
  const mods = [
    'virtio_ring',
    'virtio',
    'virtio_pci_modern_dev',
    'virtio_pci_legacy_dev',
    'virtio_pci',
    '9pnet',
    '9pnet_virtio',
    'netfs',
    'fscache',
    '9p',
    'overlay',
  ];
  for (const m of mods) {
    const found = (await $`find ${modules} -name ${`${m}.ko`}`).stdout.trim().split('\n')[0];
    if (found) await fs.copy(found, path.join(root, 'mods', `${m}.ko`));
  }
  await fs.writeFile(
    path.join(root, 'init'),
    `#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
for m in ${mods.join(' ')}; do [ -f /mods/$m.ko ] && insmod /mods/$m.ko; done
mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=524288,cache=loose hostroot /lower
mount -t tmpfs tmpfs /upper; mkdir -p /upper/u /upper/w
mount -t overlay overlay -o lowerdir=/lower,upperdir=/upper/u,workdir=/upper/w /newroot
V=$(uname -r)
mkdir -p /newroot/lib/modules/$V /newroot/udplab-out
mount --bind /newroot${modules} /newroot/lib/modules/$V
mount -t 9p -o trans=virtio,version=9p2000.L,msize=524288 out /newroot/udplab-out
exec switch_root /newroot /bin/sh ${path.join(cache, 'stage2.sh')}
`,
    { mode: 0o755 },
  );
  await $({ cwd: root })`sh -c ${'find . | busybox cpio -o -H newc 2>/dev/null | gzip -1'} > ${initrd}`;
}

// 3. the guest's second stage: the command, its output and exit code to the shared folder, then power off.
//    The guest runs the Node that runs this script (the host's root is the guest's, so its path is there too).
const out = path.join(cache, 'out');
await fs.remove(out);
await fs.mkdirp(out);
await fs.writeFile(path.join(cache, 'cmd.sh'), `${cmd}\n`);
await fs.writeFile(
  path.join(cache, 'stage2.sh'),
  `export PATH=${path.dirname(process.execPath)}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root UDPLAB_START_TIMEOUT=300
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
mount -t tmpfs tmpfs /run; mkdir -p /run/netns
echo "guest kernel $(uname -r)" > /udplab-out/log.txt
( cd ${repo} && sh ${path.join(cache, 'cmd.sh')} ) >> /udplab-out/log.txt 2>&1
echo "rc=$?" >> /udplab-out/log.txt
sync
echo o > /proc/sysrq-trigger
`,
);
const started = Date.now();
await $`timeout ${timeoutS} qemu-system-x86_64 -accel tcg,thread=multi -cpu max -smp 2 -m ${memMiB} -nographic -no-reboot -kernel ${path.join(kdir, 'boot', `vmlinuz-${version}`)} -initrd ${initrd} -append ${'console=ttyS0 panic=-1 quiet'} -virtfs ${'local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap'} -virtfs ${`local,path=${out},mount_tag=out,security_model=none`} -nic none`.nothrow();
const log = fs.existsSync(path.join(out, 'log.txt')) ? fs.readFileSync(path.join(out, 'log.txt'), 'utf8') : '';
process.stdout.write(log);
console.log(`lab/vm: ${((Date.now() - started) / 1000).toFixed(0)} s; guest output in ${out}`);
const rc = /rc=(\d+)\s*$/.exec(log);
process.exit(rc ? Number(rc[1]) : 1);
