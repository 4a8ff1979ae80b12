// The safetensors format (https://github.com/huggingface/safetensors):
// 8 bytes little-endian N, N bytes of JSON header {"name": {"dtype",
// "shape", "data_offsets": [b, e]}, ..., "__metadata__": {...}} padded with
// spaces to a multiple of 8, then the tensors' little-endian bytes (offsets
// relative to the end of the header). Model directories and checkpoints
// use it; descent writes and reads the dtypes F32 and U64.
#ifndef DESCENT_COMMON_STORAGE_SAFETENSORS_H_
#define DESCENT_COMMON_STORAGE_SAFETENSORS_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace descent {

// One tensor: F32 (in `f32`) or U64 (in `u64`), row-major.
struct NamedTensor {
  std::string name;
  std::string dtype;  // "F32" or "U64"
  std::vector<int64_t> shape;
  std::vector<float> f32;
  std::vector<uint64_t> u64;
};

// The safetensors file holding `tensors` (in this order) and `metadata`.
std::string EncodeSafetensors(
    const std::vector<NamedTensor>& tensors,
    const std::map<std::string, std::string>& metadata);

// The tensors of a safetensors file (ordered by data offset), checking the
// header: its length, the JSON, each tensor's dtype (F32 or U64), shape,
// and byte range (inside the data, of the size the shape needs, no
// overlaps). DATA_LOSS naming `path` and the problem otherwise.
absl::StatusOr<std::vector<NamedTensor>> DecodeSafetensors(
    const std::string& bytes, const std::string& path);

// Product of the dims; -1 if one is negative (or the product overflows).
int64_t ShapeElements(const std::vector<int64_t>& shape);

// `text` as a JSON string: quoted, with quotes, backslashes and control
// characters escaped (UTF-8 passes through).
std::string JsonString(const std::string& text);

}  // namespace descent

#endif  // DESCENT_COMMON_STORAGE_SAFETENSORS_H_
