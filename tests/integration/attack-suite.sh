# attack-suite.sh: trying to be alice without alice's credentials, behind one shipped setup
#
# Sourced by server-suite.sh once its deployment "ok" is up (BASE, PORT, WORK, ALICE, token, sql,
# http and ws are set). Every attempt goes to every transport: push-poll GET, a push-poll mark-read
# POST, push-longpoll, push-sse, push-iframe and push-ws; anonymously under /cgi-bin/, and logged
# in as bob under /auth/. An attempt passes when no answer holds one of alice's bytes (a marker
# only alice's message carries, or her name as the user) and, anonymously, every answer is 401 or
# 403 (400 where the web server itself refuses a malformed request, as noted). At the end alice's
# unread count is what it was: no mark-read attempt touched it.
#
# These failed on the configurations and code before the identity work: "Authorization: Basic" on
# nginx (fastcgi_params passed REMOTE_USER $remote_user from any Basic header, checked or not), the
# open-quote Forwarded on lighttpd's push-ws (it swallowed lighttpd's own element), X-Remote-User
# on lighttpd's push-ws (passed through unchanged), and a page of the other scheme (the Origin
# check ignored it).

echo "# --- attacks: nobody can be alice without alice's credentials ($SERVER)"
ATTACK_T0=$(date +%s%N)
MARK="alice-secret-$RANDOM$RANDOM"
publish "INSERT INTO push.message (recipient, title, body) VALUES ('alice', '$MARK', '$MARK')" >/dev/null
ALICE_CUR=$(curl -s "$BASE/cgi-bin/push-poll" -H "Authorization: Bearer $ALICE" | jq -r .cursor)
ALICE_UNREAD=$(curl -s "$BASE/cgi-bin/push-poll" -H "Authorization: Bearer $ALICE" | jq -r .unread.total)
BOB=$(token bob)
ALICE_SHORT=$(token alice 1)
b64url() { printf %s "$1" | base64 | tr '+/' '-_' | tr -d '=\n'; }
# refused tokens of users no other line names, to find each one's log line: expired (after the
# sleep below), signed with another secret, and malformed (no signature at all)
REFUSED_N="$RANDOM$RANDOM"
REFUSED_EXPIRED=$(token "expired-$REFUSED_N" 1)
REFUSED_FORGED=$(token "forged-$REFUSED_N" 3600 "$OTHER_SECRET")
REFUSED_MALFORMED="v1.$(b64url "malformed-$REFUSED_N").$(( $(date +%s) + 3600 ))"
# bob's token with alice's name put in its place: the signature no longer matches
BOB_AS_ALICE=$(sed "s/^v1\.$(b64url bob)\./v1.$(b64url alice)./" <<<"$BOB")
[ "$BOB_AS_ALICE" != "$BOB" ] || hard_error "could not edit bob's token ($BOB)"
BASIC_BOB="Authorization: Basic $(printf bob:bob-password | base64)"
sleep 1.1  # ALICE_SHORT has expired

