#!/usr/bin/env bash
# bench/sse.sh: push-sse, push-longpoll and push-ws under load behind nginx and lighttpd: latency, memory per stream, broadcast time, PostgreSQL floor
#
#   bench/sse.sh [--quick] [--server S] [--scenarios L] [--rate R] [--max N] [--duration S] [options]
#
# Builds what is missing ($top_builddir, default var/build; bench/push-load next to the programs),
# starts a private PostgreSQL (tests/lib/pgcluster, var/bench-pg), and for every scenario a fresh
# push-sse or push-longpoll as an external FastCGI server (--listen on a unix socket) with a fresh
# nginx (2 workers) or lighttpd in front, all on 127.0.0.1. bench/push-load opens N streams, one per
# user, waits until all are ready, samples memory and PostgreSQL connections, then publishes with
# INSERT INTO push.message at 1,000 messages/s for 10 s (or one broadcast) and times INSERT to event.
#
# Scenarios, for each front server: SSE with 1,000, 5,000 and 9,000 streams; long polling with 1,000
# and 5,000; one broadcast to 9,000 SSE streams; WebSocket (push-ws, one event loop) with 1,000 and
# 9,000 sockets. First, the PostgreSQL floor: INSERT (trigger NOTIFY)
# to a bare LISTEN connection. Prints a markdown table; everything it starts is stopped on exit,
# Ctrl-C or SIGTERM. About 4 minutes on a 2-core machine.
#
#   --quick         small scenarios (200 and 500 streams, 3 s) to check the setup
#   --server S      only this front server (nginx or lighttpd)
#   --scenarios L   instead of the default list "sse:1000 sse:5000 sse:9000 longpoll:1000
#                   longpoll:5000 broadcast:9000 ws:1000 ws:9000" (kind:streams, space-separated)
#   --rate R        messages/s of the steady scenarios (default 1000)
#   --max N         at most N streams per scenario (also lowered automatically by the fd limit)
#   --duration S    seconds of publishing per scenario (default 10)
#   --repeat K      run every scenario K times (a row each): results on a busy 2-core machine vary
#   --keep-logs     keep the logs in var/bench-run (they are kept anyway when something failed)
#   --app-env "V=X ..."    more environment for push-sse/push-longpoll (e.g. PUSH_HEARTBEAT=60)
#   --load-args "..."      more options for bench/push-load (e.g. --per-second)
set -u

usage() { sed -n '2,/^set -u/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }

quick=0 repeat=1 only="" scale_note="" app_env_extra="" load_args="" max=9000 duration=10 keep=0 rate=1000
scenarios="sse:1000 sse:5000 sse:9000 longpoll:1000 longpoll:5000 broadcast:9000 ws:1000 ws:9000"
while [ $# -gt 0 ]; do
    case $1 in
        --help|-h) usage; exit 0 ;;
        --quick) quick=1 scenarios="sse:200 sse:500 longpoll:200 broadcast:500 ws:500" duration=3 ;;
        --scenarios) scenarios=${2:?--scenarios needs a list}; shift ;;
        --rate) rate=${2:?--rate needs a number}; shift ;;
        --server) only=${2:?--server needs nginx or lighttpd}; shift ;;
        --max) max=${2:?--max needs a number}; shift ;;
        --duration) duration=${2:?--duration needs seconds}; shift ;;
        --keep-logs) keep=1 ;;
        --repeat) repeat=${2:?--repeat needs a number}; shift ;;
        --app-env) app_env_extra=${2?}; shift ;;
        --load-args) load_args=${2?}; shift ;;
        *) echo "sse.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done
# shell words, quotes allowed: --load-args "--on-ready 'sleep 5'"
eval "load_argv=($load_args)" || { echo "sse.sh: --load-args: not shell words" >&2; exit 2; }
case $only in ""|nginx|lighttpd) ;; *) echo "sse.sh: --server nginx or lighttpd" >&2; exit 2 ;; esac

