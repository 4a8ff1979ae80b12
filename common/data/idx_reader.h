// Reading MNIST-style IDX files (http://yann.lecun.com/exdb/mnist/): an
// image file (magic 0x00000803: unsigned bytes, dimensions N x rows x cols)
// and its label file (magic 0x00000801: N unsigned bytes), each either
// gzip-compressed or plain. Header fields are big-endian 32-bit integers.
//
// Both files are streamed from start to end and validated whole, whatever
// range is asked for, so every worker reading its own shard of the same
// files sees the same errors; only the requested examples are kept in
// memory. Functions here are thread-compatible: they share no state.
//
// Every error message names the offending file(s), usually first, and states
// the problem, with the 0-based record index where one applies:
//   errno's canonical code (NOT_FOUND, PERMISSION_DENIED, ...)  the file
//                     cannot be opened or read ("x.gz: cannot open: No such
//                     file or directory")
//   INVALID_ARGUMENT  wrong magic number, a zero or absurd header dimension,
//                     image and label counts that differ, a label not below
//                     num_classes, a bad range or num_classes
//   DATA_LOSS         the file ends before the header or the data it
//                     promises ("truncated at image 1234 of 60000"), holds
//                     bytes past them, or its gzip stream is corrupt (with
//                     zlib's message)
#ifndef DESCENT_COMMON_DATA_IDX_READER_H_
#define DESCENT_COMMON_DATA_IDX_READER_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "common/data/dataset.h"

namespace descent {

// Reads examples [range->begin, range->end) of the IDX pair (all examples
// if range is nullopt) into a Dataset with num_features = rows * cols,
// pixels scaled to [0, 1] as x / 255, and the given num_classes, which must
// be positive and exceed every label in the file. The range must satisfy
// 0 <= begin <= end <= N; an empty range yields an empty Dataset (after the
// files are validated). On error nothing is returned.
absl::StatusOr<Dataset> ReadIdx(const std::string& images_path,
                                const std::string& labels_path,
                                int32_t num_classes,
                                std::optional<IndexRange> range = std::nullopt);

// The images alone, for examples without labels (descent predict): as
// ReadIdx, with num_classes 0 and no labels.
absl::StatusOr<Dataset> ReadIdxImages(
    const std::string& images_path,
    std::optional<IndexRange> range = std::nullopt);

// Returns N, the number of examples (images or labels) an IDX image or
// label file declares in its header. Reads and validates only the header;
// the data may still turn out truncated when ReadIdx reads it.
absl::StatusOr<int64_t> ReadIdxCount(const std::string& path);

// What an IDX file's header declares: `count` records of `record_size`
// bytes (rows * cols for an image file, 1 for a label file). Reads and
// validates only the header, as ReadIdxCount does.
struct IdxShape {
  int64_t count = 0;
  int64_t record_size = 0;
};
absl::StatusOr<IdxShape> ReadIdxShape(const std::string& path);

}  // namespace descent

#endif  // DESCENT_COMMON_DATA_IDX_READER_H_
