#!/usr/bin/env bash
# Starts every server the test suite uses, on loopback only, if it is not already up:
#   PostgreSQL 127.0.0.1:5432, MariaDB 127.0.0.1:3306, Redis 127.0.0.1:6379,
#   a 3-master Redis Cluster on 127.0.0.1:7000-7002, FerretDB (MongoDB wire protocol) on 127.0.0.1:27017,
#   PgBouncer (transaction pooling, in front of that PostgreSQL; database test_session in
#   session mode) on 127.0.0.1:6432.
# Safe to run again: what is running is left alone. Used by .ci/run; run it by hand as
#   bash scripts/servers.sh            (all)        bash scripts/servers.sh redis-cluster   (one)
set -uo pipefail

FERRETDB_VERSION="${FERRETDB_VERSION:-v1.24.0}"
STATE="${MTSTORE_STATE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/mtstore}"
mkdir -p "$STATE"

log() { printf '[servers] %s\n' "$*"; }

# port_open HOST PORT: true when something accepts TCP connections there.
port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

# wait_for DESCRIPTION SECONDS COMMAND...: polls COMMAND every 0.5 s.
wait_for() {
  local what=$1 seconds=$2; shift 2
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then log "$what did not come up within ${seconds}s"; return 1; fi
    sleep 0.5
  done
}

postgres() {
  if ! pg_isready -q -h 127.0.0.1 -p 5432; then
    log "starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
    wait_for PostgreSQL 60 pg_isready -q -h 127.0.0.1 -p 5432 || return 1
  fi
  if ! psql -h 127.0.0.1 -U postgres -tAc "select 1 from pg_database where datname = 'test'" | grep -q 1; then
    psql -h 127.0.0.1 -U postgres -c 'create database test' >/dev/null
  fi
  compact_catalog
  log "PostgreSQL ready on 127.0.0.1:5432"
}

# Every test makes and drops schemas of its own: thousands a run. Their catalog rows stay
# behind as dead space that autovacuum frees but never gives back, and lookups and DDL
# walk it: on a machine where tests had run all day (pg_attribute at 291 MB) the
# postgres-backed packages ran 20-40% longer. Rewritten here, before any test runs,
# once the catalog passes 64 MB (a fresh one is ~10 MB; it takes seconds).
compact_catalog() {
  local size
  size=$(psql -h 127.0.0.1 -U postgres -d test -tAc "select sum(pg_total_relation_size(oid)) from pg_class where relnamespace = 'pg_catalog'::regnamespace and relkind = 'r'" 2>/dev/null) || return 0
  if [[ "${size:-0}" -gt $((64 * 1024 * 1024)) ]]; then
    log "compacting the test database's catalog ($((size / 1024 / 1024)) MB of schemas made and dropped by tests)"
    psql -h 127.0.0.1 -U postgres -d test -qc 'VACUUM FULL pg_catalog.pg_attribute, pg_catalog.pg_depend, pg_catalog.pg_class, pg_catalog.pg_constraint, pg_catalog.pg_type, pg_catalog.pg_index, pg_catalog.pg_trigger, pg_catalog.pg_attrdef, pg_catalog.pg_namespace, pg_catalog.pg_sequence, pg_catalog.pg_statistic, pg_catalog.pg_shdepend' >/dev/null || true
  fi
}

mariadb_up() { mariadb-admin -h 127.0.0.1 -P 3306 -u root ping; }
mariadb() {
  if ! mariadb_up >/dev/null 2>&1; then
    log "starting MariaDB"
    start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd || true
    wait_for MariaDB 60 mariadb_up || return 1
  fi
  command mariadb -h 127.0.0.1 -P 3306 -u root -e 'create database if not exists test'
  log "MariaDB ready on 127.0.0.1:3306"
}

redis_up() { [ "$(redis-cli -h 127.0.0.1 -p "$1" ping 2>/dev/null)" = PONG ]; }
redis() {
  if ! redis_up 6379; then
    log "starting Redis"
    mkdir -p /var/lib/redis /var/log/redis
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
      --dir /var/lib/redis --logfile /var/log/redis/ci.log || true
    wait_for Redis 30 redis_up 6379 || return 1
  fi
  log "Redis ready on 127.0.0.1:6379"
}

