#!/bin/sh
# Init container of the kxdp DaemonSet: put kxdp-cni into the host's CNI
# binary directory (as "kxdp", the conflist's plugin type), and host-local
# and portmap (the conflist chains it for hostPorts) too if the host has
# none, replacing atomically so a running kubelet never sees a half-written
# file.
set -eu
dest=${1:-/host/opt/cni/bin}
install -m 0755 /usr/lib/kxdp/kxdp-cni "$dest/.kxdp.new"
mv -f "$dest/.kxdp.new" "$dest/kxdp"
for p in host-local portmap; do
	if [ ! -x "$dest/$p" ]; then
		install -m 0755 "/usr/lib/cni/$p" "$dest/.$p.new"
		mv -f "$dest/.$p.new" "$dest/$p"
	fi
done
echo "install-cni: kxdp (and host-local, portmap) in $dest"
