#!/usr/bin/env bash
# test-mqtt.sh: push-mqtt and the Mosquitto auth plugin against a real Mosquitto and PostgreSQL:
# delivery, tokens, the per-user topic rule, hostile text, retained counts, restarts of the
# bridge, the broker and PostgreSQL, the WebSocket listener, and push-mqtt's metrics and health
# (PUSH_MQTT_STATUS_LISTEN) through each of those
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib/harness.sh"

harness_database
. "$top_srcdir/tests/lib/mqtt.sh"

# sub NAME USER TOKEN COUNT SECONDS TOPIC... : mosquitto_sub in the background, QoS 1, one
# payload per line into $WORK/NAME.out; SUB_OPTS adds options (-c -i ID: a persistent session).
# Its client id is USER/sub-PID (the plugin refuses ids that are not USER/...) unless SUB_OPTS has one.
declare -A SUB_PID
sub() {
    local name=$1 user=$2 tok=$3 count=$4 secs=$5 args=()
    shift 5
    for t in "$@"; do args+=(-t "$t"); done
    [[ " ${SUB_OPTS:-} " == *" -i "* ]] || args+=(-I "$user/sub-")
    mosquitto_sub -p "$MQTT_PORT" -u "$user" -P "$tok" -q 1 -C "$count" -W "$secs" ${SUB_OPTS:-} \
        "${args[@]}" >"$WORK/$name.out" 2>"$WORK/$name.err" &
    SUB_PID[$name]=$!
    HARNESS_PIDS+=($!)
}
# sub_wait NAME: waits for that subscriber to end; its exit status
sub_wait() { local rc=0; wait "${SUB_PID[$1]}" || rc=$?; return $rc; }
# the topics
UT() { echo "push/user/$1/$2"; }
BT=push/broadcast/message
# titles NAME: the titles received by a subscriber, comma-separated
titles() { jq -r .title <"$WORK/$1.out" 2>/dev/null | paste -sd, -; }
# sget NAME PATH: the bridge's status listener's answer in $WORK/NAME.status, its code echoed
sget() { curl -s -o "$WORK/$1.status" -w '%{http_code}' --max-time 10 --unix-socket "$MQTT_STATUS" "http://localhost$2"; }
# scrape NAME: GET /metrics, parsed by the reference parser into $WORK/NAME.prom; metric NAME SERIES
scrape() {
    local code
    code=$(sget "$1" /metrics)
    if [ "$code" = 200 ] && /usr/bin/python3 "$top_srcdir/tests/lib/promparse.py" "$WORK/$1.status" >"$WORK/$1.prom" 2>&1; then
        ok "push-mqtt's metrics ($1): 200, Prometheus text ($(wc -l <"$WORK/$1.prom") samples)"
    else
        not_ok "push-mqtt's metrics ($1): 200, Prometheus text" "$code $(cat "$WORK/$1.prom" 2>/dev/null)"
    fi
}
metric() { awk -v s="$2" '$1 == s { print $2 }' "$WORK/$1.prom"; }
grew() { check "awk 'BEGIN { exit !($(metric "$2" "$3") > $(metric "$1" "$3")) }'" "$3 moved: $(metric "$1" "$3") -> $(metric "$2" "$3")"; }

echo "# --- what the bridge sends before the broker acknowledges: PUSH_MQTT_BATCH, PUSH_MQTT_MAX_INFLIGHT"
# a broker that lets the bridge in and never acknowledges a message (MQTT 3.1.1, a few packets)
cat >"$WORK/mute-broker.mjs" <<'EOF'
import net from 'node:net';
let publishes = 0;
net.createServer((s) => {
    let buf = Buffer.alloc(0);
    s.on('error', () => {});
    s.on('data', (d) => {
        for (buf = Buffer.concat([buf, d]); ;) {
            let len = 0, mul = 1, i = 1, b;
            do { if (i >= buf.length) return; b = buf[i++]; len += (b & 127) * mul; mul *= 128; } while (b & 128);
            if (buf.length < i + len) return;
            const type = buf[0] >> 4, body = buf.subarray(i, i + len);
            buf = buf.subarray(i + len);
            if (type === 1) s.write(Buffer.from([0x20, 2, 0, 0]));                    // CONNACK
            else if (type === 8) s.write(Buffer.from([0x90, 3, body[0], body[1], 1])); // SUBACK
            else if (type === 12) s.write(Buffer.from([0xd0, 0]));                    // PINGRESP
            else if (type === 3) console.log(`PUBLISH ${++publishes}`);               // no PUBACK
        }
    });
}).listen(Number(process.argv[2]), '127.0.0.1', () => console.log('LISTENING'));
EOF
publish "INSERT INTO push.message (recipient, title) SELECT 'dora', 'd' || g FROM generate_series(1, 30) g"
# mute NAME BATCH INFLIGHT EXPECTED: MUTE = how many of dora's 30 messages a bridge publishes to the
# mute broker (waiting until EXPECTED have come, then 1 s more: a missing bound sends them all at once)
mute() {
    local port bpid mpid
    port=$(free_port)
    node "$WORK/mute-broker.mjs" "$port" >"$WORK/$1.out" 2>&1 &
    bpid=$!
    for _ in $(seq 1 100); do grep -q LISTENING "$WORK/$1.out" && break; sleep 0.1; done
    env PUSH_MQTT_PORT="$port" PUSH_MQTT_BATCH="$2" PUSH_MQTT_MAX_INFLIGHT="$3" PUSH_MQTT_ACK_TIMEOUT=120 \
        PUSH_LOG_LEVEL=debug "$DAEMONS/push-mqtt" 2>>"$WORK/$1.log" &
    mpid=$!
    HARNESS_PIDS+=($bpid $mpid)
    for _ in $(seq 1 200); do [ "$(grep -c PUBLISH "$WORK/$1.out")" -ge "$4" ] && break; sleep 0.1; done
    sleep 1
    MUTE=$(grep -c PUBLISH "$WORK/$1.out")
    kill -9 "$mpid"; kill "$bpid"; wait "$mpid" "$bpid" 2>/dev/null
}
mute mute-batch 7 1000 7
eq "$MUTE" 7 "PUSH_MQTT_BATCH=7: 7 of 30 messages published, then the bridge waits for their acknowledgements"
mute mute-inflight 1000 5 5
eq "$MUTE" 5 "PUSH_MQTT_MAX_INFLIGHT=5: of a batch of 30, 5 on the wire unacknowledged, the rest held back"

