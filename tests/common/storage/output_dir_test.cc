// ClaimOutputDir with JobResultEntries: the model directories count as a
// job's results (refused without --overwrite, removed with it).
#include "common/storage/output_dir.h"

#include <filesystem>
#include <fstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace descent {
namespace {

using ::testing::HasSubstr;

std::string FreshDir(const std::string& name) {
  const std::string dir = ::testing::TempDir() + "/output_dir_test/" + name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

TEST(OutputDirTest, ModelDirectoriesAreAnotherJobsResults) {
  for (const char* entry : {"model", "best_model"}) {
    const std::string dir = FreshDir(entry);
    std::filesystem::create_directories(dir + "/" + entry);
    std::ofstream(dir + "/" + entry + "/manifest.json") << "{}";
    const absl::Status refused =
        ClaimOutputDir(dir, JobResultEntries(), /*overwrite=*/false);
    EXPECT_EQ(refused.code(), absl::StatusCode::kFailedPrecondition) << entry;
    EXPECT_THAT(refused.message(), HasSubstr(entry));
    ASSERT_TRUE(
        ClaimOutputDir(dir, JobResultEntries(), /*overwrite=*/true).ok());
    EXPECT_FALSE(std::filesystem::exists(dir + "/" + entry)) << entry;
  }
}

}  // namespace
}  // namespace descent
