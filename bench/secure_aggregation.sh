#!/usr/bin/env bash
# What secure aggregation costs (issue 17; README "Privacy and
# robustness"): per-round time and bytes of FedAvg with and without it, for
# n = 10, 50 and 100 clients per round.
#
#   bench/secure_aggregation.sh [BUILD] [--rounds N] [--hidden H] [--dropout F]
#
# Fashion-MNIST, K = 200 IID clients over 20,000 training examples (100
# each), E = 1, B = 10, lr 0.1, the MLP 784-H-10 (default H = 32: P =
# 25,450), `descent local` with 2 servers and 2 workers (1 thread each), N
# rounds (default 6), no evaluation until the last. For each n: the plain
# job, the secure one, and the secure one with F of each round's clients
# dropping after sharing their keys (default 0.1; the shards then rebuild
# their mask keys and remove their pairwise masks). Per round: the mean of
# rounds.csv's `seconds` over rounds 1..N-1 (worker 0's wall time: training,
# the protocol's four barriers and the step), and payload bytes (summary
# bytes_pushed + bytes_pulled over all workers, / N). Then each secure
# figure over the plain one, and how the secure overhead grows from n = 10
# to 100 (the protocol: each client sends n - 1 sealed shares and one masked
# update of P words, and expands n PRG streams of P words; so bytes grow as
# n (P + c n) and the clients' compute as n^2 P).
set -euo pipefail
BUILD=build
if [[ $# -gt 0 && "$1" != --* ]]; then
  BUILD="$1"
  shift
fi
rounds=6 hidden=32 dropout=0.1
while [[ $# -gt 0 ]]; do
  case "$1" in
    --rounds) rounds="$2"; shift ;;
    --hidden) hidden="$2"; shift ;;
    --dropout) dropout="$2"; shift ;;
    *) echo "unknown argument $1" >&2; exit 1 ;;
  esac
  shift
done
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DESCENT="$ROOT/$BUILD/descent"
FED="$ROOT/examples/federated_fedavg_iid.textproto"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
export OMP_NUM_THREADS=1 OMP_WAIT_POLICY=passive
source "$ROOT/bench/summary_field.sh"

echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
COMMON=(--set data.idx.max_train_examples=20000
  --set data.idx.max_test_examples=2000 --set "model.mlp.hidden=[$hidden]"
  --set federated.clients=200 --set "federated.rounds=$rounds"
  --set federated.eval_every_rounds=0 --set train.threads=1)

# job NAME ARGS...: runs a job into $WORK/NAME.
job() {
  local name="$1"
  shift
  "$DESCENT" local --config "$FED" --output_dir "$WORK/$name" "${COMMON[@]}" \
    "$@" >"$WORK/$name.out" 2>&1 || {
    echo "$name failed: $(tail -3 "$WORK/$name.out")" >&2
    exit 1
  }
}
# seconds NAME: the mean round seconds after the first.
seconds() {
  awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == "seconds") c = i; next }
    NR > 2 { s += $c; n++ } END { printf "%.4f", s / n }' "$WORK/$1/rounds.csv"
}
bytes() {
  local pushed pulled
  pushed="$(field "$WORK/$1/summary.json" bytes_pushed)"
  pulled="$(field "$WORK/$1/summary.json" bytes_pulled)"
  echo $(((pushed + pulled) / rounds))
}
accuracy() {
  awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == "test_accuracy") c = i; next }
    { a = $c } END { print a }' "$WORK/$1/rounds.csv"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

echo "| clients per round | job | s per round | bytes per round | s ratio | bytes ratio | test accuracy |"
echo "| --- | --- | --- | --- | --- | --- | --- |"
declare -A over_s over_b
for n in 10 50 100; do
  per_round=(--set "federated.clients_per_round=$n")
  job "plain$n" "${per_round[@]}"
  job "secure$n" "${per_round[@]}" --set federated.secure_aggregation.enabled=true
  job "dropout$n" "${per_round[@]}" --set federated.secure_aggregation.enabled=true \
    --set "federated.secure_aggregation.dropout_fraction=$dropout"
  ps="$(seconds plain$n)" pb="$(bytes plain$n)"
  for name in plain secure dropout; do
    s="$(seconds $name$n)" b="$(bytes $name$n)"
    label="$name"
    [[ "$name" == dropout ]] && label="secure, $dropout drop"
    echo "| $n | $label | $s | $b | $(ratio "$s" "$ps") | $(ratio "$b" "$pb") | $(accuracy $name$n) |"
  done
  over_s[$n]="$(awk -v a="$(seconds secure$n)" -v b="$ps" 'BEGIN { print a - b }')"
  over_b[$n]="$(( $(bytes secure$n) - pb ))"
done
echo
echo "secure overhead per round (secure - plain):"
for n in 10 50 100; do
  echo "  n = $n: ${over_s[$n]} s, ${over_b[$n]} bytes ($(( over_b[$n] / n )) bytes a client)"
done
echo "growth from n = 10 to 100: seconds x$(ratio "${over_s[100]}" "${over_s[10]}"), bytes x$(ratio "${over_b[100]}" "${over_b[10]}") (n: x10, n^2: x100)"