ALICE=$(token alice)
BOB=$(token bob)

echo "# --- the programs"
out=$("$DAEMONS/push-mqtt" --help); rc=$?
check '[ $rc -eq 0 ] && grep -q "push/user/USER/message\|PREFIX/user/USER/message" <<<"$out" && grep -q PUSH_MQTT_HOST <<<"$out" && grep -q PUSH_MQTT_STATUS_LISTEN <<<"$out"' "push-mqtt --help names the topics and its settings (PUSH_MQTT_STATUS_LISTEN too)"
out=$("$DAEMONS/push-mqtt" --check 2>&1); rc=$?
check '[ $rc -eq 0 ] && grep -q "its own statements (rolled back): ok" <<<"$out"' "push-mqtt --check accepts the database, its own statements tried"
# a role that may do what the streaming programs do, but not record push-mqtt's acknowledgements
partial="pgpush_nomqtt_$$"
sql "CREATE ROLE $partial LOGIN; GRANT USAGE ON SCHEMA push TO $partial;
     GRANT SELECT ON ALL TABLES IN SCHEMA push TO $partial; GRANT SELECT ON ALL SEQUENCES IN SCHEMA push TO $partial;
     GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA push TO $partial; REVOKE EXECUTE ON FUNCTION push.mqtt_ack(text, bigint) FROM $partial"
out=$(PUSH_DATABASE_URL="user=$partial" "$DAEMONS/push-mqtt" --check 2>&1); rc=$?
check '[ $rc -ne 0 ] && grep -q "its own statements (rolled back): failed: .*permission denied for function mqtt_ack" <<<"$out" && grep -q "lacks 1 of push_reader.s: EXECUTE on push.mqtt_ack(text,bigint)" <<<"$out"' \
    "push-mqtt --check as a role that may not call push.mqtt_ack: fails, naming it"
out=$(PUSH_DATABASE_URL="user=$partial" "$BIN/push-sse" --check 2>&1); rc=$?
check '[ $rc -eq 0 ]' "... which push-sse, which does not call it, does not need"
eq "$(sql "SELECT count(*) FROM push.mqtt_cursor WHERE stream = 'pgpush-check'")" 0 "push-mqtt --check left nothing behind"
sql "DROP OWNED BY $partial; DROP ROLE $partial"
out=$(PUSH_MQTT_TOPIC_PREFIX='push/#' "$DAEMONS/push-mqtt" --check 2>&1); rc=$?
check '[ $rc -ne 0 ] && grep -q PUSH_MQTT_TOPIC_PREFIX <<<"$out"' "a bad PUSH_MQTT_TOPIC_PREFIX stops it at start, named"

# the bridge first: it waits for a broker that is not there yet
start_bridge --no-wait
sleep 1
echo "# --- status: the bridge without its broker"
eq "$(sget hb /health),$(jq -r .status "$WORK/hb.status"),$(jq -r .broker "$WORK/hb.status")" "503,unavailable,down" "health without the broker: 503 unavailable, broker down"
check 'jq -r .reason "$WORK/hb.status" | grep -q "MQTT broker is not connected"' "... saying why: $(jq -r .reason "$WORK/hb.status")"
scrape mb
eq "$(metric mb pgpush_mqtt_broker_up),$(metric mb pgpush_listen_up)" "0,1" "pgpush_mqtt_broker_up 0, pgpush_listen_up 1"
VERSION=$("$DAEMONS/push-mqtt" --version | awk '{ print $NF }')
eq "$(metric mb 'pgpush_build_info{program="push-mqtt",version="'"$VERSION"'"}')" 1 "pgpush_build_info names push-mqtt"
check '! grep -q "^pgpush_open_streams\|^pgpush_streams_opened_total\|^pgpush_refused_total" "$WORK/mb.prom"' "no series of streams (it has none)"
eq "$(sget nf /nothing),$(jq -r .error "$WORK/nf.status")" "404,not_found" "another path: 404 not_found"
start_broker
grep -q "pgpush_auth: tokens for users" "$WORK/mosquitto.log" && ok "mosquitto loads the plugin" || not_ok "mosquitto loads the plugin" "$(tail -n 5 "$WORK/mosquitto.log")"
for _ in $(seq 1 100); do grep -q "connected to the MQTT broker" "$WORK/push-mqtt.log" && break; sleep 0.1; done
grep -q "cannot reach the MQTT broker" "$WORK/push-mqtt.log" && ok "a bridge started before the broker says it cannot reach it" || not_ok "bridge says broker unreachable" "$(cat "$WORK/push-mqtt.log")"
grep -q "connected to the MQTT broker" "$WORK/push-mqtt.log" && ok "and logs in with its password once the broker is up" || not_ok "bridge connects" "$(tail -n 5 "$WORK/push-mqtt.log")"

