#!/usr/bin/env bash
# bench/wakeup.sh: what each wake-up channel for memory-first delivery costs (issue 14), in one run, one markdown table
#
#   bench/wakeup.sh [--quick] [--reps N] [--duration S] [--keep-logs]
#
# Starts a private PostgreSQL (tests/lib/pgcluster, var/bench-wakeup-pg; wal_level=logical,
# max_replication_slots=32, max_wal_senders=32), a database pgpush_wakeup holding the schema
# (sql/install.sql) and bench/wakeup.sql, and builds bench/wakeup-probe into var/. Then, once with
# fsync=off and once with fsync=on (full_page_writes the same; synchronous_commit on), for each
# variant of what an INSERT into push.message does to wake the programs:
#   a        nothing (the floor: the INSERT with its BEFORE trigger drawing the id)
#   b        today's NOTIFY 'u:<user>'; its listener then reads the new rows
#   b x16    b with 16 listening processes, each reading (a FastCGI site's 16 processes today)
#   c        NOTIFY per row carrying the row as plaintext JSON
#   d        the same JSON sealed (AES-256-CBC with a random IV, then HMAC-SHA256; pgcrypto)
#   d x16    d with 16 listening processes (a FastCGI site's 16 processes)
#   e x1/4/16  no NOTIFY; 1, 4 or 16 logical decoding consumers (pg_recvlogical, test_decoding),
#            each with its own slot
# it measures:
#   publish  pgbench -n -c 4 -j 2 -T 10 -f insert.sql (a single-row INSERT: recipient, kind, a
#            40-byte title, a 200-byte body), with the variant's consumers attached; N times
#            (default 3): median and min-max of messages/s
#   CPU      PostgreSQL's CPU seconds per 10,000 messages during those runs (utime+stime of the
#            postmaster, its children, walsenders included, and of the children it reaped), median
#   latency  bench/wakeup-probe at 500 messages/s for 5 s: from the clock read just before the INSERT
#            (the microseconds are in the title) to the receiver having the message: p50/p99
# and, once, what a role that may only connect (wake_nosy) gets from each channel.
# Everything it starts is stopped on exit or Ctrl-C; the slots it made are dropped. About 14
# minutes on a 2-core machine; --quick (1 run of 2 s each, 1 s of latency) about 3 minutes.
#
#   --quick       1 repetition, 2 s of pgbench, 1 s of latency
#   --reps N      throughput repetitions (default 3)
#   --duration S  seconds of pgbench per run (default 10)
#   --keep-logs   keep var/bench-wakeup-run (kept anyway when something failed)
set -euo pipefail

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }

reps=3 duration=10 lat_seconds=5 keep=0
while [ $# -gt 0 ]; do
    case $1 in
        --help|-h) usage; exit 0 ;;
        --quick) reps=1 duration=2 lat_seconds=1 ;;
        --reps) reps=${2:?--reps needs a number}; shift ;;
        --duration) duration=${2:?--duration needs seconds}; shift ;;
        --keep-logs) keep=1 ;;
        *) echo "wakeup.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done

top_srcdir=$(cd "$(dirname "$0")/.." && pwd)
PGDIR=$top_srcdir/var/bench-wakeup-pg
WORK=$top_srcdir/var/bench-wakeup-run
PROBE=$top_srcdir/var/wakeup-probe
DB=pgpush_wakeup
say() { printf '%s\n' "$*" >&2; }
die() { say "wakeup.sh: $*"; exit 1; }
for t in pgbench pg_recvlogical psql cc pkg-config; do
    command -v "$t" >/dev/null || die "$t not found"
done

# --- what we start, stopped on the way out

