#!/usr/bin/env bash
# Every named size/count limit in the code must appear in docs/limits.md, so the table cannot
# fall behind a new cap. A constant counts as a limit when its name contains MAX or LIMIT, or
# ends in _BYTES or _WORKERS.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
cd "$src"
[ -f docs/limits.md ] || {
        echo "check_limits: docs/limits.md is missing" >&2
        exit 1
}
missing=0
while IFS= read -r line; do
        name=$(sed -E 's/^[^:]+:[0-9]+:#define ([A-Z0-9_]+).*/\1/' <<<"$line")
        if ! grep -q -- "$name" docs/limits.md; then
                echo "check_limits: ${line%%:#define*} defines $name, not listed in docs/limits.md" >&2
                missing=1
        fi
done < <(grep -rnE '^#define [A-Z0-9_]*(MAX|LIMIT)[A-Z0-9_]*\b|^#define [A-Z0-9_]*_(BYTES|WORKERS)\b' \
        --include='*.c' --include='*.h' base rpc cdi kube devmodel kubeletplugin controller cmd)
[ "$missing" -eq 0 ] && echo "check_limits: every named limit is in docs/limits.md"
exit "$missing"
