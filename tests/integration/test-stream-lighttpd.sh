#!/usr/bin/env bash
# test-stream-lighttpd.sh: the streaming suite (push-sse, push-longpoll) behind lighttpd, open
# streams in the programs' event loop; test-stream-nginx.sh runs it behind nginx, test-stream-cgi.sh
# runs the programs as plain CGI (a thread per stream, in a process per request)
SERVER=lighttpd
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/stream-suite.sh"
