// ClaimOutputDir with JobResultEntries: the model directories count as a
// job's results (refused without --overwrite, removed with it).
#include "common/storage/output_dir.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

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

// What a killed process leaves mid-write (the temporaries of
// WriteFileAtomically and of the chart) is deleted; a user's own files,
// even ones named like ours, stay.
TEST(OutputDirTest, StaleTemporariesAreDeletedAndNothingElse) {
  const std::string dir = FreshDir("stale");
  for (const char* name :
       {"evals.svg.tmp", "summary.json.tmp.4242", "labels.json.tmp.7",
        "evals.csv", "notes.tmp.1", "my-evals.svg.tmp"}) {
    std::ofstream(dir + "/" + name) << "x";
  }
  std::vector<std::string> removed =
      RemoveStaleTemporaries(dir, JobResultEntries());
  std::sort(removed.begin(), removed.end());
  EXPECT_THAT(removed,
              ::testing::ElementsAre("evals.svg.tmp", "labels.json.tmp.7",
                                     "summary.json.tmp.4242"));
  for (const char* kept : {"evals.csv", "notes.tmp.1", "my-evals.svg.tmp"}) {
    EXPECT_TRUE(std::filesystem::exists(dir + "/" + kept)) << kept;
  }
  EXPECT_FALSE(std::filesystem::exists(dir + "/evals.svg.tmp"));
}

}  // namespace
}  // namespace descent
