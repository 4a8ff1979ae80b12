#include "common/faulty_transport.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace descent {

FaultyShardTransport::FaultyShardTransport(
    std::unique_ptr<ShardTransport> inner)
    : inner_(std::move(inner)) {}

ShardTransportFactory FaultyShardTransport::Wrap(
    ShardTransportFactory inner, std::vector<FaultyShardTransport*>* made) {
  return [inner = std::move(inner), made](const v1::ShardInfo& shard)
             -> absl::StatusOr<std::unique_ptr<ShardTransport>> {
    absl::StatusOr<std::unique_ptr<ShardTransport>> wrapped = inner(shard);
    if (!wrapped.ok()) return wrapped.status();
    auto faulty = std::make_unique<FaultyShardTransport>(*std::move(wrapped));
    made->push_back(faulty.get());
    return std::unique_ptr<ShardTransport>(std::move(faulty));
  };
}

void FaultyShardTransport::Set(Method method, int64_t n, Fault fault) {
  absl::MutexLock lock(&mu_);
  faults_[static_cast<int>(method)][n] = std::move(fault);
}

void FaultyShardTransport::Fail(Method method, int64_t n, absl::Status status) {
  Set(method, n, {Kind::kFail, std::move(status)});
}

void FaultyShardTransport::Drop(Method method, int64_t n) {
  Set(method, n, {Kind::kDrop, absl::OkStatus()});
}

void FaultyShardTransport::LoseAnswer(Method method, int64_t n) {
  Set(method, n, {Kind::kLoseAnswer, absl::OkStatus()});
}

void FaultyShardTransport::Hold(Method method, int64_t n) {
  Set(method, n, {Kind::kHold, absl::OkStatus()});
}

int FaultyShardTransport::Release() {
  std::vector<std::function<void()>> held;
  {
    absl::MutexLock lock(&mu_);
    held.swap(held_);
  }
  for (std::function<void()>& send : held) send();
  return static_cast<int>(held.size());
}

int64_t FaultyShardTransport::calls(Method method) const {
  absl::MutexLock lock(&mu_);
  return calls_[static_cast<int>(method)];
}

int FaultyShardTransport::held() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int>(held_.size());
}

void FaultyShardTransport::Route(Method method,
                                 std::function<void(Done)> forward, Done done) {
  Fault fault{Kind::kFail, absl::OkStatus()};
  bool faulty = false;
  int64_t n;
  {
    absl::MutexLock lock(&mu_);
    const int m = static_cast<int>(method);
    n = ++calls_[m];
    auto it = faults_[m].find(n);
    if (it != faults_[m].end()) {
      fault = it->second;
      faulty = true;
      if (fault.kind == Kind::kHold) {
        held_.push_back([forward, done] { forward(done); });
        return;
      }
    }
  }
  if (!faulty) return forward(std::move(done));
  switch (fault.kind) {
    case Kind::kFail:
      return done(fault.status);
    case Kind::kDrop:
      return done(absl::DeadlineExceededError(
          absl::StrCat("call ", n, " dropped (fault injected)")));
    case Kind::kLoseAnswer:
      return forward([n, done = std::move(done)](absl::Status) {
        done(absl::UnavailableError(
            absl::StrCat("answer to call ", n, " lost (fault injected)")));
      });
    case Kind::kHold:
      break;  // held above
  }
}

void FaultyShardTransport::Pull(const v1::PullRequest& request,
                                v1::PullResponse* response,
                                absl::Duration deadline, Done done) {
  Route(
      Method::kPull,
      [this, &request, response, deadline](Done d) {
        inner_->Pull(request, response, deadline, std::move(d));
      },
      std::move(done));
}

void FaultyShardTransport::PushPull(const v1::PushRequest& request,
                                    v1::PushPullResponse* response,
                                    absl::Duration deadline, Done done) {
  Route(
      Method::kPushPull,
      [this, &request, response, deadline](Done d) {
        inner_->PushPull(request, response, deadline, std::move(d));
      },
      std::move(done));
}

}  // namespace descent
