#!/usr/bin/env bash
# Client-level differential privacy through the real roles (README "Privacy
# and robustness"): short DP-FedAvg jobs on a slice of Fashion-MNIST, 2
# servers and 2 workers hosting 20 clients, 4 a round, the MLP 784-32-10
# (P = 25,450 parameters), FedAvg (server SGD at learning rate 1, so a
# round's update is minus the noised mean of the clipped deltas).
#   1. CENTRAL noise z = 10, S = 1: every round's update norm is the noise's,
#      z S sqrt(P) / m = 398.8, within 5%; epsilon grows, the tight
#      conversion is at most the classic one, summary.json privacy and the
#      descent_federated_privacy_epsilon metric give the last round's.
#   2. The same seed gives the same model and rounds; another noise_seed
#      another model.
#   3. LOCAL noise: z S sqrt(P / m) = 797.7 within 5%.
#   4. Clipping alone (z = 0, S = 0.01): no update norm above S; epsilon
#      infinite.
#   5. Adaptive clipping from S = 0.001, far below the deltas: the clip norm
#      grows every round; from S = 1000 it shrinks.
#   6. privacy.target_epsilon 3 at z = 1 lowers 1000 rounds to the 9 it
#      allows: 9 rows, the last within budget.
#   7. Bad privacy settings: exit 2 naming the field.
#   8. descent privacy: TF Privacy's MNIST figure (2.92), the noise a
#      budget needs, usage errors (exit 1).
source "$(dirname "$0")/lib.sh"
use_federated_example
SHORT=(--set data.idx.max_train_examples=3000
  --set data.idx.max_test_examples=1000 --set model.mlp.hidden=[32]
  --set federated.clients=20 --set federated.client_fraction=0.2
  --set federated.rounds=8)
P=25450

# col NAME JOB: column NAME of JOB's rounds.csv.
col() { column "$WORK/$2/rounds.csv" "$1"; }

# within VALUES EXPECTED TOLERANCE: every value within the relative
# tolerance of EXPECTED.
within() {
  awk -v e="$2" -v t="$3" '{ if ($1 < e * (1 - t) || $1 > e * (1 + t)) bad = 1 }
    END { exit bad }' <<<"$1"
}

# increasing VALUES, decreasing VALUES: strictly.
increasing() { awk 'NR > 1 && $1 <= last { bad = 1 } { last = $1 } END { exit bad }' <<<"$1"; }
decreasing() { awk 'NR > 1 && $1 >= last { bad = 1 } { last = $1 } END { exit bad }' <<<"$1"; }

# The summary's privacy object, field $2 of job $1.
privacy_field() {
  /usr/bin/python3 -c 'import json, sys
p = json.load(open(sys.argv[1]))["privacy"]
print(p.get(sys.argv[2], ""))' "$WORK/$1/summary.json" "$2"
}

# 1. Central noise at its scale, and what it spends.
OUT="$WORK/central"
"$DESCENT" local --config "$FED" --output_dir "$OUT" "${SHORT[@]}" \
  --set privacy.clip_norm=1 --set privacy.noise_multiplier=10 \
  --prometheus_sd_file "$WORK/sd.json" --metrics_linger 20s >"$WORK/central.stdout" 2>"$WORK/central.stderr" &
LOCAL_PID=$!
BACKGROUND_PIDS+=("$LOCAL_PID")
wait_until_running
scrape_until_rounds 8
metric() { awk -v m="$1" '$1 ~ "^"m"{" { print $2 }' <<<"$scrape"; }
epsilon_metric="$(metric descent_federated_privacy_epsilon)"
[[ -n "$epsilon_metric" ]] || fail "no descent_federated_privacy_epsilon: $(grep federated_rounds <<<"$scrape")"
[[ "$(metric descent_federated_clip_norm)" == 1 ]] ||
  fail "descent_federated_clip_norm $(metric descent_federated_clip_norm)"
kill -TERM "$LOCAL_PID"
wait "$LOCAL_PID" || true
grep -q "^state: SUCCEEDED$" "$WORK/central.stdout" || fail "central: $(cat "$WORK/central.stdout")"
expected="$(awk -v p=$P 'BEGIN { print 10 * 1 / 4 * sqrt(p) }')"
norms="$(col update_norm central)"
within "$norms" "$expected" 0.05 ||
  fail "central noise: update norms $(tr '\n' ' ' <<<"$norms"), expected about $expected"
increasing "$(col epsilon central)" || fail "epsilon does not grow: $(col epsilon central | tr '\n' ' ')"
paste -d' ' <(col epsilon_tight central) <(col epsilon central) |
  awk '$1 > $2 { exit 1 }' || fail "a tight epsilon above the classic one"
[[ "$(col clip_norm central | sort -u)" == 1 ]] || fail "clip norms $(col clip_norm central | sort -u)"
last="$(col epsilon central | tail -1)"
summary="$(privacy_field central epsilon)"
awk -v a="$last" -v b="$summary" -v c="$epsilon_metric" \
  'BEGIN { exit !(a > 0 && (a - b) ^ 2 < (1e-5 * a) ^ 2 && (a - c) ^ 2 < (1e-5 * a) ^ 2) }' ||
  fail "last round's epsilon $last, summary's $summary, metric's $epsilon_metric"
[[ "$(privacy_field central rounds)" == 8 && "$(privacy_field central sampling_rate)" == 0.2 ]] ||
  fail "summary privacy: $(privacy_field central rounds) rounds, rate $(privacy_field central sampling_rate)"
echo "central noise: update norms $(tr '\n' ' ' <<<"$norms")(expected $expected); epsilon $last"

