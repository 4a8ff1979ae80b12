// The data cache through GzReader, as every data reader meets it, and
// ReadIdx's records through a cached copy.
#include "common/data/data_cache.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/data/gz_file.h"
#include "common/data/idx_reader.h"
#include "gtest/gtest.h"
#include "tests/common/data/temp_file.h"

namespace descent {
namespace {

namespace fs = std::filesystem;

// Bytes that deflate hardly shrinks: random, so the gzip file is above
// kMinCachedBytes.
std::string Incompressible(size_t n, uint32_t seed) {
  std::mt19937 random(seed);
  std::string out(n, '\0');
  for (char& c : out) c = static_cast<char>(random());
  return out;
}

// Reads the whole of `path` through GzReader in pieces of `piece` bytes.
absl::StatusOr<std::string> ReadAll(const std::string& path,
                                    int64_t piece = 1 << 16) {
  absl::StatusOr<GzReader> reader = GzReader::Open(path);
  if (!reader.ok()) return reader.status();
  std::string out;
  std::string buffer(piece, '\0');
  while (true) {
    absl::StatusOr<int64_t> got = reader->Read(buffer.data(), piece);
    if (!got.ok()) return got.status();
    out.append(buffer.data(), *got);
    if (*got < piece) return out;
  }
}

std::string ReadWhole(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

bool Cached(const std::string& path) {
  absl::StatusOr<GzReader> reader = GzReader::Open(path);
  return reader.ok() && reader->known_size().has_value();
}

// Files in `dir` (names only; none if it does not exist).
std::vector<std::string> Listing(const std::string& dir) {
  std::vector<std::string> names;
  if (!fs::exists(dir)) return names;
  for (const auto& entry : fs::directory_iterator(dir)) {
    names.push_back(entry.path().filename());
  }
  return names;
}

class DataCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = TempPath("cache");
    fs::remove_all(dir_);
    setenv("DESCENT_DATA_CACHE", dir_.c_str(), 1);
    content_ = Incompressible(3 << 19, 1);  // 1.5 MiB
    source_ = WriteGzipTempFile("source.gz", content_);
    ASSERT_GE(fs::file_size(source_), static_cast<uintmax_t>(kMinCachedBytes));
  }
  void TearDown() override { unsetenv("DESCENT_DATA_CACHE"); }

  // The one cached copy in the directory.
  std::string CopyPath() {
    std::vector<std::string> names = Listing(dir_);
    EXPECT_EQ(names.size(), 1u);
    return names.empty() ? "" : absl::StrCat(dir_, "/", names[0]);
  }