echo "# --- publish by SQL, receive with mosquitto_sub"
sub a1 alice "$ALICE" 1 10 "$(UT alice message)"
sleep 0.5
for _ in $(seq 1 50); do [ "$(sget h0 /health)" = 200 ] && break; sleep 0.1; done
eq "$(sget h0 /health),$(jq -c '[.status, .program, .listen, .broker]' "$WORK/h0.status")" '200,["ok","push-mqtt","up","up"]' \
    "health with the broker: 200 ok, LISTEN and broker up"
scrape m0
id=$(publish "SELECT push.send('alice', 'Hello MQTT', 'first body')")
sub_wait a1; rc=$?
eq "$rc" 0 "alice receives a message within 10 s"
eq "$(jq -r .title "$WORK/a1.out")|$(jq -r .body "$WORK/a1.out")|$(jq -r .id "$WORK/a1.out")" "Hello MQTT|first body|$id" "the message object: title, body, id"
cur=$(jq -r .cursor "$WORK/a1.out")
check '[[ "$cur" =~ ^$(printf %x "$id")-0-[0-9a-f]{8}$ ]]' "it carries alice's cursor just after it, as push-sse would ($cur)"
eq "$(jq -r '.broadcast, .read' "$WORK/a1.out" | paste -sd, -)" "false,false" "broadcast false, read false"
scrape m1
eq "$(awk "BEGIN { print $(metric m1 pgpush_delivered_messages_total) - $(metric m0 pgpush_delivered_messages_total) }")" 1 \
    "pgpush_delivered_messages_total counted the one message the broker acknowledged"
grew m0 m1 pgpush_delivered_bytes_total
grew m0 m1 pgpush_wakeups_total
grew m0 m1 pgpush_carried_total # (alice's MQTT login read her stream: the message was its next)
grew m0 m1 pgpush_delivery_lag_seconds_count
eq "$(metric m1 pgpush_mqtt_broker_up)" 1 "pgpush_mqtt_broker_up 1"

sub u1 alice "$ALICE" 1 5 "$(UT alice unread)"
sub_wait u1
eq "$(jq -c . "$WORK/u1.out")" '{"total":1,"by_kind":{"notice":1}}' "the unread counts are retained: a new subscriber gets them at once"

echo "# --- broadcasts on the shared topic; everyone's counts follow"
sub b1 alice "$ALICE" 1 10 "$BT"
sub b2 bob "$BOB" 1 10 "$BT"
sleep 0.5
bid=$(publish "SELECT push.broadcast('To everyone', 'all')")
sub_wait b1; sub_wait b2
eq "$(jq -r '.title, .id, .broadcast, .cursor' "$WORK/b1.out" | paste -sd, -)" "To everyone,$bid,true,null" "alice gets the broadcast (no cursor: ids order the shared topic)"
eq "$(titles b2)" "To everyone" "bob gets it too"
publish "SELECT push.send('bob', 'for bob')" >/dev/null
sleep 1
sub u2 alice "$ALICE" 1 5 "$(UT alice unread)"
sub_wait u2
eq "$(jq -r .total "$WORK/u2.out")" 2 "alice's retained count includes the broadcast"
sub u3 bob "$BOB" 1 5 "$(UT bob unread)"
sub_wait u3
eq "$(jq -r .total "$WORK/u3.out")" 2 "bob's too"
sql "SELECT push.mark_all_read('alice')" >/dev/null
sleep 1
sub u4 alice "$ALICE" 1 5 "$(UT alice unread)"
sub_wait u4
eq "$(jq -r .total "$WORK/u4.out")" 0 "marking read (by SQL, as push-poll does) updates the retained count"

echo "# --- edits and retractions: an update on the message topic, a delete on the delete topic"
e1=$(publish "SELECT push.send('alice', 'to edit', '', 'notice')")
e2=$(publish "SELECT push.send('alice', 'to retract', '', 'notice')")
eb=$(publish "SELECT push.broadcast('a broadcast to edit')")
sleep 1
sub ed alice "$ALICE" 2 10 "$(UT alice message)" "$BT"
sub dl alice "$ALICE" 2 10 "$(UT alice delete)" push/broadcast/delete
sub bd bob "$BOB" 1 10 push/broadcast/delete
sub bm bob "$BOB" 1 4 "$(UT bob message)" "$(UT bob delete)"
sleep 0.5
publish "SELECT push.edit($e1, title => 'edited over MQTT')" >/dev/null
publish "SELECT push.edit($eb, body => 'for all, edited')" >/dev/null
publish "SELECT push.retract($e2)" >/dev/null
publish "SELECT push.retract($eb)" >/dev/null
sub_wait ed; sub_wait dl; sub_wait bd
eq "$(jq -r '[.event, .id, .title] | join(" ")' "$WORK/ed.out" | sort | paste -sd, -)" \
    "update $e1 edited over MQTT,update $eb a broadcast to edit" "the edits come on the message topics as the messages as they are now, with event update"
eq "$(jq -c . "$WORK/dl.out" | sort | paste -sd, -)" "$(printf '{"id":"%s"}\n{"id":"%s"}' "$e2" "$eb" | sort | paste -sd, -)" \
    "the retractions come on alice's delete topic and the broadcast delete topic, the id only"
eq "$(jq -c . "$WORK/bd.out")" "{\"id\":\"$eb\"}" "bob gets the broadcast's retraction"
sub_wait bm; rc=$?
eq "$rc,$(wc -c <"$WORK/bm.out")" "27,0" "bob's own topics carry nothing of alice's (nothing in 4 s)"
sub u5 alice "$ALICE" 1 5 "$(UT alice unread)"
sub_wait u5
eq "$(jq -r .total "$WORK/u5.out")" "$(sql "SELECT coalesce(sum(n), 0) FROM push.unread('alice')")" \
    "alice's retained counts follow the retractions (as push.unread counts)"
