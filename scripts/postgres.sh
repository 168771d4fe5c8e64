# Sourced after scripts/setup.sh: a throwaway PostgreSQL cluster for the tests.
#
#   install_postgres        installs the server (Debian's postgresql) when no initdb is found
#   start_test_postgres     initdb + pg_ctl on a free 127.0.0.1 port in a temporary directory,
#                           exports SLIPWAY_TEST_POSTGRES_URL, and stops it again when the
#                           calling shell exits, whether the tests passed or not
#
# The cluster trusts connections from 127.0.0.1 only and lives only as long as the run.

postgres_bin_dir() {
  local initdb
  initdb="$(command -v initdb 2>/dev/null || true)"
  if [ -z "$initdb" ]; then
    initdb="$(ls -d /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -1 || true)"
  fi
  [ -n "$initdb" ] && dirname "$(readlink -f "$initdb")"
}

install_postgres() {
  if [ -z "$(postgres_bin_dir)" ]; then
    apt_install postgresql
  fi
}

# Runs a PostgreSQL program as the cluster's owner: initdb refuses root, so as
# root the cluster belongs to the `postgres` user the package creates.
as_cluster_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

free_loopback_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

TEST_POSTGRES_DIR=""

stop_test_postgres() {
  if [ -n "$TEST_POSTGRES_DIR" ] && [ -d "$TEST_POSTGRES_DIR" ]; then
    as_cluster_owner "$(postgres_bin_dir)/pg_ctl" -D "$TEST_POSTGRES_DIR/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$TEST_POSTGRES_DIR"
    TEST_POSTGRES_DIR=""
  fi
}

start_test_postgres() {
  local bin port
  bin="$(postgres_bin_dir)"
  TEST_POSTGRES_DIR="$(mktemp -d /tmp/slipway-postgres.XXXXXX)"
  # Stopped however the run ends, so the cluster never outlives it.
  at_exit stop_test_postgres
  if [ "$(id -u)" -eq 0 ]; then
    chown postgres: "$TEST_POSTGRES_DIR"
  fi
  port="$(free_loopback_port)"
  say "starting a throwaway PostgreSQL on 127.0.0.1:$port"
  as_cluster_owner "$bin/initdb" -D "$TEST_POSTGRES_DIR/data" -U postgres -A trust -E UTF8 >/dev/null
  # fsync off: the cluster is thrown away after the run; durability costs only time here.
  as_cluster_owner "$bin/pg_ctl" -D "$TEST_POSTGRES_DIR/data" -l "$TEST_POSTGRES_DIR/log" -w \
    -o "-p $port -k $TEST_POSTGRES_DIR -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300" \
    start >/dev/null
  export SLIPWAY_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:$port/postgres"
}
