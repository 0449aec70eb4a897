# server-suite.sh: one end-to-end suite behind a real web server, configured from the shipped conf/ files
#
# Sourced by test-server-*.sh with SERVER set to apache-fcgid, apache-proxy-fcgi, lighttpd (spawning
# the programs), lighttpd-external or nginx.
# The server's configuration is generated from conf/ by substituting paths, the port and the database
# only, so what is shipped is what is tested. Each server is started on 127.0.0.1 with a private
# configuration, pid file and logs under the test's temporary folder, and stopped at the end.
#
# Checks: the four transports (push-poll GET and a mark-read POST, push-longpoll answered by a
# message published while held, push-sse and push-iframe receiving a message within 2 s (about
# 0.1 s here; a buffering server would hold it for good) while the stream is open), identity from the server's own Basic auth (REMOTE_USER) and from tokens (query and
# Authorization: Bearer), 401 for a wrong password or a bad token, and deployments pointed at a
# database without the schema (503 schema_mismatch) or at no PostgreSQL (503 database_unavailable):
# answered at once, and a clear line in the error log.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib/harness.sh"
# PUSH_TEST_CONF=DIR: configurations laid out as conf/ (tests/package/run: the installed ones), which
# name the programs in PUSH_TEST_CONF_CGIBIN (conf/'s: /usr/lib/cgi-bin)
CONF=${PUSH_TEST_CONF:-$top_srcdir/conf}
CONF_CGIBIN=${PUSH_TEST_CONF_CGIBIN:-/usr/lib/cgi-bin}
PROGRAMS=(push-poll push-longpoll push-sse push-iframe)
for p in "${PROGRAMS[@]}"; do [ -x "$BIN/$p" ] || hard_error "$BIN/$p is not built"; done
[ -x "$DAEMONS/push-ws" ] || hard_error "$DAEMONS/push-ws is not built"
command -v node >/dev/null || hard_error "node is not installed (tests/run installs it)"
WS_CLIENT=$top_srcdir/tests/lib/ws-client.mjs
SUITE_T0=$(date +%s%N)
harness_database
APACHE_USER=""
[ "$(id -u)" = 0 ] && APACHE_USER=www-data  # Apache refuses to serve as root
# where the site's conf finds the programs (/usr/lib/cgi-bin in the shipped files). mod_fcgid starts
# them as Apache's user, who cannot enter a checkout in a 0700 home: then a copy it can reach.
CGI_DIR=$BIN
if [ "$SERVER" = apache-fcgid ] && [ -n "$APACHE_USER" ] && ! runuser -u "$APACHE_USER" -- test -x "$BIN/push-poll"; then
    CGI_DIR=$WORK/cgi-bin
    mkdir -p "$CGI_DIR" && cp "${PROGRAMS[@]/#/$BIN/}" "$CGI_DIR/" && chmod 755 "$CGI_DIR" "$CGI_DIR"/*
    runuser -u "$APACHE_USER" -- test -x "$CGI_DIR/push-poll" || hard_error "$APACHE_USER cannot run $CGI_DIR/push-poll"
fi

case $SERVER in
    apache-fcgid) SHIPPED=$CONF/apache-fcgid.conf ;;
    apache-proxy-fcgi) SHIPPED=$CONF/apache-proxy-fcgi.conf ;;
    lighttpd) SHIPPED=$CONF/lighttpd-spawned.conf ;;
    lighttpd-external) SHIPPED=$CONF/lighttpd-external.conf ;;
    nginx) SHIPPED=$CONF/nginx.conf ;;
    *) hard_error "unknown SERVER=$SERVER" ;;
esac
# every conf has the status location (/pgpush-status/PROGRAM/metrics and /health). ONE_PROCESS:
# one process answers a program's requests (external daemons, lighttpd's max-procs 1), so its
# counters are those of the streams this suite opened; mod_fcgid answers from whichever of its
# processes is idle, whose metrics count that process alone.
STATUS_CONF=1
case $SERVER in apache-fcgid) ONE_PROCESS=0 ;; *) ONE_PROCESS=1 ;; esac
case $SERVER in
    apache-*) command -v apache2 >/dev/null || hard_error "apache2 is not installed (tests/run installs it)"
              MODS=/usr/lib/apache2/modules ;;
    lighttpd*) command -v lighttpd >/dev/null || hard_error "lighttpd is not installed" ;;
    nginx) command -v nginx >/dev/null || hard_error "nginx is not installed" ;;
esac
[ -r "$SHIPPED" ] || hard_error "$SHIPPED is missing"
[ "$SERVER" = apache-fcgid ] && { [ -r "$MODS/mod_fcgid.so" ] || hard_error "mod_fcgid is not installed (libapache2-mod-fcgid)"; }
[ "$SERVER" = apache-proxy-fcgi ] && { command -v spawn-fcgi >/dev/null || hard_error "spawn-fcgi is not installed"; }
if [ "$SERVER" = apache-fcgid ]; then
    # the shipped conf changes no other FastCGI application's settings: every program's settings are
    # its own FcgidCmdOptions line, and server-wide only the two mod_fcgid takes nowhere else, which
    # the conf names in capitals (a server-wide FcgidMaxProcesses 256 once cut PHP's processes)
    wide=$(sed -n '/^ *Fcgid/{/^ *FcgidCmdOptions /d;s/^ *\(Fcgid[A-Za-z]*\).*/\1/p}' "$SHIPPED" | sort | paste -sd' ')
    eq "$wide" "FcgidOutputBufferSize FcgidSpawnScoreUpLimit" "conf/apache-fcgid.conf: server-wide only FcgidOutputBufferSize and FcgidSpawnScoreUpLimit"
    check 'grep -q "SERVER-WIDE" "$SHIPPED"' "... and it says so"
    eq "$(grep -cE "^ *FcgidCmdOptions [^ ]*/push-(poll|longpoll|sse|iframe) " "$SHIPPED")" 4 "... each of the four programs has its FcgidCmdOptions"
