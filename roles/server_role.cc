#include "roles/server_role.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/config/job_options.h"
#include "common/defaults.h"
#include "common/exit_codes.h"
#include "common/federated/secure_config.h"
#include "common/metrics.h"
#include "common/model/model_factory.h"
#include "common/process_metrics.h"
#include "common/status_macros.h"
#include "glog/logging.h"
#include "roles/checkpointer.h"
#include "roles/heartbeat.h"
#include "roles/metrics_server.h"
#include "roles/stop_signals.h"
#include "rpc/grpc_coordinator_client.h"
#include "rpc/parameter_server_service.h"
#include "rpc/rpc.h"
#include "rpc/shm_server.h"
#include "server/coordinator/model_dir.h"
#include "server/shard/metrics_observer.h"
#include "server/shard/parameter_shard.h"
#include "server/shard/shard_checkpoint.h"

namespace descent {
namespace {

// SIGTERM, SIGINT and SIGHUP. Before the shard holds a job's parameters
// there is nothing to keep: the process exits at once with code 130. After,
// the serving loop notices g_stop within 100 ms and closes the shard.
std::atomic<int> g_stop{0};
std::atomic<bool> g_holding{false};

void OnStop(int signal) {
  if (!g_holding.load()) {
    constexpr char kMessage[] = "descent server: interrupted before serving\n";
    (void)!::write(STDERR_FILENO, kMessage, sizeof(kMessage) - 1);
    ::_exit(kExitInterrupted);
  }
  g_stop.store(signal);
}

// Exact counts of every push's staleness (capped), for the percentiles a
// shard logs when its job ends.
class StalenessTally {
 public:
  void Add(int64_t staleness) {
    absl::MutexLock lock(&mu_);
    ++counts_[std::clamp<int64_t>(staleness, 0, kCap)];
    ++total_;
  }

  // "staleness over N pushes: p50 A, p90 B, p99 C, max D".
  std::string Summary() const {
    absl::MutexLock lock(&mu_);
    std::string text = absl::StrCat("staleness over ", total_, " pushes:");
    if (total_ == 0) return text + " none";
    for (double q : {0.5, 0.9, 0.99}) {
      absl::StrAppend(&text, " p", static_cast<int>(q * 100), " ", Quantile(q),
                      ",");
    }
    absl::StrAppend(&text, " max ", Quantile(1.0));
    return text;
  }

 private:
  static constexpr int64_t kCap = 4096;

  // The smallest value with at least q * total_ pushes at or below it.
  int64_t Quantile(double q) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    const auto rank = static_cast<int64_t>(std::ceil(q * total_));
    int64_t seen = 0;
    for (int64_t value = 0; value <= kCap; ++value) {
      seen += counts_[value];
      if (seen >= std::max<int64_t>(rank, 1)) return value;
    }
    return kCap;
  }

