#include "common/data/idx_reader.h"

#include <sys/mman.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <limits>
#include <memory>
#include <utility>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/types/span.h"
#include "common/data/gz_file.h"
#include "common/status_macros.h"

namespace descent {
namespace {

constexpr uint32_t kImageMagic = 0x00000803;
constexpr uint32_t kLabelMagic = 0x00000801;
// Limits beyond which a header is taken to be corrupt rather than real.
constexpr uint64_t kMaxExamples = std::numeric_limits<int32_t>::max();
constexpr uint64_t kMaxPixelsPerImage = uint64_t{1} << 24;
// Bytes decompressed per gzread call while streaming records.
constexpr int64_t kChunkBytes = 1 << 16;

// What an IDX header declares: N records of record_size bytes each.
struct IdxHeader {
  uint32_t magic = 0;
  int64_t count = 0;
  int64_t record_size = 0;
};

struct IdxFile {
  GzReader reader;
  IdxHeader header;
};

uint32_t BigEndian32(const unsigned char* bytes) {
  return (uint32_t{bytes[0]} << 24) | (uint32_t{bytes[1]} << 16) |
         (uint32_t{bytes[2]} << 8) | uint32_t{bytes[3]};
}

const char* Describe(uint32_t magic) {
  return magic == kImageMagic ? "an IDX image file" : "an IDX label file";
}

const char* RecordNoun(uint32_t magic) {
  return magic == kImageMagic ? "image" : "label";
}

absl::StatusOr<uint32_t> ReadMagic(GzReader& reader) {
  unsigned char bytes[4];
  ASSIGN_OR_RETURN(const int64_t got, reader.Read(bytes, sizeof(bytes)));
  if (got < 4) {
    return absl::DataLossError(absl::StrFormat(
        "%s: truncated header: file ends after %d bytes, before the 4-byte "
        "magic number is complete",
        reader.path(), got));
  }
  return BigEndian32(bytes);
}

absl::Status CheckMagic(const std::string& path, uint32_t found,
                        uint32_t expected) {
  if (found == expected) return absl::OkStatus();
  std::string hint;
  if (found == kImageMagic || found == kLabelMagic) {
    hint = absl::StrCat(" (this looks like ", Describe(found),
                        "; are the image and label paths swapped?)");
  }
  return absl::InvalidArgumentError(
      absl::StrFormat("%s: wrong magic number 0x%08x, expected 0x%08x for %s%s",
                      path, found, expected, Describe(expected), hint));
}

// Bytes per record: the product of all dimensions but the first. Two
// 32-bit dimensions cannot overflow 64 bits, and IDX files here have at most
// three.
uint64_t RecordSize(const std::vector<uint32_t>& dims) {
  uint64_t size = 1;
  for (size_t i = 1; i < dims.size(); ++i) size *= dims[i];
  return size;
}

absl::Status CheckDims(const std::string& path,
                       const std::vector<uint32_t>& dims) {
  const std::string shown = absl::StrJoin(dims, " x ");
  if (std::find(dims.begin(), dims.end(), 0u) != dims.end()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": header declares a zero dimension (", shown, ")"));
  }
  if (dims[0] > kMaxExamples) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": header declares an absurd record count (", shown,
                     "); at most ", kMaxExamples, " are supported"));
  }
  if (RecordSize(dims) > kMaxPixelsPerImage) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": header declares absurd image dimensions (", shown,
        "); at most ", kMaxPixelsPerImage, " pixels per image are supported"));
  }
  return absl::OkStatus();
}

// Reads the dimensions that follow `magic` (as many as its low byte says).
absl::StatusOr<IdxHeader> ReadDims(GzReader& reader, uint32_t magic) {
  const size_t num_dims = magic & 0xff;
  std::vector<unsigned char> bytes(4 * num_dims);
  ASSIGN_OR_RETURN(const int64_t got, reader.Read(bytes.data(), bytes.size()));
  if (got < static_cast<int64_t>(bytes.size())) {
    return absl::DataLossError(absl::StrFormat(
        "%s: truncated header: file ends after %d of %d header bytes",
        reader.path(), 4 + got, 4 + bytes.size()));
  }
  std::vector<uint32_t> dims;
  for (size_t i = 0; i < num_dims; ++i)
    dims.push_back(BigEndian32(&bytes[4 * i]));
  RETURN_IF_ERROR(CheckDims(reader.path(), dims));
  return IdxHeader{magic, dims[0], static_cast<int64_t>(RecordSize(dims))};
}

