#!/usr/bin/env bash
# cluster.shared_memory through `descent local`: workers and the
# coordinator reach shards on their host through shared memory (their logs
# say so, every shard serves an endpoint), and the job is the same job: 1
# server and 1 worker under SGD train the same model (to rounding) over
# shared memory and over gRPC (cluster.shared_memory: false, whose logs
# name no shared memory). A 2-server, 2-worker BSP job trains over
# shared memory too.
source "$(dirname "$0")/lib.sh"

run() {  # name, then extra --set flags
  local name="$1"
  shift
  train_job "$EXAMPLE" "$WORK/$name" --set train.epochs=1 \
    --set train.threads=1 --set train.eval_every_steps=0 "$@"
  grep -q "^state: SUCCEEDED$" "$WORK/stdout" || fail "$name: $(cat "$WORK/stdout")"
}

run shm --set cluster.num_servers=1 --set cluster.num_workers=1
run grpc --set cluster.num_servers=1 --set cluster.num_workers=1 \
  --set cluster.shared_memory=false

grep -q "shard 0: shared memory (@descent-" "$WORK/shm/logs/worker-0.log" ||
  fail "worker-0.log names no shared memory: $(grep 'shard 0' "$WORK/shm/logs/worker-0.log")"
grep -q "shard 0: shared memory (@descent-" "$WORK/shm/logs/coordinator.log" ||
  fail "coordinator.log names no shared memory"
grep -q "serving on 127.0.0.1:[0-9]* and @descent-" "$WORK/shm/logs/server-0.log" ||
  fail "server-0.log names no shared-memory endpoint"
! grep -q "shared memory (@" "$WORK/grpc/logs/worker-0.log" ||
  fail "shared_memory false, but the worker used it"

# The trained models agree to rounding: every parameter within 1e-5 (the
# transports carry the same bits, shm_transport_test checks that; the
# workers' vectorized sums round differently when their buffers land at
# other alignments, which moves some parameters by up to ~1e-7 in a run).
/usr/bin/python3 - "$WORK/shm/model/model.safetensors" \
  "$WORK/grpc/model/model.safetensors" <<'PY' || fail "the models differ"
import json, struct, sys
def load(path):
    data = open(path, "rb").read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    body = data[8 + n:]
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        start, end = t["data_offsets"]
        out[name] = struct.unpack(f"<{(end - start) // 4}f", body[start:end])
    return out
a, b = load(sys.argv[1]), load(sys.argv[2])
assert a.keys() == b.keys(), (a.keys(), b.keys())
worst = max(abs(x - y) for name in a for x, y in zip(a[name], b[name]))
print(f"largest difference between the two models: {worst:.3g}")
sys.exit(0 if worst <= 1e-5 else 1)
PY

run shm2 --set cluster.num_servers=2 --set cluster.num_workers=2 \
  --set train.consistency=BSP
for s in 0 1; do
  grep -q "shard $s: shared memory (@descent-" "$WORK/shm2/logs/worker-1.log" ||
    fail "worker-1.log: shard $s not over shared memory"
done
accuracy="$(json_field "$WORK/shm2/summary.json" test_accuracy)"
at_least "$accuracy" 0.70 || fail "2 x 2 BSP over shared memory: accuracy $accuracy"
echo PASS
