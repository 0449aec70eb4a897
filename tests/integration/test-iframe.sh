#!/usr/bin/env bash
# test-iframe.sh: push-iframe (hidden-iframe streaming) behind lighttpd and nginx, and push-demo
# (the demo page's publisher): events, escaping of hostile text, resume, limits, bad input, SIGKILL
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib/harness.sh"
command -v node >/dev/null || hard_error "node is not installed (tests/run installs it)"
harness_start
IFRAME_ENV=(PUSH_HEARTBEAT=1 PUSH_LIFETIME=60 PUSH_MAX_STREAMS_PER_USER=3 PUSH_THREADS=16)
start_daemon push-iframe "${IFRAME_ENV[@]}"
harness_nginx
LBASE=$BASE
NBASE="http://127.0.0.1:$NPORT"
ALICE=$(token alice)
BOB=$(token bob)

# frame_open NAME URL: a background client keeping the document in $WORK/NAME.html, headers in .h
frame_open() {
    curl -sN --max-time "${FRAME_MAX:-20}" -D "$WORK/$1.h" "$2" >"$WORK/$1.html" 2>/dev/null &
    eval "FRAME_PID_$1=$!"
}
frame_close() { eval "kill \$FRAME_PID_$1 2>/dev/null; wait \$FRAME_PID_$1 2>/dev/null"; }
frame_wait() { eval "wait \$FRAME_PID_$1 2>/dev/null"; }
nonce_of() { grep -i '^content-security-policy:' "$WORK/$1.h" | grep -o "nonce-[0-9a-f]*" | cut -c7-; }
# events NAME [CALLBACK]: the calls the document makes, one JSON line each (checks the document)
events() { node "$top_srcdir/tests/lib/iframe-events.js" "$WORK/$1.html" "$(nonce_of "$1")" "${2:-pgpush}"; }
frame_titles() { events "$1" "${2:-pgpush}" | jq -r 'select(.type == "message") | .data.title' | paste -sd, -; }
frame_last_cursor() { events "$1" "${2:-pgpush}" | jq -r 'select(.type == "message") | .cursor' | tail -n 1; }
wait_html() {
    local i
    for i in $(seq 1 $(( ${3:-5} * 20 ))); do grep -q -- "$2" "$WORK/$1.html" 2>/dev/null && return 0; sleep 0.05; done
    return 1
}
head_of() { curl -s "$LBASE/ext/push-poll?token=$1&limit=1" | jq -r .cursor; }

echo "# --- token expiry: a stream opened with a ticket ends when the token does, not at the 60 s lifetime"
SHORT=$(token alice 3)
STICKET=$(curl -s -X POST -H "Authorization: Bearer $SHORT" -H 'Content-Type: application/json' \
    --data '{"ticket":true}' "$LBASE/ext/push-poll" | jq -r .ticket)
FRAME_MAX=20 frame_open exp "$LBASE/ext/push-iframe?ticket=$STICKET"
frame_wait exp
late=$(( $(date +%s%N) / 1000000 - $(cut -d. -f3 <<<"$SHORT") * 1000 ))
eq "$(events exp | tail -n 1 | jq -c '{type, data}')" '{"type":"close","data":{"reason":"token_expired"}}' \
    "the iframe stream ends with close, reason token_expired"
check '[ "$late" -ge -100 ] && [ "$late" -lt 1500 ]' "... at the token's expiry ($late ms after it), not at the 60 s lifetime"

echo "# --- push-iframe through nginx (external daemon): headers, padding, events as they commit"
frame_open a "$NBASE/ext/push-iframe?token=$ALICE&callback=onPush"
wait_html a '"unread"' && ok "the document opens with the unread counts" || not_ok "unread at open"
h=$(tr -d '\r' <"$WORK/a.h")
grep -qi '^content-type: text/html; charset=utf-8$' <<<"$h" && ok "Content-Type: text/html; charset=utf-8" || not_ok "content type" "$h"
grep -qi '^x-content-type-options: nosniff$' <<<"$h" && ok "X-Content-Type-Options: nosniff" || not_ok "nosniff" "$h"
grep -qi '^x-frame-options: sameorigin$' <<<"$h" && ok "X-Frame-Options: SAMEORIGIN" || not_ok "X-Frame-Options" "$h"
grep -qi "^content-security-policy: default-src 'none'; script-src 'nonce-[0-9a-f]\{32\}'; frame-ancestors 'self'$" <<<"$h" \
    && ok "CSP: only this response's nonce'd scripts run; same-origin framing only" || not_ok "CSP header" "$h"
