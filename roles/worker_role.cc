#include "roles/worker_role.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <memory>
#include <random>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/config/job_options.h"
#include "common/data/data_source.h"
#include "common/defaults.h"
#include "common/exit_codes.h"
#include "common/federated/round_plan.h"
#include "common/metrics.h"
#include "common/model/model_factory.h"
#include "common/partition.h"
#include "common/ps_client.h"
#include "common/status_macros.h"
#include "glog/logging.h"
#include "roles/epoch_shares.h"
#include "roles/heartbeat.h"
#include "roles/metrics_server.h"
#include "roles/stop_signals.h"
#include "rpc/grpc_coordinator_client.h"
#include "rpc/rpc.h"
#include "rpc/shm_shard_transport.h"
#include "worker/federated_trainer.h"
#include "worker/trainer.h"

namespace descent {
namespace {

// The signal that asked this worker to drain (SIGTERM, SIGINT, SIGHUP), or
// 0: it stops between steps and leaves the job for good.
std::atomic<int> g_drain{0};

// Whether this worker holds an id of the job: before that, a drain has
// nobody to tell and the process exits at once with code 130.
std::atomic<bool> g_registered{false};

void OnDrain(int signal) {
  if (!g_registered.load()) {
    constexpr char kMessage[] = "descent worker: interrupted before joining\n";
    (void)!::write(STDERR_FILENO, kMessage, sizeof(kMessage) - 1);
    ::_exit(kExitInterrupted);
  }
  g_drain.store(signal);
}

// Tells the coordinator that this worker leaves for good (drained), with
// its progress so far; the job goes on without it.
void Leave(HeartbeatLoop& loop, int32_t id) {
  if (absl::Status told = loop.Leave(); !told.ok()) {
    LOG(WARNING) << "worker " << id
                 << ": could not tell the coordinator that it leaves: "
                 << told.message();
  }
}

absl::StatusOr<v1::RegisterWorkerResponse> Register(
    CoordinatorClient& coordinator, const MetricsServer& metrics_server,
    int worker_id) {
  v1::RegisterWorkerRequest request;
  if (worker_id >= 0) request.set_requested_id(worker_id);
  std::random_device random;
  request.set_instance_id((uint64_t{random()} << 32) | random());
  request.set_metrics_address(metrics_server.address());
  request.set_pid(::getpid());
  // The job's registration timeout is in the config this answer brings.
  return coordinator.RegisterWorker(
      request, absl::Seconds(defaults::kRegistrationTimeoutSeconds));
}

// The examples of this worker's first epoch: its share of the training
// set, which it alone reads.
absl::StatusOr<EpochData> FirstEpoch(EpochShares& shares,
                                     const v1::RegisterWorkerResponse& r) {
  ASSIGN_OR_RETURN(std::optional<EpochData> first,
                   shares.Epoch(r.first_epoch()));
  if (!first.has_value() || first->size() == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "worker ", r.worker_id(), " got an empty data shard: ",
        "fewer examples than the ", r.num_data_shards(), " workers"));
  }
  return *first;
}

absl::StatusOr<std::unique_ptr<PsClient>> ConnectShards(
    CoordinatorClient& coordinator, const v1::RegisterWorkerResponse& r,
    const ResolvedPeer& peer, const ResolvedTrain& train,
    const RpcSecurity& security) {
  ASSIGN_OR_RETURN(v1::JobStatus status,
                   coordinator.WaitUntilRunning(peer.registration_timeout));
  PsClient::Options options;
  options.job_id = peer.job_id;
  options.worker_id = r.worker_id();
  options.incarnation = r.incarnation();
  options.shards.assign(status.shards().begin(), status.shards().end());
  options.deadline = peer.rpc_deadline;
  options.max_attempts = 5;
  options.connect = ShardTransportFactoryFor(security, peer.shared_memory);
  options.encoding = train.encoding;
  options.top_k_fraction = train.top_k_fraction;
  return PsClient::Create(std::move(options));
}

