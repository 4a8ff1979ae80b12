#!/usr/bin/env bash
# A role that dies mid-run fails the job: `descent local` notices, names the
# process, stops all the others and exits non-zero.
source "$(dirname "$0")/lib.sh"

start_local --set train.epochs=50
wait_until_running
victim="$(awk '$1 == "server/1" { print $2 }' "$OUT/processes.txt")"
[[ -n "$victim" ]] || fail "no server/1 in processes.txt"
kill -KILL "$victim"

set +e
wait "$LOCAL_PID"
code=$?
set -e
[[ "$code" == 137 ]] || fail "exit code $code, expected 137 (server/1 killed by SIGKILL)"
grep -q "server/1 (pid $victim) killed by signal 9" "$WORK/stderr" ||
  fail "stderr does not name the dead process: $(tail -5 "$WORK/stderr")"
expect_no_children
echo "local_child_failure_test: exit $code, no child left"
