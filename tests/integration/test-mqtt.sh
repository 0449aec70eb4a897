#!/usr/bin/env bash
# test-mqtt.sh: push-mqtt and the Mosquitto auth plugin against a real Mosquitto and PostgreSQL:
# delivery, tokens, the per-user topic rule, hostile text, retained counts, restarts of the
# bridge, the broker and PostgreSQL, and the WebSocket listener
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib/harness.sh"

for tool in mosquitto mosquitto_sub mosquitto_pub; do
    command -v "$tool" >/dev/null || hard_error "$tool is not installed (tests/run installs it)"
done
PLUGIN=$top_builddir/mosquitto/pgpush_auth.so
[ -f "$PLUGIN" ] || hard_error "$PLUGIN is not built"
[ -x "$BIN/push-mqtt" ] || hard_error "$BIN/push-mqtt is not built"

harness_database

BRIDGE_PASSWORD=bridge-password-0123456789
printf '%s\n' "$SECRET" >"$WORK/token-secret"
printf '%s\n' "$BRIDGE_PASSWORD" >"$WORK/bridge-password"
chmod 600 "$WORK/token-secret" "$WORK/bridge-password"
mkdir -p "$WORK/mosquitto"
MOSQ_PID=""

# the broker: conf/mosquitto.conf's lines, with this test's paths and ports
start_broker() {
    [ -n "${MQTT_PORT:-}" ] || { MQTT_PORT=$(free_port); WS_PORT=$(free_port); }
    sed -e "s|^listener 1883 .*|listener $MQTT_PORT 127.0.0.1|" \
        -e "s|^listener 8083 .*|listener $WS_PORT 127.0.0.1|" \
        -e "s|^persistence_location .*|persistence_location $WORK/mosquitto/|" \
        -e "s|^plugin /.*|plugin $PLUGIN|" \
        -e "s|^plugin_opt_token_secret_file .*|plugin_opt_token_secret_file $WORK/token-secret|" \
        -e "s|^plugin_opt_bridge_password_file .*|plugin_opt_bridge_password_file $WORK/bridge-password|" \
        -e "s|^log_dest .*|log_dest stderr|" \
        "$top_srcdir/conf/mosquitto.conf" >"$WORK/mosquitto.conf"
    [ "$(id -u)" = 0 ] && echo "user root" >>"$WORK/mosquitto.conf"
    mosquitto -c "$WORK/mosquitto.conf" 2>>"$WORK/mosquitto.log" &
    MOSQ_PID=$!
    HARNESS_PIDS+=($!)
    for _ in $(seq 1 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$MQTT_PORT") 2>/dev/null && return 0
        kill -0 "$MOSQ_PID" 2>/dev/null || break
        sleep 0.1
    done
    hard_error "mosquitto did not start: $(tail -n 5 "$WORK/mosquitto.log")"
}

BRIDGE_PID=""
start_bridge() {
    env PUSH_MQTT_PORT="$MQTT_PORT" PUSH_MQTT_PASSWORD_FILE="$WORK/bridge-password" \
        PUSH_LOG_LEVEL=debug "$BIN/push-mqtt" 2>>"$WORK/push-mqtt.log" &
    BRIDGE_PID=$!
    HARNESS_PIDS+=($!)
}

# sub NAME USER TOKEN COUNT SECONDS TOPIC... : mosquitto_sub in the background, QoS 1, one
# payload per line into $WORK/NAME.out; SUB_OPTS adds options (-c -i ID: a persistent session)
declare -A SUB_PID
sub() {
    local name=$1 user=$2 tok=$3 count=$4 secs=$5 args=()
    shift 5
    for t in "$@"; do args+=(-t "$t"); done
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
# per_topic NAME: the personal titles, then " | " and the broadcast titles: each topic keeps
# its order, the two topics are not ordered with each other
per_topic() {
    echo "$(jq -r 'select(.broadcast == false) | .title' <"$WORK/$1.out" | paste -sd, -) | $(jq -r 'select(.broadcast) | .title' <"$WORK/$1.out" | paste -sd, -)"
}

ALICE=$(token alice)
BOB=$(token bob)

echo "# --- the programs"
out=$("$BIN/push-mqtt" --help); rc=$?
check '[ $rc -eq 0 ] && grep -q "push/user/USER/message\|PREFIX/user/USER/message" <<<"$out" && grep -q PUSH_MQTT_HOST <<<"$out"' "push-mqtt --help names the topics and its settings"
out=$("$BIN/push-mqtt" --check 2>&1); rc=$?
check '[ $rc -eq 0 ]' "push-mqtt --check accepts the database"
out=$(PUSH_MQTT_TOPIC_PREFIX='push/#' "$BIN/push-mqtt" --check 2>&1); rc=$?
check '[ $rc -ne 0 ] && grep -q PUSH_MQTT_TOPIC_PREFIX <<<"$out"' "a bad PUSH_MQTT_TOPIC_PREFIX stops it at start, named"

start_broker
grep -q "pgpush_auth: tokens for users" "$WORK/mosquitto.log" && ok "mosquitto loads the plugin" || not_ok "mosquitto loads the plugin" "$(tail -n 5 "$WORK/mosquitto.log")"
start_bridge
for _ in $(seq 1 100); do grep -q "connected to the MQTT broker" "$WORK/push-mqtt.log" && break; sleep 0.1; done
grep -q "connected to the MQTT broker" "$WORK/push-mqtt.log" && ok "the bridge logs in with its password" || not_ok "bridge connects" "$(tail -n 5 "$WORK/push-mqtt.log")"

echo "# --- publish by SQL, receive with mosquitto_sub"
sub a1 alice "$ALICE" 1 10 "$(UT alice message)"
sleep 0.5
id=$(sql "SELECT push.send('alice', 'Hello MQTT', 'first body')")
sub_wait a1; rc=$?
eq "$rc" 0 "alice receives a message within 10 s"
eq "$(jq -r .title "$WORK/a1.out")|$(jq -r .body "$WORK/a1.out")|$(jq -r .id "$WORK/a1.out")" "Hello MQTT|first body|$id" "the message object: title, body, id"
cur=$(jq -r .cursor "$WORK/a1.out")
check '[[ "$cur" =~ ^$(printf %x "$id")-0-[0-9a-f]{8}$ ]]' "it carries alice's cursor just after it, as push-sse would ($cur)"
eq "$(jq -r '.broadcast, .read' "$WORK/a1.out" | paste -sd, -)" "false,false" "broadcast false, read false"

sub u1 alice "$ALICE" 1 5 "$(UT alice unread)"
sub_wait u1
eq "$(jq -c . "$WORK/u1.out")" '{"total":1,"by_kind":{"notice":1}}' "the unread counts are retained: a new subscriber gets them at once"

echo "# --- broadcasts on the shared topic; everyone's counts follow"
sub b1 alice "$ALICE" 1 10 "$BT"
sub b2 bob "$BOB" 1 10 "$BT"
sleep 0.5
bid=$(sql "SELECT push.broadcast('To everyone', 'all')")
sub_wait b1; sub_wait b2
eq "$(jq -r '.title, .id, .broadcast, .cursor' "$WORK/b1.out" | paste -sd, -)" "To everyone,$bid,true,null" "alice gets the broadcast (no cursor: ids order the shared topic)"
eq "$(titles b2)" "To everyone" "bob gets it too"
sql "SELECT push.send('bob', 'for bob')" >/dev/null
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

echo "# --- access: only your own topics, only with a good token, never publishing"
sub w1 bob "$BOB" 1 3 "$(UT alice message)" "$(UT alice unread)"
sleep 0.5
sql "SELECT push.send('alice', 'secret for alice')" >/dev/null
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
    out=$(mosquitto_sub -p "$MQTT_PORT" -u "$1" ${2:+-P "$2"} -t "$(UT "$1" message)" -C 1 -W 3 2>&1) || rc=$?
    if [ "$rc" -ne 0 ] && grep -q "not authorised\|Connection Refused" <<<"$out"; then ok "$3"; else not_ok "$3" "rc=$rc: $out"; fi
}
refused alice "" "no password: refused"
refused alice "not-a-token" "a malformed token: refused"
refused alice "${ALICE%?}0" "a tampered token: refused"
refused alice "$(token alice 3600 "$OTHER_SECRET")" "a token signed with another secret: refused"
refused bob "$ALICE" "alice's token with the user name bob: refused"
# an expired token, minted as README shows
p="v1.$(printf alice | base64 | tr '+/' '-_' | tr -d '=').$(( $(date +%s) - 10 ))"
expired="$p.$(printf '%s' "$p" | openssl dgst -sha256 -hmac "$SECRET" -r | cut -d' ' -f1)"
refused alice "$expired" "an expired token: refused"
refused pgpush-bridge "$ALICE" "the bridge's user name with a token: refused"
refused pgpush-bridge "wrong-password" "the bridge's user name with a wrong password: refused"
out=$(mosquitto_sub -p "$MQTT_PORT" -t '#' -C 1 -W 2 2>&1); rc=$?
check '[ $rc -ne 0 ]' "anonymous: refused"

sub p1 alice "$ALICE" 1 4 "$(UT alice message)" "$BT"
sleep 0.5
mosquitto_pub -p "$MQTT_PORT" -u alice -P "$ALICE" -q 1 -t "$(UT alice message)" -m '{"title":"forged"}' 2>/dev/null
mosquitto_pub -p "$MQTT_PORT" -u alice -P "$ALICE" -q 1 -t "$BT" -m '{"title":"forged"}' 2>/dev/null
mosquitto_pub -p "$MQTT_PORT" -u alice -P "$ALICE" -q 1 -r -t "$(UT bob unread)" -m '{"total":99}' 2>/dev/null
sub_wait p1 || true
eq "$(wc -c <"$WORK/p1.out")" 0 "a user's publishes reach no one (own topic, broadcast topic)"
sub p2 bob "$BOB" 1 3 "$(UT bob unread)"
sub_wait p2
eq "$(jq -r .total "$WORK/p2.out")" 2 "nor replace another user's retained count"

echo "# --- message text arrives byte for byte"
hostile=$'</script><script>alert(1)</script> "quotes" \\back\\slash\n<!-- é 日本 \u2028 \U0001F600 \t'
sub h1 alice "$ALICE" 1 10 "$(UT alice message)"
sleep 0.5
psql -qAtX -v ON_ERROR_STOP=1 -v t="$hostile" <<<"SELECT push.send('alice', :'t', :'t')" >/dev/null
sub_wait h1
eq "$(jq -j .title "$WORK/h1.out" | od -An -tx1)" "$(printf '%s' "$hostile" | od -An -tx1)" "a hostile title arrives byte for byte"
eq "$(jq -j .body "$WORK/h1.out" | od -An -tx1)" "$(printf '%s' "$hostile" | od -An -tx1)" "and the body"

echo "# --- a persistent subscriber across a bridge SIGKILL, a broker restart, a PostgreSQL restart"
# session "carol-phone": subscribes once, then comes and goes; QoS 1 keeps what it missed
SUB_OPTS="-c -i carol-phone" sub c0 carol "$(token carol)" 1 1 "$(UT carol message)" "$BT"
sub_wait c0 || true
CAROL=$(token carol)
collect() { # collect NAME COUNT: reconnects the session and reads COUNT messages (up to 15 s)
    SUB_OPTS="-c -i carol-phone" sub "$1" carol "$CAROL" "$2" 15 "$(UT carol message)" "$BT"
    sub_wait "$1" || true
}
sql "SELECT push.send('carol', 'k1')" >/dev/null
sleep 1
kill -9 "$BRIDGE_PID"
sql "SELECT push.send('carol', 'k2 while the bridge is dead')" >/dev/null
sql "SELECT push.broadcast('k3 broadcast while dead')" >/dev/null
start_bridge
collect c1 3
eq "$(per_topic c1)" "k1,k2 while the bridge is dead | k3 broadcast while dead" "across a bridge SIGKILL: everything, in order"

kill "$MOSQ_PID"
for _ in $(seq 1 50); do kill -0 "$MOSQ_PID" 2>/dev/null || break; sleep 0.1; done
sql "SELECT push.send('carol', 'm1 while the broker is down')" >/dev/null
sql "SELECT push.broadcast('m2 broadcast while the broker is down')" >/dev/null
sleep 1
start_broker
sql "SELECT push.send('carol', 'm3 after')" >/dev/null
collect c2 3
eq "$(per_topic c2)" "m1 while the broker is down,m3 after | m2 broadcast while the broker is down" "across a broker restart: everything, in order"
grep -q "lost the MQTT broker" "$WORK/push-mqtt.log" && ok "the bridge noticed the broker going" || not_ok "bridge noticed the broker"

cluster=$(dirname "$PGDATA")
sql "SELECT push.send('carol', 'n1 at the stop')" >/dev/null
"$top_srcdir/tests/lib/pgcluster" stop "$cluster" >/dev/null
sleep 2
"$top_srcdir/tests/lib/pgcluster" start "$cluster" >/dev/null || hard_error "PostgreSQL did not come back"
sql "SELECT push.send('carol', 'n2 after')" >/dev/null
collect c3 2
eq "$(titles c3)" "n1 at the stop,n2 after" "across a PostgreSQL restart: everything, in order"

echo "# --- duplicates carry an id already seen"
all=$(cat "$WORK"/c[123].out | jq -r 'select(.broadcast == false) | .id')
eq "$(sort -n <<<"$all" | uniq | wc -l)" "$(wc -l <<<"$all")" "no personal message repeated in these runs"
eq "$(sql "SELECT acked = (SELECT max(id) FROM push.message WHERE recipient = 'carol')
           FROM push.mqtt_cursor WHERE stream = 'carol'")" t "carol's stored cursor is at her last message"

echo "# --- the WebSocket listener"
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 3 -H 'Connection: Upgrade' -H 'Upgrade: websocket' \
    -H 'Sec-WebSocket-Version: 13' -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' \
    -H 'Sec-WebSocket-Protocol: mqtt' "http://127.0.0.1:$WS_PORT/mqtt")
eq "$code" 101 "mosquitto's WebSocket listener upgrades an MQTT WebSocket"

kill "$BRIDGE_PID" 2>/dev/null
for _ in $(seq 1 50); do kill -0 "$BRIDGE_PID" 2>/dev/null || break; sleep 0.1; done
grep -q "stopping" "$WORK/push-mqtt.log" && ok "SIGTERM stops the bridge cleanly" || not_ok "bridge stops on SIGTERM"
if grep -E "first body|Hello MQTT|secret for alice|$SECRET|$BRIDGE_PASSWORD" "$WORK/push-mqtt.log" "$WORK/mosquitto.log" >/dev/null; then
    not_ok "no message text or secret in the logs"
else
    ok "no message text or secret in the logs"
fi
harness_done
