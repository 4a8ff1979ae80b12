// The wire's float16 / bfloat16 / top-k forms: the bits of known values,
// rounding and saturation, decoding from any alignment, every refusal of a
// malformed compressed slice, and TopK against a full sort.
#include "common/value_codec.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace descent {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::vector<uint16_t> Bits(const std::string& bytes) {
  std::vector<uint16_t> bits(bytes.size() / 2);
  std::memcpy(bits.data(), bytes.data(), bytes.size());
  return bits;
}

std::string IndexBytes(const std::vector<uint32_t>& indices) {
  return std::string(reinterpret_cast<const char*>(indices.data()),
                     indices.size() * sizeof(uint32_t));
}

std::vector<float> FloatsIn(const std::string& bytes) {
  std::vector<float> floats(bytes.size() / sizeof(float));
  std::memcpy(floats.data(), bytes.data(), bytes.size());
  return floats;
}

TEST(ValueCodec, ElementSizes) {
  EXPECT_EQ(ValueBytes(v1::FLOAT32), 4);
  EXPECT_EQ(ValueBytes(v1::FLOAT16), 2);
  EXPECT_EQ(ValueBytes(v1::BFLOAT16), 2);
  EXPECT_EQ(ValueBytes(static_cast<v1::ValueEncoding>(7)), 0);
}

TEST(ValueCodec, Float16BitsRoundingAndSaturation) {
  // 1, -2, 65504 (the largest), 1 + 2^-11 (a tie: to even, 1), 1 + 3 *
  // 2^-11 (a tie: to even, 1 + 2^-9), 2^-24 (the smallest subnormal), and
  // values beyond the range, which saturate instead of becoming infinite.
  const std::vector<float> values = {1.0f,
                                     -2.0f,
                                     65504.0f,
                                     1.0f + std::ldexp(1.0f, -11),
                                     1.0f + 3 * std::ldexp(1.0f, -11),
                                     std::ldexp(1.0f, -24),
                                     1e6f,
                                     -1e30f};
  std::string bytes;
  EncodeValues(values.data(), values.size(), v1::FLOAT16, &bytes);
  EXPECT_THAT(Bits(bytes), ElementsAre(0x3C00, 0xC000, 0x7BFF, 0x3C00, 0x3C02,
                                       0x0001, 0x7BFF, 0xFBFF));
  std::vector<float> decoded(values.size());
  DecodeValues(bytes.data(), values.size(), v1::FLOAT16, decoded.data());
  EXPECT_THAT(decoded, ElementsAre(1.0f, -2.0f, 65504.0f, 1.0f,
                                   1.0f + std::ldexp(1.0f, -9),
                                   std::ldexp(1.0f, -24), 65504.0f, -65504.0f));
}

TEST(ValueCodec, BFloat16BitsAndRounding) {
  // 1, -3.5, 1 + 2^-8 (a tie: to even, 1), 1 + 3 * 2^-8 (a tie: to even,
  // 1 + 2^-6), and 1e30, which bfloat16's range still holds.
  const std::vector<float> values = {1.0f, -3.5f, 1.0f + std::ldexp(1.0f, -8),
                                     1.0f + 3 * std::ldexp(1.0f, -8), 1e30f};
  std::string bytes;
  EncodeValues(values.data(), values.size(), v1::BFLOAT16, &bytes);
  EXPECT_THAT(Bits(bytes), ElementsAre(0x3F80, 0xC060, 0x3F80, 0x3F82, 0x714A));
  std::vector<float> decoded(values.size());
  DecodeValues(bytes.data(), values.size(), v1::BFLOAT16, decoded.data());
  EXPECT_EQ(decoded[2], 1.0f);
  EXPECT_EQ(decoded[3], 1.0f + std::ldexp(1.0f, -6));
  EXPECT_NEAR(decoded[4], 1e30f, 1e30f / 128);
}

