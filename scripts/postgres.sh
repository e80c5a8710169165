# Sourced by scripts/test.sh and scripts/bench.sh (which define `step`).
# A throw-away PostgreSQL for the store suite and the multi-instance tests: Debian's server on a
# temporary directory and a free loopback port, trust authentication, stopped and deleted on
# exit (also on failure). The server refuses to run as root, so as root it runs as `postgres`.
pg_dir=""
as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
pg_bindir() {
  local initdb
  initdb=$(ls -d /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -n 1)
  [ -n "$initdb" ] || initdb=$(command -v initdb || true)
  [ -n "$initdb" ] && dirname "$(readlink -f "$initdb")"
}
stop_postgres() {
  [ -n "$pg_dir" ] || return 0
  as_pg "$pg_bin/pg_ctl" -D "$pg_dir/data" -m immediate -w stop >/dev/null 2>&1 || true
  rm -rf "$pg_dir"
  pg_dir=""
}
start_postgres() {
  pg_bin=$(pg_bindir || true)
  if [ -z "$pg_bin" ]; then
    [ "$(id -u)" = 0 ] || { echo "PostgreSQL is missing: apt-get install postgresql" >&2; exit 1; }
    step "installing PostgreSQL (Debian's postgresql package)"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    pg_bin=$(pg_bindir)
  fi
  # In /tmp, not $TMPDIR: the server's user must reach it.
  pg_dir=$(mktemp -d /tmp/stark-sessions-pg.XXXXXX)
  trap stop_postgres EXIT
  trap 'exit 130' INT TERM
  [ "$(id -u)" != 0 ] || chown postgres: "$pg_dir"
  as_pg "$pg_bin/initdb" -D "$pg_dir/data" -U postgres --auth=trust -E UTF8 --no-sync >"$pg_dir/initdb.log" \
    || { cat "$pg_dir/initdb.log" >&2; exit 1; }
  local port tries=0
  while :; do
    port=$(( 20000 + RANDOM % 40000 ))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null \
      && as_pg "$pg_bin/pg_ctl" -D "$pg_dir/data" -l "$pg_dir/server.log" -w -t 60 -o \
        "-c listen_addresses=127.0.0.1 -p $port -k $pg_dir -c fsync=off -c max_connections=300" \
        start >/dev/null; then
      break
    fi
    tries=$(( tries + 1 ))
    [ "$tries" -lt 5 ] || { cat "$pg_dir/server.log" >&2; exit 1; }
  done
  export STARK_SESSIONS_TEST_POSTGRES="postgres://postgres@127.0.0.1:$port/postgres"
  # Every PostgreSQL test that ran appends its name here.
  export STARK_SESSIONS_TEST_POSTGRES_MARKER="$pg_dir/tests-that-ran"
  : >"$STARK_SESSIONS_TEST_POSTGRES_MARKER"
  echo "PostgreSQL $("$pg_bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port ($pg_dir)"
}

