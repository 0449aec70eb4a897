# tests/cluster/lib.sh: the simulated cluster that tests/cluster/run and bench/cluster.sh share:
# a PostgreSQL primary and two hot standbys, PgBouncer in transaction mode, up to three web nodes
# in network namespaces (nginx, push-sse, push-longpoll, push-ws), HAProxy in front. Sourced after
# top, top_builddir and keep are set; as root. Sets WORK (the folder, in /tmp: unix socket paths
# stay short), LOAD (bench/push-load), PGHOST.. (the primary), R1PORT and R2PORT (the standbys),
# ALL_HOSTS and ALL_PORTS (the three, for multi-host connection strings), BPORT (PgBouncer),
# HPORT (HAProxy) and SECRET; removes everything it made on exit.
#
#   cluster_prepare        packages, the build, the work folder, the clean-up
#   cluster_pg             the primary and the standbys (CLUSTER_PG_OPTIONS: more server options;
#                          CLUSTER_SYNC=1: synchronous replication, ANY 1 of the standbys)
#   cluster_bouncer        PgBouncer (again after a restart: the same port)
#   cluster_failover       kill -9 the primary, promote the standby that received the most, point
#                          the other standby and PgBouncer at it (sets PRIMARY, the new one)
#   cluster_links          the three nodes' namespaces and links
#   start_node N [V=X...]  node N's nginx and daemons; kill_node N: kill -9 all of them
#   start_program N P      one daemon P of node N (again, after kill_program N P: kill -9 of it)
#   start_haproxy "1 2 3"  HAProxy in front of these nodes (restarted when it runs)

PATH=$PATH:/usr/sbin:/sbin
say() { printf '%s\n' "$*" >&2; }
die() { say "cluster: $*"; exit 1; }
PIDS=()
declare -A NODE_PIDS
BOUNCER_PID="" HAPROXY_PID="" HPORT=""
PASS=0 FAIL=0
ok() { PASS=$((PASS + 1)); echo "ok - $1"; }
not_ok() { FAIL=$((FAIL + 1)); echo "not ok - $1${2:+: $2}"; }

free_port() {
    local p
    for _ in $(seq 1 200); do
        p=$(( 20000 + RANDOM % 12000 ))
        (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
    done
    die "no free port"
}

cluster_prepare() {
    "$top/tests/lib/install-deps" haproxy iproute2 >/dev/null || die "cannot install the packages"
    if [ ! -f "$top_builddir/Makefile" ]; then
        [ -x "$top/configure" ] || (cd "$top" && ./autogen.sh >/dev/null 2>&1) || die "autogen.sh failed"
        mkdir -p "$top_builddir"
        (cd "$top_builddir" && "$top/configure" -q) || die "configure failed"
    fi
    make -C "$top_builddir" -s -j"$(nproc)" >/dev/null || die "make failed in $top_builddir"
    make -C "$top_builddir" -s bench/push-load >/dev/null || die "make bench/push-load failed"
    LOAD=$top_builddir/bench/push-load
    ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)"
    WORK=$(mktemp -d /tmp/pgpc.XXXXXX)
    chmod 755 "$WORK"
    trap cleanup EXIT
    trap 'say "cluster: stopped"; exit 130' INT TERM
    # what an interrupted run left behind
    for n in 1 2 3; do
        ip netns del "pgpc-web$n" 2>/dev/null || true
        ip link del "pgpcf$n" 2>/dev/null || true
        ip link del "pgpcd$n" 2>/dev/null || true
    done
    SECRET=cluster-$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')
}

