#!/usr/bin/env bash
# test-stream-cgi.sh: push-sse, push-longpoll and push-iframe as plain CGI (one request per process,
# no FastCGI connection to hand to the event loop: each holds its stream in its own thread, reading
# through the pool) behind lighttpd's mod_cgi (the harness's /cgi/ route, PUSH_HEARTBEAT=1,
# PUSH_LIFETIME=4, PUSH_LOG_LEVEL=debug), against a real PostgreSQL: the SSE preamble, live events
# and their ids, resume from a cursor (none repeated, none lost, also across the ends of
# lifetimes), long polls answered by a message and by their timeout, one user's stream never
# showing another's messages, and a CGI process (with its database connections) gone once its
# client has.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib/harness.sh"
for p in push-sse push-longpoll push-iframe; do [ -x "$BIN/$p" ] || hard_error "$BIN/$p is not built"; done
harness_start
SSE=/cgi/push-sse
LP=/cgi/push-longpoll
ALICE=$(token alice)
BOB=$(token bob)
echo "# through lighttpd's mod_cgi at $BASE"

# sse_open NAME QUERY [curl args]: a background SSE client of $SSE writing to $WORK/NAME.sse
sse_open() {
    local name=$1 q=$2
    shift 2
    curl -sN --max-time "${SSE_MAX:-15}" -D "$WORK/$name.h" "$@" "$BASE$SSE?$q" >"$WORK/$name.sse" 2>/dev/null &
    eval "SSE_PID_$name=$!"
}
sse_alive() { local v="SSE_PID_$1"; kill -0 "${!v}" 2>/dev/null; }
sse_wait() { local v="SSE_PID_$1"; wait "${!v}" 2>/dev/null; }
# sse_follow NAME QUERY CURSOR SECONDS: an EventSource for SECONDS: reconnects after every end
# (each lifetime) with Last-Event-ID = the last id it saw, starting at CURSOR
sse_follow() {
    local name=$1 q=$2 start=$3 secs=$4
    printf 'id: %s\n\n' "$start" >"$WORK/$name.sse"
    (
        end=$(( $(date +%s) + secs ))
        while [ "$(date +%s)" -lt "$end" ]; do
            id=$(grep '^id: ' "$WORK/$name.sse" | tail -n 1 | cut -c5-)
            curl -sN --max-time $(( end - $(date +%s) + 1 )) -H "Last-Event-ID: $id" "$BASE$SSE?$q" \
                >>"$WORK/$name.sse" 2>/dev/null
            printf '\n' >>"$WORK/$name.sse"
            sleep 0.2
        done
    ) &
    eval "SSE_PID_$name=$!"
}
# titles NAME: the titles of the message events received, comma-separated
titles() {
    awk '/^event: message/ { m = 1; next } m && /^data: / { print substr($0, 7); m = 0 }' "$WORK/$1.sse" \
        | jq -r .title | paste -sd, -
}
# id_of NAME TITLE: the id: line of the message event carrying TITLE
id_of() {
    awk -v t="\"title\":\"$2\"" '/^id: / { id = substr($0, 5) } /^event: / { ev = $2 }
        /^data: / && ev == "message" && index($0, t) { print id; exit }' "$WORK/$1.sse"
}
# wait_for NAME PATTERN [SECONDS]: until the stream file matches
wait_for() {
    local i
    for i in $(seq 1 $(( ${3:-5} * 20 ))); do grep -q -- "$2" "$WORK/$1.sse" 2>/dev/null && return 0; sleep 0.05; done
    return 1
}
head_of() { curl -s "$BASE/cgi-bin/push-poll?token=$1&limit=1" | jq -r .cursor; }
# cgi_conns PROGRAM: PostgreSQL connections of that program's CGI processes (the spawned FastCGI
# ones of the harness are named otherwise or hold no streams here)
cgi_conns() { sql "SELECT count(*) FROM pg_stat_activity WHERE application_name = '$1' AND datname = current_database()"; }