for _ in $(seq 1 50); do [ "$(sql "SELECT acked FROM push.mqtt_cursor WHERE stream = 'alice'")" = "$(sql "SELECT last_id FROM push.stream WHERE recipient = 'alice'")" ] && break; sleep 0.1; done
eq "$(sql "SELECT acked FROM push.mqtt_cursor WHERE stream = 'alice'")" "$(sql "SELECT last_id FROM push.stream WHERE recipient = 'alice'")" \
    "the bridge's cursor moved past the changes (nothing pending for its catch-up)"

echo "# --- expiry: the bridge's own timer marks it (no streaming program runs here), the delete goes out"
sub xd alice "$ALICE" 1 10 "$(UT alice delete)"
sleep 0.5
xid=$(publish "INSERT INTO push.message (recipient, title, expires_at) VALUES ('alice', 'expiring over MQTT', now() + interval '1.5 s') RETURNING id")
sub_wait xd; rc=$?
eq "$rc,$(jq -c . "$WORK/xd.out")" "0,{\"id\":\"$xid\"}" "at its expiry, its delete on alice's delete topic"

echo "# --- a user who never had a message of their own: counts kept from their first MQTT login"
NEWBIE=$(token newbie)
before=$(sql "SELECT count(*) FROM push.message WHERE recipient IS NULL")
sub n1 newbie "$NEWBIE" 1 10 "$(UT newbie unread)"
sub_wait n1
eq "$(jq -r .total "$WORK/n1.out")" "$before" "logging in makes the bridge publish their counts (the broadcasts so far)"
publish "SELECT push.broadcast('after newbie came')" >/dev/null
for _ in $(seq 1 30); do
    sub n2 newbie "$NEWBIE" 1 5 "$(UT newbie unread)"
    sub_wait n2
    [ "$(jq -r .total "$WORK/n2.out")" = $((before + 1)) ] && break
    sleep 0.2
done
eq "$(jq -r .total "$WORK/n2.out")" $((before + 1)) "and keeps them: the next broadcast counts"
out=$(mosquitto_sub -p "$MQTT_PORT" -u alice -P "$ALICE" -i alice/login -t push/login -C 1 -W 2 2>&1); rc=$?
check 'grep -q denied <<<"$out"' "users cannot subscribe to who logs in (push/login)"

echo "# --- many users: one statement for 250 (a '*' notification), then a broadcast"
sub m1 user250 "$(token user250)" 1 10 "$(UT user250 message)"
sleep 0.5
publish "INSERT INTO push.message (recipient, title) SELECT 'user' || g, 'one for ' || g FROM generate_series(1, 250) g" >/dev/null
sub_wait m1
eq "$(jq -r .title "$WORK/m1.out")" "one for 250" "the last of 250 users gets their message"
publish "SELECT push.broadcast('to all 250')" >/dev/null
for u in user1 user101 user250; do
    for _ in $(seq 1 50); do
        sub "m-$u" "$u" "$(token "$u")" 1 5 "$(UT "$u" unread)"
        sub_wait "m-$u"
        [ "$(jq -r .total "$WORK/m-$u.out")" = 4 ] && break
        sleep 0.2
    done
done
eq "$(jq -r .total "$WORK/m-user1.out"),$(jq -r .total "$WORK/m-user101.out"),$(jq -r .total "$WORK/m-user250.out")" "4,4,4" \
    "after the broadcast every user's retained count is updated (pages of 100 users)"

echo "# --- access: only your own topics, only with a good token, never publishing"
sub w1 bob "$BOB" 1 3 "$(UT alice message)" "$(UT alice unread)"
sleep 0.5
publish "SELECT push.send('alice', 'secret for alice')" >/dev/null
sub_wait w1 || true
eq "$(wc -c <"$WORK/w1.out")" 0 "bob subscribing to alice's topics receives nothing"
grep -q "denied" "$WORK/w1.err" && ok "and is told the subscription was denied" || not_ok "bob denied" "$(cat "$WORK/w1.err")"
sub w2 alice "$ALICE" 1 3 "push/#"
sub_wait w2 || true
grep -q "denied" "$WORK/w2.err" && ok "a wildcard over everyone (push/#) is denied" || not_ok "push/# denied" "$(cat "$WORK/w2.err")"
sub w3 alice "$ALICE" 1 3 '$SYS/#'
sub_wait w3 || true
grep -q "denied" "$WORK/w3.err" && ok "\$SYS/# is denied" || not_ok "\$SYS denied" "$(cat "$WORK/w3.err")"

