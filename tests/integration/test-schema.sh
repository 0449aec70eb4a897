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
eq "$(sql "SELECT schema_version FROM push.meta")" 8 "schema version recorded"
grep -q "schema at version 8" "$WORK/install2.log" && ok "install reports the version" || not_ok "install reports the version"

# privs PSQL-COMMAND...: every privilege on the schema push and on what is in it (PUBLIC's defaults
# included), and whether each function runs as its owner, one line each; the owner is called OWNER
privs() {
    "$@" -c "
    WITH own AS (SELECT nspowner AS o FROM pg_namespace WHERE nspname = 'push'),
    g(obj, what, grantee, priv) AS (
        SELECT 'schema push', '', a.grantee, a.privilege_type
          FROM pg_namespace n, aclexplode(coalesce(n.nspacl, acldefault('n', n.nspowner))) a
         WHERE n.nspname = 'push'
        UNION ALL
        SELECT c.relname, c.relkind::text, a.grantee, a.privilege_type
          FROM pg_class c, aclexplode(coalesce(c.relacl, acldefault(CASE WHEN c.relkind = 'S'
               THEN 's' ELSE 'r' END::\"char\", c.relowner))) a
         WHERE c.relnamespace = 'push'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'S')
        UNION ALL
        SELECT c.relname || '.' || t.attname, 'column', a.grantee, a.privilege_type
          FROM pg_class c JOIN pg_attribute t ON t.attrelid = c.oid, aclexplode(t.attacl) a
         WHERE c.relnamespace = 'push'::regnamespace
        UNION ALL
        SELECT p.oid::regprocedure::text, CASE WHEN p.prosecdef THEN 'definer '
               || array_to_string(p.proconfig, ' ') ELSE 'invoker' END, a.grantee, a.privilege_type
          FROM pg_proc p, aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
         WHERE p.pronamespace = 'push'::regnamespace)
    SELECT obj || ' ' || what || ' ' || CASE WHEN grantee = 0 THEN 'PUBLIC'
           WHEN grantee = (SELECT o FROM own) THEN 'OWNER' ELSE grantee::regrole::text END || ' ' || priv
      FROM g ORDER BY 1"
}
privs psql -qAtX -v ON_ERROR_STOP=1 >"$WORK/privs-fresh" || hard_error "cannot list the privileges"
check '[ "$(wc -l <"$WORK/privs-fresh")" -gt 40 ]' "(the privileges of a fresh install listed: $(wc -l <"$WORK/privs-fresh") lines)"
# same_privs DESC FILE: FILE lists the privileges of a fresh install
same_privs() {
    if diff -u "$WORK/privs-fresh" "$2" >"$WORK/privs.diff"; then ok "$1"; else not_ok "$1" "$(head -n 20 "$WORK/privs.diff" | tr '\n' '|')"; fi
}

echo "# --- upgrading: a database at version 1 reaches version 8 with install.sql, data kept"
PGDATABASE=postgres dropdb --if-exists "${TEST_DB}_v1" >/dev/null 2>&1
PGDATABASE=postgres createdb "${TEST_DB}_v1" || hard_error "cannot create ${TEST_DB}_v1"
v1() { PGDATABASE="${TEST_DB}_v1" psql -qAtX -v ON_ERROR_STOP=1 "$@"; }
v1 -c "CREATE SCHEMA push; CREATE TABLE push.meta (singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
       schema_version integer NOT NULL DEFAULT 0, content_version bigint NOT NULL DEFAULT 0);
       INSERT INTO push.meta DEFAULT VALUES" -f "$top_srcdir/sql/migrations/0001_init.sql" >/dev/null
eq "$(v1 -c "SELECT schema_version FROM push.meta")" 1 "a version 1 database"
v1 -c "INSERT INTO push.message (recipient, title) VALUES ('alice', 'from v1')"
v1 -f "$top_srcdir/sql/install.sql" >"$WORK/upgrade.log" 2>&1 && ok "install.sql upgrades it" || not_ok "upgrade" "$(cat "$WORK/upgrade.log")"
eq "$(v1 -c "SELECT schema_version FROM push.meta")" 8 "now at version 8"
eq "$(v1 -c "SELECT title FROM push.messages_after('alice', 0, 0, 10)")" "from v1" "its messages kept and readable"
privs v1 >"$WORK/privs-v1"
same_privs "upgraded from version 1, it has exactly the privileges of a fresh install" "$WORK/privs-v1"
PGDATABASE=postgres dropdb --if-exists "${TEST_DB}_v1" >/dev/null 2>&1

echo "# --- upgrading from 2: the MQTT bridge starts at each existing stream's head"
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
v2 -f "$top_srcdir/sql/install.sql" >"$WORK/upgrade2.log" 2>&1 && ok "install.sql upgrades 2 to 5" || not_ok "upgrade 2 to 5" "$(cat "$WORK/upgrade2.log")"
eq "$(v2 -c "SELECT schema_version FROM push.meta")" 8 "now at version 8"
privs v2 >"$WORK/privs-v2"
same_privs "upgraded from version 2, it has exactly the privileges of a fresh install" "$WORK/privs-v2"
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
             FROM v, LATERAL push.$fn a WHERE a.op <> 'head'")
    check '[ "${r##*|}" = 0 ] && [ "${r%%|*}" -gt 100 ] && [ "$(cut -d"|" -f2 <<<"$r")" -gt 0 ]' \
        "push.${fn%%(*}: rows, read rows, mismatches = ${r//|/, } (no mismatch)"
done

echo "# --- push_reader reads and marks read through the functions; push_publisher inserts, and that is all"
web() { PGUSER=$WEB_ROLE psql -qAtX -v ON_ERROR_STOP=1 -c "$1"; }
refused_as() { # refused_as ROLE SQL DESC: ROLE may not run SQL, for want of a privilege
    if PGUSER=$1 psql -qAtX -v ON_ERROR_STOP=1 -c "$2" >"$WORK/refused.log" 2>&1; then
        not_ok "$3" "it ran"
    elif ! grep -q "permission denied" "$WORK/refused.log"; then
        not_ok "$3" "refused for another reason: $(head -c 200 "$WORK/refused.log")"
    else
        ok "$3"
    fi
}
# can ROLE PRIVILEGE: the tables (and columns granted on their own) of the schema ROLE has it on
can() {
    local cols=""
    case $2 in SELECT | INSERT | UPDATE | REFERENCES) cols="
           UNION ALL
           SELECT c.relname || '.' || a.attname FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid
            WHERE c.relnamespace = 'push'::regnamespace AND c.relkind = 'r' AND a.attnum > 0
              AND has_column_privilege('$1', c.oid, a.attnum, '$2')
              AND NOT has_table_privilege('$1', c.oid, '$2')" ;;
    esac
    sql "SELECT coalesce(string_agg(x, ' ' ORDER BY x), '') FROM (
           SELECT c.relname AS x FROM pg_class c WHERE c.relnamespace = 'push'::regnamespace
              AND c.relkind = 'r' AND has_table_privilege('$1', c.oid, '$2') $cols) t"
}
runs() { # runs ROLE: the functions of the schema ROLE may call
    sql "SELECT coalesce(string_agg(p.oid::regprocedure::text, ' ' ORDER BY p.oid::regprocedure::text), '')
         FROM pg_proc p WHERE p.pronamespace = 'push'::regnamespace
          AND has_function_privilege('$1', p.oid, 'EXECUTE')"
}
eq "$(sql "SELECT count(*) FROM pg_class c WHERE c.relnamespace = 'push'::regnamespace AND c.relkind IN ('r', 'S')
           AND NOT has_table_privilege('push_reader', c.oid, 'SELECT')")" 0 "push_reader may read every table and sequence of the schema"
