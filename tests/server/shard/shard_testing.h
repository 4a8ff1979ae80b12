// What the ParameterShard tests share: the floats of a bytes field, a
// PushPull that must be answered at once, and GateFixture, which drives one
// shard through its consistency gate with pushes whose gradient is one
// value in every element, keeping each push's (maybe pending) answer.
#ifndef DESCENT_TESTS_SERVER_SHARD_SHARD_TESTING_H_
#define DESCENT_TESTS_SERVER_SHARD_SHARD_TESTING_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/wire.h"
#include "gtest/gtest.h"
#include "server/shard/parameter_shard.h"

namespace descent {

// The raw little-endian float32 values in `bytes`.
inline std::vector<float> Floats(const std::string& bytes) {
  std::vector<float> values(FloatCount(bytes));
  DecodeFloats(bytes, values.data());
  return values;
}

// PushPull for a push that is answered before the call returns (ASP, or a
// refused push): expects `done` exactly once and returns its status.
inline absl::Status PushPullNow(ParameterShard& shard,
                                const v1::PushRequest& request,
                                v1::PushPullResponse* response) {
  absl::Status result = absl::UnknownError("done not called");
  int calls = 0;
  shard.PushPull(request, response, [&](absl::Status s) {
    result = s;
    ++calls;
  });
  EXPECT_EQ(calls, 1);
  return result;
}

// A push's outcome, filled when the shard calls done.
struct Answer {
  v1::PushRequest request;
  v1::PushPullResponse response;
  int calls = 0;
  absl::Status status = absl::UnknownError("not answered");
};

// A shard of job "job" owning all of one tensor "w" of zeros, SGD at
// kLearningRate, the fake clock now_, every push's record in records_.
class GateFixture : public ::testing::Test {
 protected:
  static constexpr int64_t kSize = 4;
  static constexpr float kLearningRate = 0.5f;

  void Make(v1::Consistency consistency, int workers, int staleness = 0,
            int backup = 0, int64_t size = kSize, int max_workers = 0) {
    size_ = size;
    ParameterShardOptions options;
    options.job_id = "job";
    options.num_workers = workers;
    options.max_workers = max_workers;
    options.range = {0, size};
    options.layout.Add({"w", {size}, InitRule::kZeros, size, 1});
    options.optimizer.mutable_sgd()->set_learning_rate(kLearningRate);
    options.consistency = consistency;
    options.staleness = staleness;
    options.backup_workers = backup;
    options.observer = [this](const PushRecord& r) { records_.push_back(r); };
    options.clock = [this] { return now_; };
    auto shard = ParameterShard::Create(std::move(options));
    ASSERT_TRUE(shard.ok()) << shard.status();
    shard_ = *std::move(shard);
  }

  // A push of `gradient` (every element) from `worker` at `step`, computed
  // on `base`; request id `id`, or a fresh one if 0.
  v1::PushRequest Request(int worker, int64_t step, int64_t base,
                          float gradient, int examples = 1, bool last = false,
                          uint64_t id = 0) {
    v1::PushRequest r;
    r.mutable_header()->set_job_id("job");
    r.mutable_header()->set_worker_id(worker);
    r.mutable_header()->set_step(step);
    r.mutable_header()->set_request_id(id != 0 ? id : next_id_++);
    const std::vector<float> values(size_, gradient);
    EncodeFloats(values.data(), size_, r.mutable_gradient()->mutable_values());
    r.set_base_version(base);
    r.set_examples(examples);
    r.set_last(last);
    return r;
  }

  // PushPulls Request(...) and returns its (maybe pending) answer. Once it
  // is answered, `then` (if set) runs with it, inside the shard's done.
  Answer* Send(int worker, int64_t step, int64_t base, float gradient,
               int examples = 1, bool last = false, uint64_t id = 0,
               std::function<void(Answer*)> then = nullptr) {
    answers_.push_back(std::make_unique<Answer>());
    Answer* a = answers_.back().get();
    a->request = Request(worker, step, base, gradient, examples, last, id);
    shard_->PushPull(a->request, &a->response,
                     [a, then = std::move(then)](absl::Status s) {
                       a->status = s;
                       ++a->calls;
                       if (then) then(a);
                     });
    return a;
  }

  // The first element of an answer's slice.
  static float Param(const Answer& a) {
    return Floats(a.response.params().values()).at(0);
  }

  absl::Time now_ = absl::FromUnixSeconds(1000);  // the shard's clock
  int64_t size_ = kSize;
  std::unique_ptr<ParameterShard> shard_;
  std::vector<PushRecord> records_;
  std::vector<std::unique_ptr<Answer>> answers_;
  uint64_t next_id_ = 1000;
};

}  // namespace descent

#endif  // DESCENT_TESTS_SERVER_SHARD_SHARD_TESTING_H_
