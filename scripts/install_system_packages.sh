#!/usr/bin/env bash
# The Debian packages some tests drive for real, installed when this machine lets us:
#   redis-server (>= 7: ACL files, TLS)   prometheus (promtool, the scrape test)
#   docker-compose (compose validation)   shellcheck (deploy scripts)
#   systemd (systemd-analyze, -sysusers, -notify)   openssl (certificates for Redis TLS)
#
#   scripts/install_system_packages.sh            install what is missing if we can
#                                                 (root, or sudo without a password);
#                                                 otherwise say so and exit 0: the tests
#                                                 that need a missing program are skipped
#                                                 with this command in their reason
#   scripts/install_system_packages.sh --require  exit 1 unless every package is there
#   scripts/install_system_packages.sh --check    only report; exit 1 if any is missing
#
# RLEXEC_SYSTEM_PACKAGES=skip makes the default mode do nothing (the Python-only run).
# Used by `make test` and by .ci/run, so both set the machine up the same way.
set -euo pipefail

PACKAGES=(redis-server prometheus docker-compose shellcheck systemd openssl)
mode=${1:-install}
case "$mode" in
    install | --require | --check) ;;
    *) echo "usage: $0 [--require | --check]" >&2; exit 2 ;;
esac

missing=()
if command -v dpkg >/dev/null 2>&1; then
    for pkg in "${PACKAGES[@]}"; do
        dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
    done
else
    missing=("${PACKAGES[@]}")
fi

if [ "${#missing[@]}" -eq 0 ]; then
    echo "system packages: all present (${PACKAGES[*]})"
    exit 0
fi
if [ "$mode" = "--check" ]; then
    echo "system packages: missing ${missing[*]}"
    exit 1
fi
if [ "$mode" = install ] && [ "${RLEXEC_SYSTEM_PACKAGES:-}" = skip ]; then
    echo "system packages: not installing ${missing[*]} (RLEXEC_SYSTEM_PACKAGES=skip);" \
        "the tests that need them are skipped"
    exit 0
fi

sudo=()
can_install=0
if command -v apt-get >/dev/null 2>&1; then
    if [ "$(id -u)" -eq 0 ]; then
        can_install=1
    elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        sudo=(sudo -n)
        can_install=1
    fi
fi

if [ "$can_install" -eq 1 ]; then
    echo "system packages: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    if "${sudo[@]}" apt-get update -q >/dev/null &&
        "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null; then
        exit 0
    fi
    echo "system packages: apt-get failed to install ${missing[*]}" >&2
    [ "$mode" = --require ] && exit 1
    exit 0
fi

why="not root and no password-less sudo"
command -v apt-get >/dev/null 2>&1 || why="no apt-get on this machine"
echo "system packages: missing ${missing[*]} ($why); the tests that need them are skipped." \
    "To run them: sudo $0"
[ "$mode" = --require ] && exit 1
exit 0