cleanup() {
    trap - EXIT INT TERM
    local p
    for p in "${PIDS[@]}" ${NODE_PIDS[@]+"${NODE_PIDS[@]}"} $BOUNCER_PID; do kill "$p" 2>/dev/null || true; done
    sleep 0.5
    for p in "${PIDS[@]}" ${NODE_PIDS[@]+"${NODE_PIDS[@]}"} $BOUNCER_PID; do kill -9 "$p" 2>/dev/null || true; done
    for n in 1 2 3; do
        # whatever still runs in a node's namespace
        for p in $(ip netns pids "pgpc-web$n" 2>/dev/null); do kill -9 "$p" 2>/dev/null || true; done
        ip netns del "pgpc-web$n" 2>/dev/null || true
        ip link del "pgpcf$n" 2>/dev/null || true
        ip link del "pgpcd$n" 2>/dev/null || true
    done
    for d in r1 r2 pg; do "$top/tests/lib/pgcluster" stop "$WORK/$d" >/dev/null 2>&1 || true; done
    for d in r1 r2 pg; do [ -L "$WORK/$d/data" ] && rm -rf "$(readlink -f "$WORK/$d/data")"; done
    if [ "$keep" = 1 ] || [ "$FAIL" -gt 0 ]; then say "# logs kept in $WORK"; else rm -rf "$WORK"; fi
}

# --- PostgreSQL: a primary, listening on the database links too, and two standbys
cluster_pg() {
    say "# PostgreSQL: a primary and two hot standbys"
    # wal_retrieve_retry_interval: a standby whose primary is gone tries again (and follows a new
    # one) after 1 s, not 5
    export PGCLUSTER_OPTIONS="-c listen_addresses=* -c wal_writer_delay=10ms -c wal_retrieve_retry_interval=1s ${CLUSTER_PG_OPTIONS:-}"
    "$top/tests/lib/pgcluster" start "$WORK/pg" >/dev/null || die "the primary did not start"
    # shellcheck disable=SC1091
    . "$WORK/pg/env"
    PGDATA_REAL=$(readlink -f "$PGDATA")
    printf 'host all all 10.78.0.0/16 trust\n' >>"$PGDATA_REAL/pg_hba.conf"
    psql -qAtX -c "SELECT pg_reload_conf()" >/dev/null
    psql -qX -v ON_ERROR_STOP=1 -f "$top/sql/install.sql" >"$WORK/install.log" 2>&1 || die "schema install failed"
    "$top/tests/lib/pgcluster" roles "$WORK/pg" >/dev/null || die "cannot create the roles"
    "$top/tests/lib/pgcluster" standby "$WORK/r1" "$WORK/pg" >/dev/null || die "standby 1 did not start"
    "$top/tests/lib/pgcluster" standby "$WORK/r2" "$WORK/pg" >/dev/null || die "standby 2 did not start"
    R1PORT=$(cat "$WORK/r1/port") R2PORT=$(cat "$WORK/r2/port")
    PRIMARY=pg
    # libpq's multi-host strings: the nodes' LISTEN and the publishers find the primary among them
    ALL_HOSTS="$PGHOST,$(. "$WORK/r1/env" && echo "$PGHOST"),$(. "$WORK/r2/env" && echo "$PGHOST")"
    ALL_PORTS="$PGPORT,$R1PORT,$R2PORT"
    if [ "${CLUSTER_SYNC:-0}" = 1 ]; then
        # a commit returns (and is visible, and notified) once one standby has flushed it
        psql -qAtX -c "ALTER SYSTEM SET synchronous_standby_names = 'ANY 1 (*)'" -c "SELECT pg_reload_conf()" >/dev/null
    fi
    # (the version the primary has: the standbys replay it)
    local version
    version=$(psql -qAtX -c "SELECT schema_version FROM push.meta")
    for r in r1 r2; do
        ( . "$WORK/$r/env"; for _ in $(seq 1 100); do [ "$(psql -qAtX -c "SELECT schema_version FROM push.meta" 2>/dev/null)" = "$version" ] && exit 0; sleep 0.1; done; exit 1 ) \
            || die "standby $r did not replay the schema"
    done
}

