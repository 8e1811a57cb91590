#!/usr/bin/env bash
# Install everything the build, the tests and the demo need on Debian 12, as root.
# Idempotent: when every package is already installed it changes nothing and touches no mirror.
set -euo pipefail

PACKAGES=(
        # build
        build-essential cmake pkg-config
        libgrpc-dev libprotobuf-c-dev protobuf-c-compiler
        libcurl4-openssl-dev libjansson-dev libyaml-dev libmicrohttpd-dev
        # tests
        libcmocka-dev valgrind
        python3 python3-grpcio python3-grpc-tools python3-pytest python3-jsonschema python3-yaml
        openssl
        # libFuzzer runs of tests/fuzz (scripts/fuzz.sh)
        clang libclang-rt-14-dev libfuzzer-14-dev
        # real container runtime peer for the end-to-end tests and the demo
        podman runc busybox-static
)

missing=()
for p in "${PACKAGES[@]}"; do
        if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
                missing+=("$p")
        fi
done
if [ ${#missing[@]} -eq 0 ]; then
        echo "install-deps: all ${#PACKAGES[@]} packages present"
        exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
        SUDO="sudo"
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# With Recommends: podman needs some of them (catatonit, network plugins, overlay
# helpers), and this is the set the tests were run against.
$SUDO apt-get install -y -qq "${missing[@]}" </dev/null