PIDS=()
PG_STARTED=0
done_ok=0
cleanup() {
    trap - EXIT INT TERM
    local p
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    if [ "$PG_STARTED" = 1 ]; then
        drop_slots || true
        "$top_srcdir/tests/lib/pgcluster" stop "$PGDIR" >/dev/null 2>&1 || true
    fi
    if [ "$keep" = 1 ] || [ "$done_ok" = 0 ]; then say "# logs in $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'say "wakeup.sh: stopped"; exit 130' INT
trap 'exit 143' TERM

stop_started() { # stop every background process started so far
    local p
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    PIDS=()
}

sql() { psql -qAtX -v ON_ERROR_STOP=1 -d "$DB" -c "$1"; }

drop_slots() { # our slots, once their walsenders have gone
    local left
    for _ in $(seq 1 50); do
        left=$(psql -qAtX -d "$DB" \
            -c "SELECT count(pg_drop_replication_slot(slot_name)) FROM pg_replication_slots WHERE slot_name LIKE 'wk\_%' AND NOT active" \
            -c "SELECT count(*) FROM pg_replication_slots WHERE slot_name LIKE 'wk\_%'" 2>/dev/null | tail -n 1) || left=1
        [ "$left" = 0 ] && return 0
        sleep 0.1
    done
    say "wakeup.sh: slots still active"
    return 1
}

# --- PostgreSQL

mkdir -p "$WORK"
# shellcheck disable=SC2046 # pkg-config gives several words
cc -O2 -Wall -o "$PROBE" "$top_srcdir/bench/wakeup-probe.c" \
    $(pkg-config --cflags --libs libpq libcrypto) -lpthread || die "cannot build bench/wakeup-probe"

start_pg() { # start_pg on|off
    "$top_srcdir/tests/lib/pgcluster" stop "$PGDIR" >/dev/null 2>&1 || true
    PGCLUSTER_OPTIONS="-c fsync=$1 -c full_page_writes=$1 -c synchronous_commit=on -c wal_level=logical -c max_replication_slots=32 -c max_wal_senders=32" \
        "$top_srcdir/tests/lib/pgcluster" start "$PGDIR" >/dev/null || die "cannot start PostgreSQL in $PGDIR"
    PG_STARTED=1
    # shellcheck disable=SC1091
    . "$PGDIR/env"
    unset PGAPPNAME
    export PGDATABASE=$DB PGOPTIONS="-c client_min_messages=warning"
    [ "$(psql -qAtX -d postgres -c 'SHOW fsync')" = "$1" ] || die "fsync is not $1"
    PG_MASTER=$(head -n 1 "$PGDATA/postmaster.pid")
}

setup_db() {
    psql -qAtX -d postgres -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null
    psql -qAtX -d postgres -c "CREATE DATABASE $DB" >/dev/null
    psql -qX -v ON_ERROR_STOP=1 -d "$DB" -f "$top_srcdir/sql/install.sql" >"$WORK/install.log" 2>&1 \
        || { cat "$WORK/install.log" >&2; die "schema install failed"; }
    psql -qX -v ON_ERROR_STOP=1 -d "$DB" -f "$top_srcdir/bench/wakeup.sql" >>"$WORK/install.log" 2>&1 \
        || { cat "$WORK/install.log" >&2; die "bench/wakeup.sql failed"; }
    KEYS=$(sql "SELECT encode(enc, 'hex') || ':' || encode(mac, 'hex') FROM push.wake_key")
    # the publishing statement: a message shaped like a site's (title 40 bytes, body 200)
    cat >"$WORK/insert.sql" <<SQL
\\set u random(1, 1000)
INSERT INTO push.message (recipient, kind, title, body) VALUES ('u' || :u, 'notice', '$(printf 't%.0s' $(seq 1 40))', '$(printf 'b%.0s' $(seq 1 200))');
SQL
}

set_trigger() { # set_trigger FUNCTION|none
    sql "DROP TRIGGER IF EXISTS message_inserted ON push.message" >/dev/null
    [ "$1" = none ] && return 0
    sql "CREATE TRIGGER message_inserted AFTER INSERT ON push.message REFERENCING NEW TABLE AS new_rows
         FOR EACH STATEMENT EXECUTE FUNCTION push.$1()" >/dev/null
}

# PostgreSQL's CPU ticks: the postmaster (with the children it reaped) and its living children
pg_ticks() {
    local kids
    kids=$(cat /proc/"$PG_MASTER"/task/*/children 2>/dev/null || true)
    {
        sed 's/^.*) //' "/proc/$PG_MASTER/stat" | awk '{print $12 + $13 + $14 + $15}'
        for k in $kids; do sed 's/^.*) //' "/proc/$k/stat" 2>/dev/null | awk '{print $12 + $13}' || true; done
    } | awk '{s += $1} END {print s}'
}
HZ=$(getconf CLK_TCK)

# --- the variants: trigger function, probe mode, listeners, decoding consumers
variant_fn()   { case $1 in a|e*) echo none ;; b*) echo message_inserted ;; c) echo wake_json ;; d*) echo wake_sealed ;; esac; }
variant_via()  { case $1 in a) echo "" ;; b*) echo ids ;; c) echo json ;; d*) echo sealed ;; e*) echo decode ;; esac; }
variant_n()    { case $1 in a) echo 0 ;; b|c|d) echo 1 ;; b16|d16) echo 16 ;; e1) echo 1 ;; e4) echo 4 ;; e16) echo 16 ;; esac; }
variant_name() {
    case $1 in
        a) echo "a: plain INSERT (no wake-up)" ;;
        b) echo "b: NOTIFY ids only + read (today)" ;;
        b16) echo "b: NOTIFY ids only + read, 16 listeners" ;;
        c) echo "c: NOTIFY plaintext JSON" ;;
        d) echo "d: NOTIFY sealed JSON" ;;
        d16) echo "d: NOTIFY sealed JSON, 16 listeners" ;;
        e1) echo "e: logical decoding, 1 slot" ;;
        e4) echo "e: logical decoding, 4 slots" ;;
        e16) echo "e: logical decoding, 16 slots" ;;
    esac
}
VARIANTS="a b b16 c d d16 e1 e4 e16"
SLOTSEQ=0

# start_consumers VARIANT N: N listeners or N decoding consumers in the background
start_consumers() {
    local v=$1 n=$2 via i slot
    via=$(variant_via "$v")
    for ((i = 0; i < n; i++)); do
        if [ "$via" = decode ]; then
            SLOTSEQ=$((SLOTSEQ + 1))
            slot=wk_$$_$SLOTSEQ
            sql "SELECT 1 FROM pg_create_logical_replication_slot('$slot', 'test_decoding')" >/dev/null
            pg_recvlogical -d "$DB" -S "$slot" --start -f /dev/null -F 0 -s 1 -n 2>>"$WORK/recvlogical.log" &
        else
            "$PROBE" listen --via "$via" >>"$WORK/listen.log" 2>&1 &
        fi
        PIDS+=($!)
    done
}

# the walsenders have sent everything written so far (up to 30 s)
wait_decoded() {
    local lsn
    lsn=$(sql "SELECT pg_current_wal_lsn()")
    for _ in $(seq 1 300); do
        [ "$(sql "SELECT count(*) FROM pg_stat_replication WHERE sent_lsn < '$lsn'")" = 0 ] && return 0
        sleep 0.1
    done
    say "wakeup.sh: decoding still behind after 30 s"
}

fresh_table() {
    sql "TRUNCATE push.message, push.message_read" >/dev/null
    sql "CHECKPOINT" >/dev/null
}

# throughput VARIANT REP -> appends "fsync variant rep tps n cpu_s" to $WORK/tput
throughput() {
    local v=$1 rep=$2 n t0 t1 out tps cnt
    fresh_table
    set_trigger "$(variant_fn "$v")"
    start_consumers "$v" "$(variant_n "$v")"
    sleep 1
    t0=$(pg_ticks)
    out=$(pgbench -n -c 4 -j 2 -T "$duration" -f "$WORK/insert.sql" "$DB" 2>&1) \
        || { echo "$out" >&2; die "pgbench failed ($v)"; }
    case $v in e*) wait_decoded ;; *) sleep 0.5 ;; esac
    t1=$(pg_ticks)
    stop_started
    drop_slots
    tps=$(echo "$out" | sed -n 's/^tps = \([0-9.]*\) (without.*/\1/p')
    cnt=$(echo "$out" | sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p')
    [ -n "$tps" ] && [ -n "$cnt" ] || { echo "$out" >&2; die "no pgbench result ($v)"; }
    echo "$FSYNC $v $rep $tps $cnt $(awk -v d=$((t1 - t0)) -v hz="$HZ" -v n="$cnt" 'BEGIN {printf "%.2f", d / hz / n * 10000}')" >>"$WORK/tput"
    say "  $FSYNC $v run $rep: $tps msg/s, $cnt messages, $(tail -n 1 "$WORK/tput" | awk '{print $6}') CPU s/10k"
}

# latency VARIANT -> appends "fsync variant p50 p99 received/sent" to $WORK/lat
latency() {
    local v=$1 n via slot cmd="" out
    via=$(variant_via "$v")
    n=$(variant_n "$v")
    fresh_table
    set_trigger "$(variant_fn "$v")"
    start_consumers "$v" $((n - 1))
    if [ "$via" = decode ]; then
        SLOTSEQ=$((SLOTSEQ + 1))
        slot=wk_$$_$SLOTSEQ
        sql "SELECT 1 FROM pg_create_logical_replication_slot('$slot', 'test_decoding')" >/dev/null
        cmd="exec pg_recvlogical -d $DB -S $slot --start -f - -F 0 -s 1 -n 2>>$WORK/recvlogical.log"
    fi
    sleep 0.5
    out=$("$PROBE" latency --via "$via" --rate 500 --seconds "$lat_seconds" --keys "$KEYS" --decode-cmd "${cmd:-none}") \
        || die "wakeup-probe failed ($v)"
    stop_started
    drop_slots
    echo "$out" >>"$WORK/latency.log"
    echo "$FSYNC $v $(echo "$out" | sed 's/^sent=\([0-9]*\) received=\([0-9]*\) p50_ms=\([0-9.]*\) p99_ms=\([0-9.]*\).* insert_p50_ms=\([0-9.]*\) bad=\([0-9]*\)/\3 \4 \2\/\1 \5 \6/')" >>"$WORK/lat"
    say "  $FSYNC $v latency: $out"
}

# what a role that may only connect gets (run once, fsync=off)
privileges() {
    local v out
    : >"$WORK/priv"
    for v in b c d; do
        set_trigger "$(variant_fn "$v")"
        psql -X -U wake_nosy -d "$DB" -c "LISTEN pgpush" -c "SELECT pg_sleep(1.5)" -c "SELECT 1" \
            >"$WORK/nosy-$v.out" 2>&1 &
        PIDS+=($!)
        sleep 0.7
        sql "INSERT INTO push.message (recipient, title, body) VALUES ('alice', 'secret-title-$v', 'secret body')" >/dev/null
        stop_started_wait
        out=$(grep -o 'with payload "[^"]*' "$WORK/nosy-$v.out" | head -n 1 || true)
        if [ -z "$out" ]; then echo "$v nothing" >>"$WORK/priv"
        elif grep -q "secret-title-$v" "$WORK/nosy-$v.out"; then echo "$v content" >>"$WORK/priv"
        elif [ "$v" = b ]; then echo "$v user" >>"$WORK/priv"
        else echo "$v ciphertext" >>"$WORK/priv"
        fi
    done
    # the table, the keys, a logical slot (by SQL and by a replication connection)
    out=""
    psql -qAtX -U wake_nosy -d "$DB" -c "SELECT 1 FROM push.message LIMIT 1" >/dev/null 2>&1 && out="$out message-readable"
    psql -qAtX -U wake_nosy -d "$DB" -c "SELECT 1 FROM push.wake_key" >/dev/null 2>&1 && out="$out keys-readable"
    psql -qAtX -U wake_nosy -d "$DB" -c "SELECT pg_create_logical_replication_slot('wk_nosy', 'test_decoding')" \
        >"$WORK/nosy-slot.out" 2>&1 && out="$out slot-by-sql"
    pg_recvlogical -U wake_nosy -d "$DB" -S wk_nosy2 --create-slot >>"$WORK/nosy-slot.out" 2>&1 && out="$out slot-by-replication"
    drop_slots
    psql -qAtX -d "$DB" -c "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name LIKE 'wk_nosy%'" >/dev/null
    echo "extra ${out:-none}" >>"$WORK/priv"
}
stop_started_wait() { # wait for the background psql sessions to end by themselves
    local p
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    PIDS=()
}

# --- the run

load_before=$(uptime)
say "# $load_before"
: >"$WORK/tput"
: >"$WORK/lat"
for FSYNC in off on; do
    start_pg "$FSYNC"
    if [ "$FSYNC" = off ]; then
        setup_db
        privileges
    else
        KEYS=$(sql "SELECT encode(enc, 'hex') || ':' || encode(mac, 'hex') FROM push.wake_key")
    fi
    say "# fsync=$FSYNC"
    for rep in $(seq 1 "$reps"); do
        for v in $VARIANTS; do throughput "$v" "$rep"; done
    done
    for v in $VARIANTS; do [ "$v" = a ] || latency "$v"; done
done
load_after=$(uptime)

# --- the table

stat() { # stat FSYNC VARIANT COLUMN -> "median (min-max)"
    awk -v f="$1" -v v="$2" -v c="$3" '$1 == f && $2 == v {print $c}' "$WORK/tput" | sort -g | awk -v fmt="$4" '
        {x[NR] = $1} END {if (NR == 0) {print "-"; exit}
            m = (NR % 2) ? x[(NR + 1) / 2] : (x[NR / 2] + x[NR / 2 + 1]) / 2
            if (NR == 1) printf fmt "\n", m; else printf fmt " (" fmt "-" fmt ")\n", m, x[1], x[NR]}'
}
lat() { # lat FSYNC VARIANT -> "p50 / p99", and what was missing or did not check out
    awk -v f="$1" -v v="$2" '$1 == f && $2 == v {
        split($5, g, "/"); s = $3 " / " $4; if (g[1] != g[2]) s = s " (got " $5 ")"
        if ($7 != 0) s = s " (" $7 " bad)"; print s; found = 1} END {if (!found) print "-"}' "$WORK/lat"
}
priv() {
    case $1 in
        a) echo "nothing to see" ;;
        b*) [ "$(awk '$1 == "b" {print $2}' "$WORK/priv")" = user ] && echo "LISTEN: recipients' names" || awk '$1 == "b" {print "LISTEN: " $2}' "$WORK/priv" ;;
        c) [ "$(awk '$1 == "c" {print $2}' "$WORK/priv")" = content ] && echo "LISTEN: **the whole message**" || awk '$1 == "c" {print "LISTEN: " $2}' "$WORK/priv" ;;
        d*) [ "$(awk '$1 == "d" {print $2}' "$WORK/priv")" = ciphertext ] && echo "LISTEN: ciphertext only (keys not readable)" || awk '$1 == "d" {print "LISTEN: " $2}' "$WORK/priv" ;;
        e*) grep -q slot "$WORK/priv" && echo "**could make a slot**" || echo "cannot make a slot (needs REPLICATION)" ;;
    esac
}

echo
echo "| variant | msg/s fsync=off | msg/s fsync=on | PG CPU s/10k off | PG CPU s/10k on | latency p50 / p99 ms, off | latency p50 / p99 ms, on | a CONNECT-only role |"
echo "|---|---|---|---|---|---|---|---|"
for v in $VARIANTS; do
    printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "$(variant_name "$v")" \
        "$(stat off "$v" 4 %.0f)" "$(stat on "$v" 4 %.0f)" "$(stat off "$v" 6 %.2f)" "$(stat on "$v" 6 %.2f)" \
        "$(lat off "$v")" "$(lat on "$v")" "$(priv "$v")"
done
echo
echo "msg/s: pgbench -n -c 4 -j 2 -T $duration -f insert.sql, median (min-max) of $reps; PG CPU: median of the same runs."
echo "latency: bench/wakeup-probe at 500 msg/s for $lat_seconds s, from just before the INSERT to the receiver having the message."
echo "CONNECT-only role: $(awk '$1 == "extra" {$1 = ""; print}' "$WORK/priv" | sed 's/^ //;s/^none$/cannot read push.message, cannot read push.wake_key, cannot create a logical slot (SQL or replication connection)/')"
echo "before: $load_before"
echo "after:  $load_after"
done_ok=1
