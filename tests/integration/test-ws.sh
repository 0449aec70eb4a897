#!/usr/bin/env bash
# test-ws.sh: push-ws on its own (loopback TCP) against a real PostgreSQL: the upgrade and its refusals
# (identity, Origin, limits), delivery and unread counts, hostile text byte for byte, every command and
# its errors, frame limits and close codes, ping/pong, token expiry, a client that reads nothing,
# floods (pings and commands never read, slowloris, 1,000 idle sockets), the open-file limit,
# metrics and health on PUSH_WS_STATUS_LISTEN (and not on the public socket), its bounds,
# resume across SIGKILL, a PostgreSQL restart under open sockets, SIGTERM closing every socket with 1001. (Behind each web server:
# server-suite.sh.)
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib/harness.sh"
command -v node >/dev/null || hard_error "node is not installed (tests/run installs it)"
[ -x "$DAEMONS/push-ws" ] || hard_error "$DAEMONS/push-ws is not built"
CLIENT=$top_srcdir/tests/lib/ws-client.mjs
harness_database

declare -A WS_PORT WS_PID WS_SOCK
# ws_start NAME [VAR=VALUE...]: push-ws on a free loopback port, logging to $WORK/NAME.log
# (WS_WRAP="prlimit ... --" ws_start ...: started through that command; WS_UNIX=1 ws_start ...:
# on the unix socket $WORK/NAME.sock, as behind a web server)
ws_start() {
    local name=$1 port listen
    shift
    port=${WS_PORT[$name]:-$(free_port)}
    listen=127.0.0.1:$port
    [ -n "${WS_UNIX:-}" ] && listen=$WORK/$name.sock WS_SOCK[$name]=$WORK/$name.sock
    ${WS_WRAP:-} env PUSH_TOKEN_SECRET="$SECRET" PUSH_HEARTBEAT=1 PUSH_LOG_LEVEL=info "$@" \
        "$DAEMONS/push-ws" --listen "$listen" 2>>"$WORK/$name.log" &
    WS_PID[$name]=$!
    WS_PORT[$name]=$port
    HARNESS_PIDS+=($!)
    for _ in $(seq 1 100); do
        if [ -n "${WS_UNIX:-}" ]; then [ -S "$listen" ] && return 0
        else (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0; fi
        sleep 0.05
    done
    hard_error "push-ws ($name) did not start: $(tail -n 5 "$WORK/$name.log")"
}
# ws_once OUT DAEMON QUERY [client args...] < commands: a client run to its end (--max-time 3 unless given)
ws_once() {
    local out=$1 d=$2 q=$3
    shift 3
    node "$CLIENT" "ws://127.0.0.1:${WS_PORT[$d]}/cgi-bin/push-ws?$q" --max-time 3 "$@" >"$WORK/$out.out" 2>&1
}
# ws_open NAME DAEMON QUERY [client args...]: a client in the background; ws_send NAME LINE feeds it
ws_open() {
    local name=$1 d=$2 q=$3 fd
    shift 3
    rm -f "$WORK/$name.in" && mkfifo "$WORK/$name.in"
    node "$CLIENT" "ws://127.0.0.1:${WS_PORT[$d]}/cgi-bin/push-ws?$q" --max-time 60 \
        ${WS_SOCK[$d]:+--unix "${WS_SOCK[$d]}"} "$@" <"$WORK/$name.in" >"$WORK/$name.out" 2>&1 &
    eval "WSC_$name=$!"
    exec {fd}>"$WORK/$name.in"
    eval "WSFD_$name=$fd"
}
ws_send() { local v="WSFD_$1"; printf '%s\n' "$2" >&"${!v}"; }
ws_end() { local v="WSFD_$1" p="WSC_$1"; eval "exec ${!v}>&-"; kill "${!p}" 2>/dev/null; wait "${!p}" 2>/dev/null; }
# wait_line NAME PATTERN SECONDS
wait_line() {
    for _ in $(seq 1 $(( $3 * 20 ))); do grep -q -- "$2" "$WORK/$1.out" 2>/dev/null && return 0; sleep 0.05; done
    return 1
}
first() { grep -m1 "^HTTP" "$WORK/$1.out"; }
# of NAME TYPE JQ: JQ over the messages of that type, one result per line
of() { grep '^{' "$WORK/$1.out" | jq -c "select(.type == \"$2\") | $3" 2>/dev/null; }
titles() { of "$1" message .message.title | jq -r . | paste -sd, -; }
closed() { grep -m1 '^CLOSE' "$WORK/$1.out" | cut -d' ' -f2; }
body() { sed -n 2p "$WORK/$1.out"; }
ms_since() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }

ws_start ws PUSH_MAX_STREAMS_PER_USER=3 PUSH_WRITE_TIMEOUT=3
ALICE=$(token alice)
BOB=$(token bob)
# a request head that is never finished: how long until push-ws closes it (checked under "limits")
(
    exec 3<>"/dev/tcp/127.0.0.1/${WS_PORT[ws]}" || exit
    printf 'GET /cgi-bin/push-ws HTTP/1.1\r\nHost: 127.0.0.1\r\n' >&3
    t0=$(date +%s%N)
    cat <&3 >/dev/null
    echo $(( ($(date +%s%N) - t0) / 1000000 )) >"$WORK/head-closed"
) &
HARNESS_PIDS+=($!)

