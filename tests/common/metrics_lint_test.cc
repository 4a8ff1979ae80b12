// Every metric descent exports, checked in the text a scrape of /metrics
// returns against the naming rules of common/metrics.h: HELP and TYPE on
// every family; names descent_[a-z0-9_]+ (the standard process_ metrics
// excepted); counters end in _total and nothing else does; no summaries;
// durations in _seconds and sizes in _bytes; only the bounded labels. The
// dashboards and alerts in deploy/ are written against these names, so the
// test also lists the ones they need.
#include <cstring>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/metrics.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "prometheus/summary.h"
#include "prometheus/text_serializer.h"

namespace descent {
namespace {

const std::set<std::string> kAllowedLabels = {
    "role",   "job_id",  "shard",    "worker",     "layer",
    "reason", "version", "revision", "config_hash"};

const std::set<std::string> kProcessMetrics = {"process_cpu_seconds_total",
                                               "process_resident_memory_bytes",
                                               "process_virtual_memory_bytes",
                                               "process_open_fds",
                                               "process_max_fds",
                                               "process_start_time_seconds"};

bool IsDescentName(const std::string& name) {
  if (!absl::StartsWith(name, "descent_") || name.size() == 8) return false;
  for (char c : name) {
    if (!(c >= 'a' && c <= 'z') && !(c >= '0' && c <= '9') && c != '_') {
      return false;
    }
  }
  return true;
}

// The label names of one sample line ("name{a=\"x\",b=\"y\"} 1").
std::vector<std::string> LabelNames(const std::string& line) {
  std::vector<std::string> names;
  size_t i = line.find('{');
  if (i == std::string::npos || i > line.find(' ')) return names;
  while (line[i] != '}') {
    const size_t equals = line.find('=', i + 1);
    names.push_back(line.substr(i + 1, equals - i - 1));
    i = equals + 2;  // past ="
    while (line[i] != '"') i += line[i] == '\\' ? 2 : 1;
    ++i;  // past the closing quote, to ',' or '}'
  }
  return names;
}

struct FamilyText {
  std::string type;
  std::string help;
  bool has_help = false;
};

// The rules `family` (with `info` from its HELP and TYPE lines) breaks.
void LintFamily(const std::string& name, const FamilyText& info,
                std::vector<std::string>* problems) {
  auto problem = [&](const std::string& what) {
    problems->push_back(absl::StrCat(name, ": ", what));
  };
  auto ends = [&](const char* suffix) { return absl::EndsWith(name, suffix); };
  auto has = [&](const char* part) { return absl::StrContains(name, part); };
  if (!info.has_help || info.help.empty()) problem("no HELP text");
  if (info.type.empty()) problem("no TYPE");
  if (!IsDescentName(name) && kProcessMetrics.count(name) == 0) {
    problem("not descent_[a-z0-9_]+ nor a standard process_ metric");
  }
  if (info.type == "summary" || info.type == "untyped") {
    problem(absl::StrCat(info.type, ": use a histogram or a gauge"));
  }
  if (info.type == "counter" && !ends("_total")) problem("counter not _total");
  if (info.type != "counter" && ends("_total")) problem("_total, not counter");
  if ((has("duration") || has("latency") || has("_time")) &&
      !ends("_seconds") && !ends("_seconds_total")) {
    problem("a duration not in _seconds");
  }
  if ((has("bytes") || has("memory")) && !ends("_bytes") &&
      !ends("_bytes_total")) {
    problem("a size not in _bytes");
  }
  if (has("seconds") && !ends("_seconds") && !ends("_seconds_total")) {
    problem("_seconds not at the end");
  }
}

// Every rule the exposition `text` breaks, one line each; empty if none.
std::vector<std::string> Lint(const std::string& text) {
  std::map<std::string, FamilyText> families;
  std::vector<std::string> samples;
  const std::vector<std::string> lines = absl::StrSplit(text, '\n');
  for (const std::string& line : lines) {
    if (absl::StartsWith(line, "# HELP ") ||
        absl::StartsWith(line, "# TYPE ")) {
      std::vector<std::string> parts =
          absl::StrSplit(line.substr(7), absl::MaxSplits(' ', 1));
      FamilyText& family = families[parts[0]];
      const std::string rest = parts.size() > 1 ? parts[1] : "";
      if (line[2] == 'H') {
        family.has_help = true;
        family.help = rest;
      } else {
        family.type = rest;
      }
    } else if (!line.empty() && line[0] != '#') {
      samples.push_back(line);
    }
  }
  std::vector<std::string> problems;
  for (const auto& [name, info] : families) LintFamily(name, info, &problems);
  for (const std::string& sample : samples) {
    std::string name = sample.substr(0, sample.find_first_of("{ "));
    bool bucket = false;
    for (const char* suffix : {"_bucket", "_sum", "_count"}) {
      const std::string base = name.substr(0, name.size() - strlen(suffix));
      if (absl::EndsWith(name, suffix) && families.count(base) &&
          families[base].type == "histogram") {
        bucket = std::string(suffix) == "_bucket";
        name = base;
      }
    }
    if (families.count(name) == 0) {
      problems.push_back(absl::StrCat(name, ": a sample without TYPE"));
    }
    for (const std::string& label : LabelNames(sample)) {
      if (kAllowedLabels.count(label) == 0 && !(bucket && label == "le")) {
        problems.push_back(absl::StrCat(name, ": label ", label,
                                        " is not one of the bounded ones"));
      }
    }
  }
  return problems;
}

std::string Text(const std::vector<prometheus::MetricFamily>& families) {
  return prometheus::TextSerializer().Serialize(families);
}

std::unique_ptr<MetricsRegistry> Start(
    std::map<std::string, std::string> labels) {
  return MetricsRegistry::Create(std::move(labels));
}

// Every role's registry with its metrics, each family with at least one
// series. Built once and never destroyed.
class MetricsLintTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (worker_ != nullptr) return;
    // As the roles do: a worker learns its id and job at registration,
    // before it creates its metrics; a server creates its metrics first.
    worker_ = Start({{"role", "worker"}}).release();
    worker_->AddLabel("worker", "0");
    worker_->AddLabel("job_id", "job-1");
    WorkerMetrics worker(*worker_);
    worker.gradient_norm.Add({{"layer", "weights"}});
    server_ = Start({{"role", "server"}, {"shard", "0"}}).release();
    ServerMetrics server(*server_);
    server.rejected.Add({{"reason", "malformed"}});
    server_->AddLabel("job_id", "job-1");
    coordinator_ =
        Start({{"role", "coordinator"}, {"job_id", "job-1"}}).release();
    CoordinatorMetrics coordinator(*coordinator_);
    coordinator.config_info.Add({{"config_hash", "0123456789abcdef"}}).Set(1);
    FederatedMetrics federated(*coordinator_);  // a federated job's
  }

