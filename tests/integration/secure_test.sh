#!/usr/bin/env bash
# Secure aggregation through the real roles (README "Privacy and
# robustness"): short FedAvg jobs on a slice of Fashion-MNIST, 2 workers
# hosting 20 clients, 10 a round (t = 6), 8 rounds, the MLP 784-32-10
# (P = 25,450), over 2 shards unless said.
#   1. The masked rounds train the model the plain ones do: every round's
#      update norm within 1e-4 (fixed point at 2^31 / (range W)), over 2
#      shards and over 1; every round sums its 10 clients.
#   2. Each client sends its masked update: bytes pushed are at least
#      rounds x clients x 4P (plain: rounds x workers x 4P exactly).
#   3. 4 of 10 clients dropping after sharing keys (n - t): every round
#      unmasks the other 6, and the model trains. Values beyond clip_range
#      are clamped, and the workers log it.
#   4. 5 dropping: every round fails cleanly (no update, update norm 0),
#      the shards log why, the coordinator's descent_federated_secure_*
#      metrics count it, and the job still succeeds.
#   5. With DP-FedAvg and adaptive clipping: the same clip norms and
#      epsilons as without secure aggregation (the unclipped counts are
#      summed masked too).
#   6. A node killed with kill -9: under RESTART its replacement starts the
#      round in progress over and every round sums its 10 clients; under
#      CONTINUE the rounds go on with the other node's clients.
#   7. Bad settings: exit 2 naming the field.
source "$(dirname "$0")/lib.sh"
use_federated_example
SHORT=(--set data.idx.max_train_examples=3000
  --set data.idx.max_test_examples=1000 --set model.mlp.hidden=[32]
  --set federated.clients=20 --set federated.client_fraction=0.5
  --set federated.rounds=8 --set federated.eval_every_rounds=0)
P=25450
SECURE=(--set federated.secure_aggregation.enabled=true)

col() { column "$WORK/$2/rounds.csv" "$1"; }
accuracy() { col test_accuracy "$1" | tail -1; }
summary_number() { json_field "$WORK/$1/summary.json" "$2"; }
# close A B TOLERANCE: the values of A and B (one a line) pair up within
# the relative tolerance.
close() {
  paste <(echo "$1") <(echo "$2") | awk -v t="$3" '
    { d = $1 - $2; if (d < 0) d = -d; m = ($1 < 0 ? -$1 : $1);
      if (d > t * m + 1e-9) bad = 1; n++ }
    END { exit bad || n == 0 }'
}
all_equal() { awk -v v="$2" '$1 != v { bad = 1 } END { exit bad || NR == 0 }' <<<"$1"; }

# 1. The same training, masked.
fed plain
fed secure "${SECURE[@]}"
fed secure_one "${SECURE[@]}" --set cluster.num_servers=1
for job in secure secure_one; do
  close "$(col update_norm plain)" "$(col update_norm $job)" 1e-4 ||
    fail "$job: update norms $(col update_norm $job | tr '\n' ' ') against $(col update_norm plain | tr '\n' ' ')"
  all_equal "$(col secure_clients $job)" 10 ||
    fail "$job: secure_clients $(col secure_clients $job | tr '\n' ' ')"
done
[[ -z "$(col secure_clients plain | tr -d '\n')" ]] ||
  fail "plain job has secure_clients: $(col secure_clients plain | tr '\n' ' ')"
at_least "$(accuracy secure)" 0.6 || fail "secure: accuracy $(accuracy secure)"
echo "plain $(accuracy plain), secure $(accuracy secure), secure on 1 shard $(accuracy secure_one)"

# 2. What is pushed.
(( $(summary_number plain bytes_pushed) == 8 * 2 * 4 * P )) ||
  fail "plain: $(summary_number plain bytes_pushed) bytes pushed, expected $((8 * 2 * 4 * P))"
(( $(summary_number secure bytes_pushed) >= 8 * 10 * 4 * P )) ||
  fail "secure: $(summary_number secure bytes_pushed) bytes pushed, expected >= $((8 * 10 * 4 * P))"
echo "bytes pushed: plain $(summary_number plain bytes_pushed), secure $(summary_number secure bytes_pushed)"

# 3. n - t dropouts after masking.
fed drop4 "${SECURE[@]}" --set federated.secure_aggregation.dropout_fraction=0.4
all_equal "$(col secure_clients drop4)" 6 || fail "drop4: secure_clients $(col secure_clients drop4 | tr '\n' ' ')"
all_equal "$(col secure_dropped drop4)" 4 || fail "drop4: secure_dropped $(col secure_dropped drop4 | tr '\n' ' ')"
all_equal "$(col participants drop4)" 6 || fail "drop4: participants $(col participants drop4 | tr '\n' ' ')"
at_least "$(accuracy drop4)" 0.6 || fail "drop4: accuracy $(accuracy drop4)"

# A clip range the updates exceed: clamped, and the workers say so.
fed clamped "${SECURE[@]}" --set federated.rounds=2 \
  --set federated.secure_aggregation.clip_range=1e-4
