#!/usr/bin/env bash
# bench/compare.sh: pgpush against Nchan side by side, in one run: SSE, long polling, broadcast, short polling and publish throughput, one markdown table with pgpush/Nchan ratios
#
#   bench/compare.sh [--quick] [--sections "stream poll publish"] [--scenarios L] [--targets L] [options]
#
# Starts, all on 127.0.0.1: a private PostgreSQL (tests/lib/pgcluster, var/bench-compare-pg) with a
# database holding a 100,000-message history, VACUUM ANALYZEd (as bench/sse.sh: a site in operation,
# whose statistics give the index plans); for every scenario a fresh external push-sse or
# push-longpoll (--listen on a unix socket) behind a fresh nginx (2 workers) or lighttpd, and a fresh
# nginx (2 workers, the same settings) with Debian's libnginx-mod-nchan: /pub/{channel}
# (nchan_publisher), /sub/{channel} (nchan_subscriber eventsource longpoll), /poll/{channel}
# (intervalpoll), /nchan_status. bench/push-load drives both sides the same way (--target nchan for
# Nchan): one connection per user u{i} on its own channel, publishing at 1,000 messages/s for 10 s
# with each message's send time inside it, lost and duplicate messages counted by sequence number.
#
# Sections:
#   stream   SSE with 1,000 / 5,000 / 9,000 subscribers and long polling with 1,000 / 5,000, at
#            1,000 msg/s: latency p50/p90/p99/max, lost, server memory per subscriber (RSS and PSS
#            of every server process: web server master and workers, push-sse/push-longpoll;
#            Nchan: its nginx), PostgreSQL connections, CPU seconds; then one message to 9,000
#            SSE subscribers (Nchan: one channel "all" that all 9,000 subscribe to): time to the
#            last, deliveries/s
#   poll     wrk (2 threads, 16 connections): push-poll behind nginx, full answer and 304 with
#            If-None-Match (with PostgreSQL transactions per request); Nchan's intervalpoll, full
#            answer and 304 (If-Modified-Since + If-None-Match); for scale, the same nginx serving
#            a 13-byte static file and in front of bench/fcgi-hello (a minimal libfcgi responder)
#   publish  1,000 SSE subscribers; 20,000 messages as fast as possible: pgpush by single-row
#            INSERTs from 4 connections and by one multi-row INSERT; Nchan by HTTP POST from 4
#            keep-alive connections; messages/s until every subscriber had them. And the PostgreSQL
#            floor (INSERT with trigger NOTIFY to a bare LISTEN connection, 500/s, one at a time),
#            and the same floor under the streaming scenarios' publishing (1,000/s from 4
#            connections, to 1,000 users in turn, for --duration; push-load --floor-load): the
#            p50 and p99 a LISTEN client gets from PostgreSQL alone under that load
#   storm    not in the default set (about 2 minutes): a crowd connecting at once (a restart, a
#            network coming back) beside a CPU hog: for each target, 9,000 SSE clients, then
#            separately 5,000 long polls, connecting at 5,000/s while stress-ng runs one CPU worker
#            (--cpu-method int64) pinned to the last core, stopped after each scenario. Reports
#            the clients served, failed (by HTTP status: 502, 503...; and connections), retried
#            (a 503/429 with Retry-After, or push-sse's 200 refusal stream with retry:, come back
#            after that time as EventSource does: not failures), the time from the first connect
#            until all are streaming (long polls: answered and held; Nchan: all counted in
#            nchan_status), p50/p99 from each client's first connect to its first event, the CPU
#            seconds the server side spent until all were served (web server, program,
#            PostgreSQL), the deepest accept queue sampled on the web server's port and on the
#            program's socket (of the 4,096 backlog), and that all then stream (1,000 msg/s for
#            2 s: nothing lost). --quick: 1,000 SSE and 500 long polls.
#            Backlogs: nginx listen backlog=4096, lighttpd server.listen-backlog = 4096, the
#            programs' PUSH_LISTEN_BACKLOG default 4096; the kernel cuts each to
#            net.core.somaxconn, which this script reads and does not change (a setting of the
#            machine): below 4,096 it says so
#
# Prints one markdown table (pgpush behind nginx, behind lighttpd, Nchan, ratios pgpush/Nchan) and
# then the raw rows. Everything it starts is stopped on exit, Ctrl-C or SIGTERM. About 6 minutes
# on a 2-core machine; --quick about 1.5 minutes.
#
#   --quick         small scenarios (200 and 500 subscribers, 2 s, 1 s of wrk), to check the setup
#   --sections L    only these sections (default "stream poll publish"; "storm" on request)
#   --duration S    seconds of publishing per streaming scenario (default 10)
#   --keep-logs     keep the logs in var/bench-compare-run (kept anyway when something failed)
#   --pg-stats      load pg_stat_statements and print each pgpush scenario's top statements and
#                   the programs' statements per message published, counted from when every
#                   client is connected (stderr); off by default, as it costs PostgreSQL some time
#   --scenarios L   streaming scenarios instead of "sse:1000 sse:5000 sse:9000 longpoll:1000
#                   longpoll:5000 broadcast:9000"
#   --targets L     only these of "pgpush-nginx pgpush-lighttpd nchan" (streaming section)
#   --perf DIR      perf record -e cpu-clock -a -g while each streaming scenario publishes, into
#                   DIR/TARGET-KIND-N.data (perf report -i ... --sort comm,dso,sym)
#   --perf-sched    with --perf: perf sched record instead (the scheduler's switches and wake-ups):
#                   how long each thread waited for a core, perf sched latency -i ... --sort max,
#                   and each wake-up's delay, perf sched timehist -i ...; bench/sched-chain
#                   DIR/....data splits each message's way from PostgreSQL's backend through
#                   push-sse and nginx to the client into stages (the scheduler's delay, each
#                   program's own work)
#   --fsync         PostgreSQL with fsync, full_page_writes and synchronous_commit on, as a site
#                   runs it (the tests' cluster has fsync off); Nchan keeps its messages in memory
set -u

