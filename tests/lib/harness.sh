# harness.sh: sourced by integration tests: a real PostgreSQL and a real lighttpd, assertions, cleanup
#
# Provides:
#   harness_start            database (fresh, schema installed) + lighttpd serving the built programs
#   http METHOD PATH [curl args...]   sets STATUS, BODY, HEADERS (lower-case names)
#   header NAME              a response header's value
#   sql "SQL"                runs SQL in the test database as its owner, prints unaligned tuples
#   publish "SQL"            the same as the publisher role (push_pub, granted push_publisher)
#   ok DESC / not_ok DESC    record a result; check COND DESC (eval) ; eq A B DESC ; json_eq FILTER VALUE DESC
#   harness_done             prints "N passed, M failed", exits 1 on any failure
#
# The PostgreSQL comes from PUSH_TEST_PGENV (an env file written by tests/lib/pgcluster, as
# tests/run does), else a private cluster is started in a temporary folder. A service that cannot
# be started is a hard error (exit 99), never a skip. psql works as the superuser that installed the
# schema (its owner); the programs as WEB_ROLE (push_web, granted push_reader: README "Database
# roles"), through PUSH_DATABASE_URL, which is exported; push-demo as PUB_ROLE (push_pub).
#
# lighttpd serves, on 127.0.0.1:$PORT:
#   /cgi-bin/push-poll   FastCGI spawned by lighttpd (bin-path), tokens accepted
#   /ext/push-poll       the same program as an external FastCGI server on a unix socket
#   /cgi/push-poll       the same program as plain CGI
#   /cgi/push-sse, /cgi/push-longpoll, /cgi/push-iframe   the streaming programs as plain CGI (a
#                        process per request, its stream in its own thread; PUSH_HEARTBEAT=1,
#                        PUSH_LIFETIME=4, PUSH_LOG_LEVEL=debug: a stream's end is logged)
#   /auth/push-poll      spawned FastCGI behind lighttpd's own Basic auth (REMOTE_USER)
#   /demo/push-poll      spawned FastCGI in demo mode (?user= trusted)
#   /noschema/push-poll  spawned FastCGI pointed at a database without the schema
#   /cgi-bin/push-sse, /cgi-bin/push-longpoll, /cgi-bin/push-iframe   the streaming programs,
#                                               spawned (bin-path)
#   /ext/push-sse, /ext/push-longpoll, /ext/push-iframe   ... as external servers (start_daemon)
#   /ext-status/push-sse, /ext-status/push-longpoll       their metrics (PUSH_STATUS=metrics)
#   /ext/push-ws         push-ws on $WORK/push-ws.sock (start_daemon push-ws), WebSocket proxied
#                        (nginx: the same locations, harness_nginx)
#   /cgi-bin/push-demo, /demo/push-demo         the demo publisher, without and with PUSH_DEMO

set -u
: "${top_srcdir:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
TEST_NAME=$(basename "$0" .sh)
T_PASS=0
T_FAIL=0
T_N=0
SECRET=test-secret-0123456789abcdef
WEB_ROLE=push_web  # the programs' login role (granted push_reader)
PUB_ROLE=push_pub  # the publishers' (granted push_publisher)
OTHER_SECRET=another-secret-0123456789abcdef
BIN=$top_builddir/cgi-bin       # the FastCGI programs
DAEMONS=$top_builddir/daemons   # push-ws, push-mqtt
TOOLS=$top_builddir/tools       # push-token
# PUSH_TEST_BIN=DIR: the installed programs instead of the build's (tests/package/run): the FastCGI
# programs and push-ws in DIR (the cgi-bin directory), push-token and push-mqtt in PUSH_TEST_TOOLS
# (default /usr/bin)
if [ -n "${PUSH_TEST_BIN:-}" ]; then
    BIN=$PUSH_TEST_BIN
    DAEMONS=$PUSH_TEST_BIN
    TOOLS=${PUSH_TEST_TOOLS:-/usr/bin}
fi
# program NAME: where the build put NAME (cgi-bin/, daemons/ or tools/)
program() {
    case $1 in
        push-ws) echo "$DAEMONS/$1" ;;
        push-mqtt | push-webpush) if [ -n "${PUSH_TEST_BIN:-}" ]; then echo "$TOOLS/$1"; else echo "$DAEMONS/$1"; fi ;;
        push-token) echo "$TOOLS/$1" ;;
        *) echo "$BIN/$1" ;;
    esac
}

hard_error() { echo "HARD ERROR: $*" >&2; T_FAIL=$((T_FAIL + 1)); exit 99; }