echo "# --- SSE over CGI: retry advice, the counts first, a message committed after connecting"
publish "INSERT INTO push.message (recipient, title) VALUES ('alice', 'before the stream')"
sse_open a "token=$ALICE"
wait_for a 'event: unread' 10 && ok "the CGI stream opens" || not_ok "the CGI stream opens" "$(head -c 400 "$WORK/a.sse")"
h=$(tr -d '\r' <"$WORK/a.h")
grep -qi '^content-type: text/event-stream' <<<"$h" && ok "Content-Type: text/event-stream" || not_ok "event-stream content type" "$h"
eq "$(grep -m 1 . "$WORK/a.sse")" "retry: 3000" "the stream starts with retry: (PUSH_RETRY)"
eq "$(grep -m 1 '^event: ' "$WORK/a.sse")" "event: unread" "its first event is unread"
eq "$(awk '/^event: unread/ { u = 1; next } u && /^data: / { print; exit }' "$WORK/a.sse" | cut -c7- | jq -r .total)" 1 \
    "... with alice's count (1)"
eq "$(titles a)" "" "no cursor: from now on, no replay of the message before it"
t0=$(date +%s%N)
publish "INSERT INTO push.message (recipient, title) VALUES ('alice', 'cgi live')"
if wait_for a '"cgi live"' 2 && sse_alive a; then
    ok "a message committed after connecting arrives while the stream is open ($(( ($(date +%s%N) - t0) / 1000000 )) ms)"
else
    not_ok "a message committed after connecting arrives while the stream is open" "$(cat "$WORK/a.sse")"
fi
live_cursor=$(curl -s "$BASE/cgi-bin/push-poll?token=$ALICE" | jq -r '.messages[] | select(.title == "cgi live") | .cursor')
eq "$(id_of a 'cgi live')" "$live_cursor" "its event id is the message's cursor (push-poll's)"
sse_wait a
eq "$(titles a)" "cgi live" "only that message, once"
check 'grep -q "^: heartbeat" "$WORK/a.sse"' "heartbeats on the idle stream (PUSH_HEARTBEAT=1)"
eq "$(tail -n 3 "$WORK/a.sse" | tr '\n' ' ')" 'event: close data: {"reason":"lifetime"}  ' \
    "the stream ends cleanly at its lifetime (event: close), and the CGI request with it"

echo "# --- SSE over CGI: resume from Last-Event-ID, ?lastEventId=, ?since=, and a message's own id"
c=$(head_of "$ALICE")
publish "INSERT INTO push.message (recipient, title) VALUES ('alice', 'r1'), (NULL, 'r2 to all'), ('bob', 'r- for bob'), ('alice', 'r3')"
SSE_MAX=2 sse_open h "token=$ALICE" -H "Last-Event-ID: $c"
SSE_MAX=2 sse_open q "token=$ALICE&lastEventId=$c"
SSE_MAX=2 sse_open s "token=$ALICE&since=$c"
sse_wait h; sse_wait q; sse_wait s
eq "$(titles h)" "r1,r2 to all,r3" "Last-Event-ID: exactly what came after it, in order, bob's left out"
eq "$(titles q)" "r1,r2 to all,r3" "?lastEventId=: the same"
eq "$(titles s)" "r1,r2 to all,r3" "?since=: the same"
SSE_MAX=2 sse_open m "token=$ALICE" -H "Last-Event-ID: $(id_of h r1)"
sse_wait m
eq "$(titles m)" "r2 to all,r3" "from r1's own event id: what follows r1, r1 not again"
publish "INSERT INTO push.message (recipient, title) SELECT 'alice', 'bulk ' || g FROM generate_series(1, 70) g"
c2=$(id_of h r3)
SSE_MAX=3 sse_open bulk "token=$ALICE" -H "Last-Event-ID: $c2"
sse_wait bulk
eq "$(titles bulk)" "$(seq -f 'bulk %g' 1 70 | paste -sd, -)" "a backlog of 70 (three reads of 32): all of it, in order, nothing twice"
check '[ "$(grep -c "^event: unread" "$WORK/bulk.sse")" -ge 1 ]' "... with the counts"
http GET "$SSE?token=$ALICE&since=ffffffff-0-$(cut -d- -f3 <<<"$c")"
status_is 400 cursor_future "a cursor ahead of every message: 400 cursor_future (the thread path's first read)"
http GET "$SSE?token=$ALICE" -H "Last-Event-ID: $(head_of "$BOB")"
status_is 403 cursor_user "another user's cursor: 403"
http GET "$SSE"
status_is 401 unauthorized "no identity: 401"

