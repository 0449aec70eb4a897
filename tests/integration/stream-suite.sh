# stream-suite.sh: push-sse and push-longpoll as external FastCGI servers behind $SERVER (lighttpd
# or nginx), their open streams and held polls in the event loop, against a real PostgreSQL:
# delivery, resume, limits, bad input, and faults (PostgreSQL restart, SIGKILL, out-of-order
# commits, a client that stops reading). Sourced by test-stream-lighttpd.sh and
# test-stream-nginx.sh (test-stream-cgi.sh covers plain CGI, a thread per stream).
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib/harness.sh"
harness_start
STREAM_ENV=(PUSH_HEARTBEAT=1 PUSH_LIFETIME=60 PUSH_WRITE_TIMEOUT=3 PUSH_MAX_STREAMS=12
            PUSH_MAX_STREAMS_PER_USER=3 PUSH_HOLD=20 PUSH_THREADS=24 PUSH_LOG_LEVEL=info
            PUSH_DRAIN_SPREAD=2000)
start_daemon push-sse "${STREAM_ENV[@]}"
start_daemon push-longpoll "${STREAM_ENV[@]}"
# two worker threads serve any number of open streams, which live in the event loop (checked
# below); one query connection: new streams' first reads queue behind each other (checked below)
SOCK=push-sse-short start_daemon push-sse PUSH_LIFETIME=3 PUSH_HEARTBEAT=1 PGAPPNAME=push-sse-short \
    PUSH_THREADS=2 PUSH_DB_POOL=1
if [ "$SERVER" = nginx ]; then
    harness_nginx
    BASE="http://127.0.0.1:$NPORT"
fi
echo "# through $SERVER at $BASE"
SSE=/ext/push-sse
LP=/ext/push-longpoll
ALICE=$(token alice)
BOB=$(token bob)

# sse_open NAME URL-SUFFIX [curl args]: a background SSE client writing to $WORK/NAME.sse
sse_open() {
    local name=$1 q=$2
    shift 2
    curl -sN --max-time "${SSE_MAX:-30}" "$@" "$BASE$SSE?$q" >"$WORK/$name.sse" 2>/dev/null &
    eval "SSE_PID_$name=$!"
}
# sse_follow NAME QUERY CURSOR SECONDS: an EventSource for SECONDS: reconnects after every end
# (lifetime, error, killed server) with Last-Event-ID = the last id it saw, starting at CURSOR
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
# lock_reader SECONDS: a session holds push.reader locked for SECONDS (every read waits on it), in
# the background ($locker), from when this returns
lock_reader() {
    psql -qAtX -c "BEGIN; LOCK TABLE push.reader IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep($1); COMMIT" \
        >/dev/null 2>&1 &
    locker=$!
    for _ in $(seq 1 50); do
        [ "$(sql "SELECT count(*) FROM pg_locks WHERE relation = 'push.reader'::regclass AND mode = 'AccessExclusiveLock' AND granted")" = 1 ] && break
        sleep 0.1
    done
}
# titles NAME: the titles of the message events received, comma-separated
titles() {
    awk '/^event: message/ { m = 1; next } m && /^data: / { print substr($0, 7); m = 0 }' "$WORK/$1.sse" \
        | jq -r .title | paste -sd, -
}
last_id() { grep '^id: ' "$WORK/$1.sse" | tail -n 1 | cut -c5-; }
# wait_for NAME PATTERN [SECONDS]: until the stream file matches
wait_for() {
    local i
    for i in $(seq 1 $(( ${3:-5} * 20 ))); do grep -q -- "$2" "$WORK/$1.sse" 2>/dev/null && return 0; sleep 0.05; done
    return 1
}
head_of() { curl -s "$BASE/ext/push-poll?token=$1&limit=1" | jq -r .cursor; }

echo "# --- SSE: headers, counts at once, messages as they are committed"
headers=$(curl -s -D - -o /dev/null --max-time 2 "$BASE$SSE?token=$ALICE")
grep -qi '^content-type: text/event-stream' <<<"$headers" && ok "Content-Type: text/event-stream" || not_ok "event-stream content type" "$headers"
grep -qi '^cache-control: no-cache' <<<"$headers" && ok "Cache-Control: no-cache" || not_ok "Cache-Control: no-cache" "$headers"
sse_open a "token=$ALICE"
wait_for a 'event: unread' && ok "the stream opens with the unread counts" || not_ok "unread at open"
grep -q '^retry: 3000' "$WORK/a.sse" && ok "retry: advice at the start" || not_ok "retry advice"
t0=$(date +%s%N)
publish "INSERT INTO push.message (recipient, title, body) VALUES ('alice', 'live one', 'hello')"
wait_for a 'live one' 2 && ok "a committed message arrives" || not_ok "a committed message arrives"
echo "# INSERT to event through $SERVER (psql included): $(( ($(date +%s%N) - t0) / 1000000 )) ms"
publish "INSERT INTO push.message (recipient, title) VALUES (NULL, 'to everyone'), ('bob', 'not for alice')"
wait_for a 'to everyone' 2 && ok "a broadcast arrives" || not_ok "a broadcast arrives"
sleep 0.3
eq "$(titles a)" "live one,to everyone" "only alice's messages and the broadcast, in order, once"
check '[ "$(last_id a)" = "$(head_of "$ALICE")" ]' "the last event id is the head cursor"
check 'grep -q "^: heartbeat" "$WORK/a.sse" || { sleep 1.2; grep -q "^: heartbeat" "$WORK/a.sse"; }' "heartbeat comments on an idle stream"
kill "$SSE_PID_a"; wait "$SSE_PID_a" 2>/dev/null
SSE=/short/push-sse SSE_MAX=10 sse_open life "token=$ALICE"
wait "$SSE_PID_life"
check 'grep -q "^event: close" "$WORK/life.sse" && grep -q "^: heartbeat" "$WORK/life.sse"' "a stream ends cleanly after its lifetime (event: close), heartbeats until then"

echo "# --- SSE: resume with Last-Event-ID, ?lastEventId=, ?since="
c=$(head_of "$ALICE")
publish "INSERT INTO push.message (recipient, title) VALUES ('alice', 'r1'), ('alice', 'r2')"
SSE_MAX=2 sse_open h "token=$ALICE" -H "Last-Event-ID: $c"; wait "$SSE_PID_h"
eq "$(titles h)" "r1,r2" "Last-Event-ID: exactly what came after it"
SSE_MAX=2 sse_open q "token=$ALICE&lastEventId=$c"; wait "$SSE_PID_q"
eq "$(titles q)" "r1,r2" "?lastEventId=: the same"
SSE_MAX=2 sse_open s "token=$ALICE&since=$c"; wait "$SSE_PID_s"
eq "$(titles s)" "r1,r2" "?since=: the same"
SSE_MAX=2 sse_open n "token=$ALICE"; wait "$SSE_PID_n"
eq "$(titles n)" "" "no cursor: from now on, no replay"
publish "INSERT INTO push.message (recipient, title, body) SELECT 'alice', 'bulk ' || g, 'b' FROM generate_series(1, 250) g"
SSE_MAX=3 sse_open bulk "token=$ALICE" -H "Last-Event-ID: $c"; wait "$SSE_PID_bulk"
eq "$(titles bulk | tr ',' '\n' | wc -l)" 252 "a backlog of 252 arrives whole, in batches"
eq "$(titles bulk | tr ',' '\n' | sort | uniq -d | wc -l)" 0 "and nothing twice"
eq "$(awk '/^event: unread/ { print n; exit } /^event: message/ { n++ }' "$WORK/bulk.sse")" 32 \
    "messages per streaming read: 32 (the counts come after the first read's 32)"