for tool in curl jq psql lighttpd; do
    command -v "$tool" >/dev/null || hard_error "$tool is not installed (tests/run installs it)"
done
[ -x "$BIN/push-poll" ] || hard_error "$BIN/push-poll is not built"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/pgpush-$TEST_NAME.XXXXXX")
chmod 755 "$WORK"
PRIVATE_PG=""
HARNESS_PIDS=()
HARNESS_STANDBYS=()

harness_cleanup() {
    local pid dir
    for pid in "${HARNESS_PIDS[@]}"; do kill "$pid" 2>/dev/null; done
    for dir in ${HARNESS_STANDBYS[@]+"${HARNESS_STANDBYS[@]}"}; do
        "$top_srcdir/tests/lib/pgcluster" stop "$dir" >/dev/null 2>&1
    done
    if [ -n "$PRIVATE_PG" ]; then
        "$top_srcdir/tests/lib/pgcluster" stop "$PRIVATE_PG" >/dev/null 2>&1
    elif [ -n "${PGDATABASE:-}" ]; then
        PGDATABASE=postgres dropdb --if-exists --force "$TEST_DB" >/dev/null 2>&1
    fi
    if [ "$T_FAIL" -gt 0 ] || [ -n "${KEEP_WORK:-}" ]; then
        echo "# logs kept in $WORK" >&2
        tail -n 20 "$WORK"/*.log 2>/dev/null | sed 's/^/# /' >&2
    else
        rm -rf "$WORK"
    fi
}
trap harness_cleanup EXIT
trap 'exit 143' TERM INT   # so that the cleanup runs when a test is stopped

free_port() {
    local p
    for _ in $(seq 1 200); do
        p=$(( 20000 + RANDOM % 12000 ))  # below the ephemeral range (32768-60999)
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return; fi
    done
    hard_error "no free port"
}

# --- PostgreSQL

harness_database() {
    if [ -n "${PUSH_TEST_PGENV:-}" ]; then
        [ -r "$PUSH_TEST_PGENV" ] || hard_error "PUSH_TEST_PGENV=$PUSH_TEST_PGENV is not readable"
        # shellcheck disable=SC1090
        . "$PUSH_TEST_PGENV"
        TEST_DB="pgpush_$(echo "$TEST_NAME" | tr -c 'a-z0-9\n' '_')"
        PGDATABASE=postgres dropdb --if-exists --force "$TEST_DB" >/dev/null 2>&1
        PGDATABASE=postgres createdb "$TEST_DB" || hard_error "cannot create database $TEST_DB"
        export PGDATABASE=$TEST_DB
    else
        PRIVATE_PG=$WORK/pg
        "$top_srcdir/tests/lib/pgcluster" start "$PRIVATE_PG" >/dev/null || hard_error "cannot start PostgreSQL"
        # shellcheck disable=SC1091
        . "$PRIVATE_PG/env"
        TEST_DB=$PGDATABASE
    fi
    psql -qAtX -c 'SELECT 1' >/dev/null 2>&1 || hard_error "PostgreSQL at $PGHOST:$PGPORT does not answer"
    psql -qX -v ON_ERROR_STOP=1 -f "$top_srcdir/sql/install.sql" >"$WORK/install.log" 2>&1 \
        || { cat "$WORK/install.log" >&2; hard_error "schema install failed"; }
    "$top_srcdir/tests/lib/pgcluster" roles "${PRIVATE_PG:-$(dirname "$PUSH_TEST_PGENV")}" >/dev/null \
        || hard_error "cannot create the login roles $WEB_ROLE and $PUB_ROLE"
    export PUSH_DATABASE_URL="user=$WEB_ROLE"
}

sql() {
    psql -qAtX -v ON_ERROR_STOP=1 -c "$1"
}

# harness_standby DIR NAME: a hot standby of the test's own PostgreSQL (unset PUSH_TEST_PGENV
# before harness_database), streaming from it, in DIR; sets NAMEHOST and NAMEPORT; stopped at the end
harness_standby() {
    [ -n "$PRIVATE_PG" ] || hard_error "a standby needs the test's own PostgreSQL (unset PUSH_TEST_PGENV)"
    HARNESS_STANDBYS+=("$1")
    "$top_srcdir/tests/lib/pgcluster" standby "$1" "$PRIVATE_PG" >/dev/null || hard_error "the standby in $1 did not start"
    printf -v "${2}HOST" '%s' "$(. "$1/env" && echo "$PGHOST")"
    printf -v "${2}PORT" '%s' "$(. "$1/env" && echo "$PGPORT")"
}

publish() {
    PGUSER=$PUB_ROLE psql -qAtX -v ON_ERROR_STOP=1 -c "$1"
}

# --- lighttpd

# the environment of a spawned program; $1 = extra "K" => "V" pairs, $2 = database, $3 = role
# (HARNESS_FCGI_ENV: more pairs for every spawned program of the test)
fcgi_env() {
    printf '"PGHOST" => "%s", "PGPORT" => "%s", "PGDATABASE" => "%s", "PUSH_DATABASE_URL" => "user=%s", "PUSH_TOKEN_SECRET" => "%s"%s%s' \
        "$PGHOST" "$PGPORT" "${2:-$PGDATABASE}" "${3:-$WEB_ROLE}" "$SECRET" "${1:+, $1}" "${HARNESS_FCGI_ENV:+, $HARNESS_FCGI_ENV}"
}

spawned() { # $1 = socket name, $2 = extra env, $3 = database, $4 = program (push-poll), $5 = role
    cat <<EOF
((
    "bin-path" => "$BIN/${4:-push-poll}",
    "socket" => "$WORK/$1.sock",
    "max-procs" => 1,
    "check-local" => "disable",
    "bin-environment" => ( $(fcgi_env "${2:-}" "${3:-}" "${5:-}") ),
))
EOF
}

harness_lighttpd() {
    local attempt
    for attempt in 1 2 3; do  # a port taken between free_port and bind: try another
        lighttpd_try && return 0
    done
    hard_error "lighttpd does not answer on $BASE: $(tail -n 5 "$WORK/lighttpd-error.log" 2>/dev/null)"
}

lighttpd_try() {
    PORT=$(free_port)
    BASE="http://127.0.0.1:$PORT"
    printf 'alice:alice-password\nbob:bob-password\n' >"$WORK/users"
    cat >"$WORK/lighttpd.conf" <<EOF
server.document-root = "$top_srcdir/htdocs"
server.bind = "127.0.0.1"
server.port = $PORT
server.errorlog = "$WORK/lighttpd-error.log"
server.pid-file = "$WORK/lighttpd.pid"
server.modules = ( "mod_access", "mod_alias", "mod_auth", "mod_authn_file", "mod_setenv", "mod_fastcgi", "mod_cgi", "mod_proxy" )
# 2: stream, and stop reading from the program while the client is not reading (backpressure)
server.stream-response-body = 2
index-file.names = ( "index.html" )
mimetype.assign = ( ".html" => "text/html; charset=utf-8", ".js" => "text/javascript", ".css" => "text/css" )
auth.backend = "plain"
auth.backend.plain.userfile = "$WORK/users"
\$HTTP["url"] =~ "^/auth/" {
    auth.require = ( "" => ( "method" => "basic", "realm" => "pgpush", "require" => "valid-user" ) )
}
\$HTTP["url"] =~ "^/ext-status/" {
    setenv.add-environment = ( "PUSH_STATUS" => "metrics" )
}
\$HTTP["url"] =~ "^/ext/push-ws" {
    proxy.server = ( "" => (( "socket" => "$WORK/push-ws.sock" )) )
    proxy.header = ( "upgrade" => "enable" )
}
\$HTTP["url"] =~ "^/cgi/" {
    alias.url = ( "/cgi/" => "$BIN/" )
    cgi.assign = ( "/push-poll" => "", "/push-sse" => "", "/push-longpoll" => "", "/push-iframe" => "" )
    setenv.add-environment = ( $(fcgi_env "") )
    \$HTTP["url"] =~ "^/cgi/push-(sse|longpoll|iframe)\$" {
        setenv.add-environment = ( $(fcgi_env '"PUSH_HEARTBEAT" => "1", "PUSH_LIFETIME" => "4", "PUSH_LOG_LEVEL" => "debug"') )
    }
}
fastcgi.server = (
    "/cgi-bin/push-poll" => $(spawned spawned),
    "/auth/push-poll" => $(spawned auth),
    "/demo/push-poll" => $(spawned demo '"PUSH_DEMO" => "1"'),
    "/noschema/push-poll" => $(spawned noschema "" postgres),
    "/cgi-bin/push-sse" => $(spawned spawned-sse '"PUSH_LIFETIME" => "2", "PUSH_HEARTBEAT" => "1", "PGAPPNAME" => "spawned-sse"' "" push-sse),
    "/cgi-bin/push-longpoll" => $(spawned spawned-longpoll "" "" push-longpoll),
    "/cgi-bin/push-iframe" => $(spawned spawned-iframe '"PUSH_LIFETIME" => "2", "PUSH_HEARTBEAT" => "1"' "" push-iframe),
    "/cgi-bin/push-demo" => $(spawned spawned-demo "" "" push-demo "$PUB_ROLE"),
    "/demo/push-demo" => $(spawned demo-demo '"PUSH_DEMO" => "1"' "" push-demo "$PUB_ROLE"),
    "/ext/push-poll" => (( "socket" => "$WORK/ext.sock", "check-local" => "disable" )),
    "/ext/push-sse" => (( "socket" => "$WORK/push-sse.sock", "check-local" => "disable" )),
    "/ext-status/push-sse" => (( "socket" => "$WORK/push-sse.sock", "check-local" => "disable" )),
    "/ext-status/push-longpoll" => (( "socket" => "$WORK/push-longpoll.sock", "check-local" => "disable" )),
    "/short/push-sse" => (( "socket" => "$WORK/push-sse-short.sock", "check-local" => "disable" )),
    "/ext/push-longpoll" => (( "socket" => "$WORK/push-longpoll.sock", "check-local" => "disable" )),
    "/ext/push-iframe" => (( "socket" => "$WORK/push-iframe.sock", "check-local" => "disable" )),
)
EOF
    if [ ! -S "$WORK/ext.sock" ]; then
        env PUSH_TOKEN_SECRET="$SECRET" "$BIN/push-poll" --listen "$WORK/ext.sock" 2>>"$WORK/ext-daemon.log" &
        HARNESS_PIDS+=($!)
    fi
    for _ in $(seq 1 100); do [ -S "$WORK/ext.sock" ] && break; sleep 0.1; done
    [ -S "$WORK/ext.sock" ] || hard_error "the external push-poll did not start: $(cat "$WORK/ext-daemon.log")"
    # in the foreground (-D): the spawned programs' stderr then reaches the error log, as it
    # reaches the journal under systemd (a daemonized lighttpd sends it to /dev/null)
    lighttpd -D -f "$WORK/lighttpd.conf" 2>>"$WORK/lighttpd-error.log" &
    HARNESS_PIDS+=($!)
    for _ in $(seq 1 200); do  # up to 20 s: a loaded machine starts slowly
        curl -s -o /dev/null "$BASE/" && return 0
        kill -0 "${HARNESS_PIDS[-1]}" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

harness_start() {
    harness_database
    harness_lighttpd
}

# --- external streaming daemons, and nginx in front of them

declare -A DAEMON_PID
# start_daemon NAME [VAR=VALUE...]: the program NAME as an external FastCGI server on $WORK/NAME.sock
# (SOCK=OTHER start_daemon ...: on $WORK/OTHER.sock, logging to $WORK/OTHER.log;
#  DAEMON_WRAP="prlimit ... --" start_daemon ...: started through that command)
start_daemon() {
    local prog=$1 name=${SOCK:-$1}
    shift
    rm -f "$WORK/$name.sock"
    ${DAEMON_WRAP:-} env PUSH_TOKEN_SECRET="$SECRET" "$@" "$(program "$prog")" --listen "$WORK/$name.sock" 2>>"$WORK/$name.log" &
    DAEMON_PID[$name]=$!
    HARNESS_PIDS+=($!)
    for _ in $(seq 1 100); do [ -S "$WORK/$name.sock" ] && return 0; sleep 0.05; done
    hard_error "$name did not start: $(tail -n 5 "$WORK/$name.log")"
}

harness_nginx() {
    local attempt
    command -v nginx >/dev/null || hard_error "nginx is not installed (tests/run installs it)"
    for attempt in 1 2 3; do  # a port taken between free_port and bind: try another
        nginx_try && return 0
    done
    hard_error "nginx did not start: $(tail -n 5 "$WORK/nginx-error.log")"
}

nginx_try() {
    NPORT=$(free_port)
    mkdir -p "$WORK/nginx"
    local user=""
    [ "$(id -u)" = 0 ] && user="user root root;"
    cat >"$WORK/nginx.conf" <<EOF
$user
worker_processes 1;
pid $WORK/nginx.pid;
error_log $WORK/nginx-error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $WORK/nginx/body;
    fastcgi_temp_path $WORK/nginx/fastcgi;
    proxy_temp_path $WORK/nginx/proxy;
    uwsgi_temp_path $WORK/nginx/uwsgi;
    scgi_temp_path $WORK/nginx/scgi;
    server {
        listen 127.0.0.1:$NPORT;
        root $top_srcdir/htdocs;
        location = /ext/push-poll { include /etc/nginx/fastcgi_params; fastcgi_pass unix:$WORK/ext.sock; }
        location = /ext/push-longpoll {
            include /etc/nginx/fastcgi_params;
            fastcgi_pass unix:$WORK/push-longpoll.sock;
            fastcgi_read_timeout 120s;
        }
        location = /ext/push-sse {
            include /etc/nginx/fastcgi_params;
            fastcgi_pass unix:$WORK/push-sse.sock;
            fastcgi_buffering off;
            fastcgi_buffer_size 1k;  # as conf/nginx.conf
            fastcgi_read_timeout 120s;
        }
        location = /ext/push-iframe {
            include /etc/nginx/fastcgi_params;
            fastcgi_pass unix:$WORK/push-iframe.sock;
            fastcgi_buffering off;
            fastcgi_buffer_size 1k;  # as conf/nginx.conf
            fastcgi_read_timeout 120s;
        }
        location ~ ^/ext-status/(push-sse|push-longpoll)\$ {
            include /etc/nginx/fastcgi_params;
            fastcgi_param PUSH_STATUS metrics;
            fastcgi_pass unix:$WORK/\$1.sock;
        }
        location = /ext/push-ws {
            proxy_pass http://unix:$WORK/push-ws.sock:;
            proxy_http_version 1.1;
            proxy_set_header Upgrade \$http_upgrade;
            proxy_set_header Connection "upgrade";
            proxy_read_timeout 120s;
        }
        location = /short/push-sse {
            include /etc/nginx/fastcgi_params;
            fastcgi_pass unix:$WORK/push-sse-short.sock;
            fastcgi_buffering off;
            fastcgi_buffer_size 1k;  # as conf/nginx.conf
        }
    }
}
EOF
    nginx -p "$WORK/nginx" -c "$WORK/nginx.conf" -e "$WORK/nginx-error.log" -g 'daemon off;' 2>>"$WORK/nginx-error.log" &
    HARNESS_PIDS+=($!)
    for _ in $(seq 1 200); do
        curl -s -o /dev/null "http://127.0.0.1:$NPORT/" && return 0
        kill -0 "${HARNESS_PIDS[-1]}" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}


# --- HTTP

# http METHOD PATH [curl args...]: sets STATUS, BODY and the header file
http() {
    local method=$1 path=$2
    shift 2
    rm -f "$WORK/body"
    STATUS=$(curl -sS -o "$WORK/body" -D "$WORK/headers" -w '%{http_code}' -X "$method" "$@" "$BASE$path")
    BODY=$(cat "$WORK/body" 2>/dev/null)
}

header() { # header NAME: value of a response header (case-insensitive), without CR
    grep -i "^$1:" "$WORK/headers" | head -n 1 | sed 's/^[^:]*: *//' | tr -d '\r'
}

