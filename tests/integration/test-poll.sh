#!/usr/bin/env bash
# test-poll.sh: push-poll over HTTP through a real lighttpd against a real PostgreSQL
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib/harness.sh"
harness_start

ALICE=$(token alice)
BOB=$(token bob)
P=/cgi-bin/push-poll

echo "# --- every mode answers: spawned FastCGI, external FastCGI, CGI, Basic auth, demo"
publish "INSERT INTO push.message (recipient, title, body) VALUES ('alice', 'Welcome', 'Hello')"
for path in /cgi-bin/push-poll /ext/push-poll /cgi/push-poll; do
    http GET "$path?token=$ALICE"
    eq "$STATUS" 200 "$path: 200 for alice's token"
    json_eq '.user + " " + .messages[0].title + " " + (.unread.total|tostring)' "alice Welcome 1" "$path: alice sees her message"
    eq "$(header Content-Type)" "application/json; charset=utf-8" "$path: JSON content type"
done
http GET /auth/push-poll -u alice:alice-password
eq "$STATUS" 200 "Basic auth: REMOTE_USER accepted"
json_eq .user alice "Basic auth: the user is the one the server authenticated"
http GET "/auth/push-poll?user=bob" -u alice:alice-password
json_eq .user alice "Basic auth: ?user= cannot override REMOTE_USER"
http GET /auth/push-poll -u alice:wrong
eq "$STATUS" 401 "Basic auth: wrong password refused by the web server"
http GET "/demo/push-poll?user=bob"
json_eq .user bob "demo mode: ?user= trusted"
grep -q "demo mode is on" "$WORK/lighttpd-error.log" && ok "demo mode logs a warning" || not_ok "demo mode logs a warning"

echo "# --- 401: no identity, bad tokens"
http GET $P
status_is 401 unauthorized "no identity: 401"
http GET "$P?user=alice"
status_is 401 unauthorized "?user= outside demo mode is not trusted"
http GET "$P?token=garbage"
status_is 401 bad_token "garbage token: 401"
tampered=$(sed 's/^v1\.[A-Za-z0-9_-]*\./v1.Ym9i./' <<<"$ALICE")   # user swapped for "bob"
http GET "$P?token=$tampered"
status_is 401 bad_token "tampered token (user changed): 401"
http GET "$P?token=$(token alice 3600 "$OTHER_SECRET")"
status_is 401 bad_token "token signed with another secret: 401"
expired=$(PUSH_TOKEN_SECRET=$SECRET "$TOOLS/push-token" --ttl 1 alice); sleep 1.1
http GET "$P?token=$expired"
status_is 401 bad_token "expired token: 401"
json_eq .message "the token has expired" "expired token: says so"
http GET $P -H "Cookie: other=1; pgpush_token=$ALICE"
json_eq .user alice "token from the cookie"
http GET $P -H "Authorization: Bearer $ALICE"
json_eq .user alice "token from Authorization: Bearer"

