#!/usr/bin/env bash
# test-reload.sh: the configuration file (PUSH_CONFIG) and SIGHUP: push-sse as an external FastCGI
# server behind lighttpd and push-ws on loopback, each reading its secret, log level and limits from a
# file; the token secret rotated (the new one current, the old one previous, then dropped) under open
# streams, which stay and go on receiving; the log level and the per-user limit changed; a broken file
# on SIGHUP logged with file:line and not applied at all; a setting that needs a restart named; and
# what --check says of the file. (The parser's own cases: tests/unit/test_config.)
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib/harness.sh"
command -v node >/dev/null || hard_error "node is not installed (tests/run installs it)"
harness_start

A=$SECRET        # the secret before the rotation: the harness's push-poll mints tickets with it
B=$OTHER_SECRET  # the one after it
CONF=$WORK/pgpush.conf
SSE=/ext/push-sse
LOG=$WORK/push-sse.log
# conf LINE...: the file, replaced whole (rename: a reader never sees half of it)
conf() { printf '%s\n' "$@" >"$CONF.new" && mv "$CONF.new" "$CONF"; }
# reloads LOG: how many reloads LOG has logged (done or refused)
reloads() { grep -c -E '(info: reload: |error: reload: )' "$1"; }
# hup PID LOG: SIGHUP, then until LOG says the reload is done or refused (10 s)
hup() {
    local before
    before=$(reloads "$2")
    kill -HUP "$1"
    for _ in $(seq 1 200); do [ "$(reloads "$2")" -gt "$before" ] && return 0; sleep 0.05; done
    return 1
}
# sse_open NAME QUERY: a background SSE client writing to $WORK/NAME.sse
sse_open() {
    curl -sN --max-time 60 "$BASE$SSE?$2" >"$WORK/$1.sse" 2>/dev/null &
    eval "SSE_PID_$1=$!"
    HARNESS_PIDS+=($!)
}
wait_for() { # wait_for NAME PATTERN [SECONDS]
    for _ in $(seq 1 $(( ${3:-5} * 20 ))); do grep -q -- "$2" "$WORK/$1.sse" 2>/dev/null && return 0; sleep 0.05; done
    return 1
}
# opens QUERY: what a new stream gets within a second: "open" (its first counts), or "STATUS CODE"
opens() {
    local out
    out=$(curl -sN --max-time 1 -D "$WORK/opens.h" "$BASE$SSE?$1" 2>/dev/null)
    if grep -q '^event: unread' <<<"$out"; then echo open
    elif grep -q '^event: error' <<<"$out"; then
        sed -n '/^event: error$/{n;s/^data: //p}' <<<"$out" | jq -r '"\(.status) \(.error)"'
    else echo "$(head -n 1 "$WORK/opens.h" | cut -d' ' -f2) $(jq -r .error <<<"$out" 2>/dev/null)"; fi
}
wait_log() { # wait_log TEXT: until the log of push-sse has it (5 s)
    for _ in $(seq 1 100); do grep -qF -- "$1" "$LOG" && return 0; sleep 0.05; done
    return 1
}
ticket_for() { # a stream ticket from the harness's push-poll (signed with A)
    curl -s -X POST -H "Authorization: Bearer $1" -H 'Content-Type: application/json' \
        --data '{"ticket":true}' "$BASE/ext/push-poll" | jq -r .ticket
}

echo "# --- the file: --check says what it read; a missing or wrong one is an error naming it"
conf "# pgpush.conf of the test" "" "PUSH_TOKEN_SECRET=\"$A\"" "PUSH_LOG_LEVEL='info'" \
     "PUSH_MAX_STREAMS_PER_USER=2" "PUSH_HEARTBEAT=1" "; a comment" "PUSH_LIFETIME=120"
