# mqtt.sh: sourced after harness.sh: a real Mosquitto with the pgpush plugin, and push-mqtt
#
# Provides:
#   start_broker    mosquitto from conf/mosquitto.conf (this test's paths, free ports: MQTT_PORT for
#                   MQTT, WS_PORT for MQTT over WebSockets; the same ports again after a restart);
#                   MOSQ_PID, log in $WORK/mosquitto.log
#   start_bridge    push-mqtt logging in with BRIDGE_PASSWORD; BRIDGE_PID, log in $WORK/push-mqtt.log;
#                   its status listener on the unix socket $MQTT_STATUS (PUSH_MQTT_STATUS_LISTEN)
# The plugin takes tokens signed with the harness's $SECRET.

for tool in mosquitto mosquitto_sub mosquitto_pub; do
    command -v "$tool" >/dev/null || hard_error "$tool is not installed (tests/lib/install-deps installs it)"
done
PLUGIN=$top_builddir/mosquitto/pgpush_auth.so
[ -f "$PLUGIN" ] || hard_error "$PLUGIN is not built"
[ -x "$DAEMONS/push-mqtt" ] || hard_error "$DAEMONS/push-mqtt is not built"

BRIDGE_PASSWORD=bridge-password-0123456789
printf '%s\n' "$SECRET" >"$WORK/token-secret"
printf '%s\n' "$BRIDGE_PASSWORD" >"$WORK/bridge-password"
chmod 600 "$WORK/token-secret" "$WORK/bridge-password"
mkdir -p "$WORK/mosquitto"
MOSQ_PID=""
BRIDGE_PID=""
MQTT_PORT=""
WS_PORT=""
MQTT_STATUS=$WORK/push-mqtt-status.sock

start_broker() {
    [ -n "$MQTT_PORT" ] || { MQTT_PORT=$(free_port); WS_PORT=$(free_port); }
    sed -e "s|^listener 1883 .*|listener $MQTT_PORT 127.0.0.1|" \
        -e "s|^listener 8083 .*|listener $WS_PORT 127.0.0.1|" \
        -e "s|^persistence_location .*|persistence_location $WORK/mosquitto/|" \
        -e "s|^plugin /.*|plugin $PLUGIN|" \
        -e "s|^plugin_opt_token_secret_file .*|plugin_opt_token_secret_file $WORK/token-secret|" \
        -e "s|^plugin_opt_bridge_password_file .*|plugin_opt_bridge_password_file $WORK/bridge-password|" \
        -e "s|^log_dest .*|log_dest stderr|" \
        "$top_srcdir/conf/mosquitto.conf" >"$WORK/mosquitto.conf"
    # as root mosquitto would switch to the user mosquitto, who cannot read this test's files
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

# start_bridge [--no-wait]: waits (up to 10 s) for it to log in to the broker, unless told not to
start_bridge() {
    local seen
    seen=$(grep -c "connected to the MQTT broker" "$WORK/push-mqtt.log" 2>/dev/null)
    [ -n "$MQTT_PORT" ] || { MQTT_PORT=$(free_port); WS_PORT=$(free_port); }
    env PUSH_MQTT_PORT="$MQTT_PORT" PUSH_MQTT_PASSWORD_FILE="$WORK/bridge-password" PUSH_MQTT_STATUS_LISTEN="$MQTT_STATUS" \
        PUSH_LOG_LEVEL=debug "$DAEMONS/push-mqtt" 2>>"$WORK/push-mqtt.log" &
    BRIDGE_PID=$!
    HARNESS_PIDS+=($!)
    [ "${1:-}" = --no-wait ] && return 0
    for _ in $(seq 1 100); do
        [ "$(grep -c "connected to the MQTT broker" "$WORK/push-mqtt.log")" -gt "${seen:-0}" ] && return 0
        sleep 0.1
    done
    return 1
}