top_srcdir=$(cd "$(dirname "$0")/.." && pwd)
: "${top_builddir:=$top_srcdir/var/build}"
BIN=$top_builddir/cgi-bin       # the FastCGI programs
DAEMONS=$top_builddir/daemons   # push-ws, push-mqtt
TOOLS=$top_builddir/tools       # push-token
LOAD=$top_builddir/bench/push-load
PGDIR=$top_srcdir/var/bench-pg
WORK=$top_srcdir/var/bench-run
# unix socket paths must stay under 108 bytes
[ ${#WORK} -lt 80 ] || WORK=/tmp/pgpush-bench-$(id -u)
# shellcheck source=bench/lib.sh
. "$top_srcdir/bench/lib.sh"

# --- build

for tool in psql nginx lighttpd cc; do
    command -v "$tool" >/dev/null || "$top_srcdir/tests/lib/install-deps" >/dev/null 2>&1
    command -v "$tool" >/dev/null || die "$tool is not installed"
done
bench_build
mkdir -p "$top_builddir/bench"
if grep -q '^bench_push_load_SOURCES' "$top_builddir/Makefile"; then
    make -C "$top_builddir" -s bench/push-load >/dev/null || die "make bench/push-load failed"
elif [ ! -x "$LOAD" ] || [ "$top_srcdir/bench/push-load.c" -nt "$LOAD" ] \
    || [ "$top_builddir/lib/libpush.a" -nt "$LOAD" ]; then
    # not in Makefile.am (yet): the same flags by hand
    cc -std=gnu11 -g -O2 -Wall -Wextra -Wno-unused-parameter -I"$top_srcdir/lib" \
        $(pkg-config --cflags libpq 2>/dev/null || echo -I/usr/include/postgresql) \
        -o "$LOAD" "$top_srcdir/bench/push-load.c" "$top_builddir/lib/libpush.a" \
        -lpq -lcrypto -lpthread || die "cannot build bench/push-load"
fi
for p in push-sse push-longpoll push-ws; do [ -x "$(program "$p")" ] || die "$(program "$p") is not built"; done

# --- limits: 20,000 open files per process; each stream costs the front server 2 descriptors

ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null
fds=$(ulimit -n)
[ "$fds" = unlimited ] && fds=1048576
fit=$(( (fds - 300) / 2 / 100 * 100 ))
if [ "$fit" -lt "$max" ]; then
    scale_note="NOTE: the open-file limit is $fds (hard $(ulimit -Hn)), not 20000: at most $fit streams per scenario"
    say "# $scale_note"
    max=$fit
fi
[ "$max" -ge 100 ] || die "an open-file limit of $fds is too low for this benchmark"
cap() { [ "$1" -le "$max" ] && echo "$1" || echo "$max"; }

rm -rf "$WORK"
mkdir -p "$WORK/nginx"
chmod 755 "$WORK"

# --- PostgreSQL

bench_database

# --- measuring

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
rss_sum() { # rss_sum PID...: KiB over these processes
    local t=0 p
    for p in "$@"; do t=$(( t + $(rss_kb "$p") )); done
    echo "$t"
}
web_pids() { # the front server's processes (nginx: master and workers)
    echo "$WEB_PID $(children "$WEB_PID")"
}

# --- the programs and the front servers

# open streams and held polls live in the programs' event loops: their 64 workers only answer
# and hand over; every stream is a descriptor, so PUSH_MAX_STREAMS stays below the open-file limit
threads=64 max_streams=9500
if [ $((max_streams + 300)) -gt "$fds" ]; then
    max_streams=$((fds - 300))
    say "# NOTE: PUSH_MAX_STREAMS=$max_streams to fit the open-file limit"
fi
APP_ENV=(PUSH_TOKEN_SECRET="$SECRET" PUSH_MAX_STREAMS=$max_streams PUSH_MAX_STREAMS_PER_USER=4
         PUSH_THREADS=$threads PUSH_THREAD_STACK=64 PUSH_LOG_LEVEL=warn)
# shellcheck disable=SC2206
APP_ENV+=($app_env_extra)
start_nginx() {
    local user=""
    [ "$(id -u)" = 0 ] && user="user root root;"
    PORT=$(free_port)
    cat >"$WORK/nginx.conf" <<EOF
$user
worker_processes 2;
worker_rlimit_nofile 20000;
pid $WORK/nginx.pid;
error_log $WORK/nginx-error.log warn;
events { worker_connections 20000; }
http {
    access_log off;
    keepalive_requests 100000;
    client_body_temp_path $WORK/nginx/body;
    fastcgi_temp_path $WORK/nginx/fastcgi;
    proxy_temp_path $WORK/nginx/proxy;
    uwsgi_temp_path $WORK/nginx/uwsgi;
    scgi_temp_path $WORK/nginx/scgi;
    server {
        listen 127.0.0.1:$PORT backlog=4096;
        root $top_srcdir/htdocs;
        location = /ext/push-longpoll {
            include /etc/nginx/fastcgi_params;
            fastcgi_pass unix:$WORK/push-longpoll.sock;
            fastcgi_buffer_size 1k;   # as conf/nginx.conf
            fastcgi_read_timeout 300s;
        }
        location = /ext/push-sse {
            include /etc/nginx/fastcgi_params;
            fastcgi_pass unix:$WORK/push-sse.sock;
            fastcgi_buffering off;
            fastcgi_buffer_size 1k;   # as conf/nginx.conf
            fastcgi_read_timeout 300s;
        }
        location = /ext/push-ws {
            proxy_pass http://unix:$WORK/push-ws.sock;
            proxy_http_version 1.1;
            proxy_set_header Upgrade \$http_upgrade;
            proxy_set_header Connection "upgrade";
            proxy_read_timeout 300s;
        }
    }
}
EOF
    nginx -p "$WORK/nginx" -c "$WORK/nginx.conf" -e "$WORK/nginx-error.log" -g 'daemon off;' \
        2>>"$WORK/nginx-error.log" &
    WEB_PID=$!
    PIDS+=("$WEB_PID")
    wait_web nginx "$WORK/nginx-error.log"
}

start_lighttpd() {
    PORT=$(free_port)
    cat >"$WORK/lighttpd.conf" <<EOF
server.document-root = "$top_srcdir/htdocs"
server.bind = "127.0.0.1"
server.port = $PORT
server.errorlog = "$WORK/lighttpd-error.log"
server.pid-file = "$WORK/lighttpd.pid"
server.modules = ( "mod_fastcgi", "mod_proxy" )
# 2: stream, and stop reading from the program while the client is not reading (backpressure)
server.stream-response-body = 2
server.max-fds = 20000
# the default is max-fds / 3; a stream needs 2 descriptors (client and FastCGI)
server.max-connections = 9800
server.listen-backlog = 4096
server.max-keep-alive-requests = 100000
fastcgi.server = (
    "/ext/push-sse" => (( "socket" => "$WORK/push-sse.sock", "check-local" => "disable" )),
    "/ext/push-longpoll" => (( "socket" => "$WORK/push-longpoll.sock", "check-local" => "disable" )),
)
\$HTTP["url"] == "/ext/push-ws" {
    proxy.server = ( "" => (( "socket" => "$WORK/push-ws.sock" )) )
    proxy.header = ( "upgrade" => "enable" )
}
EOF
    lighttpd -D -f "$WORK/lighttpd.conf" 2>>"$WORK/lighttpd-error.log" &
    WEB_PID=$!
    PIDS+=("$WEB_PID")
    wait_web lighttpd "$WORK/lighttpd-error.log"
}

start_web() { # start_web nginx|lighttpd: on a free port; another one if that was taken meanwhile
    for _ in 1 2 3; do "start_$1" && return 0; done
    die "$1 did not start"
}

# --- one scenario: fresh program and front server, push-load, memory and connections

ROWS=()
# scenario SERVER MODE N [push-load options...]
scenario() {
    local server=$1 mode=$2 n=$3 app label row rc
    shift 3
    [ -z "$only" ] || [ "$only" = "$server" ] || return 0
    n=$(cap "$n")
    case $mode in longpoll) app=push-longpoll ;; ws) app=push-ws ;; *) app=push-sse ;; esac
    case " $* " in
        *" --broadcast "*) label="$server, SSE broadcast" ;;
        *) label="$server, $(case $mode in sse) echo SSE ;; ws) echo WebSocket ;; *) echo long poll ;; esac)" ;;
    esac
    say "# --- $label, $n streams"
    # the messages of the last scenario go, the history stays (see above)
    sql "DELETE FROM push.message WHERE id > $SEED_MAX" >/dev/null && sql "VACUUM ANALYZE push.message" >/dev/null
    start_app "$app"
    start_web "$server"
    local rss0_app rss0_web
    rss0_app=$(rss_kb "$APP_PID")
    # shellcheck disable=SC2046
    rss0_web=$(rss_sum $(web_pids))
    # sampled by push-load once all streams are ready, before publishing
    cat >"$WORK/sample.sh" <<EOF
