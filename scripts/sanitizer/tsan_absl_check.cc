// Checks the ThreadSanitizer build's absl::Mutex annotations
// (tsan_absl.cc): two threads increment a counter under an absl::Mutex,
// and, given any argument, a second one without it. scripts/sanitize.sh
// thread runs it both ways: without an argument TSan must stay silent
// (exit 0; Debian's uninstrumented Abseil alone gives a false report),
// with one it must report the real race (exit 66, TSan's).
#include <thread>

#include "absl/synchronization/mutex.h"

int main(int argc, char**) {
  absl::Mutex mu;
  int guarded = 0;
  int unguarded = 0;
  auto count = [&] {
    for (int i = 0; i < 1000; ++i) {
      {
        absl::MutexLock lock(&mu);
        ++guarded;
      }
      if (argc > 1) ++unguarded;
    }
  };
  std::thread a(count), b(count);
  a.join();
  b.join();
  return guarded == 2000 ? 0 : 1;
}
