#!/usr/bin/env bash
# test-pgbouncer.sh: the programs behind Debian's PgBouncer in transaction mode (README "Connection
# poolers"), against a real PostgreSQL. PgBouncer runs on loopback with every server connection
# reset after each transaction (server_reset_query_always = 1, DISCARD ALL), so that a named
# prepared statement never outlives its transaction: what a busy pool does sooner or later, made
# certain. Checked:
# - push-poll through the pooler: with PUSH_DB_PREPARE=0 the full answer and marking read work;
#   with the default (named statements) it fails, which is why the setting exists;
# - push-sse as an external FastCGI server behind lighttpd, its queries through the pooler and its
#   LISTEN direct (PUSH_LISTEN_DATABASE_URL): live messages (from the wake-up), a mark, a resume
#   from a cursor, another user's stream untouched;
# - a LISTEN connection that a pooler answers is refused: push-sse, push-ws and push-mqtt will not
#   start, and a plain-CGI stream's LISTEN says why in the log and never listens through it.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib/harness.sh"
PATH=$PATH:/usr/sbin
command -v pgbouncer >/dev/null || hard_error "pgbouncer is not installed (tests/run installs it)"
for p in push-sse push-ws; do [ -x "$(program $p)" ] || hard_error "$p is not built"; done
harness_start
ALICE=$(token alice)
BOB=$(token bob)

echo "# --- PgBouncer $(pgbouncer --version | head -n 1 | awk '{print $2}'), transaction mode"
B=$WORK/bouncer
BPORT=$(free_port)
# every server connection reset after each transaction: a named statement never outlives it
bpid=$("$top_srcdir/tests/lib/pgbouncer" "$B" "$BPORT" "$WEB_ROLE" default_pool_size=4 \
       "server_reset_query=DISCARD ALL" server_reset_query_always=1) || hard_error "PgBouncer did not start"
HARNESS_PIDS+=("$bpid")
POOLED="host=127.0.0.1 port=$BPORT dbname=$PGDATABASE user=$WEB_ROLE"
DIRECT="user=$WEB_ROLE"
eq "$(psql "$POOLED" -qAtX -c "PREPARE p AS SELECT 1" -c "EXECUTE p" 2>&1 | grep -c 'does not exist')" 1 \
    "(a statement prepared through it is gone at the next transaction: transaction mode, reset after each)"

echo "# --- push-poll through the pooler"
# poll_cgi METHOD BODY VAR=VALUE...: push-poll as plain CGI for alice (REMOTE_USER, as a web
# server's login gives it), the database settings given; the raw answer
poll_cgi() {
    local method=$1 body=$2
    shift 2
    printf '%s' "$body" | env -i PATH="$PATH" PGHOST="$PGHOST" PGPORT="$PGPORT" PGDATABASE="$PGDATABASE" \
        GATEWAY_INTERFACE=CGI/1.1 REQUEST_METHOD="$method" QUERY_STRING= REMOTE_USER=alice \
        CONTENT_TYPE=application/json CONTENT_LENGTH="${#body}" HTTP_HOST=localhost "$@" \
        "$BIN/push-poll" 2>>"$WORK/poll-cgi.log"
}
status_of() { head -n 1 <<<"$1" | tr -d '\r'; }
body_of() { sed '1,/^\r\{0,1\}$/d' <<<"$1"; }
publish "INSERT INTO push.message (recipient, title, body) VALUES ('alice', 'Through the pooler', 'x'), ('bob', 'Bob''s', 'y')"
out=$(poll_cgi GET "" PUSH_DATABASE_URL="$POOLED" PUSH_DB_PREPARE=0)
eq "$(status_of "$out")" "Status: 200 OK" "PUSH_DB_PREPARE=0: push-poll answers through PgBouncer"
eq "$(body_of "$out" | jq -r '.messages[0].title + " " + (.unread.total|tostring)' 2>&1)" "Through the pooler 1" \
    "PUSH_DB_PREPARE=0: alice's message and her count, read through the pooler"
out=$(poll_cgi POST '{"mark":"all"}' PUSH_DATABASE_URL="$POOLED" PUSH_DB_PREPARE=0)
eq "$(status_of "$out")" "Status: 200 OK" "PUSH_DB_PREPARE=0: marking all read through PgBouncer"
out=$(poll_cgi GET "" PUSH_DATABASE_URL="$POOLED" PUSH_DB_PREPARE=0)
eq "$(body_of "$out" | jq -r '.unread.total' 2>&1)" 0 "... and the mark holds"
eq "$(sql "SELECT sum(n) FROM push.unread_view('bob')")" 1 "bob's unread message is untouched by alice's mark"
out=$(poll_cgi GET "" PUSH_DATABASE_URL="$POOLED")
case $(status_of "$out") in
    "Status: 200 OK") not_ok "named statements (the default) through a transaction-mode pooler fail" "it answered 200" ;;
    "Status: 5"*) ok "named statements (the default) through a transaction-mode pooler fail: $(status_of "$out")" ;;
    *) not_ok "named statements (the default) through a transaction-mode pooler fail" "answered [$(status_of "$out")]" ;;
esac
check 'grep -q "prepared statement .* does not exist (through a connection pooler in transaction mode? set PUSH_DB_PREPARE=0" "$WORK/poll-cgi.log"' \
    "... and the log says why, and what to set"
out=$(poll_cgi GET "" PUSH_DATABASE_URL="$DIRECT")
eq "$(status_of "$out")" "Status: 200 OK" "named statements on a direct connection: 200"