fi
if [ "$SERVER" = lighttpd-external ]; then
    command -v systemd-socket-activate >/dev/null || hard_error "systemd-socket-activate is not installed (systemd)"
    # the shipped units are well-formed (pointed at the built programs: verify wants an executable)
    mkdir -p "$WORK/units"
    for f in pgpush@.service pgpush@.socket; do sed "s|$CONF_CGIBIN|$BIN|g" "$CONF/systemd/$f" >"$WORK/units/$f"; done
    ln -s pgpush@.service "$WORK/units/pgpush@push-sse.service"
    ln -s pgpush@.socket "$WORK/units/pgpush@push-sse.socket"
    out=$(cd "$WORK/units" && systemd-analyze verify --man=no ./pgpush@push-sse.socket ./pgpush@push-sse.service 2>&1)
    eq "$out" "" "systemd-analyze verify accepts conf/systemd/pgpush@.socket and pgpush@.service"
fi

# --- one deployment: the shipped file with paths, port and database substituted, the daemons it
# expects (for the external-daemon configurations), and the server. deploy NAME CONNINFO sets
# BASE, ERRLOG (where this deployment's program errors go) and DEPLOY_DIR.
declare -A SERVER_PID DAEMON_PIDS
deploy() {
    local name=$1 conn=$2 attempt
    local d=$WORK/$name
    mkdir -p "$d/etc" "$d/run" "$d/tmp"
    chmod 755 "$d" "$d/etc" "$d/run" "$d/tmp"
    printf '%s\n' "$SECRET" >"$d/etc/secret"
    chmod 644 "$d/etc/secret"
    # the configuration file (the programs mod_fcgid spawns read it: PUSH_CONFIG in the shipped conf)
    printf 'PUSH_DATABASE_URL="%s"\nPUSH_TOKEN_SECRET_FILE=%s\n' "$conn" "$d/etc/secret" >"$d/etc/pgpush.conf"
    chmod 644 "$d/etc/pgpush.conf"
    # Basic auth users, apr1 hashes: every server here reads them
    printf 'alice:%s\nbob:%s\n' "$(openssl passwd -apr1 alice-password)" "$(openssl passwd -apr1 bob-password)" >"$d/etc/htpasswd"
    chmod 644 "$d/etc/htpasswd"
    DEPLOY_DIR=$d
    start_backends "$name" "$conn"
    start_ws "$name" "$conn"
    for attempt in 1 2 3; do  # a port taken between free_port and bind: try another
        PORT=$(free_port)
        BASE="http://127.0.0.1:$PORT"
        sed -e "s|$CONF_CGIBIN|$CGI_DIR|g" -e "s|/run/pgpush/|$d/run/|g" \
            -e "s|/run/lighttpd/pgpush-|$d/run/spawned-|g" -e "s|/etc/pgpush/|$d/etc/|g" \
            -e "s|dbname=app|$conn|g" -e "s|listen 80;|listen 127.0.0.1:$PORT;|" \
            "$SHIPPED" >"$d/site.conf"
        grep -q "$d" "$d/site.conf" || hard_error "nothing substituted in $SHIPPED"
        # nginx: one location more, the trap README warns of (Debian's fastcgi_params, then a
        # second REMOTE_USER line: both are sent), for the attack suite
        [ "$SERVER" = nginx ] && sed -i '$d' "$d/site.conf" && cat >>"$d/site.conf" <<EOF
    location = /trap/push-poll {
        include /etc/nginx/fastcgi_params;
        fastcgi_param REMOTE_USER "";
        fastcgi_pass unix:$d/run/push-poll.sock;
    }
}
EOF
        start_server "$name" && return 0
        stop_server "$name"
    done
    hard_error "$SERVER ($name) did not start: $(tail -n 5 "$ERRLOG" 2>/dev/null)"
}

# env_files FILE...: NAME=VALUE lines of the variables the files set (systemd EnvironmentFile
# syntax, read as the shell reads it, as README's spawn-fcgi example does)
env_files() {
    local names n f
    names=$(grep -hoE '^[A-Z_][A-Z0-9_]*=' "$@" | tr -d = | sort -u)
    (
        set -a
        for f in "$@"; do . "$f"; done
        for n in $names; do printf '%s=%s\n' "$n" "${!n}"; done
    )
}

