#!/bin/sh
# Runs in the VM lane's guest (lab/vm/run.mjs; kernel 6.1 with sch_netem): a Docker engine on tmpfs, a container
# from a tiny image (tc, ip, busybox), and `udplab shape` against it: egress netem applied and read back, a ping
# from the guest crossing it, --show, ingress through ifb, --clear. Prints `step rc=N` lines the test checks.
# $1 = the image tar (made on the host by test/vm/netem.test.ts).
set -u
mount -t cgroup2 none /sys/fs/cgroup
mkdir -p /var/lib/docker && mount -t tmpfs -o size=1g tmpfs /var/lib/docker
modprobe -a sch_netem ifb act_mirred cls_u32 sch_ingress veth bridge br_netfilter overlay 2>&1
DOCKER_RAMDISK=true dockerd --iptables=false --ip-masq=false >/tmp/dockerd.log 2>&1 &
i=0
until docker info >/dev/null 2>&1; do
  i=$((i + 1))
  if [ "$i" -gt 180 ]; then tail -20 /tmp/dockerd.log; echo "dockerd rc=1"; exit 3; fi
  sleep 1
done
echo "dockerd ready after ${i} s"
docker import "$1" udplab/shape-vm:local >/dev/null && echo "import rc=0"
docker run -d --name shp --cap-add NET_ADMIN --label udplab=1 udplab/shape-vm:local /bin/busybox sleep 900 >/dev/null
echo "run rc=$?"
ip=$(docker inspect --format '{{.NetworkSettings.IPAddress}}' shp)
node bin/udplab.js shape shp "delay 10ms loss 1%"; echo "apply rc=$?"
busybox ping -c 10 -i 0.2 -q "$ip"; echo "ping rc=$?"
node bin/udplab.js shape shp --show; echo "show rc=$?"
node bin/udplab.js shape shp "delay 30ms"; echo "reapply rc=$?"
node bin/udplab.js shape shp --dir ingress "delay 5ms"; echo "ingress rc=$?"
busybox ping -c 5 -i 0.2 -q "$ip"; echo "ping2 rc=$?"
node bin/udplab.js shape shp --dir ingress --clear; echo "clear-ingress rc=$?"
node bin/udplab.js shape shp --clear; echo "clear rc=$?"
docker rm -f shp >/dev/null
