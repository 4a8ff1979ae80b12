// ThreadSanitizer builds only (scripts/sanitize.sh thread): tells TSan what
// the absl::Mutex and absl::Notification calls descent makes do. Debian's
// Abseil is not built with -fsanitize=thread, so TSan sees neither its
// locks nor its wake-ups and reports every access under one mutex as a
// race. The link wraps each of these symbols (-Wl,--wrap=, CMakeLists.txt):
// descent's calls come here, and the originals are __real_<symbol>.
//
//   Lock          acquires the mutex, in TSan's terms;
//   Unlock        releases it; the waiters' conditions Abseil evaluates
//                 inside (descent's code, instrumented) read under the
//                 real lock after TSan's release: those reads are ignored;
//   Await...      releases before waiting and acquires after (Abseil drops
//                 and retakes the lock inside), the condition's reads
//                 ignored likewise;
//   ~Mutex        forgets the mutex, so that another at its address is new;
//   Notify        releases the notification, WaitForNotification (and a
//                 wait with timeout that saw it) acquires it.
//
// The symbol names are those of Debian 12's Abseil (20220623, inline
// namespace debian3).
#include <sanitizer/tsan_interface.h>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"

extern "C" {

void AnnotateIgnoreReadsBegin(const char* file, int line);
void AnnotateIgnoreReadsEnd(const char* file, int line);

// absl::Mutex::Lock(), Unlock(), ~Mutex(), Await(const Condition&),
// AwaitWithTimeout(const Condition&, Duration), AwaitWithDeadline(const
// Condition&, Time).
void __real__ZN4absl7debian35Mutex4LockEv(absl::Mutex* mu);
void __real__ZN4absl7debian35Mutex6UnlockEv(absl::Mutex* mu);
void __real__ZN4absl7debian35MutexD1Ev(absl::Mutex* mu);
void __real__ZN4absl7debian35Mutex5AwaitERKNS0_9ConditionE(
    absl::Mutex* mu, const absl::Condition& cond);
bool __real__ZN4absl7debian35Mutex16AwaitWithTimeoutERKNS0_9ConditionENS0_8DurationE(
    absl::Mutex* mu, const absl::Condition& cond, absl::Duration timeout);
bool __real__ZN4absl7debian35Mutex17AwaitWithDeadlineERKNS0_9ConditionENS0_4TimeE(
    absl::Mutex* mu, const absl::Condition& cond, absl::Time deadline);
// absl::Notification::Notify(), WaitForNotification() const,
// WaitForNotificationWithTimeout(Duration) const.
void __real__ZN4absl7debian312Notification6NotifyEv(absl::Notification* n);
void __real__ZNK4absl7debian312Notification19WaitForNotificationEv(
    const absl::Notification* n);
bool __real__ZNK4absl7debian312Notification30WaitForNotificationWithTimeoutENS0_8DurationE(
    const absl::Notification* n, absl::Duration timeout);

}  // extern "C"

namespace {

void Acquired(void* mu) {
  __tsan_mutex_pre_lock(mu, 0);
  __tsan_mutex_post_lock(mu, 0, 0);
}

void Released(void* mu) {
  __tsan_mutex_pre_unlock(mu, 0);
  __tsan_mutex_post_unlock(mu, 0);
}

// Runs `call` (the real operation) with its reads ignored.
template <typename Call>
auto ReadsIgnored(Call call) {
  AnnotateIgnoreReadsBegin(__FILE__, __LINE__);
  auto result = call();
  AnnotateIgnoreReadsEnd(__FILE__, __LINE__);
  return result;
}

}  // namespace

extern "C" {

void __wrap__ZN4absl7debian35Mutex4LockEv(absl::Mutex* mu) {
  __tsan_mutex_pre_lock(mu, 0);
  __real__ZN4absl7debian35Mutex4LockEv(mu);
  __tsan_mutex_post_lock(mu, 0, 0);
}

void __wrap__ZN4absl7debian35Mutex6UnlockEv(absl::Mutex* mu) {
  __tsan_mutex_pre_unlock(mu, 0);
  ReadsIgnored([mu] {
    __real__ZN4absl7debian35Mutex6UnlockEv(mu);
    return 0;
  });
  __tsan_mutex_post_unlock(mu, 0);
}

void __wrap__ZN4absl7debian35MutexD1Ev(absl::Mutex* mu) {
  __tsan_mutex_destroy(mu, 0);
  __real__ZN4absl7debian35MutexD1Ev(mu);
}

void __wrap__ZN4absl7debian35Mutex5AwaitERKNS0_9ConditionE(
    absl::Mutex* mu, const absl::Condition& cond) {
  Released(mu);
  ReadsIgnored([&] {
    __real__ZN4absl7debian35Mutex5AwaitERKNS0_9ConditionE(mu, cond);
    return 0;
  });
  Acquired(mu);
}

bool __wrap__ZN4absl7debian35Mutex16AwaitWithTimeoutERKNS0_9ConditionENS0_8DurationE(
    absl::Mutex* mu, const absl::Condition& cond, absl::Duration timeout) {
  Released(mu);
  const bool met = ReadsIgnored([&] {
    return __real__ZN4absl7debian35Mutex16AwaitWithTimeoutERKNS0_9ConditionENS0_8DurationE(
        mu, cond, timeout);
  });
  Acquired(mu);
  return met;
}

bool __wrap__ZN4absl7debian35Mutex17AwaitWithDeadlineERKNS0_9ConditionENS0_4TimeE(
    absl::Mutex* mu, const absl::Condition& cond, absl::Time deadline) {
  Released(mu);
  const bool met = ReadsIgnored([&] {
    return __real__ZN4absl7debian35Mutex17AwaitWithDeadlineERKNS0_9ConditionENS0_4TimeE(
        mu, cond, deadline);
  });
  Acquired(mu);
  return met;
}

void __wrap__ZN4absl7debian312Notification6NotifyEv(absl::Notification* n) {
  __tsan_release(n);
  __real__ZN4absl7debian312Notification6NotifyEv(n);
}

void __wrap__ZNK4absl7debian312Notification19WaitForNotificationEv(
    const absl::Notification* n) {
  __real__ZNK4absl7debian312Notification19WaitForNotificationEv(n);
  __tsan_acquire(const_cast<absl::Notification*>(n));
}

bool __wrap__ZNK4absl7debian312Notification30WaitForNotificationWithTimeoutENS0_8DurationE(
    const absl::Notification* n, absl::Duration timeout) {
  const bool notified =
      __real__ZNK4absl7debian312Notification30WaitForNotificationWithTimeoutENS0_8DurationE(
          n, timeout);
  if (notified) __tsan_acquire(const_cast<absl::Notification*>(n));
  return notified;
}

}  // extern "C"
