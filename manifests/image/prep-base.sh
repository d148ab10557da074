#!/bin/sh
# Turn a debootstrap --variant=minbase bookworm tree into something like the
# official debian:12-slim: deb822 sources with updates + security, the
# debuerreotype apt/dpkg settings, upgraded to the archive's current state,
# docs/man/locales excluded (now and for every later dpkg install), caches,
# lists, logs and host identity removed.
set -eu
R=$1
# apt sources as in the official image
rm -f "$R/etc/apt/sources.list"
cat > "$R/etc/apt/sources.list.d/debian.sources" <<'S'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
S
# debuerreotype's minimizing config
echo 'Apt::AutoRemove::SuggestsImportant "false";' > "$R/etc/apt/apt.conf.d/docker-autoremove-suggests"
cat > "$R/etc/apt/apt.conf.d/docker-clean" <<'S'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
S
echo 'Acquire::GzipIndexes "true";' > "$R/etc/apt/apt.conf.d/docker-gzip-indexes"
echo 'Acquire::Languages "none";' > "$R/etc/apt/apt.conf.d/docker-no-languages"
echo 'force-unsafe-io' > "$R/etc/dpkg/dpkg.cfg.d/docker-apt-speedup"
printf '#!/bin/sh\nexit 101\n' > "$R/usr/sbin/policy-rc.d"; chmod 0755 "$R/usr/sbin/policy-rc.d"
# slim: what debian:12-slim leaves out, for this tree and later installs
cat > "$R/etc/dpkg/dpkg.cfg.d/docker" <<'S'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
S
# security + point updates newer than the release debootstrap took
cp /etc/resolv.conf "$R/etc/resolv.conf"
chroot "$R" apt-get update -q
DEBIAN_FRONTEND=noninteractive chroot "$R" apt-get -y -q -o Dpkg::Options::=--force-confold dist-upgrade
chroot "$R" apt-get clean
# drop what the excludes now keep out of new installs
find "$R/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
find "$R/usr/share/doc" -mindepth 1 -type d -empty -delete
rm -rf "$R/usr/share/man/"* "$R/usr/share/groff/"* "$R/usr/share/info/"* \
	"$R/usr/share/lintian/"* "$R/usr/share/linda/"*
find "$R/usr/share/locale" -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} +
# no caches, lists, logs, host identity
rm -rf "$R/var/lib/apt/lists/"* "$R/var/cache/apt/"*.bin "$R/var/cache/apt/archives/"*.deb \
	"$R/var/cache/apt/archives/partial/"* "$R/var/cache/debconf/"*-old "$R/var/lib/dpkg/"*-old
mkdir -p "$R/var/lib/apt/lists/partial"
find "$R/var/log" -type f -exec truncate -s 0 {} +
: > "$R/etc/resolv.conf"
echo localhost > "$R/etc/hostname"
rm -f "$R/etc/machine-id" "$R/var/lib/dbus/machine-id"
