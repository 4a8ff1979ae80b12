// FaultyShardTransport: a ShardTransport that wraps another and makes
// chosen calls go wrong, for tests (leveldb's fault-injecting Env, here
// around the transport). Faults are keyed by call number: the n-th Pull or
// the n-th PushPull through this transport, counting from 1.
//
//   Fail(n, status)  answered with `status`; the shard never sees it.
//   Drop(n)          the shard never sees it; answered DEADLINE_EXCEEDED at
//                    once, as gRPC would once its deadline had passed.
//   LoseAnswer(n)    the shard applies it, then its answer is lost:
//                    answered UNAVAILABLE (a retry must not apply it again).
//   Hold(n)          held until Release(): a slow network without sleeping.
//
// Other calls pass through untouched. Thread-safe.
#ifndef DESCENT_COMMON_FAULTY_TRANSPORT_H_
#define DESCENT_COMMON_FAULTY_TRANSPORT_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "common/transport.h"

namespace descent {

class FaultyShardTransport final : public ShardTransport {
 public:
  enum class Method { kPull, kPushPull };

  explicit FaultyShardTransport(std::unique_ptr<ShardTransport> inner);

  // A factory whose transports wrap `inner`'s; each new one is also
  // appended to *made (by shard map order), so a test can set its faults.
  // `made` must outlive the factory.
  static ShardTransportFactory Wrap(ShardTransportFactory inner,
                                    std::vector<FaultyShardTransport*>* made);

  void Fail(Method method, int64_t n, absl::Status status);
  void Drop(Method method, int64_t n);
  void LoseAnswer(Method method, int64_t n);
  void Hold(Method method, int64_t n);

  // Sends every held call on to the wrapped transport; returns how many.
  int Release();
  // Calls made so far (faulty or not).
  int64_t calls(Method method) const;
  // Calls held now.
  int held() const;

  void Pull(const v1::PullRequest& request, v1::PullResponse* response,
            absl::Duration deadline, Done done) override;
  void PushPull(const v1::PushRequest& request, v1::PushPullResponse* response,
                absl::Duration deadline, Done done) override;
  // Passed through without faults.
  void SecureAggregation(const v1::SecureAggregationRequest& request,
                         v1::SecureAggregationResponse* response,
                         absl::Duration deadline, Done done) override {
    inner_->SecureAggregation(request, response, deadline, std::move(done));
  }

 private:
  enum class Kind { kFail, kDrop, kLoseAnswer, kHold };
  struct Fault {
    Kind kind;
    absl::Status status;  // kFail
  };

  void Set(Method method, int64_t n, Fault fault);
  // Counts the call and applies its fault, if any; `forward` sends it on
  // with the `done` it is given.
  void Route(Method method, std::function<void(Done)> forward, Done done);

  const std::unique_ptr<ShardTransport> inner_;

  mutable absl::Mutex mu_;
  // Per method: faults by call number, and calls made.
  std::map<int64_t, Fault> faults_[2] ABSL_GUARDED_BY(mu_);
  int64_t calls_[2] ABSL_GUARDED_BY(mu_) = {0, 0};
  std::vector<std::function<void()>> held_ ABSL_GUARDED_BY(mu_);
};

}  // namespace descent

#endif  // DESCENT_COMMON_FAULTY_TRANSPORT_H_
