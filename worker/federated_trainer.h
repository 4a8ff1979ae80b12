// FederatedTrainer: a worker's federated rounds (job.proto FederatedConfig).
// The worker hosts the simulated clients k with k mod W == its id. Round r:
// the round's plan (PlanRound: the same in every process) names the
// clients whose reports count; each of this worker's trains from the
// global model w on its own examples (local_epochs epochs of shuffled
// batches of local_batch_size, SGD at local_learning_rate with
// local_momentum, plus FedProx's mu (w_k - w) in each gradient), and the
// worker pushes, as BSP step r, minus its clients' example-weighted mean
// delta, sum_k n_k (w_k - w) / sum_k n_k, weighted by sum_k n_k (an empty
// push when none of its clients reports). The answer is the next global
// model.
//
// Memory: a client is its index range in ClientData and a seed; a model's
// parameters, momentum and delta exist only while one trains, one set per
// thread. Clients train `threads` at a time, each on its own Model of one
// thread, and their deltas are summed in client order, so a round's push
// is the same bit for bit at any thread count... given the same model
// kernels (their own threads may reorder sums).
//
// The recorder (worker 0, until the coordinator names another:
// SetRecorder) also records each round (v1::FederatedRound: the plan's
// counts, the update's norm, the round's wall and simulated time) and,
// every eval_every_rounds rounds and after the last, evaluates the new
// global model on the test split and each client's held-out examples;
// Progress() carries the records the coordinator has not acknowledged
// (Recorded()).
#ifndef DESCENT_WORKER_FEDERATED_TRAINER_H_
#define DESCENT_WORKER_FEDERATED_TRAINER_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "common/data/dataset.h"
#include "common/federated/round_plan.h"
#include "common/metrics.h"
#include "common/model/model.h"
#include "common/ps_client.h"
#include "descent/v1/coordinator.pb.h"
#include "worker/secure_client.h"

namespace descent {

struct FederatedTrainerOptions {
  FederatedOptions federated;
  int32_t worker_id = 0;
  int num_workers = 1;
  // The first round to train (a restarted worker: the rounds it reported);
  // the shards' version, if later, wins.
  int64_t start_round = 0;
};

class FederatedTrainer {
 public:
  // `models`: one per thread (at least one), each of max batch >= the
  // largest local batch (a client's whole training set with
  // local_batch_size 0). `test` is read while this worker is the recorder
  // (may be null: no test figures). None is owned; all must outlive the
  // trainer. `evaluator` (may be null: models[0] evaluates) is the model
  // the evaluations run on, of any max batch and threads.
  FederatedTrainer(FederatedTrainerOptions options, std::vector<Model*> models,
                   PsClient* ps, const Dataset* train,
                   const ClientData* clients, const Dataset* test,
                   WorkerMetrics* metrics, Model* evaluator = nullptr);

  // Pulls the global model, then trains its rounds. CANCELLED as soon as
  // `should_stop` returns true (checked between clients), or the
  // PsClient's error.
  absl::Status Run(const std::function<bool()>& should_stop);

  // Cumulative progress: steps are rounds, examples the reporting clients'
  // n_k, one loss a round (its clients' mean local loss); worker 0's
  // unacknowledged round records. done once every round is trained and
  // every record fits in this report.
  v1::WorkerProgress Progress() const;

  // The coordinator has recorded rounds [0, rounds): they are not sent
  // again.
  void Recorded(int64_t rounds);
  // The coordinator's recorder (HeartbeatResponse.recorder): this worker
  // records the rounds it starts from now on if it is `worker`, and drops
  // the records it holds if not.
  void SetRecorder(int32_t worker);

  // The largest local batch: what each model's max batch must hold.
  static int MaxLocalBatch(const FederatedOptions& options,
                           const ClientData& clients);

 private:
  // Client k's local training in round r from global_, on models_[slot];
  // leaves its delta (w_k - w) in deltas_[slot] and returns its mean local
  // loss.
  float TrainClient(int slot, int64_t round, int64_t client);
  // One round; fills `record` (worker 0).
  absl::Status Round(int64_t round, const std::function<bool()>& should_stop,
                     v1::FederatedRound* record);
  // Worker 0: the global model on the test split and the clients' held-out
  // examples.
  void Evaluate(v1::FederatedRound* record);
  // LOCAL privacy: counts the reports of the plan's participants.
  void CountReports(const RoundPlan& plan);

  const FederatedTrainerOptions options_;
  const std::vector<Model*> models_;
  Model* const evaluator_;
  PsClient* const ps_;
  const Dataset* const train_;
  const ClientData* const clients_;
  const Dataset* const test_;
  WorkerMetrics* const metrics_;
  const int64_t num_parameters_;

  std::vector<float> global_;
  std::vector<float> next_;
  std::vector<float> sum_;  // sum_k n_k delta_k, then the pushed gradient
  // Per thread: the local model, its momentum and gradient, a batch's
  // gathered features, labels and targets, the client's shuffled order.
  struct Slot {
    std::vector<float> local, velocity, grad, features, targets;
    std::vector<int32_t> labels, order;
  };
  std::vector<Slot> slots_;
  // Privacy: the clip norm of the round to train (adaptive clipping: the
  // shards' last answer); LOCAL: each client's reports so far, and the
  // most of any client.
  float clip_norm_;
  std::vector<int32_t> reports_;
  int64_t most_reports_ = 0;
  // Which clients attack (federated.attack; empty: none).
  std::vector<bool> attackers_;
  // Robust and secure aggregation: this worker's clients' pseudo-gradients
  // of the round, back to back.
  std::vector<float> updates_;
  // Secure aggregation (null without): the clients' side of the protocol,
  // and the round's inputs (updates_ holds their values).
  std::unique_ptr<SecureClients> secure_;
  std::vector<SecureClients::Input> secure_inputs_;

  mutable absl::Mutex mu_;
  v1::WorkerProgress progress_ ABSL_GUARDED_BY(mu_);
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  std::deque<v1::FederatedRound> pending_ ABSL_GUARDED_BY(mu_);
  int64_t recorded_ ABSL_GUARDED_BY(mu_) = 0;
  int32_t recorder_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace descent

#endif  // DESCENT_WORKER_FEDERATED_TRAINER_H_
