#!/usr/bin/env bash
# test-schema.sh: the SQL API on a real PostgreSQL: install, constraints, indexes, retention, versions
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib/harness.sh"
harness_database

echo "# --- install is repeatable and keeps data"
sql "INSERT INTO push.message (recipient, title) VALUES ('alice', 'kept')"
if psql -qX -v ON_ERROR_STOP=1 -f "$top_srcdir/sql/install.sql" >"$WORK/install2.log" 2>&1; then
    ok "second install succeeds"
else
    not_ok "second install succeeds" "$(cat "$WORK/install2.log")"
fi
eq "$(sql "SELECT count(*) FROM push.message")" 1 "second install keeps the messages"
eq "$(sql "SELECT schema_version FROM push.meta")" 3 "schema version recorded"
grep -q "schema at version 3" "$WORK/install2.log" && ok "install reports the version" || not_ok "install reports the version"

echo "# --- upgrading: a database at version 1 reaches version 3 with install.sql, data kept"
PGDATABASE=postgres dropdb --if-exists "${TEST_DB}_v1" >/dev/null 2>&1
PGDATABASE=postgres createdb "${TEST_DB}_v1" || hard_error "cannot create ${TEST_DB}_v1"
v1() { PGDATABASE="${TEST_DB}_v1" psql -qAtX -v ON_ERROR_STOP=1 "$@"; }
v1 -c "CREATE SCHEMA push; CREATE TABLE push.meta (singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
       schema_version integer NOT NULL DEFAULT 0, content_version bigint NOT NULL DEFAULT 0);
       INSERT INTO push.meta DEFAULT VALUES" -f "$top_srcdir/sql/migrations/0001_init.sql" >/dev/null
eq "$(v1 -c "SELECT schema_version FROM push.meta")" 1 "a version 1 database"
v1 -c "INSERT INTO push.message (recipient, title) VALUES ('alice', 'from v1')"
v1 -f "$top_srcdir/sql/install.sql" >"$WORK/upgrade.log" 2>&1 && ok "install.sql upgrades it" || not_ok "upgrade" "$(cat "$WORK/upgrade.log")"
eq "$(v1 -c "SELECT schema_version FROM push.meta")" 3 "now at version 3"
eq "$(v1 -c "SELECT title FROM push.messages_after('alice', 0, 0, 10)")" "from v1" "its messages kept and readable"
PGDATABASE=postgres dropdb --if-exists "${TEST_DB}_v1" >/dev/null 2>&1

echo "# --- upgrading 2 to 3: the MQTT bridge starts at each existing stream's head"
PGDATABASE=postgres dropdb --if-exists "${TEST_DB}_v2" >/dev/null 2>&1
PGDATABASE=postgres createdb "${TEST_DB}_v2" || hard_error "cannot create ${TEST_DB}_v2"
v2() { PGDATABASE="${TEST_DB}_v2" psql -qAtX -v ON_ERROR_STOP=1 "$@"; }
v2 -c "CREATE SCHEMA push; CREATE TABLE push.meta (singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
       schema_version integer NOT NULL DEFAULT 0, content_version bigint NOT NULL DEFAULT 0);
       INSERT INTO push.meta DEFAULT VALUES" -f "$top_srcdir/sql/migrations/0001_init.sql" \
   -f "$top_srcdir/sql/migrations/0002_inline_reads.sql" >/dev/null
eq "$(v2 -c "SELECT schema_version FROM push.meta")" 2 "a version 2 database"
v2 -c "INSERT INTO push.message (recipient, title) VALUES ('alice', 'a1'), ('alice', 'a2'), ('bob', 'b1');
       INSERT INTO push.message (recipient, title) VALUES (NULL, 'everyone')"
v2 -f "$top_srcdir/sql/install.sql" >"$WORK/upgrade2.log" 2>&1 && ok "install.sql upgrades 2 to 3" || not_ok "upgrade 2 to 3" "$(cat "$WORK/upgrade2.log")"
eq "$(v2 -c "SELECT schema_version FROM push.meta")" 3 "now at version 3"
eq "$(v2 -c "SELECT string_agg(stream || '=' || (acked = (SELECT max(id) FROM push.message m
              WHERE m.recipient IS NOT DISTINCT FROM nullif(stream, ''))), ',' ORDER BY stream)
              FROM push.mqtt_cursor")" "=true,alice=true,bob=true" "every existing stream's MQTT cursor is at its head"
