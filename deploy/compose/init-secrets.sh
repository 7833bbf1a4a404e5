#!/bin/sh
# Create the secrets docker-compose.yml needs, once, with random values:
#
#   deploy/compose/init-secrets.sh [DIR]      (default: deploy/compose/secrets)
#
#   redis_rlexec_password   the daemon's Redis ACL user 'rlexec'
#   redis_ops_password      the operators' Redis ACL user 'rlexec-ops' (rlexec ctl)
#   grafana_admin_password  Grafana's 'admin'
#   command_hmac_key        the key that signs safety-loosening commands (reset_kill)
#
# Existing files are kept (re-running is safe). The directory is private to you (0700)
# and git-ignored; the files themselves are world-readable (0644) because compose
# bind-mounts them unchanged into containers that run as other users (redis 999,
# rlexec 10001) and non-swarm compose cannot change their owner.
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
DIR=${1:-$HERE/secrets}

install -d -m 0700 "$DIR"

random_secret() {
    # 32 random bytes as 64 hex characters: no quoting problems in any consumer.
    head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n'
}

for name in redis_rlexec_password redis_ops_password grafana_admin_password command_hmac_key; do
    if [ -e "$DIR/$name" ]; then
        echo "init-secrets: keeping existing $DIR/$name"
        continue
    fi
    (umask 022 && random_secret > "$DIR/$name")
    echo "init-secrets: created $DIR/$name"
done
