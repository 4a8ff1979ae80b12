// FederatedTrainer against real BSP parameter shards, in process: FedSGD is
// full-batch gradient descent step by step, the clients' hosting over
// workers does not change the rounds, FedProx and client momentum are
// their formulas, runs repeat bit for bit, and worker 0's records follow
// the plan.
#include "worker/federated_trainer.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <random>
#include <thread>
#include <utility>
#include <vector>

#include "common/data/synthetic.h"
#include "common/federated/round_plan.h"
#include "common/model/linear_regression.h"
#include "common/ps_client.h"
#include "gtest/gtest.h"
#include "server/shard/in_process_transport.h"
#include "server/shard/parameter_shard.h"

namespace descent {
namespace {

constexpr int kFeatures = 5;
constexpr int kExamples = 40;
constexpr uint64_t kSeed = 3;

FederatedOptions Options(int64_t clients, int64_t per_round, int64_t rounds) {
  FederatedOptions o;
  o.clients = clients;
  o.clients_per_round = per_round;
  o.rounds = rounds;
  o.local_epochs = 1;
  o.local_batch_size = 0;
  o.local_learning_rate = 0.1f;
  o.seed = kSeed;
  o.partition.clients = clients;
  o.partition.seed = kSeed;
  return o;
}

class FederatedTrainerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    data_ = MakeLinearRegression(kExamples, kFeatures, 0.1f, 9).data;
  }

  // One BSP shard of the whole linear model, server SGD at `server_lr`.
  static std::unique_ptr<ParameterShard> Shard(int workers, float server_lr) {
    LinearRegression model(kFeatures, 1, 1);
    ParameterShardOptions options;
    options.job_id = "job-1";
    options.num_workers = workers;
    options.range = {0, model.layout().size()};
    options.layout = model.layout();
    options.seed = kSeed;
    options.consistency = v1::BSP;
    options.optimizer.mutable_sgd()->set_learning_rate(server_lr);
    return *ParameterShard::Create(std::move(options));
  }

  // Worker `worker`'s client of `shard`.
  static std::unique_ptr<PsClient> Client(ParameterShard* shard, int worker) {
    PsClient::Options ps;
    ps.job_id = "job-1";
    ps.worker_id = worker;
    v1::ShardInfo& info = ps.shards.emplace_back();
    info.set_address("in-process");
    info.set_end(shard->range().end);
    ps.connect = InProcessShardTransport::Factory({shard});
    return *PsClient::Create(std::move(ps));
  }

  // Runs `options` on `workers` in-process workers against one BSP shard
  // (server SGD at `server_lr`); returns the final parameters and fills
  // *records with worker 0's rounds.
  std::vector<float> Run(const FederatedOptions& options, int workers,
                         float server_lr, int threads = 1,
                         std::vector<v1::FederatedRound>* records = nullptr) {
    const std::vector<int32_t> labels(data_.num_examples, 0);
    absl::StatusOr<ClientData> clients = MakeClientData(options, labels, 1);
    EXPECT_TRUE(clients.ok()) << clients.status();
    const int max_batch = FederatedTrainer::MaxLocalBatch(options, *clients);
    std::unique_ptr<ParameterShard> shard = Shard(workers, server_lr);
    std::vector<std::unique_ptr<LinearRegression>> models;
    std::vector<std::unique_ptr<PsClient>> clients_ps;
    std::vector<std::unique_ptr<FederatedTrainer>> trainers;
    for (int w = 0; w < workers; ++w) {
      clients_ps.push_back(Client(shard.get(), w));
      std::vector<Model*> mine;
      for (int t = 0; t < threads; ++t) {
        models.push_back(
            std::make_unique<LinearRegression>(kFeatures, max_batch, 1));
        mine.push_back(models.back().get());
      }
      FederatedTrainerOptions trainer;
      trainer.federated = options;
      trainer.worker_id = w;
      trainer.num_workers = workers;
      trainers.push_back(std::make_unique<FederatedTrainer>(
          trainer, mine, clients_ps.back().get(), &data_, &*clients, &data_,
          nullptr));
    }
    std::vector<std::thread> threads_;
    std::vector<absl::Status> results(workers);
    for (int w = 0; w < workers; ++w) {
      threads_.emplace_back(
          [&, w] { results[w] = trainers[w]->Run([] { return false; }); });
    }
    for (std::thread& t : threads_) t.join();
    for (const absl::Status& r : results) EXPECT_TRUE(r.ok()) << r;
    const v1::WorkerProgress progress = trainers[0]->Progress();
    EXPECT_TRUE(progress.done());
    EXPECT_EQ(progress.steps(), options.rounds);
    if (records != nullptr) {
      records->assign(progress.rounds().begin(), progress.rounds().end());
    }
    return shard->Snapshot();
  }

