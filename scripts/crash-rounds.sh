#!/usr/bin/env bash
# Crash consistency at scale: N rounds (default 200) of kill -9 at random points (timers and
# failpoints) during bursts of concurrent prepares and unprepares, a restart after each, the
# invariants checked after every restart (tests/e2e/test_crash_consistency.py; CI runs 20).
# Prints the summary: rounds, claims, operations, losses (must be 0), kills per point.
# Usage: scripts/crash-rounds.sh [ROUNDS] [SEED]   (needs root and podman, like the e2e tests;
# uses the normal build, made with scripts/build.sh if missing; HOSTDEV_BUILD_DIR overrides)
set -euo pipefail
cd "$(dirname "$0")/.."
src=$PWD
rounds=${1:-200}
build=${HOSTDEV_BUILD_DIR:-}
if [ -z "$build" ]; then
        build=$src/$(scripts/build.sh normal)
fi
seed=()
[ $# -ge 2 ] && seed=("HOSTDEV_CRASH_SEED=$2")
log=$(mktemp /tmp/crash-rounds.XXXXXX)
rc=0
(cd tests/e2e && env "HOSTDEV_CRASH_ROUNDS=$rounds" "${seed[@]}" \
        "HOSTDEV_BUILD_DIR=$build" "HOSTDEV_SOURCE_DIR=$src" PYTHONDONTWRITEBYTECODE=1 \
        /usr/bin/python3 -m pytest -q -s -p no:cacheprovider test_crash_consistency.py) \
        >"$log" 2>&1 || rc=$?
grep '^crash consistency' "$log" || true
grep -E '^([0-9]+ (passed|failed)|E   )' "$log" | tail -25 || true
if [ "$rc" -ne 0 ]; then
        echo "FAILED (exit $rc); full log: $log"
        exit "$rc"
fi
rm -f "$log"
echo "OK: $rounds rounds, no loss"
