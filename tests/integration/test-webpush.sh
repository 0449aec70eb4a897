#!/usr/bin/env bash
# test-webpush.sh: Web Push end to end: browsers' subscriptions registered through push-poll
# (behind lighttpd), push-webpush sending to two local push services (tests/webpush/push-service.mjs,
# HTTPS and HTTP/2, which decrypt every push with the npm package http_ece and verify its VAPID JWT
# with jose: implementations independent of ours). Every message to every subscription, decrypted,
# exactly once and in order; another user's subscriptions untouched; 410, 413, 429 with
# Retry-After, 500, a slow service beside a fast one; push-webpush killed mid-batch, PostgreSQL and
# a push service restarted; hostile registrations refused.
TEST_NAME=webpush
# shellcheck source=../lib/harness.sh
. "$top_srcdir/tests/lib/harness.sh"

here=$top_srcdir/tests/webpush
for tool in node npm openssl; do
    command -v $tool >/dev/null || hard_error "$tool is not installed (tests/lib/install-deps installs it)"
done
[ -x "$(program push-webpush)" ] || hard_error "$(program push-webpush) is not built"
if ! cmp -s "$here/package-lock.json" "$here/node_modules/.package-lock.json.installed" 2>/dev/null; then
    (cd "$here" && npm ci --no-audit --no-fund --loglevel=error >"$WORK/npm.log" 2>&1) \
        || hard_error "npm ci in tests/webpush failed: $(tail -n 5 "$WORK/npm.log")"
    cp "$here/package-lock.json" "$here/node_modules/.package-lock.json.installed"
fi

# --- two push services on loopback, HTTPS with HTTP/2, a certificate made here
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=127.0.0.1 \
    -addext subjectAltName=IP:127.0.0.1 -keyout "$WORK/svc.key" -out "$WORK/svc.crt" >/dev/null 2>&1 \
    || hard_error "openssl could not make a certificate"
