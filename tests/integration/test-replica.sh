#!/usr/bin/env bash
# test-replica.sh: stream reads on a hot standby, gated by its replay (README "Reads on replicas"),
# against a real PostgreSQL primary and a real streaming standby of it (pg_basebackup -R), both
# private to this test. push-sse and push-longpoll run as external FastCGI servers behind lighttpd
# with PUSH_REPLICA_DATABASE_URL set. Checked:
# - with the standby streaming, the streams' reads are made there, and every message reaches its
#   user once, live and on resume; another user's stream stays clean;
# - with the standby's replay paused (it answers, but lags), a read asked for after a change still
#   sees it: a resume and a long poll bring the message the standby has not replayed, and counts
#   read after a mark-read (made on the primary) are the marked ones. These are the reads that a
#   replica read without the gate gets wrong (tests/mutate.d/mutants: replica-gate-skipped);
# - with the standby stopped, reads go to the primary at once, the log says so once, and the
#   replica is used again after it is back;
# - a PUSH_REPLICA_DATABASE_URL that names a primary is never read as a replica.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib/harness.sh"
for p in push-sse push-longpoll push-poll push-ws; do [ -x "$(program $p)" ] || hard_error "$p is not built"; done
command -v node >/dev/null || hard_error "node is not installed (tests/run installs it)"
# a primary of our own: tests/run's shared cluster is not one we may give a standby
unset PUSH_TEST_PGENV
harness_start
STANDBY=$WORK/standby
harness_standby "$STANDBY" S
ssql() { psql -h "$SHOST" -p "$SPORT" -U postgres -d "$PGDATABASE" -qAtX -c "$1"; }
for _ in $(seq 1 100); do [ "$(ssql "SELECT schema_version FROM push.meta" 2>/dev/null)" = "$(sql "SELECT schema_version FROM push.meta")" ] && break; sleep 0.1; done
eq "$(ssql "SELECT pg_is_in_recovery()")" t "the standby is in recovery (a hot standby)"
eq "$(ssql "SELECT schema_version FROM push.meta")" "$(sql "SELECT schema_version FROM push.meta")" "... and has replayed the schema"
# caught_up_on FUNCTION: the standby that FUNCTION queries has replayed all the primary has written
caught_up_on() {
    local want
    want=$(sql "SELECT pg_current_wal_insert_lsn()")
    for _ in $(seq 1 200); do [ "$("$1" "SELECT pg_last_wal_replay_lsn() >= '$want'")" = t ] && return 0; sleep 0.05; done
    return 1
}
replay_caught_up() { caught_up_on ssql; }
REPLICA="host=$SHOST port=$SPORT dbname=$PGDATABASE user=$WEB_ROLE"
ALICE=$(token alice)
BOB=$(token bob)
start_daemon push-sse PUSH_REPLICA_DATABASE_URL="$REPLICA" PUSH_REPLICA_WAIT=300 PUSH_HEARTBEAT=1 PUSH_STATUS=metrics
start_daemon push-longpoll PUSH_REPLICA_DATABASE_URL="$REPLICA" PUSH_REPLICA_WAIT=300 PUSH_STATUS=metrics
WS_PORT=$(free_port)
env PUSH_TOKEN_SECRET="$SECRET" PUSH_REPLICA_DATABASE_URL="$REPLICA" PUSH_REPLICA_WAIT=300 \
    "$(program push-ws)" --listen "127.0.0.1:$WS_PORT" 2>>"$WORK/push-ws.log" &
HARNESS_PIDS+=($!)
for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$WS_PORT") 2>/dev/null && break; sleep 0.05; done
metric() { curl -s --max-time 5 "$BASE/ext-status/$1" | awk -v s="$2" '$1 == s { print $2 }'; }
sse() { # sse NAME SECONDS QUERY [curl args]: a background SSE client of /ext/push-sse writing $WORK/NAME.sse
    local name=$1 t=$2 q=$3
    shift 3
    curl -sN --max-time "$t" "$@" "$BASE/ext/push-sse?$q" >"$WORK/$name.sse" 2>/dev/null &
}
wait_for() { for _ in $(seq 1 100); do grep -q "$1" "$WORK/$2.sse" 2>/dev/null && return 0; sleep 0.05; done; return 1; }
titles() { grep -o '"title":"[^"]*"' "$WORK/$1.sse" | cut -d'"' -f4 | paste -sd, -; }
last_total() { grep -A1 '^event: unread' "$WORK/$1.sse" | grep '^data: ' | tail -n 1 | cut -c7- | jq -r .total; }