echo "# --- SSE over CGI across the ends of lifetimes: an EventSource reconnecting loses nothing"
c=$(head_of "$ALICE")
sse_follow f "token=$ALICE" "$c" 13
(
    for i in $(seq 1 20); do
        publish "INSERT INTO push.message (recipient, title) VALUES ('alice', 'f$i')"
        [ $((i % 5)) = 0 ] && publish "INSERT INTO push.message (recipient, title) VALUES ('bob', 'f-bob$i')"
        sleep 0.4
    done
) &
writer=$!
wait "$writer"
sse_wait f
eq "$(titles f)" "$(seq -f 'f%g' 1 20 | paste -sd, -)" "20 messages over 8 s, streams of 4 s: each once, in order"
check '[ "$(grep -c "^event: close" "$WORK/f.sse")" -ge 2 ]' "... across at least two ends of lifetime ($(grep -c '^event: close' "$WORK/f.sse"))"

echo "# --- two users over CGI: a stream never carries another user's messages"
sse_open ua "token=$ALICE"
sse_open ub "token=$BOB"
wait_for ua 'event: unread' 10 && wait_for ub 'event: unread' 10 || not_ok "both streams open"
publish "INSERT INTO push.message (recipient, title) VALUES ('bob', 'bob secret')"
publish "INSERT INTO push.message (recipient, title) VALUES ('alice', 'alice only')"
publish "INSERT INTO push.message (recipient, title) VALUES (NULL, 'both see this')"
wait_for ua '"both see this"' 3 || true
wait_for ub '"both see this"' 3 || true
sleep 0.3
eq "$(titles ua)" "alice only,both see this" "alice's stream: hers and the broadcast, never bob's"
eq "$(titles ub)" "bob secret,both see this" "bob's stream: his and the broadcast, never alice's"
check '! grep -q "bob secret" "$WORK/ua.sse"' "bob's message appears nowhere in alice's stream"
kill "$SSE_PID_ua" "$SSE_PID_ub" 2>/dev/null; sse_wait ua; sse_wait ub

echo "# --- long polling over CGI"
http GET "$LP?token=$ALICE"
eq "$STATUS" 200 "no since: 200"
json_eq '(.cursor == "'"$(head_of "$ALICE")"'") and (.timeout == false)' true "no since: the current state at once, the head cursor"
c=$(jq -r .cursor <<<"$BODY")
(sleep 0.8; publish "INSERT INTO push.message (recipient, title) VALUES ('alice', 'woke the cgi poll')") &
waker=$!
t0=$(date +%s%N)
http GET "$LP?token=$ALICE&since=$c&timeout=10"
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
wait $waker
json_eq '[.timeout, ([.messages[].title] | join(","))] | map(tostring) | join(" ")' "false woke the cgi poll" \
    "a held poll is answered with the message committed while it was held"
check '[ $ms -ge 700 ] && [ $ms -lt 3000 ]' "... when it commits (${ms} ms, 800 of them waiting), not at its timeout"
c=$(jq -r .cursor <<<"$BODY")
t0=$(date +%s%N)
http GET "$LP?token=$ALICE&since=$c&timeout=2"
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
json_eq '[.timeout, (.messages | length), .cursor == "'"$c"'"] | map(tostring) | join(",")' "true,0,true" \
    "nothing new: answered \"timeout\" at its end, cursor unchanged"
check '[ $ms -ge 1900 ] && [ $ms -lt 4000 ]' "... after its 2 s (${ms} ms)"
(sleep 0.6; publish "INSERT INTO push.message (recipient, title) VALUES ('bob', 'not for alice''s poll')") &
waker=$!
http GET "$LP?token=$ALICE&since=$c&timeout=2"
wait $waker
json_eq '[.timeout, (.messages | length)] | map(tostring) | join(",")' "true,0" \
    "bob's message does not answer alice's held poll: it times out empty"