echo "# --- long polling"
http GET "$LP?token=$ALICE"
json_eq '(.cursor | length > 0) and (.timeout == false)' true "no since: the current state at once"
c=$(jq -r .cursor <<<"$BODY")
eq "$c" "$(head_of "$ALICE")" "the current state's cursor is the head (push-poll's)"
http GET "$LP?token=$ALICE&limit=2"
json_eq '[.messages[].title] | join(",")' "bulk 249,bulk 250" "with limit=2: the two newest, oldest first"
json_eq '[.messages[].title] | map(select(startswith("for bob"))) | length' 0 "none of another user's"
publish "INSERT INTO push.message (recipient, title) VALUES ('bob', 'for bob only')"
bc=$(head_of "$BOB")
# the tokens and cursors of the cap's users first: on a loaded machine making them takes seconds,
# and every held poll must still be held when the 13th comes (each holds 6 s)
declare -A CAPT CAPC
for u in capa capb capc capd; do CAPT[$u]=$(token $u); CAPC[$u]=$(head_of "${CAPT[$u]}"); done
bobcap=()
for i in 1 2 3; do
    curl -s -o "$WORK/bobcap$i.json" --max-time 12 "$BASE$LP?token=$BOB&since=$bc&timeout=6" &
    bobcap+=($!)
done
sleep 1 # bob's 3 polls held: his cap (PUSH_MAX_STREAMS_PER_USER=3) in push-longpoll
http GET "$LP?token=$BOB&since=$bc&timeout=1"
eq "$STATUS" 429 "a 4th held poll of bob's is past his cap (429)"
http GET "$LP?token=$BOB&limit=1"
json_eq '[.messages[].title] | join(",")' "for bob only" \
    "with bob at his cap, his current state still answers (it holds no stream)"
# the process's cap (PUSH_MAX_STREAMS=12) filled with held polls: a current state is then read by
# the worker itself (the loop holds no more), and still answered
for u in capa capb capc; do
    for i in 1 2 3; do
        curl -s -o /dev/null --max-time 12 "$BASE$LP?token=${CAPT[$u]}&since=${CAPC[$u]}&timeout=6" &
        bobcap+=($!)
    done
done
sleep 1
http GET "$LP?token=${CAPT[capd]}&since=${CAPC[capd]}&timeout=1"
eq "$STATUS" 503 "with 12 polls held (the process's cap), a 13th gets 503"
http GET "$LP?token=$BOB&limit=1"
json_eq '[.messages[].title] | join(",")' "for bob only" "... and a current state is still answered (by the worker)"
wait "${bobcap[@]}"
http GET "$LP?token=$ALICE&since=$c&timeout=1"
json_eq '[.timeout, (.messages | length)] | map(tostring) | join(",")' "true,0" "nothing new: held, then timeout=true"
(sleep 0.7; publish "INSERT INTO push.message (recipient, title) VALUES ('alice', 'woke the poll')") &
waker=$!
t0=$(date +%s%N)
http GET "$LP?token=$ALICE&since=$c&timeout=10"
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
json_eq '[.messages[].title] | join(",")' "woke the poll" "a held poll answers with the new message"
wait $waker
check '[ $ms -lt 3000 ]' "a held poll answers when the message commits (${ms} ms, 700 of them waiting)"
c=$(jq -r .cursor <<<"$BODY")
http GET "$LP?token=$ALICE&since=$c&timeout=1"
json_eq '.messages | length' 0 "from its cursor: nothing again"
(sleep 0.7; curl -s -o /dev/null -X POST -H "Authorization: Bearer $ALICE" -H 'Content-Type: application/json' --data '{"mark":"all"}' "$BASE/ext/push-poll") &
marker=$!
http GET "$LP?token=$ALICE&since=$c&timeout=10"
json_eq '[.timeout, .unread.total] | map(tostring) | join(",")' "false,0" "a read-state change from another tab answers a held poll"
wait $marker

echo "# --- limits: per user 3, per process 12"
for i in 1 2 3; do SSE_MAX=6 sse_open "lim$i" "token=$BOB"; done
for i in 1 2 3; do wait_for "lim$i" 'event: unread' 5 || true; done
http GET "$SSE?token=$BOB"
refused_stream too_many_user_streams 429 10000 "a 4th stream of one user is refused (429 too_many_user_streams) as a 200 stream whose retry is 10 s or more: EventSource comes back"
for i in $(seq 4 12); do SSE_MAX=6 sse_open "lim$i" "token=$(token "user$i")"; done
for i in $(seq 4 12); do wait_for "lim$i" 'event: unread' 5 || true; done
http GET "$SSE?token=$(token carol)"
refused_stream too_many_streams 503 10000 "past the process limit: refused (503 too_many_streams) as a 200 stream EventSource retries"
check 'grep -q "warn: refused a stream (503 too_many_streams): this process holds all the streams it may" "$WORK/push-sse.log"' \
    "... and push-sse's log says why"
dave=$(token dave)
dave_c=$(head_of "$dave")
for i in 1 2 3; do curl -s -o /dev/null --max-time 8 "$BASE$LP?token=$dave&since=$dave_c&timeout=5" & eval "lp$i=\$!"; done
sleep 0.5
http GET "$LP?token=$dave&since=$dave_c&timeout=5"
status_is 429 too_many_user_streams "long poll: a 4th held poll of one user: 429"
wait "$lp1" "$lp2" "$lp3"
for i in $(seq 1 12); do eval "kill \$SSE_PID_lim$i; wait \$SSE_PID_lim$i" 2>/dev/null; done
t0=$(date +%s%N)
for i in $(seq 1 40); do  # (a refusal is a 200 stream too: its error event tells them apart)
    curl -sN --max-time 0.5 "$BASE$SSE?token=$BOB" 2>/dev/null | grep -q '^event: unread$' && break
    sleep 0.1
done
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
echo "# streams of clients that left were free again after $ms ms (heartbeat 1000 ms)"
check '[ $ms -lt 2600 ]' "streams of clients that left are freed within two heartbeats"

echo "# --- two tabs of one user: one leaves, the other is still woken, and nothing names the one gone"
# (the hub's and the loop's lists: a stream left linked is freed memory at the user's next wake-up,
# which the sanitizer build reports)
erin=$(token erin)
SSE_MAX=20 sse_open tab1 "token=$erin"
SSE_MAX=20 sse_open tab2 "token=$erin"
wait_for tab1 'event: unread' 5 && wait_for tab2 'event: unread' 5 || not_ok "both of erin's tabs open"
kill "$SSE_PID_tab1"; wait "$SSE_PID_tab1" 2>/dev/null
sleep 2.5 # its stream is dropped within two heartbeats (checked above), then freed
sql "INSERT INTO push.message (recipient, title) VALUES ('erin', 'after a tab closed')"
wait_for tab2 'after a tab closed' 3 && ok "the tab left open gets the message committed after the other closed" \
    || not_ok "the tab left open gets the message committed after the other closed"
sql "INSERT INTO push.message (recipient, title) VALUES ('erin', 'and the next')"
wait_for tab2 'and the next' 3 && ok "... and the next" || not_ok "... and the next"
kill "$SSE_PID_tab2"; wait "$SSE_PID_tab2" 2>/dev/null

echo "# --- bad input"
tag=$(head_of "$ALICE" | cut -d- -f3)
http GET "$SSE?token=$ALICE" -H "Last-Event-ID: garbage"
status_is 400 bad_cursor "SSE: malformed Last-Event-ID"
http GET "$SSE?token=$ALICE" -H "Last-Event-ID: $(head_of "$BOB")"
status_is 403 cursor_user "SSE: another user's cursor"
http GET "$SSE?token=$ALICE&since=ffffffff-0-$tag"
status_is 400 cursor_future "SSE: a cursor from the future"
http GET "$LP?token=$ALICE&since=ffffffff-0-$tag"
status_is 400 cursor_future "long poll: a cursor from the future"
for t in 0 -1 abc 61 99999999999; do
    http GET "$LP?token=$ALICE&since=0-0-$tag&timeout=$t"
    status_is 400 bad_timeout "long poll: timeout=$t"