grep -q "were outside federated.secure_aggregation.clip_range (0.0001) and were clamped" \
  "$WORK/clamped/logs/worker-0.log" || fail "clamping is not logged"

# 4. One more: every round fails, cleanly.
# The coordinator's metrics say so.
OUT="$WORK/drop5"
"$DESCENT" local --config "$FED" --output_dir "$OUT" "${SHORT[@]}" "${SECURE[@]}" \
  --set federated.secure_aggregation.dropout_fraction=0.5 --metrics_linger 20s \
  --prometheus_sd_file "$WORK/sd.json" \
  >"$WORK/drop5.stdout" 2>"$WORK/drop5.stderr" &
LOCAL_PID=$!
BACKGROUND_PIDS+=("$LOCAL_PID")
wait_until_running
scrape_until_rounds 8
metric() { awk -v m="$1" '$1 ~ "^"m"{" { print $2 }' <<<"$scrape"; }
[[ "$(metric descent_federated_secure_failed_rounds_total)" == 8 ]] ||
  fail "descent_federated_secure_failed_rounds_total $(metric descent_federated_secure_failed_rounds_total)"
[[ "$(metric descent_federated_secure_clients)" == 0 ]] ||
  fail "descent_federated_secure_clients $(metric descent_federated_secure_clients)"
[[ "$(metric descent_federated_secure_dropped_total)" == 40 ]] ||
  fail "descent_federated_secure_dropped_total $(metric descent_federated_secure_dropped_total)"
kill -TERM "$LOCAL_PID"
wait "$LOCAL_PID" || true
grep -q "^state: SUCCEEDED$" "$WORK/drop5.stdout" || fail "drop5: $(cat "$WORK/drop5.stdout")"
all_equal "$(col secure_clients drop5)" 0 || fail "drop5: secure_clients $(col secure_clients drop5 | tr '\n' ' ')"
all_equal "$(col update_norm drop5)" 0 || fail "drop5: update norms $(col update_norm drop5 | tr '\n' ' ')"
grep -q "5 of 10 clients sent masked inputs, fewer than the threshold 6" "$WORK/drop5/logs/server-0.log" ||
  fail "drop5: no reason in the shard's log: $(tail -3 "$WORK/drop5/logs/server-0.log")"

# 5. With DP-FedAvg and adaptive clipping.
DP=(--set privacy.clip_norm=0.5 --set privacy.noise_multiplier=0.5
  --set privacy.adaptive_clipping.target_quantile=0.5)
fed dp "${DP[@]}"
fed dp_secure "${DP[@]}" "${SECURE[@]}"
[[ "$(col clip_norm dp)" == "$(col clip_norm dp_secure)" ]] ||
  fail "clip norms: $(col clip_norm dp | tr '\n' ' ') against $(col clip_norm dp_secure | tr '\n' ' ')"
[[ "$(col epsilon dp)" == "$(col epsilon dp_secure)" ]] || fail "epsilons differ"
[[ "$(sort -u <<<"$(col clip_norm dp)" | wc -l)" -gt 1 ]] || fail "the clip norm never moved"
close "$(col update_norm dp)" "$(col update_norm dp_secure)" 1e-3 ||
  fail "dp: update norms $(col update_norm dp_secure | tr '\n' ' ') against $(col update_norm dp | tr '\n' ' ')"

# 6. A node killed with kill -9 mid-job. RESTART: its replacement's first
# call starts the round in progress over (fresh keys for every client), and
# every round unmasks all 10. CONTINUE: the rounds go on with the other
# node's clients, masked among themselves.
kill_node secure_restart RESTART worker/1 "${SECURE[@]}" --set federated.rounds=600
(( $(wc -l <"$OUT/rounds.csv") == 601 )) || fail "RESTART: $(wc -l <"$OUT/rounds.csv") lines"
full="$(col secure_clients secure_restart | grep -c '^10$')"
(( full >= 599 )) || fail "RESTART: $full of 600 rounds unmasked all 10 clients"
kill_node secure_continue CONTINUE worker/1 "${SECURE[@]}" --set federated.rounds=600
(( $(wc -l <"$OUT/rounds.csv") == 601 )) || fail "CONTINUE: $(wc -l <"$OUT/rounds.csv") lines"
fewer="$(col secure_clients secure_continue | awk '$1 < 10' | wc -l)"
(( fewer > 0 )) || fail "CONTINUE: every round still had 10 clients"

# 7. Bad settings.
refused "federated.secure_aggregation.threshold: must be in [0.5, 1)" \
  --config "$FED" "${SHORT[@]}" "${SECURE[@]}" --set federated.secure_aggregation.threshold=0.4
refused "use aggregation rule MEAN" --config "$FED" "${SHORT[@]}" "${SECURE[@]}" --set federated.aggregation.rule=MEDIAN
refused "federated.secure_aggregation.enabled: must be true" \
  --config "$FED" "${SHORT[@]}" --set federated.secure_aggregation.dropout_fraction=0.1
echo "PASS: secure aggregation: the plain rounds' model over 2 shards and 1, masked bytes per client, n - t dropouts, more fail cleanly, with adaptive DP, kill -9 under RESTART and CONTINUE, refusals"
