#!/usr/bin/env bash
# Issue 17's tables (README "Privacy and robustness"), on Fashion-MNIST with
# the 2NN (784-200-200-10), every job `descent local` with 2 workers:
#
#   bench/privacy_robustness.sh [BUILD] [--privacy] [--robust] [--rounds N]
#                               [--privacy_rounds N]
#
# --privacy: the privacy-utility table. DP-FedAvg on K = 6000 IID clients
#   (10 examples each), C = 0.1 (600 a round), E = 5, B = 10, client lr 0.1,
#   server momentum 0.9 (FedAvgM, as McMahan et al. 2018), adaptive
#   clipping to the median norm from 0.5, CENTRAL noise; for epsilon 1, 3
#   and 8 at delta = 1/K^1.1 after --privacy_rounds rounds (default 100) the
#   noise multiplier comes from `descent privacy --target_epsilon`, and a
#   run without noise beside them. Prints epsilon (classic and tight), the
#   noise multiplier and the final test accuracy.
# --robust: the robustness table. K = 100, C = 0.1, E = 1, B = 10, lr 0.1,
#   FedAvg, --rounds rounds (default 50), IID and Dirichlet 0.5; each
#   aggregator (mean, median, trimmed mean 0.1, Krum, Multi-Krum, norm
#   bound 1 with the mean) against 0%, 10% and 30% attackers of each kind
#   (sign flip x4, scale x10, Gaussian sigma 1, label flip). Krum runs on
#   one shard (it needs the whole update), the rest on two. Prints the final
#   test accuracy of each.
# Without --privacy or --robust, both. Each job is seeded (train.seed 1):
# a rerun prints the same figures.
set -euo pipefail
BUILD=build
if [[ $# -gt 0 && "$1" != --* ]]; then
  BUILD="$1"
  shift
fi
privacy=0 robust=0 rounds=50 privacy_rounds=100
while [[ $# -gt 0 ]]; do
  case "$1" in
    --privacy) privacy=1 ;;
    --robust) robust=1 ;;
    --rounds) rounds="$2"; shift ;;
    --privacy_rounds) privacy_rounds="$2"; shift ;;
    *) echo "unknown argument $1" >&2; exit 1 ;;
  esac
  shift
done
(( privacy + robust > 0 )) || { privacy=1; robust=1; }
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DESCENT="$ROOT/$BUILD/descent"
FED="$ROOT/examples/federated_fedavg_iid.textproto"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
export OMP_NUM_THREADS=1 OMP_WAIT_POLICY=passive

# job NAME ARGS...: runs a job into $WORK/NAME; prints nothing, fails loudly
# unless the job diverged (a non-finite update: `last` then prints
# "diverged").
job() {
  local name="$1"
  shift
  "$DESCENT" local --config "$FED" --output_dir "$WORK/$name" "$@" \
    --set federated.eval_every_rounds=0 >"$WORK/$name.out" 2>&1 && return 0
  grep -q "is not finite" "$WORK/$name.out" && { touch "$WORK/$name.diverged"; return 0; }
  echo "$name failed: $(tail -3 "$WORK/$name.out")" >&2
  exit 1
}
# last NAME COLUMN: the last round's value of a rounds.csv column.
last() {
  [[ -e "$WORK/$1.diverged" ]] && { echo diverged; return; }
  awk -F, -v name="$2" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == name) c = i; next }
    { v = $c } END { print v }' "$WORK/$1/rounds.csv"
}

if (( privacy )); then
  K=6000
  delta="$(awk -v k=$K 'BEGIN { printf "%.6g", 1 / exp(1.1 * log(k)) }')"
  DP=(--set federated.clients=$K --set federated.rounds="$privacy_rounds"
    --set federated.local_epochs=5
    --set 'optimizer={momentum {learning_rate: 1 momentum: 0.9}}'
    --set privacy.clip_norm=0.5 --set privacy.adaptive_clipping.target_quantile=0.5
    --set privacy.delta="$delta")
  echo "## Privacy and utility: DP-FedAvg, K = $K, q = 0.1, $privacy_rounds rounds, delta = $delta"
  echo
  echo "| target epsilon | noise multiplier | epsilon (classic) | epsilon (tight) | test accuracy |"
  echo "| --- | --- | --- | --- | --- |"
  for target in 1 3 8; do
    z="$("$DESCENT" privacy --sampling_rate 0.1 --steps "$privacy_rounds" \
      --delta "$delta" --target_epsilon "$target" | sed -n 's/^noise_multiplier: //p')"
    job "dp$target" "${DP[@]}" --set privacy.noise_multiplier="$z"
    echo "| $target | $z | $(last "dp$target" epsilon) | $(last "dp$target" epsilon_tight) | $(last "dp$target" test_accuracy) |"
  done
  job dp_none "${DP[@]}" --set privacy.noise_multiplier=0
  echo "| none | 0 | inf | inf | $(last dp_none test_accuracy) |"
  echo
fi

if (( robust )); then
  BASE=(--set federated.clients=100 --set federated.rounds="$rounds")
  rules=(mean median trimmed krum multi_krum norm_bound)
  declare -A RULE=(
    [mean]=""
    [median]="--set federated.aggregation.rule=MEDIAN"
    [trimmed]="--set federated.aggregation.rule=TRIMMED_MEAN"
    [krum]="--set federated.aggregation.rule=KRUM --set cluster.num_servers=1"
    [multi_krum]="--set federated.aggregation.rule=MULTI_KRUM --set cluster.num_servers=1"
    [norm_bound]="--set federated.aggregation.norm_bound=1")
  declare -A ATTACK=(
    [sign_flip]="--set federated.attack.kind=SIGN_FLIP --set federated.attack.scale=4"
    [scale]="--set federated.attack.kind=SCALE"
    [gaussian]="--set federated.attack.kind=GAUSSIAN"
    [label_flip]="--set federated.attack.kind=LABEL_FLIP")
  for partition in IID DIRICHLET; do
    echo "## Robustness: $partition, K = 100, C = 0.1, E = 1, B = 10, $rounds rounds: final test accuracy"
    echo
    header="| attack | attackers |" rule_line="| --- | --- |"
    for rule in "${rules[@]}"; do
      header="$header $rule |"
      rule_line="$rule_line --- |"
    done
    printf '%s\n%s\n' "$header" "$rule_line"
    for attack in none sign_flip scale gaussian label_flip; do
      for fraction in 0 0.1 0.3; do
        [[ "$attack" == none && "$fraction" != 0 ]] && continue
        [[ "$attack" != none && "$fraction" == 0 ]] && continue
        row="| $attack | $fraction |"
        for rule in "${rules[@]}"; do
          name="$partition-$attack-$fraction-$rule"
          # shellcheck disable=SC2086
          job "$name" "${BASE[@]}" --set federated.partition.kind=$partition \
            ${RULE[$rule]} ${ATTACK[$attack]:-} --set federated.attack.fraction=$fraction
          row="$row $(last "$name" test_accuracy) |"
        done
        echo "$row"
      done
    done
    echo
  done
fi
