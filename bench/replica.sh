#!/usr/bin/env bash
# bench/replica.sh: what replay-gated reads on a hot standby (PUSH_REPLICA_DATABASE_URL) take off
# the primary, in one run, one markdown table (README "Reads on replicas")
#
#   bench/replica.sh [--quick] [--users N] [--reps K] [--keep-logs]
#
# Starts a private PostgreSQL primary holding a site's history (bench/lib.sh: 100,000 messages to
# 9,000 users, all read) in var/bench-replica-pg and a hot standby of it streaming on loopback
# (tests/lib/pgcluster standby, var/bench-replica-standby). Then, K times each and alternating,
# push-ws (one event loop, PUSH_DB_POOL=3, listening on 127.0.0.1 itself: no front server) takes a
# reconnect storm: bench/push-load opens N WebSocket clients at 2,500 a second, each a first read
# (the user's state and counts), then publishes 500 messages/s for 5 s (delivered from memory:
# no reads), in two ways:
#   primary   every read on the primary (the default)
#   replica   PUSH_REPLICA_DATABASE_URL on the standby, PUSH_REPLICA_WAIT=100
# Reported: median (min-max) of the CPU seconds of the primary's processes (the walsender
# included), of the standby's, of push-ws, over the whole run; the storm's p50 and p99 from a
# client's connect to its first event; the delivery p50/p99 (INSERT to event); and the reads the
# standby answered (push-ws's pgpush_replica_reads_total). About 2 minutes; --quick 30 s.
#
#   --quick       N=2000, 1 repetition
#   --users N     clients in the storm (default 5000, at most 9000)
#   --reps K      repetitions (default 3)
#   --keep-logs   keep var/bench-replica-run (kept anyway when something failed)
#   --wal-writer-delay MS   the primary's wal_writer_delay (default 10, as README advises;
#                 PostgreSQL's own default is 200)
set -euo pipefail

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }
reps=3 users=5000 keep=0 wal_writer_delay=10
while [ $# -gt 0 ]; do
    case $1 in
        --help|-h) usage; exit 0 ;;
        --quick) reps=1 users=2000 ;;
        --users) users=${2:?--users needs a number}; shift ;;
        --reps) reps=${2:?--reps needs a number}; shift ;;
        --keep-logs) keep=1 ;;
        --wal-writer-delay) wal_writer_delay=${2:?--wal-writer-delay needs ms}; shift ;;
        *) echo "replica.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done
case $reps$users$wal_writer_delay in *[!0-9]*) echo "replica.sh: --reps and --users take whole numbers" >&2; exit 2 ;; esac
[ "$reps" -ge 1 ] && [ "$reps" -le 20 ] && [ "$users" -ge 100 ] && [ "$users" -le 9000 ] \
    || { echo "replica.sh: --reps 1-20, --users 100-9000" >&2; exit 2; }

top_srcdir=$(cd "$(dirname "$0")/.." && pwd)
: "${top_builddir:=$top_srcdir/var/build}"
BIN=$top_builddir/cgi-bin
DAEMONS=$top_builddir/daemons
TOOLS=$top_builddir/tools
LOAD=$top_builddir/bench/push-load
PGDIR=$top_srcdir/var/bench-replica-pg
SDIR=$top_srcdir/var/bench-replica-standby
WORK=$top_srcdir/var/bench-replica-run
# shellcheck source=bench/lib.sh
. "$top_srcdir/bench/lib.sh"
cleanup() {
    "$top_srcdir/tests/lib/pgcluster" stop "$SDIR" >/dev/null 2>&1 || true
    bench_cleanup
}
trap cleanup EXIT
trap 'say "replica.sh: stopped"; exit 130' INT TERM

for tool in psql cc; do command -v "$tool" >/dev/null || die "$tool is not installed (tests/lib/install-deps)"; done
bench_build
make -C "$top_builddir" -s bench/push-load >/dev/null 2>&1 || [ -x "$LOAD" ] \
    || die "bench/push-load is not built (bench/sse.sh builds it)"
ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)"
[ "$(ulimit -n)" = unlimited ] || [ "$(ulimit -n)" -ge $((users + 300)) ] \
    || die "an open-file limit of $(ulimit -n) is too low for $users clients"
