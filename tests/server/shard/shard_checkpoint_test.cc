// Checkpoints of a ParameterShard: Capture at a version, the checkpoint
// file, Restore, and that a restored shard goes on bit for bit as the
// original does, for every optimizer, dense slice and sparse rows alike.
#include "server/shard/shard_checkpoint.h"

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "common/storage/atomic_file.h"
#include "common/wire.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/server/shard/shard_testing.h"

namespace descent {
namespace {

using ::testing::HasSubstr;

constexpr int kWidth = 2;
constexpr int kWorkers = 2;

v1::OptimizerConfig OptimizerNamed(const std::string& name) {
  v1::OptimizerConfig c;
  if (name == "sgd") c.mutable_sgd()->set_learning_rate(0.1);
  if (name == "momentum") c.mutable_momentum()->set_learning_rate(0.1);
  if (name == "adam") c.mutable_adam()->set_learning_rate(0.01);
  if (name == "adagrad") c.mutable_adagrad()->set_learning_rate(0.1);
  if (name == "rmsprop") c.mutable_rmsprop()->set_learning_rate(0.01);
  if (name == "ftrl") c.mutable_ftrl()->set_learning_rate(0.1);
  ApplyOptimizerDefaults(&c);
  return c;
}

std::unique_ptr<ParameterShard> MakeShard(const std::string& optimizer,
                                          v1::Consistency consistency,
                                          int64_t snapshot_every = 0) {
  ParameterShardOptions options;
  options.snapshot_every = snapshot_every;
  options.job_id = "job";
  options.num_workers = kWorkers;
  options.range = {0, 6};
  options.layout.Add({"w", {6}, InitRule::kXavierUniform, 6, 1});
  options.seed = 3;
  options.optimizer = OptimizerNamed(optimizer);
  options.consistency = consistency;
  options.table = SparseTableSpec{kWidth, {0.1f, 0.2f}};
  auto shard = ParameterShard::Create(std::move(options));
  EXPECT_TRUE(shard.ok()) << shard.status();
  return *std::move(shard);
}

// Worker `worker`'s push of step `step` on `base`: a dense gradient and two
// rows whose values depend on both, so that every step differs.
v1::PushRequest StepPush(int worker, int64_t step, int64_t base) {
  v1::PushRequest request;
  auto* header = request.mutable_header();
  header->set_job_id("job");
  header->set_worker_id(worker);
  header->set_step(step);
  header->set_request_id(step * 10 + worker + 1);
  request.set_base_version(base);
  std::vector<float> dense(6);
  for (int i = 0; i < 6; ++i) dense[i] = 0.3f * (i + 1) - 0.1f * step + worker;
  request.mutable_gradient()->set_offset(0);
  EncodeFloats(dense.data(), dense.size(),
               request.mutable_gradient()->mutable_values());
  // Keys new at every step, and key 1 always.
  const std::vector<uint64_t> keys = {1, static_cast<uint64_t>(100 + step)};
  std::vector<float> rows;
  for (uint64_t key : keys) {
    for (int c = 0; c < kWidth; ++c) rows.push_back(0.01f * key - 0.2f * c);
  }
  auto* r = request.mutable_row_gradients();
  for (uint64_t key : keys) r->add_keys(key);
  r->set_width(kWidth);
  EncodeFloats(rows.data(), rows.size(), r->mutable_values());
  return request;
}

// Pushes both workers' steps [from, to) (BSP: one version a step). A
// held push's request and response stay alive until its step completes, as
// ParameterShard::Push requires.
void Train(ParameterShard& shard, int64_t from, int64_t to, bool bsp) {
  for (int64_t step = from; step < to; ++step) {
    std::vector<v1::PushRequest> requests(kWorkers);
    std::vector<v1::PushResponse> responses(kWorkers);
    for (int w = 0; w < kWorkers; ++w) {
      requests[w] = StepPush(w, step, bsp ? step : shard.version());
      shard.Push(requests[w], &responses[w],
                 [](absl::Status s) { EXPECT_TRUE(s.ok()) << s; });
    }
  }
}

// The shard's whole state, as a checkpoint file would hold it.
std::string StateBytes(ParameterShard& shard) {
  std::string bytes;
  shard.Capture(0, [&](absl::StatusOr<ShardState> state) {
    ASSERT_TRUE(state.ok()) << state.status();
    bytes = EncodeShardState(*state);
  });
  return bytes;
}

// Asks `shard`, expected to be past `at_version` without a copy of it,
// for that version: FAILED_PRECONDITION, "past". Returns the version the
// refusal names (*version_now).
int64_t MissedCapture(ParameterShard& shard, int64_t at_version) {
  absl::Status status;
  int64_t now = -1;
  shard.Capture(
      at_version, [&](absl::StatusOr<ShardState> s) { status = s.status(); },
      &now);
  EXPECT_TRUE(absl::IsFailedPrecondition(status)) << status;
  EXPECT_THAT(status.message(), HasSubstr("past"));
  return now;
}

// Asks `shard` for `at_version`, expecting its state at once (version -1
// if none came).
ShardState CaptureNow(ParameterShard& shard, int64_t at_version) {
  std::optional<absl::StatusOr<ShardState>> captured;
  shard.Capture(at_version,
                [&](absl::StatusOr<ShardState> s) { captured = std::move(s); });
  EXPECT_TRUE(captured.has_value()) << "no answer at once";
  if (!captured.has_value()) return ShardState{-1};
  EXPECT_TRUE(captured->ok()) << captured->status();
  return captured->ok() ? **std::move(captured) : ShardState{-1};
}

class ResumeTest : public ::testing::TestWithParam<std::string> {};

TEST_P(ResumeTest, RestoredShardGoesOnBitForBit) {
  for (const v1::Consistency consistency : {v1::BSP, v1::ASP}) {
    const bool bsp = consistency == v1::BSP;
    auto original = MakeShard(GetParam(), consistency);
    Train(*original, 0, 4, bsp);
    std::string saved = StateBytes(*original);
    Train(*original, 4, 8, bsp);

    auto restored = MakeShard(GetParam(), consistency);
    absl::StatusOr<ShardState> state = DecodeShardState(saved, "mem");
    ASSERT_TRUE(state.ok()) << state.status();
    EXPECT_EQ(state->version, bsp ? 4 : 8);
    ASSERT_TRUE(restored->Restore(*std::move(state)).ok());
    Train(*restored, 4, 8, bsp);
    EXPECT_EQ(StateBytes(*restored), StateBytes(*original))
        << GetParam() << (bsp ? " BSP" : " ASP");
    EXPECT_EQ(restored->sparse_rows(), original->sparse_rows());
  }
}

INSTANTIATE_TEST_SUITE_P(Optimizers, ResumeTest,
                         ::testing::Values("sgd", "momentum", "adam", "adagrad",
                                           "rmsprop", "ftrl"));

TEST(ShardCheckpointTest, BspCaptureWaitsForItsStepBoundary) {
  auto shard = MakeShard("adam", v1::BSP);
  Train(*shard, 0, 1, true);
  std::optional<absl::StatusOr<ShardState>> captured;
  shard->Capture(3, [&](absl::StatusOr<ShardState> s) { captured = s; });
  EXPECT_FALSE(captured.has_value());
  Train(*shard, 1, 2, true);
  EXPECT_FALSE(captured.has_value());
  // Worker 0's half of step 2 is not a boundary yet.
  const v1::PushRequest first = StepPush(0, 2, 2), second = StepPush(1, 2, 2);
  v1::PushResponse responses[2];
  shard->Push(first, &responses[0], [](absl::Status) {});
  EXPECT_FALSE(captured.has_value());
  shard->Push(second, &responses[1], [](absl::Status) {});
  ASSERT_TRUE(captured.has_value());
  ASSERT_TRUE(captured->ok()) << captured->status();
  EXPECT_EQ((*captured)->version, 3);
}

TEST(ShardCheckpointTest, BspCapturePastItsVersionIsRefused) {
  auto shard = MakeShard("sgd", v1::BSP);
  Train(*shard, 0, 3, true);
  EXPECT_EQ(MissedCapture(*shard, 2), 3);
}

TEST(ShardCheckpointTest, BspCaptureOfAPassedBoundaryGetsItsCopy) {
  auto reference = MakeShard("adam", v1::BSP);
  Train(*reference, 0, 4, true);
  const std::string at_four = StateBytes(*reference);

  auto shard = MakeShard("adam", v1::BSP, /*snapshot_every=*/2);
  Train(*shard, 0, 5, true);
  const int64_t holding = shard->memory_bytes();
  const ShardState captured = CaptureNow(*shard, 4);
  EXPECT_EQ(captured.version, 4);
  EXPECT_EQ(EncodeShardState(captured), at_four);
  // The copy went with the capture.
  EXPECT_LT(shard->memory_bytes(), holding);
  EXPECT_EQ(MissedCapture(*shard, 4), 5);
}

TEST(ShardCheckpointTest, BspCaptureOfAnOlderBoundaryNamesTheCopyItHolds) {
  auto shard = MakeShard("sgd", v1::BSP, /*snapshot_every=*/2);
  Train(*shard, 0, 5, true);
  // The boundary it holds a copy of, not its version 5.
  EXPECT_EQ(MissedCapture(*shard, 2), 4);
  EXPECT_EQ(CaptureNow(*shard, 4).version, 4);
}

TEST(ShardCheckpointTest, AspCaptureGetsTheBoundaryCopyAndEachWorkersSteps) {
  auto reference = MakeShard("adam", v1::ASP);
  Train(*reference, 0, 2, false);  // 4 pushes: version 4
  const std::string at_four = StateBytes(*reference);

  auto shard = MakeShard("adam", v1::ASP, /*snapshot_every=*/4);
  Train(*shard, 0, 3, false);  // version 6
  const ShardState copy = CaptureNow(*shard, 4);
  EXPECT_EQ(copy.version, 4);
  EXPECT_EQ(EncodeShardState(copy), at_four);
  EXPECT_EQ(copy.worker_steps, (std::vector<int64_t>{2, 2}));
  // The next boundary: when the shard gets there.
  std::optional<absl::StatusOr<ShardState>> captured;
  shard->Capture(8, [&](absl::StatusOr<ShardState> s) { captured = s; });
  EXPECT_FALSE(captured.has_value());
  v1::PushRequest push = StepPush(0, 3, shard->version());
  v1::PushResponse response;
  shard->Push(push, &response, [](absl::Status) {});
  EXPECT_FALSE(captured.has_value());  // version 7
  push = StepPush(1, 3, shard->version());
  shard->Push(push, &response, [](absl::Status) {});
  ASSERT_TRUE(captured.has_value() && captured->ok());
  EXPECT_EQ((*captured)->version, 8);
  EXPECT_EQ((*captured)->worker_steps, (std::vector<int64_t>{4, 4}));
}

TEST(ShardCheckpointTest, WithoutCopiesABoundaryPassedIsMissed) {
  auto shard = MakeShard("sgd", v1::BSP);
  Train(*shard, 0, 5, true);
  EXPECT_EQ(MissedCapture(*shard, 4), 5);
}

TEST(ShardCheckpointTest, PendingCaptureIsAbortedWhenEveryWorkerLeaves) {
  auto shard = MakeShard("sgd", v1::BSP);
  absl::Status status;
  shard->Capture(5, [&](absl::StatusOr<ShardState> s) { status = s.status(); });
  std::vector<v1::PushRequest> last(kWorkers);
  std::vector<v1::PushResponse> responses(kWorkers);
  for (int w = 0; w < kWorkers; ++w) {
    last[w] = StepPush(w, 0, 0);
    last[w].set_last(true);
    shard->Push(last[w], &responses[w], [](absl::Status) {});
  }
  EXPECT_TRUE(absl::IsAborted(status)) << status;
}

TEST(ShardCheckpointTest, LeftWorkersAreRestored) {
  auto shard = MakeShard("sgd", v1::BSP);
  v1::PushRequest last = StepPush(1, 0, 0);
  last.set_last(true);
  v1::PushResponse response;
  shard->Push(last, &response, [](absl::Status) {});
  shard->Push(StepPush(0, 0, 0), &response, [](absl::Status) {});
  auto restored = MakeShard("sgd", v1::BSP);
  absl::StatusOr<ShardState> state = DecodeShardState(StateBytes(*shard), "m");
  ASSERT_TRUE(state.ok());
  EXPECT_EQ(state->left, std::vector<int32_t>{1});
  ASSERT_TRUE(restored->Restore(*std::move(state)).ok());
  // Worker 1 has left: worker 0's push alone completes step 1.
  shard->Push(StepPush(0, 1, 1), &response, [](absl::Status) {});
  restored->Push(StepPush(0, 1, 1), &response, [](absl::Status) {});
  EXPECT_EQ(restored->version(), 2);
  EXPECT_EQ(StateBytes(*restored), StateBytes(*shard));
}

TEST(ShardCheckpointTest, RestoreOfAnotherSliceChangesNothing) {
  auto shard = MakeShard("adam", v1::ASP);
  auto other = MakeShard("adam", v1::ASP);
  Train(*other, 0, 2, false);
  absl::StatusOr<ShardState> state = DecodeShardState(StateBytes(*other), "m");
  ASSERT_TRUE(state.ok());
  state->params.pop_back();
  const std::string before = StateBytes(*shard);
  absl::Status restored = shard->Restore(*state);
  EXPECT_TRUE(absl::IsInvalidArgument(restored)) << restored;
  EXPECT_THAT(restored.message(), HasSubstr("5 parameters"));
  EXPECT_EQ(StateBytes(*shard), before);

  state = DecodeShardState(StateBytes(*other), "m");
  state->optimizer.pop_back();  // Adam without "steps"
  restored = shard->Restore(*state);
  EXPECT_THAT(restored.message(), HasSubstr("optimizer/steps"));
  EXPECT_EQ(StateBytes(*shard), before);
}

TEST(ShardCheckpointTest, OnlyTheCoordinatorMayCheckpoint) {
  auto shard = MakeShard("sgd", v1::ASP);
  v1::CheckpointRequest request;
  request.mutable_header()->set_job_id("job");
  request.mutable_header()->set_worker_id(-1);
  EXPECT_TRUE(shard->ValidateCheckpoint(request).ok());
  request.mutable_header()->set_worker_id(0);
  EXPECT_TRUE(absl::IsPermissionDenied(shard->ValidateCheckpoint(request)));
  request.mutable_header()->set_worker_id(-1);
  request.mutable_header()->set_job_id("other");
  EXPECT_TRUE(absl::IsFailedPrecondition(shard->ValidateCheckpoint(request)));
}

TEST(ShardCheckpointTest, DamagedFilesAreDataLossNamingThem) {
  auto shard = MakeShard("ftrl", v1::ASP);
  Train(*shard, 0, 2, false);
  const std::string dir = ::testing::TempDir() + "/shard_checkpoint_test";
  std::filesystem::create_directories(dir);
  const std::string path = dir + "/shard-0.safetensors";
  absl::StatusOr<FileDigest> digest;
  shard->Capture(0, [&](absl::StatusOr<ShardState> s) {
    digest = WriteShardCheckpoint(path, *s);
  });
  ASSERT_TRUE(digest.ok()) << digest.status();
  EXPECT_TRUE(ReadShardCheckpoint(path, *digest).ok());

  std::string bytes = *ReadWholeFile(path);
  ASSERT_TRUE(
      WriteFileAtomically(path, bytes.substr(0, bytes.size() - 7)).ok());
  absl::Status read = ReadShardCheckpoint(path, *digest).status();
  EXPECT_TRUE(absl::IsDataLoss(read)) << read;
  EXPECT_THAT(read.message(), HasSubstr(path));
  EXPECT_THAT(read.message(), HasSubstr("truncated"));

  bytes[bytes.size() - 3] ^= 0x40;
  ASSERT_TRUE(WriteFileAtomically(path, bytes).ok());
  read = ReadShardCheckpoint(path, *digest).status();
  EXPECT_TRUE(absl::IsDataLoss(read)) << read;
  EXPECT_THAT(read.message(), HasSubstr("altered"));

  std::filesystem::remove(path);
  EXPECT_TRUE(absl::IsNotFound(ReadShardCheckpoint(path, *digest).status()));
  EXPECT_TRUE(absl::IsDataLoss(DecodeShardState("garbage!", "g").status()));
}

}  // namespace
}  // namespace descent