done
http GET "$SSE"
status_is 401 unauthorized "SSE without identity: 401"
http GET "$SSE?token=$(token alice 3600 "$OTHER_SECRET")"
status_is 401 bad_token "SSE with a foreign token: 401"
http POST "$SSE?token=$ALICE" --data x
status_is 405 method_not_allowed "SSE: POST is 405"

echo "# --- many streams woken at once read together: each gets its own messages and the broadcasts, once"
# wake-up reads are combined into one query for many users (push_pool_read_many): names that need
# quoting in an array literal must not bleed into each other
users=('q"uote' 'back\slash' 'com,ma' '{brace}' 'sp ace' 'NULL' 'ünï' "o'neil")
for i in "${!users[@]}"; do
    c=$(head_of "$(token "${users[$i]}")")
    sse_follow many$i "token=$(token "${users[$i]}")" "$c" 8
done
sleep 0.5
for s in 1 2 3; do
    {
        for i in 1 2 3 4 5 6; do
            echo "INSERT INTO push.message (recipient, title) VALUES (NULL, 'b-$s-$i');"
            for u in "${!users[@]}"; do
                echo "INSERT INTO push.message (recipient, title) SELECT \$n\$${users[$u]}\$n\$, 'p-$s-$i-$u';"
            done
        done
    } | psql -qX -v ON_ERROR_STOP=1 >"$WORK/many-$s.log" 2>&1 &
    eval "PSQL_$s=\$!"
