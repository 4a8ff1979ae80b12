// Consistency models end to end in one process, no sockets: W Trainers
// (threads) push to S shards through the in-process transport.
//   BSP  every step equals one step of single-process mini-batch SGD on the
//        union of the W workers' batches (and batch 0 equals full-batch
//        gradient descent), checked on the parameters each worker computes
//        every step on.
//   SSP  with a deliberately slowed worker, no push lags the fastest
//        worker by more than s steps; under ASP the lag is unbounded.
#include <algorithm>
#include <cmath>
#include <memory>
#include <numeric>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/data/synthetic.h"
#include "common/faulty_transport.h"
#include "common/metrics.h"
#include "common/model/linear_regression.h"
#include "common/ps_client.h"
#include "gtest/gtest.h"
#include "server/shard/in_process_transport.h"
#include "server/shard/metrics_observer.h"
#include "server/shard/parameter_shard.h"
#include "worker/trainer.h"

namespace descent {
namespace {

constexpr int kFeatures = 5;
constexpr int kShards = 2;
constexpr int kBatch = 4;
constexpr float kLearningRate = 0.05f;
constexpr uint64_t kSeed = 3;

// A model that records the parameters of every gradient it computes and
// may sleep first, to play a slow worker.
class RecordingModel : public Model {
 public:
  RecordingModel(int max_batch, absl::Duration delay)
      : model_(kFeatures, max_batch, 1), delay_(delay) {}
  const ParamLayout& layout() const override { return model_.layout(); }
  float LossAndGradient(const float* params, const Batch& batch,
                        float* grad) override {
    if (delay_ > absl::ZeroDuration()) absl::SleepFor(delay_);
    seen_.emplace_back(params, params + layout().size());
    return model_.LossAndGradient(params, batch, grad);
  }
  EvalResult Evaluate(const float* params, const Batch& examples) override {
    return model_.Evaluate(params, examples);
  }
  bool is_classifier() const override { return false; }
  const std::vector<std::vector<float>>& seen() const { return seen_; }

 private:
  LinearRegression model_;
  const absl::Duration delay_;
  std::vector<std::vector<float>> seen_;
};

class ConsistencyTest : public ::testing::Test {
 protected:
  // Starts the shards and cuts the workers' data shards (contiguous, of
  // the given sizes) out of one synthetic data set.
  void Start(v1::Consistency consistency, int staleness,
             const std::vector<int>& shard_sizes) {
    const int total =
        std::accumulate(shard_sizes.begin(), shard_sizes.end(), 0);
    const Dataset all = MakeLinearRegression(total, kFeatures, 0.1f, 9).data;
    int first = 0;
    for (int size : shard_sizes) {
      Dataset& d = data_.emplace_back();
      d.num_examples = size;
      d.num_features = kFeatures;
      d.features.assign(all.example(first),
                        all.example(first) + size * kFeatures);
      d.targets.assign(all.targets.begin() + first,
                       all.targets.begin() + first + size);
      first += size;
    }
    const ParamLayout layout = LinearRegression(kFeatures, 1, 1).layout();
    const int64_t p = layout.size();
    for (int s = 0; s < kShards; ++s) {
      ParameterShardOptions options;
      options.job_id = "job";
      options.num_workers = static_cast<int>(shard_sizes.size());
      options.range = {p * s / kShards, p * (s + 1) / kShards};
      options.layout = layout;
      options.seed = kSeed;
      options.optimizer.mutable_sgd()->set_learning_rate(kLearningRate);
      options.consistency = consistency;
      options.staleness = staleness;
      registries_.push_back(MetricsRegistry::Create(
          {{"role", "server"}, {"shard", std::to_string(s)}}));
      metrics_.push_back(std::make_unique<ServerMetrics>(*registries_.back()));
      options.observer = [this,
                          record = MetricsObserver(metrics_.back().get())](
                             const PushRecord& r) {
        record(r);
        absl::MutexLock lock(&mu_);
        records_.push_back(r);
      };
      shards_.push_back(*ParameterShard::Create(std::move(options)));
      v1::ShardInfo& info = shard_map_.emplace_back();
      info.set_shard(s);
      info.set_address("in-process");
      info.set_begin(p * s / kShards);
      info.set_end(p * (s + 1) / kShards);
    }
  }

