// Files a data test writes for itself under ::testing::TempDir(). Each path
// is named after the running test (suite, name, then the `name` given), so
// two tests never share a file, and any file left there by an earlier run
// (which may have been made unreadable) is removed first. Call only from
// inside a test.
#ifndef DESCENT_TESTS_COMMON_DATA_TEMP_FILE_H_
#define DESCENT_TESTS_COMMON_DATA_TEMP_FILE_H_

#include <unistd.h>
#include <zlib.h>

#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace descent {

// A path for the running test's file `name`, where no file is.
inline std::string TempPath(const std::string& name) {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  const std::string path =
      absl::StrCat(::testing::TempDir(), "/", info->test_suite_name(), "_",
                   info->name(), "_", name);
  unlink(path.c_str());
  return path;
}

// Writes `bytes` as the running test's file `name`; returns its path.
inline std::string WriteTempFile(const std::string& name,
                                 const std::string& bytes) {
  const std::string path = TempPath(name);
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
  return path;
}

// Writes `bytes` gzip-compressed as the running test's file `name`;
// returns its path.
inline std::string WriteGzipTempFile(const std::string& name,
                                     const std::string& bytes) {
  const std::string path = TempPath(name);
  gzFile file = gzopen(path.c_str(), "wb");
  EXPECT_NE(file, nullptr) << path;
  EXPECT_EQ(gzwrite(file, bytes.data(), static_cast<unsigned>(bytes.size())),
            static_cast<int>(bytes.size()));
  EXPECT_EQ(gzclose(file), Z_OK);
  return path;
}

}  // namespace descent

#endif  // DESCENT_TESTS_COMMON_DATA_TEMP_FILE_H_
