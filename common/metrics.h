// Every Prometheus metric descent exports, declared in one place.
//
// Each process owns one MetricsRegistry; its role serves it on /metrics
// over HTTP (roles/metrics_server.h: the core starts no server). A role creates
// its metric set from it once at start-up (WorkerMetrics, ServerMetrics,
// CoordinatorMetrics) and updates the members directly; prometheus-cpp metrics
// are thread-safe. Naming follows Prometheus practice: the `descent_` prefix,
// base units (`_seconds`, `_bytes`),
// `_total` on counters, histograms rather than summaries, and only bounded
// labels: the constant role, job_id (the training job's id: one value per
// process), shard and worker, and per family layer, reason, version,
// revision or config_hash (never a key or a step).
// Every registry also serves descent_build_info and the standard process_
// metrics (common/process_metrics.h). tests/common/metrics_lint_test.cc
// checks every family against these rules.
#ifndef DESCENT_COMMON_METRICS_H_
#define DESCENT_COMMON_METRICS_H_

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/process_metrics.h"
#include "prometheus/counter.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace descent {

// Another Collectable's metrics with extra labels, added at each Collect()
// to every metric that lacks a label of that name. Thread-safe.
class LabelledCollectable : public prometheus::Collectable {
 public:
  explicit LabelledCollectable(
      std::shared_ptr<prometheus::Collectable> collectable)
      : collectable_(std::move(collectable)) {}

  void AddLabel(const std::string& name, const std::string& value);

  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  const std::shared_ptr<prometheus::Collectable> collectable_;
  mutable absl::Mutex mu_;
  std::map<std::string, std::string> labels_ ABSL_GUARDED_BY(mu_);
};

class MetricsRegistry {
 public:
  // An empty registry (plus the build and process metrics). `labels`
  // (e.g. {{"role","worker"},{"worker","3"}}) go on every metric.
  static std::unique_ptr<MetricsRegistry> Create(
      std::map<std::string, std::string> labels);

  // Adds a constant label to every metric from the next scrape on, those
  // created before this call included (for labels known only later, such
  // as a worker's id or the job id a server learns when it registers).
  // Thread-safe: a scrape may be running.
  void AddLabel(const std::string& name, const std::string& value);

  // What a scrape collects: the metrics, then the process metrics.
  std::vector<std::shared_ptr<prometheus::Collectable>> collectables() const {
    return {metrics_, process_};
  }

  prometheus::Counter& Counter(const std::string& name,
                               const std::string& help);
  prometheus::Gauge& Gauge(const std::string& name, const std::string& help);
  // A gauge per value of a further label (bounded: e.g. a model's layers);
  // Add({{"layer", name}}) on the family makes each one.
  prometheus::Family<prometheus::Gauge>& GaugeFamily(const std::string& name,
                                                     const std::string& help);
  // Buckets from 10 µs to ~42 s, doubling.
  prometheus::Histogram& DurationHistogram(const std::string& name,
                                           const std::string& help);
  prometheus::Histogram& Histogram(
      const std::string& name, const std::string& help,
      const prometheus::Histogram::BucketBoundaries& buckets);
  // A counter per value of one more label (whose values must be bounded):
  // family.Add({{"reason", "non_finite"}}).Increment().
  prometheus::Family<prometheus::Counter>& CounterFamily(
      const std::string& name, const std::string& help);

  // Every family as a scrape of /metrics would see it now.
  std::vector<prometheus::MetricFamily> Collect() const;

 private:
  MetricsRegistry() = default;

  std::shared_ptr<prometheus::Registry> registry_;
  // registry_, with the labels of AddLabel added at each Collect().
  std::shared_ptr<LabelledCollectable> metrics_;
  std::shared_ptr<ProcessCollector> process_;
  // The labels given to Create(): constant labels of every family.
  std::map<std::string, std::string> labels_;
};

// A worker's training loop.
struct WorkerMetrics {
  explicit WorkerMetrics(MetricsRegistry& registry);

  prometheus::Counter& steps;
  prometheus::Counter& examples;
  prometheus::Counter& push_bytes;          // gradient bytes sent
  prometheus::Counter& pull_bytes;          // parameter bytes received
  prometheus::Histogram& push_duration;     // one PushPull to all shards
  prometheus::Histogram& pull_duration;     // one Pull from all shards
  prometheus::Histogram& compute_duration;  // forward + backward of a batch
  // Per push: how long the slowest shard's consistency gate held the
  // answer (PushPullResponse.held_seconds); part of push_duration.
  prometheus::Histogram& wait_duration;
  prometheus::Gauge& train_loss;  // last mini-batch loss
  // Over the worker's last 20 steps (StepRate in worker/step_rate.h).
  prometheus::Gauge& steps_per_second;
  prometheus::Gauge& examples_per_second;
  // Last step's gradient L2 norm before clipping, by label layer: each
  // tensor of the model's layout, "sparse_rows", and "total" (the one
  // there from the start).
  prometheus::Family<prometheus::Gauge>& gradient_norm;
  prometheus::Gauge& gradient_norm_total;
};