  void TearDown() override {
    for (auto& shard : shards_) shard->Close();
  }

  ShardTransportFactory Connect() const {
    std::vector<ParameterShard*> shards;
    for (const auto& shard : shards_) shards.push_back(shard.get());
    return InProcessShardTransport::Factory(std::move(shards));
  }

  // Runs one Trainer per data shard, each on its own thread; worker w's
  // model sleeps delays[w] per step. If held_worker >= 0, that worker's
  // first push is held in the network until every other worker has
  // finished, and the others' first pushes wait until it is held, so it
  // read the initial parameters: the slowest worker possible, without
  // timing and whatever order the threads start in.
  void Train(int epochs, int batch, const std::vector<absl::Duration>& delays,
             float clip_norm = 0, int held_worker = -1) {
    std::vector<std::unique_ptr<PsClient>> clients;
    std::vector<std::vector<FaultyShardTransport*>> faulty(data_.size());
    for (size_t w = 0; w < data_.size(); ++w) {
      models_.push_back(std::make_unique<RecordingModel>(
          std::max<int64_t>(batch, data_[w].num_examples), delays[w]));
      PsClient::Options options;
      options.job_id = "job";
      options.worker_id = static_cast<int32_t>(w);
      options.shards = shard_map_;
      options.connect = FaultyShardTransport::Wrap(Connect(), &faulty[w]);
      auto ps = PsClient::Create(std::move(options));
      ASSERT_TRUE(ps.ok()) << ps.status();
      clients.push_back(*std::move(ps));
    }
    if (held_worker >= 0) {
      for (auto& transports : faulty) {
        for (FaultyShardTransport* t : transports) {
          t->Hold(FaultyShardTransport::Method::kPushPull, 1);
        }
      }
    }
    std::vector<std::thread> threads;
    for (size_t w = 0; w < data_.size(); ++w) {
      threads.emplace_back([this, w, epochs, batch, clip_norm, &clients] {
        TrainerOptions trainer_options;
        trainer_options.epochs = epochs;
        trainer_options.batch_size = batch;
        trainer_options.seed = kSeed;
        trainer_options.worker_id = static_cast<int32_t>(w);
        trainer_options.clip_norm = clip_norm;
        Trainer trainer(trainer_options, models_[w].get(), clients[w].get(),
                        &data_[w], nullptr);
        absl::Status trained = trainer.Run([] { return false; });
        EXPECT_TRUE(trained.ok()) << "worker " << w << ": " << trained;
      });
    }
    auto release_when_held = [](FaultyShardTransport* t) {
      while (t->held() == 0) absl::SleepFor(absl::Milliseconds(1));
      t->Release();
    };
    if (held_worker >= 0) {
      auto held = [&] {
        int n = 0;
        for (FaultyShardTransport* t : faulty[held_worker]) n += t->held();
        return n;
      };
      while (held() == 0) absl::SleepFor(absl::Milliseconds(1));
      for (size_t w = 0; w < faulty.size(); ++w) {
        if (static_cast<int>(w) == held_worker) continue;
        for (FaultyShardTransport* t : faulty[w]) release_when_held(t);
      }
    }
    for (size_t w = 0; w < threads.size(); ++w) {
      if (static_cast<int>(w) != held_worker) threads[w].join();
    }
    if (held_worker >= 0) {
      for (FaultyShardTransport* t : faulty[held_worker]) release_when_held(t);
      threads[held_worker].join();
    }
  }

