// Requests from outside that are well-formed protobuf but must not change a
// ParameterShard: finite gradients whose update overflows (every optimizer,
// dense and sparse rows, BSP's mean), values out of range (step, base
// version, examples), too many held pushes, and new rows past the limit.
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "common/partition.h"
#include "common/wire.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/shard/parameter_shard.h"
#include "tests/server/shard/shard_testing.h"

namespace descent {
namespace {

using ::testing::HasSubstr;

constexpr int64_t kSize = 8;
constexpr int kWidth = 2;
constexpr float kHuge = 3e38f;

// Every optimizer the config offers, each with a rate that lets 3e38
// overflow a parameter or its state.
std::vector<std::pair<std::string, v1::OptimizerConfig>> Optimizers() {
  std::vector<std::pair<std::string, v1::OptimizerConfig>> all;
  v1::OptimizerConfig c;
  c.mutable_sgd()->set_learning_rate(1.0);
  all.emplace_back("sgd", c);
  c.Clear();
  c.mutable_momentum()->set_learning_rate(1.0);
  all.emplace_back("momentum", c);
  c.Clear();
  c.mutable_adagrad()->set_learning_rate(1.0);
  all.emplace_back("adagrad", c);
  c.Clear();
  c.mutable_rmsprop()->set_learning_rate(1.0);
  all.emplace_back("rmsprop", c);
  c.Clear();
  c.mutable_adam()->set_learning_rate(1.0);
  all.emplace_back("adam", c);
  c.Clear();
  c.mutable_ftrl()->set_learning_rate(1.0);
  all.emplace_back("ftrl", c);
  for (auto& [name, config] : all) ApplyOptimizerDefaults(&config);
  return all;
}

ParameterShardOptions Options(const v1::OptimizerConfig& optimizer,
                              v1::Consistency consistency = v1::ASP,
                              int workers = 1) {
  ParameterShardOptions options;
  options.job_id = "job";
  options.num_workers = workers;
  options.range = {0, kSize};
  options.layout.Add({"w", {kSize}, InitRule::kZeros});
  options.optimizer = optimizer;
  options.consistency = consistency;
  options.table = SparseTableSpec{kWidth, {0.0f, 0.0f}};
  return options;
}

v1::PushRequest DensePush(float value, uint64_t id, int worker = 0,
                          int64_t step = 0, int64_t base = 0) {
  v1::PushRequest r;
  r.mutable_header()->set_job_id("job");
  r.mutable_header()->set_worker_id(worker);
  r.mutable_header()->set_step(step);
  r.mutable_header()->set_request_id(id);
  r.set_base_version(base);
  const std::vector<float> values(kSize, value);
  EncodeFloats(values.data(), kSize, r.mutable_gradient()->mutable_values());
  return r;
}

v1::PushRequest RowPush(const std::vector<uint64_t>& keys, float value,
                        uint64_t id) {
  v1::PushRequest r;
  r.mutable_header()->set_job_id("job");
  r.mutable_header()->set_request_id(id);
  v1::SparseRows* rows = r.mutable_row_gradients();
  rows->set_width(kWidth);
  for (uint64_t key : keys) rows->add_keys(key);
  const std::vector<float> values(keys.size() * kWidth, value);
  EncodeFloats(values.data(), values.size(), rows->mutable_values());
  // A dense part that is finite but changes every parameter and state
  // value, so the row part decides and a refusal must take the dense part
  // back too.
  const std::vector<float> dense(kSize, 0.25f);
  EncodeFloats(dense.data(), kSize, r.mutable_gradient()->mutable_values());
  return r;
}

bool AllFinite(const ShardState& state) {
  auto finite = [](const std::vector<float>& v) {
    for (float x : v) {
      if (!std::isfinite(x)) return false;
    }
    return true;
  };
  bool ok = finite(state.params) && finite(state.rows);
  for (const auto* tensors : {&state.optimizer, &state.row_optimizer}) {
    for (const NamedTensor& t : *tensors) ok = ok && finite(t.f32);
  }
  return ok;
}

ShardState StateOf(ParameterShard& shard) {
  ShardState state;
  shard.Capture(0, [&state](absl::StatusOr<ShardState> s) {
    ASSERT_TRUE(s.ok()) << s.status();
    state = *std::move(s);
  });
  return state;
}

void ExpectSameState(const ShardState& a, const ShardState& b,
                     const std::string& what) {
  EXPECT_EQ(a.version, b.version) << what;
  EXPECT_EQ(a.params, b.params) << what;
  EXPECT_EQ(a.keys, b.keys) << what;
  EXPECT_EQ(a.rows, b.rows) << what;
  ASSERT_EQ(a.optimizer.size(), b.optimizer.size()) << what;
  for (size_t i = 0; i < a.optimizer.size(); ++i) {
    EXPECT_EQ(a.optimizer[i].f32, b.optimizer[i].f32) << what;
    EXPECT_EQ(a.optimizer[i].u64, b.optimizer[i].u64) << what;
  }
  ASSERT_EQ(a.row_optimizer.size(), b.row_optimizer.size()) << what;
  for (size_t i = 0; i < a.row_optimizer.size(); ++i) {
    EXPECT_EQ(a.row_optimizer[i].f32, b.row_optimizer[i].f32) << what;
    EXPECT_EQ(a.row_optimizer[i].u64, b.row_optimizer[i].u64) << what;
  }
}

// The testers' case: 40 pushes of the finite 3e38. Every update that would
// leave a parameter or optimizer state infinite is refused whole, naming
// the parameter and the worker, and the shard stays finite.
TEST(ParameterShardBadInputTest, UpdatesThatWouldOverflowAreRefusedWhole) {
  for (const auto& [name, optimizer] : Optimizers()) {
    auto shard = *ParameterShard::Create(Options(optimizer));
    int refused = 0;
    for (uint64_t id = 1; id <= 40; ++id) {
      const ShardState before = StateOf(*shard);
      v1::PushPullResponse response;
      absl::Status status =
          PushPullNow(*shard, DensePush(kHuge, id, 0, id), &response);
      if (status.ok()) continue;
      ++refused;
      EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << name;
      EXPECT_THAT(status.message(), HasSubstr("worker 0's push")) << name;
      EXPECT_THAT(status.message(), HasSubstr("(tensor w element")) << name;
      EXPECT_EQ(RejectReason(status), "non_finite_result") << name;
      ExpectSameState(StateOf(*shard), before, name);
      // Refused, not remembered: its retry is refused again.
      status = PushPullNow(*shard, DensePush(kHuge, id, 0, id), &response);
      EXPECT_EQ(RejectReason(status), "non_finite_result") << name;
    }
    EXPECT_GT(refused, 0) << name;
    EXPECT_TRUE(AllFinite(StateOf(*shard))) << name;
  }
}

TEST(ParameterShardBadInputTest, RowUpdatesThatWouldOverflowAreRefusedWhole) {
  for (const auto& [name, optimizer] : Optimizers()) {
    auto shard = *ParameterShard::Create(Options(optimizer));
    v1::PushPullResponse response;
    ASSERT_TRUE(PushPullNow(*shard, RowPush({1, 2}, 1.0f, 1), &response).ok());
    int refused = 0;
    for (uint64_t id = 2; id <= 40; ++id) {
      const ShardState before = StateOf(*shard);
      // Key 1 exists; key 1000 + id would be created by this push.
      absl::Status status =
          PushPullNow(*shard, RowPush({1, 1000 + id}, kHuge, id), &response);
      if (status.ok()) continue;
      ++refused;
      EXPECT_THAT(status.message(), HasSubstr("of the row of key")) << name;
      EXPECT_EQ(RejectReason(status), "non_finite_result") << name;
      ExpectSameState(StateOf(*shard), before, name);
    }
    EXPECT_GT(refused, 0) << name;
    EXPECT_TRUE(AllFinite(StateOf(*shard))) << name;
  }
}

// BSP: the step's mean is what overflows; nothing of it is applied and
// every answer of the step gets the error (the job diverged).
TEST(ParameterShardBadInputTest, BspStepThatWouldOverflowIsRefused) {
  v1::OptimizerConfig sgd;
  sgd.mutable_sgd()->set_learning_rate(1.0);
  auto shard = *ParameterShard::Create(Options(sgd, v1::BSP, 2));
  // Step 0 with gradients 1: parameters become -1.
  Answer a0, a1;
  for (int w = 0; w < 2; ++w) {
    Answer& a = w == 0 ? a0 : a1;
    a.request = DensePush(1.0f, 1, w);
    shard->PushPull(a.request, &a.response, [&a](absl::Status s) {
      a.status = s;
      ++a.calls;
    });
  }
  ASSERT_TRUE(a1.status.ok());
  const ShardState before = StateOf(*shard);
  Answer b0, b1;
  for (int w = 0; w < 2; ++w) {
    Answer& b = w == 0 ? b0 : b1;
    b.request = DensePush(-kHuge, 2, w, 1, 1);
    shard->PushPull(b.request, &b.response, [&b](absl::Status s) {
      b.status = s;
      ++b.calls;
    });
  }
  for (Answer* b : {&b0, &b1}) {
    EXPECT_EQ(b->calls, 1);
    EXPECT_EQ(RejectReason(b->status), "non_finite_result") << b->status;
    EXPECT_THAT(b->status.message(), HasSubstr("workers 0, 1"));
  }
  ExpectSameState(StateOf(*shard), before, "bsp");
}

TEST(ParameterShardBadInputTest, ValuesOutOfRangeAreRefused) {
  struct Case {
    std::string name;
    v1::PushRequest request;
    std::string message;
  };
  std::vector<Case> cases;
  cases.push_back({"step INT64_MAX", DensePush(1, 1), "step must be in"});
  cases.back().request.mutable_header()->set_step(
      std::numeric_limits<int64_t>::max());
  cases.push_back({"step past kMaxStep", DensePush(1, 1), "step must be in"});
  cases.back().request.mutable_header()->set_step(kMaxStep + 1);
  cases.push_back({"base version -1e9", DensePush(1, 1, 0, 0, -1000000000),
                   "base version must be >= 0"});
  cases.push_back({"negative examples", DensePush(1, 1), "examples must be"});
  cases.back().request.set_examples(-5);
  cases.push_back({"absurd examples", DensePush(1, 1), "examples must be"});
  cases.back().request.set_examples(kMaxExamples + 1);
  v1::OptimizerConfig sgd;
  sgd.mutable_sgd()->set_learning_rate(1.0);
  for (v1::Consistency consistency : {v1::ASP, v1::SSP, v1::BSP}) {
    for (const Case& c : cases) {
      auto shard = *ParameterShard::Create(Options(sgd, consistency, 2));
      const ShardState before = StateOf(*shard);
      v1::PushPullResponse response;
      absl::Status status = PushPullNow(*shard, c.request, &response);
      EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << c.name;
      EXPECT_THAT(status.message(), HasSubstr(c.message)) << c.name;
      EXPECT_EQ(RejectReason(status), "malformed") << c.name;
      ExpectSameState(StateOf(*shard), before, c.name);
    }
  }
}

// Under SSP a push far ahead is held; a worker gets kMaxHeldPerWorker of
// them, no more, so pushes from outside cannot pile up requests.
TEST(ParameterShardBadInputTest, HeldPushesPerWorkerAreBounded) {
  v1::OptimizerConfig sgd;
  sgd.mutable_sgd()->set_learning_rate(1.0);
  ParameterShardOptions options = Options(sgd, v1::SSP, 2);
  auto shard = *ParameterShard::Create(std::move(options));
  std::vector<std::unique_ptr<Answer>> answers;
  for (int i = 0; i < kMaxHeldPerWorker + 3; ++i) {
    auto a = std::make_unique<Answer>();
    a->request = DensePush(0.0f, 100 + i, 0, kMaxStep);
    Answer* raw = a.get();
    shard->PushPull(raw->request, &raw->response, [raw](absl::Status s) {
      raw->status = s;
      ++raw->calls;
    });
    answers.push_back(std::move(a));
  }
  int held = 0, refused = 0;
  for (const auto& a : answers) {
    if (a->calls == 0) ++held;
    if (a->calls == 1 && RejectReason(a->status) == "too_many_held") {
      EXPECT_EQ(a->status.code(), absl::StatusCode::kResourceExhausted);
      ++refused;
    }
  }
  EXPECT_EQ(held, kMaxHeldPerWorker);
  EXPECT_EQ(refused, 3);
  // Worker 1 is not affected.
  Answer other;
  other.request = DensePush(0.0f, 1, 1, 0);
  shard->PushPull(other.request, &other.response, [&other](absl::Status s) {
    other.status = s;
    ++other.calls;
  });
  EXPECT_EQ(other.calls, 1);
  EXPECT_TRUE(other.status.ok()) << other.status;
  shard->Close();  // releases the held answers
  for (const auto& a : answers) EXPECT_EQ(a->calls, 1);
}

TEST(ParameterShardBadInputTest, NewRowsPastTheLimitAreRefused) {
  v1::OptimizerConfig sgd;
  sgd.mutable_sgd()->set_learning_rate(1.0);
  for (v1::Consistency consistency : {v1::ASP, v1::BSP}) {
    ParameterShardOptions options = Options(sgd, consistency, 1);
    options.max_sparse_rows = 3;
    auto shard = *ParameterShard::Create(std::move(options));
    v1::PushPullResponse response;
    ASSERT_TRUE(
        PushPullNow(*shard, RowPush({1, 2, 3}, 1.0f, 1), &response).ok());
    const ShardState before = StateOf(*shard);
    v1::PushRequest over = RowPush({2, 4}, 1.0f, 2);
    over.set_base_version(1);
    absl::Status status = PushPullNow(*shard, over, &response);
    EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted) << status;
    EXPECT_THAT(status.message(), HasSubstr("limit of 3 sparse rows"));
    EXPECT_THAT(status.message(),
                HasSubstr("cluster.max_sparse_rows_per_shard"));
    EXPECT_THAT(status.message(), HasSubstr("key 4"));
    EXPECT_EQ(RejectReason(status), "row_limit");
    ExpectSameState(StateOf(*shard), before, "row limit");
    EXPECT_EQ(shard->sparse_rows(), 3);
    // The rows it holds still train.
    v1::PushRequest existing = RowPush({1, 3}, 1.0f, 3);
    existing.set_base_version(1);
    EXPECT_TRUE(PushPullNow(*shard, existing, &response).ok());
    EXPECT_EQ(shard->version(), 2);
  }
}

TEST(ParameterShardBadInputTest, CreateRefusesARowLimitBelowOne) {
  v1::OptimizerConfig sgd;
  sgd.mutable_sgd()->set_learning_rate(1.0);
  ParameterShardOptions options = Options(sgd);
  options.max_sparse_rows = 0;
  EXPECT_EQ(ParameterShard::Create(std::move(options)).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace descent