usage() { sed -n '2,/^set -u/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }

quick=0 keep=0 duration=10 sections="stream poll publish" pg_stats=0 scen="" targets="pgpush-nginx pgpush-lighttpd nchan" perf_dir="" perf_rec="record -q -e cpu-clock -a -g"
while [ $# -gt 0 ]; do
    case $1 in
        --help|-h) usage; exit 0 ;;
        --quick) quick=1 duration=2 ;;
        --sections) sections=${2:?--sections needs a list}; shift ;;
        --duration) duration=${2:?--duration needs seconds}; shift ;;
        --keep-logs) keep=1 ;;
        --pg-stats) pg_stats=1 ;;
        --scenarios) scen=${2:?--scenarios needs a list}; shift ;;
        --targets) targets=${2:?--targets needs a list}; shift ;;
        --fsync) export PGCLUSTER_OPTIONS="${PGCLUSTER_OPTIONS:-} -c fsync=on -c full_page_writes=on -c synchronous_commit=on" ;;
        --perf) perf_dir=$(mkdir -p "${2:?--perf needs a folder}" && cd "$2" && pwd) || exit 2; shift ;;
        --perf-sched) perf_rec="sched record -q" ;;
        *) echo "compare.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done
if [ "$quick" = 1 ]; then
    stream_list="sse:200 sse:500 longpoll:200 broadcast:500" wrk_secs=1 flood=2000 pub_users=200
    storm_list="storm-sse:1000 storm-lp:500"
else
    stream_list="sse:1000 sse:5000 sse:9000 longpoll:1000 longpoll:5000 broadcast:9000"
    wrk_secs=5 flood=20000 pub_users=1000
    storm_list="storm-sse:9000 storm-lp:5000"
fi
storm_rate=5000
[ -n "$scen" ] && stream_list=$scen
rate=1000

top_srcdir=$(cd "$(dirname "$0")/.." && pwd)
: "${top_builddir:=$top_srcdir/var/build}"
BIN=$top_builddir/cgi-bin       # the FastCGI programs
DAEMONS=$top_builddir/daemons   # push-ws, push-mqtt
TOOLS=$top_builddir/tools       # push-token
LOAD=$top_builddir/bench/push-load
HELLO=$top_builddir/bench/fcgi-hello
PGDIR=$top_srcdir/var/bench-compare-pg
WORK=$top_srcdir/var/bench-compare-run
[ ${#WORK} -lt 80 ] || WORK=/tmp/pgpush-compare-$(id -u)
NCHAN_SO=/usr/lib/nginx/modules/ngx_nchan_module.so
# shellcheck source=bench/lib.sh
. "$top_srcdir/bench/lib.sh"
T0=$(date +%s)

# --- build and tools

for tool in psql nginx lighttpd cc wrk; do
    command -v "$tool" >/dev/null || "$top_srcdir/tests/lib/install-deps" >/dev/null 2>&1
    command -v "$tool" >/dev/null || { [ "$(id -u)" = 0 ] && apt-get install -y "$tool" >/dev/null 2>&1; }
    command -v "$tool" >/dev/null || die "$tool is not installed"
done
case " $sections " in *" storm "*)
    command -v stress-ng >/dev/null || { [ "$(id -u)" = 0 ] && apt-get install -y stress-ng >/dev/null 2>&1; }
    command -v stress-ng >/dev/null || die "stress-ng is not installed (the storm's CPU hog): apt-get install stress-ng"
    command -v ss >/dev/null || die "ss is not installed (iproute2)" ;;
esac
if [ ! -f "$NCHAN_SO" ]; then
    [ "$(id -u)" = 0 ] && apt-get install -y libnginx-mod-nchan >/dev/null 2>&1
    [ -f "$NCHAN_SO" ] || die "Nchan is not installed ($NCHAN_SO): apt-get install libnginx-mod-nchan"
fi
bench_build
make -C "$top_builddir" -s bench/push-load bench/fcgi-hello >/dev/null || die "make bench/push-load bench/fcgi-hello failed"
for p in push-sse push-longpoll push-poll; do [ -x "$BIN/$p" ] || die "$BIN/$p is not built"; done

# --- limits: 20,000 open files per process

ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null
fds=$(ulimit -n)
[ "$fds" = unlimited ] && fds=1048576
max=$(( (fds - 300) / 2 / 100 * 100 ))
[ "$max" -gt 9000 ] && max=9000
[ "$max" -ge 100 ] || die "an open-file limit of $fds is too low"
[ "$max" -ge 9000 ] || say "# NOTE: open-file limit $fds: at most $max subscribers per scenario"
cap() { [ "$1" -le "$max" ] && echo "$1" || echo "$max"; }

rm -rf "$WORK"
mkdir -p "$WORK/nginx" "$WORK/htdocs"
chmod 755 "$WORK" "$WORK/htdocs"
printf '{"ok":true}\r\n' >"$WORK/htdocs/static.json"

# --- PostgreSQL with a history (bench/lib.sh)

if [ "$pg_stats" = 1 ]; then bench_database --pg-stats; else bench_database; fi

# --- measuring

# mem.sh PID...: "RSS PSS" in KiB over these processes and their children (nginx workers)
cat >"$WORK/mem.sh" <<'EOF'
#!/usr/bin/env bash
rss=0 pss=0
for p in "$@" $(for q in "$@"; do cat /proc/$q/task/*/children 2>/dev/null; done); do
    read -r r s < <(awk '/^Rss:/ {r = $2} /^Pss:/ {s = $2} END {print r + 0, s + 0}' /proc/$p/smaps_rollup 2>/dev/null)
    rss=$(( rss + ${r:-0} )) pss=$(( pss + ${s:-0} ))
done
echo "$rss $pss"
EOF
chmod +x "$WORK/mem.sh"
# cpu.sh PID...: CPU ticks (user + system) of these processes and their children, as cpu_ticks
cat >"$WORK/cpu.sh" <<'EOF'
#!/usr/bin/env bash
t=0
for p in "$@" $(for q in "$@"; do cat /proc/$q/task/*/children 2>/dev/null; done); do
    t=$(( t + $(sed 's/^.*) //' /proc/$p/stat 2>/dev/null | awk '{print $12 + $13}') + 0 ))
done
echo "$t"
EOF
chmod +x "$WORK/cpu.sh"

# --- the servers

# the streaming programs hold their streams in their event loops (64 workers, set in run());
# every stream is a descriptor
APP_ENV=(PUSH_TOKEN_SECRET="$SECRET" PUSH_MAX_STREAMS=9500 PUSH_MAX_STREAMS_PER_USER=4
         PUSH_THREAD_STACK=64 PUSH_LOG_LEVEL=warn)
if [ $((9500 + 300)) -gt "$fds" ]; then
    APP_ENV+=(PUSH_MAX_STREAMS=$((fds - 300)))
fi
# start_nginx pgpush|nchan: the same nginx settings on both sides; only the locations differ
start_nginx() {
    local kind=$1 user="" module="" locations
    [ "$(id -u)" = 0 ] && user="user root root;"
    PORT=$(free_port)
    if [ "$kind" = nchan ]; then
        module="load_module $NCHAN_SO;"
        locations="
        location ~ ^/pub/(\\w+)\$ { nchan_publisher; nchan_channel_id \$1; }
        location ~ ^/sub/(\\w+)\$ { nchan_subscriber eventsource longpoll; nchan_channel_id \$1; }
        location ~ ^/poll/(\\w+)\$ { nchan_subscriber intervalpoll; nchan_channel_id \$1; }
        location = /nchan_status { nchan_stub_status; }"
    else
        locations="
        location = /ext/push-longpoll {
            include /etc/nginx/fastcgi_params;
            fastcgi_pass unix:$WORK/push-longpoll.sock;
            fastcgi_read_timeout 300s;
        }
        location = /ext/push-sse {
            include /etc/nginx/fastcgi_params;
            fastcgi_pass unix:$WORK/push-sse.sock;
            fastcgi_buffering off;
            fastcgi_buffer_size 1k;   # as conf/nginx.conf
            fastcgi_read_timeout 300s;
        }
        location = /ext/push-poll {
            include /etc/nginx/fastcgi_params;
            fastcgi_pass unix:$WORK/push-poll.sock;
        }
        location ~ ^/ext-status/(push-sse|push-longpoll)\$ {
            include /etc/nginx/fastcgi_params;
            fastcgi_param PUSH_STATUS metrics;
            fastcgi_pass unix:$WORK/\$1.sock;
        }
        location = /hello {
            include /etc/nginx/fastcgi_params;
            fastcgi_pass unix:$WORK/fcgi-hello.sock;
        }"
    fi
    cat >"$WORK/nginx.conf" <<EOF
$module
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
        root $WORK/htdocs;
$locations
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
server.document-root = "$WORK/htdocs"
server.bind = "127.0.0.1"
server.port = $PORT
server.errorlog = "$WORK/lighttpd-error.log"
server.pid-file = "$WORK/lighttpd.pid"
server.modules = ( "mod_fastcgi" )
server.stream-response-body = 2
server.max-fds = 20000
server.max-connections = 9800
server.listen-backlog = 4096
server.max-keep-alive-requests = 100000
fastcgi.server = (
    "/ext/push-sse" => (( "socket" => "$WORK/push-sse.sock", "check-local" => "disable" )),
    "/ext/push-longpoll" => (( "socket" => "$WORK/push-longpoll.sock", "check-local" => "disable" )),
)
EOF
    lighttpd -D -f "$WORK/lighttpd.conf" 2>>"$WORK/lighttpd-error.log" &
    WEB_PID=$!
    PIDS+=("$WEB_PID")
    wait_web lighttpd "$WORK/lighttpd-error.log"
}

start_web() { # start_web pgpush-nginx|pgpush-lighttpd|nchan
    local how
    case $1 in pgpush-nginx) how="start_nginx pgpush" ;; pgpush-lighttpd) how=start_lighttpd ;; nchan) how="start_nginx nchan" ;; esac
    for _ in 1 2 3; do $how && return 0; done
    die "$1: the web server did not start"
}