for p in INSERT UPDATE DELETE TRUNCATE; do
    eq "$(can push_reader $p),$?" ",0" "push_reader may $p nowhere"
done
eq "$(sql "SELECT count(*) FROM pg_class c, unnest(ARRAY['USAGE', 'UPDATE']) p
           WHERE c.relnamespace = 'push'::regnamespace AND c.relkind = 'S'
             AND (has_sequence_privilege('push_reader', c.oid, p) OR has_sequence_privilege('push_publisher', c.oid, p))")" 0 \
    "neither role may draw or set an id"
eq "$(runs push_reader)" "push.expire_due() push.follow_timeline() push.mark_all_read(text) push.mark_kind_read(text,text) push.mark_kind_read(text,text,bigint,bigint) push.mark_read(text,bigint) push.mark_read_upto(text,bigint,bigint) push.messages_after(text,bigint,bigint,integer,text[]) push.messages_newest(text,integer,text[]) push.mqtt_ack(text,bigint) push.mqtt_acked(text) push.mqtt_pending(text,integer) push.mqtt_seen(text) push.mqtt_users(text,integer) push.state(text) push.timeline() push.unread(text) push.unread_view(text) push.visible(boolean,timestamp with time zone) push.webpush_ack(bigint,text,text,bigint,bigint) push.webpush_due(text,bigint,integer) push.webpush_failed(bigint,text,bigint) push.webpush_gone(bigint) push.webpush_next_retry() push.webpush_set_key(text) push.webpush_subscribe(text,text,text,text,text,integer) push.webpush_unsubscribe(text,text)" \
    "push_reader may call the functions the programs call, no other"