ATTACK_N=0
# leaked FILE: does an answer hold any of alice's bytes: her message, her name as the user, or a
# cursor of hers (a stream's first events carry one, tagged with her name's 8 hex digits)?
ALICE_TAG=${ALICE_CUR##*-}
[ ${#ALICE_TAG} = 8 ] || hard_error "no cursor tag in alice's cursor ($ALICE_CUR)"
leaked() { grep -q -e "$MARK" -e '"user":"alice"' -e '"user": "alice"' -e "-$ALICE_TAG" "$1" 2>/dev/null; }

# raw REQUEST-HEAD: sends bytes curl would not (folded header lines); RAW_STATUS is the answer's
# status code, RAW_LEAK 1 when it holds any of alice's bytes
raw() {
    local out=$WORK/attack-raw.out
    : >"$out"
    if exec 3<>"/dev/tcp/127.0.0.1/$PORT"; then
        printf '%b' "$1" >&3
        timeout 3 cat <&3 >"$out" 2>/dev/null
        exec 3<&- 3>&-
    fi
    RAW_STATUS=$(head -n 1 "$out" | cut -d' ' -f2)
    RAW_LEAK=0
    leaked "$out" && RAW_LEAK=1
    return 0
}

# attack LABEL PREFIX QUERY [curl args...]: starts the attempt on every transport under PREFIX
# (cgi-bin: anonymous; auth: as bob, whose Basic credentials the caller passes), with QUERY added
# to each URL, in the background; verdicts waits for them all and judges each attempt in order.
# bob's own streams (under /auth/) are cut after 1.5 s, by when a stream has written its first
# batch, which is where alice's message would be. ATTACK_SKIP names transports an attempt does
# not apply to.
ATTACK_PIDS=() ATTACK_LABEL=() ATTACK_PREFIX=() ATTACK_SKIPS=()
attack() {
    local label=$1 prefix=$2 query=$3 t max=3 curl_args
    shift 3
    # four attempts at a time (24 requests): a spawning server (mod_fcgid) starts its processes
    # on demand, and a queue of them would only test patience
    [ $((ATTACK_N + 1 - ${ATTACK_DONE:-1})) -ge 4 ] && verdicts
    # (auth: the server's own login as bob: the streams answer 200 and run until max; mod_fcgid
    # spawns a process for each, which on a busy machine can take longer than 1.5 s: 000)
    [ "$prefix" = auth ] && max=1.5
    [ "$prefix" = auth ] && [ "$SERVER" = apache-fcgid ] && max=3
    ATTACK_N=$((ATTACK_N + 1))
    ATTACK_LABEL[$ATTACK_N]=$label ATTACK_PREFIX[$ATTACK_N]=$prefix ATTACK_SKIPS[$ATTACK_N]=${ATTACK_SKIP:-}
    local o=$WORK/attack-$ATTACK_N
    for t in poll mark longpoll sse iframe; do
        [[ " ${ATTACK_SKIP:-} " == *" $t "* ]] && continue
        curl_args=(-s -o "$o-$t.out" -w '%{http_code}' --max-time "$max" "$@")
        case $t in
        poll) curl "${curl_args[@]}" "$BASE/$prefix/push-poll?x=1$query" ;;
        mark) curl "${curl_args[@]}" -X POST -H 'Content-Type: application/json' --data '{"mark":"all"}' \
                   "$BASE/$prefix/push-poll?x=1$query" ;;
        longpoll) curl "${curl_args[@]}" "$BASE/$prefix/push-longpoll?timeout=1$query" ;;
        sse) curl "${curl_args[@]}" "$BASE/$prefix/push-sse?x=1$query" ;;
        iframe) curl "${curl_args[@]}" "$BASE/$prefix/push-iframe?callback=cb$query" ;;
        esac >"$o-$t.status" 2>/dev/null &
        ATTACK_PIDS+=($!)
    done
    # push-ws: the same headers through the server's WebSocket proxying
    local h=() a
    while [ $# -gt 0 ]; do
        a=$1; shift
        case $a in -H) h+=(-H "$1"); shift ;; -u) h+=(-H "Authorization: Basic $(printf %s "$1" | base64)"); shift ;; esac
    done
    ws "attack-$ATTACK_N-ws" "/$prefix/push-ws?x=1$query" --max-time "$max" "${h[@]}" </dev/null &
    ATTACK_PIDS+=($!)
}

verdicts() {
    local n t st bad allowed o
    wait "${ATTACK_PIDS[@]}" 2>/dev/null
    ATTACK_PIDS=()
    for n in $(seq "${ATTACK_DONE:-1}" "$ATTACK_N"); do
        o=$WORK/attack-$n bad="" allowed="401 403"
        [ "${ATTACK_PREFIX[$n]}" = auth ] && allowed="200 401 403"
        for t in poll mark longpoll sse iframe; do
            [[ " ${ATTACK_SKIPS[$n]} " == *" $t "* ]] && continue
            st=$(cat "$o-$t.status" 2>/dev/null)
            leaked "$o-$t.out" && bad="$bad $t:LEAK"
            [[ " $allowed " == *" $st "* ]] || bad="$bad $t:$st"
        done
        st=$(ws_status "attack-$n-ws")
        [ "${ATTACK_PREFIX[$n]}" = auth ] && allowed="101 401 403"
        leaked "$o-ws.out" && bad="$bad ws:LEAK"
        [[ " $allowed " == *" $st "* ]] || bad="$bad ws:$st"
        if [ -z "$bad" ]; then
            ok "${ATTACK_LABEL[$n]} (${ATTACK_PREFIX[$n]}): refused on every transport, none of alice's bytes"
        else
            not_ok "${ATTACK_LABEL[$n]} (${ATTACK_PREFIX[$n]}): refused on every transport, none of alice's bytes" "got:$bad"
        fi
    done
    ATTACK_DONE=$((ATTACK_N + 1))
}

