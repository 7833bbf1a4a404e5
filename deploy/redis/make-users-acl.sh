#!/bin/sh
# Write a Redis ACL file (users.acl) for rlexec to stdout, from password files.
#
#   make-users-acl.sh DAEMON_PASSWORD_FILE OPS_PASSWORD_FILE > users.acl
#
# Only SHA-256 hashes of the passwords go into the ACL file ('#<hex>'), so the file
# itself is not a secret worth stealing; the password files are. Trailing newlines of
# a password file are ignored, as rlexec-secret-env ignores them, so both sides agree
# on the bytes. Used by the compose redis service at every start, and once by hand for
# a systemd install (docs/operations.md).
#
# Users:
#   default     off: an unauthenticated connection can do nothing.
#   rlexec      the daemon: streams, strings and hashes under rlexec:*, pub/sub on
#               rlexec:*, transactions; nothing dangerous (no FLUSH*, KEYS, CONFIG, ...).
#   rlexec-ops  people and tools (rlexec ctl): append to the command stream and read
#               everything under rlexec:*; cannot write replies, state or anything else.
set -eu

if [ "$#" -ne 2 ]; then
    echo "usage: make-users-acl.sh DAEMON_PASSWORD_FILE OPS_PASSWORD_FILE > users.acl" >&2
    exit 64
fi

hash_of() {
    if [ ! -r "$1" ]; then
        echo "make-users-acl.sh: cannot read password file $1" >&2
        exit 78
    fi
    secret=$(cat "$1")
    if [ -z "$secret" ]; then
        echo "make-users-acl.sh: password file $1 is empty" >&2
        exit 78
    fi
    printf '%s' "$secret" | sha256sum | cut -d' ' -f1
}

daemon_hash=$(hash_of "$1")
ops_hash=$(hash_of "$2")

echo "user default off resetpass nocommands resetkeys resetchannels"
echo "user rlexec on #$daemon_hash resetkeys ~rlexec:* resetchannels &rlexec:* -@all +@connection +@stream +@string +@hash +@keyspace +@pubsub +@transaction -@dangerous"
echo "user rlexec-ops on #$ops_hash resetkeys %R~rlexec:* %W~rlexec:commands resetchannels &rlexec:* -@all +@connection +@read +xadd +subscribe +psubscribe +unsubscribe +punsubscribe -@dangerous"