# the external daemons of apache-proxy-fcgi, lighttpd-external and nginx, as the shipped files expect
# them, started each of the three ways: nginx with --listen; apache-proxy-fcgi through spawn-fcgi,
# which hands the listening socket over on fd 0; lighttpd-external through systemd-socket-activate
# --inetd, which binds the socket, starts the program at the first connection and hands the socket
# over on fd 0, as pgpush@.socket + pgpush@.service (StandardInput=socket) do
start_backends() {
    local name=$1 conn=$2 p sock pid
    case $SERVER in apache-proxy-fcgi | lighttpd-external | nginx) ;; *) return 0 ;; esac
    ERRLOG=$WORK/$name-daemons.log
    # their environment: the shipped conf/systemd/*.env (the database and paths substituted, and
    # fewer threads: 1008 threads per program under ASan would only slow the test)
    local env=() f
    sed -e "s|host=/var/run/postgresql dbname=app user=pgpush|$conn|" -e "s|/etc/pgpush/|$DEPLOY_DIR/etc/|g" \
        "$CONF/systemd/pgpush.env" >"$DEPLOY_DIR/etc/pgpush.env"
    grep -q "$conn" "$DEPLOY_DIR/etc/pgpush.env" || hard_error "no database substituted in conf/systemd/pgpush.env"
    for f in push-poll push-sse; do
        sed -e 's/^PUSH_THREADS=.*/PUSH_THREADS=16/' "$CONF/systemd/$f.env" >"$DEPLOY_DIR/etc/$f.env"
    done
    for p in "${PROGRAMS[@]}"; do
        sock=$DEPLOY_DIR/run/$p.sock
        f=push-sse
        [ "$p" = push-poll ] && f=push-poll
        mapfile -t env < <(env_files "$DEPLOY_DIR/etc/pgpush.env" "$DEPLOY_DIR/etc/$f.env")
        case $SERVER in
        apache-proxy-fcgi)
            env "${env[@]}" spawn-fcgi -n -s "$sock" -M 0666 -- "$BIN/$p" 2>>"$ERRLOG" & ;;
        lighttpd-external)
            local e act=()
            for e in "${env[@]}" ASAN_OPTIONS="${ASAN_OPTIONS:-}" UBSAN_OPTIONS="${UBSAN_OPTIONS:-}"; do act+=(-E "$e"); done
            systemd-socket-activate --inetd -l "$sock" "${act[@]}" "$BIN/$p" 2>>"$ERRLOG" & ;;
        *)
            env "${env[@]}" "$BIN/$p" --listen "$sock" 2>>"$ERRLOG" & ;;
        esac
        pid=$!
        HARNESS_PIDS+=("$pid")
        DAEMON_PIDS[$name]="${DAEMON_PIDS[$name]:-} $pid"
        for _ in $(seq 1 100); do [ -S "$sock" ] && break; sleep 0.05; done
        [ -S "$sock" ] || hard_error "$p did not start: $(tail -n 5 "$ERRLOG")"
    done
}

# push-ws, which every server proxies WebSocket to (FastCGI cannot carry it), with the shipped
# conf/systemd/pgpush.env + push-ws.env; behind lighttpd-external through systemd-socket-activate
# (the listening socket on fd 0, as pgpush@push-ws.socket hands it over), elsewhere with --listen
start_ws() {
    local name=$1 conn=$2 trust=${3:-} sock=$DEPLOY_DIR/run/push-ws.sock env=() e act=() pid
    [ -r "$DEPLOY_DIR/etc/pgpush.env" ] || sed -e "s|host=/var/run/postgresql dbname=app user=pgpush|$conn|" \
        -e "s|/etc/pgpush/|$DEPLOY_DIR/etc/|g" "$CONF/systemd/pgpush.env" >"$DEPLOY_DIR/etc/pgpush.env"
    cp "$CONF/systemd/push-ws.env" "$DEPLOY_DIR/etc/push-ws.env"
    # lighttpd's proxy cannot set a header to the user: it appends it to Forwarded (conf/lighttpd-*.conf)
    case $SERVER in lighttpd*) sed -i 's/^PUSH_WS_TRUST_USER_HEADER=.*/PUSH_WS_TRUST_USER_HEADER=Forwarded/' "$DEPLOY_DIR/etc/push-ws.env" ;; esac
    [ -n "$trust" ] && sed -i "s/^PUSH_WS_TRUST_USER_HEADER=.*/PUSH_WS_TRUST_USER_HEADER=$trust/" "$DEPLOY_DIR/etc/push-ws.env"
    mapfile -t env < <(env_files "$DEPLOY_DIR/etc/pgpush.env" "$DEPLOY_DIR/etc/push-ws.env")
    WS_LOG=$WORK/$name-push-ws.log
    if [ "$SERVER" = lighttpd-external ]; then
        for e in "${env[@]}" ASAN_OPTIONS="${ASAN_OPTIONS:-}" UBSAN_OPTIONS="${UBSAN_OPTIONS:-}"; do act+=(-E "$e"); done
        systemd-socket-activate --inetd -l "$sock" "${act[@]}" "$DAEMONS/push-ws" 2>>"$WS_LOG" &
    else
        env "${env[@]}" "$DAEMONS/push-ws" --listen "$sock" 2>>"$WS_LOG" &
    fi
    pid=$!
    HARNESS_PIDS+=("$pid")
    DAEMON_PIDS[$name]="${DAEMON_PIDS[$name]:-} $pid"
    WS_DAEMON[$name]=$pid
    for _ in $(seq 1 100); do [ -S "$sock" ] && break; sleep 0.05; done
    [ -S "$sock" ] || hard_error "push-ws did not start: $(tail -n 5 "$WS_LOG")"
    chmod 666 "$sock"  # the web server's user (www-data under Apache as root) connects
}

