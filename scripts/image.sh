#!/usr/bin/env bash
# Build the container image with podman: scripts/image.sh [--quiet]
#
# Output: the local image dra-driver-hostdev:<version> (podman names it
# localhost/dra-driver-hostdev:<version>) and an OCI archive of it,
# build/image/dra-driver-hostdev-<version>.oci.tar, for `ctr -n k8s.io images import` on a node
# (or `skopeo copy oci-archive:... docker://REGISTRY/...` to push). <version> is the CMake
# project version.
#
# Base image: docker.io/library/debian:12 when it is in local storage or can be pulled.
# Otherwise (no registry reachable) the script makes localhost/debian:12 with
# `debootstrap --variant=minbase bookworm` from the Debian mirror ($DEBIAN_MIRROR, default
# http://deb.debian.org/debian) and `podman import`, once: later runs reuse it, and podman's
# layer cache reuses the apt layers of both stages while the base stays the same.
#
# Environment: DEBIAN_MIRROR, BASE_IMAGE (use this base as is, no pull, no debootstrap).
# Needs root (podman's rootful storage, debootstrap).
set -euo pipefail
cd "$(dirname "$0")/.."
quiet=0
if [ "${1:-}" = "--quiet" ]; then
        quiet=1
fi

say() { echo "image: $*" >&2; }
die() { echo "image: $*" >&2; exit 1; }

version=$(sed -n 's/^project(dra-driver-hostdev VERSION \([0-9][0-9.]*\).*/\1/p' CMakeLists.txt)
[ -n "$version" ] || die "no project VERSION in CMakeLists.txt"
image=localhost/dra-driver-hostdev:$version
out_dir=build/image
archive=$out_dir/dra-driver-hostdev-$version.oci.tar
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
security_mirror=${DEBIAN_SECURITY_MIRROR:-${mirror%/debian}/debian-security}
official=docker.io/library/debian:12
local_base=localhost/debian:12

command -v podman >/dev/null || die "podman not found: run scripts/install-deps.sh"
[ "$(id -u)" -eq 0 ] || die "run as root (rootful podman storage, debootstrap)"

# debootstrap_base: localhost/debian:12 from the Debian mirror, with the same apt sources
# (bookworm, bookworm-updates, bookworm-security) as the official image.
debootstrap_base() {
        command -v debootstrap >/dev/null || die "debootstrap not found: run scripts/install-deps.sh"
        local root
        root=$(mktemp -d /var/tmp/hostdev-debian12.XXXXXX)
        # shellcheck disable=SC2064
        trap "rm -rf '$root'" EXIT
        say "no $official: making $local_base with debootstrap (minbase) from $mirror"
        local log=$root.log
        if ! debootstrap --variant=minbase bookworm "$root/rootfs" "$mirror" >"$log" 2>&1; then
                cat "$log" >&2
                rm -f "$log"
                die "debootstrap failed"
        fi
        rm -f "$log"
        rm -f "$root/rootfs/etc/apt/sources.list"
        cat >"$root/rootfs/etc/apt/sources.list.d/debian.sources" <<SOURCES
Types: deb
URIs: $mirror
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $security_mirror
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES
        rm -rf "$root/rootfs/var/cache/apt/archives/"*.deb "$root/rootfs/var/lib/apt/lists/"* \
                "$root/rootfs/var/log/"*.log "$root/rootfs/var/log/apt" "$root/rootfs/root/.bash_history"
        # No hostname, resolv.conf or hosts of this machine in the image: the runtime mounts them.
        : >"$root/rootfs/etc/hostname"
        rm -f "$root/rootfs/etc/resolv.conf"
        tar -C "$root/rootfs" --numeric-owner -cf "$root/rootfs.tar" .
        podman import --quiet --change 'CMD ["bash"]' \
                --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
                --message "debootstrap --variant=minbase bookworm $mirror" \
                "$root/rootfs.tar" "$local_base" >/dev/null
        rm -rf "$root"
        trap - EXIT
}

start=$(date +%s)
if [ -n "${BASE_IMAGE:-}" ]; then
        base=$BASE_IMAGE
elif podman image exists "$official"; then
        base=$official
elif podman image exists "$local_base"; then
        base=$local_base
        say "reusing $local_base (made with debootstrap)"
elif timeout 60 podman pull --quiet "$official" >/dev/null 2>&1; then
        base=$official
else
        debootstrap_base
        base=$local_base
fi
say "base $base, building $image"

build_log=$(mktemp /var/tmp/hostdev-image-build.XXXXXX)
trap 'rm -f "$build_log"' EXIT
# Host network: the build stages run apt against the Debian mirror. runc: this host's runtime.
build=(podman build --pull=never --network host --runtime runc --layers
        --build-arg "BASE_IMAGE=$base" --build-arg "VERSION=$version"
        -f Containerfile -t "$image" .)
if [ $quiet -eq 1 ]; then
        if ! "${build[@]}" >"$build_log" 2>&1; then
                cat "$build_log" >&2
                die "podman build failed"
        fi
else
        "${build[@]}" >&2
fi
mkdir -p "$out_dir"
rm -f "$archive"
podman save --quiet --format oci-archive -o "$archive.tmp" "$image"
# podman names the image only in org.opencontainers.image.ref.name; containerd's importer keeps
# such a full name only with --base-name, so the index also carries containerd's own
# annotation: a plain `ctr -n k8s.io images import FILE` then names the image $image.
python3 - "$archive.tmp" "$archive" "$image" <<'PY'
import io, json, sys, tarfile
src, dst, name = sys.argv[1:]
with tarfile.open(src) as tin, tarfile.open(dst + ".part", "w") as tout:
    for m in tin.getmembers():
        data = tin.extractfile(m) if m.isfile() else None
        if m.name == "index.json":
            index = json.load(data)
            for d in index["manifests"]:
                d.setdefault("annotations", {})["io.containerd.image.name"] = name
            raw = json.dumps(index, separators=(",", ":")).encode()
            m.size = len(raw)
            data = io.BytesIO(raw)
        tout.addfile(m, data)
PY
mv "$archive.part" "$archive"
rm -f "$archive.tmp"
end=$(date +%s)

# Sizes: the whole image, what the runtime stage adds on top of the base, the archive.
image_bytes=$(podman image inspect --format '{{.Size}}' "$image")
base_bytes=$(podman image inspect --format '{{.Size}}' "$base")
say "built $image in $((end - start)) s"
say "image $((image_bytes / 1000000)) MB uncompressed; runtime layers above the base" \
        "$(((image_bytes - base_bytes) / 1000000)) MB; base $((base_bytes / 1000000)) MB"
say "archive $archive $(($(stat -c %s "$archive") / 1000000)) MB"
echo "$image"