grep -qi '^cache-control: no-cache' <<<"$h" && ok "Cache-Control: no-cache" || not_ok "Cache-Control" "$h"
t0=$(date +%s%N)
publish "INSERT INTO push.message (recipient, title, body) VALUES ('alice', 'live one', 'hello')"
wait_html a 'live one' 2 && ok "a committed message arrives at once through nginx (not buffered)" \
    || not_ok "a committed message arrives through nginx"
echo "# INSERT to script through nginx (psql included): $(( ($(date +%s%N) - t0) / 1000000 )) ms"
publish "INSERT INTO push.message (recipient, title) VALUES (NULL, 'to everyone'), ('bob', 'not for alice')"
wait_html a 'to everyone' 2 && ok "a broadcast arrives" || not_ok "a broadcast arrives"
sleep 1.3
frame_close a
ev=$(events a onPush) && ok "the document is only nonce'd scripts after 2 KiB of padding" || not_ok "document shape" "$(events a onPush 2>&1 | tail -n 2)"
eq "$(head -n 1 <<<"$ev" | jq -c .)" '{"type":"open","cursor":null,"data":{"retry":3000}}' "the first call is open, with the retry advice"
eq "$(sed -n 2p <<<"$ev" | jq -r .type)" "unread" "then the counts"
eq "$(frame_titles a onPush)" "live one,to everyone" "only alice's messages and the broadcast, in order, once"
eq "$(frame_last_cursor a onPush)" "$(head_of "$ALICE")" "the last message's cursor is the head cursor"
eq "$(jq -r 'select(.type == "unread") | .data.total' <<<"$ev" | tail -n 1)" "2" "the counts follow the messages"
check 'jq -e "select(.type == \"heartbeat\" and .cursor == null and .data == null)" <<<"$ev" >/dev/null' "heartbeat calls on an idle stream"

echo "# --- spawned by lighttpd: the lifetime ends the document cleanly; since= resumes"
c1=$(events a onPush | jq -r 'select(.type == "message") | .cursor' | head -n 1)
frame_open life "$LBASE/cgi-bin/push-iframe?token=$ALICE&since=$c1"
frame_wait life
ev=$(events life) && ok "a whole document (default callback pgpush) is well formed" || not_ok "lifetime document shape" "$(events life 2>&1)"
eq "$(tail -n 1 <<<"$ev" | jq -c .)" '{"type":"close","cursor":null,"data":{"reason":"lifetime"}}' "it ends with close (lifetime)"
check 'tail -c 15 "$WORK/life.html" | grep -q "</body></html>"' "and the end of the HTML document"
eq "$(frame_titles life)" "to everyone" "since= resumes right after the cursor: nothing lost, nothing repeated"
first_script=$(grep -bo '<script' "$WORK/life.html" | head -n 1 | cut -d: -f1)
check '[ "$first_script" -ge 2048 ]' "the first chunk is padded past 2 KiB (first script at byte $first_script)"

echo "# --- hostile message text reaches the callback byte for byte, and never ends the script"
ls=$'\u2028' ps=$'\u2029'
hostile="</script><script>window.__xss=1</script><!--<script> --> <img src=x onerror=alert(1)> \"q\" 'q' \\\\ \\u0041 & &amp; ${ls}${ps} é 日本 🔔 tab	end"
body=$'line1\r\nline2\n</SCRIPT ><!-- <script>'
publish "INSERT INTO push.message (recipient, title, body) VALUES ('alice', \$h\$$hostile\$h\$, \$h\$$body\$h\$)"
c2=$(frame_last_cursor life)
frame_open hx "$LBASE/cgi-bin/push-iframe?token=$ALICE&since=$c2&callback=cb"
frame_wait hx
ev=$(events hx cb) && ok "a hostile message leaves the document well formed (no < inside any script)" \
    || not_ok "hostile document shape" "$(events hx cb 2>&1)"
check '! grep -q "<img\|<!--<\|window.__xss=1</" "$WORK/hx.html"' "no markup of the message appears raw in the document"
eq "$(jq -j 'select(.type == "message") | .data.title' <<<"$ev" | md5sum | cut -d' ' -f1)" \
   "$(sql "SELECT md5(title) FROM push.message WHERE recipient = 'alice' ORDER BY id DESC LIMIT 1")" \
   "the title reaches the callback byte for byte"
eq "$(jq -j 'select(.type == "message") | .data.body' <<<"$ev" | md5sum | cut -d' ' -f1)" \
   "$(sql "SELECT md5(body) FROM push.message WHERE recipient = 'alice' ORDER BY id DESC LIMIT 1")" \
   "the body (CR LF, </SCRIPT >) reaches the callback byte for byte"
