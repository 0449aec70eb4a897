#!/usr/bin/env bash
# bench/cluster.sh: what the primary pays as web nodes are added, with the standbys' reads off and
# on, at the same total load; one markdown table (README "Running on several machines")
#
#   bench/cluster.sh [--clients N] [--rate R] [--duration S] [--reps K] [--keep]
#
# As root. The simulated cluster of tests/cluster/run (tests/cluster/lib.sh: a primary and two
# hot standbys with pg_stat_statements, PgBouncer in transaction mode, web nodes in network
# namespaces behind HAProxy), no failures. For 1, 2 and 3 web nodes, with PUSH_REPLICA_DATABASE_URL
# unset and set, K times each: the nodes are started afresh, HAProxy balances over them, and
# bench/push-load opens N SSE clients through HAProxy (a reconnect storm: each a first read), then
# publishes R messages/s for S s. Measured on the primary over the run: its connections from the
# programs (role push_web: the LISTEN connections and PgBouncer's server connections), its CPU
# seconds (every process of the server), and the statements the programs ran there
# (pg_stat_statements, role push_web) per delivered message; on the standbys, the statements they
# ran. Prints medians (min-max). About 4 minutes with the defaults.
#
#   --clients N    SSE clients in all (default 1500)
#   --rate R       messages/s (default 300)
#   --duration S   seconds of publishing (default 10)
#   --reps K       repetitions (default 2)
#   --keep         keep the work folder
set -euo pipefail

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }
clients=1500 rate=300 duration=10 reps=2 keep=0
while [ $# -gt 0 ]; do
    case $1 in
        --help|-h) usage; exit 0 ;;
        --clients) clients=${2:?--clients needs a number}; shift ;;
        --rate) rate=${2:?--rate needs a number}; shift ;;
        --duration) duration=${2:?--duration needs seconds}; shift ;;
        --reps) reps=${2:?--reps needs a number}; shift ;;
        --keep) keep=1 ;;
        *) echo "cluster.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done
case $clients$rate$duration$reps in *[!0-9]*) echo "cluster.sh: whole numbers only" >&2; exit 2 ;; esac
[ "$clients" -ge 30 ] && [ "$clients" -le 6000 ] && [ "$rate" -ge 1 ] && [ "$rate" -le 2000 ] \
    && [ "$duration" -ge 1 ] && [ "$duration" -le 300 ] && [ "$reps" -ge 1 ] && [ "$reps" -le 10 ] \
    || { echo "cluster.sh: --clients 30-6000, --rate 1-2000, --duration 1-300, --reps 1-10" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "cluster.sh: run as root (network namespaces)" >&2; exit 2; }

top=$(cd "$(dirname "$0")/.." && pwd)
: "${top_builddir:=$top/var/build}"
CLUSTER_PG_OPTIONS="-c shared_preload_libraries=pg_stat_statements"
# shellcheck source=tests/cluster/lib.sh
. "$top/tests/cluster/lib.sh"
cluster_prepare
cluster_pg
psql -qAtX -c "CREATE EXTENSION pg_stat_statements" >/dev/null
cluster_bouncer || die "PgBouncer did not start"
cluster_links

