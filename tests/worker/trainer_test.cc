// The Trainer against a real parameter shard, in process: its updates are
// exactly mini-batch SGD in its shuffled order, and with overlap exactly SGD
// with each gradient one step late.
#include "worker/trainer.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <vector>

#include "common/data/data_source.h"
#include "common/data/synthetic.h"
#include "common/exit_codes.h"
#include "common/metrics.h"
#include "common/model/linear_regression.h"
#include "common/ps_client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/shard/in_process_transport.h"
#include "server/shard/parameter_shard.h"

namespace descent {
namespace {

constexpr int kFeatures = 5;
constexpr int kBatch = 4;
constexpr int kEpochs = 2;
constexpr float kLearningRate = 0.05f;
constexpr uint64_t kSeed = 3;

// One shard holding the whole model.
class TrainerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    data_ = MakeLinearRegression(22, kFeatures, 0.1f, 9).data;
    model_ = std::make_unique<LinearRegression>(kFeatures, kBatch, 1);
    ParameterShardOptions options;
    options.job_id = "job-1";
    options.range = {0, model_->layout().size()};
    options.layout = model_->layout();
    options.seed = kSeed;
    options.optimizer.mutable_sgd()->set_learning_rate(kLearningRate);
    shard_ = *ParameterShard::Create(std::move(options));
  }

  // A client of the one shard.
  std::unique_ptr<PsClient> Client() {
    PsClient::Options options;
    options.job_id = "job-1";
    v1::ShardInfo& info = options.shards.emplace_back();
    info.set_address("in-process");
    info.set_end(model_->layout().size());
    options.connect = InProcessShardTransport::Factory({shard_.get()});
    auto ps = PsClient::Create(std::move(options));
    EXPECT_TRUE(ps.ok()) << ps.status();
    return *std::move(ps);
  }

  // Trains the model through the shard; returns its final parameters.
  std::vector<float> Train(bool overlap, float clip_norm = 0) {
    std::unique_ptr<PsClient> ps = Client();
    TrainerOptions options;
    options.epochs = kEpochs;
    options.batch_size = kBatch;
    options.seed = kSeed;
    options.overlap = overlap;
    options.clip_norm = clip_norm;
    Trainer trainer(options, model_.get(), ps.get(), &data_, nullptr);
    absl::Status trained = trainer.Run([] { return false; });
    EXPECT_TRUE(trained.ok()) << trained;
    const v1::WorkerProgress progress = trainer.Progress();
    EXPECT_TRUE(progress.done());
    EXPECT_EQ(progress.examples(), kEpochs * data_.num_examples);
    return shard_->Snapshot();
  }

  // SGD in the trainer's order, each gradient computed `delay` updates
  // late (0: plain SGD) and, if clip_norm > 0, scaled to at most that norm.
  // If `norms` is set, appends each step's gradient norms: weights, bias.
  std::vector<float> Reference(
      int delay, double clip_norm = 0,
      std::vector<std::pair<double, double>>* norms = nullptr) {
    const int64_t p = model_->layout().size();
    std::vector<std::vector<float>> history(1, std::vector<float>(p));
    model_->layout().Initialize(kSeed, 0, p, history[0].data());
    std::vector<int64_t> order(data_.num_examples);
    std::vector<float> features(kBatch * kFeatures), targets(kBatch);
    std::vector<float> grad(p);
    for (int epoch = 0; epoch < kEpochs; ++epoch) {
      // The trainer's shuffle: seed, worker id, epoch.
      std::iota(order.begin(), order.end(), 0);
      std::seed_seq seed{kSeed, uint64_t{0}, uint64_t(epoch)};
      std::mt19937_64 random(seed);
      std::shuffle(order.begin(), order.end(), random);
      for (int64_t first = 0; first < data_.num_examples; first += kBatch) {
        const int n = static_cast<int>(
            std::min<int64_t>(kBatch, data_.num_examples - first));
        for (int i = 0; i < n; ++i) {
          std::copy_n(data_.example(order[first + i]), kFeatures,
                      &features[i * kFeatures]);
          targets[i] = data_.targets[order[first + i]];
        }
        const size_t seen = std::max<int64_t>(
            0, static_cast<int64_t>(history.size()) - 1 - delay);
        model_->LossAndGradient(
            history[seen].data(),
            Batch{features.data(), nullptr, n, targets.data()}, grad.data());
        double norm = 0;
        for (float g : grad) norm += static_cast<double>(g) * g;
        norm = std::sqrt(norm);
        if (norms != nullptr) {
          const double bias = std::abs(grad[kFeatures]);
          norms->emplace_back(std::sqrt(norm * norm - bias * bias), bias);
        }
        const double scale =
            clip_norm > 0 && norm > clip_norm ? clip_norm / norm : 1;
        std::vector<float> next = history.back();
        for (int64_t i = 0; i < p; ++i) {
          next[i] -= kLearningRate * static_cast<float>(grad[i] * scale);
        }
        history.push_back(std::move(next));
      }
    }
    return history.back();
  }