# restart_ws NAME CONNINFO [TRUSTED-HEADER]: deployment NAME's push-ws again, with another trusted
# header if given (else as start_ws chooses)
declare -A WS_DAEMON
restart_ws() {
    local pid=${WS_DAEMON[$1]}
    kill "$pid" 2>/dev/null
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    rm -f "$WORK/$1/run/push-ws.sock"
    DEPLOY_DIR=$WORK/$1 start_ws "$@"
}

# ws OUT PATH [client args...] < commands: a WebSocket client through the server, to its end
ws() {
    local out=$1 path=$2
    shift 2
    node "$WS_CLIENT" "ws://127.0.0.1:$PORT$path" --max-time 4 "$@" >"$WORK/$out.out" 2>&1
}
ws_status() { grep -m1 '^HTTP' "$WORK/$1.out" | cut -d' ' -f2; }
ws_types() { grep '^{' "$WORK/$1.out" | jq -r .type 2>/dev/null | paste -sd, -; }

start_server() {
    local name=$1 d=$DEPLOY_DIR
    case $SERVER in
    apache-*)
        ERRLOG_SERVER=$WORK/$name-apache-error.log
        {
            echo "ServerRoot $d"
            echo "ServerName 127.0.0.1"
            echo "Listen 127.0.0.1:$PORT"
            echo "PidFile $d/apache.pid"
            echo "ErrorLog $ERRLOG_SERVER"
            echo "LogLevel warn"
            echo "Mutex file:$d default"
            echo "DefaultRuntimeDir $d/tmp"
            [ -n "$APACHE_USER" ] && printf 'User %s\nGroup %s\n' "$APACHE_USER" "$APACHE_USER"
            # Debian enables authz_host and setenvif by default (the status location uses them)
            for m in mpm_event authz_core authz_host authz_user authn_core authn_file auth_basic alias env setenvif filter deflate headers; do
                echo "LoadModule ${m}_module $MODS/mod_$m.so"
            done
            # as Debian's mods-enabled/deflate.conf: compression on for HTML and scripts
            echo "AddOutputFilterByType DEFLATE text/html text/plain text/css text/javascript application/javascript"
            # push-ws: mod_proxy_http carries the WebSocket upgrade (upgrade=websocket)
            echo "LoadModule proxy_module $MODS/mod_proxy.so"
            echo "LoadModule proxy_http_module $MODS/mod_proxy_http.so"
            if [ "$SERVER" = apache-fcgid ]; then
                echo "LoadModule fcgid_module $MODS/mod_fcgid.so"
                echo "FcgidIPCDir $d/fcgid"
                echo "FcgidProcessTableFile $d/fcgid/shm"
            else
                echo "LoadModule proxy_fcgi_module $MODS/mod_proxy_fcgi.so"
            fi
            # as Debian's apache2.conf: nothing is served unless a section grants it
            printf '<Directory />\n    AllowOverride None\n    Require all denied\n</Directory>\n'
            echo "Include $d/site.conf"
        } >"$d/httpd.conf"
        apache2 -t -f "$d/httpd.conf" >>"$ERRLOG_SERVER" 2>&1 || { cat "$ERRLOG_SERVER" >&2; hard_error "apache2 -t refuses the configuration"; }
        apache2 -f "$d/httpd.conf" -DFOREGROUND 2>>"$ERRLOG_SERVER" &
        ;;
    lighttpd*)
        ERRLOG_SERVER=$WORK/$name-lighttpd-error.log
        cat >"$d/lighttpd.conf" <<EOF
server.document-root = "$d/tmp"
server.bind = "127.0.0.1"
server.port = $PORT
server.errorlog = "$ERRLOG_SERVER"
server.pid-file = "$d/lighttpd.pid"
server.modules = ( "mod_access" )
include "$d/site.conf"
EOF
        lighttpd -tt -f "$d/lighttpd.conf" >>"$ERRLOG_SERVER" 2>&1 || { cat "$ERRLOG_SERVER" >&2; hard_error "lighttpd -tt refuses the configuration"; }
        # in the foreground: the spawned programs' stderr reaches the error log (as under systemd)
        lighttpd -D -f "$d/lighttpd.conf" 2>>"$ERRLOG_SERVER" &
        ;;
    nginx)
        ERRLOG_SERVER=$WORK/$name-nginx-error.log
        mkdir -p "$d/nginx"
        cat >"$d/nginx.conf" <<EOF