(sleep 0.6; curl -s -o /dev/null -X POST -H "Authorization: Bearer $ALICE" -H 'Content-Type: application/json' \
    --data '{"mark":"all"}' "$BASE/cgi/push-poll") &
marker=$!
http GET "$LP?token=$ALICE&since=$c&timeout=10"
wait $marker
json_eq '[.timeout, .unread.total, (.messages | length)] | map(tostring) | join(",")' "false,0,0" \
    "a read-state change (marked through another CGI request) answers a held poll"
publish "INSERT INTO push.message (recipient, title) VALUES ('alice', 'lp1'), ('alice', 'lp2'), ('alice', 'lp3')"
t0=$(date +%s%N)
http GET "$LP?token=$ALICE&since=$c&limit=2&timeout=5"
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
json_eq '[([.messages[].title] | join(",")), (.more | tostring), (.timeout | tostring)] | join(" ")' "lp1,lp2 true false" \
    "messages waiting: limit=2 of them, more=true, no timeout"
check '[ $ms -lt 2000 ]' "... answered at once ($ms ms), not held for its 5 s"
http GET "$LP?token=$ALICE&since=$(jq -r .cursor <<<"$BODY")&limit=2&timeout=5"
json_eq '[.messages[].title] | join(",")' "lp3" "from that answer's cursor: the rest, none again"
http GET "$LP?token=$ALICE&since=ffffffff-0-$(cut -d- -f3 <<<"$c")"
status_is 400 cursor_future "long poll: a cursor ahead of every message: 400"

echo "# --- push-iframe over CGI"
c=$(head_of "$ALICE")
curl -sN --max-time 15 -D "$WORK/ifr.h" "$BASE/cgi/push-iframe?callback=cb&token=$ALICE&since=$c" >"$WORK/ifr.sse" 2>/dev/null &
ifr=$!
wait_for ifr 'parent.cb("open"' 10 && ok "the iframe document opens (parent.cb(\"open\", ...))" \
    || not_ok "the iframe document opens" "$(head -c 400 "$WORK/ifr.sse")"
grep -qi '^content-type: text/html' "$WORK/ifr.h" && ok "Content-Type: text/html" || not_ok "iframe content type" "$(cat "$WORK/ifr.h")"
publish "INSERT INTO push.message (recipient, title) VALUES ('bob', 'iframe bob'), ('alice', 'iframe live')"
if wait_for ifr 'iframe live' 2 && kill -0 $ifr 2>/dev/null; then ok "a message arrives as a parent.cb(\"message\", ...) call while open"
else not_ok "a message arrives in the iframe document" "$(tail -c 400 "$WORK/ifr.sse")"; fi
check '! grep -q "iframe bob" "$WORK/ifr.sse"' "... and not bob's"
kill $ifr 2>/dev/null; wait $ifr 2>/dev/null

echo "# --- a client that leaves: its CGI process ends, its connections with it"
for _ in $(seq 1 100); do [ "$(cgi_conns push-sse)" = 0 ] && break; sleep 0.1; done
eq "$(cgi_conns push-sse)" 0 "(no push-sse CGI process left from above)"
SSE_MAX=30 sse_open gone "token=$(token leaver)"
wait_for gone 'event: unread' 10 || true
n=$(cgi_conns push-sse)
check '[ "$n" -ge 1 ]' "an open CGI stream holds its own connections ($n)"
kill "$SSE_PID_gone"; sse_wait gone
t0=$(date +%s%N)
for _ in $(seq 1 100); do [ "$(cgi_conns push-sse)" = 0 ] && break; sleep 0.05; done
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
# a heartbeat (1 s) that lighttpd passes on finds the client gone, the next one finds lighttpd's
# end of the pipe closed: about two heartbeats, before its lifetime (4 s) would have ended it
eq "$(cgi_conns push-sse)" 0 "after its client left, the CGI process is gone with its connections ($ms ms)"
check 'grep -q "push-sse\[[0-9]*\]: debug: a stream of leaver ended: the client left" "$WORK/lighttpd-error.log"' \
    "... having seen its client leave (logged), not at the end of its lifetime"

harness_done