  // Parameters after each step of single-process mini-batch SGD whose step
  // t takes the union of every worker's batch t (each worker's shuffle:
  // seed, worker id, epoch, as the Trainer does), its gradient scaled to
  // an L2 norm of at most clip_norm if that is > 0.
  std::vector<std::vector<float>> UnionReference(int epochs, int batch,
                                                 double clip_norm = 0) {
    const ParamLayout layout = LinearRegression(kFeatures, 1, 1).layout();
    const int64_t p = layout.size();
    int64_t total = 0;
    for (const Dataset& d : data_) total += d.num_examples;
    LinearRegression model(kFeatures, static_cast<int>(total), 1);
    std::vector<std::vector<float>> history(1, std::vector<float>(p));
    layout.Initialize(kSeed, 0, p, history[0].data());
    std::vector<std::vector<int64_t>> orders(data_.size());
    std::vector<float> features, targets, grad(p);
    for (int epoch = 0; epoch < epochs; ++epoch) {
      int64_t steps = 0;
      for (size_t w = 0; w < data_.size(); ++w) {
        const int b = batch == 0 ? data_[w].num_examples : batch;
        orders[w].resize(data_[w].num_examples);
        std::iota(orders[w].begin(), orders[w].end(), 0);
        std::seed_seq seed{kSeed, uint64_t(w), uint64_t(epoch)};
        std::mt19937_64 random(seed);
        std::shuffle(orders[w].begin(), orders[w].end(), random);
        steps = std::max<int64_t>(steps, (data_[w].num_examples + b - 1) / b);
      }
      for (int64_t t = 0; t < steps; ++t) {
        features.clear();
        targets.clear();
        for (size_t w = 0; w < data_.size(); ++w) {
          const int b = batch == 0 ? data_[w].num_examples : batch;
          for (int64_t i = t * b;
               i < std::min<int64_t>((t + 1) * b, data_[w].num_examples); ++i) {
            const float* x = data_[w].example(orders[w][i]);
            features.insert(features.end(), x, x + kFeatures);
            targets.push_back(data_[w].targets[orders[w][i]]);
          }
        }
        model.LossAndGradient(
            history.back().data(),
            Batch{features.data(), nullptr, static_cast<int>(targets.size()),
                  targets.data()},
            grad.data());
        double norm = 0;
        for (float g : grad) norm += static_cast<double>(g) * g;
        norm = std::sqrt(norm);
        const auto scale = static_cast<float>(
            clip_norm > 0 && norm > clip_norm ? clip_norm / norm : 1);
        std::vector<float> next = history.back();
        for (int64_t i = 0; i < p; ++i) {
          next[i] -= kLearningRate * (grad[i] * scale);
        }
        history.push_back(std::move(next));
      }
    }
    return history;
  }

  // Checks that every worker computed step t on the reference's
  // parameters after t steps, and that the shards end at the last one.
  void ExpectStepByStep(const std::vector<std::vector<float>>& reference) {
    for (size_t w = 0; w < models_.size(); ++w) {
      const auto& seen = models_[w]->seen();
      ASSERT_EQ(seen.size(), reference.size() - 1) << "worker " << w;
      for (size_t t = 0; t < seen.size(); ++t) {
        for (size_t i = 0; i < seen[t].size(); ++i) {
          ASSERT_NEAR(seen[t][i], reference[t][i],
                      1e-5f * (1 + std::abs(reference[t][i])))
              << "worker " << w << ", step " << t << ", parameter " << i;
        }
      }
    }
    std::vector<float> final_params;
    for (auto& shard : shards_) {
      const std::vector<float> slice = shard->Snapshot();
      final_params.insert(final_params.end(), slice.begin(), slice.end());
      EXPECT_EQ(shard->version(), static_cast<int64_t>(reference.size()) - 1);
    }
    for (size_t i = 0; i < final_params.size(); ++i) {
      EXPECT_NEAR(final_params[i], reference.back()[i],
                  1e-5f * (1 + std::abs(reference.back()[i])));
    }
  }

  int64_t MaxClockLag() {
    absl::MutexLock lock(&mu_);
    int64_t lag = 0;
    for (const PushRecord& r : records_) lag = std::max(lag, r.clock_lag);
    return lag;
  }