TrainerOptions TrainerOptionsOf(const ResolvedTrain& train, int32_t worker_id) {
  TrainerOptions options;
  options.epochs = train.epochs;
  options.batch_size = train.batch_size;
  options.seed = train.seed;
  options.worker_id = worker_id;
  options.overlap = train.overlap;
  options.push_every = train.push_every;
  options.local_learning_rate = train.local_learning_rate;
  options.clip_value = train.clip_value;
  options.clip_norm = train.clip_norm;
  options.example_clip_norm = train.example_clip_norm;
  options.max_loss_factor = train.max_loss_factor;
  return options;
}

// A federated job's worker: the whole training split (its clients' data
// are index ranges into it), the test split (for when it is the recorder),
// one model per thread.
struct FederatedRun {
  Dataset train;
  Dataset test;
  ClientData clients;
  std::vector<std::unique_ptr<Model>> models;
  std::unique_ptr<Model> evaluator;  // the recorder's, for the test split
  std::unique_ptr<PsClient> ps;
  std::unique_ptr<FederatedTrainer> trainer;
};

// Fills *run in place (the trainer points into it).
absl::Status FederatedSetup(const v1::JobConfig& config,
                            const v1::RegisterWorkerResponse& r,
                            const ResolvedPeer& peer,
                            const WorkerRoleOptions& options,
                            CoordinatorClient& coordinator,
                            WorkerMetrics* metrics, FederatedRun* run) {
  const DataSource source(config);
  ASSIGN_OR_RETURN(Examples train, source.LoadTrainShard(0, 1));
  run->train = std::move(train.dense());
  // Every worker: it records and evaluates the rounds if the recorder
  // before it is lost.
  ASSIGN_OR_RETURN(Examples test, source.LoadTest());
  run->test = std::move(test.dense());
  const FederatedOptions federated = FederatedOptionsOf(config);
  std::vector<int32_t> zeros;  // regression data: one class
  absl::Span<const int32_t> labels = run->train.labels;
  if (labels.empty()) {
    zeros.assign(run->train.num_examples, 0);
    labels = zeros;
  }
  ASSIGN_OR_RETURN(run->clients,
                   MakeClientData(federated, labels, run->train.num_classes));
  const ResolvedTrain train_options =
      ResolveTrain(config, run->train.num_examples);
  ASSIGN_OR_RETURN(run->ps, ConnectShards(coordinator, r, peer, train_options,
                                          options.security));
  const int threads =
      ResolveThreads(train_options.threads, options.local_workers);
  const int max_batch =
      FederatedTrainer::MaxLocalBatch(federated, run->clients);
  const DataShape shape{r.num_features(), r.num_classes()};
  std::vector<Model*> models;
  for (int t = 0; t < threads; ++t) {
    ASSIGN_OR_RETURN(std::unique_ptr<Model> model,
                     CreateModel(config.model(), shape, max_batch, 1));
    models.push_back(model.get());
    run->models.push_back(std::move(model));
  }
  // Evaluations in large batches on every thread, not the clients' small
  // ones.
  constexpr int kEvalBatch = 1024;
  ASSIGN_OR_RETURN(run->evaluator,
                   CreateModel(config.model(), shape, kEvalBatch, threads));
  FederatedTrainerOptions trainer;
  trainer.federated = federated;
  trainer.worker_id = r.worker_id();
  trainer.num_workers = config.cluster().num_workers();
  trainer.start_round = r.start_step();
  LOG(INFO) << "worker " << r.worker_id() << " hosts the clients k with k mod "
            << trainer.num_workers << " = " << r.worker_id() << " of "
            << federated.clients << ", " << threads << " at a time";
  run->trainer = std::make_unique<FederatedTrainer>(
      trainer, std::move(models), run->ps.get(), &run->train, &run->clients,
      &run->test, metrics, run->evaluator.get());
  return absl::OkStatus();
}