rm -rf "$WORK"
mkdir -p "$WORK"
chmod 755 "$WORK"

say "# a site's history in a private PostgreSQL, and a hot standby of it"
bench_database
# how soon WAL that no commit flushed (a read's page pruning, autovacuum) is written out, and
# so reaches the standby: what a gated read may wait for (README "Reads on replicas")
PGDATABASE=postgres sql "ALTER SYSTEM SET wal_writer_delay = '${wal_writer_delay}ms'" >/dev/null
PGDATABASE=postgres sql "SELECT pg_reload_conf()" >/dev/null
"$top_srcdir/tests/lib/pgcluster" stop "$SDIR" >/dev/null 2>&1 || true
rm -rf "$SDIR"
"$top_srcdir/tests/lib/pgcluster" standby "$SDIR" "$PGDIR" >/dev/null || die "the standby did not start"
SHOST=$(. "$SDIR/env" && echo "$PGHOST")
SPORT=$(. "$SDIR/env" && echo "$PGPORT")
SDATA=$(. "$SDIR/env" && echo "$PGDATA")
STANDBY_MASTER=$(head -n 1 "$(readlink -f "$SDATA")/postmaster.pid")
caught_up() {
    local want
    want=$(sql "SELECT pg_current_wal_insert_lsn()")
    for _ in $(seq 1 200); do
        [ "$(psql -h "$SHOST" -p "$SPORT" -U postgres -qAtX -c "SELECT pg_last_wal_replay_lsn() >= '$want'")" = t ] && return 0
        sleep 0.05
    done
    die "the standby does not catch up"
}
REPLICA="host=$SHOST port=$SPORT dbname=$PGDATABASE user=push_web"
tree_ticks() { cpu_ticks "$1" $(children "$1"); } # a postmaster and its processes