$([ "$(id -u)" = 0 ] && echo "user root root;")
worker_processes 1;
pid $d/nginx.pid;
error_log $ERRLOG_SERVER warn;
events { worker_connections 1024; }
http {
    access_log off;
    gzip on;  # as Debian's nginx.conf
    client_body_temp_path $d/nginx/body;
    fastcgi_temp_path $d/nginx/fastcgi;
    proxy_temp_path $d/nginx/proxy;
    uwsgi_temp_path $d/nginx/uwsgi;
    scgi_temp_path $d/nginx/scgi;
    include $d/site.conf;
}
EOF
        nginx -t -p "$d/nginx" -c "$d/nginx.conf" -e "$ERRLOG_SERVER" >>"$ERRLOG_SERVER" 2>&1 || { cat "$ERRLOG_SERVER" >&2; hard_error "nginx -t refuses the configuration"; }
        nginx -p "$d/nginx" -c "$d/nginx.conf" -e "$ERRLOG_SERVER" -g 'daemon off;' 2>>"$ERRLOG_SERVER" &
        ;;
    esac
    SERVER_PID[$name]=$!
    HARNESS_PIDS+=($!)
    # spawned programs log to the server's error log, daemons to their own
    case $SERVER in apache-fcgid | lighttpd) ERRLOG=$ERRLOG_SERVER ;; esac
    for _ in $(seq 1 200); do  # up to 20 s: a loaded machine starts slowly
        curl -s -o /dev/null "$BASE/" && return 0
        kill -0 "${SERVER_PID[$name]}" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

# stop_server NAME: stops deployment NAME's daemons, then its server, and waits for them. The daemons
# first: Apache waits for requests still reading from one (a stream whose client left is noticed
# only at the next heartbeat); a spawning server stops its own programs.
stop_server() {
    local pid
    for pid in ${DAEMON_PIDS[$1]:-}; do kill "$pid" 2>/dev/null; done
    for pid in ${DAEMON_PIDS[$1]:-} ${SERVER_PID[$1]:-}; do
        kill "$pid" 2>/dev/null
        for _ in $(seq 1 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
        kill -0 "$pid" 2>/dev/null && { echo "# $pid did not stop in 10 s: killed" >&2; kill -9 "$pid" 2>/dev/null; }
    done
    DAEMON_PIDS[$1]=""
    SERVER_PID[$1]=""
}
stop_all_servers() { local n; for n in "${!SERVER_PID[@]}"; do stop_server "$n"; done; }
trap 'stop_all_servers; harness_cleanup' EXIT

# stream_open NAME PATH [curl args]: a background client writing to $WORK/NAME.out
stream_open() {
    local name=$1 path=$2
    shift 2
    curl -sN --max-time 30 -D "$WORK/$name.headers" "$@" "$BASE$path" >"$WORK/$name.out" 2>/dev/null &
    eval "STREAM_PID_$name=$!"
}
stream_close() { local v="STREAM_PID_$1"; kill "${!v}" 2>/dev/null; wait "${!v}" 2>/dev/null; }
stream_alive() { local v="STREAM_PID_$1"; kill -0 "${!v}" 2>/dev/null; }
# wait_out NAME PATTERN SECONDS: until the client's output matches
wait_out() {
    local i
    for i in $(seq 1 $(( $3 * 20 ))); do grep -q -- "$2" "$WORK/$1.out" 2>/dev/null && return 0; sleep 0.05; done
    return 1
}
ms_since() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }

echo "# --- $SERVER, configured from ${SHIPPED#$top_srcdir/}"
CONN="host=127.0.0.1 port=$PGPORT user=$WEB_ROLE dbname=$PGDATABASE"
t0=$(date +%s%N)
deploy ok "$CONN"
echo "# $SERVER up at $BASE in $(ms_since "$t0") ms"
ALICE=$(token alice)
publish "INSERT INTO push.message (recipient, title, body) VALUES ('alice', 'first', 'hello'), (NULL, 'to all', 'hi')"

echo "# --- push-poll: token in the query and in Authorization: Bearer, mark read"
http GET "/cgi-bin/push-poll?token=$ALICE"
eq "$STATUS" 200 "push-poll GET with ?token= answers 200"
json_eq .user alice "the token's user"
json_eq '[.messages[].title] | join(",")' "first,to all" "alice's message and the broadcast"
json_eq .unread.total 2 "two unread"
CUR=$(jq -r .cursor <<<"$BODY")
http GET "/cgi-bin/push-poll" -H "Authorization: Bearer $ALICE"
eq "$STATUS" 200 "the Authorization header reaches the program (Bearer token)"
json_eq .user alice "the Bearer token's user"
http POST "/cgi-bin/push-poll" -H "Authorization: Bearer $ALICE" -H 'Content-Type: application/json' \
    --data "{\"mark\": \"upto\", \"cursor\": \"$CUR\"}"
eq "$STATUS" 200 "push-poll POST marks read"
json_eq .ok true "the POST answers ok"
json_eq .unread.total 0 "nothing unread after marking up to the cursor"
http GET "/cgi-bin/push-poll?token=$ALICE"
json_eq .unread.total 0 "the read state is kept"

