#include "common/storage/atomic_file.h"

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace descent {
namespace {

std::string Read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

TEST(AtomicFileTest, WritesAndReplacesLeavingNoTemporary) {
  const std::string dir = ::testing::TempDir() + "/atomic_file_test";
  std::filesystem::create_directories(dir);
  const std::string path = dir + "/summary.json";
  ASSERT_TRUE(WriteFileAtomically(path, "first").ok());
  EXPECT_EQ(Read(path), "first");
  ASSERT_TRUE(WriteFileAtomically(path, "second, longer").ok());
  EXPECT_EQ(Read(path), "second, longer");
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    (void)entry;
    ++files;
  }
  EXPECT_EQ(files, 1);
}

TEST(AtomicFileTest, FailureNamesPathAndKeepsOldContents) {
  const std::string path = "/nonexistent-dir/file";
  absl::Status status = WriteFileAtomically(path, "x");
  EXPECT_FALSE(status.ok());
  EXPECT_THAT(status.message(), ::testing::HasSubstr("/nonexistent-dir/file"));

  const std::string dir = ::testing::TempDir() + "/atomic_file_test2";
  std::filesystem::create_directories(dir);
  const std::string kept = dir + "/kept";
  ASSERT_TRUE(WriteFileAtomically(kept, "old").ok());
  // A directory where the target is makes the rename fail.
  const std::string blocked = dir + "/blocked";
  std::filesystem::create_directories(blocked + "/child");
  EXPECT_FALSE(WriteFileAtomically(blocked, "new").ok());
  EXPECT_EQ(Read(kept), "old");
  EXPECT_TRUE(std::filesystem::is_directory(blocked));
}

}  // namespace
}  // namespace descent
