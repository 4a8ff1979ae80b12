#include "common/value_codec.h"

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <numeric>

#include "Eigen/Core"
#include "absl/strings/str_cat.h"

namespace descent {
namespace {

// The largest finite float16.
constexpr float kHalfMax = 65504.0f;

// Strided sample TopK takes its threshold from.
constexpr int64_t kTopKSample = 4096;

using FloatArray = Eigen::Array<float, Eigen::Dynamic, 1>;

// float32 -> bfloat16, round to nearest even, as Eigen::bfloat16 rounds a
// finite value (and the shards and workers only send finite ones): one
// integer add and shift an element, which the compiler vectorizes (Eigen's
// conversion is scalar here).
void EncodeBFloat16(const float* values, int64_t n, std::string* bytes) {
  bytes->resize(static_cast<size_t>(n) * sizeof(uint16_t));
  auto* out = reinterpret_cast<uint16_t*>(bytes->data());
  for (int64_t i = 0; i < n; ++i) {
    uint32_t bits;
    std::memcpy(&bits, values + i, sizeof(bits));
    bits += 0x7fffu + ((bits >> 16) & 1u);
    out[i] = static_cast<uint16_t>(bits >> 16);
  }
}

void DecodeBFloat16(const char* bytes, int64_t n, float* out) {
  for (int64_t i = 0; i < n; ++i) {
    uint16_t half;
    std::memcpy(&half, bytes + i * sizeof(half), sizeof(half));
    const uint32_t bits = static_cast<uint32_t>(half) << 16;
    std::memcpy(out + i, &bits, sizeof(bits));
  }
}

#ifdef __F16C__
// float16 with the F16C instructions, 8 at a time (Eigen's conversion of
// arrays is scalar here): saturated to +-65504, rounded to nearest even.
void EncodeFloat16(const float* values, int64_t n, std::string* bytes) {
  bytes->resize(static_cast<size_t>(n) * sizeof(uint16_t));
  char* out = bytes->data();
  const __m256 high = _mm256_set1_ps(kHalfMax);
  const __m256 low = _mm256_set1_ps(-kHalfMax);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 v =
        _mm256_min_ps(_mm256_max_ps(_mm256_loadu_ps(values + i), low), high);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + 2 * i),
                     _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT));
  }
  for (; i < n; ++i) {
    const Eigen::half h(std::min(kHalfMax, std::max(-kHalfMax, values[i])));
    std::memcpy(out + 2 * i, &h, sizeof(h));
  }
}

void DecodeFloat16(const char* bytes, int64_t n, float* out) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    _mm256_storeu_ps(out + i,
                     _mm256_cvtph_ps(_mm_loadu_si128(
                         reinterpret_cast<const __m128i*>(bytes + 2 * i))));
  }
  for (; i < n; ++i) {
    Eigen::half h;
    std::memcpy(&h, bytes + 2 * i, sizeof(h));
    out[i] = static_cast<float>(h);
  }
}
#endif

template <typename Half>
void EncodeAs(const float* values, int64_t n, std::string* bytes) {
  bytes->resize(static_cast<size_t>(n) * sizeof(Half));
  Eigen::Map<const FloatArray> in(values, n);
  Eigen::Map<Eigen::Array<Half, Eigen::Dynamic, 1>> out(
      reinterpret_cast<Half*>(bytes->data()), n);
  if constexpr (std::is_same_v<Half, Eigen::half>) {
    out = in.max(-kHalfMax).min(kHalfMax).template cast<Half>();
  } else {
    out = in.template cast<Half>();
  }
}

template <typename Half>
void DecodeAs(const char* bytes, int64_t n, float* out) {
  Eigen::Map<FloatArray> dense(out, n);
  if (reinterpret_cast<uintptr_t>(bytes) % alignof(Half) == 0) {
    dense = Eigen::Map<const Eigen::Array<Half, Eigen::Dynamic, 1>>(
                reinterpret_cast<const Half*>(bytes), n)
                .template cast<float>();
    return;
  }
  Eigen::Array<Half, Eigen::Dynamic, 1> aligned(n);
  std::memcpy(aligned.data(), bytes, static_cast<size_t>(n) * sizeof(Half));
  dense = aligned.template cast<float>();
}

absl::Status Invalid(const std::string& message) {
  return absl::InvalidArgumentError(message);
}

}  // namespace

int ValueBytes(v1::ValueEncoding encoding) {
  switch (encoding) {
    case v1::FLOAT32:
      return 4;
    case v1::FLOAT16:
    case v1::BFLOAT16:
      return 2;
    default:
      return 0;
  }
}

void EncodeValues(const float* values, int64_t n, v1::ValueEncoding encoding,
                  std::string* bytes) {
  switch (encoding) {
    case v1::FLOAT16:
#ifdef __F16C__
      return EncodeFloat16(values, n, bytes);
#else
      return EncodeAs<Eigen::half>(values, n, bytes);
#endif
    case v1::BFLOAT16:
      return EncodeBFloat16(values, n, bytes);
    default:
      bytes->assign(reinterpret_cast<const char*>(values),
                    static_cast<size_t>(n) * sizeof(float));
  }
}

void DecodeValues(const char* bytes, int64_t n, v1::ValueEncoding encoding,
                  float* out) {
  switch (encoding) {
    case v1::FLOAT16:
#ifdef __F16C__
      return DecodeFloat16(bytes, n, out);
#else
      return DecodeAs<Eigen::half>(bytes, n, out);
#endif
    case v1::BFLOAT16:
      return DecodeBFloat16(bytes, n, out);
    default:
      if (n > 0)
        std::memcpy(out, bytes, static_cast<size_t>(n) * sizeof(float));
  }
}

