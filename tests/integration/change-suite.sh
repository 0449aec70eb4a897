# change-suite.sh: a message's whole life on every transport (sql/migrations/0007_changes.sql):
# edits and retractions while connected and while away (then a resume), expiry while connected, a
# kinds filter that excludes the edited kind, and the other user untouched by all of it. push-sse,
# push-iframe and push-longpoll as external FastCGI servers and push-poll behind $SERVER (lighttpd or
# nginx); push-ws behind the same server's WebSocket proxying. Sourced by test-changes-lighttpd.sh
# and test-changes-nginx.sh.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib/harness.sh"
command -v node >/dev/null || hard_error "node is not installed (tests/run installs it)"
harness_start
ENVS=(PUSH_HEARTBEAT=1 PUSH_LIFETIME=60 PUSH_LOG_LEVEL=info)
start_daemon push-sse "${ENVS[@]}"
start_daemon push-longpoll "${ENVS[@]}" PUSH_HOLD=20
start_daemon push-iframe "${ENVS[@]}"
if [ "$SERVER" = nginx ]; then
    harness_nginx
    BASE="http://127.0.0.1:$NPORT"
fi
start_daemon push-ws "${ENVS[@]}"
echo "# through $SERVER at $BASE, push-ws too"
ALICE=$(token alice)
BOB=$(token bob)

# sse_open NAME QUERY [curl args]: a background EventSource-like client writing to $WORK/NAME.sse
sse_open() {
    local name=$1 q=$2
    shift 2
    curl -sN --max-time 40 "$@" "$BASE/ext/push-sse?$q" >"$WORK/$name.sse" 2>/dev/null &
    eval "PID_${name//[^a-zA-Z0-9]/_}=$!"
}
iframe_open() {
    local name=$1 q=$2
    curl -sN --max-time 40 "$BASE/ext/push-iframe?callback=cb&$q" >"$WORK/$name.sse" 2>/dev/null &
    eval "PID_${name//[^a-zA-Z0-9]/_}=$!"
}
ws_open() {
    local name=$1 q=$2
    node "$top_srcdir/tests/lib/ws-client.mjs" "ws://${BASE#http://}/ext/push-ws?$q" \
        --max-time 40 </dev/null >"$WORK/$name.sse" 2>&1 &
    eval "PID_${name//[^a-zA-Z0-9]/_}=$!"
}
# resume_open NAME QUERY CURSOR: transport $T's client, resuming from CURSOR as that client does
# (SSE: Last-Event-ID; the iframe and WebSocket: since=)
resume_open() {
    case $T in
    sse) sse_open "$1" "$2" -H "Last-Event-ID: $3" ;;
    iframe) iframe_open "$1" "$2&since=$3" ;;
    ws) ws_open "$1" "$2&since=$3" ;;
    esac
}
close() { local v="PID_${1//[^a-zA-Z0-9]/_}"; kill "${!v}" 2>/dev/null; wait "${!v}" 2>/dev/null; }
# wait_for NAME PATTERN [SECONDS]: until the client's file matches
wait_for() {
    local i
    for i in $(seq 1 $(( ${3:-5} * 20 ))); do grep -q -- "$2" "$WORK/$1.sse" 2>/dev/null && return 0; sleep 0.05; done
    return 1
}
# events NAME: one line per event, "TYPE DATA", in the order they came, whatever the transport
events() {
    case $1 in
    ws*) grep '^{' "$WORK/$1.sse" | jq -c 'select(.type == "message" or .type == "update" or .type == "delete" or .type == "unread")
                                         | [.type, (.message // .unread)] | "\(.[0]) \(.[1] | tojson)"' -r ;;
    if*) grep -o 'parent\.cb("[a-z]*",[^<]*)</script>' "$WORK/$1.sse" \
             | sed -E 's/^parent\.cb\("([a-z]*)",("[^"]*"|null),(.*)\)<\/script>$/\1 \3/' \
             | grep -E '^(message|update|delete|unread) ' ;;
    *) awk '/^event: / { e = substr($0, 8); next } /^data: / && e != "" { print e " " substr($0, 7); e = "" }' "$WORK/$1.sse" \
             | grep -E '^(message|update|delete|unread) ' ;;
    esac
}
# changes NAME: the update and delete events, as "update ID TITLE" and "delete ID"
changes() {
    events "$1" | while read -r t d; do
        case $t in
        update) echo "update $(jq -r '.id + " " + .title' <<<"$d")" ;;
        delete) echo "delete $(jq -r .id <<<"$d")" ;;
        esac
    done | paste -sd, -
}
msg_ids() { events "$1" | awk '$1 == "message"' | cut -d' ' -f2- | jq -r .id | paste -sd, -; }
last_total() { events "$1" | awk '$1 == "unread"' | tail -n 1 | cut -d' ' -f2- | jq -r .total; }
# resume_cursor NAME: where the client goes on from: the last SSE id (the WebSocket event's cursor)
resume_cursor() {
    case $1 in
    ws*) grep '^{' "$WORK/$1.sse" | jq -r 'select(.cursor) | .cursor' | tail -n 1 ;;
    if*) grep -o 'parent\.cb("[a-z]*","[^"]*"' "$WORK/$1.sse" | tail -n 1 | sed -E 's/.*,"([^"]*)"$/\1/' ;;
    *) grep '^id: ' "$WORK/$1.sse" | tail -n 1 | cut -c5- ;;
    esac
}
pub() { publish "$1"; }

