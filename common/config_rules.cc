// Defaults and validation rules of JobConfig. The defaults here are the ones
// documented in proto/descent/v1/job.proto and in the README.
#include <cmath>
#include <limits>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/config.h"

namespace descent {
namespace {

std::optional<ConfigIssue> OutOfRange(const std::string& path, double value,
                                      double low, double high) {
  if (std::isfinite(value) && value >= low && value <= high) {
    return std::nullopt;
  }
  return ConfigIssue{
      path, absl::StrCat("must be in [", low, ", ", high, "], got ", value)};
}

std::optional<ConfigIssue> Positive(const std::string& path, double value) {
  if (std::isfinite(value) && value > 0) return std::nullopt;
  return ConfigIssue{path,
                     absl::StrCat("must be a finite number > 0, got ", value)};
}

std::optional<ConfigIssue> Required(const std::string& path, bool present,
                                    const std::string& what) {
  if (present) return std::nullopt;
  return ConfigIssue{path, absl::StrCat("is required: ", what)};
}

std::optional<ConfigIssue> CheckJobId(const v1::JobConfig& c) {
  const std::string& id = c.job_id();
  bool ok = id.size() <= 64;
  for (char ch : id) {
    ok = ok && (absl::ascii_isalnum(ch) || ch == '-' || ch == '_' || ch == '.');
  }
  if (ok) return std::nullopt;
  return ConfigIssue{"job_id",
                     "must be at most 64 characters of [A-Za-z0-9._-]"};
}

std::optional<ConfigIssue> CheckCluster(const v1::JobConfig& c) {
  const v1::ClusterConfig& k = c.cluster();
  for (auto issue :
       {OutOfRange("cluster.num_servers", k.num_servers(), 1, 1024),
        OutOfRange("cluster.num_workers", k.num_workers(), 1, 4096),
        Positive("cluster.heartbeat_timeout_seconds",
                 k.heartbeat_timeout_seconds()),
        Positive("cluster.registration_timeout_seconds",
                 k.registration_timeout_seconds()),
        Positive("cluster.rpc_deadline_seconds", k.rpc_deadline_seconds())}) {
    if (issue) return issue;
  }
  return std::nullopt;
}

std::optional<ConfigIssue> CheckModel(const v1::JobConfig& c) {
  return Required("model",
                  c.model().model_case() != v1::ModelConfig::MODEL_NOT_SET,
                  "choose a model, e.g. model { softmax_regression {} }");
}

std::optional<ConfigIssue> CheckData(const v1::JobConfig& c) {
  if (!c.data().has_idx()) {
    return Required("data", false,
                    "choose a source, e.g. data { idx { ... } }");
  }
  const v1::IdxDataConfig& idx = c.data().idx();
  for (auto issue :
       {Required("data.idx.train_images", !idx.train_images().empty(),
                 "a path"),
        Required("data.idx.train_labels", !idx.train_labels().empty(),
                 "a path"),
        Required("data.idx.test_images", !idx.test_images().empty(), "a path"),
        Required("data.idx.test_labels", !idx.test_labels().empty(), "a path"),
        OutOfRange("data.idx.num_classes", idx.num_classes(), 2, 65536)}) {
    if (issue) return issue;
  }
  return std::nullopt;
}

std::optional<ConfigIssue> CheckTrain(const v1::JobConfig& c) {
  const v1::TrainConfig& t = c.train();
  for (auto issue : {OutOfRange("train.epochs", t.epochs(), 1, 100000),
                     OutOfRange("train.batch_size", t.batch_size(), 1, 1 << 20),
                     OutOfRange("train.threads", t.threads(), 0, 1024),
                     OutOfRange("train.eval_every_steps", t.eval_every_steps(),
                                0, std::numeric_limits<int32_t>::max())}) {
    if (issue) return issue;
  }
  if (t.consistency() != v1::ASP) {
    return ConfigIssue{"train.consistency", "only ASP is supported so far"};
  }
  return std::nullopt;
}

std::optional<ConfigIssue> CheckOptimizer(const v1::JobConfig& c) {
  if (!c.optimizer().has_sgd()) {
    return Required("optimizer", false,
                    "e.g. optimizer { sgd { learning_rate: 0.1 } }");
  }
  return Positive("optimizer.sgd.learning_rate",
                  c.optimizer().sgd().learning_rate());
}

}  // namespace

void ApplyDefaults(v1::JobConfig* config) {
  v1::ClusterConfig* cluster = config->mutable_cluster();
  if (!cluster->has_num_servers()) cluster->set_num_servers(1);
  if (!cluster->has_num_workers()) cluster->set_num_workers(1);
  if (!cluster->has_heartbeat_timeout_seconds()) {
    cluster->set_heartbeat_timeout_seconds(10);
  }
  if (!cluster->has_registration_timeout_seconds()) {
    cluster->set_registration_timeout_seconds(60);
  }
  if (!cluster->has_rpc_deadline_seconds())
    cluster->set_rpc_deadline_seconds(10);
  if (config->data().has_idx() && !config->data().idx().has_num_classes()) {
    config->mutable_data()->mutable_idx()->set_num_classes(10);
  }
  v1::TrainConfig* train = config->mutable_train();
  if (!train->has_epochs()) train->set_epochs(1);
  if (!train->has_batch_size()) train->set_batch_size(32);
  if (!train->has_seed()) train->set_seed(1);
  if (!train->has_threads()) train->set_threads(0);
  if (!train->has_eval_every_steps()) train->set_eval_every_steps(1000);
  if (train->consistency() == v1::CONSISTENCY_UNSPECIFIED) {
    train->set_consistency(v1::ASP);
  }
  if (config->model().has_softmax_regression() &&
      config->model().softmax_regression().weight_init() ==
          v1::INIT_RULE_UNSPECIFIED) {
    config->mutable_model()->mutable_softmax_regression()->set_weight_init(
        v1::XAVIER_UNIFORM);
  }
  if (config->optimizer().has_sgd() &&
      !config->optimizer().sgd().has_learning_rate()) {
    config->mutable_optimizer()->mutable_sgd()->set_learning_rate(0.1);
  }
}

std::optional<ConfigIssue> FindConfigIssue(const v1::JobConfig& config) {
  for (auto check : {CheckJobId, CheckCluster, CheckModel, CheckData,
                     CheckTrain, CheckOptimizer}) {
    if (auto issue = check(config)) return issue;
  }
  return std::nullopt;
}

}  // namespace descent