#!/usr/bin/env bash
web=0
for p in $WEB_PID \$(cat /proc/$WEB_PID/task/*/children 2>/dev/null); do
    web=\$(( web + \$(awk '/^VmRSS:/ {print \$2}' /proc/\$p/status) ))
done
echo "\$(awk '/^VmRSS:/ {print \$2}' /proc/$APP_PID/status) \$web \$(psql -qAtX -c "SELECT count(*) FROM pg_stat_activity WHERE application_name = '$app'")" >"$WORK/sample.out"
EOF
    chmod +x "$WORK/sample.sh"
    rm -f "$WORK/sample.out"
    # CPU seconds over the run, to see who is busy
    local hz c0_app c0_web c0_pg c1_app c1_web c1_pg idle0 idle1 tot0 tot1 t0 t1
    hz=$(getconf CLK_TCK)
    read -r idle0 tot0 < <(awk '/^cpu / {print $5 + $6, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9}' /proc/stat)
    c0_app=$(cpu_ticks "$APP_PID")
    # shellcheck disable=SC2046
    c0_web=$(cpu_ticks $(web_pids))
    # shellcheck disable=SC2046
    c0_pg=$(cpu_ticks $PG_MASTER $(children "$PG_MASTER"))
    t0=$(date +%s.%N)
    # in the background, so that a signal to this script is handled at once (wait returns)
    "$LOAD" --url "http://127.0.0.1:$PORT/ext/$app" --users "$n" --mode "$mode" \
        --rate "$rate" --duration "$duration" --publishers 4 --connect-rate 2000 \
        --label "$label" --on-ready "$WORK/sample.sh" "$@" "${load_argv[@]}" >"$WORK/load.row" 2>"$WORK/load.err" &
    local load_pid=$!
    PIDS+=("$load_pid")
    wait "$load_pid"
    rc=$?
    forget "$load_pid"
    row=$(cat "$WORK/load.row")
    t1=$(date +%s.%N)
    c1_app=$(cpu_ticks "$APP_PID")
    # shellcheck disable=SC2046
    c1_web=$(cpu_ticks $(web_pids))
    # shellcheck disable=SC2046
    c1_pg=$(cpu_ticks $PG_MASTER $(children "$PG_MASTER"))
    read -r idle1 tot1 < <(awk '/^cpu / {print $5 + $6, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9}' /proc/stat)
    sed 's/^/  /' "$WORK/load.err" >&2
    cat "$WORK/load.err" >>"$WORK/load.log"
    awk -v hz="$hz" -v a=$((c1_app - c0_app)) -v w=$((c1_web - c0_web)) -v p=$((c1_pg - c0_pg)) \
        -v s="$(awk -v a="$t0" -v b="$t1" 'BEGIN {print b - a}')" -v i=$((idle1 - idle0)) -v t=$((tot1 - tot0)) \
        -v l="$(sed -n 's/^# push-load CPU: \([0-9.]*\) s$/\1/p' "$WORK/load.err")" \
        'BEGIN { printf "  # CPU seconds over %.1f s on %d cores: %s %.1f, front server %.1f, PostgreSQL %.1f, push-load %.1f; machine idle %.0f%%\n",
                 s, '"$(nproc)"', "'"$app"'", a / hz, w / hz, p / hz, l, t ? 100 * i / t : 0 }' >&2
    say "  # $app RSS after the run: $(( $(rss_kb "$APP_PID") / 1024 )) MB"
    if [ $rc -ne 0 ] || [ -z "$row" ]; then
        failed=$((failed + 1))
        say "  # push-load exited with $rc"
    fi
    local rssn_app=0 rssn_web=0 pgc="?"
    [ -s "$WORK/sample.out" ] && read -r rssn_app rssn_web pgc <"$WORK/sample.out"
    if [ -n "$row" ]; then
        ROWS+=("$(awk -v n="$n" -v a0="$rss0_app" -v an="$rssn_app" -v w0="$rss0_web" -v wn="$rssn_web" \
            -v pg="$pgc" -v row="$row" 'BEGIN {
                sub(/ *\|? *$/, "", row)
                printf "%s | %.1f / %.1f | %.1f | %.1f | %.1f | %s |\n", row, a0 / 1024, an / 1024,
                       (an - a0) / n, an / n, (wn - w0) / n, pg }')")
        say "  ${ROWS[-1]}"
    fi
    stop_pid "$WEB_PID"
    stop_pid "$APP_PID"
    WEB_PID="" APP_PID=""
}


say "# $(nproc) cores; push-load, the front server, the program and PostgreSQL share them"
"$LOAD" --floor --rate 500 --duration 4 --label "PostgreSQL floor: INSERT (trigger NOTIFY) to LISTEN" \
    >"$WORK/floor.row" 2>>"$WORK/load.log" || { failed=$((failed + 1)); say "# the floor measurement failed"; }
floor=$(sed 's/ *| *$/ | - | - | - | - | - |/' "$WORK/floor.row")
say "  $floor"

for server in nginx lighttpd; do
    for sc in $scenarios; do
      for _ in $(seq 1 "$repeat"); do
        case $sc in
            sse:[0-9]*) scenario "$server" sse "${sc#*:}" ;;
            longpoll:[0-9]*) scenario "$server" longpoll "${sc#*:}" ;;
            broadcast:[0-9]*) scenario "$server" sse "${sc#*:}" --broadcast --wait 60 ;;
            ws:[0-9]*) scenario "$server" ws "${sc#*:}" ;;
            *) die "unknown scenario $sc (sse:N, longpoll:N, broadcast:N or ws:N)" ;;
        esac
      done
    done
done

echo
echo "pgpush streaming benchmark, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, $(git -C "$top_srcdir" rev-parse --short HEAD 2>/dev/null)"
echo
"$LOAD" --header | sed '1s/ *| *$/ | app RSS MB (0 \/ N) | app KiB per stream (Δ) | app KiB per stream (total) | front KiB per stream (Δ) | PG conns |/; 2s/$/--:|--:|--:|--:|--:|/'
echo "$floor"
printf '%s\n' "${ROWS[@]}"
echo
echo "Latency: INSERT start (t_ns in the message) to the event arriving at push-load; the long-poll rows include each re-poll."
echo "Broadcast rows: per stream arrival of one message to everyone; max = time until the last stream had it; deliveries/s = streams / max."
[ -z "$scale_note" ] || echo "$scale_note."
[ "$only" = nginx ] || [ "$max" -lt 8990 ] || echo "lighttpd stops accepting at 90% of server.max-fds (18,000 descriptors, 2 per stream): about 8,996 streams; the rest count as failed."
echo "app KiB per stream (Δ) = (RSS with N idle streams - RSS with none) / N; (total) = RSS with N streams / N, idle threads included."
echo "WebSocket rows: push-ws holds every socket on one event loop thread (no thread per stream); PG conns = 1 LISTEN + PUSH_DB_POOL workers."
[ "$failed" -eq 0 ]