sql "INSERT INTO push.kind (name) VALUES ('comment') ON CONFLICT DO NOTHING" >/dev/null
for T in sse iframe ws; do
    echo "# --- $T"
    open_() { case $T in sse) sse_open "$@" ;; iframe) iframe_open "$@" ;; ws) ws_open "$@" ;; esac; }
    A=$T-a; B=$T-b; case $T in iframe) A=if-a B=if-b ;; ws) A=ws-a B=ws-b ;; esac
    open_ "$A" "token=$ALICE"
    open_ "$B" "token=$BOB"
    wait_for "$A" 'unread' 5 && wait_for "$B" 'unread' 5 || not_ok "$T: both streams open"
    m1=$(pub "SELECT push.send('alice', 'one', '', 'notice')")
    m2=$(pub "SELECT push.send('alice', 'two', '', 'notice')")
    b1=$(pub "SELECT push.broadcast('all')")
    bob1=$(pub "SELECT push.send('bob', 'bobs', '', 'notice')")
    wait_for "$A" "\"id\":\"$b1\"" 5 && wait_for "$B" "\"id\":\"$bob1\"" 5 || not_ok "$T: the messages arrive"
    eq "$(last_total "$A")" 3 "$T: alice has 3 unread"

    # an edit while connected
    eq "$(pub "SELECT push.edit($m1, title => 'one, fixed')")" t "$T: push.edit as the publisher"
    wait_for "$A" "one, fixed" 5
    eq "$(changes "$A")" "update $m1 one, fixed" "$T: an edit while connected: one update event, the message as it is now"
    # its cursor is its own place: up to it in its stream, and no further in the other than the
    # cursor it came with (marking read up to it marks nothing it did not)
    came=$(events "$A" | awk '$1 == "message"' | head -n 1 | cut -d' ' -f2- | jq -r .cursor)
    upd=$(events "$A" | awk '$1 == "update"' | cut -d' ' -f2- | jq -r .cursor)
    check '[ "$(cut -d- -f1 <<<"$upd")" = "$(printf %x "$m1")" ] && [ "$(cut -d- -f3 <<<"$upd")" = "$(cut -d- -f3 <<<"$came")" ] && [ $((16#$(cut -d- -f2 <<<"$upd"))) -le $((16#$(cut -d- -f2 <<<"$came"))) ]' \
        "$T: ... with its own place as its cursor ($upd; it came with $came)"
    # a retraction while connected
    eq "$(pub "SELECT push.retract($m2)")" t "$T: push.retract as the publisher"
    wait_for "$A" "\"id\":\"$m2\"}" 5
    eq "$(changes "$A")" "update $m1 one, fixed,delete $m2" "$T: a retraction while connected: a delete event"
    for _ in $(seq 1 40); do [ "$(last_total "$A")" = 2 ] && break; sleep 0.05; done
    eq "$(last_total "$A")" 2 "$T: ... and the counts follow (2)"
    # a broadcast's edit reaches everyone, from one row
    pub "SELECT push.edit($b1, body => 'for all')" >/dev/null
    wait_for "$B" "for all" 5
    check "changes $B | grep -q 'update $b1'" "$T: a broadcast's edit reaches bob too"
    eq "$(sql "SELECT count(*) FROM push.change WHERE message_id = $b1")" 1 "$T: ... one change row for everyone"
    eq "$(changes "$B")" "update $b1 all" "$T: bob was told nothing of alice's messages"

    # away: an edit, a retraction and a new message, then a resume from the last cursor
    cur=$(resume_cursor "$A")
    close "$A"
    pub "SELECT push.edit($m1, title => 'one, again')" >/dev/null
    pub "SELECT push.edit($m1, title => 'one, last')" >/dev/null
    pub "SELECT push.retract($b1)" >/dev/null
    m3=$(pub "SELECT push.send('alice', 'three', '', 'notice')")
    pub "SELECT push.edit($m3, title => 'three, fixed')" >/dev/null
    resume_open "$A-r" "token=$ALICE" "$cur"
    wait_for "$A-r" "three, fixed" 5
    sleep 0.3
    eq "$(changes "$A-r")" "update $m1 one, last,delete $b1" \
        "$T: resumed after being away: the last edit of m1 once, the broadcast's retraction, nothing else"
    eq "$(msg_ids "$A-r")" "$m3" "$T: ... and the new message, as it is now (its edit not sent again)"
    eq "$(events "$A-r" | awk '$1 == "message"' | cut -d' ' -f2- | jq -r .title)" "three, fixed" "$T: ... (its title: three, fixed)"
    # a message deleted before the client's cursor reached it never reappears, nor its deletion
    close "$A-r"
    resume_open "$A-0" "token=$ALICE" "$(printf '%x-%x-' "$m1" $((b1 - 1)))$(cut -d- -f3 <<<"$cur")"
    wait_for "$A-0" "three, fixed" 5
    sleep 0.3
    check "! msg_ids $A-0 | tr , '\n' | grep -qx '$m2' && ! msg_ids $A-0 | tr , '\n' | grep -qx '$b1'" \
        "$T: a resume from before the retracted messages: they are not there"
    eq "$(changes "$A-0")" "update $m1 one, last" "$T: ... and no delete for messages it never had"
    close "$A-0"

    # expiry while connected: the delete event comes at the expiry, from the process's timer
    open_ "$A-x" "token=$ALICE"
    wait_for "$A-x" 'unread' 5
    before=$(last_total "$A-x")
    mx=$(pub "INSERT INTO push.message (recipient, title, expires_at) VALUES ('alice', 'soon gone', now() + interval '1.5 s') RETURNING id")
    wait_for "$A-x" "soon gone" 5 || not_ok "$T: the expiring message arrives"
    t0=$(date +%s%N)
    wait_for "$A-x" "\"id\":\"$mx\"}" 6
    ms=$(( ($(date +%s%N) - t0) / 1000000 ))
    eq "$(changes "$A-x")" "delete $mx" "$T: at its expiry, a delete event (${ms} ms after it came; it expired 1.5 s after its INSERT)"
    for _ in $(seq 1 40); do [ "$(last_total "$A-x")" = "$before" ] && break; sleep 0.05; done
    eq "$(last_total "$A-x")" "$before" "$T: ... and the counts exclude it again ($before)"
    close "$A-x"

    # a filter: comments only; an edit that moves a comment out of them is a delete for this stream
    open_ "$A-k" "token=$ALICE&kinds=comment"
    wait_for "$A-k" 'unread' 5
    n1=$(pub "SELECT push.send('alice', 'a notice', '', 'notice')")
    c1=$(pub "SELECT push.send('alice', 'a comment', '', 'comment')")
    wait_for "$A-k" "a comment" 5
    pub "SELECT push.edit($n1, title => 'a notice, edited')" >/dev/null
    pub "SELECT push.edit($c1, kind => 'notice')" >/dev/null
    wait_for "$A-k" "\"id\":\"$c1\"}" 5
    sleep 0.3
    eq "$(msg_ids "$A-k")" "$c1" "$T: kinds=comment: the comment only"
    eq "$(changes "$A-k")" "delete $c1" "$T: ... the notice's edit unseen; the comment made a notice is a delete"
    eq "$(events "$A-k" | awk '$1 == "unread"' | cut -d' ' -f2- | jq -c .by_kind | sort -u | paste -sd' ' -)" '{"comment":1} {}' \
        "$T: ... its counts are of comments only"
    kcur=$(resume_cursor "$A-k")
    close "$A-k"
    # away, then a resume with the same filter: as exact as without
    pub "SELECT push.send('alice', 'another notice', '', 'notice')" >/dev/null
    c2=$(pub "SELECT push.send('alice', 'another comment', '', 'comment')")
    pub "SELECT push.send('alice', 'a last notice', '', 'notice')" >/dev/null
    resume_open "$A-kr" "token=$ALICE&kinds=comment" "$kcur"
    wait_for "$A-kr" "another comment" 5
    sleep 0.3
    eq "$(msg_ids "$A-kr"),$(changes "$A-kr")" "$c2," "$T: resumed with kinds=comment: the one comment sent meanwhile, nothing else"
    close "$A-kr"
    close "$A"; close "$B"
    pub "SELECT push.retract(id) FROM push.message" >/dev/null