token() { # token USER [TTL] [SECRET]
    PUSH_TOKEN_SECRET=${3:-$SECRET} "$TOOLS/push-token" --ttl "${2:-3600}" "$1"
}

# --- assertions (TAP-like lines)

ok() { T_N=$((T_N + 1)); T_PASS=$((T_PASS + 1)); echo "ok $T_N - $1"; }
not_ok() {
    T_N=$((T_N + 1)); T_FAIL=$((T_FAIL + 1)); echo "not ok $T_N - $1"
    [ -n "${2:-}" ] && echo "#   $2"
    [ -n "${BODY:-}" ] && echo "#   last status ${STATUS:-?}, body: ${BODY:0:400}"
    return 0
}
check() { if eval "$1"; then ok "$2"; else not_ok "$2" "failed: $1"; fi; }
eq() { if [ "$1" = "$2" ]; then ok "$3"; else not_ok "$3" "expected [$2], got [$1]"; fi; }
json_eq() { eq "$(jq -r "$1" <<<"$BODY" 2>&1)" "$2" "$3"; }
# mark_cases ID CUR OTHER FUTURE TAG: the mark-read cases of tests/lib/mark-cases.tsv (what every
# transport must answer alike) with their placeholders filled in, one "CODE<tab>BODY<tab>WHAT" a line
mark_cases() {
    local code body what
    while IFS=$'\t' read -r code body what; do
        case $code in '' | '#'*) continue ;; esac
        body=${body//@ID@/"$1"} body=${body//@CUR@/"$2"} body=${body//@OTHER@/"$3"}
        body=${body//@FUTURE@/"$4"} body=${body//@TAG@/"$5"}
        printf '%s\t%s\t%s\n' "$code" "$body" "$what"
    done <"$top_srcdir/tests/lib/mark-cases.tsv"
}
# refused_stream ERROR_CODE STATUS MIN_RETRY_MS DESC: a temporary refusal (429, 5xx) of an SSE or
# iframe request, which a browser's EventSource (or the iframe client) must retry: 200 with the
# stream's content type, a retry of at least MIN_RETRY_MS (at most half as much again), one error
# event naming ERROR_CODE and STATUS, no message or counts, and the answer's end
refused_stream() {
    local data retry why=""
    if grep -qi '^Content-Type: *text/event-stream' "$WORK/headers"; then
        data=$(printf '%s\n' "$BODY" | sed -n '/^event: error$/{n;s/^data: //p}' | head -n 1)
        retry=$(printf '%s\n' "$BODY" | sed -n 's/^retry: \([0-9]*\)$/\1/p' | head -n 1)
        printf '%s\n' "$BODY" | grep -q '^event: \(message\|unread\)$' && why="events besides the error"
    else
        data=$(printf '%s\n' "$BODY" | sed -n 's/.*("error",null,\(.*\))<\/script>.*/\1/p' | head -n 1)
        retry=$(printf '%s\n' "$BODY" | sed -n 's/.*("open",null,{"retry":\([0-9]*\)}).*/\1/p' | head -n 1)
        printf '%s\n' "$BODY" | grep -q '("\(message\|unread\)",' && why="events besides the error"
        grep -qi '^Content-Type: *text/html' "$WORK/headers" || why="neither text/event-stream nor text/html"
    fi
    [ "$STATUS" = 200 ] || why="status $STATUS"
    [ "$(jq -r .error <<<"$data" 2>/dev/null)" = "$1" ] || why="${why:-error event [$data]}"
    [ "$(jq -r .status <<<"$data" 2>/dev/null)" = "$2" ] || why="${why:-status in the event [$data]}"
    [ -n "$retry" ] && [ "$retry" -ge "$3" ] && [ "$retry" -le $(( $3 * 3 / 2 + 1 )) ] || why="${why:-retry [$retry]}"
    [ "$(jq -r .retry <<<"$data" 2>/dev/null)" = "$retry" ] || why="${why:-the event's retry is not the stream's}"
    if [ -z "$why" ]; then ok "$4"; else not_ok "$4" "expected 200 and an error event {error: $1, status: $2}: $why"; fi
}
# status_is CODE ERROR_CODE DESC: a JSON error answer with this status and code
status_is() {
    if [ "$STATUS" = "$1" ] && [ "$(jq -r .error <<<"$BODY" 2>/dev/null)" = "$2" ] \
        && [ -n "$(jq -r '.message // empty' <<<"$BODY" 2>/dev/null)" ]; then
        ok "$3"
    else
        not_ok "$3" "expected $1 {error: $2}"
    fi
}

# rss_bound KIB [PERCENT]: a bound on a program's growth in resident memory, as it holds for a
# plain build, widened for a sanitizer build: AddressSanitizer keeps freed memory in quarantine
# (ASAN_OPTIONS quarantine_size_mb), which costs PERCENT of its size (125: redzones; small blocks
# cost more), and ThreadSanitizer shadows what the program touches (about 5 times). The plain
# build's pass of tests/run holds the bound as written.
rss_bound() {
    local b=$1 q
    q=$(grep -o 'quarantine_size_mb=[0-9]*' <<<"${ASAN_OPTIONS:-}") && b=$(( b + ${q#*=} * 1024 * ${2:-125} / 100 ))
    grep -q -a __tsan_init "$BIN/push-sse" && b=$(( b * 5 ))
    echo "$b"
}

harness_done() {
    # a sanitizer report from any program we ran (their stderr lands in these logs) is a failure
    if grep -l -E 'ERROR: (AddressSanitizer|LeakSanitizer)|WARNING: ThreadSanitizer|runtime error:' "$WORK"/*.log >/dev/null 2>&1; then
        not_ok "no sanitizer reports from the programs" "$(grep -h -m 5 -E 'Sanitizer|runtime error:' "$WORK"/*.log)"
    fi
    echo "$T_PASS passed, $T_FAIL failed"
    [ "$T_FAIL" -eq 0 ] && [ "$T_PASS" -gt 0 ]
    exit $?
}
