// Compressed dense slices on the wire (proto/descent/v1/tensor.proto):
// float16 and bfloat16 elements, and top-k sparse slices. Workers encode
// (PsClient), shards decode into plain float32 before anything touches
// their state (ParameterShard), and the shards encode the parameters they
// send back in the encoding the worker asked for.
//
// The conversions are Eigen's (Eigen::half, Eigen::bfloat16: round to
// nearest even, vectorized with F16C / AVX2 where the build targets them).
#ifndef DESCENT_COMMON_VALUE_CODEC_H_
#define DESCENT_COMMON_VALUE_CODEC_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "descent/v1/tensor.pb.h"

namespace descent {

// Bytes one element takes: 4 for FLOAT32, 2 for FLOAT16 and BFLOAT16, 0 for
// a value the enum does not name (a newer or hostile sender's).
int ValueBytes(v1::ValueEncoding encoding);

// Replaces *bytes with values[0, n) in `encoding` (one ValueBytes names).
// FLOAT16 saturates at +-65504 instead of sending an infinity.
void EncodeValues(const float* values, int64_t n, v1::ValueEncoding encoding,
                  std::string* bytes);

// Writes the n elements of `encoding` at `bytes` (any alignment) to out.
void DecodeValues(const char* bytes, int64_t n, v1::ValueEncoding encoding,
                  float* out);

// Rounds values[0, n) in place to what EncodeValues then DecodeValues
// would give (what the receiver gets): error feedback keeps the rest.
void RoundValues(float* values, int64_t n, v1::ValueEncoding encoding);

// True unless `slice` is plain dense float32 (the uncompressed form).
inline bool IsCompressed(const v1::DenseSlice& slice) {
  return slice.encoding() != v1::FLOAT32 || !slice.indices().empty();
}

// Decodes a compressed slice into its plain form: `out` gets the same
// offset and every element as float32 (zero where a sparse slice lists
// none). INVALID_ARGUMENT, with a message naming the field and the
// problem, for an unknown encoding, values or indices of a size that is
// not a whole number of elements, a count of indices other than values',
// indices not strictly increasing or not below length, or a length (or
// dense element count) above max_elements; `out` is then unspecified.
absl::Status DecompressSlice(const v1::DenseSlice& in, int64_t max_elements,
                             v1::DenseSlice* out);

// The positions of the k elements of values[0, n) of largest magnitude, in
// increasing order (all n if k >= n; ties broken arbitrarily). About one
// pass over values: a threshold from a strided sample keeps about 2k
// candidates, the exact top k of which are selected; if the sample
// misjudged and fewer than k pass, the selection is made over all n.
// `scratch` is reused between calls.
void TopK(const float* values, int64_t n, int64_t k,
          std::vector<uint32_t>* positions, std::vector<float>* scratch);

}  // namespace descent

#endif  // DESCENT_COMMON_VALUE_CODEC_H_