done

echo "# --- long poll and short poll"
c=$(curl -s "$BASE/ext/push-poll?token=$ALICE&limit=5" | jq -r .cursor)
p1=$(pub "SELECT push.send('alice', 'polled', '', 'notice')")
c=$(curl -s "$BASE/ext/push-longpoll?token=$ALICE&since=$c" | jq -r .cursor)
curl -s --max-time 15 "$BASE/ext/push-longpoll?token=$ALICE&since=$c&timeout=10" >"$WORK/lp.json" &
lp=$!
sleep 0.5
pub "SELECT push.edit($p1, title => 'polled, edited')" >/dev/null
wait $lp
eq "$(jq -c '[.changes[] | [.event, .message.id, .message.title]]' "$WORK/lp.json")" "[[\"update\",\"$p1\",\"polled, edited\"]]" \
    "a held long poll is answered with the edit"
eq "$(jq -r '.messages | length' "$WORK/lp.json")" 0 "... and no message"
c2=$(jq -r .cursor "$WORK/lp.json")
pub "SELECT push.retract($p1)" >/dev/null
BODY=$(curl -s "$BASE/ext/push-poll?token=$ALICE&since=$c2")
json_eq '[.changes[] | [.event, .message.id]] | tostring' "[[\"delete\",\"$p1\"]]" "push-poll lists a retraction since the cursor"
BODY=$(curl -s "$BASE/ext/push-poll?token=$ALICE&since=$c")
json_eq '[.changes[] | .event] | tostring' '["delete"]' "... from before the edit too: one delete, not the edit as well"
BODY=$(curl -s "$BASE/ext/push-poll?token=$ALICE&limit=50")
json_eq '[.messages[] | select(.id == "'"$p1"'")] | length' 0 "the newest list no longer has it"
# a filter: the notice and its edit are not the comment-only client's; the comment's move out is
c=$(curl -s "$BASE/ext/push-poll?token=$ALICE&limit=1&kinds=comment" | jq -r .cursor)
pn=$(pub "SELECT push.send('alice', 'polled notice', '', 'notice')")
pc=$(pub "SELECT push.send('alice', 'polled comment', '', 'comment')")
BODY=$(curl -s "$BASE/ext/push-longpoll?token=$ALICE&since=$c&kinds=comment")
json_eq '[.messages[].title] | join(",")' "polled comment" "long poll, kinds=comment: the comment only"
json_eq '.unread.by_kind | keys | join(",")' "comment" "... and counts of comments only"
c=$(jq -r .cursor <<<"$BODY")
pub "SELECT push.edit($pn, title => 'polled notice, edited')" >/dev/null
pub "SELECT push.edit($pc, kind => 'notice')" >/dev/null
BODY=$(curl -s "$BASE/ext/push-poll?token=$ALICE&since=$c&kinds=comment")
json_eq '[.changes[] | .event + " " + .message.id] | join(",")' "delete $pc" \
    "push-poll, kinds=comment: the notice's edit left out, the comment made a notice a delete"
