#!/usr/bin/env bash
# A job whose output directory's file system fills up: `descent local` fails
# with the role's exit code, names the file that could not be written, and
# says that the file system is full, even where the log itself is empty.
# Needs root (a small tmpfs is mounted for the job); skips (77) otherwise.
source "$(dirname "$0")/lib.sh"

DISK="$WORK/disk"
mkdir -p "$DISK"
if ! mount -t tmpfs -o size=256k tmpfs "$DISK" 2>/dev/null; then
  echo "full_disk_test: SKIP (cannot mount a tmpfs here: needs root)"
  exit 77
fi
trap 'umount "$DISK" 2>/dev/null || true; cleanup' EXIT

# 1. Room for the launcher's own files, then none: the coordinator's first
#    write of evals.csv (or of its log) fails.
dd if=/dev/zero of="$DISK/fill" bs=4k count=61 2>/dev/null || true
code=0
timeout 120 "$DESCENT" local --config "$EXAMPLE" --output_dir "$DISK/job" \
  --set train.epochs=1 >"$WORK/stdout" 2>"$WORK/stderr" || code=$?
[[ "$code" != 0 && "$code" != 124 ]] || fail "a full disk exited $code: $(cat "$WORK/stderr")"
grep -q "No space left on device" "$WORK/stderr" ||
  fail "no write error named: $(cat "$WORK/stderr")"
grep -q "the file system holding $DISK/job is full ([0-9]* bytes free)" "$WORK/stderr" ||
  fail "the full file system is not named: $(cat "$WORK/stderr")"
OUT="$DISK/job"
expect_no_children

# 2. No room at all: the launcher's own first write fails, naming it.
rm -rf "$DISK/job"
dd if=/dev/zero of="$DISK/fill2" bs=4k 2>/dev/null || true
code=0
timeout 60 "$DESCENT" local --config "$EXAMPLE" --output_dir "$DISK/job2" \
  --set train.epochs=1 >"$WORK/stdout" 2>"$WORK/stderr" || code=$?
[[ "$code" != 0 && "$code" != 124 ]] || fail "no space at all exited $code"
grep -q "$DISK/job2/config.textproto.*No space left on device" "$WORK/stderr" ||
  fail "the launcher's write error is not named: $(cat "$WORK/stderr")"

echo "full_disk_test: a full output file system is named (exit $code)"
