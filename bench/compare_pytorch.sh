#!/usr/bin/env bash
# descent's in-process training step (descent_train_bench) against PyTorch
# (bench/pytorch_compare.py, Debian's python3-torch) on the same models,
# data, batch sizes and thread counts; prints a markdown table with the
# goals: descent/PyTorch >= 1.2 at MLP batch 64, >= 1.0 at batch 256 and
# for the CNN. Then, if examples/fashion_mnist_mlp.textproto exists, time to
# 0.88 test accuracy: `descent local` (1 server, 1 worker) vs PyTorch's own
# loop with the same batch, learning rate and threads.
#
#   bench/compare_pytorch.sh [BUILD_DIR] [--repeats N] [--no-tta | --tta-only]
#                            [--adam LR] [--shape SERVERSxWORKERS]
#                            [--set FIELD=VALUE]...
#
# --adam LR runs the time-to-accuracy part with Adam at learning rate LR on
# both sides (descent's `adam { }`, torch.optim.Adam, both with betas 0.9,
# 0.999 and eps 1e-8) instead of the example's SGD. --shape (default 1x1)
# sets descent's cluster for it; each --set is passed on to `descent local`
# after the script's own (train.overlap_communication=false, say). The
# time-to-accuracy part runs --repeats
# interleaved pairs (descent, PyTorch, descent, ...), pair r with seed r on
# both sides (the initial weights and the batch order), and
# compares medians;
# both sides count from launch, descent's start-up included.
#
# BUILD_DIR (default build/) must hold bench/descent_train_bench and, for
# the time-to-accuracy part, descent. Run from anywhere; paths are relative
# to the repository root. PyTorch gets a real BLAS: Debian's
# libopenblas0-openmp, fetched with `apt-get download` and unpacked into a
# temporary directory (nothing is installed), put first on LD_LIBRARY_PATH
# for the PyTorch runs only. Every run pins OMP_NUM_THREADS to its thread
# count and OMP_WAIT_POLICY=passive. With --repeats N each side runs N
# times per config, alternating, and the median counts.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${root}"
build_dir="build"
repeats=1
tta=1
throughput=1
adam_lr=""
extra_set=()
servers=1
workers=1
while [[ $# -gt 0 ]]; do
  case "$1" in
    --repeats) repeats="$2"; shift 2 ;;
    --no-tta) tta=0; shift ;;
    --tta-only) throughput=0; shift ;;
    --adam) adam_lr="$2"; shift 2 ;;
    --shape) IFS=x read -r servers workers <<<"$2"; shift 2 ;;
    --set) extra_set+=(--set "$2"); shift 2 ;;
    *) build_dir="$1"; shift ;;
  esac
done
train_bench="${build_dir}/bench/descent_train_bench"
if [[ ! -x "${train_bench}" ]]; then
  echo "no ${train_bench}: build target descent_train_bench first" >&2
  exit 1
fi
source "${root}/bench/pytorch_blas.sh"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"

# samples_per_second=... out of one result line.
rate() { sed -n 's/.*samples_per_second=\([0-9.]*\).*/\1/p' | tail -1; }
median() { tr ' ' '\n' | sed '/^$/d' | sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }

configs=("mlp 64 1" "mlp 64 2" "mlp 256 1" "mlp 256 2" "cnn 64 1" "cnn 64 2")
((throughput)) || configs=()
rows=()
for config in "${configs[@]}"; do
  read -r model batch threads <<<"${config}"
  ours="" theirs=""
  for ((r = 0; r < repeats; ++r)); do
    ours+=" $(OMP_NUM_THREADS="${threads}" OMP_WAIT_POLICY=passive \
      "${train_bench}" --model="${model}" --batch="${batch}" \
      --threads="${threads}" | rate)"
    theirs+=" $(OMP_NUM_THREADS="${threads}" OMP_WAIT_POLICY=passive \
      LD_LIBRARY_PATH="${openblas_dir}" "${python}" bench/pytorch_compare.py \
      --model "${model}" --batch "${batch}" --threads "${threads}" | rate)"
  done
  ours="$(median <<<"${ours}")"
  theirs="$(median <<<"${theirs}")"
  ours="${ours:-0}" theirs="${theirs:-0}"  # 0: the run printed no rate
  echo "${model} b${batch} t${threads}: descent ${ours}, PyTorch ${theirs}" >&2
  rows+=("${model} ${batch} ${threads} ${ours} ${theirs}")
done

((throughput)) && printf '\n| config | descent samples/s | PyTorch samples/s | ratio | goal |\n'
((throughput)) && echo "|---|---|---|---|---|"
for row in "${rows[@]}"; do
  read -r model batch threads ours theirs <<<"${row}"
  awk -v m="${model}" -v b="${batch}" -v t="${threads}" -v o="${ours}" \
      -v p="${theirs}" 'BEGIN {
    goal = (m == "mlp" && b == 64) ? 1.2 : 1.0
    if (o + 0 == 0 || p + 0 == 0) {  # a run that printed no rate
      printf "| %s b%d t%d | %s | %s | n/a | >= %.1fx |\n", m, b, t, o, p, goal
      exit
    }
    ratio = o / p
    printf "| %s b%d t%d | %.0f | %.0f | %.2fx | >= %.1fx %s |\n",
           m, b, t, o, p, ratio, goal, (ratio >= goal) ? "met" : "MISSED"
  }'
done

# --- Time to accuracy. ---
example="examples/fashion_mnist_mlp.textproto"
if [[ "${tta}" == 0 || ! -f "${example}" ]]; then
  exit 0
