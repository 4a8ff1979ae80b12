#!/usr/bin/env bash
# BSP (with a backup worker) and SSP through `descent local`: real
# processes, 2 shards, 3 workers. Each job must succeed and learn, and each
# shard must export its staleness histogram and rejection counters.
source "$(dirname "$0")/lib.sh"

run_job() {  # consistency, then extra --set flags
  local consistency="$1"
  shift
  start_local --set cluster.num_workers=3 --set train.epochs=1 \
    --set train.consistency="$consistency" \
    --set data.idx.max_train_examples=24000 "$@"
  wait_until_running
  # One shard's /metrics while the job runs.
  local address
  address="$(awk '$1 == "server/0" { print $3 }' "$OUT/processes.txt")"
  local body
  body="$(curl -fsS --max-time 5 "http://$address/metrics")" ||
    fail "$consistency: cannot scrape server/0"
  grep -q '^descent_server_staleness_updates_bucket{' <<<"$body" ||
    fail "$consistency: no staleness histogram on server/0"
  grep -q '^descent_server_dropped_gradients_total{' <<<"$body" ||
    fail "$consistency: no dropped-gradient counter on server/0"
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
  expect_no_children
  rm -rf "$OUT"
}

run_job BSP --set train.backup_workers=1
run_job SSP --set train.staleness=1
