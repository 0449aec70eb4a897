#!/usr/bin/env bash
# test-changes-lighttpd.sh: edits, retractions, expiry and kinds filters on every transport, behind lighttpd
# (change-suite.sh)
SERVER=lighttpd
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/change-suite.sh"
