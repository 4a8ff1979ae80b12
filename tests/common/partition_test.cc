#include "common/partition.h"

#include <cstdint>
#include <vector>

#include "gtest/gtest.h"

namespace descent {
namespace {

struct SplitCase {
  int64_t n;
  int parts;
};

const SplitCase kCases[] = {
    {0, 1},  {0, 3},   {1, 1},   {1, 4},     {3, 7},      {7, 3},
    {8, 4},  {9, 4},   {10, 10}, {11, 10},   {100, 7},    {1000, 13},
    {5, 64}, {64, 64}, {65, 64}, {12345, 1}, {99991, 16},
};

TEST(SplitEvenly, CoversEveryIndexOnceInContiguousNearEqualRanges) {
  for (const SplitCase& c : kCases) {
    SCOPED_TRACE(testing::Message() << "n=" << c.n << " parts=" << c.parts);
    const std::vector<IndexRange> ranges = SplitEvenly(c.n, c.parts);
    ASSERT_EQ(ranges.size(), static_cast<size_t>(c.parts));
    int64_t next = 0;
    for (const IndexRange& r : ranges) {
      EXPECT_EQ(r.begin, next);  // contiguous and in order, so no overlap
      EXPECT_GE(r.size(), c.n / c.parts);
      EXPECT_LE(r.size(), c.n / c.parts + 1);
      next = r.end;
    }
    EXPECT_EQ(next, c.n);
  }
}

TEST(SplitEvenly, FirstRemainderPartsHoldOneMore) {
  const std::vector<IndexRange> ranges = SplitEvenly(10, 4);
  const int64_t expected[] = {3, 3, 2, 2};
  for (int p = 0; p < 4; ++p) EXPECT_EQ(ranges[p].size(), expected[p]);
}

TEST(SplitEvenly, FewerItemsThanPartsLeavesTrailingPartsEmpty) {
  const std::vector<IndexRange> ranges = SplitEvenly(2, 5);
  for (int p = 0; p < 5; ++p) EXPECT_EQ(ranges[p].size(), p < 2 ? 1 : 0);
  EXPECT_EQ(ranges[4].begin, 2);
}

TEST(SplitEvenlyDeathTest, RejectsBadArguments) {
  EXPECT_DEATH(SplitEvenly(10, 0), "fewer than one part");
  EXPECT_DEATH(SplitEvenly(-1, 2), "negative count");
}

TEST(EvenPart, MatchesSplitEvenly) {
  for (const SplitCase& c : kCases) {
    const std::vector<IndexRange> ranges = SplitEvenly(c.n, c.parts);
    for (int p = 0; p < c.parts; ++p) {
      const IndexRange r = EvenPart(c.n, c.parts, p);
      EXPECT_EQ(r.begin, ranges[p].begin);
      EXPECT_EQ(r.end, ranges[p].end);
    }
  }
}

TEST(FindPart, FindsTheOwnerOfEveryIndex) {
  for (const SplitCase& c : kCases) {
    if (c.n > 2000) continue;
    SCOPED_TRACE(testing::Message() << "n=" << c.n << " parts=" << c.parts);
    const std::vector<IndexRange> ranges = SplitEvenly(c.n, c.parts);
    for (int64_t i = 0; i < c.n; ++i) {
      const int p = FindPart(ranges, i);
      ASSERT_GE(p, 0);
      EXPECT_LE(ranges[p].begin, i);
      EXPECT_LT(i, ranges[p].end);
    }
  }
}

TEST(FindPart, ReturnsMinusOneOutsideEveryRange) {
  const std::vector<IndexRange> ranges = SplitEvenly(10, 3);
  EXPECT_EQ(FindPart(ranges, -1), -1);
  EXPECT_EQ(FindPart(ranges, 10), -1);
  EXPECT_EQ(FindPart(SplitEvenly(0, 3), 0), -1);
  EXPECT_EQ(FindPart({}, 0), -1);
}

TEST(FindPart, HandlesGapsAndEmptyRanges) {
  const std::vector<IndexRange> ranges = {{0, 2}, {2, 2}, {5, 8}, {8, 8}};
  EXPECT_EQ(FindPart(ranges, 1), 0);
  EXPECT_EQ(FindPart(ranges, 2), -1);
  EXPECT_EQ(FindPart(ranges, 4), -1);
  EXPECT_EQ(FindPart(ranges, 5), 2);
  EXPECT_EQ(FindPart(ranges, 7), 2);
  EXPECT_EQ(FindPart(ranges, 8), -1);
}

TEST(ShardOfKey, StaysInRangeAndIsDeterministic) {
  for (int shards : {1, 2, 3, 7}) {
    for (uint64_t key : {uint64_t{0}, uint64_t{1}, uint64_t{41},
                         uint64_t{1} << 40, ~uint64_t{0}}) {
      const int shard = ShardOfKey(key, shards);
      EXPECT_GE(shard, 0);
      EXPECT_LT(shard, shards);
      EXPECT_EQ(ShardOfKey(key, shards), shard);
    }
    for (uint64_t key = 0; key < 1000; ++key) {
      const int shard = ShardOfKey(key * 7919, shards);
      ASSERT_GE(shard, 0);
      ASSERT_LT(shard, shards);
    }
  }
}

TEST(ShardOfKey, OneShardHoldsEveryKey) {
  for (uint64_t key :
       {uint64_t{0}, uint64_t{5}, uint64_t{123456789}, ~uint64_t{0}}) {
    EXPECT_EQ(ShardOfKey(key, 1), 0);
  }
}

TEST(ShardOfKey, SpreadsConsecutiveKeysEvenly) {
  int counts[4] = {0, 0, 0, 0};
  for (uint64_t key = 0; key < 10000; ++key) ++counts[ShardOfKey(key, 4)];
  for (int s = 0; s < 4; ++s) {
    EXPECT_GE(counts[s], 2250) << "shard " << s;
    EXPECT_LE(counts[s], 2750) << "shard " << s;
  }
  // Not round-robin: neighbours do not simply take turns.
  int same_as_round_robin = 0;
  for (uint64_t key = 0; key < 10000; ++key) {
    same_as_round_robin += ShardOfKey(key, 4) == static_cast<int>(key % 4);
  }
  EXPECT_LT(same_as_round_robin, 5000);
}

TEST(ShardOfKeyDeathTest, RejectsZeroShards) {
  EXPECT_DEATH(ShardOfKey(7, 0), "no shards");
}

}  // namespace
}  // namespace descent
