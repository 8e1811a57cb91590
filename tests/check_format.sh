#!/usr/bin/env bash
# The module sources follow .clang-format (Linux braces, 8-space indent, 100 columns).
# Skips when clang-format is not installed.
set -u
cd "$(dirname "$0")/.."
if ! command -v clang-format >/dev/null; then
        echo "clang-format not installed; skipping"
        exit 0
fi
files=$(git ls-files 'base/*.[ch]' 'rpc/*.[ch]' 'cdi/*.[ch]' 'kube/*.[ch]' 'devmodel/*.[ch]' \
        'kubeletplugin/*.[ch]' 'controller/*.[ch]' 'cmd/*.[ch]' 2>/dev/null)
[ -n "$files" ] || exit 0
# shellcheck disable=SC2086
if ! clang-format --dry-run -Werror $files; then
        echo "run: clang-format -i <file> (config in .clang-format)"
        exit 1
fi
echo "format ok"
