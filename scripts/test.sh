#!/usr/bin/env bash
# The README's test command: install dependencies, then build twice (normal and with
# ASan+UBSan) and run the whole suite (cmocka unit tests, simulator self-tests, end-to-end
# tests with real podman) on both builds.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh

# Sanitizer settings for every test binary: fail on the first UBSan report, find leaks.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

status=0
for variant in normal sanitize; do
        echo "=== $variant build ==="
        dir=$(scripts/build.sh "$variant")
        echo "=== $variant tests ($dir) ==="
        if ! ctest --test-dir "$dir" --output-on-failure -j"$(nproc)" --timeout 900; then
                status=1
        fi
done
exit $status