TEST(ValueCodec, RoundValuesIsEncodeThenDecode) {
  std::mt19937 rng(3);
  std::normal_distribution<float> normal(0, 100);
  std::vector<float> values(1001);
  for (float& v : values) v = normal(rng);
  values[7] = 1e9f;  // saturates in float16
  for (v1::ValueEncoding e : {v1::FLOAT32, v1::FLOAT16, v1::BFLOAT16}) {
    std::string bytes;
    EncodeValues(values.data(), values.size(), e, &bytes);
    ASSERT_EQ(bytes.size(), values.size() * ValueBytes(e));
    std::vector<float> decoded(values.size());
    DecodeValues(bytes.data(), values.size(), e, decoded.data());
    std::vector<float> rounded = values;
    RoundValues(rounded.data(), rounded.size(), e);
    EXPECT_EQ(rounded, decoded) << v1::ValueEncoding_Name(e);
    if (e != v1::FLOAT32) {
      EXPECT_NE(rounded, values) << v1::ValueEncoding_Name(e);
    }
  }
}

TEST(ValueCodec, DecodesFromAnOddAddress) {
  const std::vector<float> values = {0.5f, -0.25f, 3.0f};
  std::string bytes;
  EncodeValues(values.data(), values.size(), v1::BFLOAT16, &bytes);
  const std::string shifted = "x" + bytes;
  std::vector<float> decoded(values.size());
  DecodeValues(shifted.data() + 1, values.size(), v1::BFLOAT16, decoded.data());
  EXPECT_EQ(decoded, values);
}

TEST(ValueCodec, DecompressesADenseHalfSlice) {
  const std::vector<float> values = {1.5f, -2.0f, 0.125f};
  v1::DenseSlice in;
  in.set_offset(40);
  in.set_encoding(v1::FLOAT16);
  EncodeValues(values.data(), values.size(), v1::FLOAT16, in.mutable_values());
  v1::DenseSlice out;
  ASSERT_TRUE(DecompressSlice(in, 3, &out).ok());
  EXPECT_EQ(out.offset(), 40u);
  EXPECT_EQ(out.encoding(), v1::FLOAT32);
  EXPECT_EQ(FloatsIn(out.values()), values);
  EXPECT_FALSE(IsCompressed(out));
  EXPECT_TRUE(IsCompressed(in));
}

TEST(ValueCodec, DecompressesASparseSliceWithZerosElsewhere) {
  const std::vector<float> values = {4.0f, -1.0f};
  v1::DenseSlice in;
  in.set_offset(8);
  in.set_length(5);
  in.set_encoding(v1::BFLOAT16);
  EncodeValues(values.data(), values.size(), v1::BFLOAT16, in.mutable_values());
  in.set_indices(IndexBytes({1, 4}));
  v1::DenseSlice out;
  ASSERT_TRUE(DecompressSlice(in, 5, &out).ok());
  EXPECT_EQ(out.offset(), 8u);
  EXPECT_EQ(out.length(), 0u);
  EXPECT_TRUE(out.indices().empty());
  EXPECT_THAT(FloatsIn(out.values()), ElementsAre(0, 4, 0, 0, -1));
}

struct Malformed {
  const char* what;
  v1::DenseSlice slice;
  const char* message;
};

TEST(ValueCodec, RefusesEveryMalformedSlice) {
  auto sparse = [](std::vector<uint32_t> indices, int values, uint64_t length) {
    v1::DenseSlice s;
    s.set_encoding(v1::FLOAT16);
    s.set_values(std::string(2 * values, '\0'));
    s.set_indices(IndexBytes(indices));
    s.set_length(length);
    return s;
  };
  v1::DenseSlice unknown;
  unknown.set_encoding(static_cast<v1::ValueEncoding>(9));
  unknown.set_values("abcd");
  v1::DenseSlice odd;
  odd.set_encoding(v1::BFLOAT16);
  odd.set_values("abc");
  v1::DenseSlice too_long;
  too_long.set_encoding(v1::FLOAT16);
  too_long.set_values(std::string(2 * 11, '\0'));
  v1::DenseSlice ragged = sparse({0, 1}, 2, 4);
  ragged.mutable_indices()->push_back('x');
  const std::vector<Malformed> cases = {
      {"unknown encoding", unknown, "encoding 9"},
      {"odd bytes", odd, "3 bytes"},
      {"dense above the shard", too_long, "11 elements"},
      {"indices not whole", ragged, "9 bytes"},
      {"count mismatch", sparse({0, 1, 2}, 2, 4), "3 indices for 2 values"},
      {"repeated index", sparse({1, 1}, 2, 4), "index 1 is 1"},
      {"decreasing", sparse({2, 0}, 2, 4), "index 1 is 0"},
      {"index at length", sparse({0, 4}, 2, 4), "index 1 is 4"},
      {"length above the shard", sparse({0}, 1, 11), "length 11"},
  };
  for (const Malformed& c : cases) {
    v1::DenseSlice out;
    absl::Status status = DecompressSlice(c.slice, 10, &out);
    EXPECT_TRUE(absl::IsInvalidArgument(status)) << c.what << ": " << status;
    EXPECT_THAT(std::string(status.message()), HasSubstr(c.message)) << c.what;
  }
}

