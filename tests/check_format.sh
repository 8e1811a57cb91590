#!/usr/bin/env bash
# The module sources follow .clang-format (Linux braces, 8-space indent, 100 columns).
# Fails (never skips) when clang-format is missing: scripts/install-deps.sh installs it.
set -u
cd "$(dirname "$0")/.."
if ! command -v clang-format >/dev/null; then
        echo "clang-format not installed: run scripts/install-deps.sh (Debian package clang-format)"
        exit 1
fi
files=$(git ls-files 'base/*.[ch]' 'rpc/*.[ch]' 'cdi/*.[ch]' 'kube/*.[ch]' 'devmodel/*.[ch]' \
        'kubeletplugin/*.[ch]' 'controller/*.[ch]' 'cmd/*.[ch]' 2>/dev/null)
if [ -z "$files" ]; then
        echo "no C sources listed by git ls-files (not a git checkout?)"
        exit 1
fi
# shellcheck disable=SC2086
if ! clang-format --dry-run -Werror $files; then
        echo "run: clang-format -i <file> (config in .clang-format)"
        exit 1
fi
echo "format ok"