echo "# --- the standby streaming: reads are made there"
publish "INSERT INTO push.message (recipient, title) VALUES ('alice', 'A1'), ('bob', 'B1'), ('bob', 'B2')"
replay_caught_up || hard_error "the standby does not catch up"
r0=$(metric push-sse pgpush_replica_reads_total)
sse alice 60 "token=$ALICE"
sse bob 60 "token=$BOB"
wait_for '^event: unread' alice && wait_for '^event: unread' bob
eq "$(last_total alice)" 1 "alice's stream opens (from now) with her count: 1 unread"
eq "$(last_total bob)" 2 "bob's with his: 2"
check "[ $(metric push-sse pgpush_replica_reads_total) -ge $((r0 + 2)) ]" \
    "their first reads were made on the standby (pgpush_replica_reads_total $r0 -> $(metric push-sse pgpush_replica_reads_total))"
check "[ $(ssql "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'push-sse' AND usename = '$WEB_ROLE'") -ge 1 ]" \
    "push-sse holds a connection on the standby"
publish "INSERT INTO push.message (recipient, title) VALUES ('alice', 'A2'), ('alice', 'A3')"
wait_for A3 alice
eq "$(titles alice)" A2,A3 "alice gets her live messages, each once, in order"
eq "$(titles bob)" "" "bob's stream shows none of them"
cursor=$(grep '^id: ' "$WORK/alice.sse" | tail -n 1 | cut -c5-)

echo "# --- the standby's replay paused: it answers, and lags"
ssql "SELECT pg_wal_replay_pause()" >/dev/null
for _ in $(seq 1 100); do [ "$(ssql "SELECT pg_get_wal_replay_pause_state()")" = paused ] && break; sleep 0.05; done
eq "$(ssql "SELECT pg_get_wal_replay_pause_state()")" paused "the standby's replay is paused"
behind0=$(metric push-sse pgpush_replica_behind_total)
publish "INSERT INTO push.message (recipient, title) VALUES ('alice', 'While paused')"
wait_for 'While paused' alice
check 'grep -q "While paused" "$WORK/alice.sse"' "alice's open stream gets the new message (from its wake-up)"
eq "$(ssql "SELECT count(*) FROM push.message WHERE title = 'While paused'")" 0 \
    "the standby does not have it (the reads below cannot have come from there)"
curl -sN --max-time 3 -H "Last-Event-ID: $cursor" "$BASE/ext/push-sse?token=$ALICE" >"$WORK/resume.sse" 2>/dev/null
eq "$(titles resume)" "While paused" "a resume from alice's cursor brings the one message after it, which the standby has not replayed"
check "[ $(metric push-sse pgpush_replica_behind_total) -gt $behind0 ]" \
    "... read on the primary after PUSH_REPLICA_WAIT (pgpush_replica_behind_total $behind0 -> $(metric push-sse pgpush_replica_behind_total))"
node "$top_srcdir/tests/lib/ws-client.mjs" "ws://127.0.0.1:$WS_PORT/push-ws?token=$ALICE&since=$cursor" \
    --max-time 2 </dev/null >"$WORK/ws-resume.out" 2>&1
eq "$(grep '^{' "$WORK/ws-resume.out" | jq -r 'select(.type == "message") | .message.title' 2>&1 | paste -sd, -)" "While paused" \
    "push-ws: a socket opened from alice's cursor brings the same one message"