out=$(env -u PUSH_TOKEN_SECRET PUSH_CONFIG="$CONF" "$BIN/push-sse" --check 2>&1)
check 'grep -qF "push-sse: configuration file $CONF: 5 settings" <<<"$out"' "--check names the file it read and its settings"
out=$(env -u PUSH_TOKEN_SECRET "$BIN/push-sse" --config "$WORK/absent.conf" --check 2>&1); rc=$?
check '[ $rc = 1 ] && grep -qF "$WORK/absent.conf: No such file or directory" <<<"$out"' \
    "--config naming a missing file: exit 1, the file and the errno text"
printf 'PUSH_HEARTBEAT=1\nPUSH_HEARTBEET=2\n' >"$WORK/typo.conf"
out=$(PUSH_CONFIG=$WORK/typo.conf "$BIN/push-sse" --check 2>&1); rc=$?
check '[ $rc = 1 ] && grep -qF "$WORK/typo.conf:2: PUSH_HEARTBEET: unknown setting" <<<"$out"' \
    "an unknown PUSH_* key: exit 1 with file:line"
printf 'PUSH_LIFETIME=10\nPUSH_HEARTBEAT=abc\n' >"$WORK/bad.conf"
out=$(PUSH_CONFIG=$WORK/bad.conf "$BIN/push-sse" --check 2>&1); rc=$?
check '[ $rc = 1 ] && grep -qF "$WORK/bad.conf:2: PUSH_HEARTBEAT: expected a number" <<<"$out"' \
    "a bad value in the file: exit 1 with file:line"
out=$(PUSH_CONFIG=$WORK/bad.conf PUSH_HEARTBEAT=3 "$BIN/push-sse" --check 2>&1)
check 'grep -q "configuration and database are fine" <<<"$out"' "the environment overrides the file key by key"

echo "# --- push-sse from the file, streams open with secret A"
rm -f "$WORK/push-sse.sock"
env -u PUSH_TOKEN_SECRET PUSH_CONFIG="$CONF" "$BIN/push-sse" --listen "$WORK/push-sse.sock" 2>>"$LOG" &
SSE_PID=$!
HARNESS_PIDS+=($SSE_PID)
for _ in $(seq 1 100); do [ -S "$WORK/push-sse.sock" ] && break; sleep 0.05; done
ALICE_A=$(token alice 3600 "$A")
CAROL_A=$(token carol 3600 "$A")
BOB_B=$(token bob 3600 "$B")
sse_open s1 "token=$ALICE_A"
sse_open s2 "ticket=$(ticket_for "$ALICE_A")"
wait_for s1 'event: unread' && wait_for s2 'event: unread' && ok "two streams of alice open (a token and a ticket of A)" \
    || not_ok "streams open" "$(tail -n 5 "$LOG")"
eq "$(opens "token=$ALICE_A")" "429 too_many_user_streams" "a third of alice's is refused (PUSH_MAX_STREAMS_PER_USER=2)"
eq "$(opens "token=$BOB_B")" "401 bad_token" "a token of B is refused before the rotation"
eq "$(grep -c ': debug: ' "$LOG")" 0 "no debug lines at PUSH_LOG_LEVEL=info"

echo "# --- SIGHUP: B current, A previous, debug, 3 streams per user"
conf "PUSH_TOKEN_SECRET=$B" "PUSH_TOKEN_SECRET_PREVIOUS=$A" "PUSH_LOG_LEVEL=debug" \
     "PUSH_MAX_STREAMS_PER_USER=3" "PUSH_HEARTBEAT=1" "PUSH_LIFETIME=120"
hup $SSE_PID "$LOG" && ok "SIGHUP: the reload is logged" || not_ok "reload logged" "$(tail -n 5 "$LOG")"
line=$(grep 'info: reload: ' "$LOG" | tail -n 1)
for name in PUSH_TOKEN_SECRET PUSH_TOKEN_SECRET_PREVIOUS PUSH_LOG_LEVEL PUSH_MAX_STREAMS_PER_USER; do
    check 'grep -qw "$name" <<<"$line"' "the reload's line names $name"
