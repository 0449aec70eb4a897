#!/usr/bin/env bash
# bench/mqtt.sh: what push-mqtt costs PostgreSQL per message, with the wake-ups' messages (memory-first
# delivery) and without them (the bridge's role denied push.wake_key, so that it reads every message)
#
#   bench/mqtt.sh [--users N] [--messages M] [--rate R]
#
# Starts, all on 127.0.0.1 and stopped on exit: a private PostgreSQL with pg_stat_statements, a
# Mosquitto with the pgpush plugin and push-mqtt (tests/lib/harness.sh and tests/lib/mqtt.sh, as the
# tests do), built in var/build if missing. N users (default 200) each get one message first, so
# that the bridge has read and keeps each of them; then M messages (default 4000) go to them at
# random at R a second (default 400), one INSERT per transaction, by pgbench. Reported for each
# variant: the bridge's statements (pg_stat_statements: every statement but the publishers'
# INSERTs), per message; its passes that read (pgpush_reads_total); the messages it published from
# their wake-ups (pgpush_carried_total); the seconds until push.mqtt_cursor had every message; and
# that every message was acknowledged (the stored cursors at each user's last message).
set -u

users=200 messages=4000 rate=400
while [ $# -gt 0 ]; do
    case $1 in
        --help|-h) sed -n '2,/^set -u/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
        --users) users=${2:?}; shift ;;
        --messages) messages=${2:?}; shift ;;
        --rate) rate=${2:?}; shift ;;
        *) echo "bench/mqtt.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done

top_srcdir=$(cd "$(dirname "$0")/.." && pwd)
top_builddir=${top_builddir:-$top_srcdir/var/build}
if [ ! -x "$top_builddir/daemons/push-mqtt" ] || [ ! -f "$top_builddir/mosquitto/pgpush_auth.so" ]; then
    echo "# building in $top_builddir" >&2
    "$top_srcdir/tests/lib/install-deps" >/dev/null || exit 1
    [ -x "$top_srcdir/configure" ] || (cd "$top_srcdir" && ./autogen.sh >/dev/null 2>&1) || exit 1
    mkdir -p "$top_builddir"
    (cd "$top_builddir" && { [ -f Makefile ] || "$top_srcdir/configure" >/dev/null; } && make -j"$(nproc)" >/dev/null) \
        || { echo "bench/mqtt.sh: the build failed" >&2; exit 1; }
fi
command -v pgbench >/dev/null || PATH=$PATH:$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | tail -n 1)
command -v pgbench >/dev/null || { echo "bench/mqtt.sh: pgbench not found" >&2; exit 1; }

# the harness's private PostgreSQL (no PUSH_TEST_PGENV), with pg_stat_statements loaded
unset PUSH_TEST_PGENV
export PGCLUSTER_OPTIONS="${PGCLUSTER_OPTIONS:-} -c shared_preload_libraries=pg_stat_statements"
TEST_NAME=bench-mqtt
export top_srcdir top_builddir
# shellcheck source=tests/lib/harness.sh
. "$top_srcdir/tests/lib/harness.sh"
harness_database
# shellcheck source=tests/lib/mqtt.sh
. "$top_srcdir/tests/lib/mqtt.sh"
sql "CREATE EXTENSION pg_stat_statements" >/dev/null
start_broker
say() { printf '%s\n' "$*"; }

cat >"$WORK/insert.sql" <<EOF
\\set u random(1, $users)
INSERT INTO push.message (recipient, title, body) VALUES ('b' || :u, 'bench', 'a message body of some length, as a site sends');
EOF
scrape() { curl -s --max-time 5 --unix-socket "$MQTT_STATUS" http://localhost/metrics | awk -v s="$1" '$1 == s { print $2 }'; }
caught_up() { # every user's stored cursor at their last message
    [ "$(sql "SELECT count(*) FROM push.stream s WHERE s.recipient LIKE 'b%'
                AND coalesce((SELECT acked FROM push.mqtt_cursor c WHERE c.stream = s.recipient), 0)
                    <> (SELECT max(id) FROM push.message m WHERE m.recipient = s.recipient)")" = 0 ]
}

rows=()
run() { # LABEL
    local label=$1 t0 t1 reads0 carried0 stm reads carried ok=yes
    sql "TRUNCATE push.mqtt_cursor" >/dev/null
    start_bridge || { echo "bench/mqtt.sh: push-mqtt did not connect: $(tail -n 3 "$WORK/push-mqtt.log")" >&2; exit 1; }
    # 50 rows a statement: a statement of more than 64 rows notifies '*', after which the bridge
    # reads everyone and keeps no one until their next message has been read
    for ((f = 1; f <= users; f += 50)); do
        publish "INSERT INTO push.message (recipient, title) SELECT 'b' || g, 'first' FROM generate_series($f, $(( f + 49 < users ? f + 49 : users ))) g" >/dev/null
    done
    for _ in $(seq 1 300); do caught_up && break; sleep 0.1; done
    caught_up || { echo "bench/mqtt.sh: the first messages were not all acknowledged" >&2; exit 1; }
    sleep 0.5
    reads0=$(scrape pgpush_reads_total) carried0=$(scrape pgpush_carried_total)
    sql "SELECT pg_stat_statements_reset()" >/dev/null
    t0=$(date +%s.%N)
    PGUSER=$PUB_ROLE pgbench -n -c 2 -j 2 -R "$rate" -t $((messages / 2)) -f "$WORK/insert.sql" >"$WORK/pgbench.log" 2>&1 \
        || { cat "$WORK/pgbench.log" >&2; exit 1; }
    for _ in $(seq 1 600); do caught_up && break; sleep 0.05; done
    t1=$(date +%s.%N)
    caught_up || ok=no
    stm=$(sql "SELECT coalesce(sum(calls), 0) FROM pg_stat_statements
               WHERE query !~* '^\\s*INSERT' AND query !~* 'pg_stat_statements'
                 AND query !~* 'push\\.stream s WHERE s\\.recipient LIKE'")
    reads=$(( $(scrape pgpush_reads_total) - reads0 )) carried=$(( $(scrape pgpush_carried_total) - carried0 ))
    rows+=("| $label | $messages | $stm | $(awk -v s="$stm" -v m="$messages" 'BEGIN { printf "%.3f", s / m }') | $reads | $carried | $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }') | $ok |")
    kill "$BRIDGE_PID"; wait "$BRIDGE_PID" 2>/dev/null
}

say "# push-mqtt: $users users, $messages messages at $rate/s (pgbench, 2 connections), $(nproc) cores, $(git -C "$top_srcdir" rev-parse --short HEAD 2>/dev/null)"
run "wake-ups carry the message"
sql "REVOKE SELECT ON push.wake_key FROM push_reader" >/dev/null
run "keys denied: every message read"
sql "GRANT SELECT ON push.wake_key TO push_reader" >/dev/null
say ""
say "| variant | messages | bridge's statements | per message | passes that read | published from the wake-up | s until all acknowledged | all acknowledged |"
say "|---|--:|--:|--:|--:|--:|--:|---|"
printf '%s\n' "${rows[@]}"
# (the harness's exit trap stops everything it started)
case "${rows[*]}" in *"| no |"*) exit 1 ;; esac
exit 0