# the attempts, each anonymously and as bob
attacks() {
    local p=$1 auth=()
    [ "$p" = auth ] && auth=(-H "$BASIC_BOB")
    if [ "$p" = cgi-bin ]; then
        attack "Authorization: Basic alice with any password" "$p" "" -u alice:anything
        attack "authorization: basic (lower case)" "$p" "" -H "authorization: basic $(printf alice:x | base64)"
    fi
    attack "Forwarded: remote_user=alice" "$p" "" "${auth[@]}" -H 'Forwarded: for=1.2.3.4;remote_user=alice'
    attack "forwarded: remote_user=\"alice\" (quoted, lower-case name)" "$p" "" "${auth[@]}" -H 'forwarded: remote_user="alice"'
    attack "Forwarded with an open quote that swallows the proxy's element" "$p" "" "${auth[@]}" -H 'FORWARDED: remote_user=alice;x="'
    attack "Forwarded with a comma inside quotes" "$p" "" "${auth[@]}" -H 'Forwarded: for="a,b";remote_user=alice, for=x'
    attack "Forwarded twice" "$p" "" "${auth[@]}" -H 'Forwarded: remote_user=alice' -H 'Forwarded: remote_user=alice'
    attack "Forwarded with remote_user twice" "$p" "" "${auth[@]}" -H 'Forwarded: remote_user=alice;remote_user=alice'
    attack "X-Remote-User: alice" "$p" "" "${auth[@]}" -H 'X-Remote-User: alice'
    attack "x-remote-user: alice (lower case)" "$p" "" "${auth[@]}" -H 'x-remote-user: alice'
    attack "X-REMOTE-USER: \"alice\" (upper case, quoted)" "$p" "" "${auth[@]}" -H 'X-REMOTE-USER: "alice"'
    attack "X-Remote-User twice" "$p" "" "${auth[@]}" -H 'X-Remote-User: alice' -H 'X-Remote-User: alice'
    attack "X-Forwarded-User: alice" "$p" "" "${auth[@]}" -H 'X-Forwarded-User: alice'
    attack "Remote-User: alice" "$p" "" "${auth[@]}" -H 'Remote-User: alice'
    attack "REMOTE_USER: alice (a header named like the variable)" "$p" "" "${auth[@]}" -H 'REMOTE_USER: alice'
    attack "X_Remote_User: alice (underscores)" "$p" "" "${auth[@]}" -H 'X_Remote_User: alice'
    attack "?REMOTE_USER=alice&remote_user=alice&user=alice in the query" "$p" "&REMOTE_USER=alice&remote_user=alice&user=alice" "${auth[@]}"
}
attacks cgi-bin
verdicts
attacks auth
verdicts

if [[ $SERVER == lighttpd* ]]; then
    # push-ws as conf/systemd/push-ws.env ships it (X-Remote-User, the nginx/Apache choice) behind
    # lighttpd: its confs clear that header too, so the wrong choice loses logins, never identity
    restart_ws ok "$CONN" X-Remote-User
    attack "X-Remote-User: alice to a push-ws that trusts X-Remote-User, behind lighttpd" cgi-bin "" -H 'X-Remote-User: alice'
    attack "x-remote-user: alice to a push-ws that trusts X-Remote-User, behind lighttpd" auth "" -H "$BASIC_BOB" -H 'x-remote-user: alice'
    verdicts
    restart_ws ok "$CONN"
fi

echo "# --- attacks with tokens and cursors (each must be refused: 401 or 403)"
attack "bob's token with alice's name edited in" cgi-bin "" -H "Authorization: Bearer $BOB_AS_ALICE"
attack "bob's edited token in the query" cgi-bin "&token=$BOB_AS_ALICE"
attack "alice's expired token" cgi-bin "" -H "Authorization: Bearer $ALICE_SHORT"
attack "alice's expired token in a cookie" cgi-bin "" -H "Cookie: pgpush_token=$ALICE_SHORT"
attack "a token signed with another secret" cgi-bin "" -H "Authorization: Bearer $(token alice 3600 "$OTHER_SECRET")"
# (a mark-all ignores ?since=: the POST with alice's cursor is checked on its own below)
ATTACK_SKIP=mark attack "alice's cursor on bob's stream" cgi-bin "&since=$ALICE_CUR" -H "Authorization: Bearer $BOB"
verdicts
http POST "/cgi-bin/push-poll" -H "Authorization: Bearer $BOB" -H 'Content-Type: application/json' \
    --data "{\"mark\": \"upto\", \"cursor\": \"$ALICE_CUR\"}"
status_is 403 cursor_user "marking read up to alice's cursor as bob: 403 cursor_user"

if [ "$SERVER" = nginx ]; then
    echo "# --- nginx: fastcgi_params plus a second REMOTE_USER line sends both: refused"
    http GET "/trap/push-poll" -u alice:anything
    status_is 403 identity_ambiguous "Basic alice where REMOTE_USER comes twice: 403 identity_ambiguous"
    check '! leaked "$WORK/body"' "... none of alice's bytes"
    sleep 0.2
    check 'grep -q "REMOTE_USER was passed twice" "$ERRLOG"' "... and the daemon's log says why"
