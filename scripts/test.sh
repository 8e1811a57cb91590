#!/usr/bin/env bash
# The README's test command: install dependencies, then build twice (normal and with
# ASan+UBSan) and run the whole suite (cmocka unit tests, simulator self-tests, end-to-end
# tests with real podman) on both builds. At the end it prints every skipped test with its
# reason and fails when a reason is not on SKIP_ALLOWED below, and when the run left files
# behind in /tmp.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --tests

# The only reasons a test may skip: true on every machine, never "a tool or file is missing"
# (that is a failure). Extended regular expressions matched against the whole reason.
SKIP_ALLOWED=(
        # ASan and valgrind do not mix: the valgrind tests run on the normal build.
        "valgrind runs on the normal build only"
)

# Sanitizer settings for every test binary: fail on the first UBSan report, find leaks.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

# skips <ctest log> <ctest console output>: one "<ctest test>\t<count>\t<reason>" line per
# skip reason: pytest's -rs summary ("SKIPPED [n] file:line: reason"), cmocka's
# "[  SKIPPED ] name" and tests ctest itself did not run.
skips() {
        awk '
                / Testing: / { t = $NF; next }
                /^SKIPPED \[[0-9]+\] / {
                        n = $2; gsub(/[][]/, "", n)
                        r = $0; sub(/^SKIPPED \[[0-9]+\] [^ ]*: /, "", r)
                        print t "\t" n "\t" r; next
                }
                /^\[  SKIPPED \] / { print t "\t1\tcmocka: " $4; next }
        ' "$1"
        sed -nE 's/^ *[0-9]+\/[0-9]+ Test +#[0-9]+: ([^ ]+) .*\*\*\*(Skipped|Not Run( \([A-Za-z]+\))?).*$/\1\t1\tctest: \2/p' "$2"
}

allowed() {
        local r=$1 a
        for a in "${SKIP_ALLOWED[@]}"; do
                if [[ $r =~ ^($a)$ ]]; then
                        return 0
                fi
        done
        return 1
}

tmp_before=$(mktemp)
tmp_after=$(mktemp)
ctest_out=$(mktemp)
trap 'rm -f "$tmp_before" "$tmp_after" "$ctest_out"' EXIT
ls -A /tmp | sort >"$tmp_before"

status=0
summary=()
for variant in normal sanitize; do
        echo "=== $variant build ==="
        dir=$(scripts/build.sh "$variant")
        echo "=== $variant tests ($dir) ==="
        if ! ctest --test-dir "$dir" --output-on-failure -j"$(nproc)" --timeout 900 |
                tee "$ctest_out"; then
                status=1
        fi
        log=$dir/Testing/Temporary/LastTest.log
        if [ ! -f "$log" ]; then
                summary+=("$variant: no ctest log $log")
                status=1
                continue
        fi
        total=0
        while IFS=$'\t' read -r test count reason; do
                total=$((total + count))
                if allowed "$reason"; then
                        summary+=("$variant: $count skipped in $test: $reason (allowed)")
                else
                        summary+=("$variant: $count skipped in $test: $reason (NOT ALLOWED)")
                        status=1
                fi
        done < <(skips "$log" "$ctest_out")
        summary+=("$variant: $total skipped in all")
done

# Nothing left behind: every entry the run added to /tmp is a failure (run the suite alone).
ls -A /tmp | sort >"$tmp_after"
left=$(comm -13 "$tmp_before" "$tmp_after" | grep -vxF -e "$(basename "$tmp_before")" \
        -e "$(basename "$tmp_after")" -e "$(basename "$ctest_out")" |
        grep -vE '^(systemd-private-|\.X[0-9]+-lock$|\.[A-Za-z0-9]+-unix$)' || true)

echo "=== skipped tests ==="
printf '%s\n' "${summary[@]}"
if [ -n "$left" ]; then
        echo "=== left behind in /tmp ==="
        sed 's|^|/tmp/|' <<<"$left"
        status=1
fi
exit $status