echo "# --- identity bounds: tokens of 512 bytes, user names of 128"
# signed USER [LENGTH]: USER's token signed by hand (README "Identity"), its expiry padded with
# zeros to make it LENGTH bytes long: a well-signed token of any length
signed() {
    local head p len=${2:-0} exp=$(( $(date +%s) + 3600 ))
    head="v1.$(printf '%s' "$1" | base64 -w0 | tr '+/' '-_' | tr -d '=')."
    p="$head$(printf "%0$(( len ? len - ${#head} - 65 : 10 ))d" "$exp")"
    printf '%s.%s' "$p" "$(printf '%s' "$p" | openssl dgst -sha256 -hmac "$SECRET" -r | cut -d' ' -f1)"
}
# cgi_status REMOTE_USER: the status push-poll answers as a CGI program the web server gave that user
cgi_status() {
    env -i PATH="$PATH" PGHOST="$PGHOST" PGPORT="$PGPORT" PGUSER="$WEB_ROLE" PGDATABASE="$PGDATABASE" \
        GATEWAY_INTERFACE=CGI/1.1 REQUEST_METHOD=GET QUERY_STRING= REMOTE_USER="$1" "$BIN/push-poll" \
        </dev/null 2>/dev/null | head -n 1 | tr -d '\r'
}
X128=$(head -c 128 /dev/zero | tr '\0' x)
T512=$(signed alice 512) T513=$(signed alice 513)
eq "${#T512},${#T513}" "512,513" "(hand-signed tokens of 512 and 513 bytes)"
http GET $P -H "Authorization: Bearer $T512"
json_eq .user alice "a token of 512 bytes is accepted"
http GET $P -H "Authorization: Bearer $T513"
status_is 401 bad_token "a token of 513 bytes is refused, though well signed: tokens are at most 512 bytes"
http GET $P -H "Authorization: Bearer $(signed "$X128")"
json_eq .user "$X128" "a token for a user name of 128 bytes is accepted"
http GET $P -H "Authorization: Bearer $(signed "${X128}x")"
status_is 401 bad_token "a token for a user name of 129 bytes is refused, though well signed"
eq "$(cgi_status "$X128")" "Status: 200 OK" "REMOTE_USER of 128 bytes is accepted"
eq "$(cgi_status "${X128}x")" "Status: 401 Unauthorized" "REMOTE_USER of 129 bytes is refused: user names are at most 128 bytes"

echo "# --- publish by SQL, poll, counts by kind, broadcast"
publish "INSERT INTO push.message (recipient, title, body, kind, data, link) VALUES
     ('alice', 'New comment', 'on your post', 'comment', '{\"post\": 7}', '/posts/7'),
     ('alice', 'Another', 'again', 'comment', NULL, NULL),
     (NULL, 'Maintenance', 'tonight', 'system', NULL, NULL),
     ('bob', 'For bob', 'only', 'notice', NULL, NULL)"
http GET "$P?token=$ALICE"
json_eq '.unread | [.total, .by_kind.comment, .by_kind.notice, .by_kind.system] | map(tostring) | join(",")' "4,2,1,1" "alice: unread total and by kind"
json_eq '[.messages[].title] | join(",")' "Welcome,New comment,Another,Maintenance" "alice: her messages and the broadcast, oldest first"
json_eq '.messages[1] | [.kind, .data.post, .link, .read, .broadcast] | map(tostring) | join(",")' "comment,7,/posts/7,false,false" "message fields: kind, data (JSON), link, read, broadcast"
json_eq '.messages[3].broadcast' true "broadcast flagged"
json_eq '.messages[0] | (has("id") and has("cursor") and has("body") and has("created_at"))' true "message has id, cursor, body, created_at"
json_eq '.messages[0].created_at | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z$")' true "created_at is ISO 8601 UTC"
ALICE_HEAD=$(jq -r .cursor <<<"$BODY")
http GET "$P?token=$BOB"
json_eq '[.messages[].title] | join(",")' "Maintenance,For bob" "bob: the broadcast and his own, nothing of alice's"
json_eq .unread.total 2 "bob: unread 2"

echo "# --- cursors: since, limit, more"
http GET "$P?token=$ALICE&since=$ALICE_HEAD"
json_eq '.messages | length' 0 "since=head: nothing new"
eq "$(jq -r .cursor <<<"$BODY")" "$ALICE_HEAD" "since=head: cursor unchanged"
publish "INSERT INTO push.message (recipient, title) VALUES ('alice', 'after head')"
http GET "$P?token=$ALICE&since=$ALICE_HEAD"
json_eq '[.messages[].title] | join(",")' "after head" "since=head: exactly the new message"
http GET "$P?token=$ALICE&limit=2&since=0-0-$(jq -r '.cursor|split("-")[2]' <<<"$BODY")"
json_eq '([.messages[].title] | join(",")) + " " + (.more|tostring)' "Welcome,New comment true" "limit=2 from the start: two, more=true"
c=$(jq -r .cursor <<<"$BODY")
http GET "$P?token=$ALICE&limit=2&since=$c"
json_eq '[.messages[].title] | join(",")' "Another,Maintenance" "resume from the page cursor: the next two"
c=$(jq -r .cursor <<<"$BODY")
http GET "$P?token=$ALICE&limit=2&since=$c"
json_eq '([.messages[].title] | join(",")) + " " + (.more|tostring)' "after head false" "last page: more=false"
# every message's own cursor resumes right after it
http GET "$P?token=$ALICE"
c2=$(jq -r '.messages[1].cursor' <<<"$BODY")
http GET "$P?token=$ALICE&since=$c2"
json_eq '[.messages[].title] | join(",")' "Another,Maintenance,after head" "a message's cursor resumes right after it"

echo "# --- ETag and 304"
# A FastCGI push-poll answers unchanged polls from states kept by its LISTEN thread: a change
# shows once its notification has arrived, which is the notification latency (about a
# millisecond). changed_within polls with the old ETag until 200 and fails after 1 s.
changed_within() { # PATH TOKEN ETAG DESC
    local i
    for i in $(seq 1 20); do
        http GET "$1?token=$2" -H "If-None-Match: $3"
        [ "$STATUS" != 304 ] && break
        sleep 0.05
    done
    eq "$STATUS" 200 "$4"
}
for path in /cgi-bin/push-poll /ext/push-poll /cgi/push-poll; do
    http GET "$path?token=$ALICE"
    etag=$(header ETag)
    check '[ -n "$etag" ]' "$path: 200 carries an ETag"
    http GET "$path?token=$ALICE" -H "If-None-Match: $etag"
    eq "$STATUS" 304 "$path: unchanged state: 304"
    eq "$BODY" "" "$path: 304 has no body"
    check '[ "$(header ETag)" = "$etag" ]' "$path: 304 repeats the ETag"
    http GET "$path?token=$BOB" -H "If-None-Match: $etag"
    eq "$STATUS" 200 "$path: another user's ETag does not match"
    publish "INSERT INTO push.message (recipient, title) VALUES ('alice', 'changes the etag')"
    changed_within $path "$ALICE" "$etag" "$path: new message: 200 again"
    etag=$(header ETag)
    http POST $P -H "Authorization: Bearer $ALICE" -H 'Content-Type: application/json' --data '{"mark":"all"}'
    changed_within $path "$ALICE" "$etag" "$path: read-state change (marked through another process): 200 again"
    etag=$(header ETag)
    id=$(jq -r '.messages[-1].id' <<<"$BODY")
    http POST $path -H "Authorization: Bearer $ALICE" -H 'Content-Type: application/json' --data "{\"mark\":\"one\",\"id\":\"$id\"}"
    eq "$STATUS" 200 "$path: mark one"
    http GET "$path?token=$ALICE" -H "If-None-Match: $etag"
    eq "$STATUS" 200 "$path: read-state change through the same program: 200 at once"
    etag=$(header ETag)
    sql "UPDATE push.message SET title = 'edited' WHERE title = 'changes the etag'"
    changed_within $path "$ALICE" "$etag" "$path: edited message: 200 again"
    sql "DELETE FROM push.message WHERE title = 'edited'"
done

echo "# --- an unchanged poll costs no query (FastCGI: the state is kept, LISTEN keeps it true)"
# the daemon's query connections: their state_change moves with every statement they run (not
# the LISTEN connections', whose last statement is one of the hub's own: LISTEN, reading the wake-up
# keys, and SELECT 1 after 10 s without a notification)
backends() {
    sql "SELECT string_agg(pid || ':' || state_change, ',' ORDER BY pid) FROM pg_stat_activity
         WHERE application_name = 'push-poll'
           AND query NOT IN ('LISTEN pgpush', 'SELECT 1', 'SELECT enc, mac FROM push.wake_key')"
}
E=/ext/push-poll
http GET "$E?token=$ALICE&limit=5"
etag=$(header ETag)
http GET "$E?token=$ALICE&limit=5" -H "If-None-Match: $etag"
eq "$STATUS" 304 "$E: 304 (the state is now kept)"
before=$(backends)
n304=0
for i in $(seq 1 30); do
    http GET "$E?token=$ALICE&limit=5" -H "If-None-Match: $etag"
    [ "$STATUS" = 304 ] && n304=$((n304 + 1))
done
eq "$n304" 30 "$E: 30 unchanged polls: 30 × 304"
eq "$(backends)" "$before" "$E: ... and not one statement ran in PostgreSQL"
publish "INSERT INTO push.message (recipient, title) VALUES ('bob', 'for bob only')"
sleep 0.2
before=$(backends)
http GET "$E?token=$ALICE&limit=5" -H "If-None-Match: $etag"
eq "$STATUS" 304 "$E: another user's new message: alice still 304"
eq "$(backends)" "$before" "$E: ... from the kept state, no statement"
c=$(jq -r .cursor <<<"$(curl -s "http://127.0.0.1:$PORT$E?token=$ALICE&limit=5")")
http GET "$E?token=$ALICE&since=$c"
etag_since=$(header ETag)
before=$(backends)
http GET "$E?token=$ALICE&since=$c" -H "If-None-Match: $etag_since"
eq "$STATUS" 304 "$E: with since=: 304 (after one miss that keeps the state)"
publish "SELECT push.broadcast('to everyone')" >/dev/null
changed_within "$E" "$ALICE&since=$c" "$etag_since" "$E: a broadcast changes alice's answer: 200"
json_eq '.messages[-1].title' "to everyone" "$E: ... with the broadcast"

echo "# --- the same full poll again costs no query either (the answer is kept with its state)"
# full_changed_within PATH-AND-QUERY TOKEN BODY DESC: polls without If-None-Match until the body
# differs from BODY; fails after 1 s
full_changed_within() {
    local changed=0
    for _ in $(seq 1 20); do
        http GET "$1&token=$2"
        [ "$STATUS" = 200 ] && [ "$BODY" != "$3" ] && { changed=1; break; }
        sleep 0.05
    done
    eq "$changed" 1 "$4"
}
http GET "$E?token=$ALICE&limit=7"
first=$BODY first_etag=$(header ETag)
before=$(backends)
n=0
for i in $(seq 1 20); do
    http GET "$E?token=$ALICE&limit=7"
    [ "$STATUS" = 200 ] && [ "$BODY" = "$first" ] && [ "$(header ETag)" = "$first_etag" ] && n=$((n + 1))
done
eq "$n" 20 "$E: 20 identical full polls: 20 × 200, the same body and ETag"
eq "$(backends)" "$before" "$E: ... and not one statement ran in PostgreSQL"
http GET "/cgi/push-poll?token=$ALICE&limit=7"
eq "$BODY" "$first" "$E: the kept answer is byte for byte what a read answers (plain CGI, no cache)"
http GET "$E?token=$BOB&limit=7"
bob_first=$BODY
json_eq .user bob "$E: bob, the same parameters: his own answer"
http GET "/cgi/push-poll?token=$BOB&limit=7"
eq "$BODY" "$bob_first" "$E: ... which is what a read answers him"
http GET "$E?token=$ALICE&limit=7"
eq "$BODY" "$first" "$E: alice's kept answer is untouched by bob's"
publish "INSERT INTO push.message (recipient, title) VALUES ('alice', 'a new one for the kept answer')"
full_changed_within "$E?limit=7" "$ALICE" "$first" "$E: a new message: the next full poll has it (within the notification latency)"
json_eq '.messages[-1].title' "a new one for the kept answer" "$E: ... the new message"
http GET "/cgi/push-poll?token=$ALICE&limit=7"
cgi_now=$BODY
http GET "$E?token=$ALICE&limit=7"
eq "$BODY" "$cgi_now" "$E: ... and again what a read answers"
second=$BODY
http POST $P -H "Authorization: Bearer $ALICE" -H 'Content-Type: application/json' --data '{"mark":"all"}'
full_changed_within "$E?limit=7" "$ALICE" "$second" "$E: marked read (through another process): the next full poll shows it"
json_eq '.unread.total' 0 "$E: ... nothing unread"
third=$BODY
sql "UPDATE push.message SET title = 'kept answer edited' WHERE title = 'a new one for the kept answer'"
full_changed_within "$E?limit=7" "$ALICE" "$third" "$E: an edit: the next full poll shows it"
json_eq '.messages[-1].title' "kept answer edited" "$E: ... the edited title"
http GET "$E?token=$BOB&limit=7"
eq "$BODY" "$bob_first" "$E: bob's answer is the same (the edit was in alice's stream)"
# the kept answer stays while another request of alice's keeps her new state (a cursor from the
# future is refused after the state is read and kept, the answer untouched): it is not current
http GET "$E?token=$ALICE&limit=7"
fourth=$BODY
atag=$(jq -r '.cursor|split("-")[2]' <<<"$fourth")
publish "INSERT INTO push.message (recipient, title) VALUES ('alice', 'after the kept answer')"
sleep 0.3
http GET "$E?token=$ALICE&limit=7&since=ffffffff-0-$atag" -H 'If-None-Match: "x"'
status_is 400 cursor_future "$E: a cursor from the future (its state read and kept)"
http GET "$E?token=$ALICE&limit=7"
json_eq '.messages[-1].title' "after the kept answer" "$E: the answer kept at the older state is not served at the newer one"

echo "# --- marking read: one, up to a cursor, all, one kind"
sql "DELETE FROM push.message; DELETE FROM push.reader; DELETE FROM push.reader_kind"
publish "INSERT INTO push.message (recipient, title, kind) VALUES
     ('alice', 'a1', 'comment'), ('alice', 'a2', 'comment'), ('alice', 'a3', 'notice'),
     (NULL, 'b1', 'system'), ('alice', 'a4', 'notice')"
mark() { http POST $P -H "Authorization: Bearer $ALICE" -H 'Content-Type: application/json' --data "$1"; }
http GET "$P?token=$ALICE"
json_eq .unread.total 5 "five unread"
id_a2=$(jq -r '.messages[] | select(.title=="a2") | .id' <<<"$BODY")
cur_b1=$(jq -r '.messages[] | select(.title=="b1") | .cursor' <<<"$BODY")
mark "{\"mark\":\"one\",\"id\":\"$id_a2\"}"
json_eq '.unread.total' 4 "mark one: the answer has the new count"
http GET "$P?token=$ALICE"
json_eq '[.messages[] | select(.read) | .title] | join(",")' "a2" "mark one: only a2 read"
mark "{\"mark\":\"upto\",\"cursor\":\"$cur_b1\"}"
http GET "$P?token=$ALICE"
json_eq '[.messages[] | select(.read|not) | .title] | join(",")' "a4" "mark up to b1's cursor: only a4 unread"
http GET "$P?token=$BOB"
json_eq '[.messages[] | select(.read|not) | .title] | join(",")' "b1" "bob still has the broadcast unread"
publish "INSERT INTO push.message (recipient, title, kind) VALUES ('alice', 'c1', 'comment'), ('alice', 'n1', 'notice')"
mark '{"mark":"kind","kind":"comment"}'
http GET "$P?token=$ALICE"
json_eq '[.messages[] | select(.read|not) | .title] | join(",")' "a4,n1" "mark kind comment: notices stay unread"
json_eq '.unread.by_kind | to_entries | map("\(.key)=\(.value)") | join(",")' "notice=2" "by_kind after mark kind"
mark '{"mark":"all"}'
json_eq .unread.total 0 "mark all: zero"
publish "INSERT INTO push.message (recipient, title, kind) VALUES ('alice', 'later', 'comment')"
http GET "$P?token=$ALICE"
json_eq '[.unread.total, .unread.by_kind.comment] | map(tostring) | join(",")' "1,1" "a message after mark all/kind is unread"
id_bob=$(publish "SELECT push.send('bob', 'bob only')")
mark "{\"mark\":\"one\",\"id\":\"$id_bob\"}"
status_is 404 not_found "mark one of another user's message: 404"
mark "{\"mark\":\"one\",\"id\":999999999}"
status_is 404 not_found "mark one of a missing message: 404"

echo "# --- bad input: 4xx with a JSON error, never a crash, never SQL"
http GET "$P?token=$ALICE&since=nonsense"
status_is 400 bad_cursor "malformed cursor"
http GET "$P?token=$ALICE&since=1-1-00000000"
status_is 403 cursor_user "another user's cursor"
bob_cursor=$(curl -s "$BASE$P?token=$BOB" | jq -r .cursor)
http GET "$P?token=$ALICE&since=$bob_cursor"
status_is 403 cursor_user "bob's real cursor refused for alice"
tag=$(jq -r '.cursor|split("-")[2]' <<<"$(curl -s "$BASE$P?token=$ALICE")")
http GET "$P?token=$ALICE&since=ffffffff-0-$tag"
status_is 400 cursor_future "cursor from the future"
http GET "$P?token=$ALICE&since=7fffffffffffffff-7fffffffffffffff-$tag"
status_is 400 cursor_future "cursor at INT64_MAX"
http GET "$P?token=$ALICE&since=8000000000000000-0-$tag"
status_is 400 bad_cursor "cursor beyond INT64_MAX"
for l in 0 -1 abc 201 99999999999 1.5 ''; do
    http GET "$P?token=$ALICE&limit=$l"
    status_is 400 bad_limit "limit=$l refused"
done
http GET "$P?token=$ALICE&limit=200"
eq "$STATUS" 200 "limit=200 (the maximum) accepted"
# (bad %-escapes and %00 are refused or re-encoded by lighttpd itself; the unit tests cover them)
http GET "$P?token=$ALICE&pad=$(head -c 5000 /dev/zero | tr '\0' a)"
status_is 414 bad_query "query string over 4096 bytes"
http GET "$P?token=$ALICE$(for i in $(seq 1 40); do printf '&k%d=1' "$i"; done)"
status_is 400 bad_query "more than 32 parameters"
for m in PUT DELETE PATCH OPTIONS; do
    http $m "$P?token=$ALICE"
    status_is 405 method_not_allowed "$m: 405"
done
eq "$(header Allow)" "GET, POST" "405 names the allowed methods"
http POST $P -H "Authorization: Bearer $ALICE" -H 'Content-Type: application/x-www-form-urlencoded' --data 'mark=all'
status_is 415 unsupported_media_type "POST as a form (CSRF): 415"
http POST $P -H "Authorization: Bearer $ALICE" -H 'Content-Type: text/plain' --data '{"mark":"all"}'
status_is 415 unsupported_media_type "POST as text/plain (CSRF): 415"
http POST $P -H "Authorization: Bearer $ALICE" -H 'Content-Type: application/json' -H 'Origin: https://evil.example' --data '{"mark":"all"}'
status_is 403 origin_forbidden "POST from another origin: 403"
http POST $P -H "Authorization: Bearer $ALICE" -H 'Content-Type: application/json' -H 'Sec-Fetch-Site: cross-site' --data '{"mark":"all"}'
status_is 403 origin_forbidden "POST marked cross-site by the browser: 403"
http POST $P -H "Authorization: Bearer $ALICE" -H 'Content-Type: application/json' -H "Origin: http://127.0.0.1:$PORT" --data '{"mark":"all"}'
eq "$STATUS" 200 "POST from our own origin: 200"
http POST $P -H "Authorization: Bearer $ALICE" -H 'Content-Type: application/json' --data "{\"mark\":\"all\",\"pad\":\"$(head -c 5000 /dev/zero | tr '\0' a)\"}"
status_is 413 body_too_large "POST body over 4096 bytes: 413"
for body in '' 'nonsense' '{"mark":' '[1,2]' '"all"' '{"mark":"all"} trailing' '{"a":{"b":{"c":{"d":{"e":{"f":{"g":{"h":{"i":1}}}}}}}}}'; do
    http POST $P -H "Authorization: Bearer $ALICE" -H 'Content-Type: application/json' --data "$body"
    status_is 400 bad_json "malformed JSON body [${body:0:20}]"
done
for body in '{}' '{"mark":"everything"}' '{"mark":1}' '{"mark":"one"}' '{"mark":"one","id":"abc"}' \
            '{"mark":"one","id":-5}' '{"mark":"one","id":"1e3"}' '{"mark":"upto"}' \
            '{"mark":"kind"}' '{"mark":"kind","kind":"Bad Kind"}' '{"mark":"kind","kind":""}'; do
    http POST $P -H "Authorization: Bearer $ALICE" -H 'Content-Type: application/json' --data "$body"
    status_is 400 bad_request "invalid mark request $body"
done
mark '{"mark":"upto","cursor":"garbage"}'
status_is 400 bad_cursor "mark upto with a malformed cursor"
mark '{"mark":"upto","cursor":5}'
status_is 400 bad_cursor "mark upto with a cursor that is not a string (as push-ws answers it)"
mark "{\"mark\":\"upto\",\"cursor\":\"ffffff-0-$tag\"}"
status_is 400 cursor_future "mark upto with a cursor from the future"
mark "{\"mark\":\"upto\",\"cursor\":\"$bob_cursor\"}"
status_is 403 cursor_user "mark upto with another user's cursor"
mark '{"mark":"kind","kind":"neverused"}'
status_is 400 unknown_kind "mark an unknown kind"
# the table push-ws answers too (test-ws.sh) and the parser's unit test reads (lib/transport/push_command.h)
declare -A mark_status=([ok]=200 [bad_request]=400 [bad_cursor]=400 [cursor_future]=400
                        [unknown_kind]=400 [cursor_user]=403 [not_found]=404)
while IFS=$'\t' read -r code body what <&3; do
    mark "$body"
    if [ "$code" = ok ]; then
        eq "$STATUS $(jq -r .ok <<<"$BODY" 2>&1)" "200 true" "mark-cases.tsv: $what: 200 ok [$body]"
    else
        status_is "${mark_status[$code]}" "$code" "mark-cases.tsv: $what: ${mark_status[$code]} $code [$body]"
    fi
done 3< <(mark_cases "$id_a2" "$cur_b1" "$bob_cursor" "ffffff-0-$tag" "$tag")
http POST "$P" -H 'Content-Type: application/json' --data '{"mark":"all"}'
status_is 401 unauthorized "POST without identity: 401"
if grep -rqiE 'select |insert |ERROR: |push\.' "$WORK/body"; then not_ok "no SQL in error bodies"; else ok "no SQL in error bodies"; fi

echo "# --- hostile message text is carried exactly, as JSON"
hostile=$'</script><script>alert(1)</script> "q" \\ back \x01 ctl \u2028 ls \u2029 ps <!-- é 🎉'
publish "INSERT INTO push.message (recipient, title, body) VALUES ('alice', \$h\$$hostile\$h\$, \$h\$$hostile\$h\$)"
http GET "$P?token=$ALICE&limit=1"
check 'jq -e . <<<"$BODY" >/dev/null' "answer with hostile text is valid JSON"
eq "$(jq -r '.messages[-1].title' <<<"$BODY")" "$hostile" "hostile title round-trips byte for byte"
check '! grep -q "</script>" "$WORK/body"' "no literal </script> in the JSON"

echo "# --- out-of-order commits lose nothing"
sql "DELETE FROM push.message"
http GET "$P?token=$ALICE"
c=$(jq -r .cursor <<<"$BODY")
# A: a message to alice, committed last; B: a broadcast inserted after A's but committed first.
psql -qX -v ON_ERROR_STOP=1 >"$WORK/txa.log" 2>&1 <<'EOF' &
BEGIN;
INSERT INTO push.message (recipient, title) VALUES ('alice', 'A inserted first');
SELECT pg_sleep(1.5);
COMMIT;
EOF
txa=$!
sleep 0.5
publish "INSERT INTO push.message (recipient, title) VALUES (NULL, 'B inserted second, committed first')"
http GET "$P?token=$ALICE&since=$c"
json_eq '[.messages[].title] | join(",")' "B inserted second, committed first" "before A commits: only B"
c=$(jq -r .cursor <<<"$BODY")
wait $txa
http GET "$P?token=$ALICE&since=$c"
json_eq '[.messages[].title] | join(",")' "A inserted first" "after A commits: A is delivered from B's cursor"
c=$(jq -r .cursor <<<"$BODY")
# two publishers to the same user: the second waits for the first (the stream lock), both arrive
psql -qX -v ON_ERROR_STOP=1 >"$WORK/txc.log" 2>&1 <<'EOF' &
BEGIN;
INSERT INTO push.message (recipient, title) VALUES ('alice', 'C');
SELECT pg_sleep(1);
COMMIT;
EOF
txc=$!
sleep 0.3
psql -qX -v ON_ERROR_STOP=1 -c "INSERT INTO push.message (recipient, title) VALUES ('alice', 'D')" >"$WORK/txd.log" 2>&1 &
txd=$!
sleep 0.3
http GET "$P?token=$ALICE&since=$c"
json_eq '.messages | length' 0 "while C is open: neither C nor D"
wait $txc $txd
http GET "$P?token=$ALICE&since=$c"
json_eq '[.messages[].title] | join(",")' "C,D" "after both commit: C then D, once each"
c=$(jq -r .cursor <<<"$BODY")
http GET "$P?token=$ALICE&since=$c"
json_eq '.messages | length' 0 "and nothing again"

echo "# --- 100,000 rows in one statement: bounded NOTIFYs, correct counts"
sql "DELETE FROM push.message"
notes() { # $1 = the INSERT; prints how many notifications a listener got
    { echo "LISTEN pgpush;"; echo "\\! psql -qX -c \"$1\""; echo "SELECT 1;"; } \
        | psql -X 2>&1 | grep -c 'Asynchronous notification'
}
start=$(date +%s.%N)
n=$(notes "INSERT INTO push.message (recipient, title) SELECT 'user' || (g % 1000), 'bulk ' || g FROM generate_series(1, 100000) g")
secs=$(echo "$(date +%s.%N) - $start" | bc)
echo "# 100,000-row INSERT with a listener: ${secs}s, $n notification(s)"
check '[ "$n" -ge 1 ] && [ "$n" -le 64 ]' "100,000 rows to 1,000 users: $n notification(s) (bounded)"
n=$(notes "INSERT INTO push.message (recipient, title) SELECT 'few' || (g % 3), 'x' FROM generate_series(1, 30000) g")
eq "$n" 3 "30,000 rows to 3 users: 3 notifications"
payloads() { # $1 = the INSERT; prints the payloads a listener got
    { echo "LISTEN pgpush;"; echo "\\! psql -qX -c \"$1\""; echo "SELECT 1;"; } \
        | psql -X 2>&1 | sed -n 's/^Asynchronous notification "pgpush" with payload "\(.*\)" received.*/\1/p'
}
p=$(payloads "INSERT INTO push.message (recipient, title) VALUES (NULL, 'to all secret'), ('few1', 'y')")
eq "$(sed 's/^m:[A-Za-z0-9+\/=]*:/m:SEAL:/' <<<"$p" | paste -sd' ' -)" "m:SEAL:* m:SEAL:u:few1" \
    "2 rows, one a broadcast: one notification each, carrying its message sealed (to everyone, to few1)"
check '! grep -q secret <<<"$p"' "... whose content no listener can read"
n=$(notes "UPDATE push.message SET title = 'z' WHERE title = 'y'")
eq "$n" 1 "an edit wakes listeners"
demo_tok=$(token user7)
http GET "$P?token=$demo_tok&limit=1"
json_eq .unread.total 101 "user7 after the bulk insert: 100 + 1 broadcast unread"
payloads=$({ echo "LISTEN pgpush;"; echo "\\! psql -qX -c \"INSERT INTO push.message (recipient, title, body) VALUES ('alice', 'secret title', 'secret body')\""; echo "SELECT 1;"; } | psql -X 2>&1 | grep 'Asynchronous')
check '! grep -q secret <<<"$payloads" && grep -q "u:alice" <<<"$payloads"' "NOTIFY payload names the user, never the content"

echo "# --- the database goes away and comes back"
http GET "/noschema/push-poll?token=$ALICE"
status_is 503 schema_mismatch "database without the schema: 503"
json_eq '.message | test("install.sql")' true "503 says how to install the schema"
grep -q "schema is not installed" "$WORK/lighttpd-error.log" && ok "missing schema logged in the server's error log" || not_ok "missing schema logged"
if [ -n "${PGDATA:-}" ] && [ -d "$PGDATA" ]; then
    cluster=$(dirname "$PGDATA")
    "$top_srcdir/tests/lib/pgcluster" stop "$cluster"
    for path in /cgi-bin/push-poll /ext/push-poll /cgi/push-poll; do
        http GET "$path?token=$ALICE"
        status_is 503 database_unavailable "$path with PostgreSQL down: 503"
        eq "$(header Retry-After)" 5 "$path: Retry-After"
    done
    "$top_srcdir/tests/lib/pgcluster" start "$cluster" || hard_error "PostgreSQL did not come back"
    for path in /cgi-bin/push-poll /ext/push-poll /cgi/push-poll; do
        http GET "$path?token=$ALICE&limit=1"
        eq "$STATUS" 200 "$path after PostgreSQL is back: 200"
    done
    # what is kept goes with the LISTEN connection: a change made before it is back still shows
    http GET "/ext/push-poll?token=$ALICE&limit=1"
    etag=$(header ETag)
    http GET "/ext/push-poll?token=$ALICE&limit=1" -H "If-None-Match: $etag"
    eq "$STATUS" 304 "/ext/push-poll: 304 once the state is kept again"
    "$top_srcdir/tests/lib/pgcluster" stop "$cluster"
    "$top_srcdir/tests/lib/pgcluster" start "$cluster" || hard_error "PostgreSQL did not come back"
    publish "INSERT INTO push.message (recipient, title) VALUES ('alice', 'while LISTEN was away')"
    http GET "/ext/push-poll?token=$ALICE&limit=1" -H "If-None-Match: $etag"
    eq "$STATUS" 200 "/ext/push-poll: a message sent before the LISTEN connection is back: 200, not a kept 304"
    json_eq '.messages[0].title' "while LISTEN was away" "/ext/push-poll: ... with the message"
    grep -q "cannot connect to PostgreSQL" "$WORK/lighttpd-error.log" && ok "outage logged in the server's error log" || not_ok "outage logged"
else
    not_ok "PostgreSQL restart" "PGDATA unknown: cannot stop and start the server"
fi

echo "# --- a unix socket never exists at its path with wider permissions than PUSH_SOCKET_MODE"
# (even with umask 000): bound inside a new 0700 directory, given its mode, then renamed into place
command -v strace >/dev/null || hard_error "strace is not installed (tests/run installs it)"
(umask 000; PUSH_SOCKET_MODE=0600 PUSH_TOKEN_SECRET="$SECRET" timeout 2 strace -f -o "$WORK/bind.strace" \
    -e trace=bind,chmod,rename,mkdir "$BIN/push-poll" --listen "$WORK/perm.sock" 2>/dev/null)
steps=$(grep -E 'mkdir\(|bind\(|chmod\(|rename\(' "$WORK/bind.strace" | grep -F "$WORK/perm.sock" \
        | sed -E 's/^[0-9]+ +//; s/\(.*//' | paste -sd, -)
eq "$steps" "mkdir,bind,chmod,rename" "bind in a private directory, chmod, then rename into place"
check 'grep -qE "mkdir\(\"$WORK/perm.sock\.[A-Za-z0-9]{6}\", 0700\) = 0" "$WORK/bind.strace"' "... a directory only we may enter"

echo "# --- a query that fails inside the read snapshot: its reason reaches the log (closing the"
echo "# transaction used to clear it: 'query failed: ' and nothing)"
norole="pgpush_noread_$$"
sql "CREATE ROLE $norole LOGIN; GRANT USAGE ON SCHEMA push TO $norole; GRANT SELECT ON push.meta TO $norole"
# cgi_as ROLE [VAR=VALUE...]: push-poll as a CGI program answering alice's GET, connected as ROLE;
# its log in $WORK/cgi-as.log
cgi_as() {
    local role=$1
    shift
    env -i PATH="$PATH" PGHOST="$PGHOST" PGPORT="$PGPORT" PGUSER="$role" PGDATABASE="$PGDATABASE" \
        PUSH_TOKEN_SECRET="$SECRET" REQUEST_METHOD=GET QUERY_STRING="token=$(token alice)" \
        GATEWAY_INTERFACE=CGI/1.1 SERVER_PROTOCOL=HTTP/1.1 "$@" "$BIN/push-poll" 2>"$WORK/cgi-as.log"
}
out=$(cgi_as "$norole")
check 'grep -q "^Status: 500" <<<"$out"' "push-poll as a role that may not read the messages: 500"
check 'grep -q "error: query failed: ERROR: *permission denied for " "$WORK/cgi-as.log"' \
    "... and the log says why: $(head -c 200 "$WORK/cgi-as.log")"
# the streaming programs read through the pool: a long poll without a cursor reads the newest
# messages in a snapshot too, and push-sse its first batch; each 5xx follows one line with the reason
for prog in push-longpoll push-sse; do
    out=$(env -i PATH="$PATH" PGHOST="$PGHOST" PGPORT="$PGPORT" PGUSER="$norole" PGDATABASE="$PGDATABASE" \
          PUSH_TOKEN_SECRET="$SECRET" REQUEST_METHOD=GET QUERY_STRING="token=$(token alice)" \
          GATEWAY_INTERFACE=CGI/1.1 SERVER_PROTOCOL=HTTP/1.1 timeout 10 "$BIN/$prog" 2>"$WORK/noread-$prog.log")
    check 'grep -q "database_unavailable" <<<"$out"' "$prog as a role that may not read the messages: database_unavailable"
    check 'grep -q "error: query failed: ERROR: *permission denied for" "$WORK/noread-$prog.log"' \
        "... and the log says why: $(grep -m1 "query failed" "$WORK/noread-$prog.log" | head -c 200)"
    eq "$(grep "query failed" "$WORK/noread-$prog.log" | grep -vc "permission denied")" 0 \
        "... and no line of it without the reason"
done

echo "# --- --check reads and marks read as the program would: USAGE and SELECT on push.meta are not enough"
out=$(PUSH_DATABASE_URL="user=$norole" "$BIN/push-poll" --check 2>&1); rc=$?
echo "$out" | sed 's/^/#   /' | cut -c 1-300
check '[ $rc -ne 0 ]' "push-poll --check as a role with USAGE and SELECT on push.meta only: fails"
check 'grep -q "read as user pgpush-check: failed: .*permission denied" <<<"$out"' "... the read it tried failed, with PostgreSQL's reason"
check 'grep -q "mark read as user pgpush-check (rolled back): failed: .*permission denied for function mark_read" <<<"$out"' \
    "... so did the mark-read"
check 'grep -q "lacks [0-9]* of push_reader.s: .*SELECT on push.message,.*EXECUTE on push.mark_read(text,bigint),.*EXECUTE on push.state(text)" <<<"$out"' \
    "... and it names the privileges missing (SELECT on push.message, EXECUTE on push.mark_read, push.state ...)"
check 'grep -q "GRANT push_reader TO \"$norole\"" <<<"$out"' "... and what to grant"
check '! grep -q "are fine" <<<"$out"' "... never that all is fine"
sql "GRANT push_reader TO $norole"
out=$(PUSH_DATABASE_URL="user=$norole" "$BIN/push-poll" --check 2>&1); rc=$?
check '[ $rc -eq 0 ] && grep -q "privileges: all of push_reader.s" <<<"$out" && grep -q "mark read as user pgpush-check (rolled back): ok" <<<"$out"' \
    "once granted push_reader: --check reads, marks read and is fine"
eq "$(sql "SELECT count(*) FROM push.reader WHERE recipient = 'pgpush-check'")" 0 "... and its marks were rolled back"
out=$(cgi_as "$norole")
check 'grep -q "^Status: 200" <<<"$out"' "... and answers a GET"
sql "DROP OWNED BY $norole; DROP ROLE $norole"

echo "# --- the programs refuse to work as a superuser (or as the schema's owner), unless told to"
out=$(cgi_as "$PGUSER")
check 'grep -q "^Status: 503" <<<"$out" && grep -q "\"error\":\"database_role\"" <<<"$out"' \
    "push-poll connected as the superuser $PGUSER: 503 database_role"
check '! grep -q "$PGUSER" <<<"$out"' "... the answer does not name the role"
check 'grep -q "error: refusing to work as \"$PGUSER\", a PostgreSQL superuser: connect as a role granted push_reader .*PUSH_ALLOW_OWNER=1" "$WORK/cgi-as.log"' \
    "... the log names the role and what to do: $(head -c 220 "$WORK/cgi-as.log")"
out=$(PUSH_DATABASE_URL="user=$PGUSER" "$BIN/push-poll" --check 2>&1); rc=$?
check '[ $rc -ne 0 ] && grep -q "refusing to work as \"$PGUSER\"" <<<"$out" && ! grep -q "are fine" <<<"$out"' \
    "push-poll --check as the superuser fails, saying why"
out=$(cgi_as "$PGUSER" PUSH_ALLOW_OWNER=1)
check 'grep -q "^Status: 200" <<<"$out"' "... PUSH_ALLOW_OWNER=1 allows it: 200"

harness_done