done
wait "$PSQL_1" "$PSQL_2" "$PSQL_3"
for i in "${!users[@]}"; do
    want=$(sql "SELECT string_agg(title, ',' ORDER BY title COLLATE \"C\") FROM push.message
                WHERE (recipient = \$n\$${users[$i]}\$n\$ OR recipient IS NULL) AND (title LIKE 'b-%' OR title LIKE 'p-%')")
    n=$(tr ',' '\n' <<<"$want" | wc -l)
    for _ in $(seq 1 60); do [ "$(titles many$i | tr ',' '\n' | grep -c .)" -ge "$n" ] && break; sleep 0.1; done
    got=$(titles many$i | tr ',' '\n' | grep -E '^(b|p)-' | LC_ALL=C sort | paste -sd, -)
    eq "$got" "$want" "stream of ${users[$i]}: its $n messages (18 broadcasts, 18 of its own), none missing, none twice"
done
for i in "${!users[@]}"; do kill "$(eval echo \$SSE_PID_many$i)" 2>/dev/null; done
sql "DELETE FROM push.message WHERE title LIKE 'b-%' OR title LIKE 'p-%'"

echo "# --- out-of-order commits: both delivered once, to SSE and long poll"
c=$(head_of "$ALICE")
sse_follow ooo "token=$ALICE" "$c" 6
psql -qX -v ON_ERROR_STOP=1 >"$WORK/ooo.log" 2>&1 <<'EOF' &
BEGIN;
INSERT INTO push.message (recipient, title) VALUES ('alice', 'A first in, last out');
SELECT pg_sleep(1.5);
COMMIT;
EOF
txa=$!
sleep 0.4
publish "INSERT INTO push.message (recipient, title) VALUES (NULL, 'B second in, first out')"
http GET "$LP?token=$ALICE&since=$c&timeout=5"
json_eq '[.messages[].title] | join(",")' "B second in, first out" "long poll: B while A is open"
c2=$(jq -r .cursor <<<"$BODY")
http GET "$LP?token=$ALICE&since=$c2&timeout=5"
json_eq '[.messages[].title] | join(",")' "A first in, last out" "long poll: then A, from B's cursor"
wait "$SSE_PID_ooo" "$txa"
eq "$(titles ooo)" "B second in, first out,A first in, last out" "SSE: B then A, once each"

echo "# --- out-of-order commits with an edit in the mix: each once, in commit order"
e1=$(publish "SELECT push.send('alice', 'E1 seen')")
c=$(head_of "$ALICE")
sse_follow ooe "token=$ALICE" "$c" 6
# the edit holds alice's stream (its change is drawn there) while a broadcast commits first
psql -qX -v ON_ERROR_STOP=1 >"$WORK/ooe.log" 2>&1 <<EOF &
BEGIN;
SELECT push.edit($e1, title => 'E1 edited');
SELECT pg_sleep(1.5);
COMMIT;
EOF
txe=$!
sleep 0.4
publish "INSERT INTO push.message (recipient, title) VALUES (NULL, 'E2 after the edit began, first out')"
http GET "$LP?token=$ALICE&since=$c&timeout=5"
json_eq '[.messages[].title] | join(",")' "E2 after the edit began, first out" "long poll: E2 while the edit is open"
c2=$(jq -r .cursor <<<"$BODY")
http GET "$LP?token=$ALICE&since=$c2&timeout=5"
json_eq '[.changes[] | .event + " " + .message.title] | join(",")' "update E1 edited" "long poll: then the edit, from E2's cursor"
wait "$SSE_PID_ooe" "$txe"
eq "$(awk '/^event: (message|update)/ { e = substr($0, 8); next } e && /^data: / { print e " " substr($0, 7); e = "" }' "$WORK/ooe.sse" \
      | while read -r e d; do echo "$e $(jq -r .title <<<"$d")"; done | paste -sd, -)" \
    "message E2 after the edit began, first out,update E1 edited" "SSE: E2, then the edit, once each"

echo "# --- PostgreSQL restarts under open streams and long polls"
c=$(head_of "$ALICE")
sse_follow pg "token=$ALICE" "$c" 16
# a long-poll client: re-polls at once from each answer's cursor, collecting titles
(
    cur=$c
    end=$(( $(date +%s) + 16 ))
    while [ "$(date +%s)" -lt "$end" ]; do
        out=$(curl -s --max-time 12 "$BASE$LP?token=$ALICE&since=$cur&timeout=5") || { sleep 0.3; continue; }
        next=$(jq -r '.cursor // empty' <<<"$out" 2>/dev/null) || { sleep 0.3; continue; }
        [ -n "$next" ] || { sleep 0.3; continue; }
        jq -r '.messages[].title' <<<"$out"
        jq -r '.changes[] | .event + " " + .message.title' <<<"$out" >>"$WORK/lp-restart-changes.txt"
        cur=$next
    done >"$WORK/lp-restart.txt"
) &
lp_pid=$!
sleep 1
b1=$(publish "INSERT INTO push.message (recipient, title) VALUES ('alice', 'before 1'), ('alice', 'before 2') RETURNING id" | head -n 1)
sleep 0.5
cluster=$(dirname "$PGDATA")
# committed just before the stop: its NOTIFY may never be delivered; the re-read must find it
publish "INSERT INTO push.message (recipient, title) VALUES ('alice', 'at the stop')"
publish "SELECT push.edit($b1, body => 'edited at the stop')" >/dev/null
"$top_srcdir/tests/lib/pgcluster" stop "$cluster"
sleep 2
"$top_srcdir/tests/lib/pgcluster" start "$cluster" || hard_error "PostgreSQL did not come back"
publish "INSERT INTO push.message (recipient, title) VALUES ('alice', 'after 1')"
publish "INSERT INTO push.message (recipient, title) VALUES (NULL, 'after 2')"
expected="before 1,before 2,at the stop,after 1,after 2"
for i in $(seq 1 100); do [ "$(titles pg)" = "$expected" ] && break; sleep 0.1; done
eq "$(titles pg)" "$expected" "SSE across a PostgreSQL restart: everything once, in order"
for i in $(seq 1 100); do [ "$(paste -sd, "$WORK/lp-restart.txt")" = "$expected" ] && break; sleep 0.1; done
eq "$(paste -sd, "$WORK/lp-restart.txt")" "$expected" "long poll across a PostgreSQL restart: everything once, in order"
eq "$(grep -c '^event: update' "$WORK/pg.sse")" 1 "SSE across the restart: the edit made at the stop once"
eq "$(paste -sd, "$WORK/lp-restart-changes.txt" 2>/dev/null)" "update before 1" "long poll across the restart: the edit once"
kill "$SSE_PID_pg" "$lp_pid" 2>/dev/null; wait "$SSE_PID_pg" "$lp_pid" 2>/dev/null
grep -q "lost the LISTEN connection" "$WORK/push-sse.log" && ok "the listener noticed the restart" || not_ok "listener noticed the restart"
grep -q "listening again\|LISTEN" "$WORK/push-sse.log" && ok "and listens again" || not_ok "listens again"

echo "# --- push-sse killed with SIGKILL mid-stream: the client resumes with Last-Event-ID"
c=$(head_of "$ALICE")
sse_follow k "token=$ALICE" "$c" 8
publish "INSERT INTO push.message (recipient, title) VALUES ('alice', 'k1'), ('alice', 'k2')"
wait_for k '"k2"' 3 || true
kill -9 "${DAEMON_PID[push-sse]}"
{ wait "${DAEMON_PID[push-sse]}"; } 2>/dev/null
publish "INSERT INTO push.message (recipient, title) VALUES ('alice', 'k3 while dead')"
sleep 0.5
start_daemon push-sse "${STREAM_ENV[@]}"
publish "INSERT INTO push.message (recipient, title) VALUES ('alice', 'k4 after restart')"
wait "$SSE_PID_k"
eq "$(titles k)" "k1,k2,k3 while dead,k4 after restart" "across a SIGKILL: everything once, in order"

echo "# --- SIGTERM: every stream and held poll told to come back, spread over PUSH_DRAIN_SPREAD"
for i in 1 2 3 4 5 6; do sse_open dr$i "token=$(token drainer$i)"; done
for i in 1 2 3 4 5 6; do wait_for dr$i 'event: unread' 3 || true; done
c=$(head_of "$ALICE")
sse_follow dk "token=$ALICE" "$c" 8
curl -s -o "$WORK/drain-lp.json" -w '%{http_code}' --max-time 15 \
    "$BASE$LP?token=$BOB&since=$(head_of "$BOB")&timeout=12" >"$WORK/drain-lp.code" 2>/dev/null &
drain_lp=$!
sql "INSERT INTO push.message (recipient, title) VALUES ('alice', 'd1')"
wait_for dk '"d1"' 3 || true
sleep 0.3
kill -TERM "${DAEMON_PID[push-sse]}" "${DAEMON_PID[push-longpoll]}"
rc_sse=0; wait "${DAEMON_PID[push-sse]}" 2>/dev/null || rc_sse=$?
rc_lp=0; wait "${DAEMON_PID[push-longpoll]}" 2>/dev/null || rc_lp=$?
eq "$rc_sse $rc_lp" "0 0" "push-sse and push-longpoll exit 0 after SIGTERM"
check 'grep -q "draining" "$WORK/push-sse.log" && grep -q "drained; exiting" "$WORK/push-sse.log"' \
    "push-sse says it drains, then that every stream took its end"
sql "INSERT INTO push.message (recipient, title) VALUES ('alice', 'd2 while stopped')"
start_daemon push-sse "${STREAM_ENV[@]}"
start_daemon push-longpoll "${STREAM_ENV[@]}"
retries=()
for i in 1 2 3 4 5 6; do
    pid_var=SSE_PID_dr$i
    rc=0; wait "${!pid_var}" 2>/dev/null || rc=$?
    r=$(awk '/^retry: / { r = $2 } /^event: reconnect/ { e = 1 } END { if (e) print r }' "$WORK/dr$i.sse")
    data=$(awk '/^event: reconnect/ { getline; print substr($0, 7) }' "$WORK/dr$i.sse")
    if [ "$rc" = 0 ] && [ -n "$r" ] && [ "$r" -ge 250 ] && [ "$r" -le 2000 ] \
        && [ "$(jq -r '"\(.reason) \(.retry)"' <<<"$data" 2>/dev/null)" = "shutdown $r" ]; then
        retries+=("$r")
    else
        not_ok "stream $i: a clean end with retry: and a reconnect event within 250..2000 ms" \
            "curl $rc, retry '$r', data '$data': $(tail -n 4 "$WORK/dr$i.sse")"
    fi
done
eq "${#retries[@]}" 6 "every stream ends cleanly with retry: N and event: reconnect {reason shutdown, retry N}"
distinct=$(printf '%s\n' "${retries[@]}" | sort -u | wc -l)
check '[ "$distinct" -ge 3 ]' "the come-back times are spread ($distinct distinct of 6: ${retries[*]} ms)"
wait "$drain_lp" 2>/dev/null || true
eq "$(cat "$WORK/drain-lp.code")" 200 "a held long poll is answered at once (200), not cut"
check 'jq -e ".timeout == true and (.cursor | length > 0)" "$WORK/drain-lp.json" >/dev/null' \
    "... with its cursor, to poll again from"
sql "INSERT INTO push.message (recipient, title) VALUES ('alice', 'd3 after restart')"
wait "$SSE_PID_dk"
eq "$(titles dk)" "d1,d2 while stopped,d3 after restart" "across a SIGTERM: everything once, in order"

echo "# --- a client that stops reading"
rss() { awk '/VmRSS/ {print $2}' "/proc/${DAEMON_PID[push-sse]}/status"; }
sse_follow fast "token=$ALICE" "$(head_of "$ALICE")" 30
wait_for fast 'event: unread' 3 || true
exec 7<>"/dev/tcp/127.0.0.1/${BASE##*:}"
printf 'GET %s?token=%s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n' "$SSE" "$(token slowpoke)" >&7
sleep 0.5
rss0=$(rss)
# about 24 MB for a client that reads nothing: more than every buffer on the way can hold; in 25
# commits, each waking its stream (were each wake to read another batch, 8 MiB would wait)
for i in $(seq 1 25); do
    echo "INSERT INTO push.message (recipient, title, body) SELECT 'slowpoke', 'big', repeat('x', 30000) FROM generate_series(1, 32);"
    echo "SELECT pg_sleep(0.05);"
done | psql -qX -v ON_ERROR_STOP=1 >/dev/null
t0=$(date +%s%N)
publish "INSERT INTO push.message (recipient, title) VALUES ('alice', 'while slowpoke sleeps')"
wait_for fast 'while slowpoke sleeps' 5 && ok "another client is not slowed ($(( ($(date +%s%N) - t0) / 1000000 )) ms)" || not_ok "another client is not slowed"
for i in $(seq 1 150); do grep -q "dropped a stream of slowpoke" "$WORK/push-sse.log" && break; sleep 0.1; done
check 'grep -q "dropped a stream of slowpoke: the client took no data for 3 s" "$WORK/push-sse.log"' \
    "the client that reads nothing is dropped after PUSH_WRITE_TIMEOUT (3 s)"
check '! grep -q "dropped a stream of slowpoke: more than" "$WORK/push-sse.log"' \
    "... holding one read: its stream is not read again while 64 KiB wait for it"
rss1=$(rss)
echo "# push-sse resident memory: ${rss0} KiB before, ${rss1} KiB after 24 MB for a non-reading client"
# 8 MiB, widened for a sanitizer build (rss_bound). Unbounded buffering would grow by the 24 MB
# sent, times the same overheads.
bound=$(rss_bound 8192)
check '[ $(( rss1 - rss0 )) -lt $bound ]' "memory stays bounded (grew $(( rss1 - rss0 )) KiB, bound $bound KiB)"
exec 7>&-
pkill -P "$SSE_PID_fast" 2>/dev/null; kill "$SSE_PID_fast" 2>/dev/null; wait "$SSE_PID_fast" 2>/dev/null

if [ "$SERVER" = lighttpd ]; then
    echo "# --- the same binaries spawned by the web server (lighttpd bin-path)"
    (sleep 0.6; publish "INSERT INTO push.message (recipient, title) VALUES ('alice', 'to a spawned push-sse')") &
    waker=$!
    curl -sN --max-time 4 "$BASE/cgi-bin/push-sse?token=$ALICE" >"$WORK/spawned.sse"
    wait $waker
    eq "$(titles spawned)" "to a spawned push-sse" "spawned push-sse streams"
    check 'grep -q "^event: close" "$WORK/spawned.sse"' "spawned push-sse ends at its lifetime"
    c=$(head_of "$ALICE")
    (sleep 0.6; publish "INSERT INTO push.message (recipient, title) VALUES ('alice', 'to a spawned push-longpoll')") &
    waker=$!
    http GET "/cgi-bin/push-longpoll?token=$ALICE&since=$c&timeout=5"
    wait $waker
    json_eq '[.messages[].title] | join(",")' "to a spawned push-longpoll" "spawned push-longpoll answers on the new message"
fi

echo "# --- stream tickets: minted by push-poll for a token, good only for opening a stream"
# ticket_for TOKEN [PATH]: POST {"ticket": true} with the token as a Bearer header
ticket_for() {
    curl -s -X POST -H "Authorization: Bearer $1" -H 'Content-Type: application/json' \
        --data '{"ticket":true}' "$BASE${2:-/ext/push-poll}"
}
T=$(ticket_for "$ALICE")
TICKET=$(jq -r .ticket <<<"$T")
check '[[ $TICKET == t1.* ]]' "push-poll answers a ticket (t1.)"
check '[ "$(jq -r .expires <<<"$T")" -le $(( $(date +%s) + 60 )) ]' "... good for at most PUSH_TICKET_TTL (60 s)"
eq "$(cut -d. -f4 <<<"$TICKET")" "$(cut -d. -f3 <<<"$ALICE")" "... carrying the token's expiry"
SSE_MAX=2 sse_open tk "ticket=$TICKET"
wait "$SSE_PID_tk"
check 'grep -q "^event: unread" "$WORK/tk.sse"' "push-sse opens a stream with ?ticket="
http GET "/ext/push-poll?ticket=$TICKET"
status_is 401 unauthorized "push-poll does not take a ticket (it reads Authorization: Bearer)"
http GET "$LP?ticket=$TICKET&since=$(head_of "$ALICE")&timeout=1"
status_is 401 unauthorized "push-longpoll does not take a ticket either"
http GET "$SSE?ticket=$ALICE"
status_is 401 bad_token "a token is not a ticket"
http GET "/ext/push-poll?token=$TICKET"
status_is 401 bad_token "a ticket is not a token"
last=${TICKET: -1}; [ "$last" = 0 ] && last=1 || last=0
http GET "$SSE?ticket=${TICKET%?}$last"
status_is 401 bad_token "a tampered ticket is refused"
http POST /ext/push-poll -H 'Content-Type: application/json' --data '{"ticket":true}'
status_is 401 unauthorized "no ticket without an identity"
http POST /ext/push-poll -H "Authorization: Bearer $ALICE" -H 'Content-Type: application/json' \
    -H 'Origin: http://evil.example' --data '{"ticket":true}'
status_is 403 origin_forbidden "no ticket for a cross-site page"

echo "# --- token expiry: streams and held polls end when the token does, not at PUSH_LIFETIME (60 s)"
SHORT=$(token alice 3)
SHORT_EXP=$(cut -d. -f3 <<<"$SHORT")
STICKET=$(ticket_for "$SHORT" | jq -r .ticket)
BSHORT=$(token bob 3)
c=$(head_of "$BOB")
SSE_MAX=20 sse_open exp_token "token=$SHORT"
SSE_MAX=20 sse_open exp_ticket "ticket=$STICKET"
curl -s --max-time 20 -H "Authorization: Bearer $BSHORT" -o "$WORK/exp-lp.json" -w '%{http_code}' \
    "$BASE$LP?since=$c&timeout=15" >"$WORK/exp-lp.status" &
lp_pid=$!
wait_for exp_token 'event: unread' 2
publish "INSERT INTO push.message (recipient, title) VALUES ('alice', 'before the expiry')"
wait "$SSE_PID_exp_token" "$SSE_PID_exp_ticket"
ended_at=$(date +%s%N)
wait "$lp_pid"
for s in exp_token exp_ticket; do
    eq "$(tail -n 3 "$WORK/$s.sse" | tr '\n' ' ')" 'event: close data: {"reason":"token_expired"}  ' \
        "an SSE stream by $s ends with event: close, reason token_expired"
done
# the expiry is whole seconds: the streams end within a scan (0.25 s) after it, so within 1.5 s
late=$(( ended_at / 1000000 - SHORT_EXP * 1000 ))
check '[ "$late" -ge -100 ] && [ "$late" -lt 1500 ]' "... at the token's expiry ($late ms after it), not at the 60 s lifetime"
eq "$(titles exp_ticket)" "before the expiry" "a ticket's stream delivers until then"
eq "$(cat "$WORK/exp-lp.status") $(jq -r .error "$WORK/exp-lp.json")" "401 token_expired" \
    "a long poll held past the token's expiry is answered 401 token_expired"
check 'grep -q "stream of alice ended: its token expired" "$WORK/push-sse.log"' "push-sse logs why the stream ended"
# (the web servers' own error logs may quote a request line: the URLs here carry tokens on purpose)
check '! grep -qF -e "$STICKET" -e "$TICKET" -e "$SHORT" -e "$BSHORT" -e "$ALICE" "$WORK"/push-*.log "$WORK/ext-daemon.log"' \
    "tickets and tokens never reach the programs' logs"

echo "# --- database connections: one LISTEN plus the pool, whatever the number of streams"
for i in $(seq 1 10); do SSE_MAX=3 sse_open conn$i "token=$(token "conn$i")"; done
sleep 1
n=$(sql "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'push-sse' AND datname = current_database()")
check '[ "$n" -ge 1 ] && [ "$n" -le 4 ]' "push-sse holds $n PostgreSQL connections with 10 streams open (at most 4)"
for i in $(seq 1 10); do eval "wait \$SSE_PID_conn$i" 2>/dev/null; done

echo "# --- 1,000 idle and 200 slowloris connections to $SERVER: push-sse stays small and serves alice"
rss() { awk '/VmRSS/ {print $2}' "/proc/${DAEMON_PID[push-sse]}/status"; }
srss0=$(rss) srss=$srss0
node "$top_srcdir/tests/lib/ws-flood.mjs" "$BASE$SSE" idle 1000 --seconds 5 >"$WORK/sflood-idle.json" 2>&1 & sf1=$!
node "$top_srcdir/tests/lib/ws-flood.mjs" "$BASE$SSE" slowloris 200 --seconds 5 >"$WORK/sflood-slow.json" 2>&1 & sf2=$!
sleep 1
c=$(head_of "$ALICE")
SSE_MAX=4 sse_open sflood "token=$ALICE&since=$c"
wait_for sflood 'event: unread' 3 || true
publish "INSERT INTO push.message (recipient, title) VALUES ('alice', 'during the idle flood')"
wait_for sflood 'during the idle flood' 3 && ok "alice streams and gets her message meanwhile" \
    || not_ok "alice streams during the idle flood" "$(head -c 300 "$WORK/sflood.sse")"
for _ in $(seq 1 30); do r=$(rss); [ "$r" -gt "$srss" ] && srss=$r; sleep 0.1; done
wait $sf1 $sf2; eval "wait \$SSE_PID_sflood" 2>/dev/null
echo "# push-sse resident memory: $srss0 KiB before, at most $srss KiB meanwhile; $(jq -c '{closed}' "$WORK/sflood-idle.json") idle closed by $SERVER"
check '[ $(( srss - srss0 )) -lt $(rss_bound 4096) ]' "push-sse grew by under $(rss_bound 4096) KiB ($(( srss - srss0 )) KiB): it never sees a request that is not whole"

echo "# --- the open-file limit: push-sse caps its streams to fit it, answers 503 past them, lives on"
kill "${DAEMON_PID[push-sse]}"; { wait "${DAEMON_PID[push-sse]}"; } 2>/dev/null
# 64 descriptors: less 32 kept and 3 for the database pool, 29; the workers take at most half
DAEMON_WRAP="prlimit --nofile=64:64 --" start_daemon push-sse PUSH_HEARTBEAT=1 PUSH_LIFETIME=60 \
    PUSH_MAX_STREAMS_PER_USER=1000 PUSH_LOG_LEVEL=info
cap=$(grep -o "at most [0-9]* streams" "$WORK/push-sse.log" | tail -n 1 | grep -o "[0-9]*")
check '[ -n "$cap" ] && [ "$cap" -ge 2 ] && [ "$cap" -le 29 ]' "at start, push-sse logs the cap the open-file limit allows (${cap:-none})"
check 'grep -q "PUSH_MAX_STREAMS=1000 does not fit in the open-file limit 64" "$WORK/push-sse.log"' "... and why"
FD_USER=$(token fdlimit)
# (each held 8 s: on a loaded machine starting 80 clients takes seconds, and a stream that ended
# before the last started would let another in)
for i in $(seq 1 80); do  # more than the descriptors: without the cap, accept() would run out
    curl -sN -o "$WORK/fd$i.sse" -w "%{http_code}\n" --max-time 8 "$BASE$SSE?token=$FD_USER" >"$WORK/fd$i.code" 2>/dev/null &
    eval "FD_PID_$i=$!"
done
for i in $(seq 1 80); do eval "wait \$FD_PID_$i" 2>/dev/null; done
codes=$(cat "$WORK"/fd*.code | sort | uniq -c | awk '{printf "%s:%s ", $2, $1}')
echo "# 80 streams against 64 descriptors: $codes(cap ${cap:-none})"
# a refused stream is a 200 stream too (EventSource gives up on any other status): an error event
# too_many_streams instead of the counts
eq "$(grep -l '^event: unread$' "$WORK"/fd*.sse | wc -l),$(grep -l '"error":"too_many_streams"' "$WORK"/fd*.sse | wc -l),$(grep -c '^200$' "$WORK"/fd*.code | awk -F: '{s += $2} END {print s}')" \
    "${cap:-none},$(( 80 - ${cap:-0} )),80" "the cap's worth of streams open, and every other request refused at once (too_many_streams, as a 200 stream)"
check 'kill -0 "${DAEMON_PID[push-sse]}"' "push-sse is still running"
check '! grep -q "Too many open files" "$WORK/push-sse.log"' "push-sse never ran out of descriptors"
for i in $(seq 1 30); do  # the streams of clients that left are freed at their next heartbeat
    http GET "$SSE?token=$ALICE" --max-time 1 2>/dev/null
    grep -q '^event: unread$' <<<"$BODY" && break
    sleep 0.1
done
check 'grep -q "^event: unread$" <<<"$BODY"' "afterwards alice streams (not refused: the counts, no error event)"
kill "${DAEMON_PID[push-sse]}"; { wait "${DAEMON_PID[push-sse]}"; } 2>/dev/null
start_daemon push-sse "${STREAM_ENV[@]}"

echo "# --- the event loop: 8 open streams in a process with 2 worker threads, each to its end"
threads_before=$(awk '/^Threads:/ {print $2}' "/proc/${DAEMON_PID[push-sse-short]}/status")
for i in $(seq 1 8); do SSE=/short/push-sse SSE_MAX=8 sse_open few$i "token=$(token "few$((i % 4))")"; done
for i in $(seq 1 8); do wait_for few$i 'event: unread' 3 || break; done
threads_open=$(awk '/^Threads:/ {print $2}' "/proc/${DAEMON_PID[push-sse-short]}/status")
publish "INSERT INTO push.message (recipient, title) VALUES (NULL, 'to the few')"
got=0
for i in $(seq 1 8); do wait_for few$i 'to the few' 2 && got=$((got + 1)); done
eq "$got" 8 "all 8 streams had the broadcast"
eq "$threads_open" "$threads_before" "no thread per stream: $threads_before threads before, $threads_open with 8 streams open"
for i in $(seq 1 8); do eval "wait \$SSE_PID_few$i" 2>/dev/null; done
ended=0
for i in $(seq 1 8); do grep -q '^event: close' "$WORK/few$i.sse" && ended=$((ended + 1)); done
eq "$ended" 8 "each ended cleanly after its 3 s lifetime (event: close), from the loop"

echo "# --- accepting never waits on PostgreSQL: the first read is the loop's readers'"
# A session holds push.reader locked, so every first read (push.state reads it) waits. The
# process has 2 worker threads: were they to read, new streams would hold both and a request
# without a token would wait behind them until the lock is gone. Its one reader takes the
# first stream and blocks; the others queue and are then read together (push.state for
# several users in one statement): from now on, from a cursor with a message after it, and
# from a cursor ahead of every message (400).
publish "INSERT INTO push.message (recipient, title) VALUES ('few4', 'for few4 before')"
publish "INSERT INTO push.message (recipient, title) VALUES ('few3', 'for few3 before')"
# (the cursors are read first: push-poll's reads wait on the lock too)
FUTURE=$(head_of "$(token few2)" | sed 's/^[0-9]*-/999999999-/')
FROM0="0-0-$(head_of "$(token few4)" | cut -d- -f3)"
lock_reader 6
# few1 (blocks the reader), then a batch: few0 and few3 from now on (few3's head is the newest
# personal message, few0's far older), few2 from a cursor ahead of every message, few4 from
# the start
SSE=/short/push-sse SSE_MAX=15 sse_open locked1 "token=$(token few1)"
sleep 0.3
SSE=/short/push-sse SSE_MAX=15 sse_open locked2 "token=$(token few0)"
SSE=/short/push-sse SSE_MAX=15 sse_open locked3 "token=$(token few2)&since=$FUTURE"
SSE=/short/push-sse SSE_MAX=15 sse_open locked4 "token=$(token few3)"
SSE=/short/push-sse SSE_MAX=15 sse_open locked5 "token=$(token few4)&since=$FROM0"
sleep 0.5 # the five reach the workers, which hand them over
st=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$BASE/short/push-sse")
if kill -0 "$locker" 2>/dev/null; then held=yes; else held=no; fi
eq "$st $held" "401 yes" "while 5 streams' first reads wait on a lock, 2 workers still answer (401) at once"
wait "$locker"
got=0
for i in 1 2 4 5; do wait_for locked$i 'event: unread' 5 && got=$((got + 1)); done
eq "$got" 4 "once the lock is gone, the waiting streams start (their first read, then events)"
wait_for locked5 'for few4 before' 2 && ok "a stream from a cursor read in the batch replays what follows it" \
    || not_ok "replay from a cursor in a batched first read" "$(head -c 600 "$WORK/locked5.sse")"
wait_for locked3 'cursor_future' 2 && ok "a cursor ahead of every message, read in the batch: 400 cursor_future" \
    || not_ok "cursor ahead in a batched first read" "$(head -c 300 "$WORK/locked3.sse")"
grep -q 'for few3 before' "$WORK/locked4.sse" && not_ok "from now on, read in the batch: its own head, no replay" "$(head -c 600 "$WORK/locked4.sse")" \
    || ok "from now on, read in the batch: its own head, no replay"
grep -q -e "for few4 before" -e "for few3 before" "$WORK/locked1.sse" "$WORK/locked2.sse" \
    && not_ok "few3's and few4's messages went to nobody else" || ok "few3's and few4's messages went to nobody else"
for i in 1 2 3 4 5; do eval "kill \$SSE_PID_locked$i" 2>/dev/null; done

echo "# --- memory-first delivery: a message goes out from the wake-up that carried it, with no read"
# metric NAME: push-sse's (the /ext one's) counter NAME now
metric() { curl -s --max-time 5 "$BASE/ext-status/push-sse" | awk -v s="$1" '$1 == s { print $2 }'; }
# messages NAME: the data lines of a stream's message events, in order
messages() { awk '/^event: message/ { m = 1; next } m && /^data: / { print; m = 0 }' "$WORK/$1.sse"; }
last_counts() { awk '/^event: unread/ { m = 1; next } m && /^data: / { d = $0; m = 0 } END { print d }' "$WORK/$1.sse"; }
# what a read gives now: a fresh stream's first counts
fresh_counts() { # (run in $(...): a name of its own each time; closed at once: 3 streams a user)
    local name="fresh$BASHPID$RANDOM"
    SSE_MAX=3 sse_open "$name" "token=$(token "$1")"
    wait_for "$name" 'event: unread' 5
    eval "kill \$SSE_PID_$name" 2>/dev/null
    last_counts "$name"
}
for v in $(compgen -v SSE_PID_); do kill "${!v}" 2>/dev/null; done # (this section counts reads)
SSE_MAX=90 sse_open mf "token=$(token mf1)"
wait_for mf 'event: unread' 5
START=$(last_id mf)
sleep 0.3
reads0=$(metric pgpush_reads_total) carried0=$(metric pgpush_carried_total)
# content each encoder must escape the same way a read does: quotes, a slash, newlines, non-ASCII,
# jsonb's numbers and nesting, a link with a query
for i in $(seq 1 20); do
    publish "INSERT INTO push.message (recipient, kind, title, body, data, link) VALUES ('mf1', 'k$((i % 3))',
             'mf $i \"q\" / é', E'line\\nline $i </script>', '{\"n\": 1.50, \"e\": 1e3, \"s\": \"</x>\", \"a\": [1, {\"b\": null}]}',
             '/x?a=1&b=$i')"