# --- failover: the primary's machine dies (kill -9 of every process of it); the standby that has
# received the most WAL is promoted (with synchronous replication it holds every commit that
# returned); the other one is pointed at it and follows its new timeline; PgBouncer is pointed at
# it and reloaded. The nodes' LISTEN and the publishers list all three servers with
# target_session_attrs=read-write and find it themselves.
cluster_failover() {
    local pm other new lsn1 lsn2
    pm=$(head -n 1 "$PGDATA_REAL/postmaster.pid")
    kill -9 "$pm" $(pgrep -P "$pm") 2>/dev/null || true
    lsn1=$(. "$WORK/r1/env"; psql -qAtX -c "SELECT pg_last_wal_receive_lsn()")
    lsn2=$(. "$WORK/r2/env"; psql -qAtX -c "SELECT pg_last_wal_receive_lsn()")
    if [ "$(. "$WORK/r1/env"; psql -qAtX -c "SELECT '$lsn1'::pg_lsn >= '$lsn2'::pg_lsn")" = t ]; then
        new=r1 other=r2
    else
        new=r2 other=r1
    fi
    say "#   standbys had received r1 $lsn1, r2 $lsn2: promoting $new"
    (. "$WORK/$new/env"; psql -qAtX -c "SELECT pg_promote()") | grep -qx t || not_ok "$new is promoted"
    if [ "${CLUSTER_SYNC:-0}" = 1 ]; then
        (. "$WORK/$new/env"; psql -qAtX -c "ALTER SYSTEM SET synchronous_standby_names = 'ANY 1 (*)'" -c "SELECT pg_reload_conf()") >/dev/null
    fi
    local nhost nport
    nhost=$(. "$WORK/$new/env"; echo "$PGHOST") nport=$(. "$WORK/$new/env"; echo "$PGPORT")
    (. "$WORK/$other/env"
     psql -qAtX -c "ALTER SYSTEM SET primary_conninfo = 'host=$nhost port=$nport user=postgres application_name=$other'" \
         -c "SELECT pg_reload_conf()") >/dev/null
    sed -i "s|^\* = host=.*|* = host=$nhost port=$nport|" "$WORK/bouncer/pgbouncer.ini"
    kill -HUP "$BOUNCER_PID"
    PRIMARY=$new
    # shellcheck disable=SC1090
    . "$WORK/$new/env"
    PGDATA_REAL=$(readlink -f "$PGDATA")
}

# --- PgBouncer, transaction mode, for the nodes' queries
cluster_bouncer() {
    [ -n "$BPORT" ] || BPORT=$(free_port)
    # server_login_retry: after a failed connect to the server (the primary gone, before the
    # failover repoints PgBouncer) it waits this long before the next; its default, 15 s, held
    # every query of every node that long after the failover
    BOUNCER_PID=$("$top/tests/lib/pgbouncer" "$WORK/bouncer" "$BPORT" push_web "listen_addr=*" \
                  default_pool_size=6 max_client_conn=500 server_login_retry=1)
}
BPORT=""

# --- the web nodes
cluster_links() {
    say "# three web nodes in network namespaces"
    for n in 1 2 3; do
        ns=pgpc-web$n
        ip netns add "$ns"
        ip -n "$ns" link set lo up
        ip link add "pgpcf$n" type veth peer name front netns "$ns"
        ip link add "pgpcd$n" type veth peer name db netns "$ns"
        ip addr add "10.77.$n.1/24" dev "pgpcf$n"
        ip addr add "10.78.$n.1/24" dev "pgpcd$n"
        ip link set "pgpcf$n" up
        ip link set "pgpcd$n" up
        ip -n "$ns" addr add "10.77.$n.2/24" dev front
        ip -n "$ns" addr add "10.78.$n.2/24" dev db
        ip -n "$ns" link set front up
        ip -n "$ns" link set db up
    done
}