  static MetricsRegistry* worker_;
  static MetricsRegistry* server_;
  static MetricsRegistry* coordinator_;
};

MetricsRegistry* MetricsLintTest::worker_ = nullptr;
MetricsRegistry* MetricsLintTest::server_ = nullptr;
MetricsRegistry* MetricsLintTest::coordinator_ = nullptr;

TEST_F(MetricsLintTest, EveryFamilyFollowsTheRules) {
  for (MetricsRegistry* registry : {worker_, server_, coordinator_}) {
    const std::string text = Text(registry->Collect());
    EXPECT_EQ(absl::StrJoin(Lint(text), "\n"), "") << text;
  }
}

TEST_F(MetricsLintTest, ServesTheMetricsTheDashboardsUse) {
  std::set<std::string> names;
  for (MetricsRegistry* registry : {worker_, server_, coordinator_}) {
    for (const prometheus::MetricFamily& f : registry->Collect()) {
      names.insert(f.name);
      EXPECT_FALSE(f.metric.empty()) << f.name << " has no series";
    }
  }
  for (const char* name : {
           "descent_build_info",
           "descent_job_config_info",
           "descent_job_global_step",
           "descent_job_epoch",
           "descent_job_examples_total",
           "descent_job_train_loss",
           "descent_job_test_loss",
           "descent_job_test_accuracy",
           "descent_job_learning_rate",
           "descent_job_workers_alive",
           "descent_job_state",
           "descent_worker_steps_total",
           "descent_worker_examples_total",
           "descent_worker_steps_per_second",
           "descent_worker_examples_per_second",
           "descent_worker_compute_duration_seconds",
           "descent_worker_push_duration_seconds",
           "descent_worker_pull_duration_seconds",
           "descent_worker_wait_duration_seconds",
           "descent_worker_gradient_norm",
           "descent_worker_push_bytes_total",
           "descent_worker_pull_bytes_total",
           "descent_server_pushes_total",
           "descent_server_pulls_total",
           "descent_server_rejected_requests_total",
           "descent_server_apply_duration_seconds",
           "descent_server_parameter_norm",
           "descent_server_update_norm",
           "descent_server_staleness_updates",
           "descent_server_parameters",
           "descent_server_sparse_rows",
           "descent_server_memory_bytes",
           "descent_server_memory_limit_bytes",
           "descent_coordinator_registrations_total",
           "descent_coordinator_rejected_requests_total",
           "descent_coordinator_heartbeats_missed_total",
           "descent_coordinator_evaluations_total",
           "descent_coordinator_checkpoints_total",
           "descent_coordinator_checkpoint_duration_seconds",
           "descent_federated_rounds_total",
           "descent_federated_round",
           "descent_federated_clients_sampled_total",
           "descent_federated_clients_dropped_total",
           "descent_federated_clients_late_total",
           "descent_federated_round_retries_total",
           "descent_federated_round_participants",
           "descent_federated_update_norm",
           "descent_federated_test_accuracy",
           "descent_federated_client_accuracy_mean",
           "descent_federated_client_accuracy_p10",
           "descent_federated_round_duration_seconds",
           "process_cpu_seconds_total",
           "process_resident_memory_bytes",
           "process_virtual_memory_bytes",
           "process_open_fds",
           "process_max_fds",
           "process_start_time_seconds",
       }) {
    EXPECT_EQ(names.count(name), 1u) << name;
  }
}