// What a worker does once its training loop has returned `trained`:
// leave if drained, report a divergence, tell a push that failed because
// the job ended from a real failure, and wait for the job's end. `steps`
// gives the steps it trained.
absl::Status AfterTraining(HeartbeatLoop& loop, int32_t id,
                           absl::Status trained,
                           const std::function<int64_t()>& steps) {
  if (const int signal = g_drain.load(); signal != 0 && !loop.ended()) {
    // Drained: stopped between steps, its pushes answered; the job goes on
    // without it.
    LOG(WARNING) << "worker " << id << ": " << strsignal(signal)
                 << ": drained after " << steps()
                 << " steps; the job goes on without it";
    Leave(loop, id);
    return absl::OkStatus();
  }
  if (ExplicitExitCode(trained) == kExitDiverged) {
    // The progress carries the divergence: let the coordinator hear it and
    // end the job (and write its summary) before this worker exits.
    loop.BeatNow();
    loop.WaitForEnd().IgnoreError();
    return trained;
  }
  if (!trained.ok()) {
    // A push can fail because the servers are closing after the job ended
    // (early stopping stops workers mid-epoch): ask the coordinator before
    // calling it a failure.
    loop.BeatNow();
    if (!loop.AwaitEnd(absl::Seconds(1))) return trained;
  }
  loop.BeatNow();
  // Done: wait for the job's end, unless drained meanwhile (descent local
  // stopping it, an orchestrator scaling down).
  while (!loop.AwaitEnd(absl::Milliseconds(100))) {
    if (g_drain.load() != 0) {
      LOG(WARNING) << "worker " << id << ": " << strsignal(g_drain.load())
                   << " after its last step: leaving";
      Leave(loop, id);
      return absl::OkStatus();
    }
  }
  return loop.WaitForEnd();
}

