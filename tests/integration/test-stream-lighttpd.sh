#!/usr/bin/env bash
# test-stream-lighttpd.sh: the streaming suite (push-sse, push-longpoll) behind lighttpd
SERVER=lighttpd
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/stream-suite.sh"
