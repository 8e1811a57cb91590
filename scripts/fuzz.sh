#!/usr/bin/env bash
# Fuzz the parsers of outside bytes with libFuzzer (clang, ASan+UBSan) and keep what it learns.
#
#   scripts/fuzz.sh [SECONDS | --runs N] [TARGET...]
#
# Builds the HOSTDEV_FUZZ variant in build-fuzz/ (HOSTDEV_FUZZ_BUILD overrides), then runs each
# target (default: every tests/fuzz/fuzz_<x>.c; name them as <x>) in one process at low
# priority, for N executions (default 1000000) or SECONDS of wall time, starting from
# tests/fuzz/corpus/<x>/ plus the target's extra seeds (the list CMake writes to
# fuzz_<x>.seeds). New inputs that add coverage are merged into tests/fuzz/corpus/<x>/ with
# libFuzzer's -merge=1; inputs over 64 KiB are dropped and a target keeps at most 200 files.
# A crash (or leak, timeout, out-of-memory) stops that target: the input is minimised and
# kept under build-fuzz/fuzz-work/<x>/; add it to the corpus once fixed so ctest replays it.
# Prints per target: executions, executions per second, corpus size, crashes. Exit status 1
# when any target crashed.
set -euo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
build=${HOSTDEV_FUZZ_BUILD:-$src/build-fuzz}
max_files=200
max_bytes=65536

runs=1000000
seconds=""
targets=()
while [ $# -gt 0 ]; do
        case "$1" in
        --runs)
                runs=${2:?--runs needs a number}
                shift 2
                ;;
        -h | --help)
                sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'
                exit 0
                ;;
        [0-9]*)
                seconds=$1
                shift
                ;;
        *)
                targets+=("$1")
                shift
                ;;
        esac
done
if [ ${#targets[@]} -eq 0 ]; then
        for f in "$src"/tests/fuzz/fuzz_*.c; do
                t=$(basename "$f" .c)
                targets+=("${t#fuzz_}")
        done
fi
for t in "${targets[@]}"; do
        if [ ! -f "$src/tests/fuzz/fuzz_$t.c" ]; then
                echo "fuzz: no target '$t' (tests/fuzz/fuzz_$t.c)" >&2
                exit 2
        fi
done
command -v clang >/dev/null || {
        echo "fuzz: clang is required (scripts/install-deps.sh installs it)" >&2
        exit 2
}

CC=clang cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHOSTDEV_FUZZ=ON \
        >/dev/null
nice -n 10 cmake --build "$build" -j2 --target "${targets[@]/#/fuzz_}" >/dev/null

if [ -n "$seconds" ]; then
        limit=(-max_total_time="$seconds")
else
        limit=(-runs="$runs")
fi
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}

# Keep the corpus small: drop oversized inputs, then the largest ones past the file cap. Files
# with hand-written names (not libFuzzer's 40-hex ones) are seeds someone chose: never dropped.
trim_corpus() {
        local dir=$1
        find "$dir" -maxdepth 1 -type f -regextype egrep -regex '.*/[0-9a-f]{40}' \
                -size +"$max_bytes"c -delete
        local n
        n=$(find "$dir" -maxdepth 1 -type f | wc -l)
        if [ "$n" -gt "$max_files" ]; then
                find "$dir" -maxdepth 1 -type f -regextype egrep -regex '.*/[0-9a-f]{40}' \
                        -printf '%s %p\n' | sort -rn | head -n $((n - max_files)) |
                        cut -d' ' -f2- | xargs -r rm -f
        fi
}

summary=()
crashed=0
for t in "${targets[@]}"; do
        bin=$build/tests/fuzz/fuzz_$t
        corpus=$src/tests/fuzz/corpus/$t
        work=$build/fuzz-work/$t
        rm -rf "$work"
        mkdir -p "$work/new" "$work/seeds" "$work/artifacts" "$corpus"
        # Extra seeds: files and folders named by CMake; a missing one is an error, not a skip.
        while IFS= read -r s; do
                [ -n "$s" ] || continue
                if [ -d "$s" ]; then
                        # Sub-folders may repeat file names: name each copy by its path.
                        while IFS= read -r -d '' f; do
                                rel=${f#"$s"/}
                                cp "$f" "$work/seeds/${rel//\//_}"
                        done < <(find "$s" -type f -size -"$((max_bytes + 1))"c -print0)
                elif [ -f "$s" ]; then
                        cp "$s" "$work/seeds/"
                else
                        echo "fuzz: $t: missing seed $s" >&2
                        exit 2
                fi
        done <"$bin.seeds"
        dict=()
        if [ -f "$src/tests/fuzz/dict/$t.dict" ]; then
                dict=(-dict="$src/tests/fuzz/dict/$t.dict")
        fi
        echo "fuzz: $t: ${limit[*]} (log: $work/fuzz.log)"
        rc=0
        start=$(date +%s.%N)
        nice -n 10 "$bin" "${limit[@]}" "${dict[@]}" -max_len="$max_bytes" -timeout=10 \
                -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$work/artifacts/" \
                "$work/new" "$corpus" "$work/seeds" >"$work/fuzz.log" 2>&1 || rc=$?
        end=$(date +%s.%N)
        execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/fuzz.log")
        if [ -z "$execs" ]; then
                # A crash ends the run before the final stats: take the last status line.
                last=$(grep -Eo '^#[0-9]+' "$work/fuzz.log" | tail -n1 || true)
                execs=${last#\#}
        fi
        rate=$(awk -v n="${execs:-0}" -v a="$start" -v b="$end" \
                'BEGIN { printf "%d", (b > a) ? n / (b - a) : 0 }')
        mapfile -t found < <(find "$work/artifacts" -type f \
                \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \))
        if [ "$rc" -ne 0 ] && [ ${#found[@]} -eq 0 ]; then
                echo "fuzz: $t: libFuzzer failed (exit $rc) without an artifact:" >&2
                tail -n 20 "$work/fuzz.log" >&2
                exit 1
        fi
        for a in "${found[@]}"; do
                crashed=1
                nice -n 10 "$bin" -minimize_crash=1 -runs=20000 -timeout=10 \
                        -exact_artifact_path="$a.min" "$a" >"$a.minimize.log" 2>&1 || true
                [ -f "$a.min" ] || cp "$a" "$a.min"
                echo "fuzz: $t: CRASH $(basename "$a"), minimised: $a.min" >&2
                grep -m3 -E 'ERROR: |runtime error: |SUMMARY: ' "$work/fuzz.log" >&2 || true
        done
        # Merge what adds coverage over the saved corpus, then keep it within the caps.
        nice -n 10 "$bin" -merge=1 -max_len="$max_bytes" -timeout=10 -rss_limit_mb=2048 \
                "$corpus" "$work/new" >"$work/merge.log" 2>&1 || {
                echo "fuzz: $t: merge failed, see $work/merge.log" >&2
                exit 1
        }
        trim_corpus "$corpus"
        files=$(find "$corpus" -maxdepth 1 -type f | wc -l)
        bytes=$(find "$corpus" -maxdepth 1 -type f -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }')
        summary+=("$(printf '%-14s %10s %8s %6s %9s %7s' "$t" "${execs:-?}" "${rate:-?}" \
                "$files" "$bytes" "${#found[@]}")")
done

printf '%-14s %10s %8s %6s %9s %7s\n' target execs exec/s files bytes crashes
printf '%s\n' "${summary[@]}"
exit "$crashed"
