#!/usr/bin/env bash
# BSP (with a backup worker) and SSP through `descent local`: real
# processes, 2 shards, 3 workers. Each job must succeed and learn, and each
# shard must have measured the staleness of every push.
source "$(dirname "$0")/lib.sh"

run_job() {  # consistency, then extra --set flags
  local consistency="$1"
  shift
  start_local --set cluster.num_workers=3 --set train.epochs=1 \
    --set train.consistency="$consistency" \
    --set data.idx.max_train_examples=24000 "$@"
  wait "$LOCAL_PID" ||
    fail "$consistency: descent local exited with $?: $(tail -20 "$WORK/stderr")"
  grep -q "^state: SUCCEEDED$" "$WORK/stdout" ||
    fail "$consistency: $(cat "$WORK/stdout")"
  local accuracy
  accuracy="$(sed -n 's/^test_accuracy: //p' "$WORK/stdout")"
  at_least "$accuracy" 0.70 ||
    fail "$consistency: test accuracy $accuracy < 0.70"
  grep -q "consistency: $consistency" "$OUT/config.textproto" ||
    fail "$consistency: config.textproto does not say so"
  # Every shard measured every push's staleness: 3 workers x 125 steps.
  for shard in 0 1; do
    grep -q "shard $shard: staleness over 375 pushes: p50 [0-9]*, p90" \
      "$OUT/logs/server-$shard.log" ||
      fail "$consistency: server-$shard.log: $(grep staleness "$OUT/logs/server-$shard.log")"
  done
  expect_no_children
  rm -rf "$OUT"
}

run_job BSP --set train.backup_workers=1
run_job SSP --set train.staleness=1