absl::Status Work(const WorkerRoleOptions& options) {
  std::unique_ptr<MetricsRegistry> registry =
      MetricsRegistry::Create({{"role", "worker"}});
  ASSIGN_OR_RETURN(std::unique_ptr<MetricsServer> metrics_server,
                   MetricsServer::Start(*registry, options.metrics_listen));
  // Health only: a worker serves no calls. Small messages.
  RpcServerOptions limits;
  limits.max_receive_message_bytes = 64 << 10;
  limits.serving_at_start = false;
  ASSIGN_OR_RETURN(
      RunningServer health,
      StartRpcServer(options.listen, {}, options.security, limits));
  LOG(INFO) << "worker: gRPC health on " << health.address << ", metrics on "
            << metrics_server->address();
  // A health watcher must not hold the exit up.
  absl::Cleanup stop_health = [&health] {
    health.server->Shutdown(absl::ToChronoTime(absl::Now() + absl::Seconds(1)));
  };
  GrpcCoordinatorClient coordinator(options.coordinator, options.security);
  absl::StatusOr<v1::RegisterWorkerResponse> registered =
      Register(coordinator, *metrics_server, options.worker_id);
  if (absl::IsInvalidArgument(registered.status()) ||
      absl::IsAlreadyExists(registered.status()) ||
      absl::IsFailedPrecondition(registered.status())) {
    // A --worker_id the job cannot grant, or a job that takes no (more)
    // workers: its last epoch, every id taken, no longer registering.
    return WithExitCode(registered.status(), kExitUsage);
  }
  if (!registered.ok()) return registered.status();
  v1::RegisterWorkerResponse registration = *std::move(registered);
  g_registered.store(true);
  const v1::JobConfig& config = registration.config();
  const int32_t id = registration.worker_id();
  const ResolvedPeer peer = ResolvePeer(config);
  registry->AddLabel("worker", absl::StrCat(id));
  registry->AddLabel("job_id", config.job_id());
  WorkerMetrics metrics(*registry);
  LOG(INFO) << "job " << config.job_id() << ": worker " << id << ", metrics on "
            << metrics_server->address() << ", gRPC health on "
            << health.address;
  SetServing(health.server.get(), true);

  // Declared before the heartbeat loop, so they outlive its thread.
  std::unique_ptr<Model> model;
  std::unique_ptr<SparseModel> sparse_model;
  std::unique_ptr<PsClient> ps;
  std::unique_ptr<Trainer> trainer;
  std::atomic<const Trainer*> training{nullptr};
  // A federated job's instead.
  FederatedRun run;
  std::atomic<FederatedTrainer*> federated{nullptr};
  // Heartbeats start at once: loading data and waiting for the other
  // members must not look like silence to the coordinator.
  HeartbeatLoop::Options heartbeat;
  heartbeat.client = &coordinator;
  heartbeat.job_id = peer.job_id;
  heartbeat.role = v1::WORKER;
  heartbeat.id = id;
  heartbeat.lost_after = peer.heartbeat_timeout;
  heartbeat.incarnation = registration.incarnation();
  heartbeat.progress = [&training,
                        &federated]() -> std::optional<v1::WorkerProgress> {
    if (const FederatedTrainer* rounds = federated.load(); rounds != nullptr) {
      return rounds->Progress();
    }
    const Trainer* trainer = training.load();
    if (trainer == nullptr) return std::nullopt;
    return trainer->Progress();
  };
  heartbeat.on_answer = [&federated](const v1::HeartbeatResponse& answer) {
    if (FederatedTrainer* rounds = federated.load(); rounds != nullptr) {
      rounds->SetRecorder(answer.recorder());
      rounds->Recorded(answer.rounds_recorded());
    }
  };
  HeartbeatLoop loop(std::move(heartbeat));
  if (config.has_federated()) {
    RETURN_IF_ERROR(FederatedSetup(config, registration, peer, options,
                                   coordinator, &metrics, &run));
    federated.store(run.trainer.get());
    absl::Status trained = run.trainer->Run(
        [&loop] { return loop.ended() || g_drain.load() != 0; });
    SetServing(health.server.get(), false);
    return AfterTraining(loop, id, trained,
                         [&run] { return run.trainer->Progress().steps(); });
  }
  EpochShares shares(&loop, config, registration.num_features(),
                     peer.registration_timeout);
  ASSIGN_OR_RETURN(const EpochData first, FirstEpoch(shares, registration));
  const DataShape shape{registration.num_features(),
                        registration.num_classes()};
  const ResolvedTrain train = ResolveTrain(config, first.size());
  TrainerOptions trainer_options = TrainerOptionsOf(train, id);
  trainer_options.start_step = registration.start_step();
  trainer_options.first_epoch = registration.first_epoch();
  trainer_options.clock_offset = registration.clock_offset();
  ASSIGN_OR_RETURN(ps, ConnectShards(coordinator, registration, peer, train,
                                     options.security));
  LOG(INFO) << "worker " << id << " trains on " << first.size()
            << " examples from epoch " << registration.first_epoch() << ", "
            << train.batch_size << " a step";
  if (first.sparse != nullptr) {
    ASSIGN_OR_RETURN(sparse_model, CreateSparseModel(config.model(), shape,
                                                     train.batch_size));
    trainer =
        std::make_unique<Trainer>(trainer_options, sparse_model.get(), ps.get(),
                                  &shares, first.sparse, &metrics);
  } else {
    ASSIGN_OR_RETURN(model, CreateModel(config.model(), shape, train.batch_size,
                                        ResolveThreads(train.threads,
                                                       options.local_workers)));
    trainer = std::make_unique<Trainer>(trainer_options, model.get(), ps.get(),
                                        &shares, first.dense, &metrics);
  }
  training.store(trainer.get());
  // A heartbeat each time this worker's steps pass its share of an
  // evaluation or checkpoint interval, so that the coordinator hears of
  // every boundary at once rather than up to a heartbeat interval later (longer
  // than a small job lasts).
  const int64_t beat_every =
      BeatEverySteps(config, registration.num_data_shards());
  int64_t steps = 0;
  absl::Status trained = trainer->Run([&loop, &steps, beat_every] {
    if (beat_every > 0 && ++steps % beat_every == 0) loop.BeatNow();
    return loop.ended() || g_drain.load() != 0;
  });
  SetServing(health.server.get(), false);  // it trains no more
  return AfterTraining(loop, id, trained,
                       [&trainer] { return trainer->Progress().steps(); });
}

}  // namespace

int64_t BeatEverySteps(const v1::JobConfig& config, int workers) {
  int64_t beat = 0;
  for (const int64_t every : {config.train().eval_every_steps(),
                              config.train().checkpoint().every_steps()}) {
    if (every <= 0) continue;
    const int64_t share = std::max<int64_t>(1, every / std::max(1, workers));
    beat = beat == 0 ? share : std::min(beat, share);
  }
  return beat;
}

int RunWorker(const WorkerRoleOptions& options) {
  OnStopSignals(OnDrain);
  absl::Status status = Work(options);
  if (status.ok()) return kExitOk;
  LOG(ERROR) << "worker: " << status.message();
  return ExitCodeFor(status);
}

}  // namespace descent