done
wait_for mf 'b=20"' 10
reads1=$(metric pgpush_reads_total) carried1=$(metric pgpush_carried_total)
eq "$((reads1 - reads0)) $((carried1 - carried0))" "0 20" \
    "20 messages to a connected user: all 20 written from their wake-ups, no read"
eq "$(messages mf | sed 's/^data: //' | jq -r .title | awk '{print $2}' | paste -sd, -)" "$(seq 1 20 | paste -sd, -)" \
    "... each once, in order"
SSE_MAX=5 sse_open mfread "token=$(token mf1)" -H "Last-Event-ID: $START"
wait_for mfread 'b=20"' 5
if [ "$(messages mf)" = "$(messages mfread)" ] && [ "$(messages mf | wc -l)" = 20 ]; then
    ok "... byte for byte what a read from the same cursor sends (ids, cursors, content, read flag)"
else
    not_ok "carried events are what a read sends" "$(diff <(messages mf) <(messages mfread) | head -c 1500)"
fi
kill "$SSE_PID_mfread" 2>/dev/null
eq "$(last_counts mf)" "$(fresh_counts mf1)" "... and the counts kept in memory are what a read counts now"
publish "INSERT INTO push.message (recipient, title) VALUES (NULL, 'mf broadcast')"
wait_for mf 'mf broadcast' 5 && ok "a broadcast too" || not_ok "a broadcast reaches the stream"
eq "$(last_counts mf)" "$(fresh_counts mf1)" "... and its counts are a read's"
check '[ "$(metric pgpush_carried_total)" -gt "$carried1" ]' "... written from its wake-up"
# a read-state change is not carried: the stream reads, and its counts follow
sql "SELECT push.mark_kind_read('mf1', 'k1')" >/dev/null
sleep 1
eq "$(last_counts mf)" "$(fresh_counts mf1)" "after marking a kind read elsewhere, the stream's counts are a read's"
publish "INSERT INTO push.message (recipient, kind, title) VALUES ('mf1', 'k1', 'mf after mark')"
wait_for mf 'mf after mark' 5
eq "$(last_counts mf)" "$(fresh_counts mf1)" "... and after the next carried message too"
# marked read up to a cursor ahead of the next message: whether that one is read is the tables'
sql "SELECT push.mark_read_upto('mf1', (SELECT last_value FROM push.message_id_seq) + 3, 0)" >/dev/null
sleep 0.5
publish "INSERT INTO push.message (recipient, title) VALUES ('mf1', 'mf marked ahead')"
wait_for mf 'mf marked ahead' 5
eq "$(messages mf | tail -n 1 | sed 's/^data: //' | jq -r .read)" true \
    "a message below a watermark set ahead of it goes out read, as a read says"
