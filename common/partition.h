// Splitting a count of items into contiguous, near-equal index ranges.
//
// Used to place P dense parameters on S server shards (shard s owns
// [b_s, e_s)) and N examples on W workers. Every process that calls
// SplitEvenly with the same (n, parts) gets the same ranges, so the split
// never has to travel on the wire. Sparse-table keys are placed by hash
// (ShardOfKey). Pure functions; thread-safe.
#ifndef DESCENT_COMMON_PARTITION_H_
#define DESCENT_COMMON_PARTITION_H_

#include <cstdint>
#include <vector>

namespace descent {

// The half-open index range [begin, end).
struct IndexRange {
  int64_t begin = 0;
  int64_t end = 0;
  int64_t size() const { return end - begin; }
};

// `parts` contiguous ranges covering [0, n) in order. Sizes differ by at most
// one: the first n % parts ranges hold one item more. When n < parts the last
// parts - n ranges are empty (begin == end == n). CHECK-fails unless
// parts >= 1 and n >= 0.
std::vector<IndexRange> SplitEvenly(int64_t n, int parts);

// Range `part` of SplitEvenly(n, parts), computed alone without allocating
// (for hot paths that split a batch over threads). Same CHECKs, plus
// 0 <= part < parts.
IndexRange EvenPart(int64_t n, int parts, int part);

// The position in `ranges` of the range that holds `index`, or -1 if none
// does. `ranges` must be sorted and non-overlapping, as SplitEvenly returns
// them; empty ranges never hold an index. O(log ranges.size()).
int FindPart(const std::vector<IndexRange>& ranges, int64_t index);

// The shard that holds sparse-table key `key` among `num_shards`: the key's
// splitmix64 hash modulo num_shards, so consecutive ids spread evenly.
// CHECK-fails unless num_shards >= 1.
int ShardOfKey(uint64_t key, int num_shards);

}  // namespace descent

#endif  // DESCENT_COMMON_PARTITION_H_