cluster_ok() { redis-cli -h 127.0.0.1 -p 7000 cluster info 2>/dev/null | grep -q 'cluster_state:ok'; }
redis_cluster() {
  if cluster_ok; then log "Redis Cluster ready on 127.0.0.1:7000-7002"; return 0; fi
  local dir="$STATE/redis-cluster"
  for port in 7000 7001 7002; do
    if ! redis_up "$port"; then
      # A node that ran before remembers an old cluster: start from an empty node.
      rm -rf "${dir:?}/$port"; mkdir -p "$dir/$port"
      redis-server --daemonize yes --bind 127.0.0.1 --port "$port" --cluster-enabled yes \
        --cluster-config-file "$dir/$port/nodes.conf" --cluster-node-timeout 5000 \
        --save "" --appendonly no --dir "$dir/$port" --logfile "$dir/$port/redis.log" || true
      wait_for "Redis node $port" 30 redis_up "$port" || return 1
    fi
  done
  if ! cluster_ok; then
    # Nodes that hold no slots yet: reset them so `--cluster create` accepts them.
    for port in 7000 7001 7002; do redis-cli -h 127.0.0.1 -p "$port" cluster reset hard >/dev/null 2>&1 || true; done
    redis-cli --cluster create 127.0.0.1:7000 127.0.0.1:7001 127.0.0.1:7002 --cluster-replicas 0 --cluster-yes >/dev/null || return 1
    wait_for "Redis Cluster" 30 cluster_ok || return 1
  fi
  log "Redis Cluster ready on 127.0.0.1:7000-7002"
}

# FerretDB v1 from the Go module proxy. `go install …@version` cannot be used as is:
# the proxy answers 403 for the module's version list (needed for the deprecation
# check), and the module zip ships an empty build/version/version.txt, so the binary
# panics at start. We fetch the module into a scratch module, write version.txt and
# build from that copy.
# Known limit of FerretDB 1.x (SQLite backend): one `update` command of ~100+
# statements holds a connection per statement and can hang its database; the mongo
# adapter never sends one (see packages/mongo/README.md).
ferretdb_bin="$STATE/ferretdb-$FERRETDB_VERSION/ferretdb"
build_ferretdb() {
  local go=/usr/local/go/bin/go
  command -v go >/dev/null 2>&1 && go=$(command -v go)
  [ -x "$go" ] || { log "Go is not installed (looked for /usr/local/go/bin/go)"; return 1; }
  local work; work=$(mktemp -d)
  log "building FerretDB $FERRETDB_VERSION with $($go version | cut -d' ' -f3) (about 2 minutes)"
  (
    set -e
    cd "$work"
    "$go" mod init ferretdb-build >/dev/null 2>&1
    # Resolving the command package records go.sum entries for everything it imports.
    "$go" get "github.com/FerretDB/FerretDB/cmd/ferretdb@$FERRETDB_VERSION" >/dev/null 2>&1
    src=$("$go" list -m -f '{{.Dir}}' github.com/FerretDB/FerretDB)
    cp -r "$src" ferretdb-src && chmod -R u+w ferretdb-src
    echo "$FERRETDB_VERSION" > ferretdb-src/build/version/version.txt
    "$go" mod edit -replace github.com/FerretDB/FerretDB=./ferretdb-src
    mkdir -p "$(dirname "$ferretdb_bin")"
    "$go" build -o "$ferretdb_bin" github.com/FerretDB/FerretDB/cmd/ferretdb
  ) || { log "FerretDB build failed (work dir $work)"; return 1; }
  rm -rf "$work"
}

# Each test namespace is a FerretDB database (mt_ and 10 hex digits, one SQLite file
# each), dropped by its test; a run that died leaves them behind. One failed run left 387
# (418 MB) and FerretDB, which lists them on many commands, got slower. Their files are
# removed while FerretDB is stopped: those untouched for an hour (a test run in progress
# keeps its own recent). A FerretDB this script started is restarted for it when more
# than 50 are there; one started otherwise (a real MongoDB on the port) is left alone.
stale_ferretdb_dbs() {
  find "$STATE/ferretdb-data" -maxdepth 1 -regextype posix-extended -regex '.*/mt_[0-9a-f]{10}\.sqlite' -mmin +60 2>/dev/null
}
tidy_ferretdb() {
  # Listed before FerretDB stops: stopping checkpoints their logs, which makes them look new.
  local stale count file
  stale=$(stale_ferretdb_dbs)
  count=$(printf '%s' "$stale" | grep -c .)
  [ "$count" -gt 0 ] || return 0
  if port_open 127.0.0.1 27017; then
    [ "$count" -gt 50 ] && pgrep -f "^$ferretdb_bin " >/dev/null || return 0
    log "stopping FerretDB to remove $count test databases left by runs that died"
    pkill -f "^$ferretdb_bin " && wait_for "FerretDB to stop" 30 bash -c '! (exec 3<>/dev/tcp/127.0.0.1/27017) 2>/dev/null' || return 0
  else
    log "removing $count test databases left by runs that died"
  fi
  while IFS= read -r file; do rm -f "$file" "$file-wal" "$file-shm"; done <<<"$stale"
}

