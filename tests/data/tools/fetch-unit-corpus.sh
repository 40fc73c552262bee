#!/bin/sh
# Fetch the unit files of real Debian 12 packages into a cache outside the repository.
#
# Why: the loader and `bootup verify` are checked against what real packages ship, not only
# against hand-written fixtures. The .deb files are downloaded with `apt-get download` (no
# installation, no maintainer scripts) and unpacked with `dpkg-deb -x`; only their
# lib/systemd/system trees are kept, merged into one directory:
#     ${BOOTUP_CACHE:-/var/cache/bootup-tests}/unit-corpus/units/
# A package that fails to download is skipped with a note, so one mirror hiccup does not
# lose the rest. Nothing here is committed. Run it again to refresh; it is idempotent.
set -eu

CACHE="${BOOTUP_CACHE:-/var/cache/bootup-tests}/unit-corpus"
PACKAGES="nginx-common redis-server postgresql-common openssh-server cron rsyslog dbus
docker.io containerd haproxy apache2 mariadb-server bind9 chrony nfs-kernel-server
avahi-daemon cups-daemon smartmontools lvm2 mdadm"

mkdir -p "$CACHE/debs" "$CACHE/extract"
cd "$CACHE/debs"
for package in $PACKAGES; do
    if ls "${package}"_*.deb >/dev/null 2>&1; then
        continue
    fi
    apt-get download "$package" >/dev/null 2>&1 || echo "fetch-unit-corpus: could not download $package, skipped" >&2
done

rm -rf "$CACHE/units.new"
mkdir -p "$CACHE/units.new"
for deb in ./*.deb; do
    [ -e "$deb" ] || continue
    name=$(basename "$deb" .deb)
    rm -rf "$CACHE/extract/$name"
    dpkg-deb -x "$deb" "$CACHE/extract/$name"
    for dir in "$CACHE/extract/$name/lib/systemd/system" "$CACHE/extract/$name/usr/lib/systemd/system"; do
        [ -d "$dir" ] || continue
        cp -a "$dir/." "$CACHE/units.new/"
    done
done
rm -rf "$CACHE/units"
mv "$CACHE/units.new" "$CACHE/units"
count=$(find "$CACHE/units" -maxdepth 1 \( -type f -o -type l \) | wc -l)
echo "$CACHE/units: $count unit files"
