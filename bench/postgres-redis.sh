#!/usr/bin/env bash
# Runs the benchmark on the embedded stores and on PostgreSQL + Redis, both started here in a
# temporary folder on free loopback ports (Debian packages postgresql and redis-server, which
# tests/run.sh installs) with production durability (fsync on). Both servers stop and the
# folder is removed when the script ends; BENCH_PG_TLS=1 runs PostgreSQL over TLS (verify-full),
# BENCH_REDIS_REPLICA=1 gives Redis a replica that every write waits for.
# Arguments are passed to the benchmark; BENCH_BIN
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
  [ -f "$work/replica.pid" ] && kill "$(cat "$work/replica.pid")" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

as_pg "$pg_bin/initdb" -D "$work/pg" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
pg_options="-p $pg_port -c listen_addresses=127.0.0.1 -c unix_socket_directories=$work -c max_connections=100 -c shared_buffers=256MB"
pg_host=127.0.0.1
pg_query=""
# BENCH_PG_TLS=1: PostgreSQL over TLS only, its certificate (for localhost) signed by an
# authority made here, and Passerelle checking it (sslmode=verify-full).
if [ "${BENCH_PG_TLS:-}" = 1 ]; then
  quiet() { "$@" >/dev/null 2>&1; }
  quiet openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout "$work/ca.key" -out "$work/ca.pem" -days 2 -subj "/CN=bench CA"
  quiet openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout "$work/pg/server.key" -out "$work/server.csr" -subj "/CN=localhost"
  printf 'subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\n' > "$work/server.ext"
  quiet openssl x509 -req -in "$work/server.csr" -CA "$work/ca.pem" -CAkey "$work/ca.key" \
    -CAcreateserial -out "$work/pg/server.pem" -days 2 -extfile "$work/server.ext"
  [ "$(id -u)" -eq 0 ] && chown postgres "$work/pg/server.key" "$work/pg/server.pem"
  chmod 600 "$work/pg/server.key"
  printf 'local all all trust\nhostssl all all 127.0.0.1/32 trust\n' > "$work/pg/pg_hba.conf"
  pg_options="$pg_options -c ssl=on -c ssl_cert_file=server.pem -c ssl_key_file=server.key"
  pg_host=localhost
  pg_query="?sslmode=verify-full&sslrootcert=$work/ca.pem"
fi
as_pg "$pg_bin/pg_ctl" -D "$work/pg" -l "$work/pg.log" -w start -o "$pg_options" >/dev/null
redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no \
  --daemonize yes --pidfile "$work/redis.pid" --dir "$work" >/dev/null
# BENCH_REDIS_REPLICA=1: a replica of that Redis too, and every write of Passerelle waits for
# it (sessions.wait_replicas = 1).
if [ "${BENCH_REDIS_REPLICA:-}" = 1 ]; then
  replica_port=$(free_port)
  redis-server --port "$replica_port" --bind 127.0.0.1 --save "" --appendonly no \
    --replicaof 127.0.0.1 "$redis_port" --dbfilename replica.rdb \
    --daemonize yes --pidfile "$work/replica.pid" --dir "$work" >/dev/null
  until redis-cli -p "$replica_port" info replication | grep -q master_link_status:up; do sleep 0.1; done
  export PASSERELLE__SESSIONS__WAIT_REPLICAS=1
fi
echo "PostgreSQL $("$pg_bin/postgres" --version | awk '{print $3}') and Redis $(redis-server --version | awk '{print $3}' | cut -d= -f2) started on ports $pg_port and $redis_port"

urls=(--postgres "postgres://postgres@$pg_host:$pg_port/postgres$pg_query" --redis "redis://127.0.0.1:$redis_port/")
if [ -n "${BENCH_BIN:-}" ]; then
  "$BENCH_BIN" "${urls[@]}" "$@"
else
  cargo run --release -p passerelle-bench -- "${urls[@]}" "$@"
fi