done
check '! grep -qF -e "$A" -e "$B" "$LOG"' "no secret in the log"
check 'kill -0 $SSE_PID_s1 && kill -0 $SSE_PID_s2' "the open streams are still connected"
publish "INSERT INTO push.message (recipient, title) VALUES ('alice', 'after the reload')"
wait_for s1 'after the reload' && wait_for s2 'after the reload' \
    && ok "both open streams get a message published after the reload, on the same connection" \
    || not_ok "delivery after the reload" "$(tail -n 3 "$WORK/s1.sse")"
eq "$(grep -c '^retry:' "$WORK/s1.sse")" 1 "... which was never ended and reopened"
eq "$(opens "token=$BOB_B")" open "a token of B (the new current secret) is accepted"
eq "$(opens "token=$CAROL_A")" open "a token of A (the previous secret) is still accepted"
eq "$(opens "ticket=$(ticket_for "$CAROL_A")")" open "a ticket signed with A is still accepted"
eq "$(opens "token=$ALICE_A")" open "a third stream of alice opens now (PUSH_MAX_STREAMS_PER_USER=3)"
eq "$(opens "token=$(token erin 3600 "$B")")" open "a stream of erin opens and leaves"
wait_log "debug: a stream of erin ended: the client left" \
    && ok "debug lines appear after the reload (PUSH_LOG_LEVEL=debug): erin's leaving" \
    || not_ok "debug after the reload" "$(tail -n 3 "$LOG")"

echo "# --- SIGHUP: the previous secret dropped"
conf "PUSH_TOKEN_SECRET=$B" "PUSH_LOG_LEVEL=debug" "PUSH_MAX_STREAMS_PER_USER=3" "PUSH_HEARTBEAT=1" \
     "PUSH_LIFETIME=120" "PUSH_DB_POOL=5"
hup $SSE_PID "$LOG" && ok "second reload logged" || not_ok "second reload" "$(tail -n 5 "$LOG")"
check 'grep "info: reload: " "$LOG" | tail -n 1 | grep -qw PUSH_TOKEN_SECRET_PREVIOUS' "its line names PUSH_TOKEN_SECRET_PREVIOUS"
check 'grep -q "warn: reload: changed, but needs a restart (kept as it was): PUSH_DB_POOL" "$LOG"' \
    "a setting that needs a restart is named in a warning"
eq "$(opens "token=$CAROL_A")" "401 bad_token" "a token of A now gets 401 bad_token"
eq "$(opens "token=$BOB_B")" open "the token of B still works"
publish "INSERT INTO push.message (recipient, title) VALUES ('alice', 'after the second')"
wait_for s1 'after the second' && ok "the stream opened before both reloads still receives" \
    || not_ok "delivery after the second reload"

echo "# --- a broken file on SIGHUP: an error with file:line, nothing of it applied"
conf "PUSH_TOKEN_SECRET=third-secret-0123456789abcdef" "PUSH_LOG_LEVEL=error" "PUSH_MAX_STREAMS_PER_USER=1" \
     "PUSH_HEARTBEAT=1" "PUSH_LIFETIME=soon"
hup $SSE_PID "$LOG" && ok "the refused reload is logged" || not_ok "refused reload logged"
check 'grep -qF "error: reload: $CONF:5: PUSH_LIFETIME: expected a number" "$LOG"' "the error names file:line and the setting"
check 'kill -0 $SSE_PID && kill -0 $SSE_PID_s1' "the process and its streams are alive"
eq "$(opens "token=$BOB_B")" open "the secret is the old one (B still works)"
eq "$(opens "token=$ALICE_A")" "401 bad_token" "A is still refused"
eq "$(opens "token=$(token frank 3600 "$B")")" open "a stream of frank opens and leaves"
wait_log "debug: a stream of frank ended: the client left" \
    && ok "the log level is the old one (debug lines go on, not error only)" || not_ok "log level kept"
conf "PUSH_TOKEN_SECRET=$B" "PUSH_LOG_LEVEL=debug" "PUSH_MAX_STREAMS_PER_USER=3" "PUSH_HEARTBEET=1"
hup $SSE_PID "$LOG"
check 'grep -qF "error: reload: $CONF:4: PUSH_HEARTBEET: unknown setting" "$LOG"' "an unknown key on SIGHUP: file:line"
publish "INSERT INTO push.message (recipient, title) VALUES ('alice', 'after the errors')"
wait_for s1 'after the errors' && ok "the stream still receives after the refused reloads" || not_ok "delivery after refused reloads"

