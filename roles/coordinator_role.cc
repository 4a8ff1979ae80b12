#include "roles/coordinator_role.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/config/config.h"
#include "common/config/job_options.h"
#include "common/data/data_source.h"
#include "common/exit_codes.h"
#include "common/federated/round_plan.h"
#include "common/metrics.h"
#include "common/model/model_factory.h"
#include "common/optim/gradient_norms.h"
#include "common/ps_client.h"
#include "common/status_macros.h"
#include "common/storage/atomic_file.h"
#include "common/storage/output_dir.h"
#include "glog/logging.h"
#include "roles/checkpointer.h"
#include "roles/metrics_server.h"
#include "roles/stop_signals.h"
#include "rpc/coordinator_service.h"
#include "rpc/rpc.h"
#include "rpc/shm_shard_transport.h"
#include "server/coordinator/checkpoints.h"
#include "server/coordinator/coordinator.h"
#include "server/coordinator/evaluator.h"
#include "server/coordinator/job_output.h"
#include "server/coordinator/model_dir.h"
#include "server/shard/parameter_shard.h"  // kCoordinatorWorkerId
#include "server/shard/shard_checkpoint.h"

namespace descent {
namespace {

// SIGTERM, SIGINT or SIGHUP, once serving: the job (if still on) ends as
// interrupted, with its results written; the linger after it is skipped.
std::atomic<int> g_stop{0};

void OnStop(int signal) { g_stop.store(signal); }

// Waits `linger` (CoordinatorRoleOptions::metrics_linger), or until SIGTERM
// or SIGINT.
void Linger(absl::Duration linger) {
  if (linger <= absl::ZeroDuration()) return;
  LOG(INFO) << "serving the final metrics for " << absl::FormatDuration(linger)
            << " (--metrics_linger)";
  const absl::Time until = absl::Now() + linger;
  while (absl::Now() < until && g_stop.load() == 0) {
    absl::SleepFor(absl::Milliseconds(10));
  }
}

// No saved parameters yet (step -1).
SavedParameters NoParameters() {
  SavedParameters none;
  none.step = -1;
  return none;
}

// Everything the main loop works with, built once.
struct CoordinatorState {
  std::unique_ptr<MetricsRegistry> registry;
  std::unique_ptr<MetricsServer> metrics_server;
  std::unique_ptr<CoordinatorMetrics> metrics;
  std::unique_ptr<FederatedMetrics> federated;  // federated jobs only
  std::unique_ptr<Coordinator> coordinator;
  // Evaluates every periodic and the final evaluation: on the validation
  // split if the job has one, else on the test split (then `test` is null).
  std::unique_ptr<Evaluator> evaluator;
  // With validation data: measures the selected model on the test split,
  // once, at the end.
  std::unique_ptr<Evaluator> test;
  std::unique_ptr<EvalLog> eval_log;
  std::unique_ptr<PsClient> ps;  // once the shard map is complete
  std::unique_ptr<DataSource> data;
  v1::DataSummary data_summary;
  std::vector<std::string> labels;  // encoded class labels (labels.json)
  // With early stopping: the best evaluation's parameters (step -1: none).
  SavedParameters best = NoParameters();
  // For model/ and best_model/: the layout that names the tensors, what the
  // manifests share, the last and the best evaluation, and the test of the
  // selected model (with validation data).
  ModelLayout layout;
  v1::ModelManifest manifest;
  std::optional<v1::Evaluation> last;
  v1::Evaluation best_evaluation;
  std::optional<v1::Evaluation> selected_test;
  // With train.checkpoint (or resumed): takes the checkpoints, once the
  // shard map is complete.
  std::unique_ptr<Checkpointer> checkpointer;
  std::string checkpoint_root;
  int64_t train_examples = 0;
  // A resumed job: N of the step-N checkpoint, and its shard versions.
  int64_t resumed_step = 0;
  std::vector<int64_t> resumed_versions;
  // The parameters of model/ were pulled when the job was interrupted.
  bool pulled_at_end = false;
  // For the shards' channels (CoordinatorRoleOptions::security).
  RpcSecurity security;
};

// "total 1.2 | weights 0.9 | bias 0.01" for the log.
std::string FormatGradientNorms(const v1::Evaluation& evaluation) {
  std::string text = absl::StrCat("total ", evaluation.gradient_norm());
  for (const v1::GradientNorm& layer : evaluation.gradient_norms()) {
    absl::StrAppend(&text, " | ", layer.layer(), " ", layer.norm());
  }
  return text;
}

// Logs the evaluation's gradient norms, with a warning for each layer
// outside the configured band.
void LogGradientNorms(const v1::Evaluation& evaluation,
                      const v1::JobConfig& config) {
  if (evaluation.gradient_norms().empty()) return;
  LOG(INFO) << "gradient L2 norms, mean over the steps since the last "
               "evaluation: "
            << FormatGradientNorms(evaluation);
  const v1::GradientNormBand& band = config.train().gradient_norm_band();
  if (band.min() == 0 && band.max() == 0) return;
  for (const std::string& warning : GradientNormWarnings(evaluation, band)) {
    LOG(WARNING) << warning;
  }
}

// Keeps a copy of the parameters the evaluator just used.
void KeepBest(const Evaluator& evaluator, int64_t step, SavedParameters* best) {
  best->step = step;
  best->dense = evaluator.params();
  best->keys = evaluator.keys();
  best->row_width = evaluator.row_width();
  best->rows = evaluator.rows();
}

// "validation loss 0.41, validation accuracy 0.9" for the log: the figures
// `e` has.
std::string FormatFigures(const v1::Evaluation& e) {
  std::string text;
  const std::pair<const char*, std::optional<double>> figures[] = {
      {"validation loss", e.has_validation_loss()
                              ? std::optional(e.validation_loss())
                              : std::nullopt},
      {"validation accuracy", e.has_validation_accuracy()
                                  ? std::optional(e.validation_accuracy())
                                  : std::nullopt},
      {"validation RMSE", e.has_validation_rmse()
                              ? std::optional(e.validation_rmse())
                              : std::nullopt},
      {"validation AUC", e.has_validation_auc()
                             ? std::optional(e.validation_auc())
                             : std::nullopt},
      {"test loss",
       e.has_test_loss() ? std::optional(e.test_loss()) : std::nullopt},
      {"test accuracy",
       e.has_test_accuracy() ? std::optional(e.test_accuracy()) : std::nullopt},
      {"test RMSE",
       e.has_test_rmse() ? std::optional(e.test_rmse()) : std::nullopt},
      {"test AUC",
       e.has_test_auc() ? std::optional(e.test_auc()) : std::nullopt}};
  for (const auto& [name, value] : figures) {
    if (value.has_value()) {
      absl::StrAppend(&text, text.empty() ? "" : ", ", name, " ", *value);
    }
  }
  return text;
}

// The fewest updates any shard had applied when it answered the last pull.
int64_t ParameterVersion(const PsClient& ps) {
  const std::vector<int64_t>& versions = ps.versions();
  return versions.empty() ? 0
                          : *std::min_element(versions.begin(), versions.end());
}

// The global step that parameters of `version` show: every push is a
// version under ASP and SSP; under BSP one version is a step of every
// worker.
int64_t StepOf(int64_t version, const v1::JobConfig& config) {
  return config.train().consistency() == v1::BSP
             ? version * config.cluster().num_workers()
             : version;
}

// Pulls the parameters from every shard for an evaluation at `step`,
// measured.
Evaluator::PullFn PullFromShards(CoordinatorState& s, int64_t step) {
  return [&s, step](float* params, const PsClient::Rows* rows) {
    const absl::Time pull_start = absl::Now();
    PsClient::Transfer transfer;
    absl::Status status = s.ps->Pull(step, params, &transfer, rows);
    s.metrics->pull_bytes.Increment(transfer.bytes_received);
    s.metrics->pull_duration.Observe(
        absl::ToDoubleSeconds(absl::Now() - pull_start));
    return status;
  };
}

// Evaluates the parameters the shards hold now into `evaluation` (its step
// the coordinator's count), and sets its parameter version and step.
absl::Status EvaluateCurrent(CoordinatorState& s, const v1::JobConfig& config,
                             v1::Evaluation* evaluation) {
  RETURN_IF_ERROR(
      s.evaluator->Evaluate(PullFromShards(s, evaluation->step()), evaluation));
  const int64_t version = ParameterVersion(*s.ps);
  evaluation->set_parameter_version(version);
  // The workers' heartbeats may lag the parameters: the step is the later
  // of the count the coordinator had and the one the version shows.
  evaluation->set_step(std::max(evaluation->step(), StepOf(version, config)));
  s.last = *evaluation;
  return absl::OkStatus();
}

absl::Status Evaluate(CoordinatorState& s, const v1::JobConfig& config,
                      bool final) {
  const absl::Time start = absl::Now();
  v1::Evaluation evaluation = s.coordinator->BeginEvaluation(final);
  RETURN_IF_ERROR(EvaluateCurrent(s, config, &evaluation));
  const bool best = s.coordinator->RecordEvaluation(evaluation);
  if (best && EarlyStoppingOn(config.train())) {
    KeepBest(*s.evaluator, evaluation.step(), &s.best);
    s.best_evaluation = evaluation;
  }
  s.metrics->evaluations.Increment();
  if (evaluation.has_test_loss()) {
    s.metrics->test_loss.Set(evaluation.test_loss());
  }
  if (evaluation.has_test_accuracy()) {
    s.metrics->test_accuracy.Set(evaluation.test_accuracy());
  }
  s.metrics->evaluation_duration.Observe(
      absl::ToDoubleSeconds(absl::Now() - start));
  LOG(INFO) << "evaluation at step " << evaluation.step() << " (epoch "
            << evaluation.epoch() << ", parameter version "
            << evaluation.parameter_version()
            << (evaluation.due_step() > 0
                    ? absl::StrCat(", due at step ", evaluation.due_step())
                    : std::string(", final"))
            << "): " << FormatFigures(evaluation)
            << (best ? " (best so far)" : "");
  LogGradientNorms(evaluation, config);
  return s.eval_log->Append(evaluation);
}

// With validation data: measures the selected model (the best evaluation's
// parameters with early stopping, else the last one's) on the test split,
// once, and records it for the summary.
absl::Status TestSelected(CoordinatorState& s) {
  if (s.test == nullptr) return absl::OkStatus();
  SavedParameters last = NoParameters();
  const SavedParameters* selected = &s.best;
  if (s.best.step < 0) {
    KeepBest(*s.evaluator, 0, &last);
    selected = &last;
  }
  // The selected parameters, and of its rows those the test split asks for
  // (the validation evaluator pulled the test keys' rows too).
  auto copy = [selected](float* params,
                         const PsClient::Rows* rows) -> absl::Status {
    std::copy(selected->dense.begin(), selected->dense.end(), params);
    if (rows == nullptr) return absl::OkStatus();
    const std::vector<uint64_t>& keys = selected->keys;
    for (size_t i = 0; i < rows->pull_keys->size(); ++i) {
      auto at =
          std::lower_bound(keys.begin(), keys.end(), (*rows->pull_keys)[i]);
      if (at == keys.end() || *at != (*rows->pull_keys)[i]) {
        return absl::InternalError(
            absl::StrCat("the selected parameters lack the row of test key ",
                         (*rows->pull_keys)[i]));
      }
      const size_t row = at - keys.begin();
      std::copy_n(selected->rows.begin() + row * selected->row_width,
                  rows->width, rows->pulled + i * rows->width);
    }
    return absl::OkStatus();
  };
  v1::Evaluation test;
  RETURN_IF_ERROR(s.test->Evaluate(copy, &test));
  s.coordinator->RecordFinalTest(test);
  s.selected_test = test;
  if (test.has_test_loss()) s.metrics->test_loss.Set(test.test_loss());
  if (test.has_test_accuracy()) {
    s.metrics->test_accuracy.Set(test.test_accuracy());
  }
  LOG(INFO) << "test of the selected model (chosen on validation): "
            << FormatFigures(test);
  return absl::OkStatus();
}

// What the counters have been given so far.
struct Counted {
  int64_t examples = 0;
  int64_t heartbeats_missed = 0;
  size_t rounds = 0;
};

// The rounds recorded since the last call, into the federated metrics.
void UpdateFederatedMetrics(const Coordinator& coordinator, FederatedMetrics& m,
                            Counted* counted) {
  for (const v1::FederatedRound& r : coordinator.Rounds(counted->rounds)) {
    ++counted->rounds;
    m.rounds.Increment();
    m.round.Set(static_cast<double>(r.round() + 1));
    m.sampled.Increment(static_cast<double>(r.sampled()));
    m.dropped.Increment(static_cast<double>(r.dropped()));
    m.late.Increment(static_cast<double>(r.late()));
    m.retries.Increment(static_cast<double>(std::max(0, r.attempts() - 1)));
    m.participants.Increment(static_cast<double>(r.participants()));
    m.round_participants.Set(static_cast<double>(r.participants()));
    m.update_norm.Set(r.update_norm());
    m.round_duration.Observe(r.seconds());
    m.simulated_seconds.Set(r.simulated_seconds());
    if (r.has_test_accuracy()) m.test_accuracy.Set(r.test_accuracy());
    if (r.has_test_loss()) m.test_loss.Set(r.test_loss());
    if (r.has_client_accuracy_mean()) {
      m.client_accuracy_mean.Set(r.client_accuracy_mean());
    }
    if (r.has_client_accuracy_p10()) {
      m.client_accuracy_p10.Set(r.client_accuracy_p10());
    }
    if (r.has_epsilon()) m.privacy_epsilon.Set(r.epsilon());
    if (r.has_clip_norm()) m.clip_norm.Set(r.clip_norm());
    if (r.has_secure_clients()) {
      m.secure_clients.Set(static_cast<double>(r.secure_clients()));
      if (r.secure_clients() == 0) m.secure_failed_rounds.Increment();
      m.secure_dropped.Increment(static_cast<double>(r.secure_dropped()));
    }
  }
}

void UpdateMetrics(const v1::JobStatus& status, const Coordinator& coordinator,
                   CoordinatorMetrics& m, Counted* counted) {
  m.global_step.Set(status.global_step());
  m.epoch.Set(status.epoch());
  m.examples.Increment(status.examples() - counted->examples);
  counted->examples = status.examples();
  const int64_t missed = coordinator.heartbeats_missed();
  m.heartbeats_missed.Increment(missed - counted->heartbeats_missed);
  counted->heartbeats_missed = missed;
  m.learning_rate.Set(coordinator.learning_rate());
  m.train_loss.Set(status.train_loss());
  m.job_state.Set(status.state());
  int workers = 0;
  for (const v1::Member& member : status.members()) {
    workers += member.role() == v1::WORKER;
  }
  m.workers_alive.Set(status.state() == v1::RUNNING ? workers : 0);
}

// Takes a checkpoint (Checkpointer::Take) with the best parameters kept so
// far, logs and counts it. A checkpoint that fails is logged; the job goes
// on (the previous checkpoint stays the one to resume from).
void TakeCheckpoint(CoordinatorState& s, const std::string& reason, bool final,
                    absl::Duration patience) {
  if (s.checkpointer == nullptr) return;
  std::string best;
  int best_index = -1;
  if (s.best.step >= 0) {
    absl::StatusOr<std::vector<NamedTensor>> tensors =
        ModelTensors(s.layout.dense, s.best);
    if (tensors.ok()) best = EncodeSafetensors(*tensors, {});
    const v1::JobSummary summary = s.coordinator->Summary();
    for (int i = 0; i < summary.history_size(); ++i) {
      if (summary.history(i).step() == s.best_evaluation.step()) best_index = i;
    }
  }
  absl::StatusOr<CheckpointTaken> taken =
      s.checkpointer->Take(reason, *s.coordinator, best, best_index, final,
                           /*periodic=*/reason == "periodic", patience);
  if (!taken.ok()) {
    LOG(WARNING) << "checkpoint (" << reason
                 << ") not taken: " << taken.status().message();
    return;
  }
  if (taken->skipped) return;
  s.metrics->checkpoints.Increment();
  s.metrics->checkpoint_duration.Observe(taken->seconds);
  LOG(INFO) << "checkpoint (" << reason << ") at global step "
            << taken->global_step << ": " << taken->dir << ", " << taken->bytes
            << " bytes in " << taken->seconds << " s";
}

// One pass of the main loop while RUNNING: evaluate when due, finish when
// every worker is done.
absl::Status Advance(CoordinatorState& s, const v1::JobStatus& status,
                     const v1::JobConfig& config) {
  if (s.ps == nullptr) {
    const ResolvedPeer peer = ResolvePeer(config);
    PsClient::Options options;
    options.job_id = peer.job_id;
    options.worker_id = kCoordinatorWorkerId;
    options.shards.assign(status.shards().begin(), status.shards().end());
    options.deadline = peer.rpc_deadline;
    options.connect = ShardTransportFactoryFor(s.security, peer.shared_memory);
    ASSIGN_OR_RETURN(s.ps, PsClient::Create(std::move(options)));
    LOG(INFO) << "all " << config.cluster().num_servers() << " servers and "
              << config.cluster().num_workers() << " workers registered";
    if (!s.checkpoint_root.empty()) {
      CheckpointerOptions checkpoints;
      checkpoints.security = s.security;
      checkpoints.config = config;
      checkpoints.root = s.checkpoint_root;
      checkpoints.shards.assign(status.shards().begin(), status.shards().end());
      checkpoints.train_examples = s.train_examples;
      checkpoints.resumed_step = s.resumed_step;
      checkpoints.resumed_versions = s.resumed_versions;
      checkpoints.deadline = std::max(absl::Seconds(60), 6 * peer.rpc_deadline);
      s.checkpointer = std::make_unique<Checkpointer>(std::move(checkpoints));
    }
  }
  if (s.coordinator->AllWorkersDone()) {
    RETURN_IF_ERROR(Evaluate(s, config, /*final=*/true));
    TakeCheckpoint(s, "final", /*final=*/true, absl::Seconds(60));
    s.coordinator->Succeed();
    return absl::OkStatus();
  }
  // The checkpoint first: the shards keep the copy of its boundary only
  // until the next one, and an evaluation can take longer than that.
  if (s.checkpointer != nullptr &&
      s.checkpointer->Due(status.global_step(), s.coordinator->ShardVersions(),
                          absl::Now())) {
    TakeCheckpoint(s, "periodic", /*final=*/false, absl::Seconds(60));
  }
  if (s.coordinator->EvaluationDue()) {
    RETURN_IF_ERROR(Evaluate(s, config, /*final=*/false));
  }
  return absl::OkStatus();
}

// Runs until the job ends; returns the exit code.
int MainLoop(CoordinatorState& s, const v1::JobConfig& config) {
  Counted counted;
  while (true) {
    s.coordinator->Tick();
    const v1::JobStatus status = s.coordinator->Status();
    UpdateMetrics(status, *s.coordinator, *s.metrics, &counted);
    if (s.federated != nullptr) {
      UpdateFederatedMetrics(*s.coordinator, *s.federated, &counted);
    }
    if (status.state() == v1::SUCCEEDED) return kExitOk;
    if (const int signal = g_stop.load(); signal != 0 &&
                                          status.state() != v1::FAILED &&
                                          status.state() != v1::INTERRUPTED) {
      // A last checkpoint first, within a bound: the launcher gives the
      // coordinator kInterruptGrace before it stops everything.
      if (status.state() == v1::RUNNING && s.ps != nullptr) {
        TakeCheckpoint(s, "interrupt", /*final=*/false, absl::Seconds(10));
        // model/'s parameters too, while the servers still serve: once the
        // job has ended they leave at their next heartbeat.
        v1::Evaluation current;
        current.set_step(status.global_step());
        absl::Status pulled = EvaluateCurrent(s, config, &current);
        if (pulled.ok()) {
          s.pulled_at_end = true;
        } else {
          LOG(WARNING) << "model/: cannot pull the current parameters: "
                       << pulled.message();
        }
      }
      s.coordinator->Interrupt(
          absl::StrCat("interrupted by ", strsignal(signal)));
      continue;
    }
    if (status.state() == v1::INTERRUPTED) {
      LOG(WARNING) << "job " << status.error();
      return s.coordinator->exit_code();
    }
    if (status.state() == v1::FAILED) {
      LOG(ERROR) << "job failed: " << status.error();
      return s.coordinator->exit_code();
    }
    if (status.state() == v1::RUNNING) {
      absl::Status advanced = Advance(s, status, config);
      if (!advanced.ok()) {
        s.coordinator->Fail(std::string(advanced.message()),
                            ExitCodeFor(advanced));
      }
    }
    // Until the next progress report (an evaluation may have come due).
    s.coordinator->AwaitChange(absl::Milliseconds(10));
  }
}

// The evaluator for the job's model on `examples` (a split of `split`), a
// dense model on `threads` OpenMP threads; sparse models also pull
// `extra_keys`' rows.
absl::StatusOr<std::unique_ptr<Evaluator>> CreateEvaluator(
    const v1::JobConfig& config, const DataShape& shape, Examples examples,
    Evaluator::Split split, int threads,
    const std::vector<uint64_t>& extra_keys = {}) {
  const ResolvedEval eval = ResolveEval(config);
  if (examples.is_sparse()) {
    ASSIGN_OR_RETURN(std::unique_ptr<SparseModel> model,
                     CreateSparseModel(config.model(), shape, eval.max_batch));
    return std::make_unique<Evaluator>(
        std::move(model), std::move(examples.sparse()), split, extra_keys);
  }
  ASSIGN_OR_RETURN(std::unique_ptr<Model> model,
                   CreateModel(config.model(), shape, eval.max_batch, threads));
  return std::make_unique<Evaluator>(std::move(model),
                                     std::move(examples.dense()), split);
}

// The evaluators: on validation (and test at the end) if the job has
// validation data, else on test.
absl::Status CreateEvaluators(const v1::JobConfig& config,
                              const DataShape& shape, int local_workers,
                              CoordinatorState& s) {
  ASSIGN_OR_RETURN(Examples test, s.data->LoadTest());
  ASSIGN_OR_RETURN(Examples validation, s.data->LoadValidation());
  const int threads =
      ResolveThreads(ResolveEval(config).threads, local_workers);
  if (validation.size() == 0) {
    LOG(INFO) << "no validation data (data.validation_fraction or a "
                 "validation file): evaluating on the test split, which "
                 "then also chooses the result";
    ASSIGN_OR_RETURN(s.evaluator,
                     CreateEvaluator(config, shape, std::move(test),
                                     Evaluator::Split::kTest, threads));
    return absl::OkStatus();
  }
  LOG(INFO) << "evaluating on " << validation.size()
            << " validation examples; test (" << test.size()
            << " examples) once, at the end, on the selected model";
  ASSIGN_OR_RETURN(s.test, CreateEvaluator(config, shape, std::move(test),
                                           Evaluator::Split::kTest, threads));
  ASSIGN_OR_RETURN(
      s.evaluator,
      CreateEvaluator(config, shape, std::move(validation),
                      Evaluator::Split::kValidation, threads, s.test->keys()));
  return absl::OkStatus();
}

// The data's shape for summary.json.
v1::DataSummary ToDataSummary(const DataDescription& data) {
  v1::DataSummary summary;
  summary.set_train_examples(static_cast<double>(data.train_examples));
  summary.set_test_examples(static_cast<double>(data.test_examples));
  if (data.validation_examples > 0) {
    summary.set_validation_examples(data.validation_examples);
  }
  summary.set_num_features(static_cast<double>(data.num_features));
  summary.set_num_classes(data.num_classes);
  summary.set_regression(data.num_classes == 0);
  if (data.label_min.has_value()) summary.set_label_min(*data.label_min);
  if (data.label_max.has_value()) summary.set_label_max(*data.label_max);
  for (const std::string& warning : data.warnings) {
    summary.add_warnings(warning);
  }
  return summary;
}

// A federated job's partition of the training split over its clients,
// as every worker computes it, in partition.csv. A partition the data
// cannot give (more clients than examples, no Dirichlet draw with the
// minimum size) is a bad config, found here before any worker trains.
absl::Status WritePartition(const v1::JobConfig& config,
                            const DataSource& source,
                            const std::string& output_dir) {
  ASSIGN_OR_RETURN(Examples train, source.LoadTrainShard(0, 1));
  if (train.is_sparse()) {
    return WithExitCode(absl::InvalidArgumentError(
                            "federated: needs dense data and a dense model"),
                        kExitBadConfig);
  }
  const Dataset& dense = train.dense();
  std::vector<int32_t> labels = dense.labels;
  if (labels.empty()) labels.assign(dense.num_examples, 0);
  const int classes = std::max(1, dense.num_classes);
  absl::StatusOr<ClientData> clients =
      MakeClientData(FederatedOptionsOf(config), labels, classes);
  if (!clients.ok()) {
    // The message names the option (federated.clients,
    // federated.partition.*).
    return WithExitCode(clients.status(), kExitBadConfig);
  }
  LOG(INFO) << "federated: " << clients->clients() << " clients over "
            << dense.num_examples << " training examples";
  return WriteFileAtomically(
      output_dir + "/partition.csv",
      PartitionSummaryCsv(clients->partition, labels, classes));
}

// Logs the data's shape and warnings, and keeps them (and the labels, in
// labels.json) for the job's outputs.
absl::Status RecordData(const DataDescription& data,
                        const std::string& output_dir, CoordinatorState& s) {
  LOG(INFO) << "data: " << DescribeShape(data);
  for (const std::string& warning : data.warnings) {
    LOG(WARNING) << "data: " << warning;
  }
  s.data_summary = ToDataSummary(data);
  s.labels = data.class_names;
  if (data.class_names.empty()) return absl::OkStatus();
  return WriteLabels(output_dir + "/labels.json", data.class_names);
}

// What model/'s and best_model/'s manifests share: the model, its input
// and output, the data's labels, scaling and fingerprint.
v1::ModelManifest ManifestBase(const v1::JobConfig& config,
                               const DataDescription& data) {
  v1::ModelManifest m;
  m.set_format_version(1);
  m.set_job_id(config.job_id());
  *m.mutable_model() = config.model();
  m.set_num_features(data.num_features);
  if (config.model().has_cnn()) {
    const auto side = static_cast<int32_t>(
        std::lround(std::sqrt(static_cast<double>(data.num_features))));
    m.set_image_channels(1);
    m.set_image_height(side);
    m.set_image_width(side);
  }
  m.set_num_classes(data.num_classes);
  m.set_regression(data.num_classes == 0);
  for (const std::string& label : data.class_names) m.add_labels(label);
  v1::FeatureScaling* scaling = m.mutable_scaling();
  scaling->set_kind(data.scaling_offset.empty() ? v1::NO_SCALING
                                                : config.data().scaling());
  for (size_t j = 0; j < data.scaling_offset.size(); ++j) {
    scaling->add_offset(data.scaling_offset[j]);
    scaling->add_scale(data.scaling_scale[j]);
  }
  m.set_config_hash(ConfigHash(config));
  m.set_data_fingerprint(DataFingerprint(config.data(), data.train_examples));
  m.set_sparse(IsSparseModel(config.model()));
  m.set_seed(config.train().seed());
  if (config.data().has_csv()) {
    *m.mutable_csv() = config.data().csv();
    m.mutable_csv()->clear_train();
    m.mutable_csv()->clear_test();
    m.mutable_csv()->clear_validation();
  }
  if (config.data().has_libsvm()) {
    *m.mutable_libsvm() = config.data().libsvm();
    m.mutable_libsvm()->clear_train();
    m.mutable_libsvm()->clear_test();
    m.mutable_libsvm()->clear_validation();
  }
  return m;
}

// OK if model directory `dir` holds parameters of `layout` for data of
// `data`'s width.
absl::Status CheckWarmStart(const std::string& dir, const ModelLayout& layout,
                            const DataDescription& data) {
  ASSIGN_OR_RETURN(ModelDir model, ReadModelDir(dir));
  if (model.manifest.num_features() != data.num_features) {
    return absl::InvalidArgumentError(
        absl::StrCat(dir, ": a model of ", model.manifest.num_features(),
                     " features; this job's data has ", data.num_features));
  }
  return FlatParameters(layout.dense, model.tensors,
                        absl::StrCat(dir, "/", kModelTensorsFile))
      .status();
}

// A resumed job's best parameters and evaluation (early stopping), from
// its checkpoint's best.safetensors.
absl::Status RestoreBest(const FoundCheckpoint& found, CoordinatorState& s) {
  const v1::CheckpointManifest& m = found.manifest;
  if (m.best().name().empty() || m.best_evaluation() < 0 ||
      m.best_evaluation() >= m.history_size()) {
    return absl::OkStatus();
  }
  const std::string path = absl::StrCat(found.dir, "/", m.best().name());
  ASSIGN_OR_RETURN(std::string bytes, ReadWholeFile(path));
  ASSIGN_OR_RETURN(std::vector<NamedTensor> tensors,
                   DecodeSafetensors(bytes, path));
  ASSIGN_OR_RETURN(s.best.dense, FlatParameters(s.layout.dense, tensors, path));
  for (NamedTensor& t : tensors) {
    if (t.name == "sparse/keys") s.best.keys = std::move(t.u64);
    if (t.name == "sparse/rows") {
      s.best.row_width = t.shape.size() == 2 ? static_cast<int>(t.shape[1]) : 0;
      s.best.rows = std::move(t.f32);
    }
  }
  s.best_evaluation = m.history(m.best_evaluation());
  s.best.step = s.best_evaluation.step();
  return absl::OkStatus();
}

absl::Status Setup(const CoordinatorRoleOptions& options,
                   const v1::JobConfig& config,
                   const std::optional<FoundCheckpoint>& resume,
                   CoordinatorState& s) {
  s.data = std::make_unique<DataSource>(config);
  ASSIGN_OR_RETURN(DataDescription data, s.data->Describe());
  if (data.train_examples < config.cluster().num_workers()) {
    return WithExitCode(
        absl::InvalidArgumentError(absl::StrCat(
            "cluster.num_workers: ", config.cluster().num_workers(),
            " workers but only ", data.train_examples,
            " training examples; each worker needs at least one")),
        kExitBadConfig);
  }
  const DataShape shape{data.num_features, data.num_classes};
  RETURN_IF_ERROR(RecordData(data, options.output_dir, s));
  if (config.has_federated()) {
    RETURN_IF_ERROR(WritePartition(config, *s.data, options.output_dir));
  }
  ASSIGN_OR_RETURN(ModelLayout layout, BuildLayout(config.model(), shape));
  s.layout = layout;
  s.manifest = ManifestBase(config, data);
  if (const std::string& from = config.train().init_from(); !from.empty()) {
    // The servers read it too: refuse a model that does not fit first.
    absl::Status fits = CheckWarmStart(from, layout, data);
    if (!fits.ok()) {
      return WithExitCode(absl::InvalidArgumentError(absl::StrCat(
                              "train.init_from: ", fits.message())),
                          kExitBadConfig);
    }
    LOG(INFO) << "warm start from " << from;
  }
  RETURN_IF_ERROR(CreateEvaluators(config, shape, options.local_workers, s));
  s.registry = MetricsRegistry::Create(
      {{"role", "coordinator"}, {"job_id", config.job_id()}});
  ASSIGN_OR_RETURN(s.metrics_server,
                   MetricsServer::Start(*s.registry, options.metrics_listen));
  s.metrics = std::make_unique<CoordinatorMetrics>(*s.registry);
  if (config.has_federated()) {
    s.federated = std::make_unique<FederatedMetrics>(*s.registry);
  }
  s.metrics->config_info.Add({{"config_hash", ConfigHash(config)}}).Set(1);
  ASSIGN_OR_RETURN(s.eval_log,
                   EvalLog::Create(options.output_dir + "/evals.csv"));

  CoordinatorOptions core;
  core.config = config;
  // DP-SGD's budget, in whole epochs now that N is known.
  absl::StatusOr<std::optional<int64_t>> budget =
      LimitEpochsToBudget(&core.config, data.train_examples);
  if (!budget.ok()) return WithExitCode(budget.status(), kExitBadConfig);
  core.num_parameters = layout.dense.size();
  core.num_features = shape.num_features;
  core.num_classes = shape.num_classes;
  core.train_examples = data.train_examples;
  core.divergence_hint = data.divergence_hint;
  core.self.set_role(v1::COORDINATOR);
  core.self.set_pid(::getpid());
  core.self.set_metrics_address(s.metrics_server->address());
  s.train_examples = data.train_examples;
  // Sparse models always take the final checkpoint: model/'s rows, all of
  // them, come from it (the evaluations pull only the rows they use).
  if (CheckpointsOn(config.train()) || resume.has_value() ||
      IsSparseModel(config.model())) {
    s.checkpoint_root =
        std::filesystem::absolute(options.output_dir + "/" + kCheckpointsDir)
            .lexically_normal()
            .string();
    core.checkpoint_root = s.checkpoint_root;
  }
  if (resume.has_value()) {
    core.resume = resume->manifest;
    core.resume_dir = resume->dir;
    core.server_restarts = options.server_restarts;
    core.steps_lost = options.steps_lost;
    s.resumed_step = resume->step;
    for (const v1::ShardCheckpoint& shard : resume->manifest.shards()) {
      s.resumed_versions.push_back(shard.version());
    }
    for (const v1::Evaluation& e : resume->manifest.history()) {
      RETURN_IF_ERROR(s.eval_log->Append(e));
    }
    RETURN_IF_ERROR(RestoreBest(*resume, s));
  }
  s.coordinator = std::make_unique<Coordinator>(std::move(core));
  if (!config.train().has_eval_every_steps()) {
    LOG(INFO) << "train.eval_every_steps unset: evaluating every "
              << s.coordinator->eval_every_steps()
              << " steps, about 20 evaluations over the job";
  }
  return absl::OkStatus();
}

// How the trained model compares with the planted one, for synthetic data.
void AddPlanted(const CoordinatorState& s, const v1::DataConfig& data,
                v1::JobSummary* summary) {
  if (!data.has_synthetic()) return;
  const v1::SyntheticDataConfig::Kind kind = data.synthetic().kind();
  const PlantedModel planted = s.data->Planted();
  if (kind == v1::SyntheticDataConfig::CTR) {
    summary->set_planted_test_auc(planted.test_auc);
  }
  if (kind == v1::SyntheticDataConfig::RATINGS) {
    summary->set_planted_test_rmse(planted.test_rmse);
  }
  // The parameters the result was measured on.
  const std::vector<float>& params =
      s.best.step >= 0 ? s.best.dense : s.evaluator->params();
  // Linear models: the weights, then the bias.
  if (planted.weights.empty() || params.size() != planted.weights.size() + 1) {
    return;
  }
  double distance = 0, norm = 0;
  for (size_t i = 0; i <= planted.weights.size(); ++i) {
    const double truth =
        i < planted.weights.size() ? planted.weights[i] : planted.bias;
    distance += (params[i] - truth) * (params[i] - truth);
    norm += truth * truth;
  }
  summary->set_planted_relative_error(std::sqrt(distance / norm));
}

// Copies the figures `e` has into `m`.
void CopyFigures(const v1::Evaluation& e, v1::ModelManifest* m) {
  for (const char* name : {"test_loss", "test_accuracy", "test_rmse",
                           "test_auc", "validation_loss", "validation_accuracy",
                           "validation_rmse", "validation_auc"}) {
    const auto* from = e.GetDescriptor()->FindFieldByName(name);
    const auto* to = m->GetDescriptor()->FindFieldByName(name);
    if (e.GetReflection()->HasField(e, from)) {
      m->GetReflection()->SetDouble(m, to,
                                    e.GetReflection()->GetDouble(e, from));
    }
  }
}

// Writes the model directory `dir` of `params`, evaluation `which` ("final"
// or "best") measured by `evaluation` (and, if set, `test`).
absl::Status WriteModel(const std::string& dir, const CoordinatorState& s,
                        const std::string& which,
                        const v1::Evaluation& evaluation,
                        const std::optional<v1::Evaluation>& test,
                        const SavedParameters& params) {
  ModelDir model;
  model.manifest = s.manifest;
  model.manifest.set_evaluation(which);
  model.manifest.set_global_step(evaluation.step());
  model.manifest.set_parameter_version(evaluation.parameter_version());
  model.manifest.set_selected_on(s.coordinator->Summary().selected_on());
  CopyFigures(evaluation, &model.manifest);
  if (test.has_value()) CopyFigures(*test, &model.manifest);
  ASSIGN_OR_RETURN(model.tensors, ModelTensors(s.layout.dense, params));
  return WriteModelDir(dir, model);
}

// A sparse job that succeeded: every row of its table, from the shards'
// files of its final checkpoint (the newest under `root`), and the rows its
// evaluations pulled that no push created, sorted by key, into `params`.
absl::Status AllRows(const std::string& root, SavedParameters* params) {
  ASSIGN_OR_RETURN(FoundCheckpoint found, FindLatestCheckpoint(root));
  std::vector<std::pair<uint64_t, size_t>> order;  // key, row in `rows`
  std::vector<float> rows;
  const int64_t width = params->row_width;
  for (const v1::ShardCheckpoint& shard : found.manifest.shards()) {
    const std::string path = absl::StrCat(found.dir, "/", shard.file().name());
    ASSIGN_OR_RETURN(ShardState state,
                     ReadShardCheckpoint(
                         path, {shard.file().bytes(), shard.file().crc32()}));
    if (width > 0 && state.rows.size() != state.keys.size() * width) {
      return absl::DataLossError(
          absl::StrCat(path, ": rows are not ", width, " wide"));
    }
    for (size_t i = 0; i < state.keys.size(); ++i) {
      order.emplace_back(state.keys[i],
                         rows.size() / std::max<int64_t>(1, width));
      rows.insert(rows.end(), state.rows.begin() + i * width,
                  state.rows.begin() + (i + 1) * width);
    }
  }
  // Keys the evaluations pulled but no push ever created keep their rows'
  // initial values, as pulled: add them, so that model/ scores every split.
  std::vector<uint64_t> trained;
  for (const auto& entry : order) trained.push_back(entry.first);
  std::sort(trained.begin(), trained.end());
  for (size_t i = 0; i < params->keys.size(); ++i) {
    if (std::binary_search(trained.begin(), trained.end(), params->keys[i])) {
      continue;
    }
    order.emplace_back(params->keys[i],
                       rows.size() / std::max<int64_t>(1, width));
    rows.insert(rows.end(), params->rows.begin() + i * width,
                params->rows.begin() + (i + 1) * width);
  }
  std::sort(order.begin(), order.end());
  params->keys.clear();
  params->rows.clear();
  for (const auto& [key, row] : order) {
    params->keys.push_back(key);
    params->rows.insert(params->rows.end(), rows.begin() + row * width,
                        rows.begin() + (row + 1) * width);
  }
  return absl::OkStatus();
}

// Writes model/ (the last parameters) and, with early stopping, best_model/.
// A job that did not succeed first pulls and evaluates the parameters the
// shards hold (falling back to the last evaluation's); one that ended before
// training started (not every shard registered) writes none.
absl::Status WriteModels(const std::string& output_dir,
                         const v1::JobConfig& config, CoordinatorState& s,
                         int code) {
  if (code != kExitOk && s.ps != nullptr && !s.pulled_at_end) {
    v1::Evaluation current;
    current.set_step(s.coordinator->Status().global_step());
    absl::Status pulled = EvaluateCurrent(s, config, &current);
    if (!pulled.ok()) {
      LOG(WARNING) << "model/: cannot pull the current parameters ("
                   << pulled.message() << "); "
                   << (s.last.has_value() ? "writing the last evaluation's"
                                          : "writing none");
    }
  }
  if (!s.last.has_value()) {
    LOG(WARNING) << "model/: not written: training never started";
    return absl::OkStatus();
  }
  SavedParameters last;
  KeepBest(*s.evaluator, s.last->step(), &last);
  if (code == kExitOk && s.manifest.sparse()) {
    RETURN_IF_ERROR(AllRows(s.checkpoint_root, &last));
  }
  const bool early_stopping = s.best.step >= 0;
  RETURN_IF_ERROR(WriteModel(output_dir + "/model", s, "final", *s.last,
                             early_stopping ? std::nullopt : s.selected_test,
                             last));
  if (!early_stopping) return absl::OkStatus();
  return WriteModel(output_dir + "/best_model", s, "best", s.best_evaluation,
                    s.selected_test, s.best);
}

// Writes best_params.bin (if early stopping kept parameters), model/ and
// best_model/ (WriteModels) and summary.json; returns the exit code: `code`,
// or kExitJobFailed instead of 0 if a file could not be written.
int WriteResults(const std::string& output_dir, const v1::JobConfig& config,
                 CoordinatorState& s, int code) {
  absl::Status saved = absl::OkStatus();
  if (s.best.step >= 0) {
    saved =
        WriteCheckpoint(output_dir + "/best_params.bin", s.best, *s.metrics);
  }
  if (!saved.ok()) {
    LOG(ERROR) << saved.message();
    if (code == kExitOk) code = kExitJobFailed;
  }
  if (code == kExitOk) {
    absl::Status tested = TestSelected(s);
    if (!tested.ok()) {
      LOG(ERROR) << tested.message();
      code = kExitJobFailed;
    }
  }
  // A job that succeeded has its model written before its summary (a
  // failure to write it fails the job); any other writes its summary
  // first, since its model may take a pull and an evaluation, and a
  // launcher stopping everything gives it only seconds.
  const bool succeeded = code == kExitOk;
  if (succeeded) {
    absl::Status models = WriteModels(output_dir, config, s, code);
    if (!models.ok()) {
      LOG(ERROR) << models.message();
      code = kExitJobFailed;
    }
  }
  if (config.has_federated()) {
    absl::Status rounds =
        WriteRounds(output_dir + "/rounds.csv", s.coordinator->Rounds());
    if (!rounds.ok()) {
      LOG(ERROR) << rounds.message();
      if (code == kExitOk) code = kExitJobFailed;
    }
  }
  v1::JobSummary summary = s.coordinator->Summary();
  summary.set_exit_status(code);
  summary.set_config_hash(ConfigHash(config));
  *summary.mutable_data() = s.data_summary;
  if (config.has_privacy() && !config.has_federated()) {
    const v1::PrivacySummary& p = summary.privacy();
    LOG(INFO) << "DP-SGD: epsilon " << p.epsilon() << " (tight "
              << p.epsilon_tight() << ") at delta " << p.delta() << " after "
              << p.rounds() << " steps of sampling rate " << p.sampling_rate()
              << ", noise multiplier " << p.noise_multiplier();
  }
  for (const std::string& label : s.labels) summary.add_labels(label);
  if (code == kExitOk) AddPlanted(s, config.data(), &summary);
  if (summary.stopped_early()) {
    LOG(INFO) << "stopped early at step " << summary.steps() << ": the "
              << summary.selected_on() << " loss has not improved for "
              << config.train().early_stopping().patience()
              << " evaluations; the best was at step " << summary.best_step();
  }
  absl::Status written = WriteSummary(output_dir + "/summary.json", summary);
  if (!written.ok()) {
    LOG(ERROR) << written.message();
    if (code == kExitOk) code = kExitJobFailed;
  }
  if (!succeeded) {
    absl::Status models = WriteModels(output_dir, config, s, code);
    if (!models.ok()) LOG(ERROR) << models.message();
  }
  return code;
}

}  // namespace

absl::Status WriteCheckpoint(const std::string& path,
                             const SavedParameters& params,
                             CoordinatorMetrics& metrics) {
  const absl::Time start = absl::Now();
  RETURN_IF_ERROR(WriteParameters(path, params));
  metrics.checkpoints.Increment();
  metrics.checkpoint_duration.Observe(
      absl::ToDoubleSeconds(absl::Now() - start));
  return absl::OkStatus();
}

int RunCoordinator(const CoordinatorRoleOptions& requested) {
  CoordinatorRoleOptions options = requested;
  AssignJobId(&options.config);
  options.output_dir = OutputDirOf(requested.output_dir, options.config);
  const v1::JobConfig& config = options.config;
  std::optional<FoundCheckpoint> resume;
  if (!options.resume_dir.empty()) {
    options.output_dir = options.resume_dir;
    absl::StatusOr<FoundCheckpoint> found = FindLatestCheckpoint(
        absl::StrCat(options.resume_dir, "/", kCheckpointsDir));
    if (!found.ok()) {
      LOG(ERROR) << "--resume: " << found.status().message();
      return ExitCodeFor(found.status());
    }
    for (const absl::Status& damaged : found->damaged) {
      LOG(WARNING) << "--resume: passing over a damaged checkpoint: DATA_LOSS: "
                   << damaged.message();
    }
    absl::Status resumable = CheckResumable(found->manifest.config(), config);
    if (!resumable.ok()) {
      LOG(ERROR) << resumable.message();
      return kExitBadConfig;
    }
    LOG(INFO) << "resuming job " << config.job_id() << " from " << found->dir
              << " (global step " << found->manifest.global_step()
              << ", shard versions " << found->manifest.version() << " to "
              << found->manifest.version() + found->manifest.version_skew()
              << ")";
    resume = *std::move(found);
  } else {
    absl::Status claimed = ClaimOutputDir(
        options.output_dir, JobResultEntries(), options.overwrite);
    if (!claimed.ok()) {
      LOG(ERROR) << claimed.message();
      return kExitUsage;
    }
  }
  for (const std::string& name :
       RemoveStaleTemporaries(options.output_dir, JobResultEntries())) {
    LOG(INFO) << options.output_dir << "/" << name
              << ": deleted (a temporary file an earlier process left)";
  }
  CoordinatorState s;
  s.security = options.security;
  absl::Status ready = Setup(options, config, resume, s);
  if (!ready.ok()) {
    LOG(ERROR) << ready.message();
    return ExitCodeFor(ready);
  }
  CoordinatorService service(s.coordinator.get(), s.metrics.get(),
                             options.security.token);
  RpcServerOptions limits;  // its messages are small
  limits.max_receive_message_bytes = kCoordinatorMessageBytes;
  limits.max_send_message_bytes = kCoordinatorMessageBytes;
  absl::StatusOr<RunningServer> rpc =
      StartRpcServer(options.listen, {&service}, options.security, limits);
  if (!rpc.ok()) {
    LOG(ERROR) << rpc.status().message();
    return ExitCodeFor(rpc.status());
  }
  LOG(INFO) << "job " << config.job_id() << ": coordinator serving on "
            << rpc->address << ", metrics on " << s.metrics_server->address();
  if (!options.ready_file.empty()) {
    absl::Status written =
        WriteFileAtomically(options.ready_file, rpc->address);
    if (!written.ok()) {
      LOG(ERROR) << written.message();
      return kExitJobFailed;
    }
  }
  // From now on SIGTERM and SIGINT end the job gently: results written,
  // servers and workers told (heartbeats), then exit 130.
  OnStopSignals(OnStop);
  int code = MainLoop(s, config);

  code = WriteResults(options.output_dir, config, s, code);
  // Give servers and workers a few heartbeats to learn that the job ended
  // (fewer when stopped: they are likely being stopped too).
  const absl::Time give_up =
      absl::Now() +
      (g_stop.load() != 0 ? absl::Milliseconds(500) : absl::Seconds(3));
  while (!s.coordinator->AllNotified() && absl::Now() < give_up) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  Linger(options.metrics_linger);
  // Everyone who needs the outcome has it, or its answer is on the way: a
  // member counts as told when its heartbeat is handled, before the answer
  // is sent, so answers in flight get 100 ms to go out; then whatever is
  // still open (a last status poll) is cancelled rather than waited for,
  // which kept every job's coordinator alive some 0.7 s longer.
  rpc->server->Shutdown(
      absl::ToChronoTime(absl::Now() + absl::Milliseconds(100)));
  return code;
}

}  // namespace descent