declare -A SVC_PORT SVC_PID
svc_start() { # svc_start NAME [PORT]: a push service; its port in SVC_PORT[NAME]
    local name=$1 port=${2:-0} line
    mkdir -p "$WORK/svc-$name"
    rm -f "$WORK/svc-$name.out"
    (cd "$here" && exec node push-service.mjs --port "$port" --state "$WORK/svc-$name" \
        --cert "$WORK/svc.crt" --key "$WORK/svc.key" >"$WORK/svc-$name.out" 2>>"$WORK/svc-$name.log") &
    SVC_PID[$name]=$!
    HARNESS_PIDS+=($!)
    for _ in $(seq 1 100); do
        line=$(head -n 1 "$WORK/svc-$name.out" 2>/dev/null)
        [ -n "$line" ] && break
        sleep 0.1
    done
    [ "${line%% *}" = listening ] || hard_error "push service $name did not start: $(tail -n 5 "$WORK/svc-$name.log")"
    SVC_PORT[$name]=${line#listening }
}
ctl() { # ctl NAME METHOD PATH [JSON]: the push service's control API
    curl -sS --cacert "$WORK/svc.crt" -X "$2" -H 'Content-Type: application/json' ${4:+--data "$4"} \
        "https://127.0.0.1:${SVC_PORT[$1]}/control/$3"
}
svc_start A
svc_start B

# --- push-poll behind lighttpd takes registrations for endpoints on 127.0.0.1 (over https)
HARNESS_FCGI_ENV='"PUSH_WEBPUSH_HOSTS" => "127.0.0.1", "PUSH_WEBPUSH_MAX_PER_USER" => "3"'
harness_start
ALICE=$(token alice)
BOB=$(token bob)
P=/cgi-bin/push-poll
wp() { # wp TOKEN JSON: POST it to push-poll
    http POST $P -H "Authorization: Bearer $1" -H 'Content-Type: application/json' --data "$2"
}

echo "# --- the VAPID key"
KEYFILE=$WORK/vapid.pem
PUB=$("$(program push-webpush)" --generate-vapid-keys "$KEYFILE" 2>"$WORK/gen.err")
check '[[ "$PUB" =~ ^B[A-Za-z0-9_-]{86}$ ]]' "--generate-vapid-keys prints the public key (65 bytes, uncompressed, base64url)"
eq "$(stat -c %a "$KEYFILE")" 600 "... and writes the private key readable by its owner only"
out=$("$(program push-webpush)" --generate-vapid-keys "$KEYFILE" 2>&1); rc=$?
check '[ $rc -ne 0 ] && grep -q "exists already" <<<"$out"' "... never over an existing key"
wp "$ALICE" '{"webpush":"key"}'
check '[ "$STATUS" = 503 ] && [ "$(jq -r .error <<<"$BODY")" = webpush_unavailable ]' "before push-webpush ran: 503 webpush_unavailable"

WP_ENV=(PUSH_WEBPUSH_VAPID_KEY="$KEYFILE" PUSH_WEBPUSH_SUBJECT=mailto:ops@example.org
        PUSH_WEBPUSH_HOSTS=127.0.0.1 PUSH_WEBPUSH_CA_FILE="$WORK/svc.crt" PUSH_WEBPUSH_TIMEOUT=3
        PUSH_WEBPUSH_BACKOFF_MAX=3 PUSH_WEBPUSH_STATS_INTERVAL=1 PUSH_WEBPUSH_URGENCY=alert=high,default=low
        PUSH_LOG_LEVEL=debug)
WP_PID=""
wp_start() {
    env "${WP_ENV[@]}" "$@" "$(program push-webpush)" >>"$WORK/push-webpush.out" 2>>"$WORK/push-webpush.log" &
    WP_PID=$!
    HARNESS_PIDS+=($!)
}
out=$(env "${WP_ENV[@]}" PUSH_WEBPUSH_SUBJECT= "$(program push-webpush)" 2>&1); rc=$?
check '[ $rc -ne 0 ] && grep -q "PUSH_WEBPUSH_SUBJECT is not set" <<<"$out"' "push-webpush without a contact refuses to start, naming the setting"
chmod 644 "$KEYFILE"
out=$(env "${WP_ENV[@]}" "$(program push-webpush)" 2>&1); rc=$?
check '[ $rc -ne 0 ] && grep -q "readable by others" <<<"$out"' "... with a key file others may read, too"
chmod 600 "$KEYFILE"
out=$(env "${WP_ENV[@]}" "$(program push-webpush)" --check 2>&1); rc=$?
check '[ $rc -eq 0 ]' "push-webpush --check passes" "$out"
wp_start
for _ in $(seq 1 50); do [ -n "$(sql "SELECT public_key FROM push.webpush_vapid")" ] && break; sleep 0.1; done
wp "$ALICE" '{"webpush":"key"}'
check '[ "$STATUS" = 200 ] && [ "$(jq -r .key <<<"$BODY")" = "$PUB" ]' "push-poll gives browsers the key push-webpush signs with"
ctl A POST vapid "{\"key\":\"$PUB\"}" >/dev/null
ctl B POST vapid "{\"key\":\"$PUB\"}" >/dev/null

echo "# --- registrations"
subscribe() { # subscribe SERVICE NAME TOKEN: a subscription of the service, registered as TOKEN's user
    local s
    s=$(ctl "$1" POST subscribe "{\"name\":\"$2\"}")
    wp "$3" "{\"webpush\":\"subscribe\",\"subscription\":$s}"
    [ "$STATUS" = 200 ] || echo "# subscribe $2: $STATUS $BODY"
}
subscribe A a1 "$ALICE"
eq "$STATUS" 200 "alice registers a subscription (service A)"
subscribe B a2 "$ALICE"
subscribe A b1 "$BOB"
eq "$(sql "SELECT string_agg(recipient || ':' || split_part(endpoint, '/', 5), ',' ORDER BY id) FROM push.webpush_subscription")" \
    "alice:a1,alice:a2,bob:b1" "each is its user's, with its User-Agent: $(sql "SELECT count(*) FROM push.webpush_subscription WHERE user_agent LIKE 'curl/%'") of 3"
A1=$(ctl A POST subscribe '{"name":"a1"}')
bad_sub() { # bad_sub JSON CODE DESC
    local code=$2
    wp "$ALICE" "{\"webpush\":\"subscribe\",\"subscription\":$1}"
    check '[ "$STATUS" = 400 ] && [ "$(jq -r .error <<<"$BODY")" = "$code" ]' "$3"
}
bad_sub "$(jq -c '.endpoint = "https://10.0.0.1/push/x"' <<<"$A1")" bad_endpoint "an endpoint on another host than PUSH_WEBPUSH_HOSTS: 400 bad_endpoint (push-webpush never POSTs there)"
bad_sub "$(jq -c ".endpoint = \"http://127.0.0.1:${SVC_PORT[A]}/push/a1\"" <<<"$A1")" bad_endpoint "an http:// endpoint: 400 bad_endpoint"
bad_sub "$(jq -c ".endpoint = \"https://user@127.0.0.1:${SVC_PORT[A]}/push/a1\"" <<<"$A1")" bad_endpoint "credentials in the endpoint: 400"
bad_sub "$(jq -c '.keys.p256dh = "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiwA"' <<<"$A1")" bad_subscription "a key off the curve: 400 bad_subscription"
bad_sub "$(jq -c '.keys.auth = "short"' <<<"$A1")" bad_subscription "an auth secret of the wrong size: 400"
bad_sub '"https://127.0.0.1/x"' bad_subscription "not a subscription object: 400"
wp "$ALICE" '{"webpush":"subscribe"}'
eq "$STATUS" 400 "no subscription at all: 400"
wp "$ALICE" '{"webpush":"nonsense"}'
check '[ "$STATUS" = 400 ] && [ "$(jq -r .error <<<"$BODY")" = bad_request ]' "an unknown webpush action: 400 bad_request"
long=$(jq -c ".endpoint = \"https://127.0.0.1:${SVC_PORT[A]}/push/$(head -c 4000 /dev/zero | tr '\0' x)\"" <<<"$A1")
wp "$ALICE" "{\"webpush\":\"subscribe\",\"subscription\":$long}"
check '[ "$STATUS" = 413 ] || [ "$STATUS" = 400 ]' "an endpoint of 4 KB: refused ($STATUS)"
http POST $P -H 'Content-Type: application/json' --data "{\"webpush\":\"subscribe\",\"subscription\":$A1}"
eq "$STATUS" 401 "no identity: 401"
http POST $P -H "Authorization: Bearer $ALICE" -H 'Content-Type: text/plain' --data "{\"webpush\":\"subscribe\",\"subscription\":$A1}"
check '[ "$STATUS" -ge 400 ] && [ "$STATUS" -lt 500 ]' "a cross-site form's Content-Type: refused ($STATUS), as for marking read"
wp "$BOB" "{\"webpush\":\"unsubscribe\",\"endpoint\":$(jq .endpoint <<<"$A1")}"
check '[ "$STATUS" = 200 ] && [ "$(jq -r .removed <<<"$BODY")" = false ]' "bob cannot remove alice's subscription"
eq "$(sql "SELECT count(*) FROM push.webpush_subscription WHERE recipient = 'alice'")" 2 "... alice still has both"
eq "$(grep -c -E 'BCVxsr7N|p256dh|"auth"' "$WORK"/*.log 2>/dev/null | awk -F: '{s += $2} END {print s + 0}')" 0 "no key of a subscription in any log"