echo "# --- push-ws: the same rotation"
WS_LOG=$WORK/push-ws.log
WS_PORT=$(free_port)
conf "PUSH_TOKEN_SECRET=$A" "PUSH_HEARTBEAT=1"
env -u PUSH_TOKEN_SECRET PUSH_CONFIG="$CONF" "$DAEMONS/push-ws" --listen "127.0.0.1:$WS_PORT" 2>>"$WS_LOG" &
WS_PID=$!
HARNESS_PIDS+=($WS_PID)
for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$WS_PORT") 2>/dev/null && break; sleep 0.05; done
WS="ws://127.0.0.1:$WS_PORT/cgi-bin/push-ws"
ws_first() { node "$top_srcdir/tests/lib/ws-client.mjs" "$WS?$1" --max-time 1 2>&1 | grep -m1 '^HTTP'; }
node "$top_srcdir/tests/lib/ws-client.mjs" "$WS?token=$ALICE_A" --max-time 60 >"$WORK/w1.out" 2>&1 </dev/null &
W1=$!
HARNESS_PIDS+=($W1)
for _ in $(seq 1 100); do grep -q '"type":"unread"' "$WORK/w1.out" 2>/dev/null && break; sleep 0.05; done
eq "$(head -n 1 "$WORK/w1.out")" "HTTP 101" "push-ws: a socket of A opens"
eq "$(ws_first "token=$BOB_B")" "HTTP 401" "push-ws: B refused before the rotation"
conf "PUSH_TOKEN_SECRET=$B" "PUSH_TOKEN_SECRET_PREVIOUS=$A" "PUSH_HEARTBEAT=1"
hup $WS_PID "$WS_LOG" && ok "push-ws: SIGHUP reloads" || not_ok "push-ws reload" "$(tail -n 5 "$WS_LOG")"
eq "$(ws_first "token=$BOB_B")" "HTTP 101" "push-ws: B accepted"
eq "$(ws_first "token=$CAROL_A")" "HTTP 101" "push-ws: A (previous) accepted"
publish "INSERT INTO push.message (recipient, title) VALUES ('alice', 'ws after the reload')"
for _ in $(seq 1 100); do grep -q 'ws after the reload' "$WORK/w1.out" && break; sleep 0.05; done
check 'grep -q "ws after the reload" "$WORK/w1.out" && ! grep -q "^CLOSE" "$WORK/w1.out"' \
    "push-ws: the open socket receives after the reload, not closed"
conf "PUSH_TOKEN_SECRET=$B" "PUSH_HEARTBEAT=1"
hup $WS_PID "$WS_LOG"
eq "$(ws_first "token=$CAROL_A")" "HTTP 401" "push-ws: A refused once the previous secret is dropped"
eq "$(ws_first "token=$BOB_B")" "HTTP 101" "push-ws: B still accepted"

echo "# --- push-token --verify knows the previous secret"
conf "PUSH_TOKEN_SECRET=$B" "PUSH_TOKEN_SECRET_PREVIOUS=$A"
out=$(env -u PUSH_TOKEN_SECRET PUSH_CONFIG="$CONF" "$TOOLS/push-token" --verify "$CAROL_A" 2>&1)
check 'grep -q "^user carol, expires [0-9]*, signed with the previous secret$" <<<"$out"' "a token of A verifies, and says so"
out=$(env -u PUSH_TOKEN_SECRET PUSH_CONFIG="$CONF" "$TOOLS/push-token" --ttl 60 dave 2>&1)
check 'PUSH_TOKEN_SECRET=$B "$TOOLS/push-token" --verify "$out" | grep -q "^user dave, expires [0-9]*$"' \
    "push-token signs with the current secret"

kill $W1 $SSE_PID_s1 $SSE_PID_s2 2>/dev/null
harness_done
