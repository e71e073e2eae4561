#!/usr/bin/env bash
# Runs the benchmark on the embedded stores and on PostgreSQL + Redis, both started here in a
# temporary folder on free loopback ports (Debian packages postgresql and redis-server, which
# tests/run.sh installs) with production durability (fsync on). Both servers stop and the
# folder is removed when the script ends. Arguments are passed to the benchmark; BENCH_BIN
# names an already built benchmark binary (the tests use it), otherwise cargo builds it.
set -euo pipefail
cd "$(dirname "$0")/.."

pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
if [ -z "$pg_bin" ] || ! command -v redis-server >/dev/null 2>&1; then
  echo "bench/postgres-redis.sh: needs Debian's postgresql and redis-server packages (tests/run.sh installs them)" >&2
  exit 1
fi
work=$(mktemp -d)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
[ "$(id -u)" -eq 0 ] && chown postgres "$work"

pg_port=$(free_port)
redis_port=$(free_port)
cleanup() {
  as_pg "$pg_bin/pg_ctl" -D "$work/pg" stop -m fast >/dev/null 2>&1 || true
  [ -f "$work/redis.pid" ] && kill "$(cat "$work/redis.pid")" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

as_pg "$pg_bin/initdb" -D "$work/pg" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
as_pg "$pg_bin/pg_ctl" -D "$work/pg" -l "$work/pg.log" -w start \
  -o "-p $pg_port -c listen_addresses=127.0.0.1 -c unix_socket_directories=$work -c max_connections=100 -c shared_buffers=256MB" >/dev/null
redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no \
  --daemonize yes --pidfile "$work/redis.pid" --dir "$work" >/dev/null
echo "PostgreSQL $("$pg_bin/postgres" --version | awk '{print $3}') and Redis $(redis-server --version | awk '{print $3}' | cut -d= -f2) started on ports $pg_port and $redis_port"

urls=(--postgres "postgres://postgres@127.0.0.1:$pg_port/postgres" --redis "redis://127.0.0.1:$redis_port/")
if [ -n "${BENCH_BIN:-}" ]; then
  "$BENCH_BIN" "${urls[@]}" "$@"
else
  cargo run --release -p passerelle-bench -- "${urls[@]}" "$@"
fi