eq "$(v2 -c "SELECT count(*) FROM push.mqtt_pending('', 100)")" 0 "nothing pending for the bridge after the upgrade"
v2 -c "INSERT INTO push.message (recipient, title) VALUES ('carol', 'c1'), ('alice', 'a3')"
eq "$(v2 -c "SELECT string_agg(u, ',') FROM push.mqtt_pending('', 100) u")" "alice,carol" "new messages are pending, a new user from 0"
eq "$(v2 -c "SELECT push.mqtt_acked('carol')")" 0 "a stream without a row starts at 0"
v2 -c "SELECT push.mqtt_ack('carol', 99999); SELECT push.mqtt_ack('carol', 5)" >/dev/null
eq "$(v2 -c "SELECT push.mqtt_acked('carol')")" 99999 "push.mqtt_ack never moves a cursor back"
eq "$(v2 -c "SELECT string_agg(u, ',') FROM push.mqtt_users('', 100) u")" "alice,bob,carol" "push.mqtt_users: users with a stream or read state"
eq "$(v2 -c "SELECT string_agg(u, ',') FROM push.mqtt_users('alice', 1) u")" "bob" "push.mqtt_users pages by name"
v2 -c "SELECT push.mqtt_seen('dave'); SELECT push.mqtt_seen('carol')" >/dev/null
eq "$(v2 -c "SELECT string_agg(u, ',') FROM push.mqtt_users('', 100) u")" "alice,bob,carol,dave" "push.mqtt_seen: a user seen over MQTT has counts kept"
eq "$(v2 -c "SELECT push.mqtt_acked('carol')")" 99999 "push.mqtt_seen leaves a known stream's cursor alone"
PGDATABASE=postgres dropdb --if-exists "${TEST_DB}_v2" >/dev/null 2>&1

echo "# --- publishing is plain SQL; constraints refuse what would break clients"
check 'sql "INSERT INTO push.message (recipient, title, body) VALUES ('"'"'alice'"'"', '"'"'Welcome'"'"', '"'"'Hello'"'"')"' "the documented INSERT works"
eq "$(sql "SELECT kind FROM push.message WHERE title = 'Welcome'")" notice "default kind is notice"
eq "$(sql "SELECT push.send('bob', 'hi') > 0")" t "push.send returns the id"
bid=$(sql "SELECT push.broadcast('all of you')")
eq "$(sql "SELECT recipient IS NULL FROM push.message WHERE id = $bid")" t "push.broadcast sends to everyone"
refused() { # refused SQL DESC
    if psql -qAtX -v ON_ERROR_STOP=1 -c "$1" >/dev/null 2>&1; then not_ok "$2"; else ok "$2"; fi
}
refused "INSERT INTO push.message (recipient, title) VALUES ('', 'x')" "empty recipient refused"
refused "INSERT INTO push.message (recipient, title) VALUES (repeat('a', 129), 'x')" "recipient over 128 bytes refused"
refused "INSERT INTO push.message (recipient, title) VALUES (E'a\\nb', 'x')" "recipient with a control character refused"
refused "INSERT INTO push.message (recipient, title, kind) VALUES ('a', 'x', 'Bad Kind')" "malformed kind refused"
refused "INSERT INTO push.message (recipient, title, link) VALUES ('a', 'x', 'javascript:alert(1)')" "javascript: link refused"
refused "INSERT INTO push.message (recipient, title) VALUES ('a', repeat('t', 1025))" "title over 1 KiB refused"
refused "INSERT INTO push.message (recipient, title, body) VALUES ('a', 'x', repeat('b', 32769))" "body over 32 KiB refused"
refused "INSERT INTO push.message (recipient, title, link) VALUES ('a', 'x', '/' || repeat('l', 2048))" "link over 2 KiB refused"
refused "INSERT INTO push.message (recipient, title, data) VALUES ('a', 'x', jsonb_build_object('k', repeat('d', 20000)))" "data over 16 KiB refused"
refused "UPDATE push.message SET recipient = 'mallory' WHERE title = 'Welcome'" "changing a recipient refused"
refused "UPDATE push.message SET id = id + 1000 WHERE title = 'Welcome'" "changing an id refused"
check 'sql "INSERT INTO push.message (recipient, title, link) VALUES ('"'"'a'"'"', '"'"'x'"'"', '"'"'https://example.org/p'"'"')"' "https link accepted"
id=$(sql "INSERT INTO push.message (recipient, title, id) VALUES ('a', 'own id', 1) RETURNING id")
check '[ "$id" != 1 ]' "an id given by the publisher is replaced by the stream's next id"

