#!/usr/bin/env bash
# A role that dies mid-run fails a job without checkpoints: `descent local`
# notices, names the process, stops all the others and exits non-zero.
source "$(dirname "$0")/lib.sh"

start_local --set train.epochs=50
wait_until_running
kill_member server/1
wait_local
[[ "$code" == 137 ]] || fail "exit code $code, expected 137 (server/1 killed by SIGKILL)"
grep -q "server/1 (pid $victim) killed by signal 9" "$WORK/stderr" ||
  fail "stderr does not name the dead process: $(tail -5 "$WORK/stderr")"
# Without train.checkpoint there is nothing to roll back to; it says how
# the job could have gone on.
grep -q "the job cannot go on without it (set train.checkpoint" "$WORK/stderr" ||
  fail "no rollback hint: $(tail -5 "$WORK/stderr")"
expect_no_children
echo "local_child_failure_test: exit $code, no child left"