  Dataset data_;
  std::unique_ptr<LinearRegression> model_;
  std::unique_ptr<ParameterShard> shard_;
};

void ExpectNear(const std::vector<float>& actual,
                const std::vector<float>& expected) {
  ASSERT_EQ(actual.size(), expected.size());
  for (size_t i = 0; i < actual.size(); ++i) {
    EXPECT_NEAR(actual[i], expected[i], 1e-5f * (1 + std::abs(expected[i])))
        << "parameter " << i;
  }
}

TEST_F(TrainerTest, WithoutOverlapIsMiniBatchSgdInShuffledOrder) {
  ExpectNear(Train(/*overlap=*/false), Reference(/*delay=*/0));
  EXPECT_EQ(shard_->version(), kEpochs * 6);  // 22 examples, batches of 4
}

TEST_F(TrainerTest, ClipsTheWholeGradientToItsNorm) {
  const std::vector<float> clipped = Train(/*overlap=*/false, 0.05f);
  ExpectNear(clipped, Reference(/*delay=*/0, 0.05));
  // Clipping bit: the clipped run is not the plain one.
  const std::vector<float> plain = Reference(/*delay=*/0);
  float largest = 0;
  for (size_t i = 0; i < plain.size(); ++i) {
    largest = std::max(largest, std::abs(plain[i] - clipped[i]));
  }
  EXPECT_GT(largest, 1e-3f);
}

TEST_F(TrainerTest, WithOverlapEachGradientIsOneStepLate) {
  const std::vector<float> trained = Train(/*overlap=*/true);
  ExpectNear(trained, Reference(/*delay=*/1));
  // And that differs from plain SGD, so the test tells the two apart.
  const std::vector<float> plain = Reference(/*delay=*/0);
  float largest = 0;
  for (size_t i = 0; i < plain.size(); ++i) {
    largest = std::max(largest, std::abs(plain[i] - trained[i]));
  }
  EXPECT_GT(largest, 1e-3f);
}

// Epochs whose examples change (elastic membership): 10 examples, then
// none, then all 22, then the job has no more.
class ChangingEpochs final : public EpochSource {
 public:
  explicit ChangingEpochs(const Dataset& all)
      : first_(SliceRows(all, {0, 10})), all_(&all) {}

  absl::StatusOr<std::optional<EpochData>> Epoch(int epoch) override {
    asked_.push_back(epoch);
    switch (epoch) {
      case 0:
        return EpochData{&first_, nullptr};
      case 1:
        return EpochData{&empty_, nullptr};
      case 2:
        return EpochData{all_, nullptr};
      default:
        return std::nullopt;
    }
  }

  std::vector<int> asked_;

 private:
  const Dataset first_;
  const Dataset empty_;
  const Dataset* all_;
};

TrainerOptions EpochOptions(int64_t start_step = 0) {
  TrainerOptions options;
  options.batch_size = kBatch;
  options.seed = kSeed;
  options.start_step = start_step;
  return options;
}

TEST_F(TrainerTest, TrainsEachEpochOnTheExamplesItsSourceGives) {
  std::unique_ptr<PsClient> ps = Client();
  ChangingEpochs epochs(data_);
  Trainer trainer(EpochOptions(), model_.get(), ps.get(), &epochs, &data_,
                  nullptr);
  ASSERT_TRUE(trainer.Run([] { return false; }).ok());
  const v1::WorkerProgress progress = trainer.Progress();
  EXPECT_TRUE(progress.done());
  EXPECT_EQ(progress.steps(), 3 + 6);  // ceil(10 / 4) + ceil(22 / 4)
  EXPECT_EQ(progress.examples(), 10 + 22);
  EXPECT_EQ(shard_->version(), 3 + 6);
  EXPECT_EQ(epochs.asked_, (std::vector<int>{0, 1, 2, 3}));
}

TEST_F(TrainerTest, StartsAtTheEpochAndStepItsStartStepFallsIn) {
  std::unique_ptr<PsClient> ps = Client();
  ChangingEpochs epochs(data_);
  // Epoch 0's 3 steps, then step 1 of epoch 2.
  Trainer trainer(EpochOptions(/*start_step=*/4), model_.get(), ps.get(),
                  &epochs, &data_, nullptr);
  EXPECT_EQ(trainer.Progress().steps(), 4);
  EXPECT_EQ(trainer.Progress().examples(), 10 + 4);
  ASSERT_TRUE(trainer.Run([] { return false; }).ok());
  EXPECT_EQ(trainer.Progress().steps(), 9);
  EXPECT_EQ(trainer.Progress().examples(), 10 + 22);
  EXPECT_EQ(shard_->version(), 5);
}

// The divergence guard and the per-layer gradient norms.
class TrainerGuardTest : public TrainerTest {
 protected:
  struct Outcome {
    absl::Status status;
    v1::WorkerProgress progress;
  };