echo "# --- the stream lock orders commits per user (the out-of-order trap)"
# carol's stream exists (its row in push.stream stays when the messages go): the lock, not the
# creation of the row, must make the second publisher wait
sql "INSERT INTO push.message (recipient, title) VALUES ('carol', 'zero')"
sql "DELETE FROM push.message"
psql -qX -v ON_ERROR_STOP=1 >"$WORK/a.log" 2>&1 <<EOF &
BEGIN;
INSERT INTO push.message (recipient, title) VALUES ('carol', 'first');
\! touch $WORK/a-inserted
SELECT pg_sleep(3);
COMMIT;
EOF
a=$!
for _ in $(seq 1 200); do [ -f "$WORK/a-inserted" ] && break; sleep 0.05; done
sql "INSERT INTO push.message (recipient, title) VALUES ('carol', 'second')" &
b=$!
# the second waits on the stream's row, locked by the first until it commits; without that lock it
# would commit at once, with the larger id, before the smaller one: a reader would pass over it
for _ in $(seq 1 100); do
    [ "$(sql "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%''second''%'")" = 1 ] && break
    sleep 0.05
done
eq "$(sql "SELECT count(*) FROM push.message WHERE recipient = 'carol'")" 0 \
    "while the first publisher's transaction is open, the second waits (nothing of carol's is committed)"
wait $a $b
eq "$(sql "SELECT string_agg(title, ',' ORDER BY id) FROM push.message WHERE recipient = 'carol'")" "first,second" \
    "a second publisher to the same user waits and gets the larger id"

echo "# --- read state and counts in SQL"
sql "DELETE FROM push.message"
sql "INSERT INTO push.message (recipient, title, kind) VALUES ('dave', 'd1', 'comment'), ('dave', 'd2', 'notice'), (NULL, 'all', 'system')"
eq "$(sql "SELECT string_agg(kind || '=' || n, ',' ORDER BY kind) FROM push.unread('dave')")" "comment=1,notice=1,system=1" "push.unread by kind includes broadcasts"
sql "SELECT push.mark_kind_read('dave', 'comment')" >/dev/null
eq "$(sql "SELECT string_agg(kind || '=' || n, ',' ORDER BY kind) FROM push.unread('dave')")" "notice=1,system=1" "push.mark_kind_read"
sql "SELECT push.mark_all_read('dave')" >/dev/null
eq "$(sql "SELECT count(*) FROM push.unread('dave')")" 0 "push.mark_all_read"
eq "$(sql "SELECT count(*) FROM push.unread('erin')")" 1 "another user still has the broadcast unread"
eq "$(sql "SELECT count(*) FROM push.reader")" 1 "a broadcast costs no rows per user: one reader row (dave's)"

echo "# --- indexes serve the hot queries (EXPLAIN)"
sql "INSERT INTO push.message (recipient, title, kind) SELECT 'u' || (g % 5000), 'm', CASE WHEN g % 3 = 0 THEN 'comment' ELSE 'notice' END FROM generate_series(1, 200000) g"
sql "INSERT INTO push.message (recipient, title) SELECT NULL, 'b' FROM generate_series(1, 2000)"
sql "VACUUM ANALYZE push.message" >/dev/null
plan() { psql -qAtX -c "EXPLAIN (COSTS OFF) $1"; }
p=$(plan "SELECT * FROM push.unread('u42')")
echo "$p" | sed 's/^/#   /' | head -n 40
check 'grep -q "message_recipient_id" <<<"$p" && grep -q "message_broadcast_id" <<<"$p" && ! grep -q "Seq Scan on message" <<<"$p"' "unread count: the two stream indexes, no sequential scan"
p=$(plan "SELECT * FROM push.messages_after('u42', 100, 100, 50)")
check 'grep -q "message_recipient_id" <<<"$p" && ! grep -q "Seq Scan on message" <<<"$p"' "messages after a cursor: index scans"
p=$(plan "SELECT * FROM push.state('u42')")
check '! grep -q "Seq Scan on message" <<<"$p"' "state (ETag): index scans"
t=$(psql -qAtX -c "EXPLAIN (ANALYZE, FORMAT JSON) SELECT * FROM push.unread('u42')" | jq '.[0]["Execution Time"]')
echo "# unread count for one user among 202,000 messages: ${t} ms"
check 'awk "BEGIN { exit !($t < 50) }"' "unread count stays cheap with 202,000 messages (${t} ms)"

echo "# --- retention keeps cursors valid"
sql "DELETE FROM push.message"
sql "INSERT INTO push.message (recipient, title, created_at) VALUES ('fay', 'old read', now() - interval '40 days'), ('fay', 'old unread', now() - interval '40 days'), (NULL, 'old broadcast', now() - interval '100 days')"
old_read=$(sql "SELECT id FROM push.message WHERE title = 'old read'")
sql "SELECT push.mark_read('fay', $old_read)" >/dev/null
head=$(sql "SELECT p || ',' || b FROM push.state('fay')")
eq "$(sql "SELECT push.prune()")" 2 "prune deletes the old read message and the old broadcast"
eq "$(sql "SELECT string_agg(title, ',') FROM push.message")" "old unread" "unread messages are kept"
sql "INSERT INTO push.message (recipient, title) VALUES ('fay', 'new')"
eq "$(sql "SELECT string_agg(title, ',') FROM push.messages_after('fay', ${head%,*}, ${head#*,}, 10)")" "new" "a cursor from before the prune still gives exactly what is new"
eq "$(sql "SELECT push.prune(unread_age => interval '30 days')")" 1 "prune with unread_age drops old unread messages too"

echo "# --- messages_after and messages_newest agree, row for row, with is_read and position_p/_b"
sql "INSERT INTO push.message (recipient, title, kind)
     SELECT CASE WHEN i % 7 = 0 THEN NULL ELSE 'v' || (i % 20) END, 't' || i,
            CASE WHEN i % 3 = 0 THEN 'comment' ELSE 'notice' END FROM generate_series(1, 1500) i" >/dev/null
mid=$(sql "SELECT max(id) - 700 FROM push.message")
sql "SELECT push.mark_read_upto('v1', $mid, $mid - 40)" >/dev/null
sql "SELECT push.mark_kind_read('v2', 'comment')" >/dev/null
sql "SELECT push.mark_read('v3', id) FROM push.message WHERE recipient = 'v3' AND id % 2 = 0" >/dev/null
sql "SELECT push.mark_read('v4', id) FROM push.message WHERE recipient IS NULL AND id % 3 = 0" >/dev/null
for fn in "messages_after(v.u, 0, 0, 5000)" "messages_after(v.u, $mid, $mid, 5000)" "messages_newest(v.u, 300)"; do
    r=$(sql "WITH v AS (SELECT 'v' || g AS u FROM generate_series(0, 21) g)
             SELECT count(*), count(*) FILTER (WHERE a.read), count(*) FILTER (WHERE
                    a.read <> push.is_read(v.u, a.id, a.broadcast, a.kind)
                    OR a.pos_p <> push.position_p(v.u, a.id, a.broadcast)
                    OR a.pos_b <> push.position_b(a.id, a.broadcast))
             FROM v, LATERAL push.$fn a")
    check '[ "${r##*|}" = 0 ] && [ "${r%%|*}" -gt 100 ] && [ "$(cut -d"|" -f2 <<<"$r")" -gt 0 ]' \
        "push.${fn%%(*}: rows, read rows, mismatches = ${r//|/, } (no mismatch)"
done

echo "# --- the programs check the schema version"
sql "UPDATE push.meta SET schema_version = 99"
out=$("$BIN/push-poll" --check 2>&1); rc=$?
check '[ $rc -ne 0 ] && grep -q "version 99" <<<"$out"' "push-poll --check refuses schema version 99"
sql "UPDATE push.meta SET schema_version = 2"
out=$("$BIN/push-poll" --check 2>&1); rc=$?
check '[ $rc -ne 0 ] && grep -q "version 2, these programs need 3" <<<"$out"' "push-poll --check refuses version 2: run install.sql"
sql "UPDATE push.meta SET schema_version = 3"
out=$("$BIN/push-poll" --check 2>&1); rc=$?
check '[ $rc -eq 0 ]' "push-poll --check accepts version 3"
out=$(PUSH_LIMIT_MAX=5000 "$BIN/push-poll" --check 2>&1); rc=$?
check '[ $rc -ne 0 ] && grep -q "PUSH_LIMIT_MAX" <<<"$out"' "bad configuration fails at start, naming the variable"
out=$(PUSH_TOKEN_SECRET=short "$BIN/push-poll" 2>&1 </dev/null); rc=$?
check '[ $rc -ne 0 ] && grep -q "PUSH_TOKEN_SECRET" <<<"$out"' "short secret fails at start"

harness_done