// Opens `path` and reads its header, which must carry `expected_magic`.
absl::StatusOr<IdxFile> OpenIdx(const std::string& path,
                                uint32_t expected_magic) {
  ASSIGN_OR_RETURN(GzReader reader, GzReader::Open(path));
  ASSIGN_OR_RETURN(const uint32_t magic, ReadMagic(reader));
  RETURN_IF_ERROR(CheckMagic(path, magic, expected_magic));
  ASSIGN_OR_RETURN(IdxHeader header, ReadDims(reader, magic));
  return IdxFile{std::move(reader), std::move(header)};
}

// Fails unless the data ends exactly where the header says it does. The
// extra read also makes zlib verify the gzip trailer's checksum.
absl::Status ExpectEnd(IdxFile& file) {
  unsigned char byte;
  ASSIGN_OR_RETURN(const int64_t got, file.reader.Read(&byte, 1));
  if (got == 0) return absl::OkStatus();
  return absl::DataLossError(absl::StrFormat(
      "%s: unexpected data after the last %s (header declares %d records of "
      "%d bytes)",
      file.reader.path(), RecordNoun(file.header.magic), file.header.count,
      file.header.record_size));
}

using RecordVisitor =
    absl::FunctionRef<absl::Status(int64_t index, const unsigned char* record)>;

// Streams every record of `file`, in order, through `visit`, then checks
// that nothing follows them. Reads up to kChunkBytes of whole records at a
// time (one record where a record is larger), into a buffer that grows
// only as the file's bytes arrive: a header that declares huge records
// fails as truncated before it can make us allocate for them.
absl::Status ReadRecords(IdxFile& file, RecordVisitor visit) {
  const int64_t count = file.header.count;
  const int64_t size = file.header.record_size;
  const int64_t chunk = std::max<int64_t>(1, kChunkBytes / size);
  std::vector<unsigned char> buffer;
  for (int64_t first = 0; first < count; first += chunk) {
    const int64_t want = std::min(chunk, count - first) * size;
    int64_t got = 0;
    while (got < want) {
      const int64_t piece = std::min(want - got, kChunkBytes);
      if (static_cast<int64_t>(buffer.size()) < got + piece) {
        buffer.resize(got + piece);
      }
      ASSIGN_OR_RETURN(const int64_t read,
                       file.reader.Read(buffer.data() + got, piece));
      got += read;
      if (read < piece) break;
    }
    for (int64_t i = 0; i < got / size; ++i) {
      RETURN_IF_ERROR(visit(first + i, &buffer[i * size]));
    }
    if (got < want) {
      return absl::DataLossError(absl::StrFormat(
          "%s: truncated at %s %d of %d (file ends %d bytes into that "
          "%d-byte record)",
          file.reader.path(), RecordNoun(file.header.magic), first + got / size,
          count, got % size, size));
    }
  }
  return ExpectEnd(file);
}

// Makes room for n elements in *v, growing its capacity geometrically, and
// asks the kernel to back new storage with transparent huge pages (Debian's
// kernels grant them on madvise). Filling a 188 MB training set 4 KiB page
// by page cost more than decompressing it; in 2 MiB pages the faults are
// few. The advice is only advice: if the kernel refuses, nothing changes.
template <typename T>
void ReserveInHugePages(size_t n, std::vector<T>* v) {
  if (v->capacity() >= n) return;
  v->reserve(std::max(n, 2 * v->capacity()));
  constexpr uintptr_t kHugePage = uintptr_t{2} << 20;
  const uintptr_t start = reinterpret_cast<uintptr_t>(v->data());
  const uintptr_t begin = (start + kHugePage - 1) & ~(kHugePage - 1);
  const uintptr_t end = (start + v->capacity() * sizeof(T)) & ~(kHugePage - 1);
  if (end > begin) {
    madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);
  }
}

absl::Status CheckCounts(const IdxFile& images, const IdxFile& labels) {
  if (images.header.count == labels.header.count) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrFormat(
      "image count %d in %s does not match label count %d in %s",
      images.header.count, images.reader.path(), labels.header.count,
      labels.reader.path()));
}

absl::StatusOr<IndexRange> ResolveRange(std::optional<IndexRange> range,
                                        const IdxFile& images) {
  const int64_t n = images.header.count;
  if (!range.has_value()) return IndexRange{0, n};
  if (0 <= range->begin && range->begin <= range->end && range->end <= n) {
    return *range;
  }
  return absl::InvalidArgumentError(absl::StrFormat(
      "%s: invalid example range [%d, %d): need 0 <= begin <= end <= %d",
      images.reader.path(), range->begin, range->end, n));
}