fi

echo "# --- folded header lines (obs-fold): refused before any program sees them"
for path in /cgi-bin/push-poll /auth/push-poll; do
    raw "GET $path HTTP/1.1\r\nHost: 127.0.0.1:$PORT\r\nX-Remote-User: bob\r\n alice\r\nForwarded: for=1.2.3.4;\r\n remote_user=alice\r\nConnection: close\r\n\r\n"
    check '[ "$RAW_LEAK" = 0 ] && [[ " 400 401 403 " == *" $RAW_STATUS "* ]]' "a folded X-Remote-User/Forwarded on $path: $RAW_STATUS, none of alice's bytes"
done
raw "GET /cgi-bin/push-ws HTTP/1.1\r\nHost: 127.0.0.1:$PORT\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nX-Remote-User: bob\r\n alice\r\nForwarded: for=1;\r\n remote_user=alice\r\n\r\n"
check '[ "$RAW_LEAK" = 0 ] && [[ " 400 401 403 " == *" $RAW_STATUS "* ]]' "a folded header on push-ws: $RAW_STATUS, none of alice's bytes"

echo "# --- the Origin check counts the scheme: a page of https://this-host is another origin here (http)"
ws ori "/cgi-bin/push-ws?x=1" -H "Authorization: Bearer $ALICE" -H "Origin: https://127.0.0.1:$PORT" </dev/null
eq "$(ws_status ori)" 403 "push-ws: Origin https://127.0.0.1:$PORT on an http site: 403"
http POST "/cgi-bin/push-poll" -H "Authorization: Bearer $ALICE" -H 'Content-Type: application/json' \
    -H "Origin: https://127.0.0.1:$PORT" --data '{"mark":"all"}'
status_is 403 origin_forbidden "push-poll mark-read: Origin https://127.0.0.1:$PORT on an http site: 403"
http POST "/cgi-bin/push-poll" -H "Authorization: Bearer $BOB" -H 'Content-Type: application/json' \
    -H "Origin: http://127.0.0.1:$PORT" --data '{"mark":"all"}'
eq "$STATUS" 200 "... while a page of the site's own origin (http://127.0.0.1:$PORT) may (bob marks his own)"

echo "# --- a refused token is logged once, at info: why, whom it claims, from where; never the token"
# LABEL TOKEN USER REASON, one a line
refused_cases() {
    printf '%s\t%s\t%s\t%s\n' "an expired token" "$REFUSED_EXPIRED" "expired-$REFUSED_N" "token expired" \
        "a forged signature" "$REFUSED_FORGED" "forged-$REFUSED_N" "bad token signature (forged, or signed with another secret)" \
        "a malformed token" "$REFUSED_MALFORMED" "malformed-$REFUSED_N" "malformed token"
}
while IFS=$'\t' read -r label tok user reason; do
    http GET "/cgi-bin/push-poll" -H "Authorization: Bearer $tok"
    status_is 401 bad_token "$label: 401"
    ws "refused-$user" "/cgi-bin/push-ws" -H "Authorization: Bearer $tok" </dev/null
    eq "$(ws_status "refused-$user")" 401 "$label on push-ws: 401"
done < <(refused_cases)
sleep 0.3  # the programs' stderr on its way into the server's error log
while IFS=$'\t' read -r label tok user reason; do
    eq "$(grep -cF "info: refused a request (401 bad_token): $reason, claims user \"$user\", from 127.0.0.1" "$ERRLOG")" 1 \
        "$label: one info line says why, whom it claims and from where ($(basename "$ERRLOG"))"
    eq "$(grep -cF "info: refused an upgrade (401 bad_token): $reason, claims user \"$user\"" "$WS_LOG")" 1 \
        "$label on push-ws: one info line says why and whom it claims"
    # the whole token, and its signature (the last 64 characters) where it has one
    sig=${tok##*.}
    [ ${#sig} = 64 ] || sig=$tok
    leaks=$(find "$WORK" -name '*.log' -exec grep -lF -e "$tok" -e "$sig" {} + 2>/dev/null)
    eq "$leaks" "" "$label: neither the token nor its signature is in any log"
done < <(refused_cases)

echo "# --- alice is untouched"
http GET "/cgi-bin/push-poll" -H "Authorization: Bearer $ALICE"
json_eq .unread.total "$ALICE_UNREAD" "alice's unread count is what it was before the attacks ($ALICE_UNREAD)"
check 'grep -q "$MARK" <<<"$BODY"' "alice herself still reads her message"
echo "# attack suite: $(( ($(date +%s%N) - ATTACK_T0) / 1000000 )) ms"
