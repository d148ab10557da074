#!/bin/sh
# Init container of the kxdp DaemonSet: put kxdp-cni into the host's CNI
# binary directory (as "kxdp", the conflist's plugin type), and host-local
# too if the host has none, replacing atomically so a running kubelet never
# sees a half-written file.
set -eu
dest=${1:-/host/opt/cni/bin}
install -m 0755 /usr/lib/kxdp/kxdp-cni "$dest/.kxdp.new"
mv -f "$dest/.kxdp.new" "$dest/kxdp"
if [ ! -x "$dest/host-local" ]; then
	install -m 0755 /usr/lib/cni/host-local "$dest/.host-local.new"
	mv -f "$dest/.host-local.new" "$dest/host-local"
fi
echo "install-cni: kxdp (and host-local) in $dest"