# --- the storm: a CPU hog beside the servers; the accept queues

HOG_PID="" HOG_T0="" HOG_C0=""
hog_start() { # one stress-ng CPU worker pinned to the last core, until hog_stop
    stress-ng --cpu 1 --cpu-method int64 --taskset "$(( $(nproc) - 1 ))" --timeout 600s --quiet \
        >>"$WORK/hog.log" 2>&1 &
    HOG_PID=$!
    PIDS+=("$HOG_PID")
    sleep 0.5 # its worker forked and running
    HOG_T0=$(date +%s.%N)
    # shellcheck disable=SC2046
    HOG_C0=$(cpu_ticks "$HOG_PID" $(children "$HOG_PID"))
}
HOG_SHARE=""
hog_stop() { # stops the hog; HOG_SHARE: the share of a core it had while it ran
    local c1 t1
    # shellcheck disable=SC2046
    c1=$(cpu_ticks "$HOG_PID" $(children "$HOG_PID"))
    t1=$(date +%s.%N)
    stop_pid "$HOG_PID"
    HOG_PID=""
    HOG_SHARE=$(awk -v c=$((c1 - HOG_C0)) -v hz="$(getconf CLK_TCK)" -v a="$HOG_T0" -v b="$t1" \
        'BEGIN {printf "%.2f", (b > a ? c / hz / (b - a) : 0)}')
}
# queue_sampler PORT SOCKET OUT: every 0.1 s while OUT.run exists (and this script runs), the
# deepest accept queue seen so far on the web server's TCP port and on the program's unix socket
# (SOCKET, may be empty), as "TCP UNIX" in OUT: one ss and one awk for the whole run, to take
# little CPU from what is measured. A listening socket's Recv-Q is its accept queue; ss shows a
# unix socket by the path it was bound to (the programs bind SOCKET.XXXXXX/s, then rename it).
queue_sampler() {
    local port=$1 sock=$2 out=$3 me=$$
    while [ -f "$out.run" ] && kill -0 "$me" 2>/dev/null; do
        ss -lnH -t -x 2>/dev/null
        echo "--"
        sleep 0.1
    done | awk -v port=":$port" -v sock="$sock." -v out="$out" '
        $1 == "--" { print t + 0, u + 0 > out; close(out); next }
        $1 == "tcp" && substr($5, length($5) - length(port) + 1) == port && $3 + 0 > t { t = $3 + 0 }
        $1 == "u_str" && sock != "." && index($5, sock) == 1 && $3 + 0 > u { u = $3 + 0 }'
}
listen_overflows() { # the kernel's count of connections dropped for a full accept queue (machine-wide)
    awk '/^TcpExt:/ { if (!h) { for (i = 1; i <= NF; i++) k[i] = $i; h = 1 }
                      else for (i = 1; i <= NF; i++) if (k[i] == "ListenOverflows") print $i }' /proc/net/netstat
}