// The positions of the k largest magnitudes by a full sort (ties by
// position, as any order is allowed for them only where magnitudes tie).
std::vector<float> TopMagnitudes(const std::vector<float>& v, int64_t k) {
  std::vector<float> m(v.size());
  std::transform(v.begin(), v.end(), m.begin(),
                 [](float x) { return std::fabs(x); });
  std::sort(m.begin(), m.end(), std::greater<float>());
  m.resize(std::min<int64_t>(k, m.size()));
  return m;
}

TEST(ValueCodec, TopKSelectsTheLargestMagnitudes) {
  std::mt19937 rng(11);
  std::normal_distribution<float> normal(0, 1);
  std::vector<uint32_t> positions;
  std::vector<float> scratch;
  for (int64_t n : {1, 7, 1000, 20000, 235146}) {
    for (double fraction : {0.0001, 0.01, 0.1, 0.5}) {
      std::vector<float> v(n);
      for (float& x : v) x = normal(rng);
      // Every third value zero, as a ReLU network's gradients have many.
      for (int64_t i = 0; i < n; i += 3) v[i] = 0;
      const int64_t k = std::max<int64_t>(1, std::ceil(fraction * n));
      TopK(v.data(), n, k, &positions, &scratch);
      ASSERT_EQ(static_cast<int64_t>(positions.size()), std::min(k, n));
      ASSERT_TRUE(std::is_sorted(positions.begin(), positions.end()));
      ASSERT_EQ(std::adjacent_find(positions.begin(), positions.end()),
                positions.end());
      std::vector<float> chosen;
      for (uint32_t p : positions) chosen.push_back(std::fabs(v[p]));
      std::sort(chosen.begin(), chosen.end(), std::greater<float>());
      EXPECT_EQ(chosen, TopMagnitudes(v, k)) << n << " " << fraction;
    }
  }
}

TEST(ValueCodec, TopKOfAllOrNone) {
  const std::vector<float> v = {3, -1, 2};
  std::vector<uint32_t> positions;
  std::vector<float> scratch;
  TopK(v.data(), 3, 5, &positions, &scratch);
  EXPECT_THAT(positions, ElementsAre(0, 1, 2));
  TopK(v.data(), 3, 0, &positions, &scratch);
  EXPECT_TRUE(positions.empty());
  TopK(v.data(), 3, 1, &positions, &scratch);
  EXPECT_THAT(positions, ElementsAre(0));
}

TEST(ValueCodec, TopKWhenTheSampleSeesOnlyZeros) {
  // The few large values sit between the strided sample's points: its
  // threshold is 0, which every element passes.
  std::vector<float> v(100000, 0.0f);
  const int64_t stride = v.size() / 4096;
  for (int64_t i = 0; i < 50; ++i) v[i * stride + 1] = 1.0f + i;
  std::vector<uint32_t> positions;
  std::vector<float> scratch;
  TopK(v.data(), v.size(), 50, &positions, &scratch);
  ASSERT_EQ(positions.size(), 50u);
  for (int64_t i = 0; i < 50; ++i) EXPECT_EQ(positions[i], i * stride + 1);
}

TEST(ValueCodec, TopKWhenTooFewPassTheSampledThreshold) {
  // Only the sample's points are non-zero, so fewer than k elements reach
  // the sample's quantile and the selection is made over all of them.
  std::vector<float> v(100000, 0.0f);
  const int64_t stride = v.size() / 4096;
  for (int64_t i = 0; i < 4096; ++i) v[i * stride] = 1.0f + i;
  std::vector<uint32_t> positions;
  std::vector<float> scratch;
  TopK(v.data(), v.size(), 50, &positions, &scratch);
  ASSERT_EQ(positions.size(), 50u);
  for (int64_t i = 0; i < 50; ++i) {
    EXPECT_EQ(positions[i], (4096 - 50 + i) * stride);
  }
}

}  // namespace
}  // namespace descent