  Outcome Run(TrainerOptions options, WorkerMetrics* metrics = nullptr) {
    std::unique_ptr<PsClient> ps = Client();
    Trainer trainer(options, model_.get(), ps.get(), &data_, metrics);
    absl::Status status = trainer.Run([] { return false; });
    return {status, trainer.Progress()};
  }

  static TrainerOptions Options() {
    TrainerOptions options;
    options.epochs = kEpochs;
    options.batch_size = kBatch;
    options.seed = kSeed;
    options.max_loss_factor = 100;
    return options;
  }
};

TEST_F(TrainerGuardTest, NonFiniteLossStopsWithExitCode6) {
  for (int64_t i = 0; i < data_.num_examples; ++i) {
    data_.features[i * kFeatures] = std::nanf("");
  }
  const Outcome outcome = Run(Options());
  EXPECT_EQ(outcome.status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(ExitCodeFor(outcome.status), kExitDiverged);
  EXPECT_EQ(outcome.status.message(),
            "training diverged: worker 0 got loss nan at its step 0; lower "
            "the learning rate");
  // The heartbeat tells the coordinator; nothing was pushed.
  EXPECT_EQ(outcome.progress.divergence(), outcome.status.message());
  EXPECT_FALSE(outcome.progress.done());
  EXPECT_EQ(shard_->version(), 0);
}

TEST_F(TrainerGuardTest, NonFiniteGradientStopsNamingTheLayer) {
  // At the zero initial weights the loss is finite, but the gradient of
  // the first weight is about 1e20 times a residual: its square overflows.
  for (int64_t i = 0; i < data_.num_examples; ++i) {
    data_.features[i * kFeatures] = 1e20f;
  }
  const Outcome outcome = Run(Options());
  EXPECT_EQ(ExitCodeFor(outcome.status), kExitDiverged);
  EXPECT_THAT(std::string(outcome.status.message()),
              ::testing::MatchesRegex(
                  "training diverged: worker 0 got a gradient of L2 norm inf "
                  "in layer weights at its step 0 \\(loss [0-9.]+\\); lower "
                  "the learning rate"));
  EXPECT_EQ(shard_->version(), 0);
}

TEST_F(TrainerGuardTest, ReportsEachLayersGradientNorm) {
  auto registry = MetricsRegistry::Create({{"role", "worker"}});
  WorkerMetrics metrics(*registry);
  const Outcome outcome = Run(Options(), &metrics);
  ASSERT_TRUE(outcome.status.ok()) << outcome.status;
  std::vector<std::pair<double, double>> norms;
  Reference(/*delay=*/0, 0, &norms);

  const v1::WorkerProgress& p = outcome.progress;
  ASSERT_EQ(p.gradient_norm_count(), static_cast<int64_t>(norms.size()));
  ASSERT_THAT(p.gradient_norm_layers(),
              ::testing::ElementsAre("weights", "bias"));
  double weights = 0, bias = 0, total = 0;
  for (const auto& [w, b] : norms) {
    weights += w;
    bias += b;
    total += std::sqrt(w * w + b * b);
  }
  EXPECT_NEAR(p.gradient_norm_sums(0), weights, 1e-5 * weights);
  EXPECT_NEAR(p.gradient_norm_sums(1), bias, 1e-5 * bias);
  EXPECT_NEAR(p.gradient_norm_total_sum(), total, 1e-5 * total);
  // The gauges hold the last step's norms.
  const auto& [last_weights, last_bias] = norms.back();
  EXPECT_NEAR(metrics.gradient_norm.Add({{"layer", "weights"}}).Value(),
              last_weights, 1e-5 * last_weights);
  EXPECT_NEAR(metrics.gradient_norm.Add({{"layer", "bias"}}).Value(), last_bias,
              1e-5 * last_bias);
  EXPECT_NEAR(metrics.gradient_norm.Add({{"layer", "total"}}).Value(),
              std::hypot(last_weights, last_bias),
              1e-5 * std::hypot(last_weights, last_bias));
}

TEST_F(TrainerGuardTest, RecordsEachPushsWaitAndTheStepRates) {
  auto registry = MetricsRegistry::Create({{"role", "worker"}});
  WorkerMetrics metrics(*registry);
  const Outcome outcome = Run(Options(), &metrics);
  ASSERT_TRUE(outcome.status.ok()) << outcome.status;
  const prometheus::ClientMetric wait = metrics.wait_duration.Collect();
  EXPECT_EQ(wait.histogram.sample_count,
            static_cast<uint64_t>(outcome.progress.steps()));
  EXPECT_EQ(wait.histogram.sample_sum, 0);  // ASP: the gate holds nothing
  EXPECT_GT(metrics.steps_per_second.Value(), 0);
  // Batches of kBatch, but for an epoch's last one.
  EXPECT_GT(metrics.examples_per_second.Value(),
            metrics.steps_per_second.Value());
  EXPECT_LE(metrics.examples_per_second.Value(),
            kBatch * metrics.steps_per_second.Value() * (1 + 1e-9));
}

}  // namespace
}  // namespace descent