  // Worker `worker` of `workers` on its own: a trainer against a shard of
  // `workers` workers the others are lost to.
  struct Alone {
    std::unique_ptr<LinearRegression> model;
    std::unique_ptr<ParameterShard> shard;
    std::unique_ptr<PsClient> client;
    std::unique_ptr<FederatedTrainer> trainer;
  };
  Alone MakeAlone(const FederatedOptions& o, const ClientData& clients,
                  int worker, int workers) {
    Alone a;
    a.model = std::make_unique<LinearRegression>(kFeatures, kExamples, 1);
    a.shard = Shard(workers, 1.0f);
    for (int w = 0; w < workers; ++w) {
      if (w != worker) a.shard->WorkerLost(w);
    }
    a.client = Client(a.shard.get(), worker);
    FederatedTrainerOptions options;
    options.federated = o;
    options.worker_id = worker;
    options.num_workers = workers;
    a.trainer = std::make_unique<FederatedTrainer>(
        options, std::vector<Model*>{a.model.get()}, a.client.get(), &data_,
        &clients, &data_, nullptr);
    return a;
  }

  // Full-batch gradient descent at `lr`, `steps` steps from the seed's
  // initial parameters.
  std::vector<float> GradientDescent(float lr, int steps) {
    LinearRegression model(kFeatures, kExamples, 1);
    const int64_t p = model.layout().size();
    std::vector<float> w(p), g(p);
    model.layout().Initialize(kSeed, 0, p, w.data());
    for (int s = 0; s < steps; ++s) {
      model.LossAndGradient(w.data(),
                            Batch{data_.features.data(), nullptr, kExamples,
                                  data_.targets.data()},
                            g.data());
      for (int64_t i = 0; i < p; ++i) w[i] -= lr * g[i];
    }
    return w;
  }

  Dataset data_;
};

void ExpectNear(const std::vector<float>& a, const std::vector<float>& b,
                double tolerance) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_NEAR(a[i], b[i], tolerance * (1 + std::abs(b[i]))) << "at " << i;
  }
}

// E = 1, B = all, every client every round, plain server SGD: each round is
// one step of full-batch gradient descent at lr_local * lr_server, however
// the examples are split over clients (here of unequal sizes, so that only
// the example-weighted average gives it).
FederatedOptions Skewed(int64_t clients, int64_t rounds) {
  FederatedOptions o = Options(clients, clients, rounds);
  o.partition.kind = PartitionKind::kQuantitySkew;
  o.partition.min_client_size = 2;
  return o;
}

TEST_F(FederatedTrainerTest, FedSgdIsFullBatchGradientDescentStepByStep) {
  const std::vector<int32_t> labels(kExamples, 0);
  const ClientData skewed = *MakeClientData(Skewed(4, 1), labels, 1);
  EXPECT_NE(skewed.train_sizes[0], skewed.train_sizes[1]);
  for (int rounds : {1, 2, 5}) {
    const std::vector<float> federated =
        Run(Skewed(4, rounds), 2, /*server_lr=*/0.5f);
    ExpectNear(federated, GradientDescent(0.1f * 0.5f, rounds), 1e-5);
  }
  // And not after one round fewer: the comparison can fail.
  const std::vector<float> two = Run(Skewed(4, 2), 1, 0.5f);
  const std::vector<float> one = GradientDescent(0.05f, 1);
  double gap = 0;
  for (size_t i = 0; i < one.size(); ++i) gap += std::abs(two[i] - one[i]);
  EXPECT_GT(gap, 1e-3);
}

// The same clients hosted by one or by three workers (some with no client
// in a round: their pushes are empty) give the same rounds.
TEST_F(FederatedTrainerTest, HostingOverWorkersDoesNotChangeTheRounds) {
  FederatedOptions o = Options(6, 2, 6);
  o.local_batch_size = 3;
  o.local_epochs = 2;
  const std::vector<float> one = Run(o, 1, 1.0f);
  const std::vector<float> three = Run(o, 3, 1.0f);
  ExpectNear(three, one, 1e-5);
}

