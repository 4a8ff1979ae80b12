#include "common/metrics.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"

namespace descent {

void LabelledCollectable::AddLabel(const std::string& name,
                                   const std::string& value) {
  absl::MutexLock lock(&mu_);
  labels_[name] = value;
}

std::vector<prometheus::MetricFamily> LabelledCollectable::Collect() const {
  std::map<std::string, std::string> extra;
  {
    absl::MutexLock lock(&mu_);
    extra = labels_;
  }
  std::vector<prometheus::MetricFamily> families = collectable_->Collect();
  if (extra.empty()) return families;
  for (prometheus::MetricFamily& family : families) {
    for (prometheus::ClientMetric& metric : family.metric) {
      // Not a structured binding: C++17 lambdas cannot capture those.
      for (const auto& entry : extra) {
        const std::string& name = entry.first;
        const bool present =
            std::any_of(metric.label.begin(), metric.label.end(),
                        [&](const prometheus::ClientMetric::Label& label) {
                          return label.name == name;
                        });
        if (!present) metric.label.push_back({name, entry.second});
      }
      std::sort(metric.label.begin(), metric.label.end());
    }
  }
  return families;
}

std::unique_ptr<MetricsRegistry> MetricsRegistry::Create(
    std::map<std::string, std::string> labels) {
  std::unique_ptr<MetricsRegistry> metrics(new MetricsRegistry());
  metrics->registry_ = std::make_shared<prometheus::Registry>();
  metrics->metrics_ = std::make_shared<LabelledCollectable>(metrics->registry_);
  metrics->labels_ = std::move(labels);
  metrics->process_ = std::make_shared<ProcessCollector>(metrics->labels_);
  return metrics;
}

void MetricsRegistry::AddLabel(const std::string& name,
                               const std::string& value) {
  metrics_->AddLabel(name, value);
  process_->AddLabel(name, value);
}

std::vector<prometheus::MetricFamily> MetricsRegistry::Collect() const {
  std::vector<prometheus::MetricFamily> families = metrics_->Collect();
  for (prometheus::MetricFamily& family : process_->Collect()) {
    families.push_back(std::move(family));
  }
  return families;
}

// The names below are constants of this file; prometheus-cpp throws only on
// invalid names, so a throw here is a programming error and may crash.
prometheus::Counter& MetricsRegistry::Counter(const std::string& name,
                                              const std::string& help) {
  return prometheus::BuildCounter()
      .Name(name)
      .Help(help)
      .Labels(labels_)
      .Register(*registry_)
      .Add({});
}

prometheus::Gauge& MetricsRegistry::Gauge(const std::string& name,
                                          const std::string& help) {
  return prometheus::BuildGauge()
      .Name(name)
      .Help(help)
      .Labels(labels_)
      .Register(*registry_)
      .Add({});
}

prometheus::Family<prometheus::Gauge>& MetricsRegistry::GaugeFamily(
    const std::string& name, const std::string& help) {
  return prometheus::BuildGauge()
      .Name(name)
      .Help(help)
      .Labels(labels_)
      .Register(*registry_);
}

prometheus::Histogram& MetricsRegistry::DurationHistogram(
    const std::string& name, const std::string& help) {
  prometheus::Histogram::BucketBoundaries buckets;
  for (double bound = 1e-5; bound < 60; bound *= 2) buckets.push_back(bound);
  return Histogram(name, help, buckets);
}

prometheus::Histogram& MetricsRegistry::Histogram(
    const std::string& name, const std::string& help,
    const prometheus::Histogram::BucketBoundaries& buckets) {
  return prometheus::BuildHistogram()
      .Name(name)
      .Help(help)
      .Labels(labels_)
      .Register(*registry_)
      .Add({}, buckets);
}

prometheus::Family<prometheus::Counter>& MetricsRegistry::CounterFamily(
    const std::string& name, const std::string& help) {
  return prometheus::BuildCounter()
      .Name(name)
      .Help(help)
      .Labels(labels_)
      .Register(*registry_);
}

WorkerMetrics::WorkerMetrics(MetricsRegistry& r)
    : steps(r.Counter("descent_worker_steps_total",
                      "Training steps (PushPull rounds) completed.")),
      examples(r.Counter("descent_worker_examples_total",
                         "Training examples processed.")),
      push_bytes(r.Counter("descent_worker_push_bytes_total",
                           "Gradient payload bytes sent to shards.")),
      pull_bytes(r.Counter("descent_worker_pull_bytes_total",
                           "Parameter payload bytes received from shards.")),
      push_duration(r.DurationHistogram(
          "descent_worker_push_duration_seconds",
          "Wall time of one PushPull to all shards, in parallel.")),
      pull_duration(r.DurationHistogram(
          "descent_worker_pull_duration_seconds",
          "Wall time of one Pull from all shards, in parallel.")),
      compute_duration(r.DurationHistogram(
          "descent_worker_compute_duration_seconds",
          "Wall time of forward and backward on one mini-batch.")),
      wait_duration(r.DurationHistogram(
          "descent_worker_wait_duration_seconds",
          "Per push: the longest any shard's consistency gate held the "
          "answer (part of the push duration).")),
      train_loss(
          r.Gauge("descent_worker_train_loss", "Loss of the last mini-batch.")),
      steps_per_second(
          r.Gauge("descent_worker_steps_per_second",
                  "Training steps per second over the last 20 steps.")),
      examples_per_second(
          r.Gauge("descent_worker_examples_per_second",
                  "Training examples per second over the last 20 steps.")),
      gradient_norm(r.GaugeFamily(
          "descent_worker_gradient_norm",
          "L2 norm of the last step's gradient before clipping, per layer "
          "(parameter tensor) and in total (layer=\"total\").")),
      gradient_norm_total(gradient_norm.Add({{"layer", "total"}})) {}

ServerMetrics::ServerMetrics(MetricsRegistry& r)
    : pushes(r.Counter("descent_server_pushes_total",
                       "Gradient pushes applied (PushPull included).")),
      pulls(r.Counter("descent_server_pulls_total",
                      "Parameter pulls served (PushPull included).")),
      push_bytes(r.Counter("descent_server_push_bytes_total",
                           "Gradient payload bytes received.")),
      pull_bytes(r.Counter("descent_server_pull_bytes_total",
                           "Parameter payload bytes sent.")),
      rejected(r.CounterFamily(
          "descent_server_rejected_requests_total",
          "Requests refused, by reason; the shard's state is unchanged.")),
      staleness(r.Histogram(
          "descent_server_staleness_updates",
          "Shard version at apply time minus the version the pushed "
          "gradient was computed on.",
          {0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 1024})),
      dropped(r.Counter("descent_server_dropped_gradients_total",
                        "BSP: gradients that arrived after their step was "
                        "applied (backup workers), not applied.")),
      push_duration(
          r.DurationHistogram("descent_server_push_duration_seconds",
                              "Time to validate and apply one push.")),
      pull_duration(r.DurationHistogram("descent_server_pull_duration_seconds",
                                        "Time to copy out one pulled slice.")),
      apply_duration(r.DurationHistogram(
          "descent_server_apply_duration_seconds",
          "Time in the optimizer applying one update, under the shard's "
          "lock.")),
      parameters(r.Gauge("descent_server_parameters",
                         "Dense parameters held by this shard.")),
      sparse_rows(r.Gauge("descent_server_sparse_rows",
                          "Sparse-table rows held by this shard.")),
      version(
          r.Gauge("descent_server_version", "Updates applied to this shard.")),
      parameter_norm(r.Gauge("descent_server_parameter_norm",
                             "L2 norm of the shard's dense parameters, "
                             "measured every 10th update (at least every "
                             "second).")),
      update_norm(r.Gauge("descent_server_update_norm",
                          "L2 norm of the change the last measured update "
                          "made to the shard's dense parameters.")),
      memory(r.Gauge("descent_server_memory_bytes",
                     "Bytes the shard holds: parameters, optimizer state, "
                     "sparse table, buffers.")),
      memory_limit(r.Gauge("descent_server_memory_limit_bytes",
                           "Memory this process may use: its cgroup's "
                           "memory.max, or the machine's MemTotal.")) {
  // Every reason RejectReason (server/parameter_shard.h) and the service
  // give starts at 0, so dashboards and rates see the series before the
  // first rejection.
  for (const char* reason :
       {"wrong_job", "unknown_worker", "malformed", "non_finite",
        "non_finite_result", "future_version", "too_many_held", "row_limit",
        "lost", "superseded", "closed", "not_registered", "unknown_method",
        "unauthenticated", "other"}) {
    rejected.Add({{"reason", reason}});
  }
}

CoordinatorMetrics::CoordinatorMetrics(MetricsRegistry& r)
    : global_step(r.Gauge("descent_job_global_step",
                          "Steps completed by all workers together.")),
      epoch(r.Gauge("descent_job_epoch",
                    "Examples processed divided by the training set size.")),
      examples(r.Counter("descent_job_examples_total",
                         "Training examples processed by all workers.")),
      train_loss(r.Gauge("descent_job_train_loss",
                         "Mean recent mini-batch loss over workers.")),
      test_loss(r.Gauge("descent_job_test_loss",
                        "Mean loss on the test set at the last evaluation.")),
      test_accuracy(
          r.Gauge("descent_job_test_accuracy",
                  "Accuracy on the test set at the last evaluation.")),
      workers_alive(r.Gauge("descent_job_workers_alive",
                            "Workers registered and heard from recently.")),
      job_state(r.Gauge("descent_job_state",
                        "1 registering, 2 running, 3 succeeded, 4 failed.")),
      learning_rate(
          r.Gauge("descent_job_learning_rate",
                  "The optimizer schedule's learning rate at the updates "
                  "applied so far.")),
      config_info(r.GaugeFamily("descent_job_config_info",
                                "Always 1; config_hash identifies the job's "
                                "config (job_id excluded).")),
      registrations(r.Counter("descent_coordinator_registrations_total",
                              "Server and worker registrations accepted.")),
      rejected(r.CounterFamily(
          "descent_coordinator_rejected_requests_total",
          "Calls refused before they reached the job, by reason.")),
      heartbeats_missed(
          r.Counter("descent_coordinator_heartbeats_missed_total",
                    "Times a member went half its heartbeat timeout without a "
                    "heartbeat (the job fails at the full timeout).")),
      evaluations(r.Counter("descent_coordinator_evaluations_total",
                            "Test-set evaluations run.")),
      evaluation_duration(
          r.DurationHistogram("descent_coordinator_evaluation_duration_seconds",
                              "Time of one evaluation, pull included.")),
      pull_bytes(r.Counter("descent_coordinator_pull_bytes_total",
                           "Parameter bytes pulled for evaluation.")),
      pull_duration(r.DurationHistogram(
          "descent_coordinator_pull_duration_seconds",
          "Wall time of one Pull from all shards, in parallel.")),
      checkpoints(r.Counter("descent_coordinator_checkpoints_total",
                            "Parameter files written (best_params.bin).")),
      checkpoint_duration(r.DurationHistogram(
          "descent_coordinator_checkpoint_duration_seconds",
          "Time to write one parameter file, fsyncs included.")) {
  rejected.Add({{"reason", "unauthenticated"}});
}

FederatedMetrics::FederatedMetrics(MetricsRegistry& r)
    : rounds(r.Counter("descent_federated_rounds_total",
                       "Federated rounds completed (recorded).")),
      round(r.Gauge("descent_federated_round",
                    "The last completed round, counting from 1.")),
      sampled(r.Counter("descent_federated_clients_sampled_total",
                        "Clients sampled, over every attempt of every round.")),
      dropped(r.Counter("descent_federated_clients_dropped_total",
                        "Sampled clients that dropped out.")),
      late(r.Counter("descent_federated_clients_late_total",
                     "Reports past the round's deadline, or beyond the first "
                     "m under over-selection: not used.")),
      retries(r.Counter("descent_federated_round_retries_total",
                        "Round attempts beyond the first (too few reports).")),
      participants(r.Counter("descent_federated_participants_total",
                             "Client updates the rounds used.")),
      round_participants(r.Gauge("descent_federated_round_participants",
                                 "Clients whose updates the last round used.")),
      update_norm(r.Gauge("descent_federated_update_norm",
                          "L2 norm of the global model's change in the last "
                          "round.")),
      test_accuracy(r.Gauge("descent_federated_test_accuracy",
                            "Test accuracy of the global model at the last "
                            "evaluated round.")),
      test_loss(r.Gauge("descent_federated_test_loss",
                        "Test loss of the global model at the last evaluated "
                        "round.")),
      client_accuracy_mean(
          r.Gauge("descent_federated_client_accuracy_mean",
                  "Mean over clients of the accuracy on their held-out "
                  "examples, at the last evaluated round.")),
      client_accuracy_p10(
          r.Gauge("descent_federated_client_accuracy_p10",
                  "10th percentile over clients of the accuracy on their "
                  "held-out examples, at the last evaluated round.")),
      round_duration(r.DurationHistogram(
          "descent_federated_round_duration_seconds",
          "Wall time of one round on worker 0: its clients' training, the "
          "push and the barrier.")),
      simulated_seconds(r.Gauge("descent_federated_round_simulated_seconds",
                                "Simulated duration of the last round.")),
      privacy_epsilon(r.Gauge(
          "descent_federated_privacy_epsilon",
          "Differential privacy spent after the last recorded round: epsilon "
          "at privacy.delta (the classic RDP conversion).")),
      clip_norm(r.Gauge("descent_federated_clip_norm",
                        "Clip norm of the clients' deltas in the last "
                        "recorded round (privacy).")),
      secure_clients(r.Gauge("descent_federated_secure_clients",
                             "Clients whose masked updates the last round's "
                             "secure aggregation unmasked (0: it failed).")),
      secure_failed_rounds(
          r.Counter("descent_federated_secure_failed_rounds_total",
                    "Rounds whose secure aggregation failed (fewer than the "
                    "threshold of clients left): no update.")),
      secure_dropped(
          r.Counter("descent_federated_secure_dropped_total",
                    "Clients that dropped after sharing their keys (secure "
                    "aggregation rebuilt their masks).")) {}

}  // namespace descent
