#!/usr/bin/env bash
# Crash safety of checkpoints, measured: tests/integration/
# checkpoint_crash_test.sh (which ctest runs 5 times) run ITERATIONS times,
# resuming every RESUME_EVERY-th job; prints each kill and check, and the
# counts (kills, those that landed while a checkpoint was being written,
# torn shard writes, complete checkpoints found, resumes).
#   bench/checkpoint_crash.sh [BUILD (build)] [ITERATIONS (100)] [RESUME_EVERY (10)]
# SEED=N reproduces an earlier run's kill moments; KEEP=K sets
# train.checkpoint.keep (2).
set -euo pipefail
build="${1:-build}"
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS=1 OMP_WAIT_POLICY=passive
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg) ($(getconf _NPROCESSORS_ONLN) cores)"
exec tests/integration/checkpoint_crash_test.sh "$build/descent" "$PWD" "${2:-100}" "${3:-10}"