// Same seed, same bits; at any thread count.
TEST_F(FederatedTrainerTest, RunsRepeatBitForBitAtAnyThreadCount) {
  FederatedOptions o = Options(8, 3, 5);
  o.local_batch_size = 4;
  o.local_momentum = 0.9f;
  const std::vector<float> a = Run(o, 2, 1.0f, 1);
  const std::vector<float> b = Run(o, 2, 1.0f, 1);
  const std::vector<float> c = Run(o, 2, 1.0f, 3);
  EXPECT_EQ(a, b);
  EXPECT_EQ(a, c);
  o.seed = kSeed + 1;
  o.partition.seed = kSeed + 1;
  EXPECT_NE(Run(o, 2, 1.0f, 1), a);
}

// One client, E = 3 full-batch local steps with FedProx and momentum: the
// round's result is those steps' formula.
TEST_F(FederatedTrainerTest, ProximalTermAndClientMomentumFollowTheirFormula) {
  FederatedOptions o = Options(1, 1, 1);
  o.local_epochs = 3;
  o.local_momentum = 0.5f;
  o.proximal_mu = 0.7f;
  const std::vector<float> federated = Run(o, 1, 1.0f);
  LinearRegression model(kFeatures, kExamples, 1);
  const int64_t p = model.layout().size();
  std::vector<float> w0(p), w(p), g(p), v(p, 0.0f);
  model.layout().Initialize(kSeed, 0, p, w0.data());
  w = w0;
  for (int e = 0; e < 3; ++e) {
    model.LossAndGradient(
        w.data(),
        Batch{data_.features.data(), nullptr, kExamples, data_.targets.data()},
        g.data());
    for (int64_t i = 0; i < p; ++i) {
      g[i] += 0.7f * (w[i] - w0[i]);
      v[i] = 0.5f * v[i] + g[i];
      w[i] -= 0.1f * v[i];
    }
  }
  ExpectNear(federated, w, 1e-5);
  // Without the term the result differs.
  o.proximal_mu = 0;
  const std::vector<float> plain = Run(o, 1, 1.0f);
  double gap = 0;
  for (int64_t i = 0; i < p; ++i) gap += std::abs(plain[i] - federated[i]);
  EXPECT_GT(gap, 1e-4);
}

// Worker 0 records every round as the plan has it, with the update's norm
// and an evaluation every eval_every_rounds rounds and after the last.
TEST_F(FederatedTrainerTest, WorkerZeroRecordsEveryRoundAsPlanned) {
  FederatedOptions o = Options(10, 4, 7);
  o.dropout_probability = 0.3;
  o.eval_every_rounds = 3;
  std::vector<v1::FederatedRound> records;
  Run(o, 2, 1.0f, 1, &records);
  ASSERT_EQ(records.size(), 7u);
  const std::vector<int32_t> labels(kExamples, 0);
  const ClientData clients = *MakeClientData(o, labels, 1);
  for (int r = 0; r < 7; ++r) {
    const RoundPlan plan = PlanRound(o, clients.train_sizes, r);
    const v1::FederatedRound& record = records[r];
    EXPECT_EQ(record.round(), r);
    EXPECT_EQ(record.attempts(), plan.attempts);
    EXPECT_EQ(record.sampled(), plan.sampled);
    EXPECT_EQ(record.dropped(), plan.dropped);
    EXPECT_EQ(record.participants(),
              static_cast<int64_t>(plan.participants.size()));
    EXPECT_GT(record.update_norm(), 0);
    EXPECT_EQ(record.has_test_loss(), r == 2 || r == 5 || r == 6) << r;
  }
}

// The participants of round `round`'s plan that node `node` of 2 hosts,
// and their examples.
std::pair<int64_t, int64_t> HostedBy(const FederatedOptions& o,
                                     const ClientData& clients, int64_t round,
                                     int node) {
  int64_t count = 0, examples = 0;
  for (int64_t k : PlanRound(o, clients.train_sizes, round).participants) {
    if (k % 2 != node) continue;
    ++count;
    examples += clients.train_sizes[k];
  }
  return {count, examples};
}

