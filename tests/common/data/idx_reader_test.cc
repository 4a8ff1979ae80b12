#include "common/data/idx_reader.h"

#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/common/data/temp_file.h"

namespace descent {
namespace {

constexpr uint32_t kImageMagic = 0x00000803;
constexpr uint32_t kLabelMagic = 0x00000801;
constexpr int kRows = 4;
constexpr int kCols = 8;
constexpr int kPixels = kRows * kCols;

// Pixel j of image i; over 10 images of 32 pixels it takes every byte value.
unsigned char Pixel(int64_t i, int64_t j) { return (i * kPixels + j) % 256; }
unsigned char Label(int64_t i) { return (i * 3) % 10; }

void AppendBigEndian(uint32_t value, std::string* out) {
  for (int shift = 24; shift >= 0; shift -= 8) {
    out->push_back(static_cast<char>((value >> shift) & 0xff));
  }
}

std::string Header(uint32_t magic, const std::vector<uint32_t>& dims) {
  std::string out;
  AppendBigEndian(magic, &out);
  for (uint32_t dim : dims) AppendBigEndian(dim, &out);
  return out;
}

std::string ImageFile(int n) {
  std::string out =
      Header(kImageMagic, {static_cast<uint32_t>(n), kRows, kCols});
  for (int i = 0; i < n; ++i) {
    for (int j = 0; j < kPixels; ++j) out.push_back(Pixel(i, j));
  }
  return out;
}

std::string LabelFile(int n) {
  std::string out = Header(kLabelMagic, {static_cast<uint32_t>(n)});
  for (int i = 0; i < n; ++i) out.push_back(Label(i));
  return out;
}

std::string Write(bool gzip, const std::string& name,
                  const std::string& bytes) {
  return gzip ? WriteGzipTempFile(name + ".gz", bytes)
              : WriteTempFile(name, bytes);
}

std::string ReadWhole(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Checks that `data` holds exactly records [begin, end) of the test files.
void ExpectRecords(const Dataset& data, int64_t begin, int64_t end) {
  ASSERT_EQ(data.num_examples, end - begin);
  ASSERT_EQ(data.num_features, kPixels);
  ASSERT_EQ(data.features.size(), static_cast<size_t>((end - begin) * kPixels));
  ASSERT_EQ(data.labels.size(), static_cast<size_t>(end - begin));
  for (int64_t i = begin; i < end; ++i) {
    EXPECT_EQ(data.labels[i - begin], Label(i)) << "record " << i;
    for (int j = 0; j < kPixels; ++j) {
      EXPECT_EQ(data.example(i - begin)[j], Pixel(i, j) / 255.0f)
          << "record " << i << " pixel " << j;
    }
  }
}

void ExpectError(const absl::Status& status, absl::StatusCode code,
                 const std::vector<std::string>& fragments) {
  EXPECT_EQ(status.code(), code) << status;
  for (const std::string& fragment : fragments) {
    EXPECT_NE(status.message().find(fragment), absl::string_view::npos)
        << "missing \"" << fragment << "\" in: " << status;
  }
}

TEST(ReadIdx, ReadsPlainAndGzipWithScaledPixels) {
  for (bool gzip : {false, true}) {
    SCOPED_TRACE(gzip ? "gzip" : "plain");
    const std::string images = Write(gzip, "images", ImageFile(10));
    const std::string labels = Write(gzip, "labels", LabelFile(10));
    absl::StatusOr<Dataset> data = ReadIdx(images, labels, 10);
    ASSERT_TRUE(data.ok()) << data.status();
    EXPECT_EQ(data->num_classes, 10);
    ExpectRecords(*data, 0, 10);
    EXPECT_EQ(data->example(0)[0], 0.0f);         // byte 0
    EXPECT_EQ(data->example(7)[31], 1.0f);        // byte 255
    EXPECT_FLOAT_EQ(data->example(1)[19], 0.2f);  // byte 51
  }
}

TEST(ReadIdx, RangeKeepsExactlyThoseRecords) {
  for (bool gzip : {false, true}) {
    SCOPED_TRACE(gzip ? "gzip" : "plain");
    const std::string images = Write(gzip, "images", ImageFile(10));
    const std::string labels = Write(gzip, "labels", LabelFile(10));
    for (IndexRange range : {IndexRange{3, 7}, IndexRange{0, 10},
                             IndexRange{9, 10}, IndexRange{5, 5}}) {
      SCOPED_TRACE(absl::StrCat("[", range.begin, ", ", range.end, ")"));
      absl::StatusOr<Dataset> data = ReadIdx(images, labels, 10, range);
      ASSERT_TRUE(data.ok()) << data.status();
      ExpectRecords(*data, range.begin, range.end);
    }
  }
}

// 3.2 MB of pixels: many reads of whole records, kept bytes that outgrow
// their staging several times, floats in more than one 2 MiB huge page.
TEST(ReadIdx, ManyReadsAndGrowthsKeepEveryRecordExact) {
  constexpr int kImages = 100000;
  const std::string images = Write(true, "many_images", ImageFile(kImages));
  const std::string labels = Write(true, "many_labels", LabelFile(kImages));
  for (IndexRange range : {IndexRange{0, kImages}, IndexRange{12345, 99999}}) {
    SCOPED_TRACE(absl::StrCat("[", range.begin, ", ", range.end, ")"));
    absl::StatusOr<Dataset> data = ReadIdx(images, labels, 10, range);
    ASSERT_TRUE(data.ok()) << data.status();
    ExpectRecords(*data, range.begin, range.end);
  }
}

TEST(ReadIdxImages, ReadsTheImagesOfARangeWithoutLabels) {
  const std::string images = Write(true, "images", ImageFile(10));
  absl::StatusOr<Dataset> data = ReadIdxImages(images, IndexRange{2, 5});
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_EQ(data->num_examples, 3);
  EXPECT_EQ(data->num_classes, 0);
  EXPECT_TRUE(data->labels.empty());
  ASSERT_EQ(data->features.size(), static_cast<size_t>(3 * kPixels));
  EXPECT_EQ(data->example(0)[4], Pixel(2, 4) / 255.0f);
  const std::string labels = Write(false, "labels", LabelFile(10));
  ExpectError(ReadIdxImages(labels).status(),
              absl::StatusCode::kInvalidArgument, {labels});
}

// Records larger than one read (64 KiB) arrive in pieces: a whole file
// reads pixel for pixel, and a short one that declares huge records fails
// as truncated where its bytes end.
TEST(ReadIdxImages, RecordsLargerThanOneReadArriveWhole) {
  constexpr uint32_t kSide = 300;  // 90,000 pixels a record
  std::string bytes = Header(kImageMagic, {2, kSide, kSide});
  for (int64_t j = 0; j < 2 * kSide * kSide; ++j) bytes.push_back(j % 251);
  for (bool gzip : {false, true}) {
    SCOPED_TRACE(gzip ? "gzip" : "plain");
    absl::StatusOr<Dataset> data = ReadIdxImages(Write(gzip, "big", bytes));
    ASSERT_TRUE(data.ok()) << data.status();
    ASSERT_EQ(data->features.size(), size_t{2} * kSide * kSide);
    for (int64_t j = 0; j < 2 * kSide * kSide; j += 997) {
      ASSERT_EQ(data->features[j], (j % 251) / 255.0f) << j;
    }
    const std::string huge = Write(
        gzip, "huge",
        Header(kImageMagic, {3, 4096, 4096}) + std::string(70000, '\x01'));
    ExpectError(ReadIdxImages(huge).status(), absl::StatusCode::kDataLoss,
                {huge, "truncated at image 0 of 3",
                 "70000 bytes into that 16777216-byte record"});
  }
}

TEST(ReadIdxCount, ReturnsDeclaredCountOfImagesAndLabels) {
  for (bool gzip : {false, true}) {
    SCOPED_TRACE(gzip ? "gzip" : "plain");
    absl::StatusOr<int64_t> images =
        ReadIdxCount(Write(gzip, "i", ImageFile(7)));
    ASSERT_TRUE(images.ok()) << images.status();
    EXPECT_EQ(*images, 7);
    absl::StatusOr<int64_t> labels =
        ReadIdxCount(Write(gzip, "l", LabelFile(9)));
    ASSERT_TRUE(labels.ok()) << labels.status();
    EXPECT_EQ(*labels, 9);
  }
  // Only the header is read: missing data is not its concern.
  absl::StatusOr<int64_t> header_only =
      ReadIdxCount(WriteTempFile("h", Header(kImageMagic, {60000, 28, 28})));
  ASSERT_TRUE(header_only.ok()) << header_only.status();
  EXPECT_EQ(*header_only, 60000);
}

TEST(ReadIdxShape, ReturnsDeclaredCountAndRecordSize) {
  for (bool gzip : {false, true}) {
    SCOPED_TRACE(gzip ? "gzip" : "plain");
    absl::StatusOr<IdxShape> images =
        ReadIdxShape(Write(gzip, "i", ImageFile(7)));
    ASSERT_TRUE(images.ok()) << images.status();
    EXPECT_EQ(images->count, 7);
    EXPECT_EQ(images->record_size, kPixels);
    absl::StatusOr<IdxShape> labels =
        ReadIdxShape(Write(gzip, "l", LabelFile(9)));
    ASSERT_TRUE(labels.ok()) << labels.status();
    EXPECT_EQ(labels->count, 9);
    EXPECT_EQ(labels->record_size, 1);
  }
  absl::StatusOr<IdxShape> header_only =
      ReadIdxShape(WriteTempFile("h", Header(kImageMagic, {60000, 28, 28})));
  ASSERT_TRUE(header_only.ok()) << header_only.status();
  EXPECT_EQ(header_only->count, 60000);
  EXPECT_EQ(header_only->record_size, 784);
  const std::string text = WriteTempFile("text", "hello, world\n");
  ExpectError(ReadIdxShape(text).status(), absl::StatusCode::kInvalidArgument,
              {text, "wrong magic"});
}

TEST(ReadIdxCount, ReportsMissingFileAndWrongMagic) {
  const std::string missing = TempPath("absent.gz");
  ExpectError(ReadIdxCount(missing).status(), absl::StatusCode::kNotFound,
              {missing, "cannot open", "No such file or directory"});
  const std::string text = WriteTempFile("text", "hello, world\n");
  ExpectError(ReadIdxCount(text).status(), absl::StatusCode::kInvalidArgument,
              {text, "wrong magic", "0x68656c6c"});
}

TEST(ReadIdx, MissingFileIsNotFound) {
  const std::string images = WriteGzipTempFile("images.gz", ImageFile(10));
  const std::string labels = WriteGzipTempFile("labels.gz", LabelFile(10));
  const std::string missing = TempPath("train-images.gz");
  ExpectError(ReadIdx(missing, labels, 10).status(),
              absl::StatusCode::kNotFound,
              {missing + ": cannot open: No such file or directory"});
  ExpectError(ReadIdx(images, missing, 10).status(),
              absl::StatusCode::kNotFound, {missing, "cannot open"});
}

TEST(ReadIdx, UnreadableFileIsPermissionDenied) {
  if (geteuid() == 0) GTEST_SKIP() << "root reads any file";
  const std::string images = WriteGzipTempFile("images.gz", ImageFile(10));
  const std::string labels = WriteGzipTempFile("labels.gz", LabelFile(10));
  ASSERT_EQ(chmod(images.c_str(), 0), 0);
  ExpectError(ReadIdx(images, labels, 10).status(),
              absl::StatusCode::kPermissionDenied,
              {images, "cannot open", "Permission denied"});
}

TEST(ReadIdx, WrongMagicOnImages) {
  const std::string labels = WriteGzipTempFile("labels.gz", LabelFile(10));
  std::string bytes = ImageFile(10);
  bytes[3] = 0x02;
  const std::string images = WriteGzipTempFile("images.gz", bytes);
  ExpectError(ReadIdx(images, labels, 10).status(),
              absl::StatusCode::kInvalidArgument,
              {images, "wrong magic", "0x00000802", "expected 0x00000803"});
  // Swapped paths: the label file is read as images first.
  ExpectError(ReadIdx(labels, labels, 10).status(),
              absl::StatusCode::kInvalidArgument,
              {labels, "0x00000801", "expected 0x00000803", "swapped"});
}

TEST(ReadIdx, WrongMagicOnLabels) {
  const std::string images = WriteGzipTempFile("images.gz", ImageFile(10));
  std::string bytes = LabelFile(10);
  bytes[0] = 0x12;
  const std::string labels = WriteGzipTempFile("labels.gz", bytes);
  ExpectError(ReadIdx(images, labels, 10).status(),
              absl::StatusCode::kInvalidArgument,
              {labels, "wrong magic", "0x12000801", "expected 0x00000801"});
}

TEST(ReadIdx, ZeroOrAbsurdDimensions) {
  const std::string labels = WriteTempFile("labels", LabelFile(10));
  struct Case {
    std::vector<uint32_t> dims;
    std::string expected;
  };
  for (const Case& c :
       std::vector<Case>{{{10, 0, 8}, "zero dimension (10 x 0 x 8)"},
                         {{0, 4, 8}, "zero dimension (0 x 4 x 8)"},
                         {{0xffffffff, 4, 8}, "absurd record count"},
                         {{10, 100000, 100000}, "absurd image dimensions"}}) {
    const std::string images =
        WriteTempFile("images", Header(kImageMagic, c.dims));
    ExpectError(ReadIdx(images, labels, 10).status(),
                absl::StatusCode::kInvalidArgument, {images, c.expected});
  }
}

TEST(ReadIdx, TruncatedHeaderIsDataLoss) {
  const std::string labels = WriteGzipTempFile("labels.gz", LabelFile(10));
  const std::string full = ImageFile(10);
  for (size_t length : {0, 2, 7, 15}) {
    SCOPED_TRACE(length);
    for (bool gzip : {false, true}) {
      const std::string images = Write(gzip, "images", full.substr(0, length));
      ExpectError(ReadIdx(images, labels, 10).status(),
                  absl::StatusCode::kDataLoss, {images, "truncated header"});
    }
  }
  const std::string images = WriteTempFile("images7", full.substr(0, 7));
  ExpectError(ReadIdx(images, labels, 10).status(), absl::StatusCode::kDataLoss,
              {"file ends after 7 of 16 header bytes"});
  ExpectError(ReadIdxCount(images).status(), absl::StatusCode::kDataLoss,
              {images, "truncated header"});
}

TEST(ReadIdx, TruncatedDataNamesTheRecord) {
  const std::string full_images = ImageFile(10);
  const std::string full_labels = LabelFile(10);
  // Ends 20 bytes into image 6; ends before label 4.
  const std::string cut_images = full_images.substr(0, 16 + 6 * kPixels + 20);
  const std::string cut_labels = full_labels.substr(0, 8 + 4);
  for (bool gzip : {false, true}) {
    SCOPED_TRACE(gzip ? "gzip" : "plain");
    const std::string images = Write(gzip, "images", full_images);
    const std::string labels = Write(gzip, "labels", full_labels);
    const std::string short_images = Write(gzip, "short_images", cut_images);
    const std::string short_labels = Write(gzip, "short_labels", cut_labels);
    ExpectError(ReadIdx(short_images, labels, 10, IndexRange{0, 2}).status(),
                absl::StatusCode::kDataLoss,
                {short_images, "truncated at image 6 of 10",
                 "20 bytes into that 32-byte record"});
    ExpectError(ReadIdx(images, short_labels, 10).status(),
                absl::StatusCode::kDataLoss,
                {short_labels, "truncated at label 4 of 10"});
  }
}

TEST(ReadIdx, CutGzipStreamIsTruncation) {
  const std::string labels = WriteGzipTempFile("labels.gz", LabelFile(10));
  const std::string whole =
      ReadWhole(WriteGzipTempFile("whole.gz", ImageFile(10)));
  const std::string images =
      WriteTempFile("cut.gz", whole.substr(0, whole.size() / 2));
  ExpectError(ReadIdx(images, labels, 10).status(), absl::StatusCode::kDataLoss,
              {images, "truncated at image", "of 10"});
}

TEST(ReadIdx, TrailingDataIsDataLoss) {
  const std::string images = WriteTempFile("images", ImageFile(10) + "x");
  const std::string labels = WriteTempFile("labels", LabelFile(10));
  ExpectError(ReadIdx(images, labels, 10).status(), absl::StatusCode::kDataLoss,
              {images, "unexpected data after the last image"});
}

TEST(ReadIdx, CountMismatchNamesBothFiles) {
  const std::string images = WriteGzipTempFile("images.gz", ImageFile(10));
  const std::string labels = WriteGzipTempFile("labels.gz", LabelFile(9));
  ExpectError(ReadIdx(images, labels, 10).status(),
              absl::StatusCode::kInvalidArgument,
              {images, labels, "image count 10", "label count 9"});
}

TEST(ReadIdx, LabelOutOfRangeNamesFileAndRecord) {
  std::string bytes = LabelFile(10);
  bytes[8 + 5] = 10;
  const std::string images = WriteGzipTempFile("images.gz", ImageFile(10));
  const std::string labels = WriteGzipTempFile("labels.gz", bytes);
  // The whole file is validated, even outside the requested range.
  for (std::optional<IndexRange> range :
       {std::optional<IndexRange>(), std::optional<IndexRange>({0, 3})}) {
    ExpectError(ReadIdx(images, labels, 10, range).status(),
                absl::StatusCode::kInvalidArgument,
                {labels, "label 10 of record 5", "num_classes = 10"});
  }
  ExpectError(
      ReadIdx(images, WriteGzipTempFile("ok.gz", LabelFile(10)), 9).status(),
      absl::StatusCode::kInvalidArgument,
      {"label 9 of record 3", "num_classes = 9"});
  ExpectError(ReadIdx(images, labels, 0).status(),
              absl::StatusCode::kInvalidArgument, {"num_classes", "positive"});
}

TEST(ReadIdx, BadRangeIsInvalidArgument) {
  const std::string images = WriteGzipTempFile("images.gz", ImageFile(10));
  const std::string labels = WriteGzipTempFile("labels.gz", LabelFile(10));
  for (IndexRange range : {IndexRange{7, 3}, IndexRange{-1, 3},
                           IndexRange{3, 11}, IndexRange{11, 11}}) {
    ExpectError(ReadIdx(images, labels, 10, range).status(),
                absl::StatusCode::kInvalidArgument,
                {images,
                 absl::StrCat("invalid example range [", range.begin, ", ",
                              range.end, ")"),
                 "<= 10"});
  }
}

TEST(ReadIdx, CorruptGzipIsDataLossWithZlibMessage) {
  const std::string labels = WriteGzipTempFile("labels.gz", LabelFile(10));
  const std::string good =
      ReadWhole(WriteGzipTempFile("good.gz", ImageFile(10)));
  ASSERT_GT(good.size(), 18u);
  // zlib's gzip header is 10 bytes; 0xff opens a block of reserved type 3.
  std::string bad_block = good;
  bad_block[10] = static_cast<char>(0xff);
  const std::string images = WriteTempFile("bad_block.gz", bad_block);
  ExpectError(ReadIdx(images, labels, 10).status(), absl::StatusCode::kDataLoss,
              {images, "corrupt gzip stream", "invalid block type"});
  // The trailer's CRC-32 is checked once the data has been read.
  std::string bad_crc = good;
  bad_crc[bad_crc.size() - 8] ^= 0x01;
  const std::string images_crc = WriteTempFile("bad_crc.gz", bad_crc);
  ExpectError(ReadIdx(images_crc, labels, 10).status(),
              absl::StatusCode::kDataLoss,
              {images_crc, "corrupt gzip stream", "incorrect data check"});
}

TEST(ReadIdx, ReadsDebianFashionMnistTestSet) {
  const std::string dir = "/usr/share/datasets/fashion-mnist/";
  const std::string images = dir + "t10k-images-idx3-ubyte.gz";
  const std::string labels = dir + "t10k-labels-idx1-ubyte.gz";
  if (access(images.c_str(), R_OK) != 0 || access(labels.c_str(), R_OK) != 0) {
    GTEST_SKIP() << "Fashion-MNIST not installed under " << dir;
  }
  absl::StatusOr<int64_t> count = ReadIdxCount(images);
  ASSERT_TRUE(count.ok()) << count.status();
  EXPECT_EQ(*count, 10000);
  absl::StatusOr<Dataset> data = ReadIdx(images, labels, 10);
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_EQ(data->num_examples, 10000);
  EXPECT_EQ(data->num_features, 784);
  std::vector<int> per_class(10, 0);
  for (int32_t label : data->labels) ++per_class.at(label);
  for (int n : per_class) EXPECT_EQ(n, 1000);  // t10k is balanced
  for (float x : data->features) ASSERT_TRUE(x >= 0.0f && x <= 1.0f) << x;
  absl::StatusOr<Dataset> tail =
      ReadIdx(images, labels, 10, IndexRange{9990, 10000});
  ASSERT_TRUE(tail.ok()) << tail.status();
  EXPECT_EQ(tail->labels,
            std::vector<int32_t>(data->labels.end() - 10, data->labels.end()));
  EXPECT_EQ(tail->features, std::vector<float>(data->features.end() - 7840,
                                               data->features.end()));
}

}  // namespace
}  // namespace descent
