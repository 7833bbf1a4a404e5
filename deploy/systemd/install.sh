#!/bin/sh
# Install rlexec's systemd service files into a root directory (default /).
#
#   deploy/systemd/install.sh [--root DIR] [--with-exchange]
#
# Installs the unit(s), the sysusers.d entry for the dedicated user, the secret-env
# wrapper, the docs, and, only where they do not exist yet, the example configuration
# and freshly generated secrets (the Redis password and the command-signing key,
# root-only). It never overwrites a config or a secret. The Python environment
# (/opt/rlexec/.venv) is created separately, see docs/operations.md.
# scripts/check_deploy.sh runs this into a scratch root and verifies the result with
# systemd-analyze, so what is checked is what gets installed.
set -eu

ROOT=/
WITH_EXCHANGE=0
while [ "$#" -gt 0 ]; do
    case "$1" in
        --root) ROOT=${2:?--root needs a directory}; shift 2 ;;
        --with-exchange) WITH_EXCHANGE=1; shift ;;
        -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
        *) echo "install.sh: unknown argument: $1" >&2; exit 64 ;;
    esac
done

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
R=${ROOT%/}

install -D -m 0644 "$HERE/rlexec.service" "$R/etc/systemd/system/rlexec.service"
if [ "$WITH_EXCHANGE" = 1 ]; then
    install -D -m 0644 "$HERE/rlexec-exchange.service" "$R/etc/systemd/system/rlexec-exchange.service"
fi
install -D -m 0644 "$HERE/rlexec.sysusers" "$R/usr/lib/sysusers.d/rlexec.conf"

# The wrapper runs with the service's own interpreter (Python >= 3.11 for tomllib).
install -d -m 0755 "$R/opt/rlexec/bin" "$R/opt/rlexec/docs"
sed '1s|^#!.*|#!/opt/rlexec/.venv/bin/python|' "$REPO/deploy/bin/secret_env.py" \
    > "$R/opt/rlexec/bin/rlexec-secret-env"
chmod 0755 "$R/opt/rlexec/bin/rlexec-secret-env"
install -m 0644 "$REPO/docs/operations.md" "$R/opt/rlexec/docs/operations.md"

install -d -m 0755 "$R/etc/rlexec"
[ -e "$R/etc/rlexec/rlexec.toml" ] || install -m 0644 "$REPO/deploy/examples/rlexec.toml" "$R/etc/rlexec/rlexec.toml"
if [ "$WITH_EXCHANGE" = 1 ] && [ ! -e "$R/etc/rlexec/exchange.toml" ]; then
    install -m 0644 "$REPO/deploy/examples/exchange.toml" "$R/etc/rlexec/exchange.toml"
fi

# Credentials: readable by root only; systemd hands them to the service (LoadCredential).
install -d -m 0700 "$R/etc/rlexec/credentials"
for name in redis-password command-hmac-key; do
    if [ ! -e "$R/etc/rlexec/credentials/$name" ]; then
        (umask 077 && head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$R/etc/rlexec/credentials/$name")
        echo "install.sh: generated $R/etc/rlexec/credentials/$name (see docs/operations.md)"
    fi
done

if [ "$R" = "" ]; then
    systemd-sysusers /usr/lib/sysusers.d/rlexec.conf
    systemctl daemon-reload
    echo "install.sh: installed; next: create /opt/rlexec/.venv, configure Redis, then systemctl enable --now rlexec"
else
    systemd-sysusers --root="$R" "$R/usr/lib/sysusers.d/rlexec.conf"
fi
