#!/usr/bin/env bash
# Runs promtool or amtool with the given arguments, for ctest
# (tests/CMakeLists.txt): `monitoring_tool.sh promtool check rules FILE`.
# Skips (exit 77) only where the Debian package that ships the tool is
# missing (scripts/setup.sh installs both, so CI runs them).
tool="$1"
shift
case "$tool" in
  promtool) package=prometheus ;;
  amtool) package=prometheus-alertmanager ;;
  *) echo "monitoring_tool.sh: unknown tool \"$tool\" (promtool or amtool)" >&2
     exit 2 ;;
esac
if ! command -v "$tool" >/dev/null; then
  echo "SKIP: $tool is not installed (Debian package $package;" \
       "scripts/setup.sh installs it)"
  exit 77
fi
exec "$tool" "$@"
