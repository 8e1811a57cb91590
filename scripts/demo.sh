#!/usr/bin/env bash
# The README's main job: install dependencies, build everything, then run the demo of the
# whole DRA flow on the simulated control plane with the seed's mock devices (scripts/demo.py).
# `scripts/demo.sh --mode device-plugin` shows the same devices through the device-plugin API.
# apt's and the build's output go to a log file whose path is printed; the terminal gets one
# line per phase, and the end of the log when a phase fails.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p build
log="$PWD/build/demo-setup.log"
: >"$log"
echo "demo: set-up output goes to $log"

# phase TITLE COMMAND...: run COMMAND with its output in the log; one line on the terminal.
phase() {
        local title=$1 start=$SECONDS
        shift
        printf 'demo: %s ... ' "$title"
        if "$@" >>"$log" 2>&1; then
                echo "done ($((SECONDS - start)) s)"
                return 0
        fi
        echo "FAILED"
        echo "demo: $title failed; the last 60 lines of $log:" >&2
        tail -n 60 "$log" >&2
        exit 1
}

phase "installing dependencies (scripts/install-deps.sh)" scripts/install-deps.sh
phase "building (scripts/build.sh normal, into build/)" scripts/build.sh normal
exec /usr/bin/python3 scripts/demo.py --build-dir build "$@"
