#include "common/config/job_options.h"

#include <sched.h>

#include <algorithm>
#include <cstdlib>
#include <limits>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/config/config.h"
#include "glog/logging.h"

namespace descent {
namespace {

// Test examples per forward pass of a dense evaluator: enough rows for the
// kernels' matrix products to run at speed, few enough that the buffers
// stay small next to the test set.
constexpr int kEvalBatch = 256;

}  // namespace

void AssignJobId(v1::JobConfig* config) {
  if (config->job_id().empty()) config->set_job_id(NewJobId());
}

std::string OutputDirOf(const std::string& requested,
                        const v1::JobConfig& config) {
  return requested.empty() ? absl::StrCat("runs/", config.job_id()) : requested;
}

bool EarlyStoppingOn(const v1::TrainConfig& train) {
  return train.early_stopping().patience() > 0;
}

ResolvedPeer ResolvePeer(const v1::JobConfig& config) {
  const v1::ClusterConfig& cluster = config.cluster();
  ResolvedPeer peer;
  peer.job_id = config.job_id();
  peer.heartbeat_timeout = absl::Seconds(cluster.heartbeat_timeout_seconds());
  peer.registration_timeout =
      absl::Seconds(cluster.registration_timeout_seconds());
  peer.rpc_deadline = absl::Seconds(cluster.rpc_deadline_seconds());
  peer.shared_memory = cluster.shared_memory();
  return peer;
}

ResolvedTrain ResolveTrain(const v1::JobConfig& config,
                           int64_t shard_examples) {
  const v1::TrainConfig& t = config.train();
  const int64_t whole_shard =
      std::clamp<int64_t>(shard_examples, 1, std::numeric_limits<int>::max());
  ResolvedTrain train;
  train.epochs = t.epochs();
  train.batch_size =
      t.batch_size() == 0 ? static_cast<int>(whole_shard) : t.batch_size();
  train.seed = t.seed();
  train.overlap = t.overlap_communication();
  train.clip_value = static_cast<float>(config.optimizer().clip_value());
  train.clip_norm = static_cast<float>(config.optimizer().clip_norm());
  if (config.has_privacy() && !config.has_federated()) {
    train.example_clip_norm = static_cast<float>(config.privacy().clip_norm());
  }
  train.max_loss_factor = t.max_loss_factor();
  train.threads = t.threads();
  train.encoding = t.communication().encoding();
  train.top_k_fraction = t.communication().top_k_fraction();
  train.push_every = std::max(1, t.communication().push_every());
  train.local_learning_rate =
      static_cast<float>(t.communication().local_learning_rate());
  return train;
}

ResolvedShard ResolveShard(const v1::JobConfig& config) {
  ResolvedShard shard;
  shard.job_id = config.job_id();
  shard.num_workers = config.cluster().num_workers();
  shard.max_workers = config.cluster().max_workers();
  shard.num_shards = config.cluster().num_servers();
  shard.seed = config.train().seed();
  shard.optimizer = config.optimizer();
  shard.consistency = config.train().consistency();
  shard.staleness = config.train().staleness();
  shard.backup_workers = config.train().backup_workers();
  shard.max_sparse_rows = config.cluster().max_sparse_rows_per_shard();
  return shard;
}

int ResolveThreads(int configured, int local_workers) {
  if (configured > 0) return configured;
  if (const char* env = std::getenv("OMP_NUM_THREADS"); env != nullptr) {
    LOG(INFO) << "train.threads unset: OpenMP's default (OMP_NUM_THREADS="
              << env << ")";
    return 0;
  }
  cpu_set_t cpus;
  CPU_ZERO(&cpus);
  const int cores = sched_getaffinity(0, sizeof(cpus), &cpus) == 0
                        ? CPU_COUNT(&cpus)
                        : static_cast<int>(std::thread::hardware_concurrency());
  const int sharing = std::max(1, local_workers);
  const int threads = std::max(1, cores / sharing);
  LOG(INFO) << "train.threads unset: " << threads << " OpenMP thread"
            << (threads == 1 ? "" : "s") << " (" << cores << " cores, "
            << sharing << " worker" << (sharing == 1 ? "" : "s")
            << " of the job on this host)";
  return threads;
}

ResolvedEval ResolveEval(const v1::JobConfig& config) {
  ResolvedEval eval;
  eval.max_batch = kEvalBatch;
  eval.threads = config.train().threads();
  return eval;
}

}  // namespace descent
