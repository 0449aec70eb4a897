#!/usr/bin/env bash
# test-stream-nginx.sh: the streaming suite (push-sse, push-longpoll) behind nginx, open streams
# in push-sse's event loop (the default)
SERVER=nginx
EVENT_LOOP=1
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/stream-suite.sh"
