#!/usr/bin/env bash
# test-stream-lighttpd.sh: the streaming suite (push-sse, push-longpoll) behind lighttpd, with a
# thread per open stream (PUSH_EVENT_LOOP=0); test-stream-nginx.sh runs it with the event loop
SERVER=lighttpd
EVENT_LOOP=0
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/stream-suite.sh"