# storm_put TARGET KEY: the clients' figures from push-load's notes (load.err) into V
storm_put() {
    local target=$1 key=$2 n=$3 cl ar causes f502 f503 nfail
    cl=$(sed -n 's/^# clients: //p' "$WORK/load.err")
    ar=$(sed -n 's/^# all \(ready\|held\): //p' "$WORK/load.err")
    [ -n "$cl" ] || return 0
    put "$target" "$key|ready" "$(sed -E 's/^([0-9]+) of .*/\1/' <<<"$cl")"
    nfail=$(sed -E 's/.* ready, ([0-9]+) failed.*/\1/' <<<"$cl")
    causes=$(sed -E 's/.* failed \(([^)]*)\).*/\1/' <<<"$cl")
    f502=$(grep -oE 'HTTP 502: [0-9]+' <<<"$causes" | awk '{print $3}')
    f503=$(grep -oE 'HTTP 503: [0-9]+' <<<"$causes" | awk '{print $3}')
    put "$target" "$key|fails" "${f502:-0} / ${f503:-0} / $(( nfail - ${f502:-0} - ${f503:-0} ))"
    put "$target" "$key|causes" "$causes"
    put "$target" "$key|retried" "$(sed -E 's/.*, ([0-9]+) retried after a refusal.*/\1/' <<<"$cl")"
    put "$target" "$key|rkinds" "$(sed -E 's/.*retried after a refusal \(([^)]*)\)$/\1/' <<<"$cl")"
    put "$target" "$key|tall" "$(sed -E 's/^([0-9.]+) s after.*/\1/; t; s/.*/-/' <<<"$ar")"
    put "$target" "$key|first50" "$(grep -oE 'p50 [0-9.]+' <<<"$ar" | awk '{print $2}')"
    put "$target" "$key|first99" "$(grep -oE 'p99 [0-9.]+' <<<"$ar" | awk '{print $2}')"
    put "$target" "$key|all" "$([ "${V["$target|$key|ready"]}" = "$n" ] && echo yes || echo no)"
}

# --- results: V[target|metric]

declare -A V
RAW=()
field() { # field ROW N: the Nth column of a push-load row
    awk -F'|' -v n="$2" '{ v = $(n + 1); gsub(/^ +| +$/, "", v); print v }' <<<"$1"
}
put() { V["$1|$2"]=$3; }

# run TARGET KIND N [push-load options...]: one scenario on fresh servers; results into V
run() {
    local target=$1 kind=$2 n=$3 app="" label mode=sse url key rc row
    shift 3
    n=$(cap "$n")
    case $kind in longpoll | storm-lp) mode=longpoll ;; esac
    [ "$mode" = longpoll ] && app=push-longpoll || app=push-sse
    key="$kind:$n"
    case $* in *--flood*) key=$kind ;; esac
    label="$target, $kind $n"
    say "# --- $label $*"
    if [ "$target" = nchan ]; then
        start_web nchan
        url="http://127.0.0.1:$PORT"
        set -- --target nchan "$@"
        SERVER_PIDS="$WEB_PID"
    else
        # the earlier scenarios' messages stay, as history: deleting them would leave their users'
        # streams with a newest message that no longer exists, and each such user's next message
        # would need a read to be proven next (README "Memory-first delivery"), which a site that
        # does not delete its users' newest messages never pays
        sql "VACUUM ANALYZE push.message" >/dev/null
        # open streams and held polls live in the program's event loop: its workers only answer
        # and hand over
        start_app "$app" PUSH_THREADS=64
        start_web "$target"
        url="http://127.0.0.1:$PORT/ext/$app"
        SERVER_PIDS="$APP_PID $WEB_PID"
    fi
    local mem0 rss0 pss0
    # shellcheck disable=SC2086
    mem0=$("$WORK/mem.sh" $SERVER_PIDS)
    read -r rss0 pss0 <<<"$mem0"
    cat >"$WORK/sample.sh" <<EOF