BODY=$(curl -s "$BASE/ext/push-poll?token=$ALICE&since=$c")
json_eq '[.changes[] | .event + " " + .message.id] | join(",")' "update $pn,update $pc" \
    "... and without the filter, from the same cursor, both edits"
BODY=$(curl -s "$BASE/ext/push-poll?token=$ALICE&kinds=Bad!")
eq "$(jq -r .error <<<"$BODY")" bad_kinds "a malformed kinds filter is refused: 400 bad_kinds"
eq "$(curl -s -o /dev/null -w '%{http_code}' "$BASE/ext/push-sse?token=$ALICE&kinds=a,,b")" 400 "... by push-sse too"
kinds17=$(seq 1 17 | sed 's/^/k/' | paste -sd, -)
eq "$(curl -s -o /dev/null -w '%{http_code}' "$BASE/ext/push-longpoll?token=$ALICE&kinds=$kinds17")" 400 "... and 17 kinds by push-longpoll"
out=$(node "$top_srcdir/tests/lib/ws-client.mjs" "ws://${BASE#http://}/ext/push-ws?token=$ALICE&kinds=a,,b" --max-time 3 2>&1)
eq "$(head -n 1 <<<"$out"),$(sed -n 2p <<<"$out" | jq -r .error)" "HTTP 400,bad_kinds" "... and by push-ws, before the upgrade"