echo "# --- refused before the upgrade, with HTTP and a JSON body"
ws_once r1 ws ""
eq "$(first r1)" "HTTP 401" "no identity: 401"
eq "$(body r1 | jq -r .error)" unauthorized "... unauthorized"
ws_once r2 ws "token=${ALICE%?}x"
eq "$(first r2)" "HTTP 401" "a tampered token: 401"
eq "$(body r2 | jq -r .error)" bad_token "... bad_token"
ws_once r3 ws "token=$(token alice 3600 "$OTHER_SECRET")"
eq "$(body r3 | jq -r .error)" bad_token "a token of another secret: 401 bad_token"
EXPIRED=$(token alice 1)
ws_once r4 ws "user=alice"
eq "$(body r4 | jq -r .error)" unauthorized "a bare ?user= outside demo mode: 401"
ws_once r5 ws "token=$ALICE" -H "Authorization: Bearer nonsense"
eq "$(first r5)" "HTTP 101" "?token= goes first, as in every program"
ws_once r6 ws "" -H "Authorization: Bearer $ALICE"
eq "$(first r6)" "HTTP 101" "Authorization: Bearer is accepted"
ws_once r7 ws "token=$ALICE" -H "Origin: https://evil.example"
eq "$(first r7)" "HTTP 403" "a page of another origin: 403"
eq "$(body r7 | jq -r .error)" origin_forbidden "... origin_forbidden"
ws_once r8 ws "token=$ALICE" -H "Origin: http://127.0.0.1:${WS_PORT[ws]}"
eq "$(first r8)" "HTTP 101" "a page of the same origin (Host): 101"
ws_once r9 ws "token=$ALICE" -H "X-Remote-User: bob"
eq "$(of r9 open .type)" '"open"' "an untrusted X-Remote-User header is ignored (token's user)"
ws_once r10 ws "token=$ALICE&since=zz"
eq "$(body r10 | jq -r .error)" bad_cursor "a bad since: 400 bad_cursor"
ws_once r11 ws "token=$BOB"
ws_once r12 ws "token=$ALICE&since=$(of r11 open .cursor | jq -r .)"
eq "$(body r12 | jq -r .error)" cursor_user "another user's cursor: 403 cursor_user"
sleep 1.2
ws_once r13 ws "token=$EXPIRED"
eq "$(body r13 | jq -r .error)" bad_token "an expired token: 401 bad_token"
out=$(curl -s -i --max-time 3 "http://127.0.0.1:${WS_PORT[ws]}/cgi-bin/push-ws?token=$ALICE")
check 'grep -q "^HTTP/1.1 426" <<<"$out" && grep -q upgrade_required <<<"$out"' "a plain GET: 426 upgrade_required"

echo "# --- delivery, counts, hostile text"
publish "INSERT INTO push.message (recipient, title, body) VALUES ('alice', 'old 1', ''), ('alice', 'old 2', ''), (NULL, 'old all', '')"
ws_once a ws "token=$ALICE"
START=$(of a open .cursor | jq -r .)
eq "$(of a unread .unread.total)" 3 "open: the unread counts at once (3)"
eq "$(titles a)" "" "without since: from now on, nothing replayed"
ws_open live ws "token=$ALICE&since=$START"
wait_line live '"type":"open"' 5 || not_ok "the socket opens"
HOSTILE_T='</script><img src=x onerror=alert(1)> "q" \ '"'"'s'
HOSTILE_B=$'line1\nline2 \u2028 <!-- & ü 🙂'
t0=$(date +%s%N)
publish "INSERT INTO push.message (recipient, title, body) VALUES ('alice', \$t\$$HOSTILE_T\$t\$, \$b\$$HOSTILE_B\$b\$)"
wait_line live '"type":"message"' 2 && ok "a message arrives at once ($(ms_since "$t0") ms)" || not_ok "a message arrives" "$(cat "$WORK/live.out")"
eq "$(of live message .message.title | jq -r .)" "$HOSTILE_T" "a hostile title arrives byte for byte"
eq "$(of live message .message.body | jq -r .)" "$HOSTILE_B" "a hostile body arrives byte for byte"
wait_line live '"total":4' 2 && ok "the unread counts follow (4)" || not_ok "unread 4" "$(cat "$WORK/live.out")"
MSGID=$(of live message .message.id | jq -r . | tail -n1)
MSGCUR=$(of live message .cursor | jq -r . | tail -n1)
eq "$(of live message .cursor | jq -r .)" "$(of live message .message.cursor | jq -r .)" "the event's cursor is the message's"
CARL=$(token carl)
ws_open c0 ws "token=$CARL"
wait_line c0 '"type":"open"' 10
ws_end c0
publish "INSERT INTO push.message (recipient, title) SELECT 'carl', 'c' || g FROM generate_series(1, 40) g"
ws_open c1 ws "token=$CARL&since=$(of c0 open .cursor | jq -r .)"
wait_line c1 '"c40"' 10
ws_end c1
eq "$(grep '^{' "$WORK/c1.out" | jq -r .type | uniq -c | awk '{printf "%s %s,", $1, $2}')" "1 open,32 message,1 unread,8 message," \
    "a backlog of 40 comes in reads of 32 messages (the counts after the first read)"

echo "# --- commands"
ws_send live '{"cmd":"mark","mark":"one","id":"'"$MSGID"'","ref":1}'
wait_line live '"ref":1' 3
eq "$(of live ack 'select(.ref == 1) | .unread.total')" 3 "mark one: ack with the counts (3)"
wait_line live '"total":3' 2 && ok "... and an unread event follows" || not_ok "unread 3 event"
ws_send live '{"cmd":"mark","mark":"one","id":"999999","ref":"r2"}'
wait_line live '"ref":"r2"' 3
eq "$(of live error 'select(.ref == "r2") | .error' | jq -r .)" not_found "mark one of a message not ours: error not_found"
ws_send live '{"cmd":"mark","mark":"kind","kind":"nosuchkind","ref":3}'
wait_line live '"ref":3' 3
eq "$(of live error 'select(.ref == 3) | .error' | jq -r .)" unknown_kind "mark kind never used: unknown_kind"
ws_send live '{"cmd":"mark","mark":"kind","kind":"notice","ref":4}'
wait_line live '"ref":4' 3
eq "$(of live ack 'select(.ref == 4) | .unread.total')" 0 "mark kind: ack, nothing unread"
publish "INSERT INTO push.message (recipient, title) VALUES ('alice', 'u1'), ('alice', 'u2')"
wait_line live '"u2"' 3
U1CUR=$(of live message 'select(.message.title == "u1") | .cursor' | jq -r .)
ws_send live '{"cmd":"mark","mark":"upto","cursor":"'"$U1CUR"'","ref":5}'
wait_line live '"ref":5' 3
eq "$(of live ack 'select(.ref == 5) | .unread.total')" 1 "mark upto a cursor: only what came after it stays unread"
ws_send live '{"cmd":"mark","mark":"upto","cursor":"ffffff-0-'"${MSGCUR##*-}"'","ref":6}'
wait_line live '"ref":6' 3
eq "$(of live error 'select(.ref == 6) | .error' | jq -r .)" cursor_future "mark upto a cursor ahead of everything: cursor_future"
ws_send live '{"cmd":"mark","mark":"all","ref":7}'
wait_line live '"ref":7' 3
eq "$(of live ack 'select(.ref == 7) | .unread.total')" 0 "mark all: nothing unread"
ws_send live 'this is not json'
ws_send live '{"cmd":"explode","ref":8}'
ws_send live '{"cmd":"mark","mark":"upto","cursor":"1-1-00000000","ref":9}'
ws_send live '{"cmd":"mark","mark":"one","ref":10}'
wait_line live '"ref":10' 3
eq "$(of live error '.error' | jq -r . | grep -c bad_json)" 1 "malformed JSON: error bad_json"
eq "$(of live error 'select(.ref == 8) | .error' | jq -r .)" unknown_command "an unknown command: unknown_command, with its ref"
eq "$(of live error 'select(.ref == 9) | .error' | jq -r .)" cursor_user "another user's cursor: cursor_user"
eq "$(of live error 'select(.ref == 10) | .error' | jq -r .)" bad_request "mark one without an id: bad_request"
ws_send live '{"cmd":"resume","cursor":"'"$START"'","ref":11}'
wait_line live '"ref":11' 3
sleep 0.5
eq "$(titles live)" "$HOSTILE_T,u1,u2,$HOSTILE_T,u1,u2" "resume: everything after the cursor given, again, in order"
ws_send live '!burst 20 {"cmd":"mark","mark":"all","ref":"b#"}'
for _ in $(seq 1 200); do [ "$(grep -c '"ref":"b[0-9]*"' "$WORK/live.out")" -ge 20 ] && break; sleep 0.05; done
eq "$(of live ack 'select(.ref | tostring | test("^b[0-9]+$")) | .ref' | wc -l),$(of live error 'select(.ref | tostring | test("^b[0-9]+$")) | .error' | grep -c busy)" \
    "8,12" "20 commands in one read: 8 wait for the database, the other 12 get busy (8 commands waiting per socket)"