check 'grep -q "\\\\u003c/script\\\\u003e\|\\\\u003c\\\\/script\\\\u003e" "$WORK/hx.html" && grep -q "\\\\u2028" "$WORK/hx.html"' \
    "< > and U+2028 are written as \\u escapes"

echo "# --- bad input"
for cb in a.b 'alert(1)' postMessage 1x "$(printf 'x%.0s' $(seq 1 65))" ''; do
    http GET "/cgi-bin/push-iframe?token=$ALICE&callback=$cb"
    status_is 400 bad_callback "callback '${cb:0:20}' is refused"
done
http GET "/cgi-bin/push-iframe?token=$ALICE&since=garbage"
status_is 400 bad_cursor "a malformed cursor"
http GET "/cgi-bin/push-iframe?token=$ALICE&since=$(head_of "$BOB")"
status_is 403 cursor_user "another user's cursor"
http GET "/cgi-bin/push-iframe?token=$ALICE&since=ff-ff-$(head_of "$ALICE" | cut -d- -f3)"
status_is 400 cursor_future "a cursor from the future"
http GET "/cgi-bin/push-iframe"
status_is 401 unauthorized "no identity"
http GET "/cgi-bin/push-iframe?token=$(token alice 3600 "$OTHER_SECRET")"
status_is 401 bad_token "a token signed with another secret"
http POST "/cgi-bin/push-iframe?token=$ALICE" -d x
status_is 405 method_not_allowed "POST is refused"
http GET "/cgi-bin/push-iframe?token=$ALICE" -H 'Sec-Fetch-Site: cross-site'
status_is 403 origin_forbidden "a cross-site request (Sec-Fetch-Site) is refused"
http GET "/cgi-bin/push-iframe?token=$ALICE" -H 'Origin: http://evil.example'
status_is 403 origin_forbidden "a request from another origin is refused"
STATUS=$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 -H "Origin: $LBASE" -H 'Sec-Fetch-Site: same-origin' "$LBASE/cgi-bin/push-iframe?token=$ALICE")
eq "$STATUS" 200 "a same-origin request streams"

echo "# --- limits: streams per user"
for i in 1 2 3; do frame_open lim$i "$NBASE/ext/push-iframe?token=$BOB"; done
for i in 1 2 3; do wait_html lim$i '"unread"' || true; done
http GET "/ext/push-iframe?token=$BOB"
refused_stream too_many_user_streams 429 10000 "a fourth stream of one user is refused (429 too_many_user_streams), as a 200 document whose error call says retry in 10 s or more"
for i in 1 2 3; do frame_close lim$i; done

echo "# --- the daemon killed with SIGKILL mid-stream: resume from the last cursor, everything once"
frame_open k1 "$NBASE/ext/push-iframe?token=$ALICE"
wait_html k1 '"unread"'
publish "INSERT INTO push.message (recipient, title) VALUES ('alice', 'k1')"
wait_html k1 '"k1"' 3 && ok "k1 arrives before the kill" || not_ok "k1 before the kill"
kill -9 "${DAEMON_PID[push-iframe]}"
frame_wait k1
publish "INSERT INTO push.message (recipient, title) VALUES ('alice', 'k2 while down')"
start_daemon push-iframe "${IFRAME_ENV[@]}"
frame_open k2 "$NBASE/ext/push-iframe?token=$ALICE&since=$(frame_last_cursor k1)"
wait_html k2 'k2 while down' 5 && ok "the message committed while the daemon was down arrives on resume" \
    || not_ok "k2 after restart"
publish "INSERT INTO push.message (recipient, title) VALUES ('alice', 'k3')"
wait_html k2 '"k3"' 3
sleep 0.3
frame_close k2
eq "$(frame_titles k1),$(frame_titles k2)" "k1,k2 while down,k3" "across the kill: everything once, in order"

echo "# --- a query that fails while streaming: the stream retries from its cursor and recovers"
frame_open qf "$NBASE/ext/push-iframe?token=$ALICE"
wait_html qf '"unread"'
# renaming the table invalidates the prepared plans: the next wake-up's read fails in PostgreSQL.
# A bare wake-up makes it read (a message's wake-up would be written from memory, no read); once
# a read failed, the stream cannot prove what it holds, so the message after it waits for a read
sql "ALTER TABLE push.message RENAME TO message_away"
sql "SELECT pg_notify('pgpush', 'u:alice')" >/dev/null
publish "INSERT INTO push.message_away (recipient, title) VALUES ('alice', 'during the failure')"
for _ in $(seq 1 40); do grep -q "query failed" "$WORK/push-iframe.log" && break; sleep 0.1; done
check 'grep -q "query failed" "$WORK/push-iframe.log"' "the failed read is logged"
check '! grep -q "during the failure" "$WORK/qf.html"' "nothing is sent while reads fail"
sql "ALTER TABLE push.message_away RENAME TO message"
wait_html qf 'during the failure' 4 && ok "once the table is back, the retry delivers the message" \
    || not_ok "the stream recovers after a failed read"