echo "# --- identity: the server's own Basic auth (REMOTE_USER), bad credentials"
http GET "/auth/push-poll" -u bob:bob-password
eq "$STATUS" 200 "Basic auth: 200"
json_eq .user bob "REMOTE_USER from the server's Basic auth is the user"
http GET "/auth/push-poll" -u bob:wrong-password
eq "$STATUS" 401 "a wrong password gets 401 from the server"
http GET "/auth/push-poll"
eq "$STATUS" 401 "no credentials under /auth/ get 401"
last=${ALICE: -1}
http GET "/cgi-bin/push-poll?token=${ALICE%?}$([ "$last" = 0 ] && echo 1 || echo 0)"  # the last signature digit changed
status_is 401 bad_token "a tampered token gets 401 bad_token"
http GET "/cgi-bin/push-poll" -H "Authorization: Bearer $(token alice 3600 "$OTHER_SECRET")"
status_is 401 bad_token "a token signed with another secret gets 401 bad_token"
http GET "/cgi-bin/push-poll"
status_is 401 unauthorized "no identity gets 401 unauthorized"

echo "# --- push-longpoll: held, answered by a message published while held"
CUR=$(curl -s "$BASE/cgi-bin/push-poll?token=$ALICE&limit=1" | jq -r .cursor)
stream_open lp "/cgi-bin/push-longpoll?since=$CUR&timeout=20&token=$ALICE"
sleep 1.5  # held by now (a spawned program may take a moment to start)
check 'stream_alive lp' "push-longpoll holds the request while nothing is new"
t0=$(date +%s%N)
publish "INSERT INTO push.message (recipient, title) VALUES ('alice', 'while held')"
for _ in $(seq 1 100); do stream_alive lp || break; sleep 0.05; done
ms=$(ms_since "$t0")
BODY=$(cat "$WORK/lp.out")
json_eq '[.messages[].title] | join(",")' "while held" "push-longpoll answers with the message published while held"
json_eq .timeout false "... before its timeout"
check '[ "$ms" -lt 3000 ]' "push-longpoll answers within 3 s of the INSERT ($ms ms)"

echo "# --- push-sse: a message published while the stream is open arrives at once"
CUR=$(curl -s "$BASE/cgi-bin/push-poll?token=$ALICE&limit=1" | jq -r .cursor)
stream_open sse "/cgi-bin/push-sse?token=$ALICE&since=$CUR"
wait_out sse 'event: unread' 10 && ok "push-sse opens with the unread counts" || not_ok "push-sse opens" "$(cat "$WORK/sse.out")"
grep -qi '^content-type: text/event-stream' "$WORK/sse.headers" && ok "push-sse Content-Type: text/event-stream" || not_ok "push-sse content type" "$(cat "$WORK/sse.headers")"
t0=$(date +%s%N)
publish "INSERT INTO push.message (recipient, title) VALUES ('alice', 'sse live')"
if wait_out sse 'sse live' 2 && stream_alive sse; then
    ok "push-sse: the message arrives within 2 s while the stream is open ($(ms_since "$t0") ms), not buffered"
else
    not_ok "push-sse: the message arrives at once" "$(cat "$WORK/sse.out")"
fi
stream_close sse

echo "# --- push-iframe: likewise, as <script> calls in an HTML stream"
CUR=$(curl -s "$BASE/cgi-bin/push-poll?token=$ALICE&limit=1" | jq -r .cursor)
# --compressed: Accept-Encoding as a browser sends it, so compression would show here
stream_open ifr "/cgi-bin/push-iframe?callback=cb&since=$CUR&token=$ALICE" --compressed
wait_out ifr 'parent.cb("open"' 10 && ok "push-iframe opens (parent.cb(\"open\", ...))" || not_ok "push-iframe opens" "$(head -c 600 "$WORK/ifr.out")"
grep -qi '^content-type: text/html' "$WORK/ifr.headers" && ok "push-iframe Content-Type: text/html" || not_ok "push-iframe content type" "$(cat "$WORK/ifr.headers")"
t0=$(date +%s%N)
publish "INSERT INTO push.message (recipient, title) VALUES ('alice', 'iframe live')"
if wait_out ifr 'iframe live' 2 && stream_alive ifr && grep -q 'parent.cb("message"' "$WORK/ifr.out"; then
    ok "push-iframe: the message arrives within 2 s while the stream is open ($(ms_since "$t0") ms), not buffered"
else
    not_ok "push-iframe: the message arrives at once" "$(tail -c 600 "$WORK/ifr.out")"
fi
stream_close ifr

echo "# --- a stream under the server's own login"
stream_open authsse "/auth/push-sse" -u alice:alice-password
wait_out authsse 'event: unread' 10 && ok "push-sse under Basic auth streams (REMOTE_USER)" || not_ok "push-sse under Basic auth" "$(cat "$WORK/authsse.out")"
stream_close authsse

