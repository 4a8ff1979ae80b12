#!/usr/bin/env bash
# Builds descent with sanitizers into its own build tree and runs tests
# there. One command each:
#   scripts/sanitize.sh address   AddressSanitizer + UndefinedBehaviorSanitizer,
#                                 the whole suite (build-asan/)
#   scripts/sanitize.sh thread    ThreadSanitizer, the concurrent parts: shard,
#                                 consistency gate, coordinator, trainer,
#                                 push pipeline and transport tests
#                                 (build-tsan/)
# ThreadSanitizer and the system libraries: Debian's Abseil and protobuf
# are not built with -fsanitize=thread. The tests wrap every absl::Mutex
# and absl::Notification call they make with TSan's annotations
# (scripts/sanitizer/tsan_absl.cc), and the build compiles without
# __SANITIZE_THREAD__ so that protobuf's headers keep the library's layout
# (CMakeLists.txt). gRPC's threads hand work over through libgrpc's own
# synchronization, which TSan cannot see: the tests that run a real gRPC
# server (parameter_server_rpc_test, server_guard_test) are left out,
# their reports would be about gRPC's hand-overs.
# Extra arguments go to ctest (address: e.g. -R ParameterShard) or to each
# test program (thread: e.g. --gtest_filter=Gate*). Any report fails the
# run: the sanitizers halt on the first error (-fno-sanitize-recover=all).
set -euo pipefail
cd "$(dirname "$0")/.."
kind="${1:-}"
shift || true
# The concurrent parts, for ThreadSanitizer: the shard and its gate, the
# coordinator, the worker's trainer and push pipeline, the transports
# in-process.
TSAN_TESTS=(consistency_gate_test consistency_test gradient_sum_test
  parameter_shard_test parameter_shard_bad_input_test
  parameter_shard_failure_test parameter_shard_release_test
  parameter_shard_sparse_test shard_checkpoint_test coordinator_test
  coordinator_failure_test coordinator_progress_test
  coordinator_stopping_test
  in_process_coordinator_client_test in_process_transport_test
  transport_test trainer_test push_pipeline_test)
case "$kind" in
  address)
    dir=build-asan
    flags="address,undefined"
    export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1"
    export LSAN_OPTIONS="suppressions=$PWD/scripts/sanitizer/lsan.supp:print_suppressions=0"
    export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
    ;;
  thread)
    dir=build-tsan
    flags="thread"
    export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$PWD/scripts/sanitizer/tsan.supp"
    ;;
  *)
    echo "usage: scripts/sanitize.sh address|thread [ctest or gtest arguments]" >&2
    exit 1
    ;;
esac
cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DDESCENT_SANITIZE="$flags" -DDESCENT_BUILD_BENCHMARKS=OFF
# Instrumented code runs several times slower: more time per test, and the
# kernels on one thread so that OpenMP's (uninstrumented) runtime stays out.
export OMP_NUM_THREADS=1
if [[ "$kind" == address ]]; then
  cmake --build "$dir"
  ctest --test-dir "$dir" --output-on-failure -j2 --timeout 1200 "$@"
else
  cmake --build "$dir" --target tsan_absl_check "${TSAN_TESTS[@]}"
  # The annotations first: silent on a counter under an absl::Mutex, a
  # report (exit 66) on one without.
  "$dir/tests/tsan_absl_check" ||
    { echo "tsan: false report on an absl::Mutex" >&2; exit 1; }
  if "$dir/tests/tsan_absl_check" race 2>/dev/null; then
    echo "tsan: a real race went unreported" >&2
    exit 1
  fi
  echo "tsan: absl::Mutex annotations work (no false report, the real race reported)"
  for test in "${TSAN_TESTS[@]}"; do
    echo "tsan: $test"
    "$dir/tests/$test" --gtest_brief=1 "$@"
  done
  echo "tsan: ${#TSAN_TESTS[@]} test programs clean"
fi