check 'grep -q "^PING" "$WORK/live.out"' "pings come every PUSH_HEARTBEAT (1 s)"
check 'kill -0 $WSC_live' "a client that answers pings stays connected"
ws_send live '!big 5000'
wait_line live '^CLOSE' 3
eq "$(closed live)" 1009 "a message over 4 KiB: close 1009"
ws_end live

echo "# --- the mark-read table (tests/lib/mark-cases.tsv): what push-poll's POST answers, as commands"
ws_open mk ws "token=$ALICE"
wait_line mk '"type":"open"' 5 || not_ok "the socket for the table opens"
n=0
while IFS=$'\t' read -r code body what <&3; do
    n=$((n + 1)) sep=,
    [ "$body" = "{}" ] && sep=
    ws_send mk "{\"cmd\":\"mark\",\"ref\":\"m$n\"$sep${body#\{}"
    wait_line mk "\"ref\":\"m$n\"" 5
    eq "$(grep '^{' "$WORK/mk.out" | jq -r "select(.ref == \"m$n\") | if .type == \"ack\" then \"ok\" else .error end" 2>&1)" \
        "$code" "mark-cases.tsv: $what: $code [$body]"
done 3< <(mark_cases "$MSGID" "$START" "$(of r11 open .cursor | jq -r .)" "ffffff-0-${MSGCUR##*-}" "${MSGCUR##*-}")
check 'kill -0 $WSC_mk' "... and the socket stays open through every refusal"
ws_end mk

ws_once bin ws "token=$ALICE" <<<'!binary'
eq "$(closed bin)" 1003 "a binary message: close 1003"
ws_once bye ws "token=$ALICE" <<<'!close 1000'
eq "$(closed bye)" 1000 "a client's close 1000 is answered"
ws_once nopong ws "token=$ALICE" --no-pong --max-time 6
check 'grep -q "^PING" "$WORK/nopong.out" && [ "$(closed nopong)" = 1006 ] && ! grep -q max-time "$WORK/nopong.out"' \
    "a client that does not answer pings is dropped within 2 heartbeats"
ws_once exp ws "token=$(token alice 2)" --max-time 6
eq "$(closed exp)" 4401 "the token expires while connected: close 4401"
eq "$(of exp close .reason | jq -r .)" "token expired" "... after a close event saying why"
# a stream ticket signed as README "Stream tickets" documents, for a token that expires in 3 s
texp=$(( $(date +%s) + 3 ))
tp="t1.$(printf alice | base64 | tr '+/' '-_' | tr -d '=').$texp.$texp"
ticket="$tp.$(printf 'pgpush stream ticket\n%s' "$tp" | openssl dgst -sha256 -hmac "$SECRET" -r | cut -d' ' -f1)"
ws_once expt ws "ticket=$ticket" --max-time 8
eq "$(of expt open .type | jq -r .)" open "a socket opens with ?ticket= (a browser's way, no token in the URL)"
eq "$(closed expt)" 4401 "... and closes 4401 at the expiry of the token it was minted from"
ws_once tkn ws "ticket=$ALICE"
eq "$(first tkn | cut -d' ' -f2) $(body tkn | jq -r .error)" "401 bad_token" "a token is not a ticket"

echo "# --- woken together, read together: every socket gets exactly its own (names that need quoting)"
names=('q"1' 'q,2' 'q{3}' 'q\4' 'q 5' "q'6")
for i in "${!names[@]}"; do ws_open "m$i" ws "token=$(token "${names[$i]}")"; done
for i in "${!names[@]}"; do wait_line "m$i" '"type":"open"' 5; done
publish "INSERT INTO push.message (recipient, title) VALUES (NULL, 'to all of them')"
for i in "${!names[@]}"; do
    publish "INSERT INTO push.message (recipient, title) VALUES ('$(sed "s/'/''/g" <<<"${names[$i]}")', 'own $i')"
done
publish "INSERT INTO push.message (recipient, title) VALUES (NULL, 'to all again')"
bad=""
for i in "${!names[@]}"; do
    wait_line "m$i" '"to all again"' 3
    got=$(titles "m$i")
    [ "$got" = "to all of them,own $i,to all again" ] || bad="$bad [${names[$i]}: $got]"
done
eq "$bad" "" "six sockets woken together: each the broadcasts and its own message, once, in order"
for i in "${!names[@]}"; do ws_end "m$i"; done

