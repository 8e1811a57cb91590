#!/usr/bin/env bash
# The README's main job: install dependencies, build everything, then run the demo of the
# whole flow on the simulated control plane with the seed's mock devices.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
dir=$(scripts/build.sh normal)
echo "built into $dir"
if [ -x tests/demo/run_demo.py ] || [ -f tests/demo/run_demo.py ]; then
        exec /usr/bin/python3 tests/demo/run_demo.py --build-dir "$dir"
fi
echo "demo arrives with the DRA plugin (issue 5); the build above is complete."
