// The build and process metrics every descent process serves, read from
// this test's own process, and the memory limit from fake cgroup and
// meminfo files.
#include "common/process_metrics.h"

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <string>

#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace descent {
namespace {

TEST(ProcessMetricsTest, ReadsSaneValuesForThisProcess) {
  // Burn a little CPU so that the counter has something to count.
  volatile double sink = 0;
  for (int i = 0; i < 50'000'000; ++i) sink = sink + i * 0.5;
  absl::StatusOr<ProcessStats> stats = ReadProcessStats();
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_GT(stats->cpu_seconds, 0);
  EXPECT_GT(stats->resident_bytes, 1 << 20);  // a process is over 1 MiB
  EXPECT_GE(stats->virtual_bytes, stats->resident_bytes);
  EXPECT_GE(stats->open_fds, 3);  // stdin, stdout, stderr
  EXPECT_LE(stats->open_fds, stats->max_fds);
  const double now = absl::ToUnixSeconds(absl::Now());
  EXPECT_LE(stats->start_time_seconds, now + 1);
  EXPECT_GT(stats->start_time_seconds, now - 3600);  // started this hour
}

TEST(ProcessMetricsTest, OpenFdsCountsAFileOpenedMeanwhile) {
  const double before = ReadProcessStats()->open_fds;
  std::FILE* file = std::fopen("/proc/self/stat", "r");
  ASSERT_NE(file, nullptr);
  EXPECT_EQ(ReadProcessStats()->open_fds, before + 1);
  std::fclose(file);
}

TEST(ProcessMetricsTest, CollectorServesBuildInfoAndProcessFamilies) {
  ProcessCollector collector(
      std::map<std::string, std::string>{{"role", "server"}});
  collector.AddLabel("shard", "2");
  std::vector<std::string> names;
  for (const prometheus::MetricFamily& family : collector.Collect()) {
    names.push_back(family.name);
    ASSERT_EQ(family.metric.size(), 1u);
    std::map<std::string, std::string> labels;
    for (const auto& label : family.metric[0].label) {
      labels[label.name] = label.value;
    }
    EXPECT_EQ(labels["role"], "server");
    EXPECT_EQ(labels["shard"], "2");
    if (family.name == "descent_build_info") {
      EXPECT_EQ(family.metric[0].gauge.value, 1);
      EXPECT_THAT(labels["version"],
                  ::testing::MatchesRegex("[0-9]+\\.[0-9]+\\.[0-9]+"));
      EXPECT_EQ(labels["revision"], BuildRevision());
      EXPECT_FALSE(labels["revision"].empty());
    }
  }
  EXPECT_THAT(names, ::testing::ElementsAre(
                         "descent_build_info", "process_cpu_seconds_total",
                         "process_resident_memory_bytes",
                         "process_virtual_memory_bytes", "process_open_fds",
                         "process_max_fds", "process_start_time_seconds"));
}

class MemoryLimitTest : public ::testing::Test {
 protected:
  std::string Write(const std::string& name, const std::string& text) {
    const std::string path = ::testing::TempDir() + "/" + name;
    std::ofstream(path) << text;
    return path;
  }

  const std::string meminfo_ =
      Write("meminfo", "MemTotal:        2048 kB\nMemFree:  1024 kB\n");
};

TEST_F(MemoryLimitTest, CgroupLimitCappedByMemTotal) {
  EXPECT_EQ(MemoryLimitBytes(Write("max1", "1048576\n"), meminfo_), 1048576);
  EXPECT_EQ(MemoryLimitBytes(Write("max2", "999999999\n"), meminfo_),
            2048 * 1024);
}

TEST_F(MemoryLimitTest, UnlimitedOrAbsentCgroupFallsBackToMemTotal) {
  EXPECT_EQ(MemoryLimitBytes(Write("max3", "max\n"), meminfo_), 2048 * 1024);
  EXPECT_EQ(MemoryLimitBytes("/nonexistent/memory.max", meminfo_), 2048 * 1024);
  EXPECT_EQ(MemoryLimitBytes("/nonexistent/a", "/nonexistent/b"), 0);
}

TEST_F(MemoryLimitTest, ThisMachineHasALimit) {
  EXPECT_GT(MemoryLimitBytes(), 0);
}

}  // namespace
}  // namespace descent
