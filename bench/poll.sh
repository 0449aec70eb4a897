#!/usr/bin/env bash
# bench/poll.sh: push-poll throughput through lighttpd: full answers vs 304, per program mode
#
#   bench/poll.sh [SECONDS]     (default 5 s per row; needs a build in $top_builddir, default var/build)
#
# Starts its own PostgreSQL and lighttpd (tests/lib/harness.sh), loads 100 messages for alice, then
# runs wrk (2 threads, 16 connections) against each mode: once with a plain GET (full JSON answer,
# three queries in a snapshot) and once with If-None-Match (304, one small indexed query).
# Prints a table; compare rows of one run, not figures across machines.
set -u
secs=${1:-5}
top_srcdir=$(cd "$(dirname "$0")/.." && pwd)
: "${top_builddir:=$top_srcdir/var/build}"
export top_srcdir top_builddir
command -v wrk >/dev/null || "$top_srcdir/tests/lib/install-deps" wrk
. "$top_srcdir/tests/lib/harness.sh"
harness_start >/dev/null
sql "INSERT INTO push.message (recipient, title, body) SELECT 'alice', 'message ' || g, 'body' FROM generate_series(1, 100) g"
tok=$(token alice)

rate() { # rate PATH [HEADER]: requests per second and mean latency
    local out
    out=$(wrk -t2 -c16 -d"${secs}s" ${2:+-H "$2"} "$BASE$1" 2>&1)
    printf '%s %s' "$(awk '/Requests\/sec/ {printf "%.0f", $2}' <<<"$out")" \
        "$(awk '/Latency/ {print $2; exit}' <<<"$out")"
}

printf '\n%-22s %-10s %12s %12s\n' mode answer "requests/s" "mean latency"
for path in /cgi-bin/push-poll /ext/push-poll /cgi/push-poll; do
    http GET "$path?token=$tok&limit=20"
    etag=$(header ETag)
    read -r full lat_full < <(rate "$path?token=$tok&limit=20")
    read -r nm lat_nm < <(rate "$path?token=$tok&limit=20" "If-None-Match: $etag")
    printf '%-22s %-10s %12s %12s\n' "$path" "200 (20)" "$full" "$lat_full" "$path" "304" "$nm" "$lat_nm"
done
printf '%-22s %-10s %12s %12s\n' "static file (lighttpd)" 200 $(rate "/index.html")
echo
echo "# $(nproc) cores; wrk shares the machine with lighttpd, push-poll and PostgreSQL"
T_PASS=1 harness_done >/dev/null
