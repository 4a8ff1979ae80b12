#include "rpc/refusal_tarpit.h"

#include <utility>

#include "absl/time/clock.h"

namespace descent {

RefusalTarpit::RefusalTarpit(RefusalTarpitOptions options) : options_(options) {
  if (options_.delay > absl::ZeroDuration()) {
    thread_ = std::thread([this] { Run(); });
  }
}

RefusalTarpit::~RefusalTarpit() {
  Close();
  if (thread_.joinable()) thread_.join();
}

bool RefusalTarpit::Hold(int64_t request_bytes, std::function<void()> answer) {
  if (!thread_.joinable()) return false;
  absl::MutexLock lock(&mu_);
  if (closed_ || static_cast<int>(held_.size()) >= options_.max_calls ||
      held_bytes_ + request_bytes > options_.max_bytes) {
    return false;
  }
  held_.push_back(
      {absl::Now() + options_.delay, request_bytes, std::move(answer)});
  held_bytes_ += request_bytes;
  return true;
}

void RefusalTarpit::Close() {
  absl::MutexLock lock(&mu_);
  closed_ = true;
}

int RefusalTarpit::held() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int>(held_.size());
}

bool RefusalTarpit::HasWork() const { return closed_ || !held_.empty(); }

std::deque<RefusalTarpit::Held> RefusalTarpit::TakeDueLocked() {
  std::deque<Held> due;
  const absl::Time now = absl::Now();
  while (!held_.empty() && (closed_ || held_.front().due <= now)) {
    held_bytes_ -= held_.front().bytes;
    due.push_back(std::move(held_.front()));
    held_.pop_front();
  }
  return due;
}

void RefusalTarpit::Run() {
  while (true) {
    std::deque<Held> due;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(this, &RefusalTarpit::HasWork));
      if (closed_ && held_.empty()) return;
      // Later arrivals are due later than the first: only Close can make
      // anything due sooner.
      if (!closed_) {
        mu_.AwaitWithDeadline(absl::Condition(&closed_), held_.front().due);
      }
      due = TakeDueLocked();
    }
    for (Held& held : due) held.answer();
  }
}

}  // namespace descent