eq "$(last_counts mf)" "$(fresh_counts mf1)" "... and the counts are a read's"

echo "# --- memory-first delivery: a wake-up that arrives while a read for the same user is in flight"
# mf2's stream reads (a bare wake-up: NOTIFY u:mf2) while a session holds push.reader locked, so
# the read waits; meanwhile two messages commit and their wake-ups come. When the read is back
# each is either in what it read (skipped) or not provably next (the counts it read are past its
# position): it reads again. Nothing twice, nothing lost, counts as a read's.
SSE_MAX=60 sse_open mf2 "token=$(token mf2)"
wait_for mf2 'event: unread' 5
publish "INSERT INTO push.message (recipient, title) VALUES ('mf2', 'mf2 before')"
wait_for mf2 'mf2 before' 5
misses0=$(metric pgpush_carry_misses_total) reads0=$(metric pgpush_reads_total)
lock_reader 3
sql "SELECT pg_notify('pgpush', 'u:mf2')" >/dev/null
sleep 0.5
publish "INSERT INTO push.message (recipient, title) VALUES ('mf2', 'mf2 during 1')"
publish "INSERT INTO push.message (recipient, title) VALUES ('mf2', 'mf2 during 2')"
check 'kill -0 $locker 2>/dev/null' "(the read was still waiting when both committed)"
wait "$locker"
wait_for mf2 'mf2 during 2' 5
publish "INSERT INTO push.message (recipient, title) VALUES ('mf2', 'mf2 after')"
wait_for mf2 'mf2 after' 5
eq "$(titles mf2)" "mf2 before,mf2 during 1,mf2 during 2,mf2 after" "every message once, in order"
eq "$(last_counts mf2)" "$(fresh_counts mf2)" "... and the counts are a read's"
echo "# (the read in flight: $(( $(metric pgpush_carry_misses_total) - misses0 )) carried messages read instead, $(( $(metric pgpush_reads_total) - reads0 )) reads)"

