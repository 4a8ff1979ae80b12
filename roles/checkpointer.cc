#include "roles/checkpointer.h"

#include <algorithm>
#include <filesystem>
#include <limits>
#include <system_error>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/config/config.h"
#include "common/data/data_source.h"
#include "common/partition.h"
#include "common/status_macros.h"
#include "common/storage/atomic_file.h"
#include "glog/logging.h"
#include "google/protobuf/util/message_differencer.h"
#include "rpc/rpc.h"
#include "server/coordinator/checkpoints.h"
#include "server/shard/parameter_shard.h"  // kCoordinatorWorkerId

namespace descent {
namespace {

namespace fs = std::filesystem;

// Attempts at a BSP step boundary before giving up: a shard may pass the
// chosen version while the requests travel.
constexpr int kBoundaryAttempts = 6;

// How long a federated checkpoint waits for the recorder's round records.
constexpr absl::Duration kRecordsPatience = absl::Seconds(2);

}  // namespace

absl::StatusOr<v1::JobConfig> ConfigToResume(const std::string& dir) {
  ASSIGN_OR_RETURN(FoundCheckpoint found, FindLatestCheckpoint(absl::StrCat(
                                              dir, "/", kCheckpointsDir)));
  for (const absl::Status& damaged : found.damaged) {
    LOG(WARNING) << "passing over a damaged checkpoint: DATA_LOSS: "
                 << damaged.message();
  }
  return found.manifest.config();
}

absl::StatusOr<v1::JobConfig> ResumeConfig(
    const std::string& dir, const std::vector<std::string>& overrides) {
  ASSIGN_OR_RETURN(const v1::JobConfig saved, ConfigToResume(dir));
  v1::JobConfig config = saved;
  for (const std::string& assignment : overrides) {
    RETURN_IF_ERROR(ApplyOverride(assignment, &config));
  }
  ApplyDefaults(&config);
  if (std::optional<FieldProblem> issue = FindConfigIssue(config)) {
    return absl::InvalidArgumentError(
        absl::StrCat(issue->field, ": ", issue->problem));
  }
  RETURN_IF_ERROR(CheckResumable(saved, config));
  return config;
}

absl::Status CheckResumable(const v1::JobConfig& saved,
                            const v1::JobConfig& now) {
  auto strip = [](v1::JobConfig config) {
    v1::TrainConfig* train = config.mutable_train();
    train->clear_epochs();
    train->clear_eval_every_steps();
    train->clear_early_stopping();
    train->clear_checkpoint();
    train->clear_max_loss_factor();
    train->clear_gradient_norm_band();
    train->clear_threads();
    config.mutable_cluster()->clear_heartbeat_timeout_seconds();
    config.mutable_cluster()->clear_registration_timeout_seconds();
    config.mutable_cluster()->clear_rpc_deadline_seconds();
    config.mutable_cluster()->clear_max_sparse_rows_per_shard();
    // A federated job's rounds are its epochs.
    if (config.has_federated()) {
      config.mutable_federated()->clear_rounds();
      config.mutable_federated()->clear_eval_every_rounds();
    }
    return config;
  };
  google::protobuf::util::MessageDifferencer differ;
  std::string report;
  differ.ReportDifferencesToString(&report);
  if (differ.Compare(strip(saved), strip(now))) return absl::OkStatus();
  // The first line names the field: "modified: train.seed: 1 -> 2".
  const std::string first = report.substr(0, report.find('\n'));
  return absl::InvalidArgumentError(absl::StrCat(
      "--resume: the job's checkpoint cannot go on with this change (", first,
      "); a resume may change only train.epochs, eval_every_steps, "
      "early_stopping, checkpoint, max_loss_factor, gradient_norm_band, "
      "threads, federated.rounds, federated.eval_every_rounds and the "
      "cluster's timeouts"));
}

bool CheckpointsOn(const v1::TrainConfig& train) {
  return train.checkpoint().every_steps() > 0 ||
         train.checkpoint().every_seconds() > 0;
}

int64_t BoundaryEveryVersions(const v1::JobConfig& config) {
  const v1::TrainConfig& train = config.train();
  const int64_t every = train.checkpoint().every_steps();
  if (every <= 0) return 0;
  // A federated round is one version: every_steps counts rounds.
  if (config.has_federated()) return every;
  if (train.consistency() == v1::BSP) {
    return std::max<int64_t>(
        1, every / std::max(1, config.cluster().num_workers()));
  }
  // A sparse model's step may push to only some shards: their versions
  // part, and a boundary one of them is asked for may never come.
  return IsSparseModel(config.model()) ? 0 : every;
}

Checkpointer::Checkpointer(CheckpointerOptions options)
    : options_(std::move(options)),
      last_versions_(options_.resumed_versions),
      last_step_(options_.resumed_step) {
  for (const v1::ShardInfo& shard : options_.shards) {
    stubs_.push_back(v1::ParameterServer::NewStub(
        MakeChannel(shard.address(), options_.security)));
  }
  const v1::TrainConfig& train = options_.config.train();
  const int workers = std::max(1, options_.config.cluster().num_workers());
  for (const IndexRange& share :
       SplitEvenly(options_.train_examples, workers)) {
    const int64_t batch = train.batch_size() > 0
                              ? train.batch_size()
                              : std::max<int64_t>(1, share.size());
    const int64_t per_epoch = (share.size() + batch - 1) / batch;
    steps_per_epoch_.push_back(per_epoch);
  }
  if (train.checkpoint().every_seconds() > 0) {
    next_time_ =
        absl::Now() + absl::Seconds(train.checkpoint().every_seconds());
  }
}

bool Checkpointer::Due(int64_t global_step,
                       const std::vector<int64_t>& shard_versions,
                       absl::Time now) {
  const int64_t every = options_.config.train().checkpoint().every_steps();
  const int64_t boundary = BoundaryEveryVersions(options_.config);
  if (boundary > 0 && !shard_versions.empty()) {
    // A shard that passed the next boundary holds its copy: take it now.
    int64_t done = asked_version_;
    for (const int64_t version : last_versions_) {
      done = std::max(done, version);
    }
    const int64_t furthest =
        *std::max_element(shard_versions.begin(), shard_versions.end());
    if (furthest >= (done / boundary + 1) * boundary) {
      due_at_boundary_ = true;
      return true;
    }
  }
  if (every > 0 && boundary == 0) {
    // The first boundary after the step the job started (or resumed) at:
    // a resumed job's workers may not have reported their steps yet.
    if (next_step_ == 0) {
      next_step_ =
          (std::max(global_step, options_.resumed_step) / every + 1) * every;
    }
    if (global_step >= next_step_) return true;
  }
  return now >= next_time_;
}

std::vector<absl::StatusOr<v1::CheckpointResponse>> Checkpointer::AskShards(
    int64_t at_version, const std::string& name, absl::Duration deadline) {
  std::vector<absl::StatusOr<v1::CheckpointResponse>> answers(
      stubs_.size(), absl::UnknownError("not asked"));
  std::vector<std::thread> calls;
  for (size_t i = 0; i < stubs_.size(); ++i) {
    calls.emplace_back([&, i] {
      v1::CheckpointRequest request;
      request.mutable_header()->set_job_id(options_.config.job_id());
      request.mutable_header()->set_worker_id(kCoordinatorWorkerId);
      request.set_at_version(at_version);
      request.set_directory(name);
      v1::CheckpointResponse response;
      grpc::ClientContext context;
      SetDeadline(&context, deadline);
      const grpc::Status status =
          stubs_[i]->Checkpoint(&context, request, &response);
      if (status.ok()) {
        answers[i] = std::move(response);
      } else {
        answers[i] = FromGrpcStatus(status);
      }
    });
  }
  for (std::thread& call : calls) call.join();
  return answers;
}

absl::StatusOr<CheckpointTaken> Checkpointer::Take(
    const std::string& reason, const Coordinator& coordinator,
    const std::string& best_tensors, int best_evaluation, bool final,
    bool periodic, absl::Duration patience) {
  const absl::Time start = absl::Now();
  const absl::Time give_up = start + patience;
  const v1::TrainConfig& train = options_.config.train();
  const bool bsp = train.consistency() == v1::BSP;
  const int workers = std::max(1, options_.config.cluster().num_workers());
  // Move the schedule on first, so that a failed checkpoint is not retried
  // at once.
  const int64_t every = train.checkpoint().every_steps();
  const int64_t step_now = coordinator.Status().global_step();
  if (every > 0) {
    next_step_ = std::max(next_step_, (step_now / every + 1) * every);
  }
  if (train.checkpoint().every_seconds() > 0) {
    next_time_ =
        absl::Now() + absl::Seconds(train.checkpoint().every_seconds());
  }

  // BSP before the end: a step boundary of every shard. Shards are within
  // one step of each other, and the servers' heartbeats may lag. Periodic
  // ones: the last boundary the shards copied their state at, unless it is
  // checkpointed already (then the next); others: the next version.
  const int64_t boundary =
      periodic && due_at_boundary_ ? BoundaryEveryVersions(options_.config) : 0;
  due_at_boundary_ = false;
  auto boundary_from = [boundary](int64_t version) {  // the next multiple
    return (version + boundary - 1) / boundary * boundary;
  };
  int64_t at_version = 0;
  if (!final && (bsp || boundary > 0)) {
    const std::vector<int64_t> reported = coordinator.ShardVersions();
    const int64_t furthest =
        *std::max_element(reported.begin(), reported.end());
    if (boundary > 0) {
      const int64_t done =
          last_versions_.empty()
              ? 0
              : *std::max_element(last_versions_.begin(), last_versions_.end());
      at_version =
          std::max(furthest / boundary * boundary, boundary_from(done + 1));
    } else {
      at_version = furthest + 1;
    }
  }
  if (boundary > 0) asked_version_ = std::max(asked_version_, at_version);
  std::error_code error;
  fs::create_directories(options_.root, error);
  std::vector<absl::StatusOr<v1::CheckpointResponse>> answers;
  std::string dir;
  int64_t name_step = 0;
  for (int attempt = 0;; ++attempt) {
    // A version counts steps of every worker (BSP) or pushes (ASP, SSP).
    const int64_t global_step = at_version == 0
                                    ? coordinator.Status().global_step()
                                    : (bsp ? at_version * workers : at_version);
    name_step = std::max(global_step, last_step_ + 1);
    const std::string name = CheckpointDirName(name_step);
    dir = absl::StrCat(options_.root, "/", name);
    if (ReadCompleteCheckpoint(dir).ok()) {
      // This global step is checkpointed already (the end, right after a
      // periodic checkpoint): keep that one.
      CheckpointTaken taken;
      taken.skipped = true;
      return taken;
    }
    fs::remove_all(dir, error);  // an earlier, unfinished attempt
    if (!fs::create_directories(dir, error) && error) {
      return absl::InternalError(
          absl::StrCat(dir, ": cannot create: ", error.message()));
    }
    const absl::Duration left = give_up - absl::Now();
    answers = AskShards(
        at_version, name,
        std::max(absl::Milliseconds(100), std::min(left, options_.deadline)));
    int64_t furthest = -1;
    for (const auto& answer : answers) {
      if (answer.ok() && answer->missed()) {
        furthest = std::max(furthest, answer->version());
      }
    }
    if (furthest < 0) break;
    fs::remove_all(dir, error);
    if (attempt + 1 >= kBoundaryAttempts || absl::Now() >= give_up) {
      return absl::DeadlineExceededError(absl::StrCat(
          "checkpoint: the shards kept passing the step boundary asked for (",
          at_version, ")"));
    }
    if (boundary > 0) {
      // A shard past the boundary answers with the later one it holds a
      // copy of (or, holding none, its version: the next boundary then).
      at_version = boundary_from(furthest);
      asked_version_ = std::max(asked_version_, at_version);
    } else {
      // Shards move on while the answers travel: aim further ahead each
      // time.
      at_version = furthest + (int64_t{1} << (2 * attempt + 1));
    }
  }
  v1::CheckpointManifest manifest;
  for (size_t i = 0; i < answers.size(); ++i) {
    if (!answers[i].ok()) {
      fs::remove_all(dir, error);
      return absl::Status(answers[i].status().code(),
                          absl::StrCat("checkpoint: shard ", i, " (",
                                       options_.shards[i].address(),
                                       "): ", answers[i].status().message()));
    }
    v1::ShardCheckpoint* shard = manifest.add_shards();
    shard->set_shard(static_cast<int32_t>(i));
    shard->set_version(answers[i]->version());
    shard->mutable_file()->set_name(absl::StrCat("shard-", i, ".safetensors"));
    shard->mutable_file()->set_bytes(answers[i]->bytes());
    shard->mutable_file()->set_crc32(answers[i]->crc32());
  }
  std::vector<int64_t> versions;
  for (const v1::ShardCheckpoint& shard : manifest.shards()) {
    versions.push_back(shard.version());
  }
  CheckpointTaken taken;
  if (versions == last_versions_) {
    // Nothing changed since the last checkpoint (the end, right after a
    // periodic one): keep that one.
    fs::remove_all(dir, error);
    taken.skipped = true;
    return taken;
  }
  const int64_t low = *std::min_element(versions.begin(), versions.end());
  const int64_t high = *std::max_element(versions.begin(), versions.end());
  if (options_.config.has_federated()) {
    // The recorder's records of the rounds the shards hold come with its
    // heartbeats (every 200 ms), a round or two behind: wait for them, but
    // not for a recorder that is gone.
    const absl::Time wait_until =
        std::min(give_up, absl::Now() + kRecordsPatience);
    while (coordinator.RoundsRecorded() < low && absl::Now() < wait_until) {
      absl::SleepFor(absl::Milliseconds(20));
    }
    if (coordinator.RoundsRecorded() < low) {
      LOG(WARNING) << "checkpoint: the records of rounds "
                   << coordinator.RoundsRecorded() << " to " << low - 1
                   << " had not arrived; a resume from it leaves them out "
                      "of rounds.csv";
    }
  }
  manifest.set_format_version(1);
  manifest.set_job_id(options_.config.job_id());
  *manifest.mutable_config() = options_.config;
  manifest.set_reason(reason);
  manifest.set_version(low);
  manifest.set_version_skew(high - low);
  coordinator.FillCheckpoint(steps_per_epoch_, &manifest);
  if (bsp) {
    // Every configured worker has done exactly min(version, its total)
    // steps; one that joined the running job counts what it reported.
    int64_t global = 0;
    const std::vector<int64_t> totals = coordinator.TotalSteps();
    for (v1::WorkerCheckpoint& w : *manifest.mutable_workers()) {
      if (w.worker() >= static_cast<int32_t>(totals.size())) {
        global += w.step();
        continue;
      }
      const int64_t total = totals[w.worker()];
      const int64_t per_epoch =
          std::max<int64_t>(1, steps_per_epoch_[w.worker()]);
      w.set_step(std::min(low, total));
      w.set_epoch(w.step() / per_epoch);
      w.set_position(w.step() % per_epoch);
      w.set_done(w.step() == total);
      global += w.step();
    }
    manifest.set_global_step(global);
  } else if (at_version > 0) {
    // The shards' copies are of a boundary, the workers' reports of
    // whenever they last beat: each worker resumes at the steps of it
    // every shard holds (a shard that holds more gets those again), or,
    // having pushed nothing to some shard since it started, at its report.
    int64_t global = 0;
    const std::vector<int64_t> totals = coordinator.TotalSteps();
    for (v1::WorkerCheckpoint& w : *manifest.mutable_workers()) {
      int64_t held = std::numeric_limits<int64_t>::max();
      for (const auto& answer : answers) {
        const int64_t steps = w.worker() < answer->worker_steps_size()
                                  ? answer->worker_steps(w.worker())
                                  : 0;
        held = steps > 0 ? std::min(held, steps) : 0;
        if (held == 0) break;
      }
      if (held > 0 && w.worker() < static_cast<int32_t>(totals.size())) {
        const int64_t per_epoch =
            std::max<int64_t>(1, steps_per_epoch_[w.worker()]);
        w.set_step(held);
        w.set_epoch(held / per_epoch);
        w.set_position(held % per_epoch);
        w.set_done(held == totals[w.worker()]);
      }
      global += w.step();
    }
    manifest.set_global_step(global);
  }
  manifest.set_best_evaluation(best_tensors.empty() ? -1 : best_evaluation);
  if (!best_tensors.empty()) {
    const std::string path = absl::StrCat(dir, "/best.safetensors");
    RETURN_IF_ERROR(WriteFileAtomically(path, best_tensors));
    manifest.mutable_best()->set_name("best.safetensors");
    manifest.mutable_best()->set_bytes(
        static_cast<int64_t>(best_tensors.size()));
    manifest.mutable_best()->set_crc32(Crc32(best_tensors));
  }
  manifest.set_created(
      absl::FormatTime(absl::RFC3339_sec, absl::Now(), absl::UTCTimeZone()));
  RETURN_IF_ERROR(WriteCheckpointManifest(dir, manifest));
  RETURN_IF_ERROR(SyncDirectory(options_.root));
  last_versions_ = versions;
  last_step_ = name_step;
  absl::Status pruned = PruneCheckpoints(
      options_.root,
      train.checkpoint().has_keep() ? train.checkpoint().keep() : 3);
  if (!pruned.ok()) LOG(WARNING) << pruned.message();
  taken.dir = dir;
  taken.global_step = manifest.global_step();
  for (const v1::ShardCheckpoint& shard : manifest.shards()) {
    taken.bytes += shard.file().bytes();
  }
  taken.bytes += manifest.best().bytes();
  taken.seconds = absl::ToDoubleSeconds(absl::Now() - start);
  return taken;
}

}  // namespace descent
