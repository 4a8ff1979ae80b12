#!/usr/bin/env bash
# Byzantine-robust aggregation through the real roles (README "Privacy and
# robustness"): short FedAvg jobs on a slice of Fashion-MNIST, 2 workers
# hosting 20 clients, 10 a round, 20 rounds, the MLP 784-32-10 (P =
# 25,450), 6 of the 20 clients attacking.
#   1. Sign flipping (x4): the mean collapses (test accuracy < 0.3); the
#      median, the trimmed mean, Krum and Multi-Krum keep training (>= 0.6;
#      Krum >= 0.5).
#   2. A scaling attack (x10) with norm_bound 0.5: no round's update is
#      longer than 0.5, and the model trains.
#   3. The same seed gives the same model under the median.
#   4. Per-client pushes carry each client's update: bytes pushed are
#      exactly rounds x clients x 4P (the mean: rounds x workers x 4P).
#   5. Krum over 2 shards is refused, naming the field.
source "$(dirname "$0")/lib.sh"
use_federated_example
SHORT=(--set data.idx.max_train_examples=3000
  --set data.idx.max_test_examples=1000 --set model.mlp.hidden=[32]
  --set federated.clients=20 --set federated.client_fraction=0.5
  --set federated.rounds=20 --set federated.eval_every_rounds=0)
P=25450
FLIP=(--set federated.attack.kind=SIGN_FLIP --set federated.attack.fraction=0.3
  --set federated.attack.scale=4)

accuracy() { column "$WORK/$1/rounds.csv" test_accuracy | tail -1; }
summary_number() { json_field "$WORK/$1/summary.json" "$2"; }

# 1. Sign flipping against each rule.
fed mean "${FLIP[@]}"
at_least 0.3 "$(accuracy mean)" || fail "the mean resisted sign flipping: $(accuracy mean)"
fed median "${FLIP[@]}" --set federated.aggregation.rule=MEDIAN
fed trimmed "${FLIP[@]}" --set federated.aggregation.rule=TRIMMED_MEAN \
  --set federated.aggregation.trim_fraction=0.3
fed krum "${FLIP[@]}" --set federated.aggregation.rule=KRUM --set cluster.num_servers=1
fed multi_krum "${FLIP[@]}" --set federated.aggregation.rule=MULTI_KRUM \
  --set cluster.num_servers=1
for rule in median trimmed multi_krum; do
  at_least "$(accuracy $rule)" 0.6 || fail "$rule under sign flipping: $(accuracy $rule)"
done
at_least "$(accuracy krum)" 0.5 || fail "krum under sign flipping: $(accuracy krum)"
echo "sign flipping x4, 30%: mean $(accuracy mean), median $(accuracy median), trimmed $(accuracy trimmed), krum $(accuracy krum), multi-krum $(accuracy multi_krum)"

# 2. Norm bounding.
fed bounded --set federated.attack.kind=SCALE --set federated.attack.fraction=0.3 \
  --set federated.aggregation.norm_bound=0.5
norms="$(column "$WORK/bounded/rounds.csv" update_norm)"
awk '$1 > 0.5 + 1e-6 { exit 1 }' <<<"$norms" ||
  fail "norm bound 0.5, update norms $(tr '\n' ' ' <<<"$norms")"
at_least "$(accuracy bounded)" 0.6 || fail "bounded: $(accuracy bounded)"

# 3. Seeded.
fed median_again "${FLIP[@]}" --set federated.aggregation.rule=MEDIAN
[[ "$(model_tensors "$WORK/median")" == "$(model_tensors "$WORK/median_again")" ]] ||
  fail "the same seed gave another model under the median"

# 4. What is pushed.
(( $(summary_number median bytes_pushed) == 20 * 10 * 4 * P )) ||
  fail "median: $(summary_number median bytes_pushed) bytes pushed, expected $((20 * 10 * 4 * P))"
(( $(summary_number mean bytes_pushed) == 20 * 2 * 4 * P )) ||
  fail "mean: $(summary_number mean bytes_pushed) bytes pushed, expected $((20 * 2 * 4 * P))"

# 5. Krum needs one shard.
code=0
"$DESCENT" local --config "$FED" --output_dir "$WORK/refused" "${SHORT[@]}" \
  --set federated.aggregation.rule=KRUM >"$WORK/refused.out" 2>&1 || code=$?
[[ "$code" == 2 ]] || fail "Krum over 2 shards: exit $code"
grep -q "federated.aggregation.rule: Krum compares whole updates" "$WORK/refused.out" ||
  fail "the refusal: $(cat "$WORK/refused.out")"
echo "PASS: robust aggregation: median, trimmed mean, Krum, Multi-Krum against sign flipping; norm bounding; seeded; per-client bytes; Krum's one shard"