refused() { # refused USER PASSWORD DESC
    local out rc=0
    out=$(mosquitto_sub -p "$MQTT_PORT" -u "$1" ${2:+-P "$2"} -i "$1/t" -t "$(UT "$1" message)" -C 1 -W 3 2>&1) || rc=$?
    if [ "$rc" -ne 0 ] && grep -q "not authorised\|Connection Refused" <<<"$out"; then ok "$3"; else not_ok "$3" "rc=$rc: $out"; fi
}
refused alice "" "no password: refused"
refused alice "not-a-token" "a malformed token: refused"
last=${ALICE: -1}
refused alice "${ALICE%?}$([ "$last" = 0 ] && echo 1 || echo 0)" "a tampered token (its last digit changed): refused"
refused alice "$(token alice 3600 "$OTHER_SECRET")" "a token signed with another secret: refused"
refused bob "$ALICE" "alice's token with the user name bob: refused"
# an expired token, minted as README shows
p="v1.$(printf alice | base64 | tr '+/' '-_' | tr -d '=').$(( $(date +%s) - 10 ))"
expired="$p.$(printf '%s' "$p" | openssl dgst -sha256 -hmac "$SECRET" -r | cut -d' ' -f1)"
refused alice "$expired" "an expired token: refused"
refused pgpush-bridge "$ALICE" "the bridge's user name with a token: refused"
out=$(mosquitto_sub -p "$MQTT_PORT" -u bob -P "$BOB" -i carol/phone -t "$(UT bob message)" -C 1 -W 2 2>&1); rc=$?
check '[ $rc -ne 0 ] && grep -q "not authorised" <<<"$out"' "a client id of carol's (carol/...) is refused to bob: he cannot take over her session"
out=$(mosquitto_sub -p "$MQTT_PORT" -u bob -P "$BOB" -i pgpush-bridge/push-mqtt -t "$(UT bob message)" -C 1 -W 2 2>&1); rc=$?
check '[ $rc -ne 0 ] && grep -q "not authorised" <<<"$out"' "nor the bridge's"
# every client id must be the user's own (USER/NAME): alice's persistent session, with what the
# broker queued for it while she was away, cannot be taken over by bob under any id
SUB_OPTS="-c -i alice/tablet" sub t0 alice "$ALICE" 1 2 "$(UT alice message)"
sub_wait t0 || true
publish "SELECT push.send('alice', 'queued one'), push.send('alice', 'queued two')" >/dev/null
sleep 1
for id in alice/tablet tablet alice-tablet alice; do
    out=$(mosquitto_sub -p "$MQTT_PORT" -u bob -P "$BOB" -c -i "$id" -t "$(UT bob message)" -C 1 -W 2 2>&1); rc=$?
    check '[ $rc -ne 0 ] && grep -q "not authorised" <<<"$out"' "bob connecting with the client id '$id' is refused"
done
for id in tablet alice-tablet alice alice/; do
    out=$(mosquitto_sub -p "$MQTT_PORT" -u alice -P "$ALICE" -i "$id" -t "$(UT alice message)" -C 1 -W 2 2>&1); rc=$?
    check '[ $rc -ne 0 ] && grep -q "not authorised" <<<"$out"' "alice too: '$id' is not of the form alice/NAME"
done
SUB_OPTS="-c -i alice/tablet" sub t1 alice "$ALICE" 2 5 "$(UT alice message)"
sub_wait t1 || true
eq "$(titles t1)" "queued one,queued two" "alice's session kept what was queued for her while bob tried"
refused pgpush-bridge "wrong-password" "the bridge's user name with a wrong password: refused"
out=$(mosquitto_sub -p "$MQTT_PORT" -t '#' -C 1 -W 2 2>&1); rc=$?
check '[ $rc -ne 0 ]' "anonymous: refused"

sub p1 alice "$ALICE" 1 4 "$(UT alice message)" "$BT"
sleep 0.5
mosquitto_pub -p "$MQTT_PORT" -u alice -P "$ALICE" -i alice/pub -q 1 -t "$(UT alice message)" -m '{"title":"forged"}' 2>/dev/null
mosquitto_pub -p "$MQTT_PORT" -u alice -P "$ALICE" -i alice/pub -q 1 -t "$BT" -m '{"title":"forged"}' 2>/dev/null
mosquitto_pub -p "$MQTT_PORT" -u alice -P "$ALICE" -i alice/pub -q 1 -r -t "$(UT bob unread)" -m '{"total":99}' 2>/dev/null
sub_wait p1 || true
eq "$(wc -c <"$WORK/p1.out")" 0 "a user's publishes reach no one (own topic, broadcast topic)"
sub p2 bob "$BOB" 1 3 "$(UT bob unread)"
sub_wait p2
eq "$(jq -r .total "$WORK/p2.out")" 4 "nor replace another user's retained count"

echo "# --- message text arrives byte for byte"
hostile=$'</script><script>alert(1)</script> "quotes" \\back\\slash\n<!-- é 日本 \u2028 \U0001F600 \t'
sub h1 alice "$ALICE" 1 10 "$(UT alice message)"
sleep 0.5
psql -qAtX -v ON_ERROR_STOP=1 -v t="$hostile" <<<"SELECT push.send('alice', :'t', :'t')" >/dev/null
sub_wait h1
eq "$(jq -j .title "$WORK/h1.out" | od -An -tx1)" "$(printf '%s' "$hostile" | od -An -tx1)" "a hostile title arrives byte for byte"
eq "$(jq -j .body "$WORK/h1.out" | od -An -tx1)" "$(printf '%s' "$hostile" | od -An -tx1)" "and the body"

echo "# --- memory-first delivery: what a wake-up carried goes out without a read"
# (README "Memory-first delivery"): once the bridge has read and published a user's stream and
# counts, a message that its sealed wake-up proves the next one is published from the wake-up
DORA=$(token dora) EVE=$(token eve)
bridge_sql() { sql "SELECT query FROM pg_stat_activity WHERE application_name = 'push-mqtt'"; }
sub f0 dora "$DORA" 1 10 "$(UT dora message)"
sub e0 eve "$EVE" 1 10 "$(UT eve message)"
sleep 0.5
f0id=$(publish "SELECT push.send('dora', 'f0 read', '', 'comment')")
publish "SELECT push.send('eve', 'e0 read')" >/dev/null
sub_wait f0; sub_wait e0
eq "$(titles f0),$(titles e0)" "f0 read,e0 read" "dora's and eve's first messages: read, then kept"
sub f2 dora "$DORA" 3 10 "$(UT dora message)"
sub e2 eve "$EVE" 1 3 "$(UT eve message)"
sleep 0.8
scrape f1 # (after their logins, which read their counts)
hostile=$'</script> "q" \\b\\ é \u2028 \U0001F600'
for i in 1 2 3; do
    psql -qAtX -v ON_ERROR_STOP=1 -v t="f$i $hostile" -v k="$([ $i = 2 ] && echo notice || echo comment)" \
        <<<"SELECT push.send('dora', :'t', :'t', :'k', '{\"n\": [1, {\"x\": null}]}', 'https://example.com/?a=1&b=2')" >/dev/null