// A parameter-server shard.
struct ServerMetrics {
  explicit ServerMetrics(MetricsRegistry& registry);

  prometheus::Counter& pushes;      // applied, PushPull included
  prometheus::Counter& pulls;       // served, PushPull included
  prometheus::Counter& push_bytes;  // gradient bytes received
  prometheus::Counter& pull_bytes;  // parameter bytes sent
  // Requests refused, by `reason` (see RejectReason in parameter_shard.h).
  prometheus::Family<prometheus::Counter>& rejected;
  // Shard version at apply time minus the version the gradient was
  // computed on, per push (in updates; BSP: 0, or the lag of a dropped one).
  prometheus::Histogram& staleness;
  prometheus::Counter& dropped;          // BSP: late gradients not applied
  prometheus::Histogram& push_duration;  // validate + apply
  prometheus::Histogram& pull_duration;  // copy out
  // One update in the optimizer, under the shard's lock (PushRecord).
  prometheus::Histogram& apply_duration;
  prometheus::Gauge& parameters;   // elements held
  prometheus::Gauge& sparse_rows;  // sparse-table rows created
  prometheus::Gauge& version;      // updates applied
  // L2 norms of the dense slice and of the last measured update's change
  // to it (PushRecord).
  prometheus::Gauge& parameter_norm;
  prometheus::Gauge& update_norm;
  // ParameterShard::memory_bytes(), and what the process may use
  // (MemoryLimitBytes in common/process_metrics.h).
  prometheus::Gauge& memory;
  prometheus::Gauge& memory_limit;
};

// The coordinator: the job as a whole.
struct CoordinatorMetrics {
  explicit CoordinatorMetrics(MetricsRegistry& registry);

  prometheus::Gauge& global_step;
  prometheus::Gauge& epoch;
  prometheus::Counter& examples;
  prometheus::Gauge& train_loss;
  prometheus::Gauge& test_loss;
  prometheus::Gauge& test_accuracy;
  prometheus::Gauge& workers_alive;
  prometheus::Gauge& job_state;  // JobState enum value
  // The schedule's rate at the updates applied so far
  // (Coordinator::learning_rate()).
  prometheus::Gauge& learning_rate;
  // 1, with label config_hash (ConfigHash in common/config.h).
  prometheus::Family<prometheus::Gauge>& config_info;
  prometheus::Counter& registrations;
  // Calls refused before they reached the job, by `reason`
  // ("unauthenticated": without the job's token).
  prometheus::Family<prometheus::Counter>& rejected;
  // Coordinator::heartbeats_missed().
  prometheus::Counter& heartbeats_missed;
  prometheus::Counter& evaluations;
  prometheus::Histogram& evaluation_duration;
  prometheus::Counter& pull_bytes;  // parameters pulled for evaluation
  prometheus::Histogram& pull_duration;
  // Parameter files written (best_params.bin), and the time of each.
  prometheus::Counter& checkpoints;
  prometheus::Histogram& checkpoint_duration;
};

// A federated job's rounds, from worker 0's records (v1::FederatedRound),
// exported by the coordinator; registered only for federated jobs.
struct FederatedMetrics {
  explicit FederatedMetrics(MetricsRegistry& registry);

  prometheus::Counter& rounds;   // rounds recorded
  prometheus::Gauge& round;      // the last recorded, 1-based
  prometheus::Counter& sampled;  // clients sampled, every attempt
  prometheus::Counter& dropped;  // clients that dropped out
  prometheus::Counter& late;     // reports past the deadline or unused
  prometheus::Counter& retries;  // attempts beyond the first
  prometheus::Counter& participants;
  prometheus::Gauge& round_participants;  // of the last round
  prometheus::Gauge& update_norm;
  prometheus::Gauge& test_accuracy;  // the last evaluated round's
  prometheus::Gauge& test_loss;
  prometheus::Gauge& client_accuracy_mean;
  prometheus::Gauge& client_accuracy_p10;
  prometheus::Histogram& round_duration;  // wall, on worker 0
  prometheus::Gauge& simulated_seconds;   // the last round's
  // Privacy: what the last recorded round had spent, and its clip norm.
  prometheus::Gauge& privacy_epsilon;
  prometheus::Gauge& clip_norm;
  // Secure aggregation: the clients the last round unmasked, rounds that
  // failed, clients dropped after sharing keys.
  prometheus::Gauge& secure_clients;
  prometheus::Counter& secure_failed_rounds;
  prometheus::Counter& secure_dropped;
};

}  // namespace descent

#endif  // DESCENT_COMMON_METRICS_H_