ferretdb() {
  tidy_ferretdb
  if port_open 127.0.0.1 27017; then log "FerretDB (or MongoDB) already listening on 127.0.0.1:27017"; return 0; fi
  [ -x "$ferretdb_bin" ] || build_ferretdb || return 1
  local data="$STATE/ferretdb-data"
  mkdir -p "$data"
  log "starting FerretDB $FERRETDB_VERSION (SQLite backend in $data)"
  # synchronous(normal): in FerretDB's WAL mode a commit no longer waits for an fsync (a
  # checkpoint still does). A test server only: the tests kill clients, never the
  # server, and MongoDB itself acknowledges w:1 writes before its journal is on disk.
  nohup "$ferretdb_bin" --handler=sqlite --sqlite-url="file:$data/?_pragma=synchronous(normal)" --state-dir="$data" \
    --listen-addr=127.0.0.1:27017 --debug-addr=127.0.0.1:8089 --telemetry=disable \
    --log-level=warn >"$STATE/ferretdb.log" 2>&1 &
  wait_for FerretDB 60 port_open 127.0.0.1 27017 || { tail -n 20 "$STATE/ferretdb.log"; return 1; }
  log "FerretDB ready on 127.0.0.1:27017"
}

# PgBouncer in transaction pooling mode in front of the PostgreSQL above, as managed
# "poolers" run it (Supabase's port 6543, Heroku's and DigitalOcean's pools), for
# packages/postgres/test/pgbouncer.test.ts. Debian's package (1.18, before PgBouncer
# tracked prepared statements) is installed when missing; its own service is never used:
# ours runs from $STATE/pgbouncer (config, auth_file, pid, log), trust auth, loopback only.
PGBOUNCER_PORT=6432
pgbouncer_up() { psql -h 127.0.0.1 -p "$PGBOUNCER_PORT" -U postgres -d test -tAc 'select 1' 2>/dev/null | grep -q 1; }
pgbouncer_server() {
  if pgbouncer_up; then log "PgBouncer ready on 127.0.0.1:$PGBOUNCER_PORT"; return 0; fi
  if port_open 127.0.0.1 "$PGBOUNCER_PORT"; then log "something that is not a working PgBouncer holds 127.0.0.1:$PGBOUNCER_PORT: left alone"; return 1; fi
  # type -P: the binary, never this script's functions.
  local bin
  bin=$(type -P pgbouncer || { [ -x /usr/sbin/pgbouncer ] && echo /usr/sbin/pgbouncer; })
  if [ -z "$bin" ]; then
    command -v apt-get >/dev/null 2>&1 || { log "PgBouncer is not installed and there is no apt-get"; return 1; }
    log "installing PgBouncer (Debian package)"
    # An image whose package lists were cleaned knows no pgbouncer: update them once then.
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends pgbouncer >"$STATE/pgbouncer-apt.log" 2>&1 ||
      { DEBIAN_FRONTEND=noninteractive apt-get update -q >>"$STATE/pgbouncer-apt.log" 2>&1 &&
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends pgbouncer >>"$STATE/pgbouncer-apt.log" 2>&1; } ||
      { tail -n 5 "$STATE/pgbouncer-apt.log"; log "PgBouncer could not be installed"; return 1; }
  fi
  bin=${bin:-/usr/sbin/pgbouncer}
  local dir="$STATE/pgbouncer"
  mkdir -p "$dir"
  printf '"postgres" ""\n' >"$dir/userlist.txt"
  # max_db_connections bounds what the pooler takes from PostgreSQL's 100 connections,
  # shared with every other package's tests; the kit's many small pools queue on it.
  cat >"$dir/pgbouncer.ini" <<INI
[databases]
; test_session: the same database through a session-mode pool (what the event bus needs).
test_session = host=127.0.0.1 port=5432 dbname=test pool_mode=session
* = host=127.0.0.1 port=5432
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $PGBOUNCER_PORT
unix_socket_dir =
pool_mode = transaction
auth_type = trust
auth_file = $dir/userlist.txt
admin_users = postgres
max_client_conn = 1000
default_pool_size = 20
max_db_connections = 20
; Tests connect thousands of times a run: a line for each would fill the log.
log_connections = 0
log_disconnections = 0
INI
  local as=()
  # PgBouncer refuses to run as root: it takes the identity of postgres once it has read
  # its config and auth_file, so it could not open a log or pid file under a home that is
  # 0700. It runs in the foreground (no logfile, no pidfile: it logs to stderr) and this
  # shell, still root, writes both.
  [ "$(id -u)" = 0 ] && as=(-u postgres)
  log "starting PgBouncer (transaction pooling, $dir)"
  nohup "$bin" "${as[@]}" "$dir/pgbouncer.ini" >"$dir/pgbouncer.log" 2>&1 &
  echo $! >"$dir/pgbouncer.pid"
  wait_for PgBouncer 30 pgbouncer_up || { tail -n 20 "$dir/pgbouncer.log"; return 1; }
  log "PgBouncer ready on 127.0.0.1:$PGBOUNCER_PORT"
}

status=0
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(postgres mariadb redis redis-cluster ferretdb pgbouncer)
for target in "${targets[@]}"; do
  case "$target" in
    postgres) postgres || status=1 ;;
    mariadb) mariadb || status=1 ;;
    redis) redis || status=1 ;;
    redis-cluster) redis_cluster || status=1 ;;
    ferretdb) ferretdb || status=1 ;;
    pgbouncer) pgbouncer_server || status=1 ;;
    *) log "unknown server: $target"; status=1 ;;
  esac
done
exit $status