# 2. Seeded noise.
fed again --set privacy.clip_norm=1 --set privacy.noise_multiplier=10
[[ "$(model_tensors "$OUT")" == "$(model_tensors "$WORK/again")" ]] ||
  fail "the same seed gave another model"
fed reseeded --set privacy.clip_norm=1 --set privacy.noise_multiplier=10 \
  --set privacy.noise_seed=99
[[ "$(model_tensors "$OUT")" != "$(model_tensors "$WORK/reseeded")" ]] ||
  fail "another noise seed gave the same model"

# 3. Local noise: m clients' own noise, averaged.
fed local --set privacy.clip_norm=1 --set privacy.noise_multiplier=10 \
  --set privacy.noise=LOCAL
expected="$(awk -v p=$P 'BEGIN { print 10 * 1 * sqrt(p / 4) }')"
norms="$(col update_norm local)"
within "$norms" "$expected" 0.05 ||
  fail "local noise: update norms $(tr '\n' ' ' <<<"$norms"), expected about $expected"
paste -d' ' <(col epsilon local) <(col epsilon central) |
  awk '$1 <= $2 { exit 1 }' || fail "LOCAL spent no more than CENTRAL"
echo "local noise: update norms within 5% of $expected"

# 4. Clipping alone.
fed clip --set privacy.clip_norm=0.01
norms="$(col update_norm clip)"
awk '$1 > 0.01 || $1 <= 0 { exit 1 }' <<<"$norms" ||
  fail "clipped to 0.01, update norms $(tr '\n' ' ' <<<"$norms")"
[[ "$(col epsilon clip | sort -u)" == inf ]] || fail "no noise, epsilon $(col epsilon clip | sort -u)"

# 5. Adaptive clipping.
fed grow --set privacy.clip_norm=0.001 --set privacy.noise_multiplier=0.3 \
  --set privacy.adaptive_clipping.target_quantile=0.5
increasing "$(col clip_norm grow)" ||
  fail "from 0.001 the clip norm did not grow: $(col clip_norm grow | tr '\n' ' ')"
fed shrink --set privacy.clip_norm=1000 --set privacy.noise_multiplier=0 \
  --set privacy.adaptive_clipping.target_quantile=0.5 \
  --set privacy.adaptive_clipping.count_stddev=0.01
decreasing "$(col clip_norm shrink)" ||
  fail "from 1000 the clip norm did not shrink: $(col clip_norm shrink | tr '\n' ' ')"
[[ "$(col clip_norm shrink | head -1)" == 1000 ]] || fail "round 0's clip norm is not the configured one"
echo "adaptive clipping: grows from 0.001, shrinks from 1000"

# 6. The budget.
fed budget --set privacy.clip_norm=1 --set privacy.noise_multiplier=1 \
  --set privacy.target_epsilon=3 --set federated.rounds=1000
allowed="$(privacy_field budget budget_rounds)"
(( allowed > 1 && allowed < 1000 )) || fail "budget_rounds $allowed"
(( $(wc -l <"$WORK/budget/rounds.csv") == allowed + 1 )) ||
  fail "rounds.csv has $(wc -l <"$WORK/budget/rounds.csv") lines for $allowed rounds"
at_least 3 "$(col epsilon budget | tail -1)" || fail "the last round spent $(col epsilon budget | tail -1) > 3"
grep -q "allows $allowed of the 1000 rounds" "$WORK/budget/logs/coordinator.log" "$WORK/budget.stderr" ||
  fail "the lowered rounds are not logged"
echo "target_epsilon 3: $allowed rounds, last epsilon $(col epsilon budget | tail -1)"

# 7. Bad settings.
refused "train.consistency: DP-SGD needs BSP" --config "$EXAMPLE" --set privacy.clip_norm=1
refused "privacy.clip_norm: must be" --config "$FED" --set privacy.noise_multiplier=1
refused "privacy.target_epsilon: 0.01 allows no round" --config "$FED" \
  --set privacy.clip_norm=1 --set privacy.noise_multiplier=1 --set privacy.target_epsilon=0.01
refused "count_stddev: must exceed" --config "$FED" --set privacy.clip_norm=1 \
  --set privacy.noise_multiplier=2 --set privacy.adaptive_clipping.target_quantile=0.5
# 8. The accountant on the command line.
out="$("$DESCENT" privacy --sampling_rate 0.0042667 --steps 14063 --delta 1e-5 \
  --noise_multiplier 1.12)"
grep -q "^epsilon: 2.92" <<<"$out" || fail "descent privacy, MNIST 60 epochs: $out"
out="$("$DESCENT" privacy --sampling_rate 0.0042667 --steps 14063 --delta 1e-5 \
  --target_epsilon 2.92)"
grep -q "^noise_multiplier: 1.1[12]" <<<"$out" || fail "descent privacy --target_epsilon 2.92: $out"
code=0
"$DESCENT" privacy --sampling_rate 2 --steps 1 --delta 1e-5 --noise_multiplier 1 \
  >"$WORK/usage.out" 2>&1 || code=$?
[[ "$code" == 1 ]] && grep -q "sampling_rate" "$WORK/usage.out" ||
  fail "sampling rate 2: exit $code: $(cat "$WORK/usage.out")"
code=0
"$DESCENT" privacy --sampling_rate 0.1 --steps 1 --delta 1e-5 >"$WORK/usage.out" 2>&1 || code=$?
[[ "$code" == 1 ]] || fail "no noise and no target: exit $code"
echo "PASS: privacy: central and local noise at their scale, seeded, clipping, adaptive clipping, the budget, bad settings, descent privacy"