TEST_F(MetricsLintTest, LabelsAddedLaterReachTheProcessMetrics) {
  const std::string text = Text(worker_->Collect());
  EXPECT_THAT(text, ::testing::HasSubstr("process_open_fds{job_id=\"job-1\","
                                         "role=\"worker\",worker=\"0\"}"));
}

// Dashboards and alerts select and aggregate by job_id: every sample of
// every role carries it, the server's metrics created before it learned
// its job included.
TEST_F(MetricsLintTest, EveryMetricCarriesTheJobId) {
  for (MetricsRegistry* registry : {worker_, server_, coordinator_}) {
    const std::string text = Text(registry->Collect());
    int samples = 0;
    const std::vector<std::string> lines = absl::StrSplit(text, '\n');
    for (const std::string& line : lines) {
      if (line.empty() || line[0] == '#') continue;
      ++samples;
      EXPECT_THAT(LabelNames(line), ::testing::Contains("job_id")) << line;
      EXPECT_THAT(line, ::testing::HasSubstr("job_id=\"job-1\"")) << line;
    }
    EXPECT_GT(samples, 20);
  }
}

// A label added once the metrics exist changes no label a metric already
// has, and reaches every series of a labelled family.
TEST(MetricsRegistryTest, AddLabelKeepsExistingLabels) {
  std::unique_ptr<MetricsRegistry> registry =
      MetricsRegistry::Create({{"role", "server"}});
  registry->CounterFamily("descent_x_total", "h").Add({{"reason", "a"}});
  registry->AddLabel("job_id", "j");
  EXPECT_THAT(
      Text(registry->Collect()),
      ::testing::HasSubstr(
          "descent_x_total{job_id=\"j\",reason=\"a\",role=\"server\"} 0"));
}

// One family that breaks a rule, alone in a registry: the lint must say so.
TEST(MetricsLintRulesTest, CatchesEachBrokenRule) {
  using Add = void (*)(prometheus::Registry&);
  const std::vector<std::pair<std::string, Add>> bad = {
      {"descent_requests",
       [](prometheus::Registry& r) {
         prometheus::BuildCounter()
             .Name("descent_requests")
             .Help("h")
             .Register(r)
             .Add({});
       }},
      {"descent_rpc_latency_seconds",
       [](prometheus::Registry& r) {
         prometheus::BuildSummary()
             .Name("descent_rpc_latency_seconds")
             .Help("h")
             .Register(r)
             .Add({}, prometheus::Summary::Quantiles{});
       }},
      {"descent_wait_duration",
       [](prometheus::Registry& r) {
         prometheus::BuildHistogram()
             .Name("descent_wait_duration")
             .Help("h")
             .Register(r)
             .Add({}, prometheus::Histogram::BucketBoundaries{1});
       }},
      {"descent_sent_bytes_sum_total",
       [](prometheus::Registry& r) {
         prometheus::BuildCounter()
             .Name("descent_sent_bytes_sum_total")
             .Help("h")
             .Register(r)
             .Add({});
       }},
      {"descent_memory_kib",
       [](prometheus::Registry& r) {
         prometheus::BuildGauge()
             .Name("descent_memory_kib")
             .Help("h")
             .Register(r)
             .Add({});
       }},
      {"descent_step_count_total",
       [](prometheus::Registry& r) {
         prometheus::BuildGauge()
             .Name("descent_step_count_total")
             .Help("h")
             .Register(r)
             .Add({});
       }},
      {"requests_in_flight",
       [](prometheus::Registry& r) {
         prometheus::BuildGauge()
             .Name("requests_in_flight")
             .Help("h")
             .Register(r)
             .Add({});
       }},
      {"process_threads",
       [](prometheus::Registry& r) {
         prometheus::BuildGauge()
             .Name("process_threads")
             .Help("h")
             .Register(r)
             .Add({});
       }},
      {"descent_rows",
       [](prometheus::Registry& r) {
         prometheus::BuildGauge()
             .Name("descent_rows")
             .Help("h")
             .Register(r)
             .Add({{"key", "12345"}});
       }},
      {"descent_loss",
       [](prometheus::Registry& r) {
         prometheus::BuildGauge()
             .Name("descent_loss")
             .Help("")
             .Register(r)
             .Add({});
       }},
  };
  for (const auto& [name, add] : bad) {
    prometheus::Registry registry;
    add(registry);
    const std::vector<std::string> problems = Lint(Text(registry.Collect()));
    EXPECT_THAT(problems, ::testing::Contains(::testing::StartsWith(name)))
        << "no problem found with " << name;
  }
  // And a family that follows every rule passes.
  prometheus::Registry good;
  prometheus::BuildHistogram()
      .Name("descent_x_duration_seconds")
      .Help("h")
      .Labels({{"role", "worker"}})
      .Register(good)
      .Add({{"layer", "w"}}, prometheus::Histogram::BucketBoundaries{1});
  EXPECT_EQ(absl::StrJoin(Lint(Text(good.Collect())), "\n"), "");
}

}  // namespace
}  // namespace descent
