#!/bin/sh
# echo.sh - an mtq function whose result is its args.
exec cat
