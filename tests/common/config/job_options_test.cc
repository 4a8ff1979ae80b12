#include "common/config/job_options.h"

#include <limits>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "common/config/config.h"
#include "gtest/gtest.h"

namespace descent {
namespace {

constexpr char kJob[] = R"pb(
  cluster { num_servers: 3 num_workers: 4 rpc_deadline_seconds: 2.5 }
  model { softmax_regression {} }
  data {
    idx {
      train_images: "a"
      train_labels: "b"
      test_images: "c"
      test_labels: "d"
    }
  }
  train { epochs: 7 batch_size: 16 seed: 9 threads: 2 max_loss_factor: 50 }
  optimizer {
    adam {}
    clip_value: 0.5
    clip_norm: 4
  }
)pb";

// kJob as LoadJobConfig returns it, after `overrides`.
v1::JobConfig Job(const std::vector<std::string>& overrides = {}) {
  absl::StatusOr<v1::JobConfig> config =
      ParseJobConfig(kJob, "job.textproto", overrides);
  EXPECT_TRUE(config.ok()) << config.status();
  return config.value_or(v1::JobConfig());
}

TEST(ResolveTrain, CopiesTheConfigsTrainingFields) {
  const ResolvedTrain train = ResolveTrain(Job(), /*shard_examples=*/1000);
  EXPECT_EQ(train.epochs, 7);
  EXPECT_EQ(train.batch_size, 16);
  EXPECT_EQ(train.seed, 9u);
  EXPECT_TRUE(train.overlap);  // ASP's default
  EXPECT_FLOAT_EQ(train.clip_value, 0.5f);
  EXPECT_FLOAT_EQ(train.clip_norm, 4.0f);
  EXPECT_DOUBLE_EQ(train.max_loss_factor, 50);
  EXPECT_EQ(train.threads, 2);
}

TEST(ResolveTrain, CopiesTheCommunicationFields) {
  const ResolvedTrain plain = ResolveTrain(Job(), 1000);
  EXPECT_EQ(plain.encoding, v1::FLOAT32);
  EXPECT_EQ(plain.top_k_fraction, 0);
  EXPECT_EQ(plain.push_every, 1);
  const ResolvedTrain compressed =
      ResolveTrain(Job({"train.communication.encoding=FLOAT16",
                        "train.communication.top_k_fraction=0.05",
                        "train.communication.push_every=3",
                        "train.communication.local_learning_rate=0.25"}),
                   1000);
  EXPECT_EQ(compressed.encoding, v1::FLOAT16);
  EXPECT_DOUBLE_EQ(compressed.top_k_fraction, 0.05);
  EXPECT_EQ(compressed.push_every, 3);
  EXPECT_FLOAT_EQ(compressed.local_learning_rate, 0.25f);
  EXPECT_FALSE(compressed.overlap);
}

TEST(ResolveTrain, BatchSizeZeroIsTheWholeShard) {
  const v1::JobConfig whole = Job({"train.batch_size=0"});
  struct Case {
    int64_t shard_examples;
    int batch_size;
  };
  for (const Case& c : std::vector<Case>{
           {1, 1},
           {250, 250},
           {int64_t{1} << 40, std::numeric_limits<int>::max()},  // capped
           {0, 1},  // never a zero-sized model
       }) {
    EXPECT_EQ(ResolveTrain(whole, c.shard_examples).batch_size, c.batch_size)
        << c.shard_examples;
  }
  // A set batch size stays what it is, even above the shard's size.
  EXPECT_EQ(ResolveTrain(Job(), 10).batch_size, 16);
}

TEST(ResolveTrain, OverlapFollowsTheConsistencyModel) {
  EXPECT_TRUE(ResolveTrain(Job(), 10).overlap);
  EXPECT_FALSE(
      ResolveTrain(Job({"train.overlap_communication=false"}), 10).overlap);
  for (const char* consistency : {"BSP", "SSP"}) {
    EXPECT_FALSE(
        ResolveTrain(Job({std::string("train.consistency=") + consistency}), 10)
            .overlap)
        << consistency;
  }
}

TEST(ResolvePeer, TakesTheClustersTimeoutsWithTheirDefaults) {
  const ResolvedPeer peer = ResolvePeer(Job({"job_id=run-1"}));
  EXPECT_EQ(peer.job_id, "run-1");
  EXPECT_EQ(peer.heartbeat_timeout, absl::Seconds(10));
  EXPECT_EQ(peer.registration_timeout, absl::Seconds(60));
  EXPECT_EQ(peer.rpc_deadline, absl::Milliseconds(2500));
  EXPECT_TRUE(peer.shared_memory);
  EXPECT_FALSE(ResolvePeer(Job({"job_id=run-1", "cluster.shared_memory=false"}))
                   .shared_memory);
}

TEST(ResolveShard, CopiesTheShardsFields) {
  const ResolvedShard shard =
      ResolveShard(Job({"job_id=run-2", "train.consistency=BSP",
                        "train.overlap_communication=false",
                        "train.backup_workers=1", "train.staleness=5"}));
  EXPECT_EQ(shard.job_id, "run-2");
  EXPECT_EQ(shard.num_workers, 4);
  EXPECT_EQ(shard.num_shards, 3);
  EXPECT_EQ(shard.seed, 9u);
  EXPECT_EQ(shard.consistency, v1::BSP);
  EXPECT_EQ(shard.staleness, 5);
  EXPECT_EQ(shard.backup_workers, 1);
  // The optimizer with its defaults filled in.
  EXPECT_DOUBLE_EQ(shard.optimizer.adam().learning_rate(), 0.001);
  EXPECT_DOUBLE_EQ(shard.optimizer.adam().beta2(), 0.999);
}

TEST(ResolveEval, HasItsOwnBatchWhateverTheTrainingBatch) {
  for (const char* batch :
       {"train.batch_size=0", "train.batch_size=1", "train.batch_size=4096"}) {
    const ResolvedEval eval = ResolveEval(Job({batch}));
    EXPECT_EQ(eval.max_batch, 256) << batch;
    EXPECT_EQ(eval.threads, 2) << batch;
  }
}

TEST(EarlyStoppingOn, TakesAPatience) {
  EXPECT_FALSE(EarlyStoppingOn(Job().train()));
  EXPECT_TRUE(
      EarlyStoppingOn(Job({"train.early_stopping.patience=2"}).train()));
}

TEST(AssignJobId, GeneratesOneOnlyWhenThereIsNone) {
  v1::JobConfig config = Job();
  AssignJobId(&config);
  EXPECT_TRUE(absl::StartsWith(config.job_id(), "job-")) << config.job_id();
  const std::string generated = config.job_id();
  AssignJobId(&config);
  EXPECT_EQ(config.job_id(), generated);
}

TEST(OutputDirOf, DefaultsToRunsJobId) {
  const v1::JobConfig config = Job({"job_id=run-3"});
  EXPECT_EQ(OutputDirOf("", config), "runs/run-3");
  EXPECT_EQ(OutputDirOf("/tmp/out", config), "/tmp/out");
}

}  // namespace
}  // namespace descent
