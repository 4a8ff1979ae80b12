#include "common/value_codec.h"

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
      return EncodeAs<Eigen::half>(values, n, bytes);
    case v1::BFLOAT16:
      return EncodeAs<Eigen::bfloat16>(values, n, bytes);
    default:
      bytes->assign(reinterpret_cast<const char*>(values),
                    static_cast<size_t>(n) * sizeof(float));
  }
}

void DecodeValues(const char* bytes, int64_t n, v1::ValueEncoding encoding,
                  float* out) {
  switch (encoding) {
    case v1::FLOAT16:
      return DecodeAs<Eigen::half>(bytes, n, out);
    case v1::BFLOAT16:
      return DecodeAs<Eigen::bfloat16>(bytes, n, out);
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
  if (static_cast<int64_t>(positions->size()) > k) {
    std::nth_element(positions->begin(), positions->begin() + k,
                     positions->end(), [values](uint32_t a, uint32_t b) {
                       return std::fabs(values[a]) > std::fabs(values[b]);
                     });
    positions->resize(k);
  }
  std::sort(positions->begin(), positions->end());
}

}  // namespace descent