declare -A PRI STB APP SP50 SP99 DP50 DP99 READS RREADS MISSES BEHIND
run() { # run MODE
    local mode=$1 port pid p0 s0 a0 p1 s1 a1 hz err row status_port
    hz=$(getconf CLK_TCK)
    # the last run's messages stay (deleting them would leave each user's stream chained to a
    # message that is gone: every first message after would be read instead of carried), read
    sql "SELECT count(push.mark_all_read('u' || g)) FROM generate_series(0, 8999) g" >/dev/null
    sql "VACUUM ANALYZE push.message" >/dev/null
    caught_up
    port=$(free_port) status_port=$(free_port)
    local extra=()
    [ "$mode" = replica ] && extra=(PUSH_REPLICA_DATABASE_URL="$REPLICA" PUSH_REPLICA_WAIT=100)
    env PUSH_TOKEN_SECRET="$SECRET" PUSH_MAX_STREAMS=10000 PUSH_MAX_STREAMS_PER_USER=4 \
        PUSH_WS_LISTEN="127.0.0.1:$port" PUSH_WS_STATUS_LISTEN="127.0.0.1:$status_port" \
        PUSH_LISTEN_BACKLOG=4096 PUSH_HEARTBEAT=60 "${extra[@]}" \
        "$DAEMONS/push-ws" 2>>"$WORK/push-ws-$mode.log" &
    pid=$!
    PIDS+=("$pid")
    for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
    sleep 0.5
    p0=$(tree_ticks "$PG_MASTER") s0=$(tree_ticks "$STANDBY_MASTER") a0=$(cpu_ticks "$pid")
    "$LOAD" --url "http://127.0.0.1:$port/" --mode ws --users "$users" --connect-rate 2500 \
        --rate 500 --duration 5 --publishers 2 --label "$mode" >"$WORK/row" 2>"$WORK/err" \
        || { failed=1; cat "$WORK/err" >&2; die "push-load failed ($mode)"; }
    p1=$(tree_ticks "$PG_MASTER") s1=$(tree_ticks "$STANDBY_MASTER") a1=$(cpu_ticks "$pid")
    err=$(cat "$WORK/err") row=$(cat "$WORK/row")
    cat "$WORK/err" >>"$WORK/load-$mode.log"
    PRI[$mode]+="$(awk -v t="$(( $p1 - $p0 ))" -v hz="$hz" 'BEGIN { printf "%.2f", t / hz }') "
    STB[$mode]+="$(awk -v t="$(( $s1 - $s0 ))" -v hz="$hz" 'BEGIN { printf "%.2f", t / hz }') "
    APP[$mode]+="$(awk -v t="$(( $a1 - $a0 ))" -v hz="$hz" 'BEGIN { printf "%.2f", t / hz }') "
    # the storm line: "... p50 X ms, p99 Y ms" from connect to first event
    SP50[$mode]+="$(sed -n 's/^.*first event.*p50 \([0-9.]*\) ms.*$/\1/p' <<<"$err" | head -n 1) "
    SP99[$mode]+="$(sed -n 's/^.*first event.*p99 \([0-9.]*\) ms.*$/\1/p' <<<"$err" | head -n 1) "
    # the row: | label | N | rate | sent | received | lost | dup | p50 | p90 | p99 | max | ...
    DP50[$mode]+="$(awk -F'|' '{gsub(/ /, "", $9); print $9}' <<<"$row") "
    DP99[$mode]+="$(awk -F'|' '{gsub(/ /, "", $11); print $11}' <<<"$row") "
    curl -s --max-time 5 "http://127.0.0.1:$status_port/metrics" >"$WORK/metrics-$mode"
    metric() { awk -v s="$1" '$1 == s { print $2 }' "$WORK/metrics-$mode"; }
    READS[$mode]+="$(metric pgpush_reads_total) "
    RREADS[$mode]+="$(metric pgpush_replica_reads_total) "
    MISSES[$mode]+="$(metric pgpush_carry_misses_total) "
    BEHIND[$mode]+="$(metric pgpush_replica_behind_total) "
    say "  $mode: $row"
    stop_pid "$pid"
}

for i in $(seq 1 "$reps"); do
    say "# run $i of $reps"
    run primary
    run replica
done

median() { tr ' ' '\n' | sed '/^$/d' | sort -g | awk '{a[NR]=$1} END {if (!NR) {print "?"; exit} m=a[int((NR+1)/2)]; printf "%s (%s-%s)", m, a[1], a[NR]}'; }
echo
echo "pgpush reads on a standby, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, $(git -C "$top_srcdir" rev-parse --short HEAD 2>/dev/null), push-ws with $users clients connecting at 2,500/s then 500 messages/s for 5 s; the primary's wal_writer_delay ${wal_writer_delay} ms; median (min-max) of $reps"
echo
echo "| reads | primary CPU s | standby CPU s | push-ws CPU s | storm p50 ms | storm p99 ms | delivery p50 ms | delivery p99 ms | stream reads | on the standby | read on the primary: standby behind | carry misses |"
echo "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|"
for m in primary replica; do
    echo "| $m | $(median <<<"${PRI[$m]}") | $(median <<<"${STB[$m]}") | $(median <<<"${APP[$m]}") | $(median <<<"${SP50[$m]}") | $(median <<<"${SP99[$m]}") | $(median <<<"${DP50[$m]}") | $(median <<<"${DP99[$m]}") | $(median <<<"${READS[$m]}") | $(median <<<"${RREADS[$m]}") | $(median <<<"${BEHIND[$m]}") | $(median <<<"${MISSES[$m]}") |"
done
echo
echo "CPU seconds over the whole run (storm and publishing); the primary's include its walsender, the standby's its replay."
echo "Storm: from a client's first connect to its first event. Delivery: INSERT start to the event at the client."
echo "Stream reads: pgpush_reads_total (first reads and wake-ups' reads); carry misses: carried messages read instead."