fi
target=0.88
lr="$(sed -n 's/.*learning_rate: *\([0-9.eE+-]*\).*/\1/p' "${example}" | head -1)"
batch="$(sed -n 's/.*batch_size: *\([0-9]*\).*/\1/p' "${example}" | head -1)"
threads="$(sed -n 's/.*threads: *\([0-9]*\).*/\1/p' "${example}" | head -1)"
echo
optimizer=sgd
optimizer_set=()
if [[ -n "${adam_lr}" ]]; then
  optimizer=adam
  lr="${adam_lr}"
  optimizer_set=(--set "optimizer.adam={learning_rate: ${lr}}")
fi
echo "## Time to ${target} test accuracy (MLP, batch ${batch}, ${optimizer} lr ${lr}, ${threads} thread(s)${extra_set[*]:+; descent ${extra_set[*]}})"
# One descent run with seed $1: prints "WALL ACCURACY REACHED_SECONDS DETAIL" (REACHED
# "inf" when no evaluation reached the target).
descent_tta() {
  local out="${tmp}/descent_run_$1"
  local start wall accuracy job_seconds outside reached
  start="$(date +%s.%N)"
  OMP_NUM_THREADS="${threads}" OMP_WAIT_POLICY=passive \
    "${build_dir}/descent" local --config "${example}" --output_dir "${out}" \
    --set cluster.num_servers="${servers}" --set cluster.num_workers="${workers}" \
    --set train.eval_every_steps=938 --set train.seed="$1" "${optimizer_set[@]}" "${extra_set[@]}" \
    >"${tmp}/descent_local.out" 2>"${tmp}/descent_local.err" || {
    echo "descent local failed:" >&2
    tail -5 "${tmp}/descent_local.err" >&2
    exit 1
  }
  wall="$(awk -v s="${start}" -v e="$(date +%s.%N)" 'BEGIN {printf "%.1f", e - s}')"
  accuracy="$("${python}" -c '
import json, sys
s = json.load(open(sys.argv[1]))
print(s.get("testAccuracy", s.get("test_accuracy", "nan")))' "${out}/summary.json")"
  # The first evaluation at or above the target, from the job's evals.csv
  # (seconds since the job started, as the coordinator counts them). The
  # run evaluates every 938 steps (one epoch of 60000 / 64) to match
  # PyTorch's per-epoch evaluation; the rest of the config is the
  # example's. To compare with PyTorch's figure, which includes loading the
  # data, add what the job spent outside training: launching the
  # processes, loading data and registering before, and stopping after (so
  # this overstates descent's time by the shutdown).
  job_seconds="$("${python}" -c '
import json, sys
s = json.load(open(sys.argv[1]))
print(s.get("wallSeconds", s.get("wall_seconds", 0)))' "${out}/summary.json")"
  outside="$(awk -v w="${wall}" -v j="${job_seconds}" 'BEGIN {printf "%.1f", w - j}')"
  reached="inf not-reached"
  if [[ -f "${out}/evals.csv" ]]; then
    reached="$(awk -F, -v t="${target}" -v o="${outside}" 'NR == 1 {for (i = 1; i <= NF; ++i) c[$i] = i; next}
      $c["test_accuracy"] >= t {printf "%.1f epoch=%.2f,training=%.1fs,outside=%.1fs", $c["wall_seconds"] + o, $c["epoch"], $c["wall_seconds"], o; exit}' \
      "${out}/evals.csv")"
    reached="${reached:-inf not-reached}"
  fi
  rm -rf "${out}"
  echo "${wall} ${accuracy} ${reached}"
}

# One PyTorch run with seed $1: prints "SECONDS EPOCHS" ("inf none" when not reached).
torch_tta() {
  local line seconds epochs
  line="$(OMP_NUM_THREADS="${threads}" OMP_WAIT_POLICY=passive \
    LD_LIBRARY_PATH="${openblas_dir}" "${python}" bench/pytorch_compare.py \
    --time-to-accuracy "${target}" --lr "${lr}" --batch "${batch}" \
    --optimizer "${optimizer}" --seed "$1" \
    --threads "${threads}" 2>/dev/null || true)"
  seconds="$(sed -n 's/.* seconds=\([0-9.na]*\).*/\1/p' <<<"${line}")"
  epochs="$(sed -n 's/.* epochs=\([0-9]*\).*/\1/p' <<<"${line}")"
  [[ -z "${seconds}" || "${seconds}" == nan ]] && seconds=inf epochs=none
  echo "${seconds} ${epochs}"
}

# Interleaved pairs: descent, PyTorch, descent, PyTorch, ...
echo "| pair | descent local ${servers}x${workers}: whole run s, final accuracy | descent: first eval >= ${target} | PyTorch: first epoch >= ${target} (incl. data loading) |"
echo "|---|---|---|---|"
ours="" theirs=""
for ((r = 1; r <= repeats; ++r)); do
  read -r wall accuracy reached detail <<<"$(descent_tta "${r}")"
  read -r torch_seconds torch_epochs <<<"$(torch_tta "${r}")"
  echo "| ${r} | ${wall}, ${accuracy} | ${reached} s (${detail}) | ${torch_seconds} s (epoch ${torch_epochs}) |"
  ours+=" ${reached}" theirs+=" ${torch_seconds}"
done
ours="$(median <<<"${ours}")"
theirs="$(median <<<"${theirs}")"
awk -v o="${ours}" -v p="${theirs}" -v n="${repeats}" 'BEGIN {
  if (o == "inf" || p == "inf" || p + 0 == 0) {
    printf "\nmedian of %d: descent %s s, PyTorch %s s; ratio n/a\n", n, o, p
    exit
  }
  r = o / p
  printf "\nmedian of %d: descent %.1f s, PyTorch %.1f s; descent/PyTorch %.2fx (goal <= 0.8x: %s)\n",
         n, o, p, r, (r <= 0.8) ? "met" : "MISSED"
}'
