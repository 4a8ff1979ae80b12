#!/usr/bin/env bash
# One shard under load (the issue's load figure): starts the Fashion-MNIST
# MLP example with 1 server and 1 worker (235,146 parameters, so each push
# carries 0.94 MB), waits until it trains, then runs descent_push_load
# against server/0: CLIENTS clients pushing full-size gradients as fast as
# the shard answers for SECONDS, a probe pulling the whole slice every 10 ms
# before and during the load, the shard's RSS sampled. Then stops the job
# with SIGINT and prints the worker's steps during the run.
#   bench/push_load.sh [BUILD (build)] [CLIENTS (50)] [SECONDS (60)]
set -euo pipefail
build="$(cd "${1:-build}" && pwd)"
clients="${2:-50}"
seconds="${3:-60}"
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS=1 OMP_WAIT_POLICY=passive
export DESCENT_JOB_TOKEN="push-load-$$-$RANDOM"
work="$(mktemp -d "${TMPDIR:-/tmp}/descent-load.XXXXXX")"
pid=
trap '[[ -n "$pid" ]] && kill -KILL "$pid" 2>/dev/null; rm -rf "$work"' EXIT
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg) ($(getconf _NPROCESSORS_ONLN) cores)"
"$build/descent" local --config examples/fashion_mnist_mlp.textproto \
  --output_dir "$work/run" --set job_id=load \
  --set cluster.num_servers=1 --set cluster.num_workers=1 \
  --set train.epochs=1000 --set train.eval_every_steps=0 \
  >"$work/stdout" 2>"$work/stderr" &
pid=$!
for _ in $(seq 1 600); do
  grep -q "^worker/0 [0-9]* 127.0.0.1:" "$work/run/processes.txt" 2>/dev/null && break
  sleep 0.1
done
server_pid="$(awk '$1 == "server/0" { print $2 }' "$work/run/processes.txt")"
address="$(sed -n 's/.*shard 0 serving on \([0-9.:]*\),.*/\1/p' "$work/run/logs/server-0.log" | head -1)"
[[ -n "$server_pid" && -n "$address" ]] || { echo "the job did not start"; tail "$work/stderr"; exit 1; }
sleep 3  # past the workers' data loading
echo "shard server/0 pid $server_pid at $address; $clients clients for $seconds s"
"$build/bench/descent_push_load" --server "$address" --pid "$server_pid" \
  --job_id load --floats 235146 --clients "$clients" --seconds "$seconds"
kill -INT "$pid"
wait "$pid" || true
pid=
grep "^[^ ]*shard 0:" "$work/run/logs/server-0.log" | tail -2 || true
