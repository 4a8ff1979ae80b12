#!/usr/bin/env bash
# Runs the whole test suite (unit and integration) through ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
ctest --test-dir build --output-on-failure -j2 "$@"