eq "$(can push_publisher SELECT)" "message.id meta" "push_publisher may read the schema's version, and the ids it inserts (RETURNING id)"
eq "$(can push_publisher INSERT)" "message" "push_publisher may INSERT into push.message"
for p in UPDATE DELETE TRUNCATE; do
    eq "$(can push_publisher $p),$?" ",0" "push_publisher may $p nowhere"
done
eq "$(runs push_publisher)" "push.broadcast(text,text,text,jsonb,text) push.edit(bigint,text,text,text,jsonb,text,boolean) push.expire(bigint,timestamp with time zone) push.retract(bigint) push.send(text,text,text,text,jsonb,text)" \
    "push_publisher may call push.send, push.broadcast, push.edit, push.expire and push.retract, no other"
eq "$(runs public)" "" "PUBLIC may call none of the schema's functions"
eq "$(sql "SELECT string_agg(p.oid::regprocedure::text, ' ' ORDER BY p.oid::regprocedure::text) FROM pg_proc p
           WHERE p.pronamespace = 'push'::regnamespace AND p.prosecdef
             AND p.proconfig = ARRAY['search_path=pg_catalog, pg_temp']")" \
    "push.edit(bigint,text,text,text,jsonb,text,boolean) push.expire(bigint,timestamp with time zone) push.expire_due() push.follow_timeline() push.jump() push.mark_kind_read(text,text,bigint,bigint) push.mark_read(text,bigint) push.mark_read_upto(text,bigint,bigint) push.message_assign_id() push.message_changed() push.message_inserted() push.message_log_delete() push.message_log_update() push.mqtt_ack(text,bigint) push.mqtt_seen(text) push.retract(bigint) push.webpush_ack(bigint,text,text,bigint,bigint) push.webpush_failed(bigint,text,bigint) push.webpush_gone(bigint) push.webpush_set_key(text) push.webpush_subscribe(text,text,text,text,text,integer) push.webpush_unsubscribe(text,text)" \
    "the functions that write run as the owner, with a fixed search_path"
eq "$(sql "SELECT count(*) FROM pg_proc p WHERE p.pronamespace = 'push'::regnamespace AND p.prosecdef
           AND p.proconfig IS DISTINCT FROM ARRAY['search_path=pg_catalog, pg_temp']")" 0 "... every one of them"
