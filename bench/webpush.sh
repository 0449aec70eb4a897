#!/usr/bin/env bash
# bench/webpush.sh: what a Web Push costs push-webpush (README "Web Push"), one markdown table
#
#   bench/webpush.sh [--subs N] [--reps N] [--busy] [--keep-logs]
#
# Starts a private PostgreSQL (var/bench-webpush-pg, a site's history from bench/lib.sh), the local
# push service of the tests (tests/webpush/push-service.mjs: HTTPS with HTTP/2, each push decrypted
# with http_ece, its VAPID JWT verified with jose, and written to its log with an fsync before it
# answers 201), N subscriptions (default 500) of N users, and push-webpush with no rate bound. Then,
# --reps times (default 3), a broadcast: one push to every subscription, each encrypted for its
# browser (a fresh P-256 key pair, ECDH, HKDF, AES-128-GCM) and signed. Per run: the time from the
# INSERT to the last push accepted (pushes/s), and the CPU time push-webpush and the push service
# took (from /proc: utime + stime), per push. The push service does far more per push (decryption,
# verification, an fsync) than a real one shows a sender: the pushes/s is a floor set by it; the CPU
# per push is push-webpush's own.
#
#   --subs N      subscriptions (default 500, 10-5000)
#   --reps N      repetitions (default 3)
#   --busy        a CPU burner on one core all along (a busy server)
#   --keep-logs   keep var/bench-webpush-run
set -euo pipefail

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }
subs=500 reps=3 busy=0 keep=0
while [ $# -gt 0 ]; do
    case $1 in
        --help|-h) usage; exit 0 ;;
        --subs) subs=${2:?--subs needs a number}; shift ;;
        --reps) reps=${2:?--reps needs a number}; shift ;;
        --busy) busy=1 ;;
        --keep-logs) keep=1 ;;
        *) echo "webpush.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done
case $subs$reps in *[!0-9]*) echo "webpush.sh: --subs and --reps take whole numbers" >&2; exit 2 ;; esac
[ "$subs" -ge 10 ] && [ "$subs" -le 5000 ] && [ "$reps" -ge 1 ] && [ "$reps" -le 20 ] \
    || { echo "webpush.sh: --subs 10-5000, --reps 1-20" >&2; exit 2; }

BENCH_NAME=webpush.sh
top_srcdir=$(cd "$(dirname "$0")/.." && pwd)
top_builddir=${top_builddir:-$top_srcdir/var/build}
PGDIR=$top_srcdir/var/bench-webpush-pg
WORK=$top_srcdir/var/bench-webpush-run
# shellcheck source=bench/lib.sh
. "$top_srcdir/bench/lib.sh"
for t in node npm openssl psql jq curl; do command -v "$t" >/dev/null || die "$t not found (tests/lib/install-deps)"; done
rm -rf "$WORK"
mkdir -p "$WORK"
bench_build
sender=$top_builddir/daemons/push-webpush
[ -x "$sender" ] || die "$sender is not built"
here=$top_srcdir/tests/webpush
if ! cmp -s "$here/package-lock.json" "$here/node_modules/.package-lock.json.installed" 2>/dev/null; then
    (cd "$here" && npm ci --no-audit --no-fund --loglevel=error >"$WORK/npm.log" 2>&1) || die "npm ci failed"
    cp "$here/package-lock.json" "$here/node_modules/.package-lock.json.installed"
fi

say "# PostgreSQL with a site's history"
bench_database
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=127.0.0.1 \
    -addext subjectAltName=IP:127.0.0.1 -keyout "$WORK/svc.key" -out "$WORK/svc.crt" >/dev/null 2>&1
(cd "$here" && exec node push-service.mjs --port 0 --state "$WORK/svc" --cert "$WORK/svc.crt" \
    --key "$WORK/svc.key" >"$WORK/svc.out" 2>"$WORK/svc.log") &