done
sub_wait f2
eq "$(jq -r '.title | .[:2]' "$WORK/f2.out" | paste -sd, -)" "f1,f2,f3" "three messages to dora, in order"
sleep 0.3
scrape f3
eq "$(awk "BEGIN { print $(metric f3 pgpush_carried_total) - $(metric f1 pgpush_carried_total) }"),$(awk "BEGIN { print $(metric f3 pgpush_reads_total) - $(metric f1 pgpush_reads_total) }")" "3,0" \
    "all three published from their wake-ups (pgpush_carried_total +3), no read (pgpush_reads_total +0)"
check 'grep -q "push.mqtt_ack(s, i) FROM unnest" <<<"$(bridge_sql)"' "the bridge's last statement is the one recording the acknowledgements ($(bridge_sql | head -c 60))"
eq "$(sql "SELECT acked = (SELECT max(id) FROM push.message WHERE recipient = 'dora') FROM push.mqtt_cursor WHERE stream = 'dora'")" t \
    "dora's stored cursor moved to her last message, after the broker acknowledged"
sub_wait e2 || true
eq "$(wc -c <"$WORK/e2.out")" 0 "eve, also kept, receives none of dora's"
# the counts the bridge kept, one higher per message: as a read counts them
unread_sql() { sql "SELECT json_build_object('total', coalesce(sum(n), 0), 'by_kind', coalesce(json_object_agg(kind, n ORDER BY kind COLLATE \"C\") FILTER (WHERE kind IS NOT NULL), '{}'))::text FROM push.unread('$1')" | jq -c .; }
sub fu dora "$DORA" 1 5 "$(UT dora unread)"
sub_wait fu
eq "$(jq -c . "$WORK/fu.out")" "$(unread_sql dora)" "dora's retained counts are what a read counts ($(jq -c . "$WORK/fu.out"))"
sub eu eve "$EVE" 1 5 "$(UT eve unread)"
sub_wait eu
eq "$(jq -c . "$WORK/eu.out")" "$(unread_sql eve)" "eve's are untouched ($(jq -c . "$WORK/eu.out"))"
# the same three read from the tables: the bridge told only to read dora, from before them
sub f4 dora "$DORA" 3 10 "$(UT dora message)"
sleep 0.5
sql "UPDATE push.mqtt_cursor SET acked = $f0id WHERE stream = 'dora'; NOTIFY pgpush, 'u:dora'"
sub_wait f4
eq "$(od -An -tx1 "$WORK/f4.out" | md5sum)" "$(od -An -tx1 "$WORK/f2.out" | md5sum)" "what was published from the wake-ups is byte for byte what a read publishes"
# a read-state change between two messages: the kept counts are dropped, and read again
sql "SELECT push.mark_kind_read('dora', 'comment')" >/dev/null
publish "SELECT push.send('dora', 'f5 after marking read', '', 'comment')" >/dev/null
for _ in $(seq 1 50); do
    sub f5 dora "$DORA" 1 5 "$(UT dora unread)"
    sub_wait f5
    [ "$(jq -r '.by_kind.comment' "$WORK/f5.out")" = 1 ] && break
    sleep 0.1
done
eq "$(jq -c . "$WORK/f5.out")" "$(unread_sql dora)" "marking read, then a message: the counts are right ($(jq -c . "$WORK/f5.out"))"
# the same in one transaction: both notifications come in one batch; every count published after
# it is the true one (were the kept counts not dropped, the message would first go out with them)
sub f7 dora "$DORA" 3 3 "$(UT dora unread)"
sleep 0.5
sql "BEGIN; SELECT push.mark_kind_read('dora', 'comment'); SELECT push.send('dora', 'f7', '', 'comment'); COMMIT" >/dev/null
sub_wait f7 || true
want=$(unread_sql dora)
eq "$(tail -n +2 "$WORK/f7.out" | jq -c . | sort -u | paste -sd' ' -)" "$want" \
    "a read-state change and a message in one commit: every count published after it is the true one ($want)"
