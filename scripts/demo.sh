#!/usr/bin/env bash
# The README's main job: install dependencies, build everything, then run the demo of the
# whole DRA flow on the simulated control plane with the seed's mock devices (scripts/demo.py).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
dir=$(scripts/build.sh normal)
exec /usr/bin/python3 scripts/demo.py --build-dir "$dir"
