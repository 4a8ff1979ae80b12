// The validation rules of JobConfig (FindConfigIssue, common/config.h),
// checked after defaults are applied (common/config_defaults.cc).
#include <cmath>
#include <limits>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/config/config.h"
#include "common/config/job_options.h"
#include "common/data/csv_reader.h"
#include "common/data/data_source.h"
#include "common/federated/round_plan.h"
#include "common/optim/optimizer.h"

namespace descent {
namespace {

std::optional<FieldProblem> OutOfRange(const std::string& path, double value,
                                       double low, double high) {
  return Require(std::isfinite(value) && value >= low && value <= high, path,
                 absl::StrCat("in [", low, ", ", high, "]"), value);
}

std::optional<FieldProblem> Positive(const std::string& path, double value) {
  return Require(std::isfinite(value) && value > 0, path, "a finite number > 0",
                 value);
}

std::optional<FieldProblem> Required(const std::string& path, bool present,
                                     const std::string& what) {
  if (present) return std::nullopt;
  return FieldProblem{path, absl::StrCat("is required: ", what)};
}

std::optional<FieldProblem> CheckJobId(const v1::JobConfig& c) {
  const std::string& id = c.job_id();
  bool ok = id.size() <= 64;
  for (char ch : id) {
    ok = ok && (absl::ascii_isalnum(ch) || ch == '-' || ch == '_' || ch == '.');
  }
  if (ok) return std::nullopt;
  return FieldProblem{"job_id",
                      "must be at most 64 characters of [A-Za-z0-9._-]"};
}

std::optional<FieldProblem> CheckCluster(const v1::JobConfig& c) {
  const v1::ClusterConfig& k = c.cluster();
  for (auto issue :
       {OutOfRange("cluster.num_servers", k.num_servers(), 1, 1024),
        OutOfRange("cluster.num_workers", k.num_workers(), 1, 4096),
        Positive("cluster.heartbeat_timeout_seconds",
                 k.heartbeat_timeout_seconds()),
        Positive("cluster.registration_timeout_seconds",
                 k.registration_timeout_seconds()),
        Positive("cluster.rpc_deadline_seconds", k.rpc_deadline_seconds()),
        OutOfRange("cluster.max_worker_restarts", k.max_worker_restarts(), 0,
                   1000),
        OutOfRange("cluster.max_server_restarts", k.max_server_restarts(), 0,
                   1000),
        OutOfRange("cluster.max_workers", k.max_workers(), k.num_workers(),
                   k.num_workers() + 4096),
        OutOfRange("cluster.max_sparse_rows_per_shard",
                   static_cast<double>(k.max_sparse_rows_per_shard()), 1,
                   static_cast<double>(int64_t{1} << 40))}) {
    if (issue) return issue;
  }
  return std::nullopt;
}

std::optional<FieldProblem> CheckLayer(const v1::LayerConfig& layer, int i) {
  const std::string path = absl::StrCat("model.cnn.layers[", i, "]");
  switch (layer.layer_case()) {
    case v1::LayerConfig::kConv:
      return First(
          {OutOfRange(path + ".conv.out_channels", layer.conv().out_channels(),
                      1, 65536),
           OutOfRange(path + ".conv.kernel", layer.conv().kernel(), 1, 1024),
           OutOfRange(path + ".conv.stride", layer.conv().stride(), 1, 1024),
           OutOfRange(path + ".conv.padding", layer.conv().padding(), 0,
                      1024)});
    case v1::LayerConfig::kMaxPool:
      return First({OutOfRange(path + ".max_pool.size", layer.max_pool().size(),
                               1, 1024),
                    OutOfRange(path + ".max_pool.stride",
                               layer.max_pool().stride(), 1, 1024)});
    case v1::LayerConfig::kDense:
      return OutOfRange(path + ".dense.units", layer.dense().units(), 1,
                        1 << 20);
    default:
      return FieldProblem{path, "choose conv, max_pool or dense"};
  }
}

std::optional<FieldProblem> CheckModel(const v1::JobConfig& c) {
  const v1::ModelConfig& m = c.model();
  if (m.model_case() == v1::ModelConfig::MODEL_NOT_SET) {
    return Required("model", false,
                    "choose a model, e.g. model { softmax_regression {} }");
  }
  if (auto issue = First({OutOfRange("model.l2", m.l2(), 0, 1e6),
                          OutOfRange("model.l1", m.l1(), 0, 1e6)})) {
    return issue;
  }
  if (m.l1() != 0 && !m.has_linear_regression() &&
      !m.has_logistic_regression() && !m.has_linear_svm()) {
    return FieldProblem{"model.l1",
                        "is supported by linear_regression, "
                        "logistic_regression and linear_svm only"};
  }
  if (m.mlp().hidden_size() > 0 && m.mlp().layers_size() > 0) {
    return FieldProblem{"model.mlp", "give either hidden or layers, not both"};
  }
  for (int i = 0; i < m.mlp().layers_size(); ++i) {
    if (auto issue = OutOfRange(absl::StrCat("model.mlp.layers[", i, "].units"),
                                m.mlp().layers(i).units(), 1, 1 << 20)) {
      return issue;
    }
  }
  for (int i = 0; i < m.mlp().hidden_size(); ++i) {
    if (auto issue = OutOfRange(absl::StrCat("model.mlp.hidden[", i, "]"),
                                m.mlp().hidden(i), 1, 1 << 20)) {
      return issue;
    }
  }
  if (m.has_cnn()) {
    const v1::CnnConfig& cnn = m.cnn();
    if ((cnn.preset() == v1::CnnConfig::PRESET_UNSPECIFIED) ==
        (cnn.layers_size() == 0)) {
      return FieldProblem{"model.cnn",
                          "give either a preset or layers, not both"};
    }
    for (int i = 0; i < cnn.layers_size(); ++i) {
      if (auto issue = CheckLayer(cnn.layers(i), i)) return issue;
    }
    if (!c.data().has_idx()) {
      return FieldProblem{"model.cnn",
                          "needs image data: data { idx { ... } }"};
    }
  }
  if (m.has_matrix_factorization() && !c.data().has_ratings() &&
      c.data().synthetic().kind() != v1::SyntheticDataConfig::RATINGS) {
    return FieldProblem{"model.matrix_factorization",
                        "needs ratings: data { ratings { ... } } or synthetic "
                        "data of kind RATINGS"};
  }
  if (c.data().has_ratings() && !m.has_matrix_factorization()) {
    return FieldProblem{"data.ratings",
                        "can only train model { matrix_factorization {} }"};
  }
  if (c.data().synthetic().kind() == v1::SyntheticDataConfig::RATINGS &&
      !m.has_matrix_factorization()) {
    return FieldProblem{"data.synthetic.kind",
                        "RATINGS can only train model { matrix_factorization "
                        "{} }"};
  }
  if (m.has_factorization_machine()) {
    return First({OutOfRange("model.factorization_machine.factor_dim",
                             m.factorization_machine().factor_dim(), 1, 4096),
                  OutOfRange("model.factorization_machine.init_stddev",
                             m.factorization_machine().init_stddev(), 0, 10)});
  }
  if (m.has_matrix_factorization()) {
    return First({OutOfRange("model.matrix_factorization.rank",
                             m.matrix_factorization().rank(), 1, 4096),
                  OutOfRange("model.matrix_factorization.init_stddev",
                             m.matrix_factorization().init_stddev(), 0, 10)});
  }
  return std::nullopt;
}

// The issue with a pair of train/test paths and their hold-out rule.
std::optional<FieldProblem> CheckSplit(const std::string& path,
                                       const std::string& train,
                                       int32_t test_every) {
  return First({Required(path + ".train", !train.empty(), "a path"),
                OutOfRange(path + ".test_every", test_every, 2, 1000000)});
}

std::optional<FieldProblem> CheckSynthetic(const v1::SyntheticDataConfig& s) {
  const std::string p = "data.synthetic.";
  if (s.kind() == v1::SyntheticDataConfig::KIND_UNSPECIFIED) {
    return Required(p + "kind", false,
                    "LINEAR_REGRESSION, LOGISTIC, CTR or RATINGS");
  }
  if (auto issue =
          First({OutOfRange(p + "train_examples", s.train_examples(), 1, 1e9),
                 OutOfRange(p + "test_examples", s.test_examples(), 1, 1e9),
                 OutOfRange(p + "features", s.features(), 1, 1e9),
                 OutOfRange(p + "noise_stddev", s.noise_stddev(), 0, 1e3),
                 OutOfRange(p + "factor_dim", s.factor_dim(), 1, 1024),
                 OutOfRange(p + "users", s.users(), 1, 1e9),
                 OutOfRange(p + "items", s.items(), 1, 1e9),
                 OutOfRange(p + "rank", s.rank(), 1, 1024)})) {
    return issue;
  }
  if (s.kind() == v1::SyntheticDataConfig::CTR) {
    // Distinct ids are drawn by rejection: keep rows well below the width.
    return OutOfRange(p + "nnz_per_row", s.nnz_per_row(), 1, s.features() / 2);
  }
  if (s.kind() == v1::SyntheticDataConfig::RATINGS) {
    const double pairs = static_cast<double>(s.users()) * s.items();
    return OutOfRange(
        p + "train_examples + test_examples",
        static_cast<double>(s.train_examples() + s.test_examples()), 2,
        pairs / 2);
  }
  return std::nullopt;
}

// One character, and not one that RFC 4180 gives a meaning of its own.
std::optional<FieldProblem> CheckDelimiter(const std::string& delimiter) {
  if (ParseCsvDelimiter(delimiter).has_value()) return std::nullopt;
  return FieldProblem{
      "data.csv.delimiter",
      absl::StrCat("must be one character other than a quote or a line "
                   "break, e.g. \";\" or \"\\t\" (got \"",
                   absl::CEscape(delimiter), "\")")};
}

std::optional<FieldProblem> CheckData(const v1::JobConfig& c) {
  const v1::DataConfig& d = c.data();
  switch (d.source_case()) {
    case v1::DataConfig::kIdx: {
      const v1::IdxDataConfig& idx = d.idx();
      return First(
          {Required("data.idx.train_images", !idx.train_images().empty(),
                    "a path"),
           Required("data.idx.train_labels", !idx.train_labels().empty(),
                    "a path"),
           Required("data.idx.test_images", !idx.test_images().empty(),
                    "a path"),
           Required("data.idx.test_labels", !idx.test_labels().empty(),
                    "a path"),
           OutOfRange("data.idx.num_classes", idx.num_classes(), 2, 65536),
           OutOfRange("data.idx.max_train_examples", idx.max_train_examples(),
                      0, 1e12),
           OutOfRange("data.idx.max_test_examples", idx.max_test_examples(), 0,
                      1e12)});
    }
    case v1::DataConfig::kCsv:
      return First(
          {CheckSplit("data.csv", d.csv().train(), d.csv().test_every()),
           OutOfRange("data.csv.num_classes", d.csv().num_classes(), 0, 65536),
           OutOfRange("data.csv.skip_lines", d.csv().skip_lines(), 0, 1e9),
           CheckDelimiter(d.csv().delimiter())});
    case v1::DataConfig::kLibsvm:
      return First({CheckSplit("data.libsvm", d.libsvm().train(),
                               d.libsvm().test_every()),
                    OutOfRange("data.libsvm.num_classes",
                               d.libsvm().num_classes(), 0, 65536),
                    OutOfRange("data.libsvm.max_features",
                               static_cast<double>(d.libsvm().max_features()),
                               1, static_cast<double>(int64_t{1} << 40))});
    case v1::DataConfig::kRatings:
      return CheckSplit("data.ratings", d.ratings().train(),
                        d.ratings().test_every());
    case v1::DataConfig::kSynthetic:
      return CheckSynthetic(d.synthetic());
    default:
      return Required("data", false,
                      "choose a source, e.g. data { idx { ... } }");
  }
}

// data.validation_fraction, or the source's validation file(s), not both.
std::optional<FieldProblem> CheckValidation(const v1::JobConfig& c) {
  const v1::DataConfig& d = c.data();
  if (auto issue = OutOfRange("data.validation_fraction",
                              d.validation_fraction(), 0, 0.5)) {
    return issue;
  }
  std::string file_field;
  if (d.has_idx()) {
    const v1::IdxDataConfig& idx = d.idx();
    if (idx.validation_images().empty() != idx.validation_labels().empty()) {
      return FieldProblem{
          idx.validation_images().empty() ? "data.idx.validation_images"
                                          : "data.idx.validation_labels",
          "validation images and labels go together: set both or neither"};
    }
    if (!idx.validation_images().empty()) {
      file_field = "data.idx.validation_images";
    }
  } else if (d.has_csv() && !d.csv().validation().empty()) {
    file_field = "data.csv.validation";
  } else if (d.has_libsvm() && !d.libsvm().validation().empty()) {
    file_field = "data.libsvm.validation";
  } else if (d.has_ratings() && !d.ratings().validation().empty()) {
    file_field = "data.ratings.validation";
  }
  if (!file_field.empty() && d.validation_fraction() > 0) {
    return FieldProblem{"data.validation_fraction",
                        absl::StrCat("holds out part of the training data, "
                                     "but ",
                                     file_field,
                                     " already names a validation file: "
                                     "keep one of the two")};
  }
  return std::nullopt;
}

// train.communication: compressed pushes and local SGD.
std::optional<FieldProblem> CheckCommunication(const v1::JobConfig& c) {
  const v1::TrainConfig& t = c.train();
  const v1::CommunicationConfig& m = t.communication();
  if (!v1::ValueEncoding_IsValid(m.encoding())) {
    return FieldProblem{"train.communication.encoding",
                        absl::StrCat("must be FLOAT32, FLOAT16 or BFLOAT16, ",
                                     "got ", static_cast<int>(m.encoding()))};
  }
  if (!(m.top_k_fraction() >= 0 && m.top_k_fraction() < 1)) {
    return FieldProblem{
        "train.communication.top_k_fraction",
        absl::StrCat("must be in [0, 1) (0: off), got ", m.top_k_fraction())};
  }
  if (auto issue =
          OutOfRange("train.communication.push_every",
                     m.has_push_every() ? m.push_every() : 1, 1, 1000000)) {
    return issue;
  }
  if (m.has_local_learning_rate()) {
    if (auto issue = Positive("train.communication.local_learning_rate",
                              m.local_learning_rate())) {
      return issue;
    }
  }
  if (m.push_every() <= 1) return std::nullopt;
  if (t.consistency() != v1::ASP) {
    return FieldProblem{"train.communication.push_every",
                        "local SGD (push_every > 1) runs under ASP only; BSP "
                        "and SSP count every step of every worker"};
  }
  if (IsSparseModel(c.model())) {
    return FieldProblem{"train.communication.push_every",
                        "local SGD (push_every > 1) is for dense models; a "
                        "sparse model's rows are fetched every step"};
  }
  if (t.overlap_communication()) {
    return FieldProblem{"train.overlap_communication",
                        "local SGD (train.communication.push_every > 1) does "
                        "not overlap its pushes (leave it unset or false)"};
  }
  return std::nullopt;
}

std::optional<FieldProblem> CheckTrain(const v1::JobConfig& c) {
  const v1::TrainConfig& t = c.train();
  for (auto issue : {OutOfRange("train.epochs", t.epochs(), 1, 100000),
                     OutOfRange("train.batch_size", t.batch_size(), 0, 1 << 20),
                     OutOfRange("train.threads", t.threads(), 0, 1024),
                     OutOfRange("train.eval_every_steps", t.eval_every_steps(),
                                0, std::numeric_limits<int32_t>::max())}) {
    if (issue) return issue;
  }
  if (t.overlap_communication() && !CanOverlapPushes(t.consistency())) {
    return FieldProblem{"train.overlap_communication",
                        "only ASP overlaps pushes; BSP and SSP wait for each "
                        "answer (leave it unset or false)"};
  }
  for (auto issue : {OutOfRange("train.staleness", t.staleness(), 0, 1000000),
                     OutOfRange("train.backup_workers", t.backup_workers(), 0,
                                c.cluster().num_workers() - 1)}) {
    if (issue) return issue;
  }
  return CheckCommunication(c);
}

// Early stopping, the divergence guard and the gradient-norm band.
std::optional<FieldProblem> CheckTrainingGuards(const v1::JobConfig& c) {
  const v1::TrainConfig& t = c.train();
  const v1::EarlyStoppingConfig& stop = t.early_stopping();
  const v1::GradientNormBand& band = t.gradient_norm_band();
  if (auto issue = First(
          {OutOfRange("train.early_stopping.patience", stop.patience(), 0,
                      1000000),
           OutOfRange("train.early_stopping.min_delta", stop.min_delta(), 0,
                      1e30),
           OutOfRange("train.gradient_norm_band.min", band.min(), 0, 1e30),
           OutOfRange("train.gradient_norm_band.max", band.max(), 0, 1e30)})) {
    return issue;
  }
  if (!EarlyStoppingOn(t) && stop.min_delta() != 0) {
    return FieldProblem{"train.early_stopping.min_delta",
                        "has no effect without train.early_stopping.patience "
                        ">= 1"};
  }
  if (EarlyStoppingOn(t) && t.has_eval_every_steps() &&
      t.eval_every_steps() == 0) {
    return FieldProblem{"train.early_stopping",
                        "needs periodic evaluations: set "
                        "train.eval_every_steps >= 1"};
  }
  if (band.max() > 0 && band.min() >= band.max()) {
    return FieldProblem{"train.gradient_norm_band",
                        absl::StrCat("min must be below max, got min ",
                                     band.min(), " and max ", band.max())};
  }
  const v1::CheckpointConfig& checkpoint = t.checkpoint();
  if (auto issue = First({OutOfRange("train.checkpoint.every_steps",
                                     checkpoint.every_steps(), 0, 1e15),
                          OutOfRange("train.checkpoint.every_seconds",
                                     checkpoint.every_seconds(), 0, 1e9)})) {
    return issue;
  }
  if (checkpoint.has_keep() &&
      OutOfRange("train.checkpoint.keep", checkpoint.keep(), 1, 1000000)) {
    return OutOfRange("train.checkpoint.keep", checkpoint.keep(), 1, 1000000);
  }
  if (t.max_loss_factor() != 0 &&
      OutOfRange("train.max_loss_factor", t.max_loss_factor(), 1, 1e30)) {
    return FieldProblem{"train.max_loss_factor",
                        absl::StrCat("must be 0 (off) or in [1, 1e+30], got ",
                                     t.max_loss_factor())};
  }
  return std::nullopt;
}

std::optional<FieldProblem> CheckOptimizer(const v1::JobConfig& c) {
  if (c.optimizer().optimizer_case() ==
      v1::OptimizerConfig::OPTIMIZER_NOT_SET) {
    return Required("optimizer", false,
                    "e.g. optimizer { sgd { learning_rate: 0.1 } }");
  }
  for (auto issue :
       {OutOfRange("optimizer.clip_value", c.optimizer().clip_value(), 0, 1e30),
        OutOfRange("optimizer.clip_norm", c.optimizer().clip_norm(), 0,
                   1e30)}) {
    if (issue) return issue;
  }
  // The rules live with the optimizers.
  return FindOptimizerProblem(c.optimizer());
}

}  // namespace

bool CanOverlapPushes(v1::Consistency consistency) {
  return consistency == v1::ASP;
}

std::optional<FieldProblem> FindConfigIssue(const v1::JobConfig& config) {
  for (auto check :
       {CheckJobId, CheckCluster, CheckModel, CheckData, CheckValidation,
        CheckTrain, CheckTrainingGuards, CheckOptimizer, FindFederatedProblem,
        FindPrivacyProblem, FindRobustProblem, FindSecureProblem}) {
    if (auto issue = check(config)) return issue;
  }
  return std::nullopt;
}

}  // namespace descent