  std::string dir_;
  std::string content_;
  std::string source_;
};

TEST_F(DataCacheTest, FirstWholeReadKeepsTheContentAndLaterReadsUseIt) {
  EXPECT_FALSE(Cached(source_));
  ASSERT_EQ(*ReadAll(source_), content_);
  ASSERT_TRUE(Cached(source_));
  const std::string copy = CopyPath();
  EXPECT_NE(copy.find("source.gz."), std::string::npos) << copy;
  // The copy is the content behind a header.
  EXPECT_GT(fs::file_size(copy), content_.size());
  for (int64_t piece : {1, 4096, 1 << 20, 4 << 20}) {
    absl::StatusOr<std::string> again = ReadAll(source_, piece);
    ASSERT_TRUE(again.ok()) << again.status();
    EXPECT_EQ(*again, content_) << "pieces of " << piece;
  }
  absl::StatusOr<GzReader> reader = GzReader::Open(source_);
  ASSERT_TRUE(reader.ok());
  EXPECT_EQ(reader->known_size(), static_cast<int64_t>(content_.size()));
  EXPECT_EQ(Listing(dir_).size(), 1u);
}

TEST_F(DataCacheTest, AChangedSourceIsReadAgainNotServedStale) {
  ASSERT_EQ(*ReadAll(source_), content_);
  ASSERT_TRUE(Cached(source_));
  // Same size, other bytes, and a later modification time.
  const std::string changed = Incompressible(content_.size(), 2);
  const std::string other = WriteGzipTempFile("other.gz", changed);
  ASSERT_EQ(rename(other.c_str(), source_.c_str()), 0);
  EXPECT_FALSE(Cached(source_));
  EXPECT_EQ(*ReadAll(source_), changed);
  EXPECT_TRUE(Cached(source_));
  EXPECT_EQ(*ReadAll(source_), changed);
  // Touching the file is a change too.
  struct timespec times[2] = {{0, UTIME_OMIT}, {12345, 0}};
  ASSERT_EQ(utimensat(AT_FDCWD, source_.c_str(), times, 0), 0);
  EXPECT_FALSE(Cached(source_));
}

// Flips the byte `from_end` bytes before the end of `path`, in place.
void FlipByte(const std::string& path, uintmax_t from_end) {
  std::fstream file(path, std::ios::in | std::ios::out | std::ios::binary);
  file.seekg(static_cast<std::streamoff>(fs::file_size(path) - from_end));
  const char old = static_cast<char>(file.get());
  file.seekp(static_cast<std::streamoff>(fs::file_size(path) - from_end));
  file.put(static_cast<char>(old ^ 0x5a));
}

TEST_F(DataCacheTest, ACorruptCopyIsRemovedAndTheSourceRead) {
  ASSERT_EQ(*ReadAll(source_), content_);
  const std::string copy = CopyPath();
  FlipByte(copy, 1000);
  EXPECT_FALSE(Cached(source_));
  EXPECT_FALSE(fs::exists(copy));
  // The read inflates the source, and keeps a good copy again.
  EXPECT_EQ(*ReadAll(source_), content_);
  EXPECT_TRUE(Cached(source_));
  EXPECT_EQ(*ReadAll(source_), content_);
}

TEST_F(DataCacheTest, ACopyCutWhileReadFailsTheReadAndIsRemoved) {
  ASSERT_EQ(*ReadAll(source_), content_);
  const std::string copy = CopyPath();
  absl::StatusOr<GzReader> reader = GzReader::Open(source_);
  ASSERT_TRUE(reader.ok());
  ASSERT_TRUE(reader->known_size().has_value());
  fs::resize_file(copy, fs::file_size(copy) - 1000);
  std::string buffer(content_.size() + 1, '\0');
  absl::StatusOr<int64_t> got = reader->Read(buffer.data(), buffer.size());
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(got.status().message().find(copy), absl::string_view::npos)
      << got.status();
  EXPECT_NE(got.status().message().find("changed while it was read"),
            absl::string_view::npos);
  EXPECT_FALSE(fs::exists(copy));
  EXPECT_EQ(*ReadAll(source_), content_);
}

TEST_F(DataCacheTest, ATruncatedCopyIsNotUsed) {
  ASSERT_EQ(*ReadAll(source_), content_);
  const std::string copy = CopyPath();
  fs::resize_file(copy, fs::file_size(copy) - 1);
  EXPECT_FALSE(Cached(source_));
  EXPECT_EQ(*ReadAll(source_), content_);
  EXPECT_TRUE(Cached(source_));
}

TEST_F(DataCacheTest, AReadThatStopsEarlyLeavesNothing) {
  {
    absl::StatusOr<GzReader> reader = GzReader::Open(source_);
    ASSERT_TRUE(reader.ok());
    std::string half(content_.size() / 2, '\0');
    ASSERT_EQ(*reader->Read(half.data(), half.size()),
              static_cast<int64_t>(half.size()));
    // A temporary copy is being written...
    EXPECT_EQ(Listing(dir_).size(), 1u);
  }
  // ...and is gone with the reader.
  EXPECT_TRUE(Listing(dir_).empty());
  EXPECT_FALSE(Cached(source_));
}

TEST_F(DataCacheTest, ACutGzipStreamIsNotCached) {
  const std::string whole = ReadWhole(source_);
  const std::string cut =
      WriteTempFile("cut.gz", whole.substr(0, whole.size() - 100));
  ASSERT_GE(fs::file_size(cut), static_cast<uintmax_t>(kMinCachedBytes));
  absl::StatusOr<GzReader> reader = GzReader::Open(cut);
  ASSERT_TRUE(reader.ok());
  std::string buffer(content_.size(), '\0');
  absl::StatusOr<int64_t> got = reader->Read(buffer.data(), buffer.size());
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_LT(*got, static_cast<int64_t>(content_.size()));
  EXPECT_TRUE(reader->truncated());
  EXPECT_TRUE(Listing(dir_).empty());
}

TEST_F(DataCacheTest, SmallAndUncompressedFilesAreNotCached) {
  const std::string small = WriteGzipTempFile("small.gz", "abc");
  EXPECT_EQ(*ReadAll(small), "abc");
  const std::string plain = WriteTempFile("plain", content_);
  EXPECT_EQ(*ReadAll(plain), content_);
  EXPECT_TRUE(Listing(dir_).empty());
}

TEST_F(DataCacheTest, OffOrUnusableMeansReadingTheSource) {
  for (const char* value : {"off", "", "/proc/no/such/dir"}) {
    SCOPED_TRACE(value);
    setenv("DESCENT_DATA_CACHE", value, 1);
    EXPECT_EQ(*ReadAll(source_), content_);
    EXPECT_FALSE(Cached(source_));
  }
  EXPECT_TRUE(Listing(dir_).empty());
}

TEST_F(DataCacheTest, TemporaryFilesOfDeadWritersAreRemoved) {
  const pid_t child = fork();
  if (child == 0) _exit(0);
  ASSERT_GT(child, 0);
  ASSERT_EQ(waitpid(child, nullptr, 0), child);
  // A copy left half-written by the dead child, and one by this process.
  ASSERT_EQ(*ReadAll(source_), content_);
  const std::string copy = CopyPath();
  ASSERT_TRUE(fs::remove(copy));
  const std::string dead = absl::StrCat(copy, ".tmp.", child, ".0123");
  const std::string alive = absl::StrCat(copy, ".tmp.", getpid(), ".4567");
  std::ofstream(dead) << "partial";
  std::ofstream(alive) << "partial";
  EXPECT_EQ(*ReadAll(source_), content_);
  EXPECT_FALSE(fs::exists(dead));
  EXPECT_TRUE(fs::exists(alive));
  EXPECT_TRUE(fs::exists(copy));
}

// 10,000 images of 784 bytes, far above kMinCachedBytes when compressed.
std::string BigImageFile(int n, uint32_t seed) {
  std::string out;
  for (uint32_t value : {0x00000803u, static_cast<uint32_t>(n), 28u, 28u}) {
    for (int shift = 24; shift >= 0; shift -= 8) {
      out.push_back(static_cast<char>((value >> shift) & 0xff));
    }
  }
  out += Incompressible(static_cast<size_t>(n) * 784, seed);
  return out;
}

TEST_F(DataCacheTest, IdxImagesReadTheSameThroughTheCache) {
  const std::string images =
      WriteGzipTempFile("images.gz", BigImageFile(2000, 3));
  absl::StatusOr<Dataset> first = ReadIdxImages(images);
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_TRUE(Cached(images));
  for (std::optional<IndexRange> range :
       {std::optional<IndexRange>(), std::optional<IndexRange>({100, 1700})}) {
    absl::StatusOr<Dataset> again = ReadIdxImages(images, range);
    ASSERT_TRUE(again.ok()) << again.status();
    const int64_t begin = range ? range->begin : 0;
    const int64_t end = range ? range->end : 2000;
    ASSERT_EQ(again->num_examples, end - begin);
    EXPECT_EQ(again->features,
              std::vector<float>(first->features.begin() + begin * 784,
                                 first->features.begin() + end * 784));
  }
  // Against the bytes themselves.
  const std::string bytes = BigImageFile(2000, 3);
  for (int64_t i : {int64_t{0}, int64_t{784 * 1999 + 783}}) {
    EXPECT_EQ(first->features[i],
              static_cast<unsigned char>(bytes[16 + i]) / 255.0f);
  }
}

}  // namespace
}  // namespace descent