sql "DELETE FROM push.message"
gid=$(publish "INSERT INTO push.message (recipient, title) VALUES ('gus', 'g1') RETURNING id")
check '[ -n "$gid" ] && [ "$gid" -gt 0 ]' "push_publisher: INSERT ... RETURNING id ($gid)"
check '[ "$(publish "SELECT push.send('"'"'gus'"'"', '"'"'g2'"'"')")" -gt "$gid" ]' "push_publisher: push.send"
check '[ "$(publish "SELECT push.broadcast('"'"'everyone'"'"')")" -gt "$gid" ]' "push_publisher: push.broadcast (its trigger takes the broadcast stream's lock as the owner)"
publish "INSERT INTO push.message (recipient, title, kind) VALUES ('gus', 'g3', 'brand-new-kind')"
eq "$(sql "SELECT count(*) FROM push.kind WHERE name = 'brand-new-kind'")" 1 "push_publisher: a new kind is registered (by the trigger, as the owner)"
refused_as "$PUB_ROLE" "SELECT title FROM push.message" "push_publisher may not read messages"
refused_as "$PUB_ROLE" "SELECT * FROM push.unread('gus')" "push_publisher may not read counts"
refused_as "$PUB_ROLE" "UPDATE push.message SET title = 'x'" "push_publisher may not edit messages"
refused_as "$PUB_ROLE" "INSERT INTO push.stream VALUES ('gus2')" "push_publisher may not write push.stream itself"
eq "$(web "SELECT string_agg(title, ',' ORDER BY id) FROM push.messages_after('gus', 0, 0, 10)")" "g1,g2,everyone,g3" "push_reader reads gus's messages"
web "SELECT push.mark_read('gus', $gid)" >/dev/null
web "SELECT push.mark_kind_read('gus', 'brand-new-kind')" >/dev/null
eq "$(web "SELECT string_agg(kind || '=' || n, ',' ORDER BY kind) FROM push.unread('gus')")" "notice=2" "push_reader marks read through the functions"
web "SELECT push.mark_all_read('gus')" >/dev/null
eq "$(web "SELECT count(*) FROM push.unread('gus')")" 0 "... all of it"
web "SELECT push.mqtt_seen('gus'); SELECT push.mqtt_ack('gus', $gid)" >/dev/null
eq "$(web "SELECT push.mqtt_acked('gus')")" "$gid" "push_reader keeps push-mqtt's cursors through the functions"
refused_as "$WEB_ROLE" "INSERT INTO push.message (recipient, title) VALUES ('gus', 'x')" "push_reader may not publish"
refused_as "$WEB_ROLE" "SELECT push.send('gus', 'x')" "push_reader may not call push.send"
refused_as "$WEB_ROLE" "UPDATE push.reader SET read_p = 0" "push_reader may not move a watermark back"
refused_as "$WEB_ROLE" "DELETE FROM push.message_read" "push_reader may not delete read marks"
refused_as "$WEB_ROLE" "UPDATE push.mqtt_cursor SET acked = 0" "push_reader may not move an MQTT cursor back"
refused_as "$WEB_ROLE" "SELECT push.prune()" "push_reader may not prune"

echo "# --- the functions that run as the owner use the schema's objects, never a caller's"
# a caller who may create objects somewhere puts an operator = for text before pg_catalog's in their
# search_path; inside a function running as the owner it would run as the owner (CVE-2018-1058)
sql "CREATE SCHEMA evil; GRANT USAGE, CREATE ON SCHEMA evil TO $PUB_ROLE, $WEB_ROLE;
     CREATE TABLE evil.seen (who text); GRANT INSERT ON evil.seen TO PUBLIC"
publish "CREATE FUNCTION evil.texteq(text, text) RETURNS boolean LANGUAGE sql AS
           'INSERT INTO evil.seen VALUES (current_user) RETURNING \$1 OPERATOR(pg_catalog.=) \$2';
         CREATE OPERATOR evil.= (LEFTARG = text, RIGHTARG = text, FUNCTION = evil.texteq)"
