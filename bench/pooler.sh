#!/usr/bin/env bash
# bench/pooler.sh: what PUSH_DB_PREPARE=0 (statements sent unnamed, for PgBouncer in transaction
# mode) costs against named prepared statements, directly and through Debian's PgBouncer, in one
# run, one markdown table (README "Connection poolers")
#
#   bench/pooler.sh [--quick] [--reps N] [--duration S] [--keep-logs]
#
# Starts a private PostgreSQL (tests/lib/pgcluster, var/bench-pooler-pg) holding a site's history
# (bench/lib.sh: 100,000 messages to 9,000 users, all read, VACUUM ANALYZEd) and PgBouncer on
# loopback in transaction mode (tests/lib/pgbouncer, pool of 4 server connections). Then pgbench as the programs' role
# (push_web) runs, 4 clients, what a stream's first read or a full poll runs, for a random user:
# push.state, push.messages_after from a cursor 2,000 messages back, push.unread_view (the
# statements of lib/store/push_store.c), in three ways:
#   direct, named       -M prepared to PostgreSQL (the default: each statement planned once per
#                       connection, generic plans as the programs set them)
#   direct, unnamed     -M extended to PostgreSQL (PUSH_DB_PREPARE=0 without a pooler)
#   PgBouncer, unnamed  -M extended through PgBouncer (PUSH_DB_PREPARE=0 behind the pooler)
# N times each (default 3, alternating): median (min-max) of reads/s and of the latency, and
# PostgreSQL's CPU seconds per 10,000 reads. About 2 minutes; --quick about 30 s.
#
#   --quick       1 repetition of 3 s
#   --reps N      repetitions (default 3)
#   --duration S  seconds of pgbench per run (default 10)
#   --keep-logs   keep var/bench-pooler-run (kept anyway when something failed)
set -euo pipefail

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }
reps=3 duration=10 keep=0
while [ $# -gt 0 ]; do
    case $1 in
        --help|-h) usage; exit 0 ;;
        --quick) reps=1 duration=3 ;;
        --reps) reps=${2:?--reps needs a number}; shift ;;
        --duration) duration=${2:?--duration needs seconds}; shift ;;
        --keep-logs) keep=1 ;;
        *) echo "pooler.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done
case $reps$duration in *[!0-9]*) echo "pooler.sh: --reps and --duration take whole numbers" >&2; exit 2 ;; esac
[ "$reps" -ge 1 ] && [ "$reps" -le 20 ] && [ "$duration" -ge 1 ] && [ "$duration" -le 600 ] \
    || { echo "pooler.sh: --reps 1-20, --duration 1-600" >&2; exit 2; }

top_srcdir=$(cd "$(dirname "$0")/.." && pwd)
PGDIR=$top_srcdir/var/bench-pooler-pg
WORK=$top_srcdir/var/bench-pooler-run
# shellcheck source=bench/lib.sh
. "$top_srcdir/bench/lib.sh"
PATH=$PATH:/usr/sbin
for t in pgbench psql pgbouncer; do command -v "$t" >/dev/null || die "$t not found (apt-get install pgbouncer postgresql)"; done
# PgBouncer is not this shell's child (tests/lib/pgbouncer started it): stopped here, by its pid
bpid=""
cleanup() { [ -z "$bpid" ] || kill "$bpid" 2>/dev/null || true; bench_cleanup; }
trap cleanup EXIT
trap 'say "pooler.sh: stopped"; exit 130' INT TERM
rm -rf "$WORK"
mkdir -p "$WORK"
chmod 755 "$WORK"

say "# a site's history in a private PostgreSQL"
bench_database
BPORT=$(free_port)
bpid=$("$top_srcdir/tests/lib/pgbouncer" "$WORK/bouncer" "$BPORT" push_web default_pool_size=4) \
    || { failed=1; die "PgBouncer did not start"; }

# the programs' read statements (lib/store/push_store.c), for one random user of the history
cat >"$WORK/read.sql" <<EOF
\\set n random(0, 8999)
SELECT p, b, read_version, content_version, last_id FROM push.state('u' || :n);
SELECT * FROM push.messages_after('u' || :n, $((SEED_MAX - 2000)), $((SEED_MAX - 2000)), 50);
SELECT kind, n, p, b, mark_p, mark_b FROM push.unread_view('u' || :n) ORDER BY kind COLLATE "C";
EOF

declare -A TPS LAT CPU
# PostgreSQL's CPU ticks: its live processes', and what the postmaster reaped (pgbench's direct
# connections end within a run: their backends are counted there)
pg_ticks() {
    echo $(( $(cpu_ticks "$PG_MASTER" $(children "$PG_MASTER")) \
             + $(sed 's/^.*) //' "/proc/$PG_MASTER/stat" | awk '{print $14 + $15}') ))
}
run() { # run KEY MODE CONNINFO [PGOPTIONS]
    local out c0 c1 tps lat cnt
    c0=$(pg_ticks)
    out=$(PGOPTIONS=${4:-} pgbench -n -c 4 -j 2 -T "$duration" -M "$2" -f "$WORK/read.sql" "$3" 2>&1) \
        || { failed=1; echo "$out" >&2; die "pgbench failed ($1)"; }
    c1=$(pg_ticks)
    tps=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' <<<"$out" | head -n 1)
    lat=$(sed -n 's/^latency average = \([0-9.]*\) ms/\1/p' <<<"$out")
    cnt=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' <<<"$out")
    [ -n "$tps" ] && [ -n "$cnt" ] && [ "$cnt" -gt 0 ] || { failed=1; echo "$out" >&2; die "no pgbench result ($1)"; }
    TPS[$1]+="${tps%.*} " LAT[$1]+="$lat "
    CPU[$1]+="$(echo "scale=2; ($c1 - $c0) / $(getconf CLK_TCK) * 10000 / $cnt" | bc) "
}
DIRECT="user=push_web dbname=$PGDATABASE"
POOLED="host=127.0.0.1 port=$BPORT dbname=$PGDATABASE user=push_web"
for i in $(seq 1 "$reps"); do
    say "# run $i of $reps"
    # plan_cache_mode as the programs set it for their named statements (lib/store/push_db.c);
    # none through PgBouncer, which refuses a startup parameter it does not know
    run named prepared "$DIRECT" "-c plan_cache_mode=force_generic_plan"
    run unnamed extended "$DIRECT"
    run pooled extended "$POOLED"
done

median() { tr ' ' '\n' | sed '/^$/d' | sort -g | awk '{a[NR]=$1} END {m=a[int((NR+1)/2)]; printf "%s (%s-%s)", m, a[1], a[NR]}'; }
echo
echo "| $(nproc) cores, pgbench -c 4 -j 2 -T $duration, median (min-max) of $reps | reads/s | latency ms | PostgreSQL CPU s per 10,000 reads |"
echo "|---|---|---|---|"
for k in named unnamed pooled; do
    case $k in
        named) what="direct, named statements (PUSH_DB_PREPARE=1, the default)" ;;
        unnamed) what="direct, unnamed (PUSH_DB_PREPARE=0)" ;;
        pooled) what="PgBouncer $(pgbouncer --version | head -n 1 | awk '{print $2}') transaction mode, unnamed" ;;
    esac
    echo "| $what | $(median <<<"${TPS[$k]:-}") | $(median <<<"${LAT[$k]:-}") | $(median <<<"${CPU[$k]:-}") |"
done
echo
echo "A read: push.state, push.messages_after (a cursor 2,000 messages back, at most 50) and push.unread_view for one of 9,000 users."