// Validates every label; appends those in `keep` to `labels`.
absl::Status ReadLabels(IdxFile& file, IndexRange keep, int32_t num_classes,
                        std::vector<int32_t>* labels) {
  return ReadRecords(file, [&](int64_t index, const unsigned char* record) {
    if (*record >= num_classes) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s: label %d of record %d is out of range: must be < num_classes "
          "= %d",
          file.reader.path(), *record, index, num_classes));
    }
    if (index >= keep.begin && index < keep.end) labels->push_back(*record);
    return absl::OkStatus();
  });
}

// Appends the images in `keep`, scaled to [0, 1], to `features`. Where the
// reader knows how many bytes the file holds (a cached or uncompressed
// copy) and they cover what the header declares, the floats are allocated
// once up front and each record converted as it arrives. Otherwise the
// kept bytes are staged as they arrive (so a header that lies about N fails
// as truncated before it can make us allocate for it), then converted in
// one pass into float storage allocated once: growing the floats record by
// record copied and page-faulted about twice their final size.
absl::Status ReadImages(IdxFile& file, IndexRange keep,
                        std::vector<float>* features) {
  const int64_t size = file.header.record_size;
  const size_t offset = features->size();
  const std::optional<int64_t> known = file.reader.known_size();
  if (known.has_value() && *known >= file.header.count * size) {
    ReserveInHugePages(offset + keep.size() * size, features);
    return ReadRecords(file, [&](int64_t index, const unsigned char* record) {
      if (index >= keep.begin && index < keep.end) {
        features->insert(features->end(), record, record + size);
        float* const end = features->data() + features->size();
        for (float* x = end - size; x != end; ++x) *x /= 255.0f;
      }
      return absl::OkStatus();
    });
  }
  std::vector<unsigned char> kept;
  RETURN_IF_ERROR(
      ReadRecords(file, [&](int64_t index, const unsigned char* record) {
        if (index >= keep.begin && index < keep.end) {
          ReserveInHugePages(kept.size() + size, &kept);
          kept.insert(kept.end(), record, record + size);
        }
        return absl::OkStatus();
      }));
  ReserveInHugePages(offset + kept.size(), features);
  // Constructs each float from its byte: no zero fill before the writes.
  features->insert(features->end(), kept.begin(), kept.end());
  for (float& x : absl::MakeSpan(*features).subspan(offset)) x /= 255.0f;
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<Dataset> ReadIdx(const std::string& images_path,
                                const std::string& labels_path,
                                int32_t num_classes,
                                std::optional<IndexRange> range) {
  if (num_classes <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("num_classes must be positive, got ", num_classes, " for ",
                     labels_path));
  }
  ASSIGN_OR_RETURN(IdxFile images, OpenIdx(images_path, kImageMagic));
  ASSIGN_OR_RETURN(IdxFile labels, OpenIdx(labels_path, kLabelMagic));
  RETURN_IF_ERROR(CheckCounts(images, labels));
  ASSIGN_OR_RETURN(const IndexRange keep, ResolveRange(range, images));
  Dataset data;
  data.num_examples = keep.size();
  data.num_features = images.header.record_size;
  data.num_classes = num_classes;
  RETURN_IF_ERROR(ReadLabels(labels, keep, num_classes, &data.labels));
  RETURN_IF_ERROR(ReadImages(images, keep, &data.features));
  return data;
}

absl::StatusOr<Dataset> ReadIdxImages(const std::string& images_path,
                                      std::optional<IndexRange> range) {
  ASSIGN_OR_RETURN(IdxFile images, OpenIdx(images_path, kImageMagic));
  ASSIGN_OR_RETURN(const IndexRange keep, ResolveRange(range, images));
  Dataset data;
  data.num_examples = keep.size();
  data.num_features = images.header.record_size;
  RETURN_IF_ERROR(ReadImages(images, keep, &data.features));
  return data;
}

absl::StatusOr<IdxShape> ReadIdxShape(const std::string& path) {
  ASSIGN_OR_RETURN(GzReader reader, GzReader::Open(path));
  ASSIGN_OR_RETURN(const uint32_t magic, ReadMagic(reader));
  if (magic != kImageMagic && magic != kLabelMagic) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: wrong magic number 0x%08x, expected 0x%08x (images) or 0x%08x "
        "(labels)",
        path, magic, kImageMagic, kLabelMagic));
  }
  ASSIGN_OR_RETURN(const IdxHeader header, ReadDims(reader, magic));
  return IdxShape{header.count, header.record_size};
}

absl::StatusOr<int64_t> ReadIdxCount(const std::string& path) {
  ASSIGN_OR_RETURN(const IdxShape shape, ReadIdxShape(path));
  return shape.count;
}

}  // namespace descent
