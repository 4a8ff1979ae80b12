#!/usr/bin/env bash
# Example-level DP-SGD through the real roles (README "Privacy and
# robustness"): the MLP 784-32-10 on 10,000 Fashion-MNIST examples, 2
# servers and 2 workers under BSP, batch 128 (q = 2 x 128 / 10,000 =
# 0.0256), 1 epoch (40 steps), SGD at lr 0.1.
#   1. clip_norm 1, noise 1.1: summary.json privacy gives the epsilon
#      `descent privacy` computes for q and the 40 steps, at the default
#      delta 1e-5, and the model still learns.
#   2. Each example is clipped: at clip_norm 1e-6 without noise the model
#      stays where it started (test accuracy near chance), where the plain
#      job learns.
#   3. The shards' noise is seeded: the same noise_seed gives the same
#      model, another seed another.
#   4. target_epsilon 3 lowers 10 epochs to the 6 whose steps it allows.
#   5. Bad settings (a budget below one epoch too): exit 2 naming the field.
source "$(dirname "$0")/lib.sh"
MLP="$SOURCE_DIR/examples/fashion_mnist_mlp.textproto"
FED="$MLP"  # for fed (lib.sh)
images="$(sed -n 's/^ *train_images: "\(.*\)"$/\1/p' "$MLP")"
[[ -r "$images" ]] || fail "$images not installed (scripts/setup.sh installs it)"
SHORT=(--set data.idx.max_train_examples=10000
  --set data.idx.max_test_examples=2000 --set model.mlp.hidden=[32]
  --set train.epochs=1 --set train.batch_size=128 --set train.consistency=BSP
  --set train.eval_every_steps=0 --set optimizer.sgd.learning_rate=0.1)
DP=(--set privacy.clip_norm=1 --set privacy.noise_multiplier=1.1)

privacy_field() {
  /usr/bin/python3 -c 'import json, sys
p = json.load(open(sys.argv[1])).get("privacy", {})
print(p.get(sys.argv[2], ""))' "$WORK/$1/summary.json" "$2"
}
accuracy() { json_field "$WORK/$1/summary.json" test_accuracy; }

# 1. What DP-SGD spends.
fed dp "${DP[@]}"
[[ "$(privacy_field dp rounds)" == 40 ]] || fail "steps $(privacy_field dp rounds)"
[[ "$(privacy_field dp sampling_rate)" == 0.0256 ]] || fail "q $(privacy_field dp sampling_rate)"
expected="$("$DESCENT" privacy --sampling_rate 0.0256 --steps 40 --delta 1e-5 \
  --noise_multiplier 1.1 | sed -n 's/^epsilon: \([^ ]*\).*/\1/p')"
got="$(privacy_field dp epsilon)"
awk -v a="$got" -v b="$expected" 'BEGIN { exit !(a > 0 && (a - b) ^ 2 < (1e-4 * b) ^ 2) }' ||
  fail "epsilon $got, descent privacy says $expected"
at_least "$(privacy_field dp epsilon)" "$(privacy_field dp epsilon_tight)" ||
  fail "tight $(privacy_field dp epsilon_tight) above classic $got"
grep -q "DP-SGD: epsilon" "$WORK/dp/logs/coordinator.log" || fail "the spending is not logged"
at_least "$(accuracy dp)" 0.4 || fail "DP-SGD learned nothing: $(accuracy dp)"

# 2. Per-example clipping.
fed plain
fed clipped --set privacy.clip_norm=1e-6 --set privacy.noise_multiplier=0
at_least "$(accuracy plain)" 0.6 || fail "plain: $(accuracy plain)"
at_least 0.3 "$(accuracy clipped)" || fail "clipped to 1e-6, the model still moved: $(accuracy clipped)"
echo "test accuracy: plain $(accuracy plain), DP-SGD (z 1.1, epsilon $got) $(accuracy dp), clipped to 1e-6 $(accuracy clipped)"

# 3. Seeded noise.
fed dp_again "${DP[@]}"
fed dp_other "${DP[@]}" --set privacy.noise_seed=7
[[ "$(model_tensors "$WORK/dp")" == "$(model_tensors "$WORK/dp_again")" ]] ||
  fail "the same noise seed gave another model"
[[ "$(model_tensors "$WORK/dp")" != "$(model_tensors "$WORK/dp_other")" ]] ||
  fail "another noise seed gave the same model"

# 4. A budget: epsilon 3 allows 264 steps, so 10 epochs become 6 (240
# steps), the last within budget.
fed budget "${DP[@]}" --set train.epochs=10 --set privacy.target_epsilon=3
[[ "$(privacy_field budget budget_rounds)" == 264 ]] || fail "budget $(privacy_field budget budget_rounds)"
[[ "$(privacy_field budget rounds)" == 240 ]] || fail "budget: $(privacy_field budget rounds) steps"
at_least 3 "$(privacy_field budget epsilon)" || fail "budget: spent $(privacy_field budget epsilon)"
grep -q "train.epochs is lowered to 6" "$WORK/budget/logs/coordinator.log" || fail "the lowered epochs are not logged"

# 5. Bad settings.
refused "train.consistency: DP-SGD needs BSP" --config "$MLP" "${SHORT[@]}" "${DP[@]}" --set train.consistency=ASP
refused "privacy.target_epsilon: 0.05 allows" --config "$MLP" "${SHORT[@]}" "${DP[@]}" --set privacy.target_epsilon=0.05
refused "privacy.noise: LOCAL noise is a federated client's" --config "$MLP" "${SHORT[@]}" "${DP[@]}" --set privacy.noise=LOCAL
refused "train.communication: leave it unset with DP-SGD" --config "$MLP" "${SHORT[@]}" "${DP[@]}" \
  --set train.communication.encoding=BFLOAT16
echo "PASS: DP-SGD: the accountant's epsilon in summary.json, per-example clipping, seeded noise, refusals"