lp_cursor=$(curl -s --max-time 5 "$BASE/ext/push-longpoll?token=$BOB" | jq -r .cursor)
publish "INSERT INTO push.message (recipient, title) VALUES ('bob', 'Bob while paused')"
t0=$(date +%s%N)
out=$(curl -s --max-time 5 "$BASE/ext/push-longpoll?token=$BOB&since=$lp_cursor&timeout=20")
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
eq "$(jq -r '[.messages[].title] | join(",")' <<<"$out" 2>&1)" "Bob while paused" \
    "a long poll from bob's cursor answers at once with his new message (${ms} ms), not held on the standby's older view"
# read-your-writes: alice marks everything read on the primary (push-poll), then a new stream counts
body='{"mark":"all"}'
out=$(printf '%s' "$body" | env -i PATH="$PATH" PGHOST="$PGHOST" PGPORT="$PGPORT" PGDATABASE="$PGDATABASE" \
    PUSH_DATABASE_URL="user=$WEB_ROLE" GATEWAY_INTERFACE=CGI/1.1 REQUEST_METHOD=POST QUERY_STRING= REMOTE_USER=alice \
    CONTENT_TYPE=application/json CONTENT_LENGTH=${#body} HTTP_HOST=localhost "$(program push-poll)" 2>>"$WORK/poll-cgi.log")
eq "$(head -n 1 <<<"$out" | tr -d '\r')" "Status: 200 OK" "alice marks all read (on the primary)"
wait_for '"total":0' alice
eq "$(last_total alice)" 0 "alice's open stream shows 0 unread"
curl -sN --max-time 2 "$BASE/ext/push-sse?token=$ALICE" >"$WORK/fresh.sse" 2>/dev/null
eq "$(last_total fresh)" 0 "a new stream of alice's, opened after the mark, counts 0 unread"
eq "$(ssql "SELECT sum(n) FROM push.unread_view('alice')")" 3 "(the standby's own count for alice is still the old one)"
curl -sN --max-time 2 "$BASE/ext/push-sse?token=$BOB" >"$WORK/bobfresh.sse" 2>/dev/null
eq "$(last_total bobfresh)" 3 "bob's counts are untouched by alice's mark: 3 unread"
eq "$(titles bob)" "Bob while paused" "bob's open stream got his message and nothing of alice's"

echo "# --- replay resumed: the standby is used again"
ssql "SELECT pg_wal_replay_resume()" >/dev/null
replay_caught_up || not_ok "the standby catches up after its replay resumes" "it did not"
r0=$(metric push-sse pgpush_replica_reads_total) behind0=$(metric push-sse pgpush_replica_behind_total)
curl -sN --max-time 2 -H "Last-Event-ID: $cursor" "$BASE/ext/push-sse?token=$ALICE" >"$WORK/resume2.sse" 2>/dev/null
eq "$(titles resume2)" "While paused" "a resume brings the same one message"
check "[ $(metric push-sse pgpush_replica_reads_total) -gt $r0 ] && [ $(metric push-sse pgpush_replica_behind_total) = $behind0 ]" \
    "... read on the standby, which had caught up"

echo "# --- the standby stopped"
"$top_srcdir/tests/lib/pgcluster" stop "$STANDBY" >/dev/null
u0=$(metric push-longpoll pgpush_replica_unusable_total)
t0=$(date +%s%N)
out=$(curl -s --max-time 10 "$BASE/ext/push-longpoll?token=$BOB&since=$lp_cursor&timeout=20")
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
eq "$(jq -r '[.messages[].title] | join(",")' <<<"$out" 2>&1)" "Bob while paused" \
    "a long poll is answered from the primary (${ms} ms)"
check "[ $ms -lt 5000 ]" "... without waiting out a connect timeout (${ms} ms)"
check "[ $(metric push-longpoll pgpush_replica_unusable_total) -gt $u0 ]" "pgpush_replica_unusable_total counts it"
for _ in 1 2 3; do curl -s --max-time 5 "$BASE/ext/push-longpoll?token=$BOB" >/dev/null; done
eq "$(grep -c 'the replica cannot be used' "$WORK/push-longpoll.log")" 1 "the log says so once, not at every read"
publish "INSERT INTO push.message (recipient, title) VALUES ('alice', 'Standby down')"
wait_for 'Standby down' alice
eq "$(grep -c '"title":"Standby down"' "$WORK/alice.sse")" 1 "alice's open stream still gets her messages, once"

echo "# --- the standby back: used again after the rest"
"$top_srcdir/tests/lib/pgcluster" start "$STANDBY" >/dev/null || hard_error "the standby did not start again"
replay_caught_up || not_ok "the standby catches up after its restart" "it did not"
sleep 5.5  # the replica's rest after a failure (REPLICA_REST_MS)
r0=$(metric push-longpoll pgpush_replica_reads_total)
out=$(curl -s --max-time 5 "$BASE/ext/push-longpoll?token=$BOB&since=$lp_cursor&timeout=20")
eq "$(jq -r '[.messages[].title] | join(",")' <<<"$out" 2>&1)" "Bob while paused" "a long poll's answer is the same"
check "[ $(metric push-longpoll pgpush_replica_reads_total) -gt $r0 ]" "... and read on the standby again"

echo "# --- a PUSH_REPLICA_DATABASE_URL that names a primary"
out=$(env -i PATH="$PATH" PGHOST="$PGHOST" PGPORT="$PGPORT" PGDATABASE="$PGDATABASE" PUSH_DATABASE_URL="user=$WEB_ROLE" \
    PUSH_REPLICA_DATABASE_URL="user=$WEB_ROLE" GATEWAY_INTERFACE=CGI/1.1 REQUEST_METHOD=GET \
    QUERY_STRING="since=$lp_cursor&timeout=5" REMOTE_USER=bob HTTP_HOST=localhost \
    timeout 10 "$(program push-longpoll)" 2>"$WORK/lp-cgi.log" </dev/null)
eq "$(sed '1,/^\r\{0,1\}$/d' <<<"$out" | jq -r '[.messages[].title] | join(",")' 2>&1)" "Bob while paused" \
    "push-longpoll (CGI) answers from the primary"
check 'grep -q "the replica cannot be used (it is not a standby" "$WORK/lp-cgi.log"' "... and logs that the replica is not a standby"

echo "# --- failover: the standby promoted after the primary failed, without commits it never received"
# A second standby keeps streaming while the first stops receiving (asynchronous replication that
# fell behind); 40 messages of alice's reach her open stream and the second standby only; the
# primary stops and the first standby is promoted. The 40 are lost: what asynchronous replication
# can lose (README "Failover"). push-sse lists both servers (target_session_attrs=read-write) and
# reads on the second standby. Checked: it finds the new primary by itself; the new primary draws
# ids past the lost ones (push.history, 0006_timeline.sql), so alice's open stream, and a resume from
# the lost history's cursor, get every new message; the second standby, left on the old history
# with the 40, is never read (tests/mutate.d/mutants: timeline-jump-skipped, replica-history-ignored).
S2=$WORK/standby2
harness_standby "$S2" S2
s2sql() { psql -h "$S2HOST" -p "$S2PORT" -U postgres -d "$PGDATABASE" -qAtX -c "$1"; }
publish "INSERT INTO push.message (recipient, title) VALUES ('bob', 'Bob kept')"
caught_up_on ssql && caught_up_on s2sql || hard_error "the standbys did not catch up"
kill "${DAEMON_PID[push-sse]}" 2>/dev/null; wait "${DAEMON_PID[push-sse]}" 2>/dev/null
start_daemon push-sse PUSH_DATABASE_URL="host=$PGHOST,$SHOST port=$PGPORT,$SPORT user=$WEB_ROLE target_session_attrs=read-write connect_timeout=2" \
    PUSH_REPLICA_DATABASE_URL="host=$S2HOST port=$S2PORT dbname=$PGDATABASE user=$WEB_ROLE" \
    PUSH_REPLICA_WAIT=300 PUSH_HEARTBEAT=1 PUSH_STATUS=metrics
curl -sN --max-time 2 "$BASE/ext/push-sse?token=$BOB" >"$WORK/bobkept.sse" 2>/dev/null
bob_cursor=$(grep '^id: ' "$WORK/bobkept.sse" | tail -n 1 | cut -c5-)
ssql "ALTER SYSTEM SET primary_conninfo = ''" >/dev/null
ssql "SELECT pg_reload_conf()" >/dev/null
for _ in $(seq 1 100); do [ "$(ssql "SELECT count(*) FROM pg_stat_wal_receiver")" = 0 ] && break; sleep 0.05; done
eq "$(ssql "SELECT count(*) FROM pg_stat_wal_receiver")" 0 "the first standby no longer receives"
sse live 40 "token=$ALICE"
sleep 0.5
publish "INSERT INTO push.message (recipient, title) SELECT 'alice', 'Lost ' || g FROM generate_series(1, 40) g"
wait_for '"title":"Lost 40"' live || not_ok "alice's open stream gets the 40 messages" "it did not"
lost_cursor=$(grep '^id: ' "$WORK/live.sse" | tail -n 1 | cut -c5-)
caught_up_on s2sql || hard_error "the second standby did not replay the 40"
"$top_srcdir/tests/lib/pgcluster" stop "$PRIVATE_PG" >/dev/null
eq "$(ssql "SELECT pg_promote()")" t "the first standby is promoted"
eq "$(ssql "SELECT pg_is_in_recovery()")" f "... and takes writes"
eq "$(ssql "SELECT count(*) FROM push.message WHERE title LIKE 'Lost %'")" 0 "the 40 messages alice was sent are not on the new primary (the loss)"
eq "$(s2sql "SELECT count(*) FROM push.message WHERE title LIKE 'Lost %'")" 40 "... and are on the second standby, left on the old history"
newpub() { PGHOST=$SHOST PGPORT=$SPORT PGUSER=$PUB_ROLE psql -qAtX -v ON_ERROR_STOP=1 -c "$1"; }
new_id=$(newpub "INSERT INTO push.message (recipient, title) VALUES ('alice', 'After failover') RETURNING id")
newpub "INSERT INTO push.message (recipient, title) VALUES ('bob', 'Bob after failover')" >/dev/null
lost_max=$(s2sql "SELECT max(id) FROM push.message WHERE title LIKE 'Lost %'")
check "[ $new_id -gt $lost_max ]" "the new primary's first id ($new_id) is past every id of the lost history ($lost_max)"
eq "$(ssql "SELECT timeline, jumps FROM push.history")" "2|1" "push.history: timeline 2, one jump"
check "[ $(ssql "SELECT content_version FROM push.meta") -ge 1000000000 ]" "push.meta.content_version jumped too (every ETag before the fork differs from every one after)"
wait_for '"title":"After failover"' live || not_ok "alice's open stream gets the new primary's message" "it did not (the stream, at $lost_cursor, missed it)"
eq "$(grep -c '"title":"After failover"' "$WORK/live.sse")" 1 "alice's open stream, through the failover, gets the new message once"
want=$(ssql "SELECT coalesce(sum(n), 0) FROM push.unread_view('alice')")
for _ in $(seq 1 40); do [ "$(last_total live)" = "$want" ] && break; sleep 0.05; done
eq "$(last_total live)" "$want" "... and its counts become the new primary's ($want), without the 40 lost"
r0=$(metric push-sse pgpush_replica_reads_total)
curl -sN --max-time 2 -H "Last-Event-ID: $lost_cursor" "$BASE/ext/push-sse?token=$ALICE" >"$WORK/after.sse" 2>/dev/null
eq "$(titles after)" "After failover" "a resume from the lost history's last cursor brings the new message, once"
eq "$(last_total after)" "$want" \
    "... with the new primary's counts ($want), not the second standby's ($(s2sql "SELECT coalesce(sum(n), 0) FROM push.unread_view('alice')"))"
curl -sN --max-time 2 -H "Last-Event-ID: $bob_cursor" "$BASE/ext/push-sse?token=$BOB" >"$WORK/bobafter.sse" 2>/dev/null
eq "$(titles bobafter)" "Bob after failover" "bob resumes and gets his one new message, nothing of alice's"
check 'grep -q "the replica cannot be used (it is not on the primary.s timeline" "$WORK/push-sse.log"' \
    "the log says why the second standby is not read"
eq "$(metric push-sse pgpush_replica_reads_total)" "$r0" "... and no read was made there since the failover"

harness_done