# received NAME: the decrypted payloads the service of NAME accepted for NAME, one per line
received() {
    local svc=A
    case $1 in a2 | c*) svc=B ;; esac
    ctl $svc GET "received?name=$1" | jq -c '.[] | .payload | fromjson'
}
titles() { received "$1" | jq -r '.message.title' | paste -sd, -; }
wait_titles() { # wait_titles NAME EXPECTED [SECONDS]
    for _ in $(seq 1 $((${3:-10} * 10))); do [ "$(titles "$1")" = "$2" ] && return 0; sleep 0.1; done
    return 1
}

echo "# --- delivery: every message, decrypted, exactly once, in order; bob's untouched"
publish "INSERT INTO push.message (recipient, title, body, kind, data, link) VALUES
    ('alice', 'Héllo \"there\" <b>', E'line 1\nline 2 ✓ 🎉', 'alert', '{\"n\": 1}', 'https://example.org/p/1')"
wait_titles a1 'Héllo "there" <b>'
msg=$(received a1 | head -n 1)
want=$(sql "SELECT json_build_object('id', id::text, 'kind', kind, 'title', title, 'body', body, 'data', data, 'link', link)
            FROM push.message WHERE recipient = 'alice'")
eq "$(jq -cS '.message | {id, kind, title, body, data, link}' <<<"$msg")" "$(jq -cS . <<<"$want")" \
    "the message arrives decrypted (http_ece), byte for byte as in PostgreSQL"
eq "$(jq -c '[.v, .type, .unread.total, .unread.by_kind.alert]' <<<"$msg")" '[1,"message",1,1]' "... with the counts"
eq "$(ctl A GET 'received?name=a1' | jq -r '.[0] | [.urgency, .ttl, .topic, .http_version, .vapid.sub] | join(" ")')" \
    "high 86400 pgpush 2.0 mailto:ops@example.org" "Urgency from the kind (alert=high), TTL, Topic, over HTTP/2, VAPID verified (jose) with our subject"
wait_titles a2 'Héllo "there" <b>'
eq "$(titles a2)" 'Héllo "there" <b>' "alice's other browser (service B) gets it too"
eq "$(titles b1)" "" "bob's subscription gets nothing of alice's"
for i in $(seq 1 30); do echo "INSERT INTO push.message (recipient, title) VALUES ('alice', 'm$i');"; done | psql -qX >/dev/null
publish "INSERT INTO push.message (recipient, title) VALUES (NULL, 'to all'), ('bob', 'for bob')"
expected="Héllo \"there\" <b>,$(seq -f 'm%g' 1 30 | paste -sd, -),to all"
wait_titles a1 "$expected" 15
eq "$(titles a1)" "$expected" "30 messages and a broadcast: each once, in order (a1)"
wait_titles a2 "$expected" 15
eq "$(titles a2)" "$expected" "... and on alice's other browser (a2)"
wait_titles b1 "to all,for bob"
eq "$(titles b1)" "to all,for bob" "bob: the broadcast and his own, nothing of alice's"
eq "$(ctl A GET 'received?name=a1' | jq -r '[.[].urgency] | unique | join(",")')" "high,low" "the default urgency (default=low) for the other kinds"
sessions=$(ctl A GET received | jq -r '[.[].session] | unique | length')
check '[ "$sessions" -le 3 ]' "connections are reused: $(ctl A GET received | jq length) pushes to service A on $sessions connection(s)"
eq "$(sql "SELECT count(*) FROM push.webpush_subscription w WHERE sent_p < (SELECT last_id FROM push.stream s WHERE s.recipient = w.recipient)
                                                          OR sent_b < (SELECT last_id FROM push.stream s WHERE s.recipient = '')")" 0 \
    "every subscription's cursor is at its streams' heads"

echo "# --- edits and retractions move the cursor, push nothing"
id=$(publish "SELECT push.send('alice', 'to edit')")
wait_titles a1 "$expected,to edit"
publish "SELECT push.edit($id, title => 'edited'); SELECT push.retract($id)" >/dev/null
publish "INSERT INTO push.message (recipient, title) VALUES ('alice', 'after edit')"
expected="$expected,to edit,after edit"
wait_titles a1 "$expected"
eq "$(titles a1)" "$expected" "after an edit and a retraction, the next message only"

echo "# --- a gone subscription (410) is removed; the others go on"
ctl B POST mode '{"name":"a2","status":410}' >/dev/null
publish "INSERT INTO push.message (recipient, title) VALUES ('alice', 'gone?')"
expected="$expected,gone?"
wait_titles a1 "$expected"
for _ in $(seq 1 50); do [ "$(sql "SELECT count(*) FROM push.webpush_subscription WHERE endpoint LIKE '%/a2'")" = 0 ] && break; sleep 0.1; done
eq "$(sql "SELECT count(*) FROM push.webpush_subscription WHERE endpoint LIKE '%/a2'")" 0 "410: the subscription is removed"
check 'grep -q "subscription [0-9]* of alice is gone (410" "$WORK/push-webpush.log"' "... and the log says so"
ctl B POST mode '{"name":"a2","clear":true}' >/dev/null

echo "# --- 429 with Retry-After: the service waits; the other service does not"
subscribe B c1 "$BOB"
ctl A POST mode '{"name":"*","status":429,"retry_after":"2","count":1}' >/dev/null
t0=$(date +%s%N)
publish "INSERT INTO push.message (recipient, title) VALUES (NULL, 'after 429')"
wait_titles c1 "after 429" 5
t_c1=$(( ($(date +%s%N) - t0) / 1000000 ))
expected="$expected,after 429"
wait_titles b1 "to all,for bob,after 429" 10
wait_titles a1 "$expected" 10
t_a=$(( ($(date +%s%N) - t0) / 1000000 ))
check '[ "$t_c1" -lt 1500 ]' "service B's subscription gets the broadcast at once (${t_c1} ms)"
check '[ "$t_a" -ge 1900 ] && [ "$t_a" -lt 6000 ]' "the one of service A's answered 429 gets it after the Retry-After of 2 s (both of A's in ${t_a} ms)"
check '[ "$(titles b1)" = "to all,for bob,after 429" ] && [ "$(titles a1)" = "$expected" ]' "... each exactly once"
check 'grep -q "HTTP 429; waiting 2000 ms" "$WORK/push-webpush.log"' "the wait is logged with its reason"

echo "# --- 500 twice: retried, delivered once"
ctl A POST mode '{"name":"b1","status":500,"count":2}' >/dev/null
publish "INSERT INTO push.message (recipient, title) VALUES ('bob', 'after 500')"
wait_titles b1 "to all,for bob,after 429,after 500" 15
eq "$(titles b1)" "to all,for bob,after 429,after 500" "after two 500s the push arrives, once"
eq "$(sql "SELECT failures FROM push.webpush_subscription WHERE endpoint LIKE '%/b1'")" 0 "... and the failures are cleared on success"

echo "# --- 413: the same message, smaller"
ctl A POST mode '{"name":"a1","status":413,"count":1}' >/dev/null
big=$(head -c 3500 /dev/zero | tr '\0' y)
publish "INSERT INTO push.message (recipient, title, body) VALUES ('alice', 'big', '$big')"
expected="$expected,big"
wait_titles a1 "$expected"
last=$(received a1 | tail -n 1)
check '[ "$(jq -r .message.truncated <<<"$last")" = true ] && [ "$(jq -r ".message.body | length" <<<"$last")" -lt 2000 ] && [ "$(jq -r ".message.body | length" <<<"$last")" -gt 500 ]' \
    "after a 413 the body is cut to half the size ($(jq -r '.message.body | length' <<<"$last") bytes), truncated: true"
eq "$(jq -r '.message.body' <<<"$last" | tr -d y)" "" "... a prefix of the message's body"

echo "# --- a slow service holds up only its own subscriptions"
ctl A POST mode '{"name":"*","delay_ms":2500,"count":1}' >/dev/null
t0=$(date +%s%N)
publish "INSERT INTO push.message (recipient, title) VALUES (NULL, 'slow A')"
wait_titles c1 "after 429,after 500,slow A" 5
t_c1=$(( ($(date +%s%N) - t0) / 1000000 ))
check '[ "$t_c1" -lt 1500 ]' "service B's subscription gets it in ${t_c1} ms while A takes 2.5 s"
expected="$expected,slow A"
wait_titles a1 "$expected" 10
eq "$(titles a1)" "$expected" "... and A's subscriptions get it once, later"

echo "# --- push-webpush stopped (SIGTERM) and started again, then killed mid-batch (SIGKILL): nothing lost, at most what was in flight again"
kill "$WP_PID"
wait "$WP_PID" 2>/dev/null
check '[ ! -s "$WORK/push-webpush.out" ]' "after the refusals above, nothing on its standard output (the answers' bodies are not copied there): $(head -c 200 "$WORK/push-webpush.out")"
wp_start
ctl A POST mode '{"name":"*","delay_ms":150}' >/dev/null
for i in $(seq 1 20); do echo "INSERT INTO push.message (recipient, title) VALUES ('alice', 'k$i');"; done | psql -qX >/dev/null
sleep 1.2
kill -9 "$WP_PID"
wait "$WP_PID" 2>/dev/null
got=$(received a1 | jq -r .message.title | grep -c '^k' || true)
check '[ "$got" -gt 0 ] && [ "$got" -lt 20 ]' "killed after $got of 20"
ctl A POST mode '{"name":"*","clear":true}' >/dev/null
wp_start
kexp=$(seq -f 'k%g' 1 20 | paste -sd, -)
for _ in $(seq 1 100); do [ "$(received a1 | jq -r .message.title | grep '^k' | sort -u | wc -l)" = 20 ] && break; sleep 0.1; done
ks=$(received a1 | jq -r .message.title | grep '^k')
eq "$(sort -u <<<"$ks" | wc -l)" 20 "after the restart every one of the 20 arrived"
dups=$(( $(wc -l <<<"$ks") - 20 ))
check '[ "$dups" -le 1 ]' "... again: $dups (at most the one in flight at the kill; the service worker shows a repeat in place: its tag is the message id)"
eq "$(uniq <<<"$ks" | paste -sd, -)" "$kexp" "... in order"

echo "# --- PostgreSQL restarted while pushes are in flight"
ctl A POST mode '{"name":"*","delay_ms":800,"count":1}' >/dev/null
publish "INSERT INTO push.message (recipient, title) VALUES ('bob', 'at the stop')"
sleep 0.3
cluster=$(dirname "$PGDATA")
"$top_srcdir/tests/lib/pgcluster" stop "$cluster" >/dev/null
sleep 1.5
"$top_srcdir/tests/lib/pgcluster" start "$cluster" >/dev/null || hard_error "PostgreSQL did not come back"
publish "INSERT INTO push.message (recipient, title) VALUES ('bob', 'after restart')"
bexp="to all,for bob,after 429,after 500,slow A,at the stop,after restart"
wait_titles b1 "$bexp" 20
eq "$(titles b1)" "$bexp" "the push in flight at the stop and one after the restart, each once"
for _ in $(seq 1 50); do
    [ "$(sql "SELECT sent_p FROM push.webpush_subscription WHERE endpoint LIKE '%/b1'")" = "$(sql "SELECT last_id FROM push.stream WHERE recipient = 'bob'")" ] && break
    sleep 0.1
done
eq "$(sql "SELECT sent_p FROM push.webpush_subscription WHERE endpoint LIKE '%/b1'")" "$(sql "SELECT last_id FROM push.stream WHERE recipient = 'bob'")" \
    "... the cursor recorded after PostgreSQL came back"

echo "# --- a push service restarted (kill -9)"
kill -9 "${SVC_PID[B]}"
wait "${SVC_PID[B]}" 2>/dev/null
publish "INSERT INTO push.message (recipient, title) VALUES ('bob', 'while B is down')"
sleep 1
svc_start B "${SVC_PORT[B]}"
cexp="after 429,after 500,slow A,at the stop,after restart,while B is down"
wait_titles c1 "$cexp" 20
eq "$(titles c1)" "$cexp" "a push sent while its service was down arrives once it is back, once"

echo "# --- taken over: alice's browser registered by bob gets nothing of alice's from then on"
wp "$BOB" "{\"webpush\":\"subscribe\",\"subscription\":$A1}"
eq "$STATUS" 200 "bob registers the endpoint alice had (a shared computer)"
publish "INSERT INTO push.message (recipient, title) VALUES ('alice', 'alice private'), ('bob', 'bob on a1')"
for _ in $(seq 1 50); do received a1 | grep -q 'bob on a1' && break; sleep 0.1; done
check 'received a1 | grep -q "bob on a1" && ! received a1 | grep -q "alice private"' "a1 now gets bob's messages, not alice's"

echo "# --- the bound per user (PUSH_WEBPUSH_MAX_PER_USER=3)"
for n in d1 d2 d3 d4; do subscribe A $n "$ALICE"; done
eq "$(sql "SELECT string_agg(split_part(endpoint, '/', 5), ',' ORDER BY id) FROM push.webpush_subscription WHERE recipient = 'alice'")" "d2,d3,d4" \
    "a fourth subscription replaces the one longest without a delivery"
wp "$ALICE" "{\"webpush\":\"unsubscribe\",\"endpoint\":$(ctl A POST subscribe '{"name":"d4"}' | jq .endpoint)}"
check '[ "$STATUS" = 200 ] && [ "$(jq -r .removed <<<"$BODY")" = true ]' "alice removes one of hers"

echo "# --- a broadcast to many subscriptions goes at the bounded rate (PUSH_WEBPUSH_RATE=20)"
kill "$WP_PID"
wait "$WP_PID" 2>/dev/null
for i in $(seq 1 30); do
    s=$(ctl B POST subscribe "{\"name\":\"r$i\"}")
    sql "SELECT push.webpush_subscribe('r$i', $(jq -r .endpoint <<<"$s" | sed "s/'/''/g; s/.*/'&'/"), '$(jq -r .keys.p256dh <<<"$s")', '$(jq -r .keys.auth <<<"$s")', NULL, 10)" >/dev/null
done
wp_start PUSH_WEBPUSH_RATE=20
sleep 0.5
publish "INSERT INTO push.message (recipient, title) VALUES (NULL, 'rated')"
for _ in $(seq 1 100); do
    [ "$(ctl B GET received | jq '[.[] | select(.payload | fromjson | .message.title == "rated") | .name | select(startswith("r"))] | length')" = 30 ] && break
    sleep 0.1
done
ats=$(ctl B GET received | jq '[.[] | select(.payload | fromjson | .message.title == "rated") | select(.name | startswith("r")) | .at]')
eq "$(jq length <<<"$ats")" 30 "the broadcast reaches each of 30 more subscriptions, once"
spread=$(jq 'max - min' <<<"$ats")
check '[ "$spread" -ge 1100 ]' "... spread over ${spread} ms: at most 20 a second (a burst of 4, then one every 50 ms: at least 1.3 s)"

echo "# --- a subscription dropped with a push in flight does not keep its place (PUSH_WEBPUSH_ACTIVE=1)"
kill "$WP_PID"
wait "$WP_PID" 2>/dev/null
ERIN=$(token erin)
GUS=$(token gus)
subscribe A e1 "$ERIN"
subscribe A g1 "$GUS"
wp_start PUSH_WEBPUSH_ACTIVE=1
sleep 0.5
ctl A POST mode '{"name":"e1","delay_ms":1500,"count":1}' >/dev/null
# sent and edited in one transaction: the read finds the message (as it is now) and, after it, the
# stream's head (the edit's place): an entry that sends nothing, after the push in flight
publish "SELECT push.edit(push.send('erin', 'erin 1'), body => 'edited at once')" >/dev/null
sleep 0.5
wp "$ERIN" "{\"webpush\":\"unsubscribe\",\"endpoint\":$(ctl A POST subscribe '{"name":"e1"}' | jq .endpoint)}"
sleep 1.5
publish "INSERT INTO push.message (recipient, title) VALUES ('gus', 'gus after')"
wait_titles g1 "gus after" 8
eq "$(titles g1)" "gus after" "another user's push goes out after it (the one place is freed)"

echo "# --- failing subscriptions hold no place (PUSH_WEBPUSH_ACTIVE=2): two that answer 403, one that works"
kill "$WP_PID"
wait "$WP_PID" 2>/dev/null
HAL=$(token hal)
subscribe A f1 "$HAL"
subscribe A f2 "$HAL"
check '[ "$(ctl A POST mode "{\"name\":\"f1\",\"status\":403}" | jq -r .modes.f1.status)" = 403 ] && [ "$(ctl A POST mode "{\"name\":\"f2\",\"status\":403}" | jq -r .modes.f2.status)" = 403 ]' \
    "(the push service answers hal's two with 403 from now on)"
wp_start PUSH_WEBPUSH_ACTIVE=2
sleep 0.5
publish "INSERT INTO push.message (recipient, title) VALUES ('hal', 'hal 1')"
sleep 1
publish "INSERT INTO push.message (recipient, title) VALUES ('gus', 'gus while hal fails')"
wait_titles g1 "gus after,gus while hal fails" 8
eq "$(titles g1)" "gus after,gus while hal fails" "gus's push goes out while both of hal's wait after their 403s"
eq "$(sql "SELECT count(*) FROM push.webpush_subscription WHERE recipient = 'hal' AND failures = 1 AND retry_at > now() + interval '20 s'")" 2 \
    "... each of hal's counted a failure and waits (retry_at, a minute or so)"
ctl A POST mode '{"name":"f1","clear":true}' >/dev/null
ctl A POST mode '{"name":"f2","clear":true}' >/dev/null

echo "# --- no push goes before the last one's acceptance is recorded (acks refused meanwhile)"
kill "$WP_PID"
wait "$WP_PID" 2>/dev/null
IVY=$(token ivy)
subscribe A i1 "$IVY"
wp_start PUSH_WEBPUSH_RATE=2
sleep 0.5
for i in 1 2 3 4 5 6; do echo "INSERT INTO push.message (recipient, title) VALUES ('ivy', 'ivy $i');"; done | psql -qX >/dev/null
wait_titles i1 "ivy 1" 5
sql "REVOKE EXECUTE ON FUNCTION push.webpush_ack(bigint, text, text, bigint, bigint) FROM push_reader"
n_then=$(received i1 | wc -l)
sleep 3
n_later=$(received i1 | wc -l)
check '[ "$n_later" -le $((n_then + 1)) ]' "while acceptances cannot be recorded, at most the push in flight goes ($n_then, then $n_later in 3 s at 2 a second)"
sql "GRANT EXECUTE ON FUNCTION push.webpush_ack(bigint, text, text, bigint, bigint) TO push_reader"
wait_titles i1 "ivy 1,ivy 2,ivy 3,ivy 4,ivy 5,ivy 6" 15
eq "$(titles i1)" "ivy 1,ivy 2,ivy 3,ivy 4,ivy 5,ivy 6" "once they can, the rest go, each once, in order"

echo "# --- the service refused nothing it should not have"
eq "$(ctl A GET rejected | jq -r '[.[] | select(.status != 403 and .status != 410 and .status != 413 and .status != 429 and .status != 500)
                                  | select(.reason | test("went away") | not)] | length')" 0 \
    "service A refused no push for a reason of its own (JWT, encryption, headers): $(ctl A GET rejected | jq -c '[.[] | .reason] | unique' | head -c 300)"
eq "$(ctl B GET rejected | jq -r '[.[] | select(.status != 410)] | length')" 0 "... nor service B"
kill "$WP_PID"
for _ in $(seq 1 50); do kill -0 "$WP_PID" 2>/dev/null || break; sleep 0.1; done
check '! kill -0 "$WP_PID" 2>/dev/null && grep -q "stopping" "$WORK/push-webpush.log"' "SIGTERM stops it"
check 'grep -q "sent [0-9]*, failed" "$WORK/push-webpush.log"' "a log line of what was sent, failed and queued"
check '[ ! -s "$WORK/push-webpush.out" ]' "nothing on its standard output (the push services' answers are not copied there): $(head -c 200 "$WORK/push-webpush.out")"

harness_done
