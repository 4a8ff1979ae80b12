#include "common/partition.h"

#include <algorithm>

#include "common/hashed_random.h"
#include "glog/logging.h"

namespace descent {

int ShardOfKey(uint64_t key, int num_shards) {
  CHECK_GE(num_shards, 1) << "no shards to place key " << key;
  return static_cast<int>(SplitMix64(key) % static_cast<uint64_t>(num_shards));
}

IndexRange EvenPart(int64_t n, int parts, int part) {
  CHECK_GE(parts, 1) << "cannot split into fewer than one part";
  CHECK_GE(n, 0) << "cannot split a negative count";
  CHECK(part >= 0 && part < parts) << "part " << part << " of " << parts;
  const int64_t base = n / parts;
  const int64_t extra = n % parts;
  // Parts before `part` hold base items each, the first `extra` one more.
  const int64_t begin = part * base + std::min<int64_t>(part, extra);
  return IndexRange{begin, begin + base + (part < extra ? 1 : 0)};
}

std::vector<IndexRange> SplitEvenly(int64_t n, int parts) {
  CHECK_GE(parts, 1) << "cannot split into fewer than one part";
  std::vector<IndexRange> ranges(parts);
  for (int p = 0; p < parts; ++p) ranges[p] = EvenPart(n, parts, p);
  return ranges;
}

int FindPart(const std::vector<IndexRange>& ranges, int64_t index) {
  // The first range ending after `index` is the only one that may hold it.
  auto it = std::upper_bound(
      ranges.begin(), ranges.end(), index,
      [](int64_t i, const IndexRange& r) { return i < r.end; });
  if (it == ranges.end() || index < it->begin) return -1;
  return static_cast<int>(it - ranges.begin());
}

}  // namespace descent