echo "# --- a flood of expiry wake-ups ('x') from a role that may only connect"
metric() { curl -s --max-time 5 "$BASE/ext-status/push-sse" | awk -v s="$1" '$1 == s { print $2 }'; }
nosy="pgpush_nosy_$$"
sql "CREATE ROLE $nosy LOGIN" >/dev/null
sse_open flood "token=$BOB"
wait_for flood unread 5
runs0=$(metric pgpush_expiry_runs_total)
t0=$(date +%s%N)
PGUSER=$nosy psql -qAtX -v ON_ERROR_STOP=1 -c "SELECT count(pg_notify('pgpush', 'x')) FROM generate_series(1, 1)" >/dev/null
for _ in $(seq 1 20); do
    PGUSER=$nosy psql -qAtX -c "DO \$\$ BEGIN FOR i IN 1..100 LOOP PERFORM pg_notify('pgpush', 'x' || repeat(' ', 0)); COMMIT; END LOOP; END \$\$" >/dev/null
done
secs=$(( ($(date +%s%N) - t0) / 1000000 ))
sleep 0.5
runs=$(( $(metric pgpush_expiry_runs_total) - runs0 ))
# 2,000 notifications in $secs ms: at most one run per 200 ms, and one for what came at the end
check "[ $runs -ge 1 ] && [ $runs -le $(( (secs + 500) / 200 + 2 )) ]" \
    "2,001 'x' wake-ups in $secs ms: $runs runs of push.expire_due in push-sse, at most one per 200 ms"
eq "$(changes flood)" "" "... and no event to bob's open stream"
close flood
sql "DROP ROLE $nosy" >/dev/null

echo "# --- the SQL API's bounds"
check "! PGUSER=$PUB_ROLE psql -qAtX -c 'UPDATE push.message SET title = title' >/dev/null 2>&1" "a publisher may not UPDATE push.message itself"
eq "$(pub "SELECT push.edit(999999999, title => 'x')")" f "push.edit of no such message: false"
eq "$(pub "SELECT push.retract(999999999)")" f "push.retract of no such message: false"
harness_done
