#!/usr/bin/env bash
# The default thread count as a user meets it: 1 epoch of the Fashion-MNIST
# MLP with 2 servers and 2 workers on this host, train.threads unset (0)
# and no OMP_* variables, against train.threads: 1, for two binaries,
# alternated so both see the same machine.
#   bench/thread_default.sh OLD_BINARY NEW_BINARY [REPEATS]
set -euo pipefail
old="$1" new="$2" repeats="${3:-3}"
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
run() {  # label binary args...
  local label="$1" binary="$2" start end
  shift 2
  rm -rf "$work/out"
  start=$(date +%s.%N)
  env -u OMP_NUM_THREADS -u OMP_WAIT_POLICY "$binary" local \
    --config examples/fashion_mnist_mlp.textproto --output_dir "$work/out" \
    --set train.epochs=1 --set train.eval_every_steps=0 "$@" \
    >/dev/null 2>"$work/stderr" || { tail -3 "$work/stderr" >&2; exit 1; }
  end=$(date +%s.%N)
  printf "| %s | %.2f |\n" "$label" "$(echo "$end - $start" | bc)"
}
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg); $(nproc) cores"
echo "| binary, train.threads | wall s |"
echo "| --- | --- |"
for _ in $(seq "$repeats"); do
  run "old, 0 (default)" "$old" --set train.threads=0
  run "new, 0 (default)" "$new" --set train.threads=0
  run "old, 1" "$old" --set train.threads=1
  run "new, 1" "$new" --set train.threads=1
done
