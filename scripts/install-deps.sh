#!/usr/bin/env bash
# Install everything the build, the tests and the demo need on Debian 12, as root.
# Idempotent: when every package is already installed it changes nothing and touches no mirror.
# kubectl is the one prerequisite it cannot install (see check_kubectl below and the README):
# with --tests (scripts/test.sh) it fails with that message when no usable kubectl is on PATH;
# otherwise (the demo does not need kubectl) it only says so.
set -euo pipefail
for_tests=0
if [ "${1:-}" = "--tests" ]; then
        for_tests=1
fi

# kubectl renders deploy/ (kubectl kustomize). Debian 12's kubernetes-client is kubectl 1.20,
# whose built-in kustomize v2 rejects the kustomization's "labels" field, so it is not enough:
# the tests need kubectl 1.27 or newer (kustomize v5) from the Kubernetes project.
KUBECTL_MIN_MINOR=27
check_kubectl() {
        local v minor
        if ! command -v kubectl >/dev/null; then
                echo "install-deps: kubectl not found. Install kubectl 1.$KUBECTL_MIN_MINOR or newer" \
                        "(https://kubernetes.io/docs/tasks/tools/); Debian 12's kubernetes-client" \
                        "(1.20) is too old for deploy/. See README, Set-up." >&2
                return $for_tests
        fi
        v=$(kubectl version --client -o json 2>/dev/null |
                sed -n 's/.*"minor": *"\([0-9]*\).*/\1/p' | head -n1)
        minor=${v:-0}
        if [ "$minor" -lt "$KUBECTL_MIN_MINOR" ]; then
                echo "install-deps: kubectl 1.${v:-?} is too old: deploy/ needs 1.$KUBECTL_MIN_MINOR or" \
                        "newer (built-in kustomize v5). See README, Set-up." >&2
                return $for_tests
        fi
}

PACKAGES=(
        # build
        build-essential cmake pkg-config
        libgrpc-dev libprotobuf-c-dev protobuf-c-compiler
        libcurl4-openssl-dev libjansson-dev libyaml-dev libmicrohttpd-dev
        # tests (git and clang-format for the lint tests)
        libcmocka-dev valgrind git clang-format
        python3 python3-grpcio python3-grpc-tools python3-pytest python3-jsonschema python3-yaml
        openssl
        # libFuzzer runs of tests/fuzz (scripts/fuzz.sh)
        clang libclang-rt-14-dev libfuzzer-14-dev
        # real container runtime peer for the end-to-end tests and the demo
        podman runc busybox-static
        # scripts/image.sh: a local debian:12 base when no registry is reachable
        debootstrap
)

missing=()
for p in "${PACKAGES[@]}"; do
        if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
                missing+=("$p")
        fi
done
if [ ${#missing[@]} -eq 0 ]; then
        echo "install-deps: all ${#PACKAGES[@]} packages present"
        check_kubectl
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
check_kubectl
