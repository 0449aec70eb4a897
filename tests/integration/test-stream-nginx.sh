#!/usr/bin/env bash
# test-stream-nginx.sh: the streaming suite (push-sse, push-longpoll) behind nginx, open streams
# in the programs' event loop
SERVER=nginx
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/stream-suite.sh"