# start_program N PROGRAM [VAR=VALUE...]: one daemon of node N, in its namespace, with these
# settings over the usual ones
start_program() {
    local n=$1 p=$2 ns=pgpc-web$1 dir=$WORK/web$1 db=10.78.$1.1
    shift 2
    local env=(PUSH_TOKEN_SECRET="$SECRET" PUSH_DB_PREPARE=0 PUSH_HEARTBEAT=5 PUSH_DRAIN_TIME=2
               PUSH_MAX_STREAMS=5000 PUSH_MAX_STREAMS_PER_USER=4
               PUSH_DATABASE_URL="host=$db port=$BPORT dbname=$PGDATABASE user=push_web connect_timeout=2"
               PUSH_LISTEN_DATABASE_URL="host=$db,$db,$db port=$ALL_PORTS dbname=$PGDATABASE user=push_web connect_timeout=2 target_session_attrs=read-write"
               PUSH_REPLICA_DATABASE_URL="host=$db,$db port=$R1PORT,$R2PORT dbname=$PGDATABASE user=push_web target_session_attrs=standby"
               PUSH_REPLICA_WAIT=100 PUSH_LOG_LEVEL=info PGAPPNAME="web$n" "$@")
    local bin=$top_builddir/cgi-bin/$p
    if [ "$p" = push-ws ]; then
        bin=$top_builddir/daemons/$p
        env+=(PUSH_WS_STATUS_LISTEN="$dir/push-ws-status.sock") # its health, for HAProxy (via nginx)
        rm -f "$dir/push-ws-status.sock"
    fi
    rm -f "$dir/$p.sock"
    ip netns exec "$ns" env "${env[@]}" "$bin" --listen "$dir/$p.sock" >>"$dir/$p.log" 2>&1 &
    NODE_PIDS[$n.$p]=$!
    for _ in $(seq 1 100); do [ -S "$dir/$p.sock" ] && return 0; sleep 0.05; done
    die "$p of web node $n did not start: $(tail -n 3 "$dir/$p.log")"
}
kill_program() { # kill -9 daemon P of node N
    kill -9 "${NODE_PIDS[$1.$2]}" 2>/dev/null || true
    wait "${NODE_PIDS[$1.$2]}" 2>/dev/null || true
    unset "NODE_PIDS[$1.$2]"
}

