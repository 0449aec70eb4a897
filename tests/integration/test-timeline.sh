#!/usr/bin/env bash
# test-timeline.sh: the id jump on a new timeline (sql/migrations/0006_timeline.sql, README
# "Failover"), against a real primary and a real streaming standby of it, both private to this test:
# - no jump without a fork: across a restart of the primary, ids go on one by one;
# - push.jump() is the owner's alone, and moves the ids and content_version by 1,000,000,000;
# - the attack: the primary fails and its standby, which never received the last 500 messages, is
#   promoted; a publisher's transaction takes the jump and stays open while six more publishers
#   INSERT (they wait on push.history's row), then as fast as they can. None of their messages
#   gets an id of the lost history, and the jump happens exactly once (the row lock and the second
#   look under it: tests/mutate.d/mutants: timeline-jump-recheck-skipped);
# - the programs' role may follow the timeline (a second call changes nothing), a publisher may not.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib/harness.sh"
unset PUSH_TEST_PGENV
harness_database
STANDBY=$WORK/standby
harness_standby "$STANDBY" S
ssql() { psql -h "$SHOST" -p "$SPORT" -U postgres -d "$PGDATABASE" -qAtX -c "$1"; }
as_role() { local r=$1; shift; PGUSER=$r psql -qAtX -c "$1" 2>&1; }

echo "# --- no fork, no jump"
eq "$(sql "SELECT timeline, jumps FROM push.history")" "1|0" "push.history: timeline 1, no jump"
a=$(publish "INSERT INTO push.message (recipient, title) VALUES ('alice', 'a') RETURNING id")
"$top_srcdir/tests/lib/pgcluster" restart "$PRIVATE_PG" >/dev/null || hard_error "the primary did not restart"
b=$(publish "INSERT INTO push.message (recipient, title) VALUES ('alice', 'b') RETURNING id")
check "[ $((b - a)) -ge 1 ] && [ $((b - a)) -le 33 ]" "across a restart of the primary the ids go on ($a, then $b: a sequence logs 32 ahead)"
eq "$(sql "SELECT timeline, jumps FROM push.history")" "1|0" "... with no jump"

echo "# --- push.jump(), the owner's"
out=$(as_role "$PUB_ROLE" "SELECT push.jump()")
check 'grep -q "permission denied" <<<"$out"' "a publisher may not call push.jump()"
out=$(as_role "$WEB_ROLE" "SELECT push.jump()")
check 'grep -q "permission denied" <<<"$out"' "nor may the programs' role"
cv=$(sql "SELECT content_version FROM push.meta")
sql "SELECT push.jump()" >/dev/null
c=$(publish "INSERT INTO push.message (recipient, title) VALUES ('alice', 'c') RETURNING id")
check "[ $c -gt $((b + 1000000000 - 1)) ]" "the owner's push.jump() moves the ids by 1,000,000,000 ($b, then $c)"
eq "$(sql "SELECT content_version - $cv, jumps FROM push.history, push.meta")" "1000000000|1" "... and content_version likewise, counted in push.history"

echo "# --- publishers racing the jump after a promotion"
for _ in $(seq 1 100); do [ "$(ssql "SELECT pg_last_wal_replay_lsn() >= '$(sql "SELECT pg_current_wal_insert_lsn()")'")" = t ] && break; sleep 0.05; done
ssql "ALTER SYSTEM SET primary_conninfo = ''" >/dev/null
ssql "SELECT pg_reload_conf()" >/dev/null
for _ in $(seq 1 100); do [ "$(ssql "SELECT count(*) FROM pg_stat_wal_receiver")" = 0 ] && break; sleep 0.05; done
publish "INSERT INTO push.message (recipient, title) SELECT 'u' || (g % 7), 'lost' FROM generate_series(1, 500) g"
lost_max=$(sql "SELECT max(id) FROM push.message")
eq "$(ssql "SELECT count(*) FROM push.message WHERE title = 'lost'")" 0 "(the standby has none of the last 500)"
"$top_srcdir/tests/lib/pgcluster" stop "$PRIVATE_PG" >/dev/null
eq "$(ssql "SELECT pg_promote()")" t "the standby is promoted"
# the first publisher's transaction takes the jump and stays open 2 s; six more INSERT meanwhile
# (they wait on push.history's row, then must see the jump done), then as fast as they can
PGHOST=$SHOST PGPORT=$SPORT PGUSER=$PUB_ROLE psql -qAtX -v ON_ERROR_STOP=1 \
    -c "BEGIN" -c "INSERT INTO push.message (recipient, title) VALUES ('u0', 'new')" \
    -c "SELECT pg_sleep(2)" -c "COMMIT" >/dev/null 2>"$WORK/slow.log" &
slow=$!
sleep 0.5
pids=()
for p in 1 2 3 4 5 6; do
    ( end=$((SECONDS + 5))
      while [ $SECONDS -lt $end ]; do
          PGHOST=$SHOST PGPORT=$SPORT PGUSER=$PUB_ROLE psql -qAtX -c "INSERT INTO push.message (recipient, title) VALUES ('u$p', 'new')" >/dev/null 2>&1
      done ) &
    pids+=($!)
done
wait "$slow" && ok "the first publisher's transaction commits" || not_ok "the first publisher's transaction commits" "$(cat "$WORK/slow.log")"
wait "${pids[@]}"
n=$(ssql "SELECT count(*) FROM push.message WHERE title = 'new'")
check "[ $n -gt 20 ]" "... $n of their INSERTs committed on the new primary"
eq "$(ssql "SELECT count(*) FROM push.message WHERE title = 'new' AND id <= $lost_max")" 0 \
    "none of them got an id of the lost history (up to $lost_max): the first is $(ssql "SELECT min(id) FROM push.message WHERE title = 'new'")"
eq "$(ssql "SELECT timeline, jumps FROM push.history")" "2|2" "push.history: timeline 2, one jump more, however many raced"
eq "$(PGHOST=$SHOST PGPORT=$SPORT PGUSER=$WEB_ROLE psql -qAtX -c "SELECT push.follow_timeline()" 2>&1)" 2 \
    "the programs' role follows the timeline (as the programs do when they connect their LISTEN)"
eq "$(ssql "SELECT jumps FROM push.history")" 2 "... which changes nothing once done"
out=$(PGHOST=$SHOST PGPORT=$SPORT PGUSER=$PUB_ROLE psql -qAtX -c "SELECT push.follow_timeline()" 2>&1)
check 'grep -q "permission denied" <<<"$out"' "a publisher may not call it (its INSERTs do, through the trigger)"
harness_done