SVC=$!
PIDS+=($SVC)
for _ in $(seq 1 100); do grep -q '^listening' "$WORK/svc.out" 2>/dev/null && break; sleep 0.1; done
port=$(sed -n 's/^listening //p' "$WORK/svc.out")
[ -n "$port" ] || die "the push service did not start: $(tail -n 3 "$WORK/svc.log")"
ctl() { curl -sS --cacert "$WORK/svc.crt" -X "$1" -H 'Content-Type: application/json' ${3:+--data "$3"} "https://127.0.0.1:$port/control/$2"; }

say "# $subs subscriptions"
for i in $(seq 1 "$subs"); do
    ctl POST subscribe "{\"name\":\"s$i\"}"
    echo
done | jq -r --slurp 'to_entries[] | "SELECT push.webpush_subscribe('"'"'wu\(.key + 1)'"'"', '"'"'\(.value.endpoint)'"'"', '"'"'\(.value.keys.p256dh)'"'"', '"'"'\(.value.keys.auth)'"'"', NULL, 10);"' \
    | psql -qAtX -v ON_ERROR_STOP=1 >/dev/null
[ "$(sql "SELECT count(*) FROM push.webpush_subscription")" = "$subs" ] || die "the subscriptions were not registered"

"$sender" --generate-vapid-keys "$WORK/vapid.pem" >/dev/null
env PUSH_WEBPUSH_VAPID_KEY="$WORK/vapid.pem" PUSH_WEBPUSH_SUBJECT=mailto:bench@example.org \
    PUSH_WEBPUSH_HOSTS=127.0.0.1 PUSH_WEBPUSH_CA_FILE="$WORK/svc.crt" PUSH_WEBPUSH_RATE=100000 \
    PUSH_WEBPUSH_HOST_CONNECTIONS=64 PUSH_WEBPUSH_ACTIVE="$subs" "$sender" 2>"$WORK/push-webpush.log" &
WP=$!
PIDS+=($WP)
sleep 1
kill -0 "$WP" 2>/dev/null || die "push-webpush did not start: $(tail -n 3 "$WORK/push-webpush.log")"
if [ "$busy" = 1 ]; then
    (exec nice -n 0 sh -c 'while :; do :; done') &
    PIDS+=($!)
fi

hz=$(getconf CLK_TCK)
rates=() wp_us=() svc_us=()
for r in $(seq 1 "$reps"); do
    ctl POST reset >/dev/null
    before_wp=$(cpu_ticks "$WP") before_svc=$(cpu_ticks "$SVC")
    t0=$(date +%s%N)
    sql "INSERT INTO push.message (recipient, title, body) VALUES (NULL, 'bench $r', 'a broadcast to every subscription')" >/dev/null
    for _ in $(seq 1 1200); do
        [ "$(ctl GET received | jq length)" -ge "$subs" ] && break
        sleep 0.05
    done
    t1=$(date +%s%N)
    got=$(ctl GET received | jq length)
    [ "$got" = "$subs" ] || die "run $r: $got of $subs pushes accepted"
    ms=$(( (t1 - t0) / 1000000 ))
    rates+=($(( subs * 1000 / (ms > 0 ? ms : 1) )))
    wp_us+=($(( ($(cpu_ticks "$WP") - before_wp) * 1000000 / hz / subs )))
    svc_us+=($(( ($(cpu_ticks "$SVC") - before_svc) * 1000000 / hz / subs )))
    say "# run $r: $subs pushes in $ms ms"
done
summary() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {printf "%d (%d-%d)", a[int((NR+1)/2)], a[1], a[NR]}'; }
echo
echo "| $subs subscriptions, a broadcast, $reps runs$([ "$busy" = 1 ] && echo ", one core busy") | median (min-max) |"
echo "|---|---|"
echo "| pushes accepted per second (end to end) | $(summary "${rates[@]}") |"
echo "| push-webpush CPU per push, µs | $(summary "${wp_us[@]}") |"
echo "| the push service's CPU per push, µs (decryption, JWT verification) | $(summary "${svc_us[@]}") |"