#!/usr/bin/env bash
echo "\$("$WORK/mem.sh" $SERVER_PIDS) \$([ -n "$app" ] && [ "$target" != nchan ] && psql -qAtX -c "SELECT count(*) FROM pg_stat_activity WHERE application_name = '$app'" || echo -)" >"$WORK/sample.out"
EOF
    # --pg-stats counts the steady state: from when every client is connected (their first reads
    # done), not their first reads
    if [ "$pg_stats" = 1 ] && [ "$target" != nchan ]; then
        echo "psql -qAtX -c 'SELECT pg_stat_statements_reset()' >/dev/null" >>"$WORK/sample.sh"
    fi
    # the storm: what the server side spent until every client was served
    echo "echo \"\$('$WORK/cpu.sh' $WEB_PID) \$('$WORK/cpu.sh' ${APP_PID:-0}) \$('$WORK/cpu.sh' $PG_MASTER)\" >'$WORK/sample.cpu'" >>"$WORK/sample.sh"
    if [ -n "$perf_dir" ]; then
        echo "perf $perf_rec -o '$perf_dir/$target-$kind-$n.data' -- sleep $duration >/dev/null 2>&1 </dev/null &" >>"$WORK/sample.sh"
        echo "echo \$! >'$WORK/perf.pid'" >>"$WORK/sample.sh"
    fi
    chmod +x "$WORK/sample.sh"
    rm -f "$WORK/sample.out" "$WORK/sample.cpu"
    local cw0 ca0 cp0
    cw0=$("$WORK/cpu.sh" "$WEB_PID") ca0=$("$WORK/cpu.sh" "${APP_PID:-0}") cp0=$("$WORK/cpu.sh" "$PG_MASTER")
    local hz c0_srv c0_pg c1_srv c1_pg t0 t1
    hz=$(getconf CLK_TCK)
    # shellcheck disable=SC2046,SC2086
    c0_srv=$(cpu_ticks $SERVER_PIDS $(children "$WEB_PID"))
    # shellcheck disable=SC2046
    c0_pg=$(cpu_ticks "$PG_MASTER" $(children "$PG_MASTER"))
    local storm=0 qpid="" weblog="" log0=0 ovf0=0 hog=""
    case $kind in storm-*) storm=1 ;; esac
    if [ "$storm" = 1 ]; then
        weblog=$WORK/nginx-error.log
        [ "$target" = pgpush-lighttpd ] && weblog=$WORK/lighttpd-error.log
        [ -f "$weblog" ] && log0=$(wc -l <"$weblog")
        ovf0=$(listen_overflows)
        rm -f "$WORK/queue.out"
        : >"$WORK/queue.out.run"
        queue_sampler "$PORT" "$([ "$target" != nchan ] && echo "$WORK/$app.sock")" "$WORK/queue.out" &
        qpid=$!
        PIDS+=("$qpid")
        hog_start
    fi
    t0=$(date +%s.%N)
    "$LOAD" --url "$url" --users "$n" --mode "$mode" --rate "$rate" --duration "$duration" \
        --publishers 4 --connect-rate 2000 --label "$label" --on-ready "$WORK/sample.sh" "$@" \
        >"$WORK/load.row" 2>"$WORK/load.err" &
    local load_pid=$!
    PIDS+=("$load_pid")
    wait "$load_pid"
    rc=$?
    forget "$load_pid"
    t1=$(date +%s.%N)
    # a scenario shorter than the recording (a broadcast): its file is complete only once perf ends
    if [ -n "$perf_dir" ] && [ -s "$WORK/perf.pid" ]; then
        for _ in $(seq 1 $(( (duration + 10) * 10 ))); do kill -0 "$(cat "$WORK/perf.pid")" 2>/dev/null || break; sleep 0.1; done
        rm -f "$WORK/perf.pid"
    fi
    if [ "$storm" = 1 ]; then
        hog_stop
        hog=$HOG_SHARE
        rm -f "$WORK/queue.out.run"
        wait "$qpid"
        forget "$qpid"
        local q=(- -)
        [ -s "$WORK/queue.out" ] && read -r -a q <"$WORK/queue.out"
        [ "$target" = nchan ] && q[1]=-
        put "$target" "$key|queue" "${q[0]} / ${q[1]}"
        put "$target" "$key|hog" "$hog"
        say "  # storm: the hog had $hog of a core; deepest accept queue: web server ${q[0]}, program ${q[1]} (backlogs 4096); kernel ListenOverflows +$(( $(listen_overflows) - ovf0 )) (machine-wide)"
        tail -n +"$((log0 + 1))" "$weblog" 2>/dev/null | sed -E 's/^[0-9/]+ [0-9:]+ //; s/\*[0-9]+ //; s/, client: .*//; s/[0-9]+\.[0-9]+//g' \
            | sort | uniq -c | sort -rn | head -n 4 | sed 's/^/  # web server log: /' >&2
    fi
    # shellcheck disable=SC2046,SC2086
    c1_srv=$(cpu_ticks $SERVER_PIDS $(children "$WEB_PID"))
    # shellcheck disable=SC2046
    c1_pg=$(cpu_ticks "$PG_MASTER" $(children "$PG_MASTER"))
    row=$(cat "$WORK/load.row")
    sed 's/^/  /' "$WORK/load.err" >&2
    cat "$WORK/load.err" >>"$WORK/load.log"
    local cpu_srv cpu_pg cpu_load
    cpu_srv=$(awk -v a=$((c1_srv - c0_srv)) -v hz="$hz" 'BEGIN {printf "%.1f", a / hz}')
    cpu_pg=$(awk -v a=$((c1_pg - c0_pg)) -v hz="$hz" 'BEGIN {printf "%.1f", a / hz}')
    cpu_load=$(sed -n 's/^# push-load CPU: \([0-9.]*\) s$/\1/p' "$WORK/load.err")
    say "  # CPU seconds over $(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.1f", b - a}') s: server (web server + program) $cpu_srv, PostgreSQL $cpu_pg, push-load ${cpu_load:-?}"
    if [ "$pg_stats" = 1 ] && [ "$target" != nchan ]; then
        psql -qX -P pager=off -c "SELECT calls, round(total_exec_time::numeric, 1) AS total_ms,
            round(mean_exec_time::numeric, 3) AS mean_ms, left(regexp_replace(query, '\\s+', ' ', 'g'), 90) AS query
            FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT 6" 2>&1 | sed 's/^/  # /' >&2
        # the programs' statements from when every client was connected (all but the publishers'
        # INSERTs, and the reset), against the messages published: the PostgreSQL work a delivery
        # costs in the steady state (issue 14's target: 0.05)
        local stm
        stm=$(psql -qAtX -c "SELECT coalesce(sum(calls), 0) FROM pg_stat_statements
            WHERE query !~* '^\s*INSERT' AND query !~* 'pg_stat_statements_reset'")
        say "  # the programs' statements (pg_stat_statements): $stm, per message published: $(awk -v s="$stm" -v m=$((rate * duration)) 'BEGIN {printf "%.3f", m ? s / m : 0}')"
        # what the program says of the same run: written from wake-ups, wake-ups that could not be
        # proven next (read instead), and reads (every read since its start, first reads included)
        [ "$target" = pgpush-nginx ] && say "  # $app's metrics: $(curl -s --max-time 5 "http://127.0.0.1:$PORT/ext-status/$app" \
            | awk '/^pgpush_(carried_total|carry_misses_total|reads_total|wakeups_total|delivered_messages_total) / { printf "%s %s  ", $1, $2 }')"
    fi
    if [ $rc -ne 0 ] || [ -z "$row" ]; then
        failed=$((failed + 1))
        say "  # push-load exited with $rc"
    fi
    if [ -n "$row" ]; then
        local rssn=0 pssn=0 pgc="?"
        [ -s "$WORK/sample.out" ] && read -r rssn pssn pgc <"$WORK/sample.out"
        put "$target" "$key|p50" "$(field "$row" 8)"
        put "$target" "$key|p90" "$(field "$row" 9)"
        put "$target" "$key|p99" "$(field "$row" 10)"
        put "$target" "$key|max" "$(field "$row" 11)"
        put "$target" "$key|lost" "$(field "$row" 6) / $(field "$row" 7) / $(field "$row" 12)"
        put "$target" "$key|deliv" "$(field "$row" 15)"
        put "$target" "$key|rss" "$(awk -v a="$rss0" -v b="$rssn" -v n="$n" 'BEGIN {printf "%.1f", (b - a) / n}')"
        put "$target" "$key|pss" "$(awk -v a="$pss0" -v b="$pssn" -v n="$n" 'BEGIN {printf "%.1f", (b - a) / n}')"
        put "$target" "$key|rsstot" "$(awk -v b="$rssn" 'BEGIN {printf "%.0f", b / 1024}')"
        put "$target" "$key|pg" "$pgc"
        put "$target" "$key|cpu" "$(awk -v a="$cpu_srv" -v b="$cpu_pg" -v t="$target" 'BEGIN {printf "%.1f", t == "nchan" ? a : a + b}')"
        put "$target" "$key|sendrate" "$(sed -n 's/^# sent [0-9]* in [0-9.]* s (\([0-9]*\)\/s).*/\1/p' "$WORK/load.err")"
        if [ "$storm" = 1 ]; then
            storm_put "$target" "$key" "$n"
            local cw=0 ca=0 cp=0
            [ -s "$WORK/sample.cpu" ] && read -r cw ca cp <"$WORK/sample.cpu"
            put "$target" "$key|cpuready" "$(awk -v w=$((cw - cw0)) -v a=$((ca - ca0)) -v p=$((cp - cp0)) -v hz="$hz" -v t="$target" \
                'BEGIN {printf "%.2f", (t == "nchan" ? w : w + a + p) / hz}')"
            [ "$target" != nchan ] && put "$target" "$key|cpusplit" "$(awk -v w=$((cw - cw0)) -v a=$((ca - ca0)) -v p=$((cp - cp0)) -v hz="$hz" \
                'BEGIN {printf "%.2f / %.2f / %.2f", w / hz, a / hz, p / hz}')"
        fi
        RAW+=("$(awk -v r="$rss0" -v rn="$rssn" -v p="$pss0" -v pn="$pssn" -v pg="$pgc" -v c="$cpu_srv" -v cp="$cpu_pg" -v row="$row" 'BEGIN {
            sub(/ *\|? *$/, "", row)
            printf "%s | %.1f / %.1f | %.1f / %.1f | %s | %s | %s |\n", row, r / 1024, rn / 1024, p / 1024, pn / 1024, pg, c, cp }')")
        say "  ${RAW[-1]}"
    fi
    stop_pid "$WEB_PID"
    [ -n "$APP_PID" ] && stop_pid "$APP_PID"
    WEB_PID="" APP_PID=""
}

