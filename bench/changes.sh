#!/usr/bin/env bash
# bench/changes.sh: what the change log (schema version 7: edits, retractions, expiry) costs the
# programs' reads, against version 6 in the same run, one markdown table (README "Edits,
# retractions and expiry")
#
#   bench/changes.sh [--quick] [--reps N] [--duration S] [--keep-logs]
#
# Starts a private PostgreSQL (tests/lib/pgcluster, var/bench-changes-pg) with two databases holding
# the same site's history (bench/lib.sh: 100,000 messages to 9,000 users, all read): one at this
# tree's schema, one at version 6 (sql/ as it was before 0007_changes.sql, taken from git; without
# git that row is left out). pgbench as the programs' role (push_web), 2 clients, prepared with
# generic plans as the programs run them, runs push.messages_after for a random user:
#   a wake-up's read   from the user's head: nothing new (the read a stream makes when woken; the
#                      head is read first, in a statement of its own, in both versions)
#   a resume           from a cursor 2,000 messages back, at most 33 (a stream's batch)
# at version 6, at version 7 with an empty change log, and at version 7 after 20,000 edits and
# 2,000 retractions spread over every user (each a row of push.change). N times each (default 3,
# alternating): median (min-max) of reads/s and latency. About 2 minutes; --quick about 30 s.
#
#   --quick       1 repetition of 3 s
#   --reps N      repetitions (default 3)
#   --duration S  seconds of pgbench per run (default 5)
#   --keep-logs   keep var/bench-changes-run (kept anyway when something failed)
set -euo pipefail

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }
reps=3 duration=5 keep=0
while [ $# -gt 0 ]; do
    case $1 in
        --help|-h) usage; exit 0 ;;
        --quick) reps=1 duration=3 ;;
        --reps) reps=${2:?--reps needs a number}; shift ;;
        --duration) duration=${2:?--duration needs seconds}; shift ;;
        --keep-logs) keep=1 ;;
        *) echo "changes.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done
case $reps$duration in *[!0-9]*) echo "changes.sh: --reps and --duration take whole numbers" >&2; exit 2 ;; esac
[ "$reps" -ge 1 ] && [ "$reps" -le 20 ] && [ "$duration" -ge 1 ] && [ "$duration" -le 600 ] \
    || { echo "changes.sh: --reps 1-20, --duration 1-600" >&2; exit 2; }

top_srcdir=$(cd "$(dirname "$0")/.." && pwd)
PGDIR=$top_srcdir/var/bench-changes-pg
WORK=$top_srcdir/var/bench-changes-run
# shellcheck source=bench/lib.sh
. "$top_srcdir/bench/lib.sh"
for t in pgbench psql; do command -v "$t" >/dev/null || die "$t not found (apt-get install postgresql)"; done
rm -rf "$WORK"
mkdir -p "$WORK"

say "# a site's history in a private PostgreSQL, at this tree's schema"
bench_database
V7=$PGDATABASE
HEAD_ID=$(sql "SELECT max(id) FROM push.message")

# the same history at version 6: the schema of the commit before 0007_changes.sql was added
V6=""
if added=$(cd "$top_srcdir" && git log --format=%H --diff-filter=A -1 -- sql/migrations/0007_changes.sql 2>/dev/null) \
        && [ -n "$added" ]; then
    say "# the same history at version 6 (sql/ of $added~1)"
    mkdir -p "$WORK/v6"
    (cd "$top_srcdir" && git archive "$added~1" sql) | tar -x -C "$WORK/v6" || die "cannot take sql/ from git"
    V6=pgpush_bench_v6
    PGDATABASE=postgres dropdb --if-exists --force "$V6" >/dev/null 2>&1
    PGDATABASE=postgres createdb "$V6" || die "cannot create $V6"
    PGDATABASE=$V6 psql -qX -v ON_ERROR_STOP=1 -f "$WORK/v6/sql/install.sql" >"$WORK/install-v6.log" 2>&1 \
        || die "the version 6 schema did not install"
    PGDATABASE=$V6 sql "INSERT INTO push.message (recipient, title, body, created_at)
         SELECT CASE WHEN i % 1000 = 0 THEN NULL ELSE 'u' || (i % 9000) END, 'older ' || i, 'history',
                now() - interval '1 day' FROM generate_series(1, 100000) i" >/dev/null
    PGDATABASE=$V6 sql "INSERT INTO push.reader (recipient, read_p, read_b)
         SELECT 'u' || g, $HEAD_ID, $HEAD_ID FROM generate_series(0, 8999) g" >/dev/null
    PGDATABASE=$V6 sql "VACUUM ANALYZE" >/dev/null
