#!/usr/bin/env bash
# Install (from Debian's packages, when missing) and start PostgreSQL and Redis on 127.0.0.1, with
# their data in the project's .services/ folder (as root, when the `postgres` user cannot reach the
# project, PostgreSQL's data goes under /var/lib/postgresql). Idempotent: running services are left alone.
#   scripts/services.sh start | stop | env
# `env` prints the REFLEX_DB_URL and REFLEX_REDIS_URL to use.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dir="$root/.services"
pg_port="${ECONNECT_PG_PORT:-54329}"
redis_port="${ECONNECT_REDIS_PORT:-63799}"
db_name="${ECONNECT_PG_DATABASE:-econnect}"
db_user=econnect
action="${1:-start}"

print_env() {
  echo "REFLEX_DB_URL=postgresql+psycopg://$db_user@127.0.0.1:$pg_port/$db_name"
  echo "REFLEX_REDIS_URL=redis://127.0.0.1:$redis_port/0"
}

pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }

# PostgreSQL refuses to run as root: as root, run it as the `postgres` user the package creates.
as_pg() { if [[ $(id -u) -eq 0 ]]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi; }

# PostgreSQL's files live in .services/, unless (as root) the `postgres` user cannot reach the
# project, e.g. a clone under /root: then in a folder of its own under /var/lib/postgresql.
pg_home() {
  if [[ $(id -u) -eq 0 ]] && id postgres >/dev/null 2>&1 && ! runuser -u postgres -- test -x "$root" 2>/dev/null; then
    echo "/var/lib/postgresql/econnect-$(printf '%s' "$root" | sha256sum | cut -c1-12)"
  else
    echo "$dir"
  fi
}

install_missing() {
  local missing=()
  [[ -n "$(pg_bin)" ]] || missing+=(postgresql)
  command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
  if ((${#missing[@]})); then
    local sudo_cmd=; [[ $(id -u) -eq 0 ]] || sudo_cmd=sudo
    echo "Installing Debian packages: ${missing[*]}"
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

start_postgres() {
  local bin home; bin="$(pg_bin)"; home="$(pg_home)"
  [[ "$home" == "$dir" ]] || echo "PostgreSQL's data is in $home (the postgres user cannot reach $root)" >&2
  mkdir -p "$home/pg-socket"
  if [[ $(id -u) -eq 0 ]]; then chown postgres "$home" "$home/pg-socket"; [[ -d "$home/pg" ]] && chown -R postgres "$home/pg"; fi
  if "$bin/pg_isready" -q -h 127.0.0.1 -p "$pg_port"; then return; fi
  if [[ ! -f "$home/pg/PG_VERSION" ]]; then
    # Trust authentication on loopback only: a project-local development and test database.
    as_pg "$bin/initdb" -D "$home/pg" -U "$db_user" --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
  fi
  as_pg "$bin/pg_ctl" -D "$home/pg" -l "$home/pg/server.log" -w -t 60 \
    -o "-p $pg_port -k $home/pg-socket -c listen_addresses=127.0.0.1 -c max_connections=200" start >/dev/null
  if ! "$bin/psql" -h 127.0.0.1 -p "$pg_port" -U "$db_user" -d postgres -tAc \
      "SELECT 1 FROM pg_database WHERE datname = '$db_name'" | grep -q 1; then
    "$bin/createdb" -h 127.0.0.1 -p "$pg_port" -U "$db_user" "$db_name"
  fi
}

start_redis() {
  mkdir -p "$dir/redis"
  if redis-cli -h 127.0.0.1 -p "$redis_port" ping >/dev/null 2>&1; then return; fi
  redis-server --bind 127.0.0.1 --port "$redis_port" --dir "$dir/redis" --daemonize yes \
    --save "" --appendonly no --logfile "$dir/redis/server.log" --pidfile "$dir/redis/redis.pid"
  for _ in $(seq 1 50); do redis-cli -h 127.0.0.1 -p "$redis_port" ping >/dev/null 2>&1 && return; sleep 0.1; done
  echo "Redis did not start; see $dir/redis/server.log" >&2; exit 1
}

stop_all() {
  local bin home; bin="$(pg_bin)"; home="$(pg_home)"
  if [[ -n "$bin" && -f "$home/pg/postmaster.pid" ]]; then as_pg "$bin/pg_ctl" -D "$home/pg" -m fast -w stop >/dev/null || true; fi
  redis-cli -h 127.0.0.1 -p "$redis_port" shutdown nosave >/dev/null 2>&1 || true
}

case "$action" in
  start) install_missing; start_postgres; start_redis; print_env ;;
  stop) stop_all ;;
  env) print_env ;;
  *) echo "usage: $0 start|stop|env" >&2; exit 2 ;;
esac
