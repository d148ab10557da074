#!/bin/bash
# PID 1 inside the VM (tests/vm/run.py): the host's root, read-only, with
# tmpfs where tests write; runs /tmp/kxvm-xfer/cmd, leaves its exit code in
# /tmp/kxvm-xfer/rc, powers off.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root LANG=C.UTF-8
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null
mkdir -p /dev/pts /dev/shm
# devtmpfs has no /dev/fd: bash's process substitution and /dev/stderr need it
ln -sf /proc/self/fd /dev/fd
ln -sf /proc/self/fd/0 /dev/stdin
ln -sf /proc/self/fd/1 /dev/stdout
ln -sf /proc/self/fd/2 /dev/stderr
mount -t devpts devpts /dev/pts
mount -t tmpfs shm /dev/shm
for d in /run /var/tmp /root /var/log /var/cache; do
	[ -d "$d" ] && mount -t tmpfs tmp "$d"
done
mount -t bpf bpf /sys/fs/bpf
mount -t cgroup2 cgroup2 /sys/fs/cgroup 2>/dev/null
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
ip link set lo up
for m in veth sch_ingress cls_bpf bridge br_netfilter; do
	modprobe -q "$m" 2>/dev/null
done
echo "kxvm: $(uname -r) up, $(nproc) CPUs" >/dev/console
touch /tmp/kxvm-xfer/started
bash /tmp/kxvm-xfer/cmd </dev/null >/dev/console 2>&1
echo $? >/tmp/kxvm-xfer/rc
sync
/bin/busybox poweroff -f
