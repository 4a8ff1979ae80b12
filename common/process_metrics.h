// What every descent process says about itself on /metrics: its build
// (descent_build_info) and the standard Prometheus process metrics, which
// prometheus-cpp does not provide. They keep the names every Prometheus
// client uses (process_cpu_seconds_total, ...), the one documented
// exception to the descent_ prefix, so stock dashboards and alerts work.
//
// Values are read from /proc/self at each scrape, so they cost nothing
// between scrapes. Linux only: elsewhere the process_ families are absent.
#ifndef DESCENT_COMMON_PROCESS_METRICS_H_
#define DESCENT_COMMON_PROCESS_METRICS_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "prometheus/collectable.h"
#include "prometheus/metric_family.h"

namespace descent {

// The project's version (CMake's project version) and the git revision the
// build was configured from ("unknown" outside a git checkout).
const char* BuildVersion();
const char* BuildRevision();

// One reading of this process's resource use.
struct ProcessStats {
  double cpu_seconds = 0;         // user + system
  double resident_bytes = 0;      // resident set size
  double virtual_bytes = 0;       // virtual memory size
  double open_fds = 0;            // entries of /proc/self/fd
  double max_fds = 0;             // RLIMIT_NOFILE, soft limit
  double start_time_seconds = 0;  // since the Unix epoch
};

// Reads /proc/self/stat, /proc/stat and /proc/self/fd. UNAVAILABLE if one
// of them cannot be read, INTERNAL if /proc/self/stat cannot be parsed.
absl::StatusOr<ProcessStats> ReadProcessStats();

// The memory this process may use: the cgroup v2 limit in
// `cgroup_memory_max` (a number of bytes, or "max") if it is a number,
// capped by MemTotal from `meminfo`; 0 if neither file gives one.
int64_t MemoryLimitBytes(
    const std::string& cgroup_memory_max = "/sys/fs/cgroup/memory.max",
    const std::string& meminfo = "/proc/meminfo");

// A prometheus::Collectable with descent_build_info{version, revision} = 1
// and the gauges and counter below, each carrying the constant labels it
// was given (role, shard or worker) or AddLabel (job_id, worker):
//   process_cpu_seconds_total        counter
//   process_resident_memory_bytes    gauge
//   process_virtual_memory_bytes     gauge
//   process_open_fds                 gauge
//   process_max_fds                  gauge
//   process_start_time_seconds       gauge
// Thread-safe: Collect() runs on the exposer's threads.
class ProcessCollector : public prometheus::Collectable {
 public:
  explicit ProcessCollector(std::map<std::string, std::string> labels);

  // Adds a constant label to every metric from the next Collect() on.
  void AddLabel(const std::string& name, const std::string& value);

  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  mutable absl::Mutex mu_;
  std::map<std::string, std::string> labels_ ABSL_GUARDED_BY(mu_);
};

}  // namespace descent

#endif  // DESCENT_COMMON_PROCESS_METRICS_H_
