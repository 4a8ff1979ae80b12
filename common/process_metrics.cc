#include "common/process_metrics.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

// Set for this file by common/CMakeLists.txt.
#ifndef DESCENT_VERSION
#define DESCENT_VERSION "unknown"
#endif
#ifndef DESCENT_GIT_REVISION
#define DESCENT_GIT_REVISION "unknown"
#endif

namespace descent {
namespace {

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::UnavailableError(absl::StrCat("cannot read ", path));
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// The value of the line "`key` VALUE ..." of a /proc file, or -1.
int64_t ProcValue(const std::string& text, absl::string_view key) {
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (!absl::ConsumePrefix(&line, key)) continue;
    std::vector<absl::string_view> fields =
        absl::StrSplit(line, ' ', absl::SkipEmpty());
    int64_t value;
    if (!fields.empty() && absl::SimpleAtoi(fields[0], &value)) return value;
  }
  return -1;
}

// Fills the /proc/self/stat fields of `stats`; false if `stat` is malformed.
bool ParseStat(const std::string& stat, ProcessStats* stats) {
  // The command name, field 2, is in parentheses and may hold spaces.
  const size_t paren = stat.rfind(')');
  if (paren == std::string::npos) return false;
  std::vector<absl::string_view> f = absl::StrSplit(
      absl::string_view(stat).substr(paren + 1), ' ', absl::SkipEmpty());
  // f[0] is field 3 (state); field k of proc(5) is f[k - 3].
  if (f.size() < 22) return false;
  double utime, stime, vsize, rss;
  if (!absl::SimpleAtod(f[11], &utime) || !absl::SimpleAtod(f[12], &stime) ||
      !absl::SimpleAtod(f[19], &stats->start_time_seconds) ||
      !absl::SimpleAtod(f[20], &vsize) || !absl::SimpleAtod(f[21], &rss)) {
    return false;
  }
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  stats->cpu_seconds = (utime + stime) / ticks;
  stats->start_time_seconds /= ticks;  // since boot, for now
  stats->virtual_bytes = vsize;
  stats->resident_bytes = rss * static_cast<double>(sysconf(_SC_PAGESIZE));
  return true;
}

prometheus::MetricFamily Family(
    const char* name, const char* help, prometheus::MetricType type,
    std::vector<prometheus::ClientMetric::Label> labels, double value) {
  prometheus::ClientMetric metric;
  metric.label = std::move(labels);
  if (type == prometheus::MetricType::Counter) {
    metric.counter.value = value;
  } else {
    metric.gauge.value = value;
  }
  return {name, help, type, {std::move(metric)}};
}

}  // namespace

const char* BuildVersion() { return DESCENT_VERSION; }
const char* BuildRevision() { return DESCENT_GIT_REVISION; }

absl::StatusOr<ProcessStats> ReadProcessStats() {
  ProcessStats stats;
  absl::StatusOr<std::string> stat = ReadFile("/proc/self/stat");
  if (!stat.ok()) return stat.status();
  if (!ParseStat(*stat, &stats)) {
    return absl::InternalError("cannot parse /proc/self/stat");
  }
  absl::StatusOr<std::string> system = ReadFile("/proc/stat");
  if (!system.ok()) return system.status();
  const int64_t boot = ProcValue(*system, "btime ");
  if (boot < 0) return absl::InternalError("no btime in /proc/stat");
  stats.start_time_seconds += static_cast<double>(boot);
  std::error_code error;
  std::filesystem::directory_iterator fds("/proc/self/fd", error);
  if (error) return absl::UnavailableError("cannot list /proc/self/fd");
  stats.open_fds = static_cast<double>(
      std::distance(std::filesystem::begin(fds), std::filesystem::end(fds)));
  rlimit limit;
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0) {
    stats.max_fds = static_cast<double>(limit.rlim_cur);
  }
  return stats;
}

int64_t MemoryLimitBytes(const std::string& cgroup_memory_max,
                         const std::string& meminfo) {
  int64_t total = -1;
  absl::StatusOr<std::string> info = ReadFile(meminfo);
  if (info.ok()) {
    const int64_t kib = ProcValue(*info, "MemTotal:");
    if (kib > 0) total = kib * 1024;
  }
  int64_t cgroup = -1;
  absl::StatusOr<std::string> max = ReadFile(cgroup_memory_max);
  if (max.ok() &&
      !absl::SimpleAtoi(absl::StripAsciiWhitespace(*max), &cgroup)) {
    cgroup = -1;  // "max": no limit
  }
  if (cgroup > 0 && total > 0) return std::min(cgroup, total);
  return std::max<int64_t>({cgroup, total, 0});
}

ProcessCollector::ProcessCollector(std::map<std::string, std::string> labels)
    : labels_(std::move(labels)) {}

void ProcessCollector::AddLabel(const std::string& name,
                                const std::string& value) {
  absl::MutexLock lock(&mu_);
  labels_[name] = value;
}

std::vector<prometheus::MetricFamily> ProcessCollector::Collect() const {
  std::vector<prometheus::ClientMetric::Label> labels;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [name, value] : labels_) labels.push_back({name, value});
  }
  using prometheus::MetricType;
  std::vector<prometheus::ClientMetric::Label> build = labels;
  build.push_back({"revision", BuildRevision()});
  build.push_back({"version", BuildVersion()});
  std::vector<prometheus::MetricFamily> families;
  families.push_back(Family("descent_build_info",
                            "Always 1; labels say which build of descent "
                            "this process runs.",
                            MetricType::Gauge, build, 1));
  absl::StatusOr<ProcessStats> stats = ReadProcessStats();
  if (!stats.ok()) return families;
  families.push_back(Family("process_cpu_seconds_total",
                            "Total user and system CPU time spent in seconds.",
                            MetricType::Counter, labels, stats->cpu_seconds));
  families.push_back(Family("process_resident_memory_bytes",
                            "Resident memory size in bytes.", MetricType::Gauge,
                            labels, stats->resident_bytes));
  families.push_back(Family("process_virtual_memory_bytes",
                            "Virtual memory size in bytes.", MetricType::Gauge,
                            labels, stats->virtual_bytes));
  families.push_back(Family("process_open_fds",
                            "Number of open file descriptors.",
                            MetricType::Gauge, labels, stats->open_fds));
  families.push_back(Family("process_max_fds",
                            "Maximum number of open file descriptors.",
                            MetricType::Gauge, labels, stats->max_fds));
  families.push_back(
      Family("process_start_time_seconds",
             "Start time of the process since unix epoch in seconds.",
             MetricType::Gauge, labels, stats->start_time_seconds));
  return families;
}

}  // namespace descent
