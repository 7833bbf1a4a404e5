#!/usr/bin/env bash
# Rebuild the vendored QuickFIX wheel (used only by the FIX interop tests and benchmark).
# QuickFIX's PyPI package compiles the C++ engine from source (~5.5 min on one core), so
# CI installs this prebuilt, stripped wheel instead; other platforms fall back to a source
# build (pip caches the result in ~/.cache/pip/wheels).
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION="${1:-1.16.0}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 -m pip wheel --no-deps "quickfix==$VERSION" -w "$work/built"
python3 -m pip install -q wheel
python3 -m wheel unpack "$work"/built/quickfix-*.whl -d "$work/un"
strip --strip-unneeded "$work"/un/quickfix-*/_quickfix*.so
mkdir -p vendor/wheels
python3 -m wheel pack "$work"/un/quickfix-* -d vendor/wheels
ls -la vendor/wheels