# --- short polling: wrk

wrk_run() { # wrk_run URL [HEADER...]: "req/s p50_ms p99_ms requests"
    local url=$1 out args=()
    shift
    for h in "$@"; do args+=(-H "$h"); done
    out=$(wrk -t2 -c16 -d"${wrk_secs}s" --latency "${args[@]}" "$url" 2>&1)
    printf '%s\n' "$out" >>"$WORK/wrk.log"
    grep -q 'Non-2xx or 3xx' <<<"$out" && say "  # $url: $(grep 'Non-2xx' <<<"$out")"
    awk 'function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
         /Requests\/sec/ {r = $2} / 50%/ {p50 = ms($2)} / 99%/ {p99 = ms($2)} /requests in/ {n = $1}
         END {printf "%.0f %.3f %.3f %d\n", r, p50, p99, n}' <<<"$out"
}
xacts() { sql "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = current_database()"; }

poll_section() {
    say "# --- short polling (wrk -t2 -c16 -d${wrk_secs}s)"
    sql "DELETE FROM push.message WHERE id > $SEED_MAX" >/dev/null
    start_app push-poll PUSH_THREADS=8
    local poll_pid=$APP_PID
    "$HELLO" "$WORK/fcgi-hello.sock" 8 2>>"$WORK/fcgi-hello.log" &
    local hello_pid=$!
    PIDS+=("$hello_pid")
    for _ in $(seq 1 50); do [ -S "$WORK/fcgi-hello.sock" ] && break; sleep 0.1; done
    start_web pgpush-nginx
    local tok etag base="http://127.0.0.1:$PORT" r x0 x1
    tok=$("$TOOLS/push-token" u1 2>/dev/null) || tok=$(PUSH_TOKEN_SECRET=$SECRET "$TOOLS/push-token" u1)
    local url="$base/ext/push-poll?token=$tok&limit=20"
    etag=$(curl -s -D - -o "$WORK/poll.json" "$url" | sed -n 's/^[Ee][Tt][Aa][Gg]: *//p' | tr -d '\r')
    say "  # push-poll: $(wc -c <"$WORK/poll.json") bytes, ETag $etag; with If-None-Match: $(curl -s -o /dev/null -w '%{http_code}' -H "If-None-Match: $etag" "$url")"
    x0=$(xacts); read -r -a r < <(wrk_run "$url"); x1=$(xacts)
    put pgpush-nginx "poll200|rps" "${r[0]}"; put pgpush-nginx "poll200|p50" "${r[1]}"; put pgpush-nginx "poll200|p99" "${r[2]}"
    put pgpush-nginx "poll200|xact" "$(awk -v a="$x0" -v b="$x1" -v n="${r[3]}" 'BEGIN {printf "%.2f", n ? (b - a) / n : 0}')"
    x0=$(xacts); read -r -a r < <(wrk_run "$url" "If-None-Match: $etag"); x1=$(xacts)
    put pgpush-nginx "poll304|rps" "${r[0]}"; put pgpush-nginx "poll304|p50" "${r[1]}"; put pgpush-nginx "poll304|p99" "${r[2]}"
    put pgpush-nginx "poll304|xact" "$(awk -v a="$x0" -v b="$x1" -v n="${r[3]}" 'BEGIN {printf "%.2f", n ? (b - a) / n : 0}')"
    say "  # static: $(curl -s "$base/static.json" | tr -d '\r\n'), fcgi-hello: $(curl -s "$base/hello" | tr -d '\r\n')"
    read -r -a r < <(wrk_run "$base/static.json")
    put pgpush-nginx "static|rps" "${r[0]}"; put pgpush-nginx "static|p50" "${r[1]}"
    read -r -a r < <(wrk_run "$base/hello")
    put pgpush-nginx "hello|rps" "${r[0]}"; put pgpush-nginx "hello|p50" "${r[1]}"
    stop_pid "$WEB_PID"; stop_pid "$hello_pid"; stop_pid "$poll_pid"
    WEB_PID="" APP_PID=""

    start_web nchan
    base="http://127.0.0.1:$PORT"
    local h lm et
    curl -s -X POST -d '{"data":{"t_ns":1,"seq":1}}' "$base/pub/pollc" >/dev/null
    h=$(curl -s -D - -o /dev/null "$base/poll/pollc")
    lm=$(sed -n 's/^[Ll]ast-[Mm]odified: *//p' <<<"$h" | tr -d '\r')
    et=$(sed -n 's/^[Ee][Tt]ag: *//p' <<<"$h" | tr -d '\r')
    say "  # Nchan intervalpoll: Last-Modified $lm, Etag $et; with both: $(curl -s -o /dev/null -w '%{http_code}' -H "If-Modified-Since: $lm" -H "If-None-Match: $et" "$base/poll/pollc")"
    read -r -a r < <(wrk_run "$base/poll/pollc")
    put nchan "poll200|rps" "${r[0]}"; put nchan "poll200|p50" "${r[1]}"; put nchan "poll200|p99" "${r[2]}"; put nchan "poll200|xact" 0
    read -r -a r < <(wrk_run "$base/poll/pollc" "If-Modified-Since: $lm" "If-None-Match: $et")
    put nchan "poll304|rps" "${r[0]}"; put nchan "poll304|p50" "${r[1]}"; put nchan "poll304|p99" "${r[2]}"; put nchan "poll304|xact" 0
    stop_pid "$WEB_PID"
    WEB_PID=""
}