evil() { PGOPTIONS="-c search_path=evil,pg_catalog" PGUSER=$1 psql -qAtX -v ON_ERROR_STOP=1 -c "$2"; }
evil "$PUB_ROLE" "SELECT 'a' = 'a'" >/dev/null
eq "$(sql "SELECT string_agg(who, ',') FROM evil.seen")" "$PUB_ROLE" "(the trap works: the caller's own = runs)"
sql "DELETE FROM evil.seen"
evil "$PUB_ROLE" "INSERT INTO push.message (recipient, title) VALUES ('mallory', 'x')"
evil "$PUB_ROLE" "SELECT push.broadcast('x')" >/dev/null
evil "$WEB_ROLE" "SELECT push.mark_read('mallory', $gid); SELECT push.mark_kind_read('mallory', 'notice');
                  SELECT push.mqtt_seen('mallory'); SELECT push.mqtt_ack('mallory', 1)" >/dev/null
# (the functions that run as the caller may use it: that gives the caller nothing)
eq "$(sql "SELECT count(*) FROM evil.seen WHERE who = current_user")" 0 \
    "publishing and marking read with a caller's operator in the search_path: it never runs as the owner"
sql "SET client_min_messages = warning; DROP SCHEMA evil CASCADE"

echo "# --- a database owner who is not a superuser installs and upgrades the schema; the programs refuse to work as it"
owner="pgpush_owner_$$"
sql "CREATE ROLE $owner LOGIN NOSUPERUSER NOCREATEROLE NOCREATEDB"
PGDATABASE=postgres createdb -O "$owner" "${TEST_DB}_own" || hard_error "cannot create ${TEST_DB}_own"
own() { PGUSER=$owner PGDATABASE="${TEST_DB}_own" psql -qAtX -v ON_ERROR_STOP=1 "$@"; }
own -c "CREATE SCHEMA push; CREATE TABLE push.meta (singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
        schema_version integer NOT NULL DEFAULT 0, content_version bigint NOT NULL DEFAULT 0);
        INSERT INTO push.meta DEFAULT VALUES" -f "$top_srcdir/sql/migrations/0001_init.sql" >/dev/null 2>"$WORK/own-v1.log" \
    || not_ok "version 1 installed by the owner" "$(cat "$WORK/own-v1.log")"
own -c "INSERT INTO push.message (recipient, title) VALUES ('alice', 'from v1')"
own -f "$top_srcdir/sql/install.sql" >"$WORK/own-upgrade.log" 2>&1 && ok "the owner, not a superuser, upgrades it to version 8" \
    || not_ok "the owner upgrades" "$(cat "$WORK/own-upgrade.log")"
eq "$(own -c "SELECT schema_version FROM push.meta")" 8 "... now at version 8"
privs own >"$WORK/privs-own-upgraded"
same_privs "... with exactly the privileges of a fresh install" "$WORK/privs-own-upgraded"
own -c "DROP SCHEMA push CASCADE" 2>/dev/null
own -f "$top_srcdir/sql/install.sql" >"$WORK/own-install.log" 2>&1 && ok "the owner installs it afresh" \
    || not_ok "the owner installs" "$(cat "$WORK/own-install.log")"
privs own >"$WORK/privs-own-fresh"
same_privs "... with exactly the privileges of a superuser's install" "$WORK/privs-own-fresh"
out=$(PGDATABASE="${TEST_DB}_own" PUSH_DATABASE_URL="user=$owner" "$BIN/push-poll" --check 2>&1); rc=$?
check '[ $rc -ne 0 ] && grep -q "refusing to work as \"$owner\", the owner of the pgpush schema" <<<"$out" && grep -q PUSH_ALLOW_OWNER <<<"$out"' \
    "push-poll --check as the schema's owner fails, naming the role and what to do"
sql "CREATE ROLE ${owner}_m LOGIN IN ROLE $owner"
out=$(PGDATABASE="${TEST_DB}_own" PUSH_DATABASE_URL="user=${owner}_m" "$BIN/push-poll" --check 2>&1); rc=$?
check '[ $rc -ne 0 ] && grep -q "refusing to work as \"${owner}_m\", the owner of the pgpush schema (or a member of its owner)" <<<"$out"' \
    "... as a member of the owner's role too"