// A node lost before the rounds (the shard's step goes on without it, as
// under cluster.on_worker_failure CONTINUE): worker 0's records count only
// its own clients as participants, with their examples.
TEST_F(FederatedTrainerTest, ALostNodesClientsDoNotCountAsParticipants) {
  FederatedOptions o = Options(10, 6, 5);
  const std::vector<int32_t> labels(kExamples, 0);
  const ClientData clients = *MakeClientData(o, labels, 1);
  Alone alone = MakeAlone(o, clients, 0, 2);
  ASSERT_TRUE(alone.trainer->Run([] { return false; }).ok());
  const v1::WorkerProgress progress = alone.trainer->Progress();
  ASSERT_EQ(progress.rounds_size(), 5);
  int64_t planned = 0;
  for (const v1::FederatedRound& record : progress.rounds()) {
    const auto [mine, examples] = HostedBy(o, clients, record.round(), 0);
    EXPECT_EQ(record.participants(), mine) << record.round();
    EXPECT_EQ(record.examples(), examples) << record.round();
    planned += static_cast<int64_t>(
        PlanRound(o, clients.train_sizes, record.round()).participants.size());
  }
  int64_t counted = 0;
  for (const v1::FederatedRound& record : progress.rounds()) {
    counted += record.participants();
  }
  EXPECT_LT(counted, planned);  // node 1's clients were sampled too
}

// Worker 0 lost and worker 1 named the recorder: worker 1 records every
// round (its own clients as the participants) and evaluates; named away
// again, it drops the records it holds.
TEST_F(FederatedTrainerTest, ANamedRecorderRecordsAndEvaluates) {
  FederatedOptions o = Options(10, 6, 4);
  const std::vector<int32_t> labels(kExamples, 0);
  const ClientData clients = *MakeClientData(o, labels, 1);
  Alone alone = MakeAlone(o, clients, 1, 2);
  FederatedTrainer& trainer = *alone.trainer;
  trainer.SetRecorder(1);
  ASSERT_TRUE(trainer.Run([] { return false; }).ok());
  v1::WorkerProgress progress = trainer.Progress();
  ASSERT_EQ(progress.rounds_size(), 4);
  for (const v1::FederatedRound& record : progress.rounds()) {
    EXPECT_EQ(record.participants(),
              HostedBy(o, clients, record.round(), 1).first)
        << record.round();
    EXPECT_TRUE(record.has_test_loss()) << record.round();  // eval every round
  }
  trainer.SetRecorder(0);
  EXPECT_EQ(trainer.Progress().rounds_size(), 0);
}

// Progress carries the records not yet recorded; Recorded drops them.
TEST_F(FederatedTrainerTest, RecordedRoundsAreNotSentAgain) {
  FederatedOptions o = Options(4, 2, 3);
  const std::vector<int32_t> labels(kExamples, 0);
  const ClientData clients = *MakeClientData(o, labels, 1);
  Alone alone = MakeAlone(o, clients, 0, 1);
  FederatedTrainer& trainer = *alone.trainer;
  ASSERT_TRUE(trainer.Run([] { return false; }).ok());
  EXPECT_EQ(trainer.Progress().rounds_size(), 3);
  trainer.Recorded(2);
  const v1::WorkerProgress progress = trainer.Progress();
  ASSERT_EQ(progress.rounds_size(), 1);
  EXPECT_EQ(progress.rounds(0).round(), 2);
  EXPECT_TRUE(progress.done());
}

// A replacement that starts at round s reports, for the rounds before s,
// the steps and examples its predecessor would have (its loss counts start
// from zero, as the coordinator resets them).
TEST_F(FederatedTrainerTest, AReplacementsCountsGoOnFromTheRoundsBefore) {
  FederatedOptions o = Options(20, 4, 9);
  const std::vector<int32_t> labels(kExamples, 0);
  const ClientData clients = *MakeClientData(o, labels, 1);
  int64_t examples = 0;
  for (int r = 0; r < 6; ++r) {
    for (int64_t k : PlanRound(o, clients.train_sizes, r).participants) {
      if (k % 2 == 1) examples += clients.train_sizes[k];
    }
  }
  EXPECT_GT(examples, 0);
  LinearRegression model(kFeatures, kExamples, 1);
  std::unique_ptr<ParameterShard> shard = Shard(1, 1.0f);
  std::unique_ptr<PsClient> client = Client(shard.get(), 0);
  FederatedTrainerOptions options;
  options.federated = o;
  options.federated.rounds = 6;
  options.worker_id = 1;
  options.num_workers = 2;
  options.start_round = 6;
  FederatedTrainer trainer(options, {&model}, client.get(), &data_, &clients,
                           nullptr, nullptr);
  ASSERT_TRUE(trainer.Run([] { return false; }).ok());
  const v1::WorkerProgress progress = trainer.Progress();
  EXPECT_EQ(progress.steps(), 6);
  EXPECT_EQ(progress.examples(), examples);
  EXPECT_EQ(progress.loss_count(), 0);
}

}  // namespace
}  // namespace descent
