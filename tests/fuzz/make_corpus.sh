#!/usr/bin/env bash
# Writes the libFuzzer seed corpora under tests/fuzz/corpus/ (committed;
# rerun after a format changes): the example configs, small data files of
# each format, and request sequences in the records format of
# tests/fuzz/fuzz_input.h, encoded from text protos by protoc.
set -euo pipefail
cd "$(dirname "$0")/../.."
C=tests/fuzz/corpus
rm -f "$C"/*/*

# config: every example, and one with overrides after "--set".
for f in examples/*.textproto; do cp "$f" "$C/config/$(basename "$f")"; done
{ cat examples/fashion_mnist_mlp.textproto; printf '\n--set\ntrain.epochs=3\noptimizer={adam {}}\nmodel.mlp.hidden=[8, 4]\n'; } \
  >"$C/config/with_overrides"

# Readers: the first byte is the options choice (see each target).
printf '\x00+1 1:0.5 3:1\n-1 2:1 # c\n+1 qid:3 1:2\n' >"$C/libsvm/binary"
printf '\x03%s\n' "0 0:1 5:2" "2 1:1" "1 4:0.25" >"$C/libsvm/zero_based"
printf '\x04%s\n' "1.5 1:1" "-2e3 2:3" >"$C/libsvm/regression"
{ printf '\x00'; printf '1 1:1\n0 2:1\n' | gzip -c; } >"$C/libsvm/gzip"
printf '\x01a,b,label\n1,2,x\n3,4,y\n' >"$C/csv/header"
printf '\x04%s\t%s\t%s\n' 5.1 3.5 setosa 6.2 2.9 virginica >"$C/csv/tsv"
printf '\x00"1,5",2,0\n3,"4",1\r\n' >"$C/csv/quoted"
printf '\x20%s\n' "1,2,3.5" "4,5,-1" >"$C/csv/regression"
printf '1 10 4.0\n2 20 3.5 881250949\n# c\n3 10 1\n' >"$C/triples/ratings"
printf '1\t2\t5\r\n' >"$C/triples/tabs"
# idx: 2 images of 2x2 and their labels; the first byte splits the input.
{ printf '\x7f'; printf '\x00\x00\x08\x03\x00\x00\x00\x02\x00\x00\x00\x02\x00\x00\x00\x02'
  printf '\x00\x40\x80\xff\x01\x02\x03\x04'
  printf '\x00\x00\x08\x01\x00\x00\x00\x02\x03\x09'; } >"$C/idx/two"

# Request sequences: "<kind><length><payload>" records.
record() {  # record KIND MESSAGE TEXT
  local bytes
  bytes="$(mktemp)"
  protoc -I proto --encode="descent.v1.$2" proto/descent/v1/*.proto <<<"$3" >"$bytes"
  printf "\\x$(printf %02x "$1")\\x$(printf %02x "$(stat -c %s "$bytes")")"
  cat "$bytes"
  rm -f "$bytes"
}
floats16='\000\000\200?\000\000\200?\000\000\200?\000\000\200?\000\000\200?\000\000\200?\000\000\200?\000\000\200?\000\000\200?\000\000\200?\000\000\200?\000\000\200?\000\000\200?\000\000\200?\000\000\200?\000\000\200?'
push() {  # push WORKER STEP
  echo "header { job_id: \"job\" worker_id: $1 step: $2 request_id: $((100 + $1 * 10 + $2)) } gradient { offset: 0 values: \"$floats16\" } base_version: 0 examples: 4"
}
for consistency in 0 1 2; do
  {
    printf "\\x$(printf %02x $consistency)"
    record 4 PushRequest "$(push 0 1)"
    record 12 PushRequest "$(push 1 1)"
    record 5 PullRequest 'header { job_id: "job" } offset: 0 length: 16'
    record 4 PushRequest 'header { job_id: "job" step: 2 request_id: 7 } row_gradients { keys: [3, 9] width: 2 values: "\000\000\200?\000\000\200?\000\000\200?\000\000\200?" } pull_keys: [3, 9, 12] examples: 2'
    printf '\x02\x01\x01'
    record 4 PushRequest "$(push 0 2)"
  } >"$C/shard/sequence_$consistency"
done
for policy in 0 1 2 4; do
  {
    printf "\\x$(printf %02x $policy)"
    record 0 RegisterServerRequest 'shard: 0 address: "127.0.0.1:5000" pid: 10'
    record 0 RegisterServerRequest 'shard: 1 address: "127.0.0.1:5001" pid: 11'
    record 1 RegisterWorkerRequest 'instance_id: 11 pid: 12'
    record 1 RegisterWorkerRequest 'instance_id: 12 pid: 13 requested_id: 1'
    record 6 HeartbeatRequest 'role: WORKER id: 0 progress { steps: 10 examples: 100 loss_sum: 5 loss_count: 10 }'
    record 6 HeartbeatRequest 'role: SERVER id: 0 version: 12'
    printf '\x17\x00'  # 5 s pass
    record 6 HeartbeatRequest 'role: WORKER id: 1 progress { steps: 100 examples: 1000 done: true }'
    printf '\x2f\x00'  # 11 s pass: worker 0 is overdue
  } >"$C/coordinator/registration_$policy"
done
# secagg: one round of 2 clients (0 on worker 0, 1 on worker 1) through
# its four phases, then worker 1 lost in the next round.
k32='aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'
b32='bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb'
words6='\001\000\000\000\002\000\000\000\003\000\000\000\004\000\000\000\012\000\000\000\000\000\000\000'
secagg() {  # secagg CLIENT PHASE BODY
  echo "header { job_id: \"job\" step: 0 } phase: $2 clients { client: $1 $3 }"
}
{
  record 4 SecureAggregationRequest "$(secagg 0 ADVERTISE_KEYS "cipher_public_key: \"$k32\" mask_public_key: \"$b32\"") weight_bound: 20"
  record 12 SecureAggregationRequest "$(secagg 1 ADVERTISE_KEYS "cipher_public_key: \"$b32\" mask_public_key: \"$k32\"") weight_bound: 20"
  record 4 SecureAggregationRequest "$(secagg 0 SHARE_KEYS 'shares { from: 0 to: 1 sealed: "sealed" }')"
  record 12 SecureAggregationRequest "$(secagg 1 SHARE_KEYS 'shares { from: 1 to: 0 sealed: "sealed" }')"
  record 4 SecureAggregationRequest "$(secagg 0 MASKED_INPUT "masked_input: \"$words6\"")"
  record 12 SecureAggregationRequest "$(secagg 1 MASKED_INPUT "masked_input: \"$words6\"")"
  record 4 SecureAggregationRequest "$(secagg 0 UNMASK "revealed { owner: 0 share: \"$k32\" } revealed { owner: 1 share: \"$b32\" }")"
  record 12 SecureAggregationRequest "$(secagg 1 UNMASK "revealed { owner: 0 share: \"$b32\" } revealed { owner: 1 share: \"$k32\" }")"
  record 4 SecureAggregationRequest 'header { job_id: "job" step: 1 } phase: ADVERTISE_KEYS weight_bound: 20'
  printf '\x01\x01\x01'
  record 28 SecureAggregationRequest "$(secagg 1 ADVERTISE_KEYS "cipher_public_key: \"$b32\" mask_public_key: \"$k32\"") weight_bound: 20"
} >"$C/secagg/round"
ls "$C"/* | wc -l
