// The checkpoint directory: complete means a manifest whose files all have
// their listed size and CRC-32; the newest complete one is found past
// damaged ones; pruning keeps the newest `keep` complete ones.
#include "server/coordinator/checkpoints.h"

#include <filesystem>
#include <string>

#include "common/storage/atomic_file.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace descent {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

class CheckpointsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // One directory per test: ctest runs the tests as parallel processes.
    root_ = ::testing::TempDir() + "/checkpoints_test_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name();
    fs::remove_all(root_);
    fs::create_directories(root_);
  }

  // A complete checkpoint of `step` with one shard file.
  std::string Write(int64_t step) {
    const std::string dir = root_ + "/" + CheckpointDirName(step);
    fs::create_directories(dir);
    const std::string bytes = "shard bytes of step " + std::to_string(step);
    EXPECT_TRUE(WriteFileAtomically(dir + "/shard-0.safetensors", bytes).ok());
    v1::CheckpointManifest manifest;
    manifest.set_global_step(step);
    v1::ShardCheckpoint* shard = manifest.add_shards();
    shard->mutable_file()->set_name("shard-0.safetensors");
    shard->mutable_file()->set_bytes(static_cast<int64_t>(bytes.size()));
    shard->mutable_file()->set_crc32(Crc32(bytes));
    EXPECT_TRUE(WriteCheckpointManifest(dir, manifest).ok());
    return dir;
  }

  std::string root_;
};

TEST_F(CheckpointsTest, DirectoryNamesSortByStep) {
  EXPECT_EQ(CheckpointDirName(120), "step-000000120");
  EXPECT_LT(CheckpointDirName(99), CheckpointDirName(100));
}

TEST_F(CheckpointsTest, NewestCompleteWinsOverDamagedNewerOnes) {
  Write(10);
  Write(20);
  const std::string truncated = Write(30);
  ASSERT_TRUE(
      WriteFileAtomically(truncated + "/shard-0.safetensors", "short").ok());
  const std::string unfinished = root_ + "/" + CheckpointDirName(40);
  fs::create_directories(unfinished);  // no manifest yet
  absl::StatusOr<FoundCheckpoint> found = FindLatestCheckpoint(root_);
  ASSERT_TRUE(found.ok()) << found.status();
  EXPECT_EQ(found->manifest.global_step(), 20);
  ASSERT_EQ(found->damaged.size(), 2u);
  EXPECT_TRUE(absl::IsDataLoss(found->damaged[0]));
  EXPECT_THAT(found->damaged[0].message(),
              HasSubstr("step-000000040/manifest.json"));
  EXPECT_THAT(found->damaged[1].message(),
              HasSubstr("step-000000030/shard-0.safetensors"));
}

TEST_F(CheckpointsTest, AlteredFileIsDamaged) {
  const std::string dir = Write(5);
  ASSERT_TRUE(WriteFileAtomically(dir + "/shard-0.safetensors",
                                  "shard bytes of step X")
                  .ok());  // same size, other bytes
  absl::Status status = ReadCompleteCheckpoint(dir).status();
  EXPECT_TRUE(absl::IsDataLoss(status)) << status;
  EXPECT_THAT(status.message(), HasSubstr("altered"));
}

TEST_F(CheckpointsTest, NoneCompleteIsDataLossNoneAtAllNotFound) {
  EXPECT_TRUE(absl::IsNotFound(FindLatestCheckpoint(root_).status()));
  const std::string dir = Write(7);
  fs::remove(dir + "/manifest.json");
  absl::Status status = FindLatestCheckpoint(root_).status();
  EXPECT_TRUE(absl::IsDataLoss(status)) << status;
  EXPECT_THAT(status.message(), HasSubstr("no complete checkpoint"));
}

TEST_F(CheckpointsTest, PruneKeepsTheNewestCompleteAndWhatIsBeingWritten) {
  for (int step : {10, 20, 30, 40}) Write(step);
  const std::string old_unfinished = root_ + "/" + CheckpointDirName(15);
  const std::string new_unfinished = root_ + "/" + CheckpointDirName(50);
  fs::create_directories(old_unfinished);
  fs::create_directories(new_unfinished);
  ASSERT_TRUE(PruneCheckpoints(root_, 2).ok());
  EXPECT_TRUE(fs::exists(root_ + "/" + CheckpointDirName(40)));
  EXPECT_TRUE(fs::exists(root_ + "/" + CheckpointDirName(30)));
  EXPECT_TRUE(fs::exists(new_unfinished));
  EXPECT_FALSE(fs::exists(root_ + "/" + CheckpointDirName(20)));
  EXPECT_FALSE(fs::exists(root_ + "/" + CheckpointDirName(10)));
  EXPECT_FALSE(fs::exists(old_unfinished));
}

}  // namespace
}  // namespace descent
