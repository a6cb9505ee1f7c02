#!/usr/bin/env bash
# Starts (or stops) project-local Redis and PostgreSQL on loopback for `demo.sh`, the CLI and `func start`.
#   scripts/local-servers.sh start   # idempotent; prints the connection strings as export lines
#   scripts/local-servers.sh stop
#   scripts/local-servers.sh env     # print the export lines only
# Data lives in .local/ (override with NEXUS_LOCAL_DIR); ports default to 6390 and 5442
# (override with NEXUS_REDIS_PORT / NEXUS_PG_PORT) so a system Redis or PostgreSQL is left alone.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
local_dir="${NEXUS_LOCAL_DIR:-$repo/.local}"
redis_port="${NEXUS_REDIS_PORT:-6390}"
pg_port="${NEXUS_PG_PORT:-5442}"
pg_bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"

as_pg() {
  # PostgreSQL refuses to run as root: drop to the 'postgres' system user when we are root.
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

print_env() {
  echo "export ConnectionStrings__Redis='127.0.0.1:${redis_port}'"
  echo "export ConnectionStrings__Postgres='Host=127.0.0.1;Port=${pg_port};Database=nexus_archive;Username=postgres;Password=postgres'"
}

start() {
  "$repo/scripts/install-prereqs.sh"
  mkdir -p "$local_dir/redis" "$local_dir/pg" "$local_dir/log"
  local pgdata="$local_dir/pg/data"
  if [ "$(id -u)" -eq 0 ]; then
    chown -R postgres:postgres "$local_dir/pg" "$local_dir/log"
    # postgres must be able to reach the data folder through every parent directory.
    if ! runuser -u postgres -- test -x "$local_dir/pg"; then
      echo "The 'postgres' user cannot reach $local_dir; set NEXUS_LOCAL_DIR to a folder it can (e.g. /var/tmp/nexus-archive)." >&2
      exit 1
    fi
  fi

  if ! redis-cli -p "$redis_port" ping >/dev/null 2>&1; then
    redis-server --port "$redis_port" --bind 127.0.0.1 --dir "$local_dir/redis" --daemonize yes \
      --logfile "$local_dir/log/redis.log" --save "" --appendonly no >/dev/null
    for _ in $(seq 50); do redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break; sleep 0.1; done
  fi

  if [ ! -f "$pgdata/PG_VERSION" ]; then
    local pwfile="$local_dir/pg/pwfile"
    echo postgres > "$pwfile"
    [ "$(id -u)" -eq 0 ] && chown postgres:postgres "$pwfile"
    as_pg "$pg_bin/initdb" -D "$pgdata" -U postgres --pwfile="$pwfile" -A scram-sha-256 -E UTF8 --locale=C.UTF-8 >/dev/null
    rm -f "$pwfile"
  fi
  if ! as_pg "$pg_bin/pg_ctl" -D "$pgdata" status >/dev/null 2>&1; then
    as_pg "$pg_bin/pg_ctl" -D "$pgdata" -l "$local_dir/log/postgres.log" -w -t 60 start \
      -o "-p $pg_port -c listen_addresses=127.0.0.1 -c unix_socket_directories=/tmp -c fsync=off -c max_connections=200" >/dev/null
  fi
  PGPASSWORD=postgres psql -h 127.0.0.1 -p "$pg_port" -U postgres -d postgres -tAc \
    "SELECT 1 FROM pg_database WHERE datname = 'nexus_archive'" | grep -q 1 ||
    PGPASSWORD=postgres psql -h 127.0.0.1 -p "$pg_port" -U postgres -d postgres -qc "CREATE DATABASE nexus_archive" >/dev/null
  echo "Redis on 127.0.0.1:${redis_port}, PostgreSQL on 127.0.0.1:${pg_port} (data in $local_dir)" >&2
  print_env
}

stop() {
  redis-cli -p "$redis_port" shutdown nosave >/dev/null 2>&1 || true
  [ -f "$local_dir/pg/data/PG_VERSION" ] && as_pg "$pg_bin/pg_ctl" -D "$local_dir/pg/data" -m fast stop >/dev/null 2>&1 || true
  echo "stopped" >&2
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  env) print_env ;;
  *) echo "usage: $0 start|stop|env" >&2; exit 2 ;;
esac