# the other way round: the message, then the read-state change: the message goes out once
sub f7b dora "$DORA" 2 3 "$(UT dora message)"
sleep 0.5
sql "BEGIN; SELECT push.send('dora', 'f7b', '', 'notice'); SELECT push.mark_kind_read('dora', 'comment'); COMMIT" >/dev/null
sub_wait f7b || true
eq "$(titles f7b)" "f7b" "a message and a read-state change in one commit: the message goes out once"
# a message committed while the bridge reads dora (it waits to record its acknowledgement): the
# counts it then reads include it, so they are not kept; the message is read, once
sub f8 dora "$DORA" 3 10 "$(UT dora message)"
sleep 0.5
sql "UPDATE push.mqtt_cursor SET acked = (SELECT max(id) FROM push.message WHERE recipient = 'dora' AND title NOT IN ('f7', 'f7b')) WHERE stream = 'dora'"
psql -qAtX -c "BEGIN; LOCK TABLE push.mqtt_cursor IN EXCLUSIVE MODE; SELECT pg_sleep(1.5); COMMIT" >/dev/null &
locker=$!
sleep 0.3
sql "NOTIFY pgpush, 'u:dora'"
sleep 0.4
publish "SELECT push.send('dora', 'f8 during the read', '', 'comment')" >/dev/null
wait "$locker"
sub_wait f8 || true
eq "$(titles f8)" "f7,f7b,f8 during the read" "a message committed during a read of its stream: published once, after the one read"
sleep 0.5
sub f9 dora "$DORA" 1 5 "$(UT dora unread)"
sub_wait f9
eq "$(jq -c . "$WORK/f9.out")" "$(unread_sql dora)" "... and the counts are right ($(jq -c . "$WORK/f9.out"))"
# a broadcast ('*': everything read again, everyone's counts) keeps the users it read: dora's next
# message goes out from its wake-up, with her counts after the broadcast plus one (dora's and eve's
# subscriptions come first: a login reads, and keeps, that user)
sub fb dora "$DORA" 1 10 "$(UT dora message)"
sub fbb eve "$EVE" 1 10 "$BT"
sleep 0.5
publish "SELECT push.broadcast('fb broadcast')" >/dev/null
sub_wait fbb
eq "$(titles fbb)" "fb broadcast" "(the broadcast went out)"
sleep 0.5
scrape fb1
publish "SELECT push.send('dora', 'fb after the broadcast')" >/dev/null
sub_wait fb
eq "$(titles fb)" "fb after the broadcast" "after a broadcast, dora's next message"
sleep 0.3
scrape fb2
eq "$(awk "BEGIN { print $(metric fb2 pgpush_carried_total) - $(metric fb1 pgpush_carried_total) }"),$(awk "BEGIN { print $(metric fb2 pgpush_reads_total) - $(metric fb1 pgpush_reads_total) }")" "1,0" \
    "... goes out from its wake-up, no read"
sub fbu dora "$DORA" 1 5 "$(UT dora unread)"
sub_wait fbu
eq "$(jq -c . "$WORK/fbu.out")" "$(unread_sql dora)" "... with the counts a read gives ($(jq -c . "$WORK/fbu.out"))"
# a message to dora committed while such a pass runs (held up recording eve's acknowledgement)
# after it looked for pending streams: the counts it then reads include it, so dora is not kept
sub f10 dora "$DORA" 1 10 "$(UT dora message)"
sleep 0.5
sql "UPDATE push.mqtt_cursor SET acked = acked - 1 WHERE stream = 'eve'" # (eve's last, pending again)
psql -qAtX -c "BEGIN; LOCK TABLE push.mqtt_cursor IN EXCLUSIVE MODE; SELECT pg_sleep(1.5); COMMIT" >/dev/null &
locker=$!
sleep 0.3
sql "NOTIFY pgpush, '*'"
sleep 0.4
publish "SELECT push.send('dora', 'f10 during the pass', '', 'comment')" >/dev/null
wait "$locker"
sub_wait f10
eq "$(titles f10)" "f10 during the pass" "a message committed during a pass over everyone: published"
sleep 0.5
sub f10u dora "$DORA" 1 5 "$(UT dora unread)"
sub_wait f10u
eq "$(jq -c . "$WORK/f10u.out")" "$(unread_sql dora)" "... and counted once ($(jq -c . "$WORK/f10u.out"))"
# the LISTEN connection cut between two messages: the one sent meanwhile is read, none twice
sub f6 dora "$DORA" 3 15 "$(UT dora message)"
sleep 0.5
publish "SELECT push.send('dora', 'g1')" >/dev/null
sleep 0.5
sql "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'push-mqtt'" >/dev/null
publish "SELECT push.send('dora', 'g2 while cut')" >/dev/null
for _ in $(seq 1 100); do [ -n "$(bridge_sql)" ] && break; sleep 0.1; done
sleep 0.5
publish "SELECT push.send('dora', 'g3')" >/dev/null
sub_wait f6
eq "$(titles f6)" "g1,g2 while cut,g3" "the LISTEN connection cut between two messages: each once, in order"

echo "# --- a persistent subscriber across a bridge SIGKILL, a broker restart, a PostgreSQL restart"
# the device "carol/phone" subscribes once, then comes and goes (clean session off, QoS 1): the
# broker keeps what it missed. It reads as a client should: a message whose id is not above the
# last id of its topic is a repetition (QoS 1 allows them) and is dropped.
CAROL=$(token carol)
PHONE=()
# replay: everything the phone received, in order, through the duplicate rule: .out (titles kept,
# per topic), .dup (repetitions dropped), .bad (repetitions that are not an exact copy of an earlier
# delivery: an id reused for other content would be a lost message)
replay() {
    cat "${PHONE[@]/#/$WORK/}" 2>/dev/null | jq -s '
      reduce .[] as $m ({last: {p: 0, b: 0}, seen: {}, out: {p: [], b: []}, dup: 0, bad: 0};
        ($m.broadcast | if . then "b" else "p" end) as $k | ($m.id | tonumber) as $id
        | if $id > .last[$k] then .last[$k] = $id | .out[$k] += [$m.title] | .seen[$m.id] = ($m | tostring)
          else .dup += 1 | (if .seen[$m.id] == ($m | tostring) then . else .bad += 1 end) end)'
}
delivered() { replay | jq -r '(.out.p | join(",")) + " | " + (.out.b | join(","))'; }
# collect NAME EXPECTED: the phone connects and reads until what it has (after the duplicate rule)
# is EXPECTED, for up to 15 s, then goes away again
collect() {
    PHONE+=("$1.out")
    SUB_OPTS="-c -i carol/phone" sub "$1" carol "$CAROL" 1000 15 "$(UT carol message)" "$BT"
    for _ in $(seq 1 150); do [ "$(delivered)" = "$2" ] && break; sleep 0.1; done
    sleep 0.3
    kill "${SUB_PID[$1]}" 2>/dev/null
    sub_wait "$1" || true
}
collect c0 " | "
publish "SELECT push.send('carol', 'k1')" >/dev/null
sleep 1
kill -9 "$BRIDGE_PID"
publish "SELECT push.send('carol', 'k2 while the bridge is dead')" >/dev/null
publish "SELECT push.broadcast('k3 broadcast while dead')" >/dev/null
start_bridge || not_ok "the bridge restarts" "$(tail -n 3 "$WORK/push-mqtt.log")"
expect="k1,k2 while the bridge is dead | k3 broadcast while dead"
collect c1 "$expect"
eq "$(delivered)" "$expect" "across a bridge SIGKILL: everything, each topic in order"