echo "# --- push-ws: WebSocket through the server's own proxying"
ws w1 "/cgi-bin/push-ws?token=$ALICE&since=$CUR" < <(sleep 1.5; publish "INSERT INTO push.message (recipient, title) VALUES ('alice', 'ws live')" >/dev/null; sleep 1.5)
eq "$(ws_status w1)" 101 "push-ws: 101 Switching Protocols through $SERVER (token)"
check 'grep -q "\"title\":\"ws live\"" "$WORK/w1.out"' "push-ws: a message published while the socket is open arrives"
check 'grep "^{" "$WORK/w1.out" | head -n 1 | grep -q "\"type\":\"open\""' "push-ws: the open event first"
ws w2 "/cgi-bin/push-ws" -H "Authorization: Bearer $ALICE" <<<'{"cmd":"mark","mark":"all","ref":1}'
check 'grep -q "\"type\":\"ack\",\"ref\":1" "$WORK/w2.out"' "push-ws: Bearer token, and a mark-read command answered"
CUR=$(curl -s "$BASE/cgi-bin/push-poll?token=$ALICE&limit=1" | jq -r .cursor)  # so that a slow upgrade misses nothing
ws w3 "/auth/push-ws?since=$CUR" -H "Authorization: Basic $(printf alice:alice-password | base64)" < <(sleep 1.2; publish "INSERT INTO push.message (recipient, title) VALUES ('alice', 'ws auth')" >/dev/null; sleep 1.2)
eq "$(ws_status w3)" 101 "push-ws under the server's Basic auth: 101"
check 'grep -q "\"title\":\"ws auth\"" "$WORK/w3.out"' "... the server's user (REMOTE_USER through the trusted header) gets alice's messages"
ws w4 "/auth/push-ws" -H "Authorization: Basic $(printf alice:wrong | base64)"
eq "$(ws_status w4)" 401 "push-ws under Basic auth, a wrong password: 401 from the server"
ws w5 "/cgi-bin/push-ws" -H "X-Remote-User: alice" -H 'Forwarded: for=1.2.3.4;remote_user="alice"'
eq "$(ws_status w5)" 401 "a client's own X-Remote-User or Forwarded header is not believed: 401"
ws w6 "/cgi-bin/push-ws?token=$ALICE" -H "Origin: https://evil.example"
eq "$(ws_status w6)" 403 "a page of another origin: 403"
ws w7 "/cgi-bin/push-ws?token=$ALICE" -H "Origin: http://127.0.0.1:$PORT"
eq "$(ws_status w7)" 101 "a page of this site (Origin matches the Host the server passed on): 101"

. "$top_srcdir/tests/integration/attack-suite.sh"

if [ "$SERVER" = apache-fcgid ]; then
    echo "# --- a graceful restart of Apache under an open stream: mod_fcgid stops push-sse, which drains"
    CUR=$(curl -s "$BASE/cgi-bin/push-poll?token=$ALICE&limit=1" | jq -r .cursor)
    stream_open grace "/cgi-bin/push-sse?token=$ALICE&since=$CUR"
    wait_out grace 'event: unread' 10 || true
    kill -USR1 "${SERVER_PID[ok]}"  # apache2ctl graceful
    for _ in $(seq 1 200); do stream_alive grace || break; sleep 0.05; done
    check '! stream_alive grace' "the stream ends within 10 s of the graceful restart"
    check 'grep -q "^event: reconnect" "$WORK/grace.out"' \
        "... with event: reconnect (push-sse drained on mod_fcgid's SIGTERM)" "$(tail -c 300 "$WORK/grace.out")"
    check '! grep -qi "<html\|Internal Server Error" "$WORK/grace.out"' \
        "... and no HTML error page inside the event stream" "$(tail -c 300 "$WORK/grace.out")"
    stream_close grace
    for _ in $(seq 1 100); do [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$BASE/cgi-bin/push-poll?token=$ALICE")" = 200 ] && break; sleep 0.1; done
    http GET "/cgi-bin/push-poll?token=$ALICE" --max-time 10
    eq "$STATUS" 200 "Apache serves again after the graceful restart"
fi