echo "# --- a client that reads nothing is dropped; its memory stays bounded"
ws_start slowd PUSH_HEARTBEAT=30 PUSH_WRITE_TIMEOUT=3  # pings would find it first otherwise
ws_open slow slowd "token=$BOB" --no-read
sleep 0.5
publish "INSERT INTO push.message (recipient, title, body) SELECT 'bob', 'bulk ' || g, repeat('x', 30000) FROM generate_series(1, 500) g"
rss=0
for _ in $(seq 1 120); do  # the largest RSS while it holds the socket
    r=$(awk '/VmRSS/ {print $2}' "/proc/${WS_PID[slowd]}/status" 2>/dev/null || echo 0)
    [ "${r:-0}" -gt "$rss" ] && rss=$r
    grep -q "dropped a socket of bob" "$WORK/slowd.log" && break
    sleep 0.1
done
check 'grep -q "dropped a socket of bob: the client took no data for 3 s" "$WORK/slowd.log"' \
    "a client that takes no data for PUSH_WRITE_TIMEOUT (3 s) is dropped, logged at info"
check '! grep -q "dropped a socket of bob: .* bytes queued for it" "$WORK/slowd.log"' \
    "... not for what it had queued: nothing more is read from the database for it while 64 KiB wait"
check '[ "$rss" -lt $(rss_bound 65536) ]' "meanwhile push-ws did not buffer the 15 MB backlog for it (largest RSS $rss KiB)"
ws_end slow
kill "${WS_PID[slowd]}"
# one read of 32 messages of 33 KiB of control characters (each escaped to 6 bytes in JSON): 6 MiB;
# on a unix socket, as behind a web server (over TCP the kernel would take 4 MB of it: tcp_wmem)
WS_UNIX=1 ws_start hard PUSH_HEARTBEAT=30 PUSH_WRITE_TIMEOUT=120
ws_open hoard hard "token=$(token hoarder)" --no-read
wait_line hoard '^HTTP 101' 10
t0=$(date +%s%N)
publish "INSERT INTO push.message (recipient, title, body) SELECT 'hoarder', repeat(chr(1), 1024), repeat(chr(1), 32768) FROM generate_series(1, 32)"
for _ in $(seq 1 600); do grep -q "dropped a socket of hoarder" "$WORK/hard.log" && break; sleep 0.05; done
check 'grep -q "dropped a socket of hoarder: [0-9]* bytes queued for it, over the 4 MiB limit" "$WORK/hard.log"' \
    "6 MiB for a client that reads nothing: dropped at once past the 4 MiB per-socket bound, not after PUSH_WRITE_TIMEOUT (120 s) ($(ms_since "$t0") ms)"
ws_end hoard
kill "${WS_PID[hard]}"
big=$(head -c 9000 /dev/zero | tr '\0' a)
out=$(curl -s -i --max-time 3 -H "X-Big: $big" -H 'Connection: Upgrade' -H 'Upgrade: websocket' \
    "http://127.0.0.1:${WS_PORT[ws]}/cgi-bin/push-ws?token=$ALICE")
check 'grep -q "^HTTP/1.1 431" <<<"$out"' "a request head over 8 KiB: 431"

echo "# --- peers that reset or never end: push-ws sleeps while they wait, then lets them go"
# (the loop thread must not spin on them: a hangup is reported by epoll whatever it was asked to
# watch, and an EPOLLOUT watched for bytes that can never leave is reported at every turn)
ws_start spin PUSH_HEARTBEAT=30 PUSH_MAX_STREAMS_PER_USER=1
tck=$(getconf CLK_TCK)
cpu_ms() { awk -v t="$tck" '{print int(($14 + $15) * 1000 / t)}' "/proc/$1/stat"; }
# a session holds push.message locked, so the first read waits; meanwhile the client resets
psql -qAtX -c "BEGIN; LOCK TABLE push.message IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(5); COMMIT" >/dev/null 2>&1 &
locker=$!
for _ in $(seq 1 50); do
    [ "$(sql "SELECT count(*) FROM pg_locks WHERE relation = 'push.message'::regclass AND mode = 'AccessExclusiveLock' AND granted")" = 1 ] && break
    sleep 0.1
done
ws_once rst spin "token=$(token rita)" --reset 300
c0=$(cpu_ms "${WS_PID[spin]}"); sleep 2; c1=$(cpu_ms "${WS_PID[spin]}")
check '[ $(( c1 - c0 )) -lt 500 ]' \
    "a client resets while its first read waits on the database: push-ws idles meanwhile ($(( c1 - c0 )) ms of CPU in 2 s)"
wait "$locker"
for _ in $(seq 1 50); do ws_once rst2 spin "token=$(token rita)"; [ "$(first rst2)" = "HTTP 101" ] && break; sleep 0.1; done
eq "$(first rst2)" "HTTP 101" "... and once the read is back, that socket is dropped (its user's one slot is free)"
# a message (its error answer queued) and a close frame in one write: wslay sends its close first,
# and the answer behind it can never leave; the peer then keeps the connection open (30 s: far
# past the 2 s push-ws gives it, even when every step below is slow on a loaded machine)
ws_open hc spin "token=$(token hank)" --hold-close 30
wait_line hc '"type":"open"' 5 || not_ok "the socket opens"
ws_send hc '!text-close not json'
wait_line hc '^CLOSE-FRAME 1000' 5 || not_ok "the close is answered" "$(cat "$WORK/hc.out")"
c0=$(cpu_ms "${WS_PID[spin]}"); sleep 1.5; c1=$(cpu_ms "${WS_PID[spin]}")
check '[ $(( c1 - c0 )) -lt 375 ]' \
    "a peer that closes with an answer still queued and never ends: push-ws idles meanwhile ($(( c1 - c0 )) ms of CPU in 1.5 s)"
for _ in $(seq 1 50); do ws_once hc2 spin "token=$(token hank)"; [ "$(first hc2)" = "HTTP 101" ] && break; sleep 0.1; done
eq "$(first hc2)" "HTTP 101" "... and it is let go (PUSH_WSCONN_CLOSE_MS: 2 s): its user's one slot is free while it still holds on"
check 'kill -0 $WSC_hc' "... (it did hold on)"
ws_end hc
ws_end hc
kill "${WS_PID[spin]}"

