#!/usr/bin/env bash
# test-model.sh: every user's read state against a reference model (tests/model/readstate.py), through
# every write path (the SQL functions, push-poll's POST behind nginx, push-ws commands, an admin's plain
# SQL), with an SSE stream, a WebSocket and an MQTT subscriber (Mosquitto and push-mqtt) per user held
# to the same model.
#
# MODEL_STEPS (default 300) steps per seed; MODEL_SEEDS (default: two fixed seeds and a random one,
# printed) the seeds. A long run: tests/model/run --steps 100000.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib/harness.sh"
[ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import psycopg2' 2>/dev/null \
    || hard_error "python3 and python3-psycopg2 are not installed (tests/run installs them)"
[ -x "$DAEMONS/push-ws" ] || hard_error "$DAEMONS/push-ws is not built"
harness_database
. "$top_srcdir/tests/lib/mqtt.sh"
start_broker
start_bridge || hard_error "push-mqtt did not log in to the broker: $(tail -n 5 "$WORK/push-mqtt.log")"
SOCK=ext start_daemon push-poll PUSH_LOG_LEVEL=info
# streams end every 4 s: the SSE clients resume with Last-Event-ID, as an EventSource does
start_daemon push-sse PUSH_HEARTBEAT=2 PUSH_LIFETIME=4 PUSH_LOG_LEVEL=info
harness_nginx
PUSHWS_PORT=""
for _ in 1 2 3; do  # a port taken between free_port and bind: try another
    PUSHWS_PORT=$(free_port)
    env PUSH_TOKEN_SECRET="$SECRET" PUSH_LOG_LEVEL=info "$DAEMONS/push-ws" --listen "127.0.0.1:$PUSHWS_PORT" 2>>"$WORK/push-ws.log" &
    pid=$!
    HARNESS_PIDS+=($pid)
    for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$PUSHWS_PORT") 2>/dev/null && break; sleep 0.05; done
    kill -0 "$pid" 2>/dev/null && break
done
(exec 3<>"/dev/tcp/127.0.0.1/$PUSHWS_PORT") 2>/dev/null || hard_error "push-ws did not start: $(tail -n 5 "$WORK/push-ws.log")"

# isolation: two users with prior read state (watermarks, single marks, kind marks); each write of
# one, through each path, leaves the other's untouched
/usr/bin/python3 "$top_srcdir/tests/model/readstate.py" --isolation \
    --base "http://127.0.0.1:$NPORT" --ws "127.0.0.1:$PUSHWS_PORT" --bin "$TOOLS" --secret "$SECRET" --mqtt "$MQTT_PORT" \
    >"$WORK/isolation.out" 2>&1
n=0
while IFS= read -r line; do
    case $line in
        "PASS "*) ok "${line#PASS }"; n=$((n + 1)) ;;
        "FAIL "*) line=${line#FAIL }; not_ok "${line%%: *}" "${line#*: }"; n=$((n + 1)) ;;
        *) echo "# $line" ;;
    esac
done <"$WORK/isolation.out"
check '[ "$n" -ge 50 ]' "the isolation cases all ran ($n)"

steps=${MODEL_STEPS:-300}
seeds=${MODEL_SEEDS:-"1 2 $(( RANDOM * 32768 + RANDOM ))"}
for seed in $seeds; do
    /usr/bin/python3 "$top_srcdir/tests/model/readstate.py" --steps "$steps" --seed "$seed" \
        --base "http://127.0.0.1:$NPORT" --ws "127.0.0.1:$PUSHWS_PORT" --bin "$TOOLS" --secret "$SECRET" --mqtt "$MQTT_PORT" \
        ${MODEL_ARGS:-} >"$WORK/model-$seed.out" 2>&1
    rc=$?
    sed 's/^/# /; s/^# # /# /' "$WORK/model-$seed.out"
    eq "$rc" 0 "seed $seed: $steps random steps, every user's counts, lists, read flags, push-poll answers and live SSE, WebSocket and MQTT clients equal the model"
done
harness_done
