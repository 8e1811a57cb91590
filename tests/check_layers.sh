#!/usr/bin/env bash
# Arrows point down only: cmd -> kubeletplugin, controller -> devmodel, kube, rpc -> cdi -> base.
# The device model (devmodel/) sees cdi/ and base/ only: no gRPC, no API server.
# Fails when a lower layer includes a header of a higher one, or when generated protobuf-c code
# is committed.
set -u
cd "$(dirname "$0")/.."
fail=0
check() { # check <folder> <forbidden folder>...
        local dir=$1; shift
        [ -d "$dir" ] || return 0
        for up in "$@"; do
                hits=$(grep -rnE "#include +\"(\.\./)?$up/" "$dir" --include='*.[ch]' || true)
                if [ -n "$hits" ]; then
                        echo "layer violation: $dir/ includes $up/:"
                        echo "$hits"
                        fail=1
                fi
        done
}
check base rpc kube cdi devmodel kubeletplugin controller cmd
check cdi rpc kube devmodel kubeletplugin controller cmd
check kube rpc cdi devmodel kubeletplugin controller cmd
check rpc kube cdi devmodel kubeletplugin controller cmd
check devmodel rpc kube kubeletplugin controller cmd
check kubeletplugin controller cmd
check controller kubeletplugin cmd
gen=$(git ls-files 2>/dev/null | grep -E '\.pb-c\.(c|h)$|_pb2(_grpc)?\.py$' || true)
if [ -n "$gen" ]; then
        echo "generated code is committed: $gen"
        fail=1
fi
[ $fail -eq 0 ] && echo "layers ok"
exit $fail
