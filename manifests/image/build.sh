#!/bin/sh
# make image: the kxdp image, built with Debian 12's podman from a clean
# `git archive` of this repository, on a Debian 12 base made here with
# debootstrap (no registry is needed). Also saved as an archive
# ($K/kxdp-image.tar) for the DaemonSet test to load.
#
#   build.sh BUILD_DIR [REV]     REV default HEAD (commit first: only committed
#                                files are built)
# Env: TAG (default localhost/kxdp:latest), MIRROR, KX_REBASE=1 (make the base
# again: security updates), KX_PRUNE=1 (drop the build stage's layer cache).
#
# Idempotent: the base is debootstrapped and imported once and reused while
# its image is in the store; every run takes the source afresh and builds
# (podman's layer cache makes an unchanged rebuild take seconds).
#
# Everything podman keeps is under $K = BUILD_DIR/image: store, run root,
# tmp, configuration, runc state. Podman 4.3 also writes
# /var/lib/containers/cache (no option moves it), /var/tmp and, for short
# names, /var/cache/containers, and reads /etc/containers: so this script
# runs itself in a private mount namespace where /var/lib is read-only
# (podman falls back to an in-memory blob cache), /var/cache an empty tmpfs,
# /var/tmp is $K/tmp, /etc/containers holds only a policy.json of ours and /etc/cni is empty. Nothing makes
# network interfaces: the build's RUN steps use the host's network (apt needs
# the Debian archive), the checks none.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
[ $# -ge 1 ] || { echo "usage: build.sh BUILD_DIR [REV]" >&2; exit 2; }
mkdir -p "$1/image"
K=$(cd "$1/image" && pwd)
REV=${2:-HEAD}
TAG=${TAG:-localhost/kxdp:latest}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
BASE=docker.io/library/debian:12-slim

# Debian 12 packages: podman (with conmon, golang-github-containers-common),
# runc, debootstrap, git, util-linux (unshare); not crun, fuse-overlayfs,
# uidmap, slirp4netns, netavark (root, native overlay, no networks).
for t in podman conmon runc debootstrap git unshare; do
	command -v $t >/dev/null || { echo "build.sh: $t missing (apt-get install podman runc debootstrap git)" >&2; exit 1; }
done
if [ -z "${KX_IMAGE_IN_NS:-}" ]; then
	mkdir -p "$K/empty" "$K/tmp" "$K/etc-containers"
	echo '{ "default": [{ "type": "insecureAcceptAnything" }] }' > "$K/etc-containers/policy.json"
	exec env KX_IMAGE_IN_NS=1 unshare --mount --propagation private -- "$0" "$@"
else
	mount --bind -o ro /var/lib /var/lib
	mount -t tmpfs -o mode=0755,size=16m kx-var-cache /var/cache
	mount --bind "$K/tmp" /var/tmp
	mount --bind -o ro "$K/etc-containers" /etc/containers # policy.json alone (podman save reads it)
	[ -d /etc/cni ] && mount --bind -o ro "$K/empty" /etc/cni
fi

log() { printf '== %s\n' "$*" >&2; }
now() { date +%s; }
mkdir -p "$K/conf/cni" "$K/bin" "$K/storage" "$K/run" "$K/tmp" "$K/logs"

# --- podman configuration, all of it under $K ------------------------------
# crun 1.8 fails on a hybrid cgroup v1+v2 host ("cgroups in hybrid mode not
# supported"); runc works everywhere, through a wrapper so that its state is
# not /run/runc (podman 4.3's cleanup process drops --runtime-flag).
cat > "$K/bin/runc" <<EOF
#!/bin/sh
exec /usr/bin/runc --root $K/run/runc "\$@"
EOF
chmod 0755 "$K/bin/runc"
# Podman asks for nofile 1048576 (and nproc 1048576 once nofile is set); root
# without CAP_SYS_RESOURCE, or with a lower hard limit, gets EPERM from runc.
ulimits=""
hn=$(ulimit -Hn)
if [ "$hn" != unlimited ] && [ "$hn" -lt 1048576 ]; then
	ulimits="default_ulimits = [\"nofile=$hn:$hn\", \"nproc=32768:32768\"]"
fi
cat > "$K/conf/containers.conf" <<EOF
[containers]
$ulimits
netns = "none"
log_driver = "k8s-file"

[network]
# No CNI plugins and no network configuration: a run or build without
# --network host/none has no bridge plugin to make cni-podman0 with (a
# safety net, never exercised here: every command passes --network).
network_backend = "cni"
network_config_dir = "$K/conf/cni"
cni_plugin_dirs = ["$K/empty"]

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$K/run/events.log"
tmp_dir = "$K/run/libpod"
static_dir = "$K/storage/libpod"
volume_path = "$K/storage/volumes"
image_copy_tmp_dir = "$K/tmp"
runtime = "kx-runc"

[engine.runtimes]
kx-runc = ["$K/bin/runc"]
EOF
cat > "$K/conf/storage.conf" <<EOF
[storage]
driver = "overlay"
graphroot = "$K/storage"
runroot = "$K/run"
EOF
cat > "$K/conf/registries.conf" <<'EOF'
# No registry is reachable: images are made here. A short name (FROM
# debian:12) still finds docker.io/library/debian:12 in the store, as Docker
# would, but only where podman can write its short-name alias cache lock
# (/var/cache/containers: the tmpfs of the mount namespace).
unqualified-search-registries = []
short-name-mode = "enforcing"
EOF
echo '{ "default": [{ "type": "insecureAcceptAnything" }] }' > "$K/conf/policy.json"
export CONTAINERS_CONF="$K/conf/containers.conf"
export CONTAINERS_STORAGE_CONF="$K/conf/storage.conf"
export CONTAINERS_REGISTRIES_CONF="$K/conf/registries.conf"
export TMPDIR="$K/tmp"
pm() {
	podman --root "$K/storage" --runroot "$K/run" --tmpdir "$K/run/libpod" \
		--cgroup-manager=cgroupfs --events-backend=file \
		--network-config-dir "$K/conf/cni" "$@"
}

# --- the Debian 12 base ------------------------------------------------------
if [ -n "${KX_REBASE:-}" ]; then
	# untag only: images built on the old base keep it as their parent
	pm image untag "$BASE" "$BASE" >/dev/null 2>&1 || true
	pm image untag docker.io/library/debian:12 docker.io/library/debian:12 >/dev/null 2>&1 || true
fi
if pm image exists "$BASE"; then
	log "base $BASE: in the store, reused"
else
	rm -rf "$K/rootfs"
	log "debootstrap --variant=minbase bookworm ($MIRROR)"
	t=$(now)
	debootstrap --variant=minbase bookworm "$K/rootfs" "$MIRROR" > "$K/logs/debootstrap.log" 2>&1 ||
		{ tail -20 "$K/logs/debootstrap.log"; exit 1; }
	log "debootstrap: $(( $(now) - t )) s"
	t=$(now)
	"$HERE/prep-base.sh" "$K/rootfs" > "$K/logs/prep.log" 2>&1 ||
		{ tail -20 "$K/logs/prep.log"; exit 1; }
	log "prepare (sources, updates, slim): $(( $(now) - t )) s"
	tar -C "$K/rootfs" --numeric-owner -c . |
		pm import --signature-policy "$K/conf/policy.json" \
			--change 'CMD ["bash"]' - "$BASE" >/dev/null
	# the name the repository's Containerfile (FROM debian:12) resolves to
	pm tag "$BASE" docker.io/library/debian:12
	rm -rf "$K/rootfs"
	log "base imported: $(pm image inspect --format '{{.Size}}' "$BASE") bytes"
fi

# --- the source: a clean git archive -----------------------------------------
rm -rf "$K/src"
mkdir -p "$K/src"
git -C "$REPO" archive "$REV" | tar -x -C "$K/src"
log "source: $REPO $REV ($(git -C "$REPO" rev-parse --short "$REV"))"

# --- the image -----------------------------------------------------------------
t=$(now)
pm build --signature-policy "$K/conf/policy.json" --pull=never --network host \
	--build-arg BASE="$BASE" -f "$K/src/Containerfile" -t "$TAG" "$K/src" > "$K/logs/build.log" 2>&1 ||
	{ tail -30 "$K/logs/build.log"; exit 1; }
log "podman build: $(( $(now) - t )) s"
log "$TAG: $(pm image inspect --format '{{.Size}}' "$TAG") bytes"
pm images >&2

# --- checks --------------------------------------------------------------------
# Every command the manifests run, and the binaries start.
for c in /bin/sh stat mount sysctl install mv kxdp-agent kxdp \
	/usr/lib/kxdp/kxdp-cni /usr/lib/kxdp/install-cni.sh /usr/lib/cni/host-local /usr/lib/cni/portmap; do
	pm run --rm --network none --entrypoint /bin/sh "$TAG" -c "command -v $c >/dev/null" ||
		{ echo "missing in $TAG: $c" >&2; exit 1; }
done
pm run --rm --network none --entrypoint /bin/sh "$TAG" -c \
	'mkdir /tmp/cni && /usr/lib/kxdp/install-cni.sh /tmp/cni >/dev/null && test -x /tmp/cni/kxdp -a -x /tmp/cni/host-local -a -x /tmp/cni/portmap'
pm run --rm --network none "$TAG" --help > /dev/null
pm run --rm --network none --entrypoint kxdp "$TAG" version >&2
# KX_PRUNE=1: drop dangling images, the build stage's cache among them
# (~720 MB; the next build then installs the toolchain again, ~20 s more).
[ -z "${KX_PRUNE:-}" ] || pm image prune -f >/dev/null
rm -f "$K/kxdp-image.tar"
pm save --format oci-archive -o "$K/kxdp-image.tar" "$TAG"
log "ok: $TAG, $(pm image inspect --format '{{.Size}}' "$TAG") bytes, saved as $K/kxdp-image.tar"
