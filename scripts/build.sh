#!/usr/bin/env bash
# Configure and build one variant: scripts/build.sh [normal|sanitize]. Prints the build dir.
set -euo pipefail
cd "$(dirname "$0")/.."
variant=${1:-normal}
case "$variant" in
normal) dir=build; flags=(-DHOSTDEV_SANITIZE=OFF) ;;
sanitize) dir=build-asan; flags=(-DHOSTDEV_SANITIZE=ON) ;;
*) echo "usage: scripts/build.sh [normal|sanitize]" >&2; exit 2 ;;
esac
cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "${flags[@]}" >&2
cmake --build "$dir" -j"$(nproc)" >&2
echo "$dir"
