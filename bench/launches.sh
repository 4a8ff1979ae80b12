#!/usr/bin/env bash
# Start-up reliability: LAUNCHES runs of a short job back to back
# (examples/synthetic_linear_regression.textproto, 2 servers, 2 workers, one
# epoch of 2,000 examples), each given 60 s. Prints the count that
# succeeded, failed or hung (ran past 60 s: killed), and the slowest launch.
#   bench/launches.sh [BUILD (build)] [LAUNCHES (200)]
set -euo pipefail
build="$(cd "${1:-build}" && pwd)"
launches="${2:-200}"
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS=1 OMP_WAIT_POLICY=passive
work="$(mktemp -d "${TMPDIR:-/tmp}/descent-launches.XXXXXX")"
trap 'rm -rf "$work"' EXIT
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg) ($(getconf _NPROCESSORS_ONLN) cores)"
ok=0 failed=0 hung=0 slowest=0
for i in $(seq 1 "$launches"); do
  rm -rf "$work/run"
  start=$(date +%s%N)
  set +e
  timeout -s INT -k 10 60 "$build/descent" local \
    --config examples/synthetic_linear_regression.textproto \
    --set train.epochs=1 --set data.synthetic.train_examples=2000 \
    --set data.synthetic.test_examples=200 \
    --output_dir "$work/run" >/dev/null 2>"$work/stderr"
  code=$?
  set -e
  ms=$(( ($(date +%s%N) - start) / 1000000 ))
  (( ms > slowest )) && slowest=$ms
  if (( code == 0 )); then
    ok=$(( ok + 1 ))
  elif (( code == 124 || code == 130 )); then
    hung=$(( hung + 1 )); echo "launch $i: hung ($ms ms)"; tail -3 "$work/stderr"
  else
    failed=$(( failed + 1 )); echo "launch $i: exit $code"; tail -3 "$work/stderr"
  fi
done
echo "summary: $launches launches: $ok succeeded, $failed failed, $hung hung; slowest ${slowest} ms"
