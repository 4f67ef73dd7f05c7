#!/bin/sh
# tests/pg_server.sh: a private PostgreSQL server for the tests.
#
#   tests/pg_server.sh start DIR          create (first time) and start; prints the libpq URI
#   tests/pg_server.sh stop DIR [MODE]    stop (MODE: fast, the default, or immediate)
#   tests/pg_server.sh uri DIR            prints the libpq URI of the server in DIR
#   tests/pg_server.sh psql DIR ARGS...   runs psql on it (e.g. -Atc 'SELECT 1')
#
# DIR is a folder the caller made (mktemp -d); it gets the cluster (DIR/data),
# the server log (DIR/log) and the Unix socket (DIR/.s.PGSQL.5432). The server
# listens on no TCP port (listen_addresses = ''), so tests running side by side
# never collide. The programs come from `pg_config --bindir`. Run as root, the
# server runs as the `postgres` user (PostgreSQL refuses root): DIR is then
# handed to that user. A second `start` after `stop` restarts the same cluster
# (crash recovery after `stop DIR immediate`).
#
# The cluster is for tests: trust authentication on the private socket,
# locale C (bytewise text order, as SQLite's), fsync off (a killed server
# loses nothing the kernel has; only a power cut would). If DIR is deleted
# while the server runs, the server notices its lock file is gone and exits
# within a minute.
#
# Exit status: 0, or 1 with a message on stderr (and the server log when it
# did not start).
set -eu

port=5432
die() { echo "pg_server.sh: $*" >&2; exit 1; }
usage() { die "usage: $0 start|stop|uri|psql DIR [...]"; }

[ $# -ge 2 ] || usage
cmd=$1
[ -d "$2" ] || die "$2: no such folder"
dir=$(cd "$2" && pwd -P)
shift 2

case "$dir" in
  *[!A-Za-z0-9._/-]*) die "$dir: only letters, digits and . _ / - are allowed in the folder name" ;;
esac
# a Unix socket path holds at most 107 bytes
sock="$dir/.s.PGSQL.$port"
[ ${#sock} -le 107 ] || die "$sock: longer than a Unix socket path may be (107 bytes); use a shorter folder"

command -v pg_config >/dev/null 2>&1 || die "pg_config not found (Debian: libpq-dev)"
bindir=$(pg_config --bindir)
for p in initdb pg_ctl pg_isready psql; do
  [ -x "$bindir/$p" ] || die "$bindir/$p not found (Debian: postgresql)"
done

# the caller's environment must not point libpq or the server elsewhere
unset PGHOST PGHOSTADDR PGPORT PGDATABASE PGUSER PGPASSWORD PGSERVICE PGDATA PGOPTIONS || true

uri="postgresql:///postgres?host=$dir&port=$port&user=postgres"

# as_owner CMD...: runs CMD as the cluster's owner (postgres when we are root),
# from DIR (the owner may not be allowed into the caller's working folder)
as_owner() {
  if [ "$(id -u)" = 0 ]; then
    (cd "$dir" && runuser -u postgres -- "$@")
  else
    (cd "$dir" && "$@")
  fi
}

ready() {
  "$bindir/pg_isready" -q -h "$dir" -p "$port" -d postgres -U postgres -t 10
}

case "$cmd" in
  start)
    if [ "$(id -u)" = 0 ]; then
      id postgres >/dev/null 2>&1 || die "no postgres user (Debian: postgresql creates it)"
      chown postgres "$dir"
      chmod 0700 "$dir"
      runuser -u postgres -- test -w "$dir" ||
        die "$dir: the postgres user cannot reach it (every parent folder needs o+x)"
    fi
    if [ ! -f "$dir/data/PG_VERSION" ]; then
      as_owner "$bindir/initdb" -D "$dir/data" -U postgres -A trust \
        --locale=C -E UTF8 --no-sync >"$dir/initdb.log" 2>&1 ||
        { cat "$dir/initdb.log" >&2; die "initdb failed"; }
      cat >>"$dir/data/postgresql.conf" <<EOF
# tests/pg_server.sh
listen_addresses = ''
unix_socket_directories = '$dir'
port = $port
fsync = off
full_page_writes = off
shared_buffers = 16MB
max_connections = 100
log_min_messages = warning
log_line_prefix = '%m [%p] '
EOF
    fi
    as_owner "$bindir/pg_ctl" -D "$dir/data" -l "$dir/log" -w -t 120 start >/dev/null ||
      { tail -n 30 "$dir/log" >&2 2>/dev/null || true; die "the server did not start"; }
    # pg_ctl -w returns once the postmaster says it accepts connections;
    # pg_isready checks it from the client's side
    ready || { tail -n 30 "$dir/log" >&2 2>/dev/null || true; die "the server does not answer on $sock"; }
    echo "$uri"
    ;;
  stop)
    mode=${1:-fast}
    case "$mode" in
      fast|immediate|smart) ;;
      *) die "$mode: not a stop mode (fast, immediate)" ;;
    esac
    [ -f "$dir/data/postmaster.pid" ] || exit 0
    as_owner "$bindir/pg_ctl" -D "$dir/data" -m "$mode" -w -t 120 stop >/dev/null
    ;;
  uri)
    echo "$uri"
    ;;
  psql)
    "$bindir/psql" -X -v ON_ERROR_STOP=1 "$uri" "$@"
    ;;
  *)
    usage
    ;;
esac