else
    say "# not a git checkout: no version 6 row"
fi

# a stream's reads (lib/store/push_store.c's push_after), for one random user of the history
cat >"$WORK/wakeup.sql" <<EOF
\\set n random(0, 8999)
SELECT coalesce((SELECT last_id FROM push.stream WHERE recipient = 'u' || :n), 0) AS p, (SELECT last_id FROM push.stream WHERE recipient = '') AS b \\gset
SELECT * FROM push.messages_after('u' || :n, :p, :b, 33);
EOF
cat >"$WORK/resume.sql" <<EOF
\\set n random(0, 8999)
SELECT * FROM push.messages_after('u' || :n, $((HEAD_ID - 2000)), $((HEAD_ID - 2000)), 33);
EOF

declare -A TPS LAT
run() { # run KEY DATABASE SCRIPT
    local out tps lat
    out=$(PGOPTIONS="-c plan_cache_mode=force_generic_plan" pgbench -n -c 2 -j 2 -T "$duration" -M prepared \
              -f "$WORK/$3.sql" "user=push_web dbname=$2" 2>&1) \
        || { failed=1; echo "$out" >&2; die "pgbench failed ($1)"; }
    tps=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' <<<"$out" | head -n 1)
    lat=$(sed -n 's/^latency average = \([0-9.]*\) ms/\1/p' <<<"$out")
    [ -n "$tps" ] || { failed=1; echo "$out" >&2; die "no pgbench result ($1)"; }
    TPS[$1]+="${tps%.*} " LAT[$1]+="$lat "
}
round() { # round KEY...: the runs of one state of the databases
    local i k
    for i in $(seq 1 "$reps"); do
        say "# $* ($i of $reps)"
        for k in "$@"; do
            case $k in
                v6-*) [ -n "$V6" ] && run "$k" "$V6" "${k#v6-}" ;;
                *) run "$k" "$V7" "${k#*-}" ;;
            esac
        done
    done
}
round v6-wakeup v7empty-wakeup v6-resume v7empty-resume
say "# 20,000 edits and 2,000 retractions in the change log"
sql "UPDATE push.message SET title = title || ' (edited)' WHERE id IN (SELECT id FROM push.message ORDER BY random() LIMIT 20000)" >/dev/null
sql "DELETE FROM push.message WHERE id IN (SELECT id FROM push.message ORDER BY random() LIMIT 2000)" >/dev/null
sql "VACUUM ANALYZE" >/dev/null
[ "$(sql "SELECT count(*) FROM push.change")" = 22000 ] || die "the change log does not hold 22,000 rows"
round v7log-wakeup v7log-resume

median() { tr ' ' '\n' | sed '/^$/d' | sort -g | awk '{a[NR]=$1} END {m=a[int((NR+1)/2)]; printf "%s (%s-%s)", m, a[1], a[NR]}'; }
echo
echo "| $(nproc) cores, pgbench -c 2 -j 2 -T $duration, median (min-max) of $reps | wake-up read: reads/s | latency ms | resume (2,000 back): reads/s | latency ms |"
echo "|---|---|---|---|---|"
for k in v6 v7empty v7log; do
    case $k in
        v6) [ -n "$V6" ] || continue; what="version 6" ;;
        v7empty) what="version 7, empty change log" ;;
        v7log) what="version 7, 22,000 changes logged" ;;
    esac
    echo "| $what | $(median <<<"${TPS[$k-wakeup]:-}") | $(median <<<"${LAT[$k-wakeup]:-}") | $(median <<<"${TPS[$k-resume]:-}") | $(median <<<"${LAT[$k-resume]:-}") |"
done
echo
echo "push.messages_after for one of 9,000 users among 100,000 messages: from the user's head (nothing new), and from 2,000 messages back (at most 33)."