# --- the run

say "# $(nproc) cores; push-load, the web servers, the programs and PostgreSQL share them"
say "# PostgreSQL: fsync $(sql "SHOW fsync"), synchronous_commit $(sql "SHOW synchronous_commit")"
case " $sections " in *" stream "*)
    for sc in $stream_list; do
        for target in $targets; do
            case $sc in
                sse:*) run "$target" sse "${sc#*:}" ;;
                longpoll:*) run "$target" longpoll "${sc#*:}" ;;
                broadcast:*) run "$target" broadcast "${sc#*:}" --broadcast --wait 60 ;;
            esac
        done
    done ;;
esac
case " $sections " in *" storm "*)
    somax=$(cat /proc/sys/net/core/somaxconn 2>/dev/null || echo "?")
    say "# storm: net.core.somaxconn $somax (the backlogs of 4096 are cut to it), load average $(cut -d' ' -f1-3 /proc/loadavg)"
    [ "$somax" != "?" ] && [ "$somax" -lt 4096 ] && say "# NOTE: net.core.somaxconn $somax < 4096: every listen backlog here is cut to it"
    for sc in $storm_list; do
        for target in $targets; do
            run "$target" "${sc%%:*}" "${sc#*:}" --connect-rate "$storm_rate" --duration 2 \
                --ready-timeout 60 --stall 20
        done
    done ;;
esac
case " $sections " in *" poll "*) poll_section ;; esac
case " $sections " in *" publish "*)
    run pgpush-nginx flood1 "$pub_users" --flood "$flood" --wait 60
    run pgpush-nginx floodmulti "$pub_users" --flood "$flood" --multirow --wait 60
    run nchan flood1 "$pub_users" --flood "$flood" --wait 60
    "$LOAD" --floor --rate 500 --duration 4 --label "PostgreSQL floor: INSERT (trigger NOTIFY) to LISTEN" \
        >"$WORK/floor.row" 2>>"$WORK/load.log" || { failed=$((failed + 1)); say "# the floor measurement failed"; }
    floor=$(cat "$WORK/floor.row")
    say "  $floor"
    put floor "p50" "$(field "$floor" 8)"; put floor "p99" "$(field "$floor" 10)"
    "$LOAD" --floor-load --rate "$rate" --publishers 4 --users 1000 --duration "$duration" \
        --label "PostgreSQL floor under load: INSERTs (trigger NOTIFY) to LISTEN, 4 connections" \
        >"$WORK/floorload.row" 2>>"$WORK/load.log" || { failed=$((failed + 1)); say "# the floor under load failed"; }
    floor=$(cat "$WORK/floorload.row")
    say "  $floor"
    put floorload "p50" "$(field "$floor" 8)"; put floorload "p99" "$(field "$floor" 10)" ;;
esac

# --- the table

ratio() { # ratio A B: A / B, or "-"
    awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || a == "-" || b == "-" || a !~ /^[0-9.]+$/ || b !~ /^[0-9.]+$/ || b + 0 == 0) print "-"; else printf "%.2f", a / b }'
}
g() { local v=${V["$1|$2"]:-}; echo "${v:--}"; }
line() { # line TEXT KEY BETTER: one metric for the three targets
    local a b c
    a=$(g pgpush-nginx "$2") b=$(g pgpush-lighttpd "$2") c=$(g nchan "$2")
    [ "$a$b$c" = "---" ] && return 0
    printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$1" "$a" "$b" "$c" "$(ratio "$a" "$c")" "$(ratio "$b" "$c")" "$3"
}

echo
echo "pgpush against Nchan, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, $(git -C "$top_srcdir" rev-parse --short HEAD 2>/dev/null), $(( $(date +%s) - T0 )) s$([ "$quick" = 1 ] && echo ", --quick")"
echo
echo "| metric | pgpush + nginx | pgpush + lighttpd | Nchan | ratio nginx / Nchan | ratio lighttpd / Nchan | better |"
echo "|---|--:|--:|--:|--:|--:|---|"
for sc in $stream_list; do
    kind=${sc%%:*} n=$(cap "${sc#*:}")
    k="$kind:$n"
    case $kind in
        sse|longpoll)
            t=$([ "$kind" = sse ] && echo "SSE" || echo "long poll")
            line "$t $n @ $rate msg/s: p50 ms" "$k|p50" lower
            line "$t $n: p90 ms" "$k|p90" lower
            line "$t $n: p99 ms" "$k|p99" lower
            line "$t $n: max ms" "$k|max" lower
            line "$t $n: lost / dup / failed" "$k|lost" "0 / 0 / 0"
            line "$t $n: server RSS KiB per subscriber (Δ)" "$k|rss" lower
            line "$t $n: server PSS KiB per subscriber (Δ)" "$k|pss" lower
            line "$t $n: server RSS MB in all" "$k|rsstot" lower
            line "$t $n: PostgreSQL connections" "$k|pg" lower
            line "$t $n: CPU s, all server processes (pgpush: + PostgreSQL)" "$k|cpu" lower ;;
        broadcast)
            line "broadcast to $n SSE: time to the last ms" "$k|max" lower
            line "broadcast to $n SSE: p50 ms" "$k|p50" lower
            line "broadcast to $n SSE: deliveries/s" "$k|deliv" higher
            line "broadcast to $n SSE: lost / dup / failed" "$k|lost" "0 / 0 / 0" ;;
    esac
done
case " $sections " in *" storm "*)
    for sc in $storm_list; do
        kind=${sc%%:*} n=$(cap "${sc#*:}")
        k="$kind:$n"
        if [ "$kind" = storm-sse ]; then t="storm, $n SSE" all="all streaming"; else t="storm, $n long polls" all="all held"; fi
        line "$t connecting at $storm_rate/s beside a CPU hog: clients served" "$k|ready" "higher ($n)"
        line "$t: failed, HTTP 502 / 503 / other" "$k|fails" "0 / 0 / 0"
        line "$t: retried after a refusal (503/429 with Retry-After, refusal stream)" "$k|retried" lower
        line "$t: from the first connect until $all, s" "$k|tall" lower
        line "$t: each client's first connect to first event, p50 ms" "$k|first50" lower
        line "$t: each client's first connect to first event, p99 ms" "$k|first99" lower
        line "$t: every client served" "$k|all" yes
        line "$t: then 1,000 msg/s for 2 s: lost / dup / failed" "$k|lost" "0 / 0 / 0"
        line "$t: deepest accept queue sampled, web server port / program socket (backlogs 4096)" "$k|queue" lower
        line "$t: CPU s until every client was served, all server processes (pgpush: + PostgreSQL)" "$k|cpuready" lower
        line "$t: of which web server / program / PostgreSQL" "$k|cpusplit" lower
        line "$t: the hog's share of a core meanwhile (the rest went to the servers, push-load, the machine)" "$k|hog" "-"
    done ;;