echo "# --- a push-ws left alone before its first client"
# (on a unix socket, whose readiness is seen without connecting: the loop thread's first turns
# end by timeout, with nothing from epoll to order them after what the main thread set up once
# the loop had started: under ThreadSanitizer, harness_done finds any race in the log)
WS_UNIX=1 ws_start alone PUSH_HEARTBEAT=30
sleep 1
ws_once alone1 alone "token=$ALICE" --unix "${WS_SOCK[alone]}"
eq "$(first alone1)" "HTTP 101" "a socket opens on a push-ws that waited a second for it"
kill "${WS_PID[alone]}"

echo "# --- floods: what a hostile client sends leaves push-ws bounded, and serving another user"
# a small process (40 streams), so that 1,000 sockets are far more than it may hold
ws_start flood PUSH_MAX_STREAMS=40 PUSH_HEARTBEAT=30 PUSH_WRITE_TIMEOUT=3
FLOOD=$top_srcdir/tests/lib/ws-flood.mjs
furl="ws://127.0.0.1:${WS_PORT[flood]}/cgi-bin/push-ws"
MALLORY=$(token mallory) FERN=$(token fern)
rss_of() { awk '/VmRSS/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
# flood_round NAME SECONDS: while the floods started before it run, fern connects and gets a
# message; FRSS is the largest resident size seen
flood_round() {
    local name=$1 secs=$2 t0 r
    sleep 1
    t0=$(date +%s%N)
    ws_open "$name" flood "token=$FERN"
    wait_line "$name" '"type":"open"' 5 && ok "meanwhile another user connects ($(ms_since "$t0") ms)" \
        || not_ok "meanwhile another user connects" "$(head -n 3 "$WORK/$name.out")"
    publish "INSERT INTO push.message (recipient, title) VALUES ('fern', 'during $name')"
    wait_line "$name" "during $name" 5 && ok "... and gets its message at once" \
        || not_ok "the other user gets its message during $name"
    for _ in $(seq 1 $(( secs * 10 - 10 ))); do
        r=$(rss_of "${WS_PID[flood]}"); [ "${r:-0}" -gt "$FRSS" ] && FRSS=$r; sleep 0.1
    done
    ws_end "$name"
}
# each flooding socket may hold 64 KiB of answers and one read's worth more (wslay reads 4 KiB: 683
# pings, each answer counted 128 bytes). Widened for a sanitizer build (rss_bound): AddressSanitizer's
# quarantine of small blocks (a pong each) costs about 2.5 to 3 times its size with the redzones;
# it grows by 18 to 27 MB at the first flood (measured alone and beside another suite: make check
# -j2) and no more at further ones (3 x 100,000 pings measured). The bound of the product is the
# 6 MiB of a plain build; this only makes room for the sanitizer's own keeping.
fbound=$(rss_bound 6144 300)
frss0=$(rss_of "${WS_PID[flood]}") FRSS=$frss0
# pings of 125 bytes and commands whose answers are 150: both floods answered in full would be
# 13 and 15 MB, more than the kernel's socket buffers absorb (what is left would stay with push-ws)
# (each flooder keeps its socket until push-ws drops it, up to 20 s more: on a loaded machine the
# upgrade alone may take seconds, and a flooder that left first would not be dropped)
node "$FLOOD" "$furl?token=$MALLORY" pings 100000 --payload 125 --seconds 5 --hold 20 >"$WORK/flood-pings.json" 2>&1 & fp1=$!
node "$FLOOD" "$furl?token=$MALLORY" commands 100000 --payload 64 --seconds 5 --hold 20 >"$WORK/flood-commands.json" 2>&1 & fp2=$!
flood_round flooda 4
wait $fp1 $fp2
echo "# flood: $(cat "$WORK/flood-pings.json") $(cat "$WORK/flood-commands.json")"
echo "# push-ws resident memory: $frss0 KiB before, at most $FRSS KiB under 100,000 pings and 10,000 commands never read"
check '[ $(( FRSS - frss0 )) -lt $fbound ]' "memory stays bounded (grew $(( FRSS - frss0 )) KiB, bound $fbound KiB)"
check '[ "$(jq .refused "$WORK/flood-pings.json")" = 0 ] && [ "$(jq .sent "$WORK/flood-pings.json")" -ge 30000 ]' \
    "at least 30,000 of the pings went out on an open socket ($(jq .sent "$WORK/flood-pings.json"))"
check '[ "$(jq .refused "$WORK/flood-commands.json")" = 0 ] && [ "$(jq .sent "$WORK/flood-commands.json")" -ge 10000 ]' \
    "at least 10,000 of the commands went out on an open socket ($(jq .sent "$WORK/flood-commands.json"))"
for _ in $(seq 1 150); do [ "$(grep -c "dropped a socket of mallory" "$WORK/flood.log")" -ge 2 ] && break; sleep 0.1; done  # a TSan build is slow
check '[ "$(grep -c "dropped a socket of mallory: the client took no data" "$WORK/flood.log")" = 2 ]' \
    "both flooders, reading nothing, are dropped after PUSH_WRITE_TIMEOUT"

frss0=$(rss_of "${WS_PID[flood]}") FRSS=$frss0
node "$FLOOD" "$furl" slowloris 200 --seconds 5 >"$WORK/flood-slowloris.json" 2>&1 & fp3=$!
node "$FLOOD" "$furl" idle 1000 --seconds 5 >"$WORK/flood-idle.json" 2>&1 & fp4=$!
flood_round floodb 4
wait $fp3 $fp4
echo "# flood: $(cat "$WORK/flood-slowloris.json") $(cat "$WORK/flood-idle.json")"
echo "# push-ws resident memory: $frss0 KiB before, at most $FRSS KiB under 200 slow and 1,000 idle sockets"
check '[ $(( FRSS - frss0 )) -lt $fbound ]' "memory stays bounded (grew $(( FRSS - frss0 )) KiB, bound $fbound KiB)"
check 'grep -q "closed [0-9]* connections that had not sent their upgrade request within 500 ms, to make room" "$WORK/flood.log"' \
    "sockets that send no request are closed to make room for newer ones, and that is logged"
held=$(( 1200 - $(jq -s "map(.closed) | add" "$WORK/flood-idle.json" "$WORK/flood-slowloris.json") ))
check '[ $held -le 256 ]' "of the 1,200 slow and idle sockets at most 256 were held at the end ($held)"
kill "${WS_PID[flood]}"

echo "# --- the open-file limit: streams capped to fit it, 503 past them, never a crash"
# 100 descriptors: less 32 kept and 3 for the database pool, 65; a quarter (16) for sockets still
# sending their request, 49 for streams
WS_WRAP="prlimit --nofile=100:100 --" ws_start fdl PUSH_MAX_STREAMS_PER_USER=1000 PUSH_HEARTBEAT=30
check 'grep -q "PUSH_MAX_STREAMS=1000 does not fit in the open-file limit 100 .*at most 49 streams" "$WORK/fdl.log"' \
    "at start, the cap is logged with the limit and how to raise it"
node "$FLOOD" "ws://127.0.0.1:${WS_PORT[fdl]}/cgi-bin/push-ws?token=$MALLORY" streams 120 --seconds 3 >"$WORK/fdl.json" 2>&1
echo "# 120 sockets against 100 descriptors: $(jq -c '{open, statuses}' "$WORK/fdl.json")"
eq "$(jq -c '{open, statuses}' "$WORK/fdl.json")" '{"open":49,"statuses":{"101":49,"503":71}}' \
    "49 streams open, and each of the other 71 gets 503 at once"
n503=$(grep -c "warn: refused a \(stream\|connection\) (503 too_many_streams)" "$WORK/fdl.log")
check '[ "$n503" -ge 1 ] && [ "$n503" -le 2 ]' \
    "... logged with the reason, not once each: $n503 line(s) within 10 s ($(grep -m1 -o "refused a [a-z]* (503.*" "$WORK/fdl.log" | head -c 160))"
ws_once fdla fdl "token=$ALICE"
eq "$(first fdla)" "HTTP 101" "once they are gone, alice connects: push-ws lived on"
check '! grep -q "Too many open files" "$WORK/fdl.log"' "push-ws never ran out of descriptors"
kill "${WS_PID[fdl]}"

echo "# --- limits"
for _ in $(seq 1 200); do [ -s "$WORK/head-closed" ] && break; sleep 0.1; done
check '[ -s "$WORK/head-closed" ] && [ "$(cat "$WORK/head-closed")" -ge 9000 ]' \
    "a request head not finished within 10 s: the connection is closed then ($(cat "$WORK/head-closed" 2>/dev/null) ms)"
ws_open l1 ws "token=$BOB"; ws_open l2 ws "token=$BOB"; ws_open l3 ws "token=$BOB"
for c in l1 l2 l3; do wait_line $c '"type":"open"' 5; done
ws_once l4 ws "token=$BOB"
eq "$(first l4)" "HTTP 429" "past PUSH_MAX_STREAMS_PER_USER (3): 429"
eq "$(body l4 | jq -r .error)" too_many_user_streams "... too_many_user_streams"
ws_end l1
sleep 0.3
ws_once l5 ws "token=$BOB"
eq "$(first l5)" "HTTP 101" "a closed socket frees its slot"
ws_end l2; ws_end l3
ws_start full PUSH_MAX_STREAMS=1
ws_open f1 full "token=$ALICE"
wait_line f1 '"type":"open"' 5
ws_once f2 full "token=$BOB"
eq "$(first f2),$(body f2 | jq -r .error)" "HTTP 503,too_many_streams" "past PUSH_MAX_STREAMS (1) per process: 503 too_many_streams"
check 'grep -q "warn: refused a stream (503 too_many_streams)" "$WORK/full.log"' "... and the log says why"
ws_end f1
kill "${WS_PID[full]}"

echo "# --- status: metrics and health on PUSH_WS_STATUS_LISTEN, never on the public socket"
ST_PORT=$(free_port)
ST=http://127.0.0.1:$ST_PORT
ws_start st PUSH_WS_STATUS_LISTEN=127.0.0.1:$ST_PORT
DAVE=$(token dave)
# sget NAME PATH [curl args...]: the status listener's answer in $WORK/NAME.status, its code echoed
sget() { local n=$1 p=$2; shift 2; curl -s -o "$WORK/$n.status" -w '%{http_code}' --max-time 10 "$@" "$ST$p"; }
# metric NAME SERIES: a sample's value in a scrape parsed by the reference parser
metric() { awk -v s="$2" '$1 == s { print $2 }' "$WORK/$1.prom"; }
scrape() {
    eq "$(sget "$1" /metrics)" 200 "$2: GET /metrics 200"
    if /usr/bin/python3 "$top_srcdir/tests/lib/promparse.py" "$WORK/$1.status" >"$WORK/$1.prom" 2>&1; then
        ok "$2: the metrics parse as Prometheus text ($(wc -l <"$WORK/$1.prom") samples)"
    else
        not_ok "$2: the metrics parse as Prometheus text" "$(cat "$WORK/$1.prom")"
    fi
}
check '"$DAEMONS/push-ws" --help | grep -q PUSH_WS_STATUS_LISTEN' "push-ws --help names PUSH_WS_STATUS_LISTEN"
scrape m0 "push-ws"
VERSION=$("$DAEMONS/push-ws" --version | awk '{ print $NF }')
eq "$(metric m0 'pgpush_build_info{program="push-ws",version="'"$VERSION"'"}')" 1 "pgpush_build_info names push-ws and its version ($VERSION)"
eq "$(metric m0 'pgpush_open_streams{transport="ws"}'),$(metric m0 pgpush_listen_up)" "0,1" "no socket open yet, the LISTEN connection up"
ws_open sm st "token=$DAVE"
wait_line sm '"type":"open"' 5
publish "INSERT INTO push.message (recipient, title) VALUES ('dave', 'counted 1'), ('dave', 'counted 2')"
wait_line sm '"counted 2"' 3
ws_once sr st "token=${DAVE%?}x"
scrape m1 "after a socket, two messages and a refusal"
eq "$(metric m1 'pgpush_open_streams{transport="ws"}')" 1 "one socket open"
for series in pgpush_streams_opened_total pgpush_delivered_messages_total pgpush_wakeups_total pgpush_reads_total 'pgpush_refused_total{status="401"}' pgpush_delivery_lag_seconds_count; do
    b=$(metric m0 "$series"); a=$(metric m1 "$series")
    check "awk -v a='$a' -v b='$b' 'BEGIN { exit !(a > b) }'" "$series moved with the traffic: $b -> $a"
done
eq "$(awk "BEGIN { print $(metric m1 pgpush_delivered_messages_total) - $(metric m0 pgpush_delivered_messages_total) }")" 2 "... two messages delivered"
check "awk 'BEGIN { exit !($(metric m1 pgpush_delivered_bytes_total) > $(metric m0 pgpush_delivered_bytes_total) + 40) }'" "... and their bytes"
ws_end sm
eq "$(sget h0 /health)" 200 "GET /health: 200"
eq "$(jq -c '[.status, .program, .listen, .schema_version > 0]' "$WORK/h0.status")" '["ok","push-ws","up",true]' "... ok, the LISTEN connection up"
# the public socket answers WebSocket and nothing else, whatever is asked
for p in /metrics /health /pgpush-status/push-ws/metrics "/cgi-bin/push-ws?PUSH_STATUS=metrics"; do
    code=$(curl -s -o "$WORK/pub.out" -w '%{http_code}' --max-time 5 -H "Push-Status: metrics" "http://127.0.0.1:${WS_PORT[st]}$p")
    check '[ "$code" = 426 ] && ! grep -q "pgpush_\|\"status\"" "$WORK/pub.out"' "the public socket, GET $p: $code, no status"
done
eq "$(sget n1 /other),$(jq -r .error "$WORK/n1.status")" "404,not_found" "another path: 404 not_found (JSON)"
eq "$(sget n2 /metrics -X POST -d x=1),$(jq -r .error "$WORK/n2.status")" "405,method_not_allowed" "POST: 405"
eq "$(sget n3 /metrics?x=1)" 200 "a query string is ignored"
out=$(exec 3<>"/dev/tcp/127.0.0.1/$ST_PORT"; printf 'NONSENSE\r\n\r\n' >&3; timeout 3 cat <&3)
check 'grep -q "^HTTP/1.1 400" <<<"$out" && grep -q bad_request <<<"$out"' "a request line that is not HTTP: 400"
out=$(exec 3<>"/dev/tcp/127.0.0.1/$ST_PORT"; { printf 'GET /metrics HTTP/1.1\r\n'; head -c 5000 /dev/zero | tr '\0' a; } >&3; timeout 3 cat <&3)
check 'grep -q "^HTTP/1.1 431" <<<"$out" && ! grep -q pgpush_ <<<"$out"' "a head over 4 KiB: 431, no metrics"
# endless heads: a few connections that never finish theirs, and one a byte at a time
for i in 1 2 3; do
    ( exec 3<>"/dev/tcp/127.0.0.1/$ST_PORT" || exit; printf 'GET /metrics HTTP/1.1\r\n' >&3
      t0=$(date +%s%N); cat <&3 >/dev/null; echo $(( ($(date +%s%N) - t0) / 1000000 )) >"$WORK/st-endless-$i" ) &
    HARNESS_PIDS+=($!)
done
( exec 3<>"/dev/tcp/127.0.0.1/$ST_PORT" || exit; for _ in $(seq 1 40); do printf 'X' >&3 2>/dev/null || exit; sleep 0.2; done ) &
HARNESS_PIDS+=($!)
sleep 0.3
t0=$(date +%s%N)
eq "$(sget n4 /health)" 200 "meanwhile, another client is answered"
check '[ "$(ms_since "$t0")" -lt 2000 ]' "... at once ($(ms_since "$t0") ms): the slow ones block nothing"
ws_once sw st "token=$DAVE"
eq "$(first sw)" "HTTP 101" "... and WebSocket clients are served"
for _ in $(seq 1 80); do [ -s "$WORK/st-endless-3" ] && break; sleep 0.1; done
check '[ -s "$WORK/st-endless-1" ] && [ "$(cat "$WORK/st-endless-1")" -ge 4000 ] && [ "$(cat "$WORK/st-endless-1")" -le 7000 ]' \
    "a head never finished is closed after 5 s ($(cat "$WORK/st-endless-1" 2>/dev/null) ms)"
check 'grep -q "status listener: closed a connection that sent no whole request" "$WORK/st.log"' "... and logged"
check 'grep -q "status listener: refused a request (404 not_found)" "$WORK/st.log"' "the 404 is logged with its reason"
# the schema of another version: 503 with the reason
sql "UPDATE push.meta SET schema_version = schema_version + 100"
eq "$(sget h1 /health),$(jq -r .status "$WORK/h1.status")" "503,unavailable" "the schema of another version: 503 unavailable"
check 'jq -r .reason "$WORK/h1.status" | grep -qi "version"' "... saying why: $(jq -r .reason "$WORK/h1.status")"
check 'grep -q "health check: 503" "$WORK/st.log"' "... and logged"
sql "UPDATE push.meta SET schema_version = schema_version - 100"
eq "$(sget h2 /health)" 200 "the schema back: 200"

echo "# --- trusted user header and allowed origins (another daemon)"
ws_start trust PUSH_WS_TRUST_USER_HEADER=X-Remote-User PUSH_WS_ORIGINS="https://app.example, https://other.example"
ws_once t1 trust "" -H "X-Remote-User: carol"
eq "$(first t1)" "HTTP 101" "PUSH_WS_TRUST_USER_HEADER: the proxy's header is the user"
ws_once t2 trust "token=$ALICE" -H "Origin: https://other.example"
eq "$(first t2)" "HTTP 101" "an origin of PUSH_WS_ORIGINS: 101"
ws_once t3 trust "token=$ALICE" -H "Origin: https://app.example.evil"
eq "$(first t3)" "HTTP 403" "an origin not listed: 403"
ws_once t4 trust "" -H "X-Remote-User: carol" -H "x-remote-user: alice"
eq "$(first t4),$(body t4 | jq -r .error)" "HTTP 403,identity_ambiguous" "the trusted header twice (another case): 403 identity_ambiguous"
check 'grep -q "trusted X-Remote-User header is repeated" "$WORK/trust.log"' "... and the log says why"
ws_once t5 trust "" -H "X-Remote-User: carol" -H "Origin: https://127.0.0.1:${WS_PORT[trust]}"
eq "$(first t5)" "HTTP 403" "a same-host page of another scheme (no X-Forwarded-Proto: http): 403"
ws_once t6 trust "" -H "X-Remote-User: carol" -H "X-Forwarded-Proto: https" -H "Origin: https://127.0.0.1:${WS_PORT[trust]}"
eq "$(first t6)" "HTTP 101" "... the same page when the proxy says the request came over https: 101"
kill "${WS_PID[trust]}"
ws_start fwd PUSH_WS_TRUST_USER_HEADER=Forwarded
ws_once t7 fwd "" -H 'Forwarded: for=127.0.0.1;proto=http;remote_user="carol"'
eq "$(first t7)" "HTTP 101" "PUSH_WS_TRUST_USER_HEADER=Forwarded: the proxy's one element names the user"
ws_once t8 fwd "" -H 'Forwarded: remote_user=alice;x=", for=127.0.0.1;proto=http;remote_user="carol"'
eq "$(first t8),$(body t8 | jq -r .error)" "HTTP 403,identity_ambiguous" "an open quote before the proxy's element: 403, not alice"
ws_once t9 fwd "" -H 'Forwarded: for=1.2.3.4, for=127.0.0.1;remote_user="carol"'
eq "$(first t9)" "HTTP 403" "two elements (the client's own was not cleared): 403"
kill "${WS_PID[fwd]}"
for h in X-Forwarded-User Remote-User X_Remote_User; do
    out=$(PUSH_TOKEN_SECRET="$SECRET" PUSH_WS_TRUST_USER_HEADER=$h timeout 10 "$DAEMONS/push-ws" --listen "127.0.0.1:$(free_port)" 2>&1)
    rc=$?
    check '[ $rc != 0 ] && [ $rc != 124 ] && grep -q "PUSH_WS_TRUST_USER_HEADER" <<<"$out"' \
        "push-ws refuses to start trusting $h, a header no shipped configuration clears (exit $rc)"
done

echo "# --- SIGKILL: the client resumes from its last cursor, nothing lost or repeated"
c=$(of a open .cursor | jq -r .)
ws_open k ws "token=$ALICE&since=$c"
publish "INSERT INTO push.message (recipient, title) VALUES ('alice', 'k1'), ('alice', 'k2')"
wait_line k '"k2"' 3
kill -9 "${WS_PID[ws]}"
wait "${WS_PID[ws]}" 2>/dev/null
ws_end k
LAST=$(of k message .cursor | jq -r . | tail -n1)
publish "INSERT INTO push.message (recipient, title) VALUES ('alice', 'k3'), (NULL, 'k4')"
ws_start ws PUSH_MAX_STREAMS_PER_USER=3 PUSH_WRITE_TIMEOUT=3
ws_once k2 ws "token=$ALICE&since=$LAST"
eq "$(titles k),$(titles k2)" "$HOSTILE_T,u1,u2,to all of them,to all again,k1,k2,k3,k4" "across SIGKILL and restart: everything once, in order"

echo "# --- PostgreSQL restarts under an open socket"
c=$(of k2 message .cursor | jq -r . | tail -n1)
ws_open pg ws "token=$ALICE&since=$c"
wait_line pg '"type":"open"' 5
publish "INSERT INTO push.message (recipient, title) VALUES ('alice', 'before')"
sleep 0.3
cluster=$(dirname "$PGDATA")
publish "INSERT INTO push.message (recipient, title) VALUES ('alice', 'at the stop')"
"$top_srcdir/tests/lib/pgcluster" stop "$cluster" >/dev/null
eq "$(sget h3 /health),$(jq -r .status "$WORK/h3.status")" "503,unavailable" "status: PostgreSQL stopped: health 503 unavailable"
check 'jq -r .reason "$WORK/h3.status" | grep -q "connect"' "... saying why: $(jq -r .reason "$WORK/h3.status")"
sleep 2
"$top_srcdir/tests/lib/pgcluster" start "$cluster" >/dev/null || hard_error "PostgreSQL did not come back"
publish "INSERT INTO push.message (recipient, title) VALUES ('alice', 'after 1')"
publish "INSERT INTO push.message (recipient, title) VALUES (NULL, 'after 2')"
for _ in $(seq 1 100); do [ "$(titles pg)" = "before,at the stop,after 1,after 2" ] && break; sleep 0.1; done
eq "$(titles pg)" "before,at the stop,after 1,after 2" "across a PostgreSQL restart: everything once, in order, same socket"
grep -q "lost the LISTEN connection" "$WORK/ws.log" && ok "the hub noticed the restart" || not_ok "the hub noticed the restart"
for _ in $(seq 1 50); do [ "$(sget h4 /health)" = 200 ] && break; sleep 0.2; done
eq "$(sget h4 /health)" 200 "status: PostgreSQL back: health 200"
scrape m2 "after the restart"
check "awk 'BEGIN { exit !($(metric m2 pgpush_listen_reconnects_total) > $(metric m1 pgpush_listen_reconnects_total)) }'" "pgpush_listen_reconnects_total counted the restart"

echo "# --- SIGTERM: every socket is closed with 1001, then the daemon exits"
ws_open s1 ws "token=$ALICE"; ws_open s2 ws "token=$BOB"
wait_line s1 '"type":"open"' 5; wait_line s2 '"type":"open"' 5
kill -TERM "${WS_PID[ws]}"
wait_line s1 '^CLOSE' 5; wait_line s2 '^CLOSE' 5
eq "$(closed s1),$(closed s2)" "1001,1001" "both sockets closed with 1001"
eq "$(of s1 close .reason | jq -r .)" shutdown "... after a close event: shutdown"
r1=$(of s1 close .retry); r2=$(of s2 close .retry)
check '[ "${r1:-0}" -ge 250 ] && [ "$r1" -le 5000 ] && [ "${r2:-0}" -ge 250 ] && [ "$r2" -le 5000 ]' \
    "... saying when to come back, within PUSH_DRAIN_SPREAD (5000 ms): $r1 and $r2 ms"
for _ in $(seq 1 60); do kill -0 "${WS_PID[ws]}" 2>/dev/null || break; sleep 0.1; done
check '! kill -0 ${WS_PID[ws]} 2>/dev/null' "the daemon exits"
ws_end s1; ws_end s2; ws_end pg

grep -qE 'token=|v1\.' "$WORK"/ws.log "$WORK"/trust.log && not_ok "no token in the logs" || ok "no token in the logs"
harness_done