echo "# --- memory-first delivery: the LISTEN connection reconnects between two messages of a stream"
SSE_MAX=60 sse_open mf3 "token=$(token mf3)"
wait_for mf3 'event: unread' 5
publish "INSERT INTO push.message (recipient, title) VALUES ('mf3', 'mf3 one')"
wait_for mf3 'mf3 one' 5
lost0=$(metric pgpush_listen_reconnects_total)
# the hub's connection (its last statement one of its own) is cut, and cannot connect again
# (its role may not log in for a moment); the next message commits meanwhile, and its
# notification is lost: once connected again, the hub wakes every stream without a message, and
# they read. (Without that wake-up, "mf3 two" would wait for the next message's gap.)
sql "ALTER ROLE $WEB_ROLE NOLOGIN" >/dev/null
cut="SELECT pg_terminate_backend(pid) FROM pg_stat_activity
    WHERE application_name = 'push-sse' AND query ~ '^(LISTEN|SELECT enc, mac|SELECT 1$)'"
eq "$(sql "$cut")" t "the LISTEN connection is cut"
publish "INSERT INTO push.message (recipient, title) VALUES ('mf3', 'mf3 two')"
sleep 0.5
grep -q 'mf3 two' "$WORK/mf3.sse" && not_ok "(the message was delivered while nothing listened?)"
sql "ALTER ROLE $WEB_ROLE LOGIN" >/dev/null
wait_for mf3 'mf3 two' 8 && ok "the message committed while it was down arrives once it listens again" \
    || not_ok "the message committed while the LISTEN connection was down arrives" "$(tail -c 600 "$WORK/mf3.sse")"