  mutable absl::Mutex mu_;
  std::vector<int64_t> counts_ ABSL_GUARDED_BY(mu_) =
      std::vector<int64_t>(kCap + 1, 0);
  int64_t total_ ABSL_GUARDED_BY(mu_) = 0;
};

absl::StatusOr<std::unique_ptr<ParameterShard>> CreateShard(
    int shard, const v1::RegisterServerResponse& registration,
    ServerMetrics* metrics, StalenessTally* tally,
    std::function<void()> on_snapshot) {
  const v1::JobConfig& config = registration.config();
  const DataShape shape{registration.num_features(),
                        registration.num_classes()};
  ResolvedShard resolved = ResolveShard(config);
  ParameterShardOptions options;
  options.job_id = std::move(resolved.job_id);
  options.num_workers = resolved.num_workers;
  options.max_workers = resolved.max_workers;
  options.range = {static_cast<int64_t>(registration.begin()),
                   static_cast<int64_t>(registration.end())};
  ASSIGN_OR_RETURN(ModelLayout layout, BuildLayout(config.model(), shape));
  options.layout = std::move(layout.dense);
  options.table = std::move(layout.table);
  options.shard = shard;
  options.num_shards = resolved.num_shards;
  options.seed = resolved.seed;
  options.optimizer = std::move(resolved.optimizer);
  options.consistency = resolved.consistency;
  options.staleness = resolved.staleness;
  options.backup_workers = resolved.backup_workers;
  options.snapshot_every = BoundaryEveryVersions(config);
  // DP-SGD too (privacy without federated): the noise on each step's mean.
  options.privacy = PrivacyOptionsOf(config);
  if (config.has_federated()) {
    options.robust = RobustOptionsOf(config);
    options.secure = SecureOptionsOf(config);
    options.clients = config.federated().clients();
  }
  options.on_snapshot = std::move(on_snapshot);
  if (resolved.max_sparse_rows > 0) {
    options.max_sparse_rows = resolved.max_sparse_rows;
  }
  options.observer = [record = MetricsObserver(metrics),
                      tally](const PushRecord& push) {
    record(push);
    if (!push.duplicate) tally->Add(push.staleness);
  };
  return ParameterShard::Create(std::move(options));
}

// train.init_from: the model directory's parameters of this shard's range
// and its sparse rows.
absl::Status WarmStart(const v1::RegisterServerResponse& registration,
                       int index, ParameterShard& shard) {
  const std::string& dir = registration.config().train().init_from();
  const DataShape shape{registration.num_features(),
                        registration.num_classes()};
  ASSIGN_OR_RETURN(ModelLayout layout,
                   BuildLayout(registration.config().model(), shape));
  ASSIGN_OR_RETURN(ModelDir model, ReadModelDir(dir));
  const std::string path = absl::StrCat(dir, "/", kModelTensorsFile);
  ASSIGN_OR_RETURN(std::vector<float> dense,
                   FlatParameters(layout.dense, model.tensors, path));
  std::vector<uint64_t> keys;
  std::vector<float> rows;
  for (NamedTensor& t : model.tensors) {
    if (t.name == "sparse/keys") keys = std::move(t.u64);
    if (t.name == "sparse/rows") rows = std::move(t.f32);
  }
  const std::vector<float> slice(dense.begin() + registration.begin(),
                                 dense.begin() + registration.end());
  RETURN_IF_ERROR(shard.WarmStart(slice, keys, rows));
  LOG(INFO) << "shard " << index << ": warm start from " << dir;
  return absl::OkStatus();
}

// `advertise` with its port taken from `bound` if it has none or port 0.
std::string AdvertisedAddress(const std::string& advertise,
                              const std::string& bound) {
  if (advertise.empty()) return bound;
  const std::string port = bound.substr(bound.rfind(':') + 1);
  const size_t colon = advertise.rfind(':');
  if (colon == std::string::npos) return absl::StrCat(advertise, ":", port);
  if (advertise.substr(colon + 1) == "0") {
    return absl::StrCat(advertise.substr(0, colon), ":", port);
  }
  return advertise;
}

absl::Status Serve(const ServerRoleOptions& options) {
  std::unique_ptr<MetricsRegistry> registry = MetricsRegistry::Create(
      {{"role", "server"}, {"shard", absl::StrCat(options.shard)}});
  ASSIGN_OR_RETURN(std::unique_ptr<MetricsServer> metrics_server,
                   MetricsServer::Start(*registry, options.metrics_listen));
  ServerMetrics metrics(*registry);
  metrics.memory_limit.Set(static_cast<double>(MemoryLimitBytes()));
  StalenessTally tally;
  ParameterServerService service(&metrics, options.security.token);
  ASSIGN_OR_RETURN(RunningServer rpc,
                   StartRpcServer(options.listen, {&service}, options.security,
                                  service.ServerOptions()));
  service.ReportHealth(rpc.server.get());
  // Workers on this host reach the shard through shared memory; without
  // the endpoint they use gRPC.
  absl::StatusOr<std::unique_ptr<ShmServer>> local = ShmServer::Start(&service);
  if (!local.ok()) {
    LOG(WARNING) << "shard " << options.shard << ": no shared-memory endpoint ("
                 << local.status().message() << "); every call goes over gRPC";
  }
  LOG(INFO) << "shard " << options.shard << " serving on " << rpc.address
            << (local.ok() ? absl::StrCat(" and @", (*local)->name()) : "")
            << ", metrics on " << metrics_server->address();

  GrpcCoordinatorClient coordinator(options.coordinator, options.security);
  v1::RegisterServerRequest request;
  request.set_shard(options.shard);
  request.set_address(
      AdvertisedAddress(options.advertise_address, rpc.address));
  request.set_metrics_address(metrics_server->address());
  request.set_pid(::getpid());
  if (local.ok()) request.set_local_socket((*local)->name());
  // The job's registration timeout is in the config this answer brings.
  ASSIGN_OR_RETURN(
      v1::RegisterServerResponse registration,
      coordinator.RegisterServer(
          request, absl::Seconds(defaults::kRegistrationTimeoutSeconds)));
  registry->AddLabel("job_id", registration.config().job_id());
  // The heartbeat loop starts after the shard: until then a boundary
  // copy (none before the first push) has nobody to tell.
  std::atomic<HeartbeatLoop*> beats{nullptr};
  ASSIGN_OR_RETURN(
      std::unique_ptr<ParameterShard> shard,
      CreateShard(options.shard, registration, &metrics, &tally, [&beats] {
        if (HeartbeatLoop* loop = beats.load()) {
          loop->BeatNow();
        }
      }));
  if (!registration.restore_path().empty()) {
    ASSIGN_OR_RETURN(ShardState state,
                     ReadShardCheckpoint(registration.restore_path(),
                                         {registration.restore_bytes(),
                                          registration.restore_crc32()}));
    const int64_t version = state.version;
    // Who is done depends on the resumed config (more epochs, say), not on
    // who had left when the checkpoint was taken.
    state.left.assign(registration.done_workers().begin(),
                      registration.done_workers().end());
    absl::Status restored = shard->Restore(std::move(state));
    if (!restored.ok()) {
      return absl::DataLossError(
          absl::StrCat(registration.restore_path(), ": ", restored.message()));
    }
    LOG(INFO) << "shard " << options.shard << ": restored version " << version
              << " from " << registration.restore_path();
  } else if (!registration.config().train().init_from().empty()) {
    RETURN_IF_ERROR(WarmStart(registration, options.shard, *shard));
  }
  metrics.parameters.Set(shard->range().size());
  metrics.parameter_norm.Set(shard->parameter_norm());
  metrics.memory.Set(static_cast<double>(shard->memory_bytes()));
  service.Attach(shard.get(), options.shard, registration.checkpoint_root());
  LOG(INFO) << "job " << registration.config().job_id() << ": shard "
            << options.shard << " holds parameters [" << registration.begin()
            << ", " << registration.end() << ")";

  const ResolvedPeer peer = ResolvePeer(registration.config());
  HeartbeatLoop::Options heartbeat;
  heartbeat.client = &coordinator;
  heartbeat.job_id = peer.job_id;
  heartbeat.role = v1::SERVER;
  heartbeat.id = options.shard;
  heartbeat.lost_after = peer.heartbeat_timeout;
  heartbeat.version = [&shard] { return shard->version(); };
  heartbeat.on_answer = [&shard](const v1::HeartbeatResponse& answer) {
    for (int32_t worker : answer.joined_workers()) shard->WorkerJoined(worker);
    for (int32_t worker : answer.lost_workers()) shard->WorkerLost(worker);
  };
  HeartbeatLoop loop(std::move(heartbeat));
  beats.store(&loop);
  g_holding.store(true);
  absl::Status outcome;
  while (true) {
    if (loop.AwaitEnd(absl::Milliseconds(100))) {
      outcome = loop.WaitForEnd();
      break;
    }
    if (const int signal = g_stop.load(); signal != 0) {
      // Stopped gently: held answers released, the RPC server shut down,
      // this shard's state left to the job's checkpoints.
      outcome =
          WithExitCode(absl::CancelledError(absl::StrCat(
                           "interrupted by ", strsignal(signal), " at version ",
                           shard->version(), "; shard closed")),
                       kExitInterrupted);
      break;
    }
  }
  LOG(INFO) << "shard " << options.shard << ": " << tally.Summary();
  service.Close();  // answers held at the gate would block Shutdown
  if (local.ok()) (*local)->Stop();
  beats.store(nullptr);  // closed: the shard copies nothing more
  rpc.server->Shutdown(absl::ToChronoTime(absl::Now() + absl::Seconds(1)));
  return outcome;
}

}  // namespace

int RunServer(const ServerRoleOptions& options) {
  OnStopSignals(OnStop);
  absl::Status status = Serve(options);
  if (status.ok()) return kExitOk;
  LOG(ERROR) << "shard " << options.shard << ": " << status.message();
  return ExitCodeFor(status);
}

}  // namespace descent