if [ "$STATUS_CONF" = 1 ]; then
    echo "# --- status: Prometheus metrics and health, on the shipped location for this machine only"
    for p in push-poll push-longpoll push-sse push-iframe; do
        http GET "/pgpush-status/$p/metrics"
        eq "$STATUS $(header Content-Type)" "200 text/plain; version=0.0.4; charset=utf-8" "$p: metrics"
        printf '%s\n' "$BODY" >"$WORK/metrics-$p.txt"
        # a real parser of the exposition format, and the series every program has
        if out=$(/usr/bin/python3 "$top_srcdir/tests/lib/promparse.py" "$WORK/metrics-$p.txt" 2>&1) \
            && grep -q '^pgpush_build_info{program="'"$p"'"' <<<"$out" && grep -q '^pgpush_refused_total{' <<<"$out"; then
            ok "$p: the metrics parse as Prometheus text ($(wc -l <<<"$out") samples)"
        else
            not_ok "$p: the metrics parse as Prometheus text" "$out"
        fi
        http GET "/pgpush-status/$p/health"
        json_eq '.status' ok "$p: health 200 ok (database, schema version, LISTEN)"
    done
    eq "$(grep -c '^pgpush_delivered_messages_total' "$WORK/metrics-push-sse.txt")" 1 "push-sse counts deliveries"
    if [ "$ONE_PROCESS" = 1 ]; then
    check 'awk "/^pgpush_delivered_messages_total/ { exit !(\$2 > 0) }" "$WORK/metrics-push-sse.txt"' \
        "... and has delivered (the stream above)"
    check 'awk "/^pgpush_refused_total\{status=\"401\"\}/ { exit !(\$2 > 0) }" "$WORK/metrics-push-sse.txt"' \
        "... and counts its 401 refusals (the attack suite's)"
    check 'awk "/^pgpush_delivery_lag_seconds_count/ { exit !(\$2 > 0) }" "$WORK/metrics-push-sse.txt"' \
        "... and the lag of the live message it delivered"
    # the counters move with traffic
    before=$(awk '/^pgpush_streams_opened_total/ { print $2 }' "$WORK/metrics-push-sse.txt")
    curl -s -o /dev/null --max-time 2 "$BASE/cgi-bin/push-sse?token=$ALICE"
    http GET "/pgpush-status/push-sse/metrics"
    after=$(awk '/^pgpush_streams_opened_total/ { print $2 }' <<<"$BODY")
    eq "$after" $((before + 1)) "one stream more opened: pgpush_streams_opened_total $before -> $after"
    fi
    if [ "$SERVER" = lighttpd ]; then # the status URLs reach the process lighttpd spawned, not a second one
        # (this lighttpd's children only: another suite may run the same program meanwhile)
        n=$(pgrep -c -P "${SERVER_PID[ok]}" -f "^$CGI_DIR/push-sse\$")
        eq "$n" 1 "one push-sse process serves both its public and its status URLs"
    fi
    # not from elsewhere, and not through the public URLs, whatever a client sends
    code=$(curl -s -o "$WORK/status-far.out" -w '%{http_code}' --interface 127.0.0.2 "$BASE/pgpush-status/push-sse/metrics")
    eq "$code" 403 "from another address (127.0.0.2): 403, no metrics"
    for h in "Push-Status: metrics" "PUSH-STATUS: health" "Push_Status: metrics" "Push-Status: 1"; do
        code=$(curl -s -o "$WORK/status-forged.out" -w '%{http_code}' -H "$h" "$BASE/cgi-bin/push-poll")
        check '[ "$code" = 401 ] && ! grep -q pgpush_ "$WORK/status-forged.out"' \
            "a client's '$h' header on a public URL: 401, no status answer"
    done
    code=$(curl -s -o "$WORK/status-forged.out" -w '%{http_code}' "$BASE/cgi-bin/push-poll?PUSH_STATUS=metrics")
    check '[ "$code" = 401 ] && ! grep -q pgpush_ "$WORK/status-forged.out"' "?PUSH_STATUS=metrics on a public URL: 401"
fi

echo "# --- a bad deployment: the programs pointed at a database without the schema"
t0=$(date +%s%N)
deploy noschema "host=127.0.0.1 port=$PGPORT user=$WEB_ROLE dbname=postgres"
http GET "/cgi-bin/push-poll?token=$ALICE" --max-time 15
status_is 503 schema_mismatch "push-poll answers 503 schema_mismatch"
eq "$(header Retry-After)" 5 "... with Retry-After"
http GET "/cgi-bin/push-sse?token=$ALICE" --max-time 15
refused_stream schema_mismatch 503 5000 "push-sse refuses (schema_mismatch) rather than hanging: a 200 stream with one error event, which EventSource retries"
http GET "/cgi-bin/push-iframe?callback=cb&token=$ALICE" --max-time 15
refused_stream schema_mismatch 503 5000 "push-iframe refuses (schema_mismatch) rather than hanging: a 200 document with one error call"
ws wn "/cgi-bin/push-ws?token=$ALICE" --max-time 15
eq "$(ws_status wn),$(sed -n 2p "$WORK/wn.out" | jq -r .error)" "503,schema_mismatch" "push-ws answers 503 schema_mismatch before the upgrade"
if [ "$STATUS_CONF" = 1 ]; then
    http GET "/pgpush-status/push-sse/health" --max-time 15
    eq "$STATUS $(jq -r .status <<<"$BODY")" "503 unavailable" "health: 503 without the schema"
    check 'jq -r .reason <<<"$BODY" | grep -q "schema is not installed"' "... saying why"
fi
sleep 0.3
line=$(grep -h 'schema is not installed' "$ERRLOG" | head -n 1)
check '[ -n "$line" ]' "the error log ($(basename "$ERRLOG")) says why in one line"
echo "# $line"
check '[ "$(grep -c "schema is not installed" "$ERRLOG")" -le 6 ]' "... once per program, not once per request"
echo "# bad deployment checked in $(ms_since "$t0") ms"

echo "# --- a bad deployment: an unreachable PostgreSQL (nothing listens on port 1)"
deploy nodb "host=127.0.0.1 port=1 user=$WEB_ROLE dbname=$PGDATABASE"
http GET "/cgi-bin/push-poll?token=$ALICE" --max-time 15
status_is 503 database_unavailable "push-poll answers 503 database_unavailable"
http GET "/cgi-bin/push-sse?token=$ALICE" --max-time 15
refused_stream database_unavailable 503 5000 "push-sse refuses (database_unavailable) rather than hanging, as a 200 stream EventSource retries"
if [ "$STATUS_CONF" = 1 ]; then
    for p in push-poll push-sse; do
        http GET "/pgpush-status/$p/health" --max-time 15
        eq "$STATUS $(jq -r .status <<<"$BODY")" "503 unavailable" "$p health: 503 with the database unreachable"
    done
fi
sleep 0.3
line=$(grep -h 'push-poll.*error:.*connect' "$ERRLOG" | head -n 1)
check '[ -n "$line" ]' "the error log ($(basename "$ERRLOG")) says why in one line"
echo "# $line"

stop_all_servers
echo "# $SERVER suite: $(ms_since "$SUITE_T0") ms"
harness_done
