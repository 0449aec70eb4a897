#!/usr/bin/env bash
# test-changes-nginx.sh: edits, retractions, expiry and kinds filters on every transport, behind nginx
# (change-suite.sh)
SERVER=nginx
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/change-suite.sh"
