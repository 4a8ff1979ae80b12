#!/usr/bin/env bash
# promtool with the given arguments, for ctest (tests/CMakeLists.txt): skips
# (exit 77) where Debian's prometheus package, which ships it, is missing.
if ! command -v promtool >/dev/null; then
  echo "SKIP: promtool is not installed (Debian package prometheus;" \
       "scripts/setup.sh installs it)"
  exit 77
fi
exec promtool "$@"
