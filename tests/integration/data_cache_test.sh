#!/usr/bin/env bash
# The data cache through the real roles (README "The data cache"): a job on
# Fashion-MNIST leaves decompressed copies of its large gzip files in
# $DESCENT_DATA_CACHE; a job whose training-images copy has been corrupted
# still succeeds, warns naming the copy, and leaves a good copy again (the
# next job warns no more); DESCENT_DATA_CACHE=off leaves nothing.
source "$(dirname "$0")/lib.sh"
MLP="$SOURCE_DIR/examples/fashion_mnist_mlp.textproto"
images="$(sed -n 's/^ *train_images: "\(.*\)"$/\1/p' "$MLP")"
[[ -r "$images" ]] || fail "$images not installed (scripts/setup.sh installs it)"

# Runs a short MLP job named $1 (1 server, 1 worker).
job() {
  local name="$1"
  "$DESCENT" local --config "$MLP" --output_dir "$WORK/$name" \
    --set cluster.num_servers=1 --set cluster.num_workers=1 \
    --set data.idx.max_train_examples=2000 \
    --set data.idx.max_test_examples=500 \
    --set train.epochs=1 --set train.eval_every_steps=0 \
    >"$WORK/$name.stdout" 2>"$WORK/$name.stderr" ||
    fail "$name: exit $?: $(tail -5 "$WORK/$name.stderr")"
  grep -q "^state: SUCCEEDED$" "$WORK/$name.stdout" ||
    fail "$name: $(cat "$WORK/$name.stdout")"
}

export DESCENT_DATA_CACHE="$WORK/cache"
job first
copies=("$WORK"/cache/*.raw)
copy="$(ls "$WORK"/cache/train-images-idx3-ubyte.gz.*.raw 2>/dev/null)" ||
  fail "no copy of the training images in the cache: ${copies[*]}"
ls "$WORK"/cache/t10k-images-idx3-ubyte.gz.*.raw >/dev/null ||
  fail "no copy of the test images in the cache: ${copies[*]}"
# The labels files are small: not cached. No temporary file is left.
(( ${#copies[@]} == 2 )) || fail "cache holds ${copies[*]}"
[[ -z "$(ls "$WORK/cache" | grep -v '\.raw$')" ]] ||
  fail "left in the cache: $(ls "$WORK/cache")"
size="$(stat -c %s "$copy")"
(( size > 47040016 && size < 47040016 + 4096 )) ||
  fail "copy is $size bytes, the training images are 47040016"

# Corrupt one byte of the copy's content: the next job reads the source.
printf '\x5a' | dd of="$copy" bs=1 seek=$(( size - 1000 )) conv=notrunc status=none
job corrupt
grep -l "cached decompressed copy of .* is corrupt" "$WORK"/corrupt/logs/*.log \
  >/dev/null || fail "no warning about the corrupt copy in $WORK/corrupt/logs"
[[ -s "$copy" ]] || fail "no copy after the corrupt one was replaced"
job again
if grep -l "is corrupt" "$WORK"/again/logs/*.log; then
  fail "the replaced copy was corrupt too"
fi
cmp -s <(tail -c 4096 "$copy") <(zcat "$images" | tail -c 4096) ||
  fail "the copy's content does not end as the training images do"

DESCENT_DATA_CACHE=off
rm -rf "$WORK/cache"
job off
[[ ! -e "$WORK/cache" ]] || fail "DESCENT_DATA_CACHE=off made $WORK/cache"
echo "PASS: data cache: copies made, a corrupt one replaced, off leaves none"
