#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz) with clang-14 into build-fuzz/,
# address and undefined-behaviour sanitizers on, and runs each for a bounded
# time, starting from its committed seed corpus (tests/fuzz/corpus/TARGET;
# new inputs go to build-fuzz/corpus/TARGET, never into the tree).
#   scripts/fuzz.sh [SECONDS_PER_TARGET [TARGET...]]   default 10 s, all
#   FUZZ_RUNS=N scripts/fuzz.sh ...   also stops a target after N executions
# CI runs it short; run it long (e.g. scripts/fuzz.sh 3600) to search
# deeper. Prints one line per target: executions, seconds, corpus size. A
# crash, leak, sanitizer report or timeout fails the run and leaves the
# input in build-fuzz/crashes/TARGET/.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-10}"
shift || true
all=(config libsvm csv triples idx shard secagg coordinator)
[[ $# -gt 0 ]] && targets=("$@") || targets=("${all[@]}")

command -v clang++-14 >/dev/null || {
  echo "fuzz: clang++-14 missing (apt-get install clang-14 libfuzzer-14-dev)" >&2
  exit 1
}
CC=clang-14 CXX=clang++-14 cmake -S . -B build-fuzz -G Ninja \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDESCENT_FUZZ=ON \
  -DDESCENT_BUILD_TESTS=OFF -DDESCENT_BUILD_BENCHMARKS=OFF >/dev/null
cmake --build build-fuzz --target fuzz

export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
export OMP_NUM_THREADS=1
# The readers' targets write each input to a file: keep those in memory.
[[ -w /dev/shm ]] && export TMPDIR=/dev/shm
status=0
for target in "${targets[@]}"; do
  corpus="build-fuzz/corpus/$target"
  crashes="build-fuzz/crashes/$target"
  mkdir -p "$corpus" "$crashes"
  log="build-fuzz/$target.log"
  # -rss_limit_mb: an input that makes a reader allocate without bound is
  # a finding, not a reason to swap.
  if ! "build-fuzz/tests/fuzz/${target}_fuzz" "$corpus" "tests/fuzz/corpus/$target" \
      -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
      -max_len=4096 -runs="${FUZZ_RUNS:--1}" -artifact_prefix="$crashes/" \
      -print_final_stats=1 \
      >"$log" 2>&1; then
    echo "fuzz: $target FAILED (input in $crashes/; log $log):" >&2
    grep -E "ERROR|SUMMARY|runtime error|Test unit written" "$log" | head -10 >&2
    status=1
    continue
  fi
  runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")"
  took="$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log")"
  size="$(ls "$corpus" | wc -l)"
  echo "fuzz: $target: $runs executions in ${took:-$seconds} s, 0 crashes, corpus $size inputs"
done
exit "$status"