  std::vector<Dataset> data_;
  std::vector<std::unique_ptr<RecordingModel>> models_;
  std::vector<std::unique_ptr<MetricsRegistry>> registries_;
  std::vector<std::unique_ptr<ParameterShard>> shards_;
  std::vector<std::unique_ptr<ServerMetrics>> metrics_;
  std::vector<v1::ShardInfo> shard_map_;
  absl::Mutex mu_;
  std::vector<PushRecord> records_ ABSL_GUARDED_BY(mu_);
};

TEST_F(ConsistencyTest, BspEqualsMiniBatchSgdOnTheUnionOfBatches) {
  // Unequal shards: worker 2's last batch of each epoch has 2 examples, so
  // the example weighting matters.
  Start(v1::BSP, 0, {12, 12, 10});
  // Worker 1 is slow: nobody may run ahead of it.
  Train(/*epochs=*/2, kBatch,
        {absl::ZeroDuration(), absl::Milliseconds(5), absl::ZeroDuration()});
  ExpectStepByStep(UnionReference(2, kBatch));
  absl::MutexLock lock(&mu_);
  for (const PushRecord& r : records_) EXPECT_EQ(r.staleness, 0);
}

TEST_F(ConsistencyTest, BspWithWholeShardBatchesIsFullBatchGradientDescent) {
  Start(v1::BSP, 0, {9, 9});
  Train(/*epochs=*/5, /*batch=*/0,
        {absl::ZeroDuration(), absl::ZeroDuration()});
  const auto reference = UnionReference(5, 0);
  ASSERT_EQ(reference.size(), 6u);  // one step per epoch
  ExpectStepByStep(reference);
}

TEST_F(ConsistencyTest, BatchOfOneIsStochasticGradientDescent) {
  Start(v1::BSP, 0, {7, 7});
  Train(/*epochs=*/2, /*batch=*/1,
        {absl::ZeroDuration(), absl::ZeroDuration()});
  const auto reference = UnionReference(2, 1);
  ASSERT_EQ(reference.size(), 15u);  // each step: one example per worker
  ExpectStepByStep(reference);
}

TEST_F(ConsistencyTest, ClippingByGlobalNormAcrossShardsClipsTheWholeGradient) {
  // One worker, two shards. The reference scales the whole gradient by one
  // factor; clipping each shard's slice by its own norm would not.
  Start(v1::BSP, 0, {16});
  Train(/*epochs=*/2, kBatch, {absl::ZeroDuration()}, /*clip_norm=*/0.3f);
  const auto clipped = UnionReference(2, kBatch, 0.3);
  ExpectStepByStep(clipped);
  // The bound was active: unclipped training ends elsewhere.
  const auto plain = UnionReference(2, kBatch);
  float largest = 0;
  for (size_t i = 0; i < plain.back().size(); ++i) {
    largest = std::max(largest, std::abs(plain.back()[i] - clipped.back()[i]));
  }
  EXPECT_GT(largest, 1e-3f);
}

TEST_F(ConsistencyTest, SspKeepsEveryPushWithinStalenessOfTheFastest) {
  constexpr int kStaleness = 2;
  Start(v1::SSP, kStaleness, {40, 40, 40});
  Train(/*epochs=*/1, kBatch,
        {absl::Milliseconds(20), absl::ZeroDuration(), absl::ZeroDuration()});
  EXPECT_LE(MaxClockLag(), kStaleness);
  EXPECT_GE(MaxClockLag(), 1);  // the slow worker did fall behind
  for (auto& m : metrics_) {
    EXPECT_GT(m->staleness.Collect().histogram.sample_count, 0u);
  }
}

TEST_F(ConsistencyTest, AspLetsTheSlowWorkerFallFarBehind) {
  Start(v1::ASP, 0, {40, 40, 40});
  // Worker 0's first push arrives after the others have pushed all 10.
  Train(/*epochs=*/1, kBatch, std::vector<absl::Duration>(3),
        /*clip_norm=*/0, /*held_worker=*/0);
  EXPECT_GE(MaxClockLag(), 9);
  // Staleness is measured for every push, on every shard.
  for (auto& m : metrics_) {
    const auto h = m->staleness.Collect().histogram;
    EXPECT_EQ(h.sample_count, 30u);  // 3 workers x 10 steps
    EXPECT_GT(h.sample_sum, 0);
  }
}

}  // namespace
}  // namespace descent