kill "$MOSQ_PID"
for _ in $(seq 1 50); do kill -0 "$MOSQ_PID" 2>/dev/null || break; sleep 0.1; done
publish "SELECT push.send('carol', 'm1 while the broker is down')" >/dev/null
publish "SELECT push.broadcast('m2 broadcast while the broker is down')" >/dev/null
sleep 1
eq "$(sget h1 /health),$(jq -r .broker "$WORK/h1.status")" "503,down" "status: the broker stopped: health 503, broker down"
start_broker
publish "SELECT push.send('carol', 'm3 after')" >/dev/null
expect="k1,k2 while the bridge is dead,m1 while the broker is down,m3 after | k3 broadcast while dead,m2 broadcast while the broker is down"
collect c2 "$expect"
eq "$(delivered)" "$expect" "across a broker restart: everything, each topic in order"
grep -q "lost the MQTT broker" "$WORK/push-mqtt.log" && ok "the bridge noticed the broker going" || not_ok "bridge noticed the broker"

cluster=$(dirname "$PGDATA")
publish "SELECT push.send('carol', 'n1 at the stop')" >/dev/null
scrape m2
"$top_srcdir/tests/lib/pgcluster" stop "$cluster" >/dev/null
eq "$(sget h2 /health),$(jq -r .status "$WORK/h2.status")" "503,unavailable" "status: PostgreSQL stopped: health 503 unavailable"
check 'jq -r .reason "$WORK/h2.status" | grep -q connect' "... saying why: $(jq -r .reason "$WORK/h2.status")"
sleep 2
"$top_srcdir/tests/lib/pgcluster" start "$cluster" >/dev/null || hard_error "PostgreSQL did not come back"
publish "SELECT push.send('carol', 'n2 after')" >/dev/null
expect="k1,k2 while the bridge is dead,m1 while the broker is down,m3 after,n1 at the stop,n2 after | k3 broadcast while dead,m2 broadcast while the broker is down"
collect c3 "$expect"
eq "$(delivered)" "$expect" "across a PostgreSQL restart: everything, each topic in order"
scrape m3
grew m2 m3 pgpush_listen_reconnects_total
eq "$(sget h3 /health)" 200 "status: PostgreSQL back: health 200"
sql "UPDATE push.meta SET schema_version = schema_version + 100"
eq "$(sget h4 /health),$(jq -r .status "$WORK/h4.status")" "503,unavailable" "status: the schema of another version: health 503"
check 'jq -r .reason "$WORK/h4.status" | grep -qi version' "... saying why: $(jq -r .reason "$WORK/h4.status")"
sql "UPDATE push.meta SET schema_version = schema_version - 100"
eq "$(sget h5 /health)" 200 "... and 200 once it is back"

echo "# --- repetitions carry an id already seen"
r=$(replay)
eq "$(jq .bad <<<"$r")" 0 "every repetition ($(jq .dup <<<"$r") in these runs) is an exact copy of an earlier delivery, cursor included"
eq "$(sql "SELECT acked = (SELECT max(id) FROM push.message WHERE recipient = 'carol')
           FROM push.mqtt_cursor WHERE stream = 'carol'")" t "carol's stored cursor is at her last message"

echo "# --- the WebSocket listener"
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 3 -H 'Connection: Upgrade' -H 'Upgrade: websocket' \
    -H 'Sec-WebSocket-Version: 13' -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' \
    -H 'Sec-WebSocket-Protocol: mqtt' "http://127.0.0.1:$WS_PORT/mqtt")
eq "$code" 101 "mosquitto's WebSocket listener upgrades an MQTT WebSocket"

if command -v systemd-analyze >/dev/null; then
    mkdir -p "$WORK/units"
    sed "s|/usr/bin/push-mqtt|$DAEMONS/push-mqtt|" "$top_srcdir/conf/systemd/pgpush-mqtt.service" >"$WORK/units/pgpush-mqtt.service"
    out=$(cd "$WORK/units" && systemd-analyze verify --man=no ./pgpush-mqtt.service 2>&1)
    eq "$out" "" "systemd-analyze verify accepts conf/systemd/pgpush-mqtt.service"
fi

kill "$BRIDGE_PID" 2>/dev/null
for _ in $(seq 1 50); do kill -0 "$BRIDGE_PID" 2>/dev/null || break; sleep 0.1; done
grep -q "stopping" "$WORK/push-mqtt.log" && ok "SIGTERM stops the bridge cleanly" || not_ok "bridge stops on SIGTERM"
if grep -E "first body|Hello MQTT|secret for alice|$SECRET|$BRIDGE_PASSWORD" "$WORK/push-mqtt.log" "$WORK/mosquitto.log" >/dev/null; then
    not_ok "no message text or secret in the logs"
else
    ok "no message text or secret in the logs"
fi
harness_done
