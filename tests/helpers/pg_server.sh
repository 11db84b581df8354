#!/usr/bin/env bash
# pg_server.sh - a throw-away PostgreSQL 15 server for the tests: initdb
# into a fresh directory, started with pg_ctl on a Unix socket in that
# directory and on a loopback TCP port, stopped and removed by `stop`.
#
#   pg_server.sh start DIR     DIR must not exist; prints the connection URI
#                              (database "postgres", user "facekit", trusted
#                              on the socket) and, on a second line, the TCP
#                              URI (password "facekit", scram-sha-256)
#   pg_server.sh restart DIR   stops it (fast: sessions are cut) and starts it
#                              again on the same port
#   pg_server.sh stop DIR      stops it (immediate) and removes DIR
#
# PostgreSQL refuses to run as root, and CI runs as root: then the server
# runs as `nobody`, owning DIR. The test configuration trades durability for
# start-up time (fsync off, small buffers): nothing here outlives a test.
# Exit status 77 (ctest's skip) when the server binaries are absent.
set -euo pipefail

BIN=${FK_PG_BIN:-/usr/lib/postgresql/15/bin}
cmd=${1:-}
dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || { echo "usage: $0 start|restart|stop DIR" >&2; exit 2; }

if [ ! -x "$BIN/initdb" ] || [ ! -x "$BIN/pg_ctl" ]; then
  echo "pg_server: no PostgreSQL server binaries in $BIN (install postgresql-15)" >&2
  exit 77
fi

# Runs a server binary as the unprivileged owner of DIR.
as_owner() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u nobody -- "$@"; else "$@"; fi
}

free_port() {
  # A port nobody listens on now; pg_ctl fails cleanly if one steals it.
  local p
  for _ in $(seq 50); do
    p=$((20000 + RANDOM % 30000))
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
  done
  echo "pg_server: no free loopback port" >&2
  return 1
}

start_server() {
  as_owner "$BIN/pg_ctl" -D "$dir/data" -l "$dir/log" -w -t 60 -s start ||
    { echo "pg_server: the server did not start:" >&2; tail -20 "$dir/log" >&2; return 1; }
}

case "$cmd" in
  start)
    [ ! -e "$dir" ] || { echo "pg_server: $dir exists" >&2; exit 2; }
    mkdir -p "$dir"
    chmod 700 "$dir"
    [ "$(id -u)" -eq 0 ] && chown nobody "$dir"
    printf 'facekit\n' >"$dir/pw"
    [ "$(id -u)" -eq 0 ] && chown nobody "$dir/pw"
    as_owner "$BIN/initdb" -D "$dir/data" -U facekit --pwfile="$dir/pw" -E UTF8 --no-locale \
      --auth-local=trust --auth-host=scram-sha-256 --no-sync >"$dir/initdb.log" 2>&1 ||
      { echo "pg_server: initdb failed:" >&2; cat "$dir/initdb.log" >&2; exit 1; }
    port=$(free_port)
    cat >>"$dir/data/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
fsync = off
synchronous_commit = off
full_page_writes = off
shared_buffers = 16MB
max_connections = 50
log_min_messages = warning
EOF
    start_server
    echo "postgresql://facekit@/postgres?host=$dir&port=$port"
    echo "postgresql://facekit:facekit@127.0.0.1:$port/postgres"
    ;;
  restart)
    # fast, not immediate: with synchronous_commit off, a crash-like stop
    # could lose the last commits, which a real server would keep
    as_owner "$BIN/pg_ctl" -D "$dir/data" -m fast -w -s stop || true
    start_server
    ;;
  stop)
    [ -d "$dir/data" ] && as_owner "$BIN/pg_ctl" -D "$dir/data" -m immediate -w -s stop >/dev/null 2>&1 || true
    rm -rf "$dir"
    ;;
  *)
    echo "usage: $0 start|restart|stop DIR" >&2
    exit 2
    ;;
esac
