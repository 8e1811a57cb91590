#!/bin/sh
# One command, one table: every benchmark's figures with min/median/max over the runs, the
# target, pass/fail and the ratio to a baseline measured in the same run.
#
#   bench/run.sh [BUILD_DIR] [--smoke] [--runs N] [--markdown]
#
# Runs bench/bench_dra.py (DRA mode), and bench/bench_dp.py (device-plugin mode) and
# bench/bench_controller.py (controller) where they exist; each prints JSON rows (see
# bench/benchlib.py) which bench/table.py joins into the table. --smoke checks that the
# harness works (small sizes, one run), never the speed. Needs root (mknod for mock devices).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
build="$here/../build"
py=/usr/bin/python3
args=""
table_args=""
for a in "$@"; do
        case "$a" in
        --smoke) args="$args --smoke" ;;
        --markdown) table_args="--markdown" ;;
        --runs) args="$args --runs" ;;
        --*) echo "unknown flag $a" >&2; exit 2 ;;
        *) case "$args" in
           *--runs) args="$args $a" ;;
           *) build="$a" ;;
           esac ;;
        esac
done
build=$(cd "$build" && pwd)
out=$(mktemp /tmp/hdbench-rows.XXXXXX)
trap 'rm -f "$out"' EXIT INT TERM
status=0
smoke=false
case "$args" in *--smoke*) smoke=true ;; esac
for b in bench_dra bench_dp bench_controller; do
        [ -f "$here/$b.py" ] || continue
        # The others have their own ctest smoke and take --build-dir and --runs only; their
        # lines that are not JSON rows are printed under the table.
        b_args="$args"
        if [ "$b" != bench_dra ]; then
                $smoke && continue
                b_args=$(echo "$args" | sed 's/--smoke//')
        fi
        # shellcheck disable=SC2086
        if ! $py "$here/$b.py" --build-dir "$build" $b_args >>"$out"; then
                echo "$b failed" >&2
                status=1
        fi
done
echo "machine: $(nproc) cores, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)," \
        "$(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo), Linux $(uname -r)," \
        "load $(cut -d' ' -f1-3 /proc/loadavg)"
$py "$here/table.py" $table_args "$out" || status=1
exit $status