out=$(PGDATABASE="${TEST_DB}_own" PUSH_DATABASE_URL="user=$owner" PUSH_ALLOW_OWNER=1 "$BIN/push-poll" --check 2>&1); rc=$?
check '[ $rc -eq 0 ] && grep -q "database role $owner (the schema.s owner, allowed by PUSH_ALLOW_OWNER)" <<<"$out"' \
    "... PUSH_ALLOW_OWNER=1 allows it, and --check says so"
out=$(PGDATABASE="${TEST_DB}_own" "$BIN/push-poll" --check 2>&1); rc=$?
check '[ $rc -eq 0 ] && grep -q "database role $WEB_ROLE (neither a superuser nor the schema.s owner)" <<<"$out" && grep -q "privileges: all of push_reader.s" <<<"$out"' \
    "... and as $WEB_ROLE (granted push_reader) it is fine: $(tr '\n' '|' <<<"$out")"
PGDATABASE=postgres dropdb --if-exists "${TEST_DB}_own" >/dev/null 2>&1
sql "DROP ROLE ${owner}_m; DROP ROLE $owner"

echo "# --- a cluster without the roles: an owner who may create roles creates them, one who may not is told who must"
bare=$WORK/bare-pg
"$top_srcdir/tests/lib/pgcluster" start "$bare" >/dev/null 2>"$WORK/bare-pg.log" || hard_error "cannot start a second PostgreSQL: $(cat "$WORK/bare-pg.log")"
HARNESS_PIDS+=("$(head -n 1 "$bare/data/postmaster.pid")")  # stopped with the others if this test ends early
bare() { ( . "$bare/env"; PGUSER=${BARE_USER:-postgres} psql -qAtX -v ON_ERROR_STOP=1 "$@" ); }
bare -d postgres -c "CREATE ROLE site_owner LOGIN NOCREATEROLE" -c "CREATE DATABASE site OWNER site_owner"
eq "$(bare -d postgres -c "SELECT count(*) FROM pg_roles WHERE rolname IN ('push_reader', 'push_publisher')")" 0 "(no roles push_reader and push_publisher in it)"
out=$(BARE_USER=site_owner bare -d site -f "$top_srcdir/sql/install.sql" 2>&1); rc=$?
check '[ $rc -ne 0 ] && grep -q "the role push_reader does not exist, and site_owner may not create roles" <<<"$out"' \
    "an owner without CREATEROLE: install.sql stops, saying which role is missing"
check 'grep -q "CREATE ROLE push_reader NOLOGIN; CREATE ROLE push_publisher NOLOGIN" <<<"$out"' "... and what a database administrator runs"
eq "$(bare -d site -c "SELECT count(*) FROM pg_namespace WHERE nspname = 'push'")" 0 "... before changing anything"
bare -d postgres -c "ALTER ROLE site_owner CREATEROLE"
out=$(BARE_USER=site_owner bare -d site -f "$top_srcdir/sql/install.sql" 2>&1); rc=$?
check '[ $rc -eq 0 ] && grep -q "schema at version 8" <<<"$out"' "an owner with CREATEROLE (not a superuser): install.sql creates the roles and installs"
eq "$(bare -d postgres -c "SELECT string_agg(rolname || ':' || rolcanlogin, ',' ORDER BY rolname) FROM pg_roles WHERE rolname LIKE 'push\_%'")" \
    "push_publisher:false,push_reader:false" "... two roles that cannot log in"
BARE_USER=site_owner privs bare -d site >"$WORK/privs-bare"
same_privs "... with exactly the privileges of the install above" "$WORK/privs-bare"
"$top_srcdir/tests/lib/pgcluster" stop "$bare" >/dev/null 2>&1