publish "INSERT INTO push.message (recipient, title) VALUES ('alice', 'after recovery')"
wait_html qf 'after recovery' 2 && ok "and the pooled connections still work" || not_ok "connections after a failed read"
sleep 0.2
frame_close qf
eq "$(frame_titles qf)" "during the failure,after recovery" "each once, in order"

echo "# --- push-demo: publishing from the demo page, only in demo mode"
json=(-H 'Content-Type: application/json')
http POST "/cgi-bin/push-demo?token=$ALICE" "${json[@]}" -d '{"recipient":"bob","title":"x"}'
status_is 403 demo_only "without PUSH_DEMO, push-demo refuses to publish"
check '[ "$(sql "SELECT count(*) FROM push.message WHERE title = '\''x'\''")" = 0 ]' "and nothing was inserted"
frame_open d "$NBASE/ext/push-iframe?token=$BOB"
wait_html d '"unread"'
http POST "/demo/push-demo?user=alice" "${json[@]}" -d '{"recipient":"bob","title":"hi bob","body":"from the form"}'
eq "$STATUS" 200 "demo mode: publishing to one user answers 200"
id=$(jq -r .id <<<"$BODY")
eq "$(sql "SELECT recipient || '|' || title || '|' || body || '|' || kind FROM push.message WHERE id = $id")" \
   "bob|hi bob|from the form|notice" "the row is in push.message (default kind notice)"
wait_html d 'hi bob' 3 && ok "and reaches bob's open stream" || not_ok "demo publish reaches the stream"
frame_close d
http POST "/demo/push-demo?user=alice" "${json[@]}" -d '{"recipient":null,"title":"all","kind":"comment"}'
eq "$(sql "SELECT coalesce(recipient, 'NULL') || '|' || kind FROM push.message WHERE id = $(jq -r .id <<<"$BODY")")" \
   "NULL|comment" "recipient null publishes to everyone, with the kind given"
http POST "/demo/push-demo?user=alice" "${json[@]}" --data-binary "{\"recipient\":\"bob\",\"title\":$(jq -Rn --arg t "$hostile" '$t')}"
eq "$(sql "SELECT md5(title) FROM push.message WHERE id = $(jq -r .id <<<"$BODY")")" \
   "$(printf '%s' "$hostile" | md5sum | cut -d' ' -f1)" "hostile text is stored byte for byte"
for bad in '{"recipient":"bob"}' '{"title":5}' '{"title":"t","recipient":7}' '{"title":"t","kind":"Bad Kind"}' \
           "{\"title\":\"$(printf 'x%.0s' $(seq 1 1100))\"}" '{"title":"t","recipient":""}'; do
    http POST "/demo/push-demo?user=alice" "${json[@]}" -d "$bad"
    status_is 400 bad_request "refused: ${bad:0:40}"
done
http POST "/demo/push-demo?user=alice" "${json[@]}" -d '[1]'
status_is 400 bad_json "a body that is not a JSON object"
http POST "/demo/push-demo?user=alice" -H 'Content-Type: text/plain' -d '{"title":"t"}'
status_is 415 unsupported_media_type "a body that is not application/json"
http POST "/demo/push-demo?user=alice" "${json[@]}" -H 'Origin: http://evil.example' -d '{"title":"t"}'
status_is 403 origin_forbidden "a cross-site POST"
http POST "/demo/push-demo?user=alice" "${json[@]}" -H "Origin: $LBASE" -d '{"title":"same origin"}'
eq "$STATUS" 200 "a same-origin POST"
head -c 70000 /dev/zero | tr '\0' a >"$WORK/big"
http POST "/demo/push-demo?user=alice" "${json[@]}" --data-binary "@$WORK/big"
status_is 413 body_too_large "a body over 64 KiB"
http GET "/demo/push-demo?user=alice"
status_is 405 method_not_allowed "GET is refused"
http POST "/demo/push-demo" "${json[@]}" -d '{"title":"t"}'
status_is 401 unauthorized "no identity"
check '! grep -q "hi bob\|from the form" "$WORK"/*.log' "message text never reaches the logs"

harness_done
