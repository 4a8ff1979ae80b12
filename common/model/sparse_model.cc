#include "common/model/sparse_model.h"

#include <cmath>

#include "common/hashed_random.h"
#include "glog/logging.h"

namespace descent {
namespace {

// The hash every element of `key`'s row starts from. Hashing the seed
// before mixing in the key keeps (seed, key) and (key, seed) apart.
uint64_t RowHash(uint64_t seed, uint64_t key) {
  return SplitMix64(SplitMix64(seed) ^ key);
}

// A uniform double in the open interval (0, 1), a pure function of
// (row_hash, column, stream). Two streams per column feed Box-Muller.
double HashedUniform(uint64_t row_hash, int column, uint64_t stream) {
  const uint64_t counter = (static_cast<uint64_t>(column) << 1) | stream;
  return UnitInterval(SplitMix64(row_hash ^ SplitMix64(counter)));
}

double HashedStandardNormal(uint64_t row_hash, int column) {
  return BoxMuller(HashedUniform(row_hash, column, 0),
                   HashedUniform(row_hash, column, 1));
}

float ValueOf(float stddev, uint64_t row_hash, int column) {
  if (stddev == 0) return 0.0f;
  return static_cast<float>(stddev * HashedStandardNormal(row_hash, column));
}

}  // namespace

float SparseTableSpec::InitialValue(uint64_t seed, uint64_t key,
                                    int column) const {
  CHECK_EQ(column_stddev.size(), static_cast<size_t>(row_width));
  CHECK(column >= 0 && column < row_width)
      << "column " << column << " outside [0, " << row_width << ")";
  return ValueOf(column_stddev[column], RowHash(seed, key), column);
}

void SparseTableSpec::InitializeRow(uint64_t seed, uint64_t key,
                                    float* out) const {
  CHECK_EQ(column_stddev.size(), static_cast<size_t>(row_width));
  const uint64_t row_hash = RowHash(seed, key);
  for (int column = 0; column < row_width; ++column) {
    out[column] = ValueOf(column_stddev[column], row_hash, column);
  }
}

}  // namespace descent