ticks() { # every process of the server whose postmaster.pid is in $1
    local m t=0 p
    m=$(head -n 1 "$(readlink -f "$1")/postmaster.pid")
    for p in "$m" $(cat /proc/"$m"/task/*/children 2>/dev/null); do
        [ -r "/proc/$p/stat" ] && t=$(( t + $(sed 's/^.*) //' "/proc/$p/stat" | awk '{print $12 + $13}') ))
    done
    echo "$t"
}
standby_sql() { psql -h "$(. "$WORK/$1/env" && echo "$PGHOST")" -p "$(cat "$WORK/$1/port")" -U postgres -qAtX -c "$2"; }
stmts_sql="SELECT coalesce(sum(s.calls), 0) FROM pg_stat_statements s JOIN pg_roles r ON r.oid = s.userid WHERE r.rolname = 'push_web'"
declare -A CONNS CPU SPM SSPM RECV LOST SCPU SSTM SSTB
run() { # run NODES REPLICA(0|1)
    local nodes=$1 replica=$2 key="$1 $2" n extra=() c0 c1 hz got lost row
    hz=$(getconf CLK_TCK)
    for n in 1 2 3; do [ -z "${NODE_PIDS[$n.nginx]:-}" ] || kill_node "$n"; done
    [ "$replica" = 1 ] || extra=(PUSH_REPLICA_DATABASE_URL=)
    for n in $(seq 1 "$nodes"); do start_node "$n" ${extra[@]+"${extra[@]}"}; done
    start_haproxy "$(seq -s ' ' 1 "$nodes")"
    psql -qAtX -c "SELECT pg_stat_statements_reset()" >/dev/null
    for r in r1 r2; do standby_sql "$r" "SELECT pg_stat_statements_reset()" >/dev/null; done
    c0=$(ticks "$WORK/pg/data")
    # sampled once every client is in (the storm over), before publishing
    cat >"$WORK/sample.sh" <<EOF
#!/usr/bin/env bash
export PGUSER=postgres
$(declare -f ticks standby_sql)
WORK=$WORK
psql -qAtX -c "SELECT count(*) FROM pg_stat_activity WHERE usename = 'push_web' AND backend_type = 'client backend'" >"$WORK/conns"
ticks "$WORK/pg/data" >"$WORK/ticks"
psql -qAtX -c "$stmts_sql" >"$WORK/stmts"
echo \$(( \$(standby_sql r1 "$stmts_sql") + \$(standby_sql r2 "$stmts_sql") )) >"$WORK/sstmts"
EOF
    chmod +x "$WORK/sample.sh"
    PGUSER=push_pub PUSH_TOKEN_SECRET=$SECRET "$LOAD" --url "http://127.0.0.1:$HPORT/push-sse" --mode sse \
        --user-prefix "c" --users "$clients" --rate "$rate" --duration "$duration" --publishers 2 \
        --connect-rate 1000 --on-ready "$WORK/sample.sh" --label "$key" >"$WORK/row" 2>"$WORK/load.log" \
        || { cat "$WORK/load.log" >&2; die "push-load failed ($nodes nodes, replica $replica)"; }
    c1=$(ticks "$WORK/pg/data")
    row=$(cat "$WORK/row")
    IFS='|' read -r _ _ _ _ _ got lost _ <<<"$row"
    got=${got// /} lost=${lost// /}
    local s p=0 cr sr pr
    s=$(psql -qAtX -c "$stmts_sql")
    for r in r1 r2; do p=$(( p + $(standby_sql "$r" "$stmts_sql") )); done
    cr=$(cat "$WORK/ticks") sr=$(cat "$WORK/stmts") pr=$(cat "$WORK/sstmts")
    CONNS[$key]+="$(cat "$WORK/conns") "
    # the storm: per client; publishing: per delivered message
    SCPU[$key]+="$(awk -v t=$((cr - c0)) -v hz="$hz" -v n="$clients" 'BEGIN { printf "%.3f", t / hz * 1000 / n }') "
    SSTM[$key]+="$(awk -v s="$sr" -v n="$clients" 'BEGIN { printf "%.2f", s / n }') "
    SSTB[$key]+="$(awk -v s="$pr" -v n="$clients" 'BEGIN { printf "%.2f", s / n }') "
    CPU[$key]+="$(awk -v t=$((c1 - cr)) -v hz="$hz" -v g="$got" 'BEGIN { printf "%.3f", g ? t / hz * 1000 / g : 0 }') "
    SPM[$key]+="$(awk -v s=$((s - sr)) -v g="$got" 'BEGIN { printf "%.3f", g ? s / g : 0 }') "
    SSPM[$key]+="$(awk -v s=$((p - pr)) -v g="$got" 'BEGIN { printf "%.3f", g ? s / g : 0 }') "
    RECV[$key]+="$got " LOST[$key]+="$lost "
    say "  $nodes node(s), replica reads $replica: $row primary statements $sr + $((s - sr)), standbys' $pr + $((p - pr)), primary CPU ticks $((cr - c0)) + $((c1 - cr))"
}
for i in $(seq 1 "$reps"); do
    say "# run $i of $reps"
    for nodes in 1 2 3; do
        run "$nodes" 0
        run "$nodes" 1
    done
done

median() { tr ' ' '\n' | sed '/^$/d' | sort -g | awk '{a[NR]=$1} END {if (!NR) {print "?"; exit} m=a[int((NR+1)/2)]; printf "%s (%s-%s)", m, a[1], a[NR]}'; }
echo
echo "pgpush on several web nodes, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, $(git -C "$top" rev-parse --short HEAD 2>/dev/null): $clients SSE clients through HAProxy, $rate messages/s for $duration s, PgBouncer (transaction mode, 6 server connections), a primary and 2 standbys; median (min-max) of $reps"
echo
echo "| web nodes | reads on the standbys | primary connections (push_web) | storm: primary CPU ms per client | storm: primary statements per client | storm: standby statements per client | publishing: primary CPU ms per message | publishing: primary statements per message | publishing: standby statements per message | delivered | lost |"
echo "|--:|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|"
for nodes in 1 2 3; do
    for replica in 0 1; do
        k="$nodes $replica"
        echo "| $nodes | $([ "$replica" = 1 ] && echo on || echo off) | $(median <<<"${CONNS[$k]}") | $(median <<<"${SCPU[$k]}") | $(median <<<"${SSTM[$k]}") | $(median <<<"${SSTB[$k]}") | $(median <<<"${CPU[$k]}") | $(median <<<"${SPM[$k]}") | $(median <<<"${SSPM[$k]}") | $(median <<<"${RECV[$k]}") | $(median <<<"${LOST[$k]}") |"
    done
done
echo
echo "Each node runs push-sse, push-longpoll and push-ws (each: 1 LISTEN connection direct to the primary, PUSH_DB_POOL=3 through PgBouncer); the clients use push-sse only."
echo "Storm: from the first connect until every client had its first event (each a first read); publishing: from then to the end, the INSERTs' own cost included (the same in every row)."
echo "Statements: pg_stat_statements calls by the programs' role (push_web); CPU: every process of the primary."
