#!/bin/sh
# notjson.sh - an mtq function that succeeds (exit 0) but prints no JSON.
cat >/dev/null
echo "this is not json"