echo "# --- push-sse behind lighttpd: its queries through the pooler, its LISTEN direct"
start_daemon push-sse PUSH_DATABASE_URL="$POOLED" PUSH_LISTEN_DATABASE_URL="$DIRECT" PUSH_DB_PREPARE=0 \
    PUSH_HEARTBEAT=1 PUSH_STATUS=metrics
sse() { # sse NAME QUERY [curl args]: a background SSE client of /ext/push-sse writing $WORK/NAME.sse
    local name=$1 q=$2
    shift 2
    curl -sN --max-time 8 "$@" "$BASE/ext/push-sse?$q" >"$WORK/$name.sse" 2>/dev/null &
}
sse alice "token=$ALICE"
sse bob "token=$BOB"
for _ in $(seq 1 100); do grep -q '^event: unread' "$WORK/alice.sse" 2>/dev/null && grep -q '^event: unread' "$WORK/bob.sse" 2>/dev/null && break; sleep 0.05; done
check 'grep -q "^event: unread" "$WORK/alice.sse"' "alice's stream opens: her first read went through the pooler"
publish "INSERT INTO push.message (recipient, title, body) VALUES ('alice', 'Live one', 'a'), ('alice', 'Live two', 'b')"
for _ in $(seq 1 100); do grep -q 'Live two' "$WORK/alice.sse" && break; sleep 0.05; done
check 'grep -q "Live one" "$WORK/alice.sse" && grep -q "Live two" "$WORK/alice.sse"' "alice gets both live messages (the LISTEN connection, direct, woke her stream)"
eq "$(grep -c '"title":"Live' "$WORK/alice.sse")" 2 "... each once"
check '! grep -q "Live" "$WORK/bob.sse"' "bob's stream shows none of alice's messages"
last=$(grep '^id: ' "$WORK/alice.sse" | tail -n 1 | cut -c5-)
publish "INSERT INTO push.message (recipient, title, body) VALUES ('alice', 'While away', 'c')"
curl -sN --max-time 2 -H "Last-Event-ID: $last" "$BASE/ext/push-sse?token=$ALICE" >"$WORK/resume.sse" 2>/dev/null
eq "$(grep -c '"title":"' "$WORK/resume.sse")" 1 "a resume from alice's cursor, read through the pooler, brings exactly the one message after it"
check 'grep -q "While away" "$WORK/resume.sse"' "... the one she missed"
eq "$(grep -c 'cannot LISTEN\|pooler' "$WORK/push-sse.log")" 0 "push-sse says nothing of a pooler: its LISTEN is direct"
kill "${DAEMON_PID[push-sse]}" 2>/dev/null
wait "${DAEMON_PID[push-sse]}" 2>/dev/null

echo "# --- a LISTEN that a pooler answers is refused"
# refused PROGRAM ARGS...: PROGRAM with its LISTEN connection on the pooler exits 1 at once, saying why
refused() {
    local prog=$1 rc
    shift
    timeout 20 env PUSH_TOKEN_SECRET="$SECRET" PUSH_DATABASE_URL="$POOLED" "$@" >"$WORK/$prog-refused.log" 2>&1
    rc=$?
    eq "$rc" 1 "$prog: a LISTEN connection through the pooler: it will not start (exit 1)"
    check 'grep -q "refusing to start: the LISTEN connection.*connection pooler.*PUSH_LISTEN_DATABASE_URL" "$WORK/$prog-refused.log"' \
        "$prog: ... and says why, naming PUSH_LISTEN_DATABASE_URL"
}
refused push-sse "$(program push-sse)" --listen "$WORK/refused-sse.sock"
refused push-ws env PUSH_WS_LISTEN="127.0.0.1:$(free_port)" "$(program push-ws)"
if grep -q '^#define PUSH_WITH_MQTT 1$' "$top_builddir/config.h"; then
    refused push-mqtt env PUSH_MQTT_HOST=127.0.0.1 PUSH_MQTT_PORT="$(free_port)" "$(program push-mqtt)"
else
    echo "# push-mqtt is not built here (configure --without-mqtt): its refusal is not checked"
fi
# and PUSH_LISTEN_DATABASE_URL on the pooler, PUSH_DATABASE_URL direct: refused the same
timeout 20 env PUSH_TOKEN_SECRET="$SECRET" PUSH_DATABASE_URL="$DIRECT" PUSH_LISTEN_DATABASE_URL="$POOLED" \
    "$(program push-sse)" --listen "$WORK/refused-sse2.sock" >"$WORK/push-sse-refused2.log" 2>&1
eq "$?" 1 "push-sse: PUSH_LISTEN_DATABASE_URL on the pooler: it will not start"
# plain CGI starts no check (a process per request): its LISTEN connection refuses the pooler
out=$(env -i PATH="$PATH" PGHOST="$PGHOST" PGPORT="$PGPORT" PGDATABASE="$PGDATABASE" PUSH_DATABASE_URL="$POOLED" \
    PUSH_DB_PREPARE=0 GATEWAY_INTERFACE=CGI/1.1 REQUEST_METHOD=GET QUERY_STRING= REMOTE_USER=alice \
    PUSH_LIFETIME=2 timeout 10 "$(program push-sse)" 2>"$WORK/sse-cgi.log" </dev/null)
check 'grep -q "cannot LISTEN: it goes through a connection pooler" "$WORK/sse-cgi.log"' \
    "push-sse as CGI: its LISTEN connection on the pooler logs why and is not used"
eq "$(sql "SELECT count(*) FROM pg_stat_activity WHERE query ILIKE 'LISTEN%' AND usename = '$WEB_ROLE'")" 0 \
    "no server connection is left LISTENing through the pooler"

harness_done
