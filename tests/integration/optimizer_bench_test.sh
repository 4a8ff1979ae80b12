#!/usr/bin/env bash
# bench/optimizers.sh's benchmark runs every rule through the shard's path
# and Apply alone without an update turning non-finite (the benchmark
# reports that as an error), one short iteration each at 1M parameters.
#   optimizer_bench_test.sh DESCENT_OPTIMIZER_BENCH
set -euo pipefail
out="$(mktemp)"
trap 'rm -f "$out"' EXIT
"$1" --benchmark_filter='/1048576$' --benchmark_min_time=0.001 >"$out" 2>&1
if grep -q "ERROR OCCURRED" "$out"; then
  echo "FAIL: a benchmark reported an error:" >&2
  grep "ERROR OCCURRED" "$out" >&2
  exit 1
fi
rules=(sgd momentum nesterov adagrad rmsprop adam adamw ftrl)
for rule in "${rules[@]}"; do
  for kind in Apply ApplyOnly; do
    grep -qE "^BM_${kind}/${rule}/1048576 .*bytes_per_second=" "$out" || {
      echo "FAIL: no BM_${kind}/${rule}/1048576 line with a rate:" >&2
      cat "$out" >&2
      exit 1
    }
  done
done
grep -qE "^BM_Triad/1048576 .*bytes_per_second=" "$out" || {
  echo "FAIL: no triad line" >&2
  exit 1
}
echo "PASS: ${#rules[@]} rules, both paths, and the triad"
