// Bulk floats on the wire: raw little-endian IEEE-754 float32 in a protobuf
// `bytes` field, 4 bytes per element, copied with memcpy rather than parsed.
#ifndef DESCENT_COMMON_WIRE_H_
#define DESCENT_COMMON_WIRE_H_

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "descent's wire format assumes a little-endian host");

namespace descent {

// Replaces `*bytes` with the n floats at `values`.
inline void EncodeFloats(const float* values, int64_t n, std::string* bytes) {
  // assign copies once; resize + memcpy would zero the bytes first.
  bytes->assign(reinterpret_cast<const char*>(values),
                static_cast<size_t>(n) * sizeof(float));
}

// Number of floats `bytes` holds, or -1 if its size is not a multiple of 4.
inline int64_t FloatCount(const std::string& bytes) {
  if (bytes.size() % sizeof(float) != 0) return -1;
  return static_cast<int64_t>(bytes.size() / sizeof(float));
}

// Copies the floats in `bytes` to `out` (FloatCount(bytes) of them).
inline void DecodeFloats(const std::string& bytes, float* out) {
  if (!bytes.empty()) std::memcpy(out, bytes.data(), bytes.size());
}

// The floats in `bytes`: read in place when the buffer is float-aligned
// (heap strings are), else copied to `scratch` (room for FloatCount(bytes)
// floats). Saves a copy of every gradient on the shard's hot path.
inline const float* FloatsOf(const std::string& bytes, float* scratch) {
  if (reinterpret_cast<uintptr_t>(bytes.data()) % alignof(float) == 0) {
    return reinterpret_cast<const float*>(bytes.data());
  }
  DecodeFloats(bytes, scratch);
  return scratch;
}

// As above, growing `scratch` only if a copy is needed.
inline const float* FloatsOf(const std::string& bytes,
                             std::vector<float>* scratch) {
  if (reinterpret_cast<uintptr_t>(bytes.data()) % alignof(float) == 0) {
    return reinterpret_cast<const float*>(bytes.data());
  }
  scratch->resize(bytes.size() / sizeof(float));
  return FloatsOf(bytes, scratch->data());
}

// The first of the `n` floats at `data` (any alignment) that is infinite
// or NaN, or -1. Every push's gradient and every update's result goes
// through here, so the common case (all finite) is one branch-free pass
// over the bits that the compiler vectorizes: adding one to an all-ones
// exponent carries into the sign bit, and no other exponent does. Only a
// bad vector is searched.
inline int64_t FirstNonFiniteFloat(const void* data, int64_t n) {
  const auto* bytes = static_cast<const char*>(data);
  auto bits_at = [bytes](int64_t i) {
    uint32_t bits;
    std::memcpy(&bits, bytes + i * sizeof(uint32_t), sizeof(uint32_t));
    return bits;
  };
  uint32_t carry = 0;
  for (int64_t i = 0; i < n; ++i) {
    carry |= (bits_at(i) & 0x7f800000u) + 0x00800000u;
  }
  if ((carry & 0x80000000u) == 0) return -1;
  for (int64_t i = 0; i < n; ++i) {
    if ((bits_at(i) & 0x7f800000u) == 0x7f800000u) return i;
  }
  return -1;
}

}  // namespace descent

#endif  // DESCENT_COMMON_WIRE_H_