esac
line "short poll, full answer (200): requests/s" "poll200|rps" higher
line "short poll, full answer (200): p50 ms" "poll200|p50" lower
line "short poll, full answer (200): PostgreSQL transactions per request" "poll200|xact" lower
line "short poll, unchanged (304): requests/s" "poll304|rps" higher
line "short poll, unchanged (304): p50 ms" "poll304|p50" lower
line "short poll, unchanged (304): p99 ms" "poll304|p99" lower
line "short poll, unchanged (304): PostgreSQL transactions per request" "poll304|xact" lower
line "(scale) nginx, 13-byte static file: requests/s" "static|rps" higher
line "(scale) nginx → minimal libfcgi responder: requests/s" "hello|rps" higher
if [ -n "${V[pgpush-nginx|poll304|rps]:-}" ] && [ -n "${V[pgpush-nginx|hello|rps]:-}" ]; then
    printf '| push-poll 304 as %% of nginx → minimal FastCGI | %s | - | - | - | - | higher |\n' \
        "$(awk -v a="${V[pgpush-nginx|poll304|rps]}" -v b="${V[pgpush-nginx|hello|rps]}" 'BEGIN {printf "%.0f%%", b ? 100 * a / b : 0}')"
fi
if [ -n "${V[pgpush-nginx|poll200|rps]:-}" ] && [ -n "${V[pgpush-nginx|hello|rps]:-}" ]; then
    printf '| push-poll full answer (200) as %% of nginx → minimal FastCGI | %s | - | - | - | - | higher |\n' \
        "$(awk -v a="${V[pgpush-nginx|poll200|rps]}" -v b="${V[pgpush-nginx|hello|rps]}" 'BEGIN {printf "%.0f%%", b ? 100 * a / b : 0}')"
fi
line "publish, $flood messages to $pub_users SSE subscribers: msg/s until all delivered (pgpush: single-row INSERTs, 4 connections; Nchan: POST, 4 connections)" "flood1|deliv" higher
line "publish: the publishers' own rate, msg/s (INSERTs / POSTs answered)" "flood1|sendrate" higher
line "publish: p50 ms from send to arrival under that load" "flood1|p50" lower
line "publish: lost / dup / failed" "flood1|lost" "0 / 0 / 0"
if [ -n "${V[pgpush-nginx|floodmulti|deliv]:-}" ]; then
    a=${V[pgpush-nginx|floodmulti|deliv]} c=$(g nchan "flood1|deliv")
    printf '| publish, one multi-row INSERT of %s messages: msg/s until all delivered (Nchan: POST, as above) | %s | - | %s | %s | - | higher |\n' "$flood" "$a" "$c" "$(ratio "$a" "$c")"
    printf '| publish, one multi-row INSERT: lost / dup / failed | %s | - | - | - | - | 0 / 0 / 0 |\n' "${V[pgpush-nginx|floodmulti|lost]}"
fi
if [ -n "${V[floor|p50]:-}" ]; then
    printf '| PostgreSQL floor, INSERT (trigger NOTIFY) to LISTEN, 500/s: p50 / p99 ms | %s / %s | - | - | - | - | lower |\n' "${V[floor|p50]}" "${V[floor|p99]}"
fi
if [ -n "${V[floorload|p50]:-}" ]; then
    printf '| PostgreSQL floor under the scenarios'"'"' publishing, %s/s from 4 connections: p50 / p99 ms | %s / %s | - | - | - | - | lower |\n' "$rate" "${V[floorload|p50]}" "${V[floorload|p99]}"
fi
echo
echo "Latency: from just before the INSERT (pgpush) or the POST (Nchan) to the event at the client; long polling includes each re-poll."
echo "Memory: RSS and PSS summed over every server process (pgpush: push-sse/push-longpoll + the web server's master and workers; Nchan: nginx master and workers), with N subscribers minus with none, / N. PSS counts shared memory (Nchan's store) once."
echo "Nchan: nginx 2 workers (as pgpush's nginx), default buffers (10 messages, 1 h per channel, 128 MB shared memory); broadcast = one channel \"all\" all subscribe to; short polls = intervalpoll."
case " $sections " in *" storm "*)
    echo "Storm: the hog is stress-ng --cpu 1 --cpu-method int64 pinned to core $(( $(nproc) - 1 )) of $(nproc), started before the first connect and stopped after each scenario; failed = never served (by HTTP status, or the connection); retried = refused with 503/429 and Retry-After, or a 200 refusal stream with retry:, and come back after that time (+ up to half as much at random for Retry-After); first event = the SSE stream's first event, the long poll's first answer (Nchan SSE: its 200 head; Nchan long polls: no per-client figure, all held = nchan_status counting all). Backlogs: nginx listen backlog=4096, lighttpd server.listen-backlog = 4096, the programs' PUSH_LISTEN_BACKLOG 4096, net.core.somaxconn $(cat /proc/sys/net/core/somaxconn 2>/dev/null)."
    for t in $targets; do
        for sc in $storm_list; do
            k="${sc%%:*}:$(cap "${sc#*:}")"
            fc=${V["$t|$k|causes"]:-}
            rk=${V["$t|$k|rkinds"]:-}
            [ -n "$fc$rk" ] && echo "Storm, $t, $k: failed by cause: ${fc:-?}; retried: ${rk:-?}."
        done
    done ;;
esac
if [ ${#RAW[@]} -gt 0 ]; then
    echo
    echo "Raw rows (push-load; then server RSS MB with 0 / N subscribers, PSS MB 0 / N, PostgreSQL connections, CPU s of the server processes, CPU s of PostgreSQL):"
    echo
    "$LOAD" --header | sed '1s/ *| *$/ | RSS MB (0 \/ N) | PSS MB (0 \/ N) | PG conns | server CPU s | PG CPU s |/; 2s/$/--:|--:|--:|--:|--:|/'
    printf '%s\n' "${RAW[@]}"
fi
[ "$failed" -eq 0 ]
