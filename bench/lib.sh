# bench/lib.sh: what the benchmark scripts share: the processes they start (and stop on the way out),
# free ports, a PostgreSQL holding a site's history, CPU and connection counts, a pgpush daemon.
# Sourced by bench/sse.sh, bench/compare.sh and bench/replica.sh after they set top_srcdir, BIN, DAEMONS, TOOLS, PGDIR,
# WORK and keep.

BENCH_NAME=${0##*/}
say() { printf '%s\n' "$*" >&2; }
die() { say "$BENCH_NAME: $*"; exit 1; }

# --- everything we start, stopped on the way out

PIDS=()
PG_STARTED=0
failed=0
bench_cleanup() {
    trap - EXIT INT TERM
    local pid
    for pid in "${PIDS[@]}"; do stop_pid "$pid"; done
    [ "$PG_STARTED" = 1 ] && "$top_srcdir/tests/lib/pgcluster" stop "$PGDIR" >/dev/null 2>&1
    if [ "$keep" = 1 ] || [ "$failed" -gt 0 ]; then say "# logs kept in $WORK"; else rm -rf "$WORK"; fi
}
trap bench_cleanup EXIT
trap 'say "$BENCH_NAME: stopped"; exit 130' INT
trap 'exit 143' TERM

forget() { # forget PID: no longer ours to stop
    local i
    for i in "${!PIDS[@]}"; do [ "${PIDS[$i]}" = "$1" ] && unset 'PIDS[i]'; done
    return 0 # (the loop's last test fails unless PID was last: under set -e, the cleanup would end)
}
stop_pid() { # SIGTERM, then SIGKILL after 2 s (libfcgi's SIGTERM handler only flags a shutdown);
    # the children too (nginx workers), should it come to SIGKILL
    [ -n "${1:-}" ] || return 0
    local kids
    kids=$(children "$1")
    kill "$1" 2>/dev/null
    for _ in $(seq 1 20); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
    # shellcheck disable=SC2086
    kill -0 "$1" 2>/dev/null && kill -9 "$1" $kids 2>/dev/null
    wait "$1" 2>/dev/null || true # (its status is a signal's: under set -e the cleanup would end here)
    forget "$1"
}

free_port() { # below the ephemeral range (32768-60999), where 9,000 client sockets live
    local p
    for _ in $(seq 1 200); do
        p=$(( 20000 + RANDOM % 12000 ))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return; fi
    done
    die "no free port"
}

# --- the build

# bench_build: configures $top_builddir when it has no Makefile yet (autogen.sh first when there is
# no configure), and brings the build up to date
bench_build() {
    if [ ! -f "$top_builddir/Makefile" ]; then
        say "# building in $top_builddir"
        [ -x "$top_srcdir/configure" ] || (cd "$top_srcdir" && ./autogen.sh >/dev/null 2>&1) || die "autogen.sh failed"
        mkdir -p "$top_builddir"
        (cd "$top_builddir" && "$top_srcdir/configure" -q) || die "configure failed"
    fi
    make -C "$top_builddir" -s -j"$(nproc)" >/dev/null || die "make failed in $top_builddir"
}

# --- PostgreSQL

sql() { psql -qAtX -v ON_ERROR_STOP=1 -c "$1"; }

# bench_database [--pg-stats]: a fresh database pgpush_bench in the cluster at $PGDIR (started;
# one left running by an interrupted run is stopped first), the schema, and a site's history.
# Sets PGDATABASE and the other PG* variables, PUSH_DATABASE_URL (the programs' role), SEED_MAX,
# SECRET (exported as PUSH_TOKEN_SECRET) and PG_MASTER. --pg-stats loads pg_stat_statements.
bench_database() {
    "$top_srcdir/tests/lib/pgcluster" stop "$PGDIR" >/dev/null 2>&1
    "$top_srcdir/tests/lib/pgcluster" start "$PGDIR" >/dev/null || die "cannot start PostgreSQL in $PGDIR"
    PG_STARTED=1
    # shellcheck disable=SC1091
    . "$PGDIR/env"
    unset PGAPPNAME PUSH_DATABASE_URL
    # pg_stat_statements is loaded for --pg-stats only (ALTER SYSTEM lasts: undo an earlier run's)
    local want=""
    [ "${1:-}" = --pg-stats ] && want=pg_stat_statements
    if [ "$(PGDATABASE=postgres sql "SHOW shared_preload_libraries")" != "$want" ]; then
        if [ -n "$want" ]; then
            PGDATABASE=postgres sql "ALTER SYSTEM SET shared_preload_libraries = '$want'" >/dev/null
        else
            PGDATABASE=postgres sql "ALTER SYSTEM RESET shared_preload_libraries" >/dev/null
        fi
        "$top_srcdir/tests/lib/pgcluster" restart "$PGDIR" >/dev/null || die "cannot restart PostgreSQL"
        # shellcheck disable=SC1091
        . "$PGDIR/env"
        unset PGAPPNAME PUSH_DATABASE_URL
    fi
    PGDATABASE=postgres dropdb --if-exists --force pgpush_bench >/dev/null 2>&1
    PGDATABASE=postgres createdb pgpush_bench || die "cannot create the database"
    export PGDATABASE=pgpush_bench
    psql -qX -v ON_ERROR_STOP=1 -f "$top_srcdir/sql/install.sql" >"$WORK/install.log" 2>&1 \
        || { cat "$WORK/install.log" >&2; die "schema install failed"; }
    # the programs work as push_web (granted push_reader), as on a site (README "Database roles")
    "$top_srcdir/tests/lib/pgcluster" roles "$PGDIR" >/dev/null || die "cannot create the login roles"
    export PUSH_DATABASE_URL="user=push_web"
    [ "${1:-}" = --pg-stats ] && sql "CREATE EXTENSION pg_stat_statements" >/dev/null
    # A site in operation, not a new one: 100,000 older messages (11 per user, and 100 to
    # everyone), all read, and the statistics that autovacuum would have gathered. On an empty,
    # never-analyzed push.message the programs' prepared statements settle on sequential-scan
    # plans that stay until autovacuum first analyzes the table (README, "Indexes and query plans").
    sql "INSERT INTO push.message (recipient, title, body, created_at)
         SELECT CASE WHEN i % 1000 = 0 THEN NULL ELSE 'u' || (i % 9000) END, 'older ' || i, 'history',
                now() - interval '1 day' FROM generate_series(1, 100000) i" >/dev/null
    sql "INSERT INTO push.reader (recipient, read_p, read_b)
         SELECT 'u' || g, (SELECT max(id) FROM push.message), (SELECT max(id) FROM push.message)
         FROM generate_series(0, 8999) g" >/dev/null
    sql "VACUUM ANALYZE" >/dev/null
    SEED_MAX=$(sql "SELECT max(id) FROM push.message")
    SECRET=bench-$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')
    export PUSH_TOKEN_SECRET=$SECRET
    PG_MASTER=$(head -n 1 "$PGDATA/postmaster.pid" 2>/dev/null)
}

# --- measuring

children() { cat /proc/"$1"/task/*/children 2>/dev/null; }
cpu_ticks() { # cpu_ticks PID...: utime + stime of these processes
    local t=0 p
    for p in "$@"; do
        [ -r "/proc/$p/stat" ] || continue
        t=$(( t + $(sed 's/^.*) //' "/proc/$p/stat" | awk '{print $12 + $13}') ))
    done
    echo "$t"
}
pg_conns() { sql "SELECT count(*) FROM pg_stat_activity WHERE application_name = '$1'"; }

# --- the programs and the front servers

# program NAME: where the build put NAME (cgi-bin/, daemons/ or tools/)
program() {
    case $1 in
        push-ws | push-mqtt) echo "$DAEMONS/$1" ;;
        push-token) echo "$TOOLS/$1" ;;
        *) echo "$BIN/$1" ;;
    esac
}

APP_PID=""
# start_app NAME [ENV...]: the program NAME as an external FastCGI server on $WORK/NAME.sock, with
# the caller's APP_ENV and ENV; returns once all its threads and (streaming programs) its LISTEN
# connection are up
start_app() {
    local name=$1 want threads
    shift
    rm -f "$WORK/$name.sock"
    env "${APP_ENV[@]}" "$@" "$(program "$name")" --listen "$WORK/$name.sock" 2>>"$WORK/$name.log" &
    APP_PID=$!
    PIDS+=("$APP_PID")
    threads=$(printf '%s\n' "${APP_ENV[@]}" "$@" | sed -n 's/^PUSH_THREADS=//p' | tail -n 1)
    want=$(( threads + 1 ))
    [ "$name" = push-poll ] && want=$threads # its main thread is a worker too
    # push-ws: the event loop, the LISTEN thread and PUSH_DB_POOL (3) database workers
    [ "$name" = push-ws ] && want=5
    for _ in $(seq 1 300); do
        if [ -S "$WORK/$name.sock" ] \
            && [ "$(awk '/^Threads:/ {print $2}' "/proc/$APP_PID/status" 2>/dev/null || echo 0)" -ge "$want" ]; then
            if [ "$name" != push-poll ]; then
                for _ in $(seq 1 50); do [ "$(pg_conns "$name")" -ge 1 ] && break; sleep 0.1; done
            fi
            sleep 0.5
            return 0
        fi
        kill -0 "$APP_PID" 2>/dev/null || break
        sleep 0.1
    done
    die "$name did not start: $(tail -n 5 "$WORK/$name.log")"
}

WEB_PID="" PORT=""
wait_web() { # wait_web NAME LOG: until the server started as WEB_PID listens on PORT
    for _ in $(seq 1 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && { sleep 0.3; return 0; }
        kill -0 "$WEB_PID" 2>/dev/null || break
        sleep 0.1
    done
    say "# $1 did not start on port $PORT: $(tail -n 2 "$2")"
    stop_pid "$WEB_PID"
    return 1
}