# start_node N [VAR=VALUE...]: nginx and the three daemons of node N, in its namespace, with these
# settings over the usual ones
start_node() {
    local n=$1 ns=pgpc-web$1 dir=$WORK/web$1 p
    shift
    mkdir -p "$dir/nginx"
    for p in push-sse push-longpoll push-ws; do start_program "$n" "$p" "$@"; done
    cat >"$dir/nginx.conf" <<EOF
user root root;
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/nginx-error.log warn;
events { worker_connections 8192; }
http {
    access_log off;
    client_body_temp_path $dir/nginx/body;
    fastcgi_temp_path $dir/nginx/fastcgi;
    proxy_temp_path $dir/nginx/proxy;
    uwsgi_temp_path $dir/nginx/uwsgi;
    scgi_temp_path $dir/nginx/scgi;
    server {
        listen 10.77.$n.2:80;
        location = /push-sse {
            include /etc/nginx/fastcgi_params;
            fastcgi_pass unix:$dir/push-sse.sock;
            fastcgi_buffering off;
            fastcgi_buffer_size 1k;
            fastcgi_read_timeout 120s;
        }
        location = /push-longpoll {
            include /etc/nginx/fastcgi_params;
            fastcgi_pass unix:$dir/push-longpoll.sock;
            fastcgi_read_timeout 120s;
        }
        location = /push-ws {
            proxy_pass http://unix:$dir/push-ws.sock;
            proxy_http_version 1.1;
            proxy_set_header Upgrade \$http_upgrade;
            proxy_set_header Connection "upgrade";
            proxy_set_header Host \$http_host;
            proxy_read_timeout 120s;
        }
        # each program's health, for HAProxy's backend of that program
        location = /health {
            include /etc/nginx/fastcgi_params;
            fastcgi_param PUSH_STATUS health;
            fastcgi_pass unix:$dir/push-sse.sock;
        }
        location = /health-longpoll {
            include /etc/nginx/fastcgi_params;
            fastcgi_param PUSH_STATUS health;
            fastcgi_pass unix:$dir/push-longpoll.sock;
        }
        location = /health-ws {
            proxy_pass http://unix:$dir/push-ws-status.sock:/health;
        }
    }
}
EOF
    ip netns exec "$ns" nginx -p "$dir/nginx" -c "$dir/nginx.conf" -e "$dir/nginx-error.log" -g 'daemon off;' 2>>"$dir/nginx-error.log" &
    NODE_PIDS[$n.nginx]=$!
    for _ in $(seq 1 100); do
        [ "$(ip netns exec "$ns" curl -s -o /dev/null -w '%{http_code}' "http://10.77.$n.2/health")" = 200 ] && return 0
        sleep 0.1
    done
    die "web node $n did not come up: $(tail -n 3 "$dir"/*.log | tr '\n' ' ')"
}
kill_node() { # kill -9 every process of node N
    local n=$1 p
    for p in $(ip netns pids "pgpc-web$n"); do kill -9 "$p" 2>/dev/null || true; done
    for p in nginx push-sse push-longpoll push-ws; do
        wait "${NODE_PIDS[$n.$p]:-}" 2>/dev/null || true # (no "Killed" line from the shell)
        unset "NODE_PIDS[$n.$p]"
    done
}

# --- HAProxy
start_haproxy() {
    local nodes=$1
    if [ -n "$HAPROXY_PID" ]; then kill "$HAPROXY_PID" 2>/dev/null || true; wait "$HAPROXY_PID" 2>/dev/null || true; fi
    [ -n "$HPORT" ] || HPORT=$(free_port)
    cat >"$WORK/haproxy.cfg" <<EOF
    global
        maxconn 8000
    defaults
        mode http
        timeout connect 2s
        timeout client 1h
        timeout server 1h
        timeout tunnel 1h
        timeout check 2s
        # each event goes out when it comes: without this HAProxy holds a streamed body's small writes
        # back for more (MSG_MORE), 200 ms at the median for SSE
        option http-no-delay
        # with every node down (a failover), HAProxy's own 503 says when to come back
        errorfile 503 $WORK/haproxy-503.http
        # a program that died on one node (nginx answers 502) before its check marks it down: the
        # request goes to another node instead (bodyless GETs only, which all of these are)
        retries 2
        option redispatch 1
        retry-on conn-failure empty-response 502
        balance roundrobin
        http-check expect status 200
        default-server inter 1s fall 2 rise 2 on-marked-down shutdown-sessions
    frontend pgpush
        bind 127.0.0.1:$HPORT
        use_backend ws if { path /push-ws }
        use_backend longpoll if { path /push-longpoll }
        default_backend sse
    # one backend per program, each checking that program's health on every node
    backend sse
        option httpchk GET /health
    $(for n in $nodes; do printf '    server web%s 10.77.%s.2:80 check\n' "$n" "$n"; done)
    backend longpoll
        option httpchk GET /health-longpoll
    $(for n in $nodes; do printf '    server web%s 10.77.%s.2:80 check\n' "$n" "$n"; done)
    backend ws
        option httpchk GET /health-ws
    $(for n in $nodes; do printf '    server web%s 10.77.%s.2:80 check\n' "$n" "$n"; done)
EOF
    printf 'HTTP/1.1 503 Service Unavailable\r\nCache-Control: no-store\r\nConnection: close\r\nContent-Type: application/json\r\nRetry-After: 2\r\n\r\n{"error":"unavailable","message":"no web node is up; try again shortly"}\n' >"$WORK/haproxy-503.http"
    haproxy -f "$WORK/haproxy.cfg" -db >>"$WORK/haproxy.log" 2>&1 &
    HAPROXY_PID=$!
    PIDS+=($HAPROXY_PID)
    for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$HPORT") 2>/dev/null && break; sleep 0.1; done
    sleep 2.5 # the first health checks
}