echo "# --- Web Push subscriptions (0008_webpush.sql): cursors at the heads, per user, bounded"
K1=$(printf 'B%.0s' $(seq 87)); K2=$(printf 'C%.0s' $(seq 87)); A1=$(printf 'a%.0s' $(seq 22))
wsub() { # wsub USER ENDPOINT [P256DH] [MAX]: push.webpush_subscribe as the programs' role
    web "SELECT push.webpush_subscribe('$1', '$2', '${3:-$K1}', '$A1', 'test-agent', ${4:-10})"
}
sql "DELETE FROM push.message"
sql "INSERT INTO push.message (recipient, title) VALUES ('wp_alice', 'before 1'), ('wp_alice', 'before 2'), (NULL, 'bc before')"
s1=$(wsub wp_alice https://push.example/a1)
eq "$(sql "SELECT sent_p = (SELECT last_id FROM push.stream WHERE recipient = 'wp_alice')
              AND sent_b = (SELECT last_id FROM push.stream WHERE recipient = '') FROM push.webpush_subscription WHERE id = $s1")" t \
    "a new subscription starts at the user's and the broadcasts' heads (no history is pushed)"
eq "$(web "SELECT count(*) FROM push.webpush_due(NULL, 0, 100)")" 0 "... so nothing is due"
sql "INSERT INTO push.message (recipient, title) VALUES ('wp_alice', 'after')"
eq "$(web "SELECT string_agg(recipient, ',') FROM push.webpush_due(NULL, 0, 100)")" wp_alice "a new message makes it due"
eq "$(web "SELECT push.webpush_ack($s1, 'wp_alice', '$A1', 999999, 0)")" t "push.webpush_ack moves the cursor"
web "SELECT push.webpush_ack($s1, 'wp_alice', '$A1', 5, 0)" >/dev/null
eq "$(sql "SELECT sent_p FROM push.webpush_subscription WHERE id = $s1")" 999999 "push.webpush_ack never moves a cursor back"
eq "$(wsub wp_alice https://push.example/a1)" "$s1" "the same endpoint again: the same subscription"
eq "$(sql "SELECT sent_p FROM push.webpush_subscription WHERE id = $s1")" 999999 "... its cursor kept (nothing sent twice)"
wsub wp_bob https://push.example/b1 >/dev/null
wsub wp_bob https://push.example/a1 >/dev/null
eq "$(sql "SELECT recipient || ':' || (sent_p < 999999) FROM push.webpush_subscription WHERE endpoint = 'https://push.example/a1'")" "wp_bob:true" \
    "alice's endpoint registered by bob is bob's now, from bob's heads (not alice's cursor)"
eq "$(web "SELECT push.webpush_ack($s1, 'wp_alice', '$A1', 1000000, 0)")" f "a sender's ack for alice on what is bob's now is refused (it drops what it read for alice)"
eq "$(sql "SELECT sent_p < 999999 FROM push.webpush_subscription WHERE id = $s1")" t "... and moves nothing"
eq "$(web "SELECT push.webpush_unsubscribe('wp_alice', 'https://push.example/b1')")" f "alice cannot remove bob's subscription"
eq "$(sql "SELECT count(*) FROM push.webpush_subscription WHERE recipient = 'wp_bob'")" 2 "... bob still has both"
for i in 1 2 3 4; do wsub wp_carol "https://push.example/c$i" "$K1" 3 >/dev/null; done
eq "$(sql "SELECT string_agg(endpoint, ' ' ORDER BY endpoint) FROM push.webpush_subscription WHERE recipient = 'wp_carol'")" \
    "https://push.example/c2 https://push.example/c3 https://push.example/c4" "past the bound per user, the oldest subscription goes"
eq "$(sql "SELECT count(*) FROM push.webpush_subscription WHERE recipient = 'wp_bob'")" 2 "... and other users' stay"
cs=$(sql "SELECT id FROM push.webpush_subscription WHERE endpoint = 'https://push.example/c2'")
web "SELECT push.webpush_ack($cs, 'wp_carol', '$A1', 999999, 0)" >/dev/null
sql "UPDATE push.webpush_subscription SET sent_p = 0 WHERE endpoint = 'https://push.example/c3'"
wsub wp_carol https://push.example/c2 "$K2" 3 >/dev/null
eq "$(sql "SELECT sent_p < 999999 FROM push.webpush_subscription WHERE endpoint = 'https://push.example/c2'")" t \
    "the same endpoint with new keys starts again at the heads"
eq "$(web "SELECT push.webpush_unsubscribe('wp_carol', 'https://push.example/c4')")" t "a user removes their own subscription"
sql "INSERT INTO push.message (recipient, title) VALUES ('wp_carol', 'for c2')"
web "SELECT push.webpush_failed($cs, 'HTTP 500', 0)" >/dev/null
eq "$(web "SELECT push.webpush_failed($cs, 'HTTP 503', 60000)")" 2 "failures are counted in a row"
eq "$(sql "SELECT last_error || ' ' || (retry_at > now() + interval '50 s') FROM push.webpush_subscription WHERE id = $cs")" "HTTP 503 true" "... with the last reason and when to try again"
eq "$(web "SELECT count(*) FROM push.webpush_due('wp_carol', 0, 100) WHERE id = $cs")" 0 "a subscription waiting after a failure is not due (it holds no place in the sender)"
check '[ -n "$(web "SELECT push.webpush_next_retry()")" ]' "... and the sender learns when to look again"
web "SELECT push.webpush_gone($cs)" >/dev/null
eq "$(sql "SELECT count(*) FROM push.webpush_subscription WHERE id = $cs")" 0 "a gone subscription is removed"
refused "SELECT push.webpush_subscribe('wp_dave', 'https://push.example/d', 'short', '$A1', NULL, 10)" "a malformed p256dh key is refused"
refused "SELECT push.webpush_subscribe('wp_dave', 'https://push.example/d' || repeat('x', 1100), '$K1', '$A1', NULL, 10)" "an endpoint over 1 KiB is refused"
web "SELECT push.webpush_set_key('$K1'); SELECT push.webpush_set_key('$K2')" >/dev/null
eq "$(sql "SELECT count(*) || ' ' || min(public_key) FROM push.webpush_vapid")" "1 $K2" "one VAPID key, the last one set"
refused_as "$WEB_ROLE" "DELETE FROM push.webpush_subscription" "push_reader may not write the subscriptions but through the functions"
refused_as "$PUB_ROLE" "SELECT push.webpush_subscribe('x', 'https://push.example/x', '$K1', '$A1', NULL, 10)" "push_publisher may not register subscriptions"

echo "# --- the programs check the schema version"
sql "UPDATE push.meta SET schema_version = 99"
out=$("$BIN/push-poll" --check 2>&1); rc=$?
check '[ $rc -ne 0 ] && grep -q "version 99" <<<"$out"' "push-poll --check refuses schema version 99"
sql "UPDATE push.meta SET schema_version = 3"
out=$("$BIN/push-poll" --check 2>&1); rc=$?
check '[ $rc -ne 0 ] && grep -q "version 3, these programs need 8" <<<"$out"' "push-poll --check refuses version 3: run install.sql"
sql "UPDATE push.meta SET schema_version = 8"
out=$("$BIN/push-poll" --check 2>&1); rc=$?
check '[ $rc -eq 0 ]' "push-poll --check accepts version 8"
out=$(PUSH_LIMIT_MAX=5000 "$BIN/push-poll" --check 2>&1); rc=$?
check '[ $rc -ne 0 ] && grep -q "PUSH_LIMIT_MAX" <<<"$out"' "bad configuration fails at start, naming the variable"
out=$(PUSH_TOKEN_SECRET=short "$BIN/push-poll" 2>&1 </dev/null); rc=$?
check '[ $rc -ne 0 ] && grep -q "PUSH_TOKEN_SECRET" <<<"$out"' "short secret fails at start"

harness_done