publish "INSERT INTO push.message (recipient, title) VALUES ('mf3', 'mf3 three')"
wait_for mf3 'mf3 three' 5
eq "$(titles mf3)" "mf3 one,mf3 two,mf3 three" "every message once, in order"
eq "$(last_counts mf3)" "$(fresh_counts mf3)" "... and the counts are a read's"
check '[ "$(metric pgpush_listen_reconnects_total)" -gt "$lost0" ]' "pgpush_listen_reconnects_total counted the cut"
carried0=$(metric pgpush_carried_total)
publish "INSERT INTO push.message (recipient, title) VALUES ('mf3', 'mf3 four')"
wait_for mf3 'mf3 four' 5
sleep 0.2
check '[ "$(metric pgpush_carried_total)" -gt "$carried0" ]' "after the reconnection's read, messages are carried again"

if [ "$SERVER" = nginx ]; then # (10 s of quiet: once is enough)
echo "# --- the LISTEN connection, read by the event loop: quiet for 10 s, checked with SELECT 1 on the hub's thread, then the loop's again"
t0=$(sql "SELECT clock_timestamp()")
checked="SELECT count(*) FROM pg_stat_activity WHERE application_name = 'push-sse'
         AND query = 'SELECT 1' AND query_start > '$t0'"
SSE_MAX=30 sse_open mf6 "token=$(token mf6)"
wait_for mf6 'event: unread' 5
for i in $(seq 1 150); do [ "$(sql "$checked")" = 1 ] && break; sleep 0.1; done
eq "$(sql "$checked")" 1 "a LISTEN connection quiet for 10 s is checked (SELECT 1)"
carried0=$(metric pgpush_carried_total)
publish "INSERT INTO push.message (recipient, title) VALUES ('mf6', 'mf6 after the quiet')"
wait_for mf6 'mf6 after the quiet' 5 && ok "... and then wakes streams as before" \
    || not_ok "a message after the quiet check arrives" "$(tail -c 400 "$WORK/mf6.sse")"
check '[ "$(metric pgpush_carried_total)" -gt "$carried0" ]' "... written from its wake-up"
kill "$SSE_PID_mf6" 2>/dev/null
fi

echo "# --- memory-first delivery: a held long poll"
lpmetric() { curl -s --max-time 5 "$BASE/ext-status/push-longpoll" | awk -v s="$1" '$1 == s { print $2 }'; }
T4=$(token mf4)
publish "INSERT INTO push.message (recipient, title) VALUES ('mf4', 'mf4 before')"
http GET "$LP?token=$T4"
c=$(jq -r .cursor <<<"$BODY")
reads0=$(lpmetric pgpush_reads_total) carried0=$(lpmetric pgpush_carried_total)
(sleep 0.7; publish "INSERT INTO push.message (recipient, title) VALUES ('mf4', 'mf4 held')") &
waker=$!
http GET "$LP?token=$T4&since=$c&timeout=10"
held=$BODY
wait $waker
json_eq '[.messages[].title] | join(",")' "mf4 held" "a held long poll answers with the message"
eq "$(( $(lpmetric pgpush_reads_total) - reads0 )) $(( $(lpmetric pgpush_carried_total) - carried0 ))" "1 1" \
    "... its first read, then the message from the wake-up that carried it, no second read"
http GET "$LP?token=$T4&since=$c&timeout=10"
eq "$BODY" "$held" "... byte for byte what a read from the same cursor answers"
# mf1's stream was open while mf2's, mf3's and mf4's messages were carried to their own streams
eq "$(messages mf | sed 's/^data: //' | jq -r .title | grep -c '^mf[234] ')" 0 \
    "mf1's stream got none of the messages carried to mf2, mf3 and mf4"
check "! grep -q -e 'mf1' -e 'mf \\(broadcast\\|after mark\\|marked ahead\\)' \"\$WORK/mf3.sse\" \"\$WORK/mf2.sse\"" \
    "... nor theirs any of mf1's (they opened after its broadcast)"
for n in mf mf2 mf3; do eval "kill \$SSE_PID_$n" 2>/dev/null; done

echo "# --- memory-first delivery: forged and replayed wake-ups (any role may NOTIFY)"
# nosy: a role that may only connect, as any role of the database's other users
nosy="pgpush_nosy_$$"
sql "CREATE ROLE $nosy LOGIN" >/dev/null
notify_as_nosy() { PGUSER=$nosy psql -qAtX -v ON_ERROR_STOP=1 -c "SELECT pg_notify('pgpush', '$1')" >/dev/null; }
forged="m:$(head -c 96 /dev/urandom | base64 -w0)"
unopened() { grep -c "a sealed wake-up did not open" "$WORK/push-sse.log"; }
u0=$(unopened)
# a user none of whose streams is here: looked up, the seal never opened (O(1), and nothing logged)
notify_as_nosy "$forged:u:nobody-streams-here"
sleep 0.3
eq "$(unopened)" "$u0" "a forged seal for a user with no stream here: not even opened (nothing to log)"
SSE_MAX=60 sse_open mf6 "token=$(token mf6)"
SSE_MAX=60 sse_open mf7 "token=$(token mf7)"
wait_for mf6 'event: unread' 5
wait_for mf7 'event: unread' 5
notify_as_nosy "$forged:u:mf6"
sleep 0.5
check '[ "$(unopened)" -gt "$u0" ]' "a forged seal for a user streaming here: opened, refused, logged"
eq "$(messages mf6 | wc -l)" 0 "... and nothing written: the stream read the tables, which hold nothing new"
# a genuine seal, caught by a role that may only LISTEN, replayed to another user and to its own
(sleep 0.5; publish "INSERT INTO push.message (recipient, title) VALUES ('mf6', 'mf6 sealed')") &
waker=$!
payload=$(PGUSER=$nosy psql -qAtX -c "LISTEN pgpush" -c "SELECT pg_sleep(1.5)" -c "SELECT 1" 2>&1 \
    | sed -n 's/^Asynchronous notification "pgpush" with payload "\(m:[^"]*:u:mf6\)" received.*/\1/p' | head -n 1)
wait "$waker"
check '[ -n "$payload" ]' "(a role that may only connect caught mf6's sealed wake-up)"
check '! grep -q "mf6 sealed" <<<"$payload"' "... whose content it cannot read"
wait_for mf6 'mf6 sealed' 5
notify_as_nosy "${payload%:u:mf6}:u:mf7"
notify_as_nosy "$payload"
sleep 0.5
publish "INSERT INTO push.message (recipient, title) VALUES ('mf7', 'mf7 own')"
publish "INSERT INTO push.message (recipient, title) VALUES ('mf6', 'mf6 next')"
wait_for mf7 'mf7 own' 5
wait_for mf6 'mf6 next' 5
eq "$(titles mf7)" "mf7 own" "mf6's seal replayed to mf7: mf7 gets none of mf6's message"
eq "$(titles mf6)" "mf6 sealed,mf6 next" "... and replayed to mf6: not twice"
eq "$(last_counts mf6)" "$(fresh_counts mf6)" "... the counts are a read's"
for n in mf6 mf7; do eval "kill \$SSE_PID_$n" 2>/dev/null; done
sql "DROP ROLE $nosy" >/dev/null

harness_done