void RoundValues(float* values, int64_t n, v1::ValueEncoding encoding) {
  Eigen::Map<FloatArray> a(values, n);
  switch (encoding) {
    case v1::FLOAT16:
      a = a.max(-kHalfMax)
              .min(kHalfMax)
              .cast<Eigen::half>()
              .eval()
              .cast<float>();
      return;
    case v1::BFLOAT16:
      a = a.cast<Eigen::bfloat16>().eval().cast<float>();
      return;
    default:
      return;
  }
}

absl::Status DecompressSlice(const v1::DenseSlice& in, int64_t max_elements,
                             v1::DenseSlice* out) {
  const int width = ValueBytes(in.encoding());
  if (width == 0) {
    return Invalid(absl::StrCat("slice encoding ",
                                static_cast<int>(in.encoding()),
                                " is not FLOAT32, FLOAT16 or BFLOAT16"));
  }
  if (in.values().size() % width != 0) {
    return Invalid(absl::StrCat("slice values of ", in.values().size(),
                                " bytes are not a whole number of ",
                                v1::ValueEncoding_Name(in.encoding()),
                                " elements"));
  }
  const int64_t count = static_cast<int64_t>(in.values().size() / width);
  out->set_offset(in.offset());
  out->set_encoding(v1::FLOAT32);
  out->clear_indices();
  out->clear_length();
  std::string* plain = out->mutable_values();
  if (in.indices().empty()) {
    if (count > max_elements) {
      return Invalid(absl::StrCat("slice of ", count,
                                  " elements is larger than the ", max_elements,
                                  " this shard holds"));
    }
    plain->resize(static_cast<size_t>(count) * sizeof(float));
    DecodeValues(in.values().data(), count, in.encoding(),
                 reinterpret_cast<float*>(plain->data()));
    return absl::OkStatus();
  }
  if (in.indices().size() % sizeof(uint32_t) != 0) {
    return Invalid(absl::StrCat("slice indices of ", in.indices().size(),
                                " bytes are not a whole number of uint32"));
  }
  const int64_t listed =
      static_cast<int64_t>(in.indices().size() / sizeof(uint32_t));
  if (listed != count) {
    return Invalid(absl::StrCat("slice lists ", listed, " indices for ", count,
                                " values"));
  }
  if (in.length() > static_cast<uint64_t>(max_elements)) {
    return Invalid(absl::StrCat("slice length ", in.length(),
                                " is larger than the ", max_elements,
                                " elements this shard holds"));
  }
  const int64_t length = static_cast<int64_t>(in.length());
  std::vector<float> decoded(count);
  DecodeValues(in.values().data(), count, in.encoding(), decoded.data());
  plain->assign(static_cast<size_t>(length) * sizeof(float), '\0');
  auto* dense = reinterpret_cast<float*>(plain->data());
  int64_t previous = -1;
  for (int64_t j = 0; j < count; ++j) {
    uint32_t index;
    std::memcpy(&index, in.indices().data() + j * sizeof(uint32_t),
                sizeof(index));
    if (static_cast<int64_t>(index) <= previous || index >= length) {
      return Invalid(absl::StrCat(
          "slice index ", j, " is ", index, ": indices must be strictly ",
          "increasing and below the slice length ", length));
    }
    dense[index] = decoded[j];
    previous = index;
  }
  return absl::OkStatus();
}

void TopK(const float* values, int64_t n, int64_t k,
          std::vector<uint32_t>* positions, std::vector<float>* scratch) {
  positions->clear();
  if (k <= 0 || n <= 0) return;
  auto all = [positions, n] {
    positions->resize(n);
    std::iota(positions->begin(), positions->end(), 0u);
  };
  if (k >= n) return all();
  if (n >= 4 * kTopKSample && 2 * k < n) {
    scratch->resize(kTopKSample);
    const int64_t stride = n / kTopKSample;
    for (int64_t i = 0; i < kTopKSample; ++i) {
      (*scratch)[i] = std::fabs(values[i * stride]);
    }
    // The sample's upper 2k/n quantile: about 2k of the n pass it.
    const int64_t rank = std::min(kTopKSample - 1, 2 * k * kTopKSample / n);
    std::nth_element(scratch->begin(), scratch->begin() + rank, scratch->end(),
                     std::greater<float>());
    const float threshold = (*scratch)[rank];
    for (int64_t i = 0; i < n; ++i) {
      if (std::fabs(values[i]) >= threshold) {
        positions->push_back(static_cast<uint32_t>(i));
      }
    }
  }
  if (static_cast<int64_t>(positions->size()) < k) all();
  if (static_cast<int64_t>(positions->size()) == k) return;
  // The k-th largest magnitude among the candidates, then one pass over
  // them (in increasing order already) keeping those above it and enough
  // of those equal to it: no sort.
  scratch->resize(positions->size());
  for (size_t j = 0; j < positions->size(); ++j) {
    (*scratch)[j] = std::fabs(values[(*positions)[j]]);
  }
  std::nth_element(scratch->begin(), scratch->begin() + (k - 1), scratch->end(),
                   std::greater<float>());
  const float kth = (*scratch)[k - 1];
  int64_t above = 0;
  for (uint32_t p : *positions) above += std::fabs(values[p]) > kth;
  int64_t ties = k - above;
  size_t kept = 0;
  for (uint32_t p : *positions) {
    const float m = std::fabs(values[p]);
    if (m > kth || (m == kth && ties-- > 0)) (*positions)[kept++] = p;
  }
  positions->resize(kept);
}

}  // namespace descent
