#include "common/optim/optimizer.h"

#include <cmath>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace descent {
namespace {

// A fixed gradient sequence for the reference-formula tests (the
// comparison with torch.optim is torch_golden_test, over a longer one).
constexpr int kSteps = 5;
constexpr int kSize = 4;
constexpr float kInitial[kSize] = {1.0f, -2.0f, 0.5f, 3.0f};
constexpr float kGrads[kSteps][kSize] = {
    {0.5f, -1.0f, 0.25f, 2.0f},  {-0.3f, 0.8f, 0.1f, 1.5f},
    {0.2f, -0.6f, -0.4f, -1.0f}, {0.7f, 0.4f, 0.05f, 0.5f},
    {-0.1f, -0.2f, 0.3f, 0.25f},
};

using Trajectory = std::vector<std::vector<double>>;  // params after each step

std::vector<std::vector<float>> Grads() {
  std::vector<std::vector<float>> grads;
  for (const auto& row : kGrads) grads.emplace_back(row, row + kSize);
  return grads;
}

// Runs `optimizer` densely over Grads() from kInitial.
Trajectory RunDense(Optimizer& optimizer) {
  std::vector<float> params(kInitial, kInitial + kSize);
  Trajectory out;
  int64_t version = 0;
  for (const auto& g : Grads()) {
    optimizer.Apply(0, g.data(), kSize, version++, params.data());
    out.emplace_back(params.begin(), params.end());
  }
  return out;
}

// A reference rule: updates p[i] (double) from g, given step t (1-based)
// and per-coordinate state, written straight from the papers / torch docs.
using Rule = std::function<void(int t, const std::vector<float>& g,
                                std::vector<double>& p)>;

Trajectory Reference(const Rule& rule) {
  std::vector<double> p(kInitial, kInitial + kSize);
  Trajectory out;
  int t = 0;
  for (const auto& g : Grads()) {
    rule(++t, g, p);
    out.push_back(p);
  }
  return out;
}

void ExpectClose(const Trajectory& actual, const Trajectory& expected,
                 double rel) {
  ASSERT_EQ(actual.size(), expected.size());
  for (size_t s = 0; s < actual.size(); ++s) {
    for (size_t i = 0; i < actual[s].size(); ++i) {
      EXPECT_NEAR(actual[s][i], expected[s][i],
                  rel * std::max(std::abs(expected[s][i]), 1e-3))
          << "step " << s + 1 << " param " << i;
    }
  }
}

LearningRateSchedule Lr(double lr) {
  return LearningRateSchedule::Constant(lr);
}

std::unique_ptr<Optimizer> Momentum(double lr, bool nesterov) {
  MomentumOptions options;
  options.nesterov = nesterov;
  return MomentumOptimizer::Create(kSize, Lr(lr), options).value();
}

// --- (a) against reference formulas in double -----------------------------

TEST(MomentumOptimizer, MatchesHeavyBallAndNesterovFormulas) {
  for (bool nesterov : {false, true}) {
    std::vector<double> v(kSize, 0);
    const double lr = 0.1, mu = 0.9;
    Trajectory expected = Reference([&](int, const auto& g, auto& p) {
      for (int i = 0; i < kSize; ++i) {
        v[i] = mu * v[i] + g[i];
        p[i] -= lr * (nesterov ? g[i] + mu * v[i] : v[i]);
      }
    });
    ExpectClose(RunDense(*Momentum(lr, nesterov)), expected, 1e-5);
  }
}

TEST(SgdOptimizer, MatchesFormula) {
  const double lr = 0.1;
  Trajectory expected = Reference([&](int, const auto& g, auto& p) {
    for (int i = 0; i < kSize; ++i) p[i] -= lr * g[i];
  });
  SgdOptimizer sgd(static_cast<float>(lr));
  ExpectClose(RunDense(sgd), expected, 1e-6);
}

TEST(AdagradOptimizer, MatchesFormula) {
  for (double initial : {0.0, 0.5}) {
    SCOPED_TRACE(initial);
    std::vector<double> sum(kSize, initial);
    const double lr = 0.1, eps = 1e-10;
    Trajectory expected = Reference([&](int, const auto& g, auto& p) {
      for (int i = 0; i < kSize; ++i) {
        sum[i] += g[i] * g[i];
        p[i] -= lr * g[i] / (std::sqrt(sum[i]) + eps);
      }
    });
    AdagradOptions options;
    options.initial_accumulator_value = initial;
    ExpectClose(
        RunDense(*AdagradOptimizer::Create(kSize, Lr(lr), options).value()),
        expected, 1e-5);
  }
}

TEST(RmspropOptimizer, MatchesFormula) {
  std::vector<double> sq(kSize, 0);
  const double lr = 0.01, alpha = 0.99, eps = 1e-8;
  Trajectory expected = Reference([&](int, const auto& g, auto& p) {
    for (int i = 0; i < kSize; ++i) {
      sq[i] = alpha * sq[i] + (1 - alpha) * g[i] * g[i];
      p[i] -= lr * g[i] / (std::sqrt(sq[i]) + eps);
    }
  });
  ExpectClose(RunDense(*RmspropOptimizer::Create(kSize, Lr(lr)).value()),
              expected, 1e-5);
}

Rule AdamRule(double lr, double wd, std::vector<double>& m,
              std::vector<double>& v) {
  return [lr, wd, &m, &v](int t, const auto& g, auto& p) {
    const double b1 = 0.9, b2 = 0.999, eps = 1e-8;
    for (int i = 0; i < kSize; ++i) {
      p[i] *= 1 - lr * wd;
      m[i] = b1 * m[i] + (1 - b1) * g[i];
      v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
      const double denom =
          std::sqrt(v[i]) / std::sqrt(1 - std::pow(b2, t)) + eps;
      p[i] -= lr / (1 - std::pow(b1, t)) * m[i] / denom;
    }
  };
}

TEST(AdamOptimizer, MatchesFormula) {
  std::vector<double> m(kSize, 0), v(kSize, 0);
  Trajectory expected = Reference(AdamRule(0.1, 0, m, v));
  ExpectClose(RunDense(*AdamOptimizer::Create(kSize, Lr(0.1)).value()),
              expected, 1e-5);
}

TEST(AdamOptimizer, AdamWMatchesFormula) {
  std::vector<double> m(kSize, 0), v(kSize, 0);
  Trajectory expected = Reference(AdamRule(0.1, 0.01, m, v));
  auto adamw =
      AdamOptimizer::Create(kSize, Lr(0.1), AdamOptions::AdamW()).value();
  ExpectClose(RunDense(*adamw), expected, 1e-5);
}

// --- (e) FTRL-Proximal -----------------------------------------------------

TEST(FtrlOptimizer, MatchesMcMahanAlgorithm1) {
  const double alpha = 0.5;
  FtrlOptions options;
  options.beta = 1.0;
  options.l1 = 0.3;  // large enough to zero some coordinates on the way
  options.l2 = 0.1;
  std::vector<double> z(kSize, 0), n(kSize, 0);
  Trajectory expected = Reference([&](int, const auto& g, auto& w) {
    for (int i = 0; i < kSize; ++i) {
      const double sigma =
          (std::sqrt(n[i] + g[i] * g[i]) - std::sqrt(n[i])) / alpha;
      z[i] += g[i] - sigma * w[i];
      n[i] += g[i] * g[i];
      w[i] = std::abs(z[i]) <= options.l1
                 ? 0.0
                 : -(z[i] - std::copysign(options.l1, z[i])) /
                       ((options.beta + std::sqrt(n[i])) / alpha + options.l2);
    }
  });
  Trajectory actual =
      RunDense(*FtrlOptimizer::Create(kSize, Lr(alpha), options).value());
  ExpectClose(actual, expected, 1e-5);
  int zeros = 0;
  for (const auto& step : expected) {
    for (double w : step) zeros += w == 0;
  }
  EXPECT_GT(zeros, 0) << "l1 should zero some coordinates in this sequence";
}

// learning_rate_power generalizes the paper's sqrt(n) to n^-power (as in
// TensorFlow's FTRL); -0.5 is Algorithm 1.
TEST(FtrlOptimizer, MatchesAlgorithm1WithOtherLearningRatePower) {
  const double alpha = 0.5;
  FtrlOptions options;  // the values, for the reference below
  options.beta = 0.5;
  options.l1 = 0.05;
  options.l2 = 0.2;
  options.learning_rate_power = -0.3;
  const double c = -options.learning_rate_power;
  std::vector<double> z(kSize, 0), n(kSize, 0);
  Trajectory expected = Reference([&](int, const auto& g, auto& w) {
    for (int i = 0; i < kSize; ++i) {
      const double n_new = n[i] + g[i] * g[i];
      z[i] += g[i] - (std::pow(n_new, c) - std::pow(n[i], c)) / alpha * w[i];
      n[i] = n_new;
      w[i] =
          std::abs(z[i]) <= options.l1
              ? 0.0
              : -(z[i] - std::copysign(options.l1, z[i])) /
                    ((options.beta + std::pow(n[i], c)) / alpha + options.l2);
    }
  });
  // Built from its config, as a shard builds it.
  v1::OptimizerConfig config;
  v1::FtrlConfig& ftrl = *config.mutable_ftrl();
  ftrl.set_learning_rate(alpha);
  ftrl.set_beta(options.beta);
  ftrl.set_l1(options.l1);
  ftrl.set_l2(options.l2);
  ftrl.set_learning_rate_power(options.learning_rate_power);
  ExpectClose(RunDense(*CreateOptimizer(config, kSize).value()), expected,
              1e-5);
}

// --- (c) sparse laziness and Grow -------------------------------------------

TEST(AdamOptimizer, LazyRowGetsItsOwnBiasCorrection) {
  auto adam = AdamOptimizer::Create(2, Lr(0.1)).value();
  float params[2] = {1.0f, 1.0f};
  const float g = 0.5f;
  for (int64_t version = 0; version < 3; ++version) {
    adam->Apply(0, &g, 1, version, &params[0]);
  }
  adam->Apply(1, &g, 1, /*version=*/3, &params[1]);
  // Adam's first step moves by lr * sign(g) (up to eps), whatever the
  // global step: m_hat = g, v_hat = g^2.
  auto fresh = AdamOptimizer::Create(1, Lr(0.1)).value();
  float expected = 1.0f;
  fresh->Apply(0, &g, 1, 0, &expected);
  EXPECT_FLOAT_EQ(params[1], expected);
  EXPECT_NEAR(params[1], 1.0 - 0.1, 1e-6);
}

// A slice long enough for several of Apply's chunks, whose parameters
// reach different step counts in some chunks and not in others (rows
// updated lazily), with and without weight decay: every parameter ends as
// a one-parameter optimizer given the same gradients ends. Each Adam
// coordinate is independent, so that is the rule's own answer.
TEST(AdamOptimizer, ChunksWithOneStepCountAndWithManyAgree) {
  constexpr int64_t kN = 3 * 2048 + 77;
  for (const AdamOptions& options : {AdamOptions(), AdamOptions::AdamW()}) {
    auto adam = AdamOptimizer::Create(kN, Lr(0.01), options).value();
    std::vector<float> params(kN), grad(kN);
    for (int64_t i = 0; i < kN; ++i) {
      params[i] = std::sin(0.1f * i);
      grad[i] = std::cos(0.37f * i);
    }
    const std::vector<float> initial = params;
    // Updates: the whole slice, a range inside the second chunk, the whole
    // slice again, a range across the first two chunks, the whole slice.
    const std::vector<std::pair<int64_t, int64_t>> updates = {
        {0, kN}, {2100, 300}, {0, kN}, {2000, 100}, {0, kN}};
    int64_t version = 0;
    for (const auto& [begin, n] : updates) {
      adam->Apply(begin, grad.data() + begin, n, version++,
                  params.data() + begin);
    }
    for (int64_t i = 0; i < kN; i += 7) {
      auto one = AdamOptimizer::Create(1, Lr(0.01), options).value();
      float expected = initial[i];
      int64_t one_version = 0;
      for (const auto& [begin, n] : updates) {
        if (i >= begin && i < begin + n) {
          one->Apply(0, &grad[i], 1, one_version, &expected);
        }
        ++one_version;
      }
      ASSERT_FLOAT_EQ(params[i], expected) << "parameter " << i;
    }
  }
}

// The optimizer's state is `state`, tensor for tensor.
void ExpectStateIs(const Optimizer& optimizer,
                   const std::vector<NamedTensor>& state) {
  const std::vector<NamedTensor> now = optimizer.State("");
  ASSERT_EQ(now.size(), state.size());
  for (size_t b = 0; b < state.size(); ++b) {
    EXPECT_EQ(now[b].f32, state[b].f32) << state[b].name;
    EXPECT_EQ(now[b].u64, state[b].u64) << state[b].name;
  }
}

// ApplyFinite is all or nothing over several of its chunks: a result that
// overflows in the last chunk ((1 - beta2) * g * g past float's range
// makes Adam's v infinite) leaves every parameter and state value as it was,
// and an update that stays finite is exactly Apply's. The parameters start at
// an odd index, so the saved copies start unaligned.
TEST(Optimizer, ApplyFiniteTakesBackEveryChunkOrAppliesLikeApply) {
  constexpr int64_t kN = 3 * 4096 + 10, kIndex = 3;
  auto adam = AdamOptimizer::Create(kN, Lr(0.01)).value();
  auto twin = AdamOptimizer::Create(kN, Lr(0.01)).value();
  std::vector<float> params(kIndex + kN), grad(kN);
  for (int64_t i = 0; i < kN; ++i) {
    params[kIndex + i] = std::sin(0.1f * i);
    grad[i] = std::cos(0.37f * i);
  }
  std::vector<float> twin_params = params;
  UndoLog log;
  ASSERT_EQ(adam->ApplyFinite(0, grad.data(), kN, 0, &params, kIndex, &log),
            -1);
  twin->Apply(0, grad.data(), kN, 0, twin_params.data() + kIndex);
  EXPECT_EQ(params, twin_params);

  const std::vector<float> before = params;
  const std::vector<NamedTensor> state = adam->State("");
  std::vector<float> huge = grad;
  huge[kN - 5] = 1e30f;
  EXPECT_EQ(adam->ApplyFinite(0, huge.data(), kN, 1, &params, kIndex, &log),
            kN - 5);
  EXPECT_EQ(params, before);
  ExpectStateIs(*adam, state);
  // The log's storage is reused: the same update again, then a good one.
  EXPECT_EQ(adam->ApplyFinite(0, huge.data(), kN, 1, &params, kIndex, &log),
            kN - 5);
  ASSERT_EQ(adam->ApplyFinite(0, grad.data(), kN, 1, &params, kIndex, &log),
            -1);
  twin->Apply(0, grad.data(), kN, 1, twin_params.data() + kIndex);
  EXPECT_EQ(params, twin_params);
}

// Every rule's all-or-nothing update is its Apply, bit for bit, both over
// a slice that starts inside the state (position > 0; saved in the log, in
// place) and over the whole parameter vector and state (written out of
// place and swapped in), each spanning chunks; a refused one changes
// neither the parameters nor the state, and Undo takes back an applied one.
TEST(Optimizer, EveryRulesApplyFiniteIsItsApply) {
  constexpr int64_t kSize = 2 * 4096 + 100;
  for (const char* rule : {"sgd", "momentum", "nesterov", "adagrad", "rmsprop",
                           "adam", "adamw", "ftrl"}) {
    for (const bool whole : {false, true}) {
      SCOPED_TRACE(std::string(rule) + (whole ? " whole" : " slice"));
      const int64_t position = whole ? 0 : 37;
      const int64_t n = whole ? kSize : kSize - position - 5;
      v1::OptimizerConfig config;
      const std::string name = rule;
      if (name == "sgd") config.mutable_sgd();
      if (name == "momentum") config.mutable_momentum();
      if (name == "nesterov") config.mutable_momentum()->set_nesterov(true);
      if (name == "adagrad") config.mutable_adagrad();
      if (name == "rmsprop") config.mutable_rmsprop();
      if (name == "adam") config.mutable_adam();
      if (name == "adamw") config.mutable_adamw();
      if (name == "ftrl") config.mutable_ftrl();
      ApplyOptimizerDefaults(&config);
      auto ours = CreateOptimizer(config, kSize).value();
      auto twin = CreateOptimizer(config, kSize).value();
      std::vector<float> params(n), grad(n);
      for (int64_t i = 0; i < n; ++i) {
        params[i] = 0.5f * std::sin(0.3f * i);
        grad[i] = std::cos(0.71f * i);
      }
      std::vector<float> twin_params = params;
      UndoLog log;
      for (int64_t version = 0; version < 3; ++version) {
        ASSERT_EQ(ours->ApplyFinite(position, grad.data(), n, version, &params,
                                    0, &log),
                  -1);
        twin->Apply(position, grad.data(), n, version, twin_params.data());
        ASSERT_EQ(params, twin_params) << "version " << version;
        ExpectStateIs(*ours, twin->State(""));
      }
      const std::vector<NamedTensor> state = ours->State("");
      std::vector<float> bad = grad;
      bad[n - 1] = std::numeric_limits<float>::quiet_NaN();
      EXPECT_EQ(ours->ApplyFinite(position, bad.data(), n, 3, &params, 0, &log),
                n - 1);
      EXPECT_EQ(params, twin_params);
      ExpectStateIs(*ours, state);
      // Applied, then taken back (as a shard does when the push's rows are
      // refused after its dense part was applied).
      ASSERT_EQ(
          ours->ApplyFinite(position, grad.data(), n, 3, &params, 0, &log), -1);
      EXPECT_NE(params, twin_params);
      ours->Undo(&log);
      EXPECT_EQ(params, twin_params);
      ExpectStateIs(*ours, state);
      // And the same update once more is the twin's.
      ASSERT_EQ(
          ours->ApplyFinite(position, grad.data(), n, 3, &params, 0, &log), -1);
      twin->Apply(position, grad.data(), n, 3, twin_params.data());
      EXPECT_EQ(params, twin_params);
      ExpectStateIs(*ours, twin->State(""));
    }
  }
}

// The log grows while an update is saved (its first use, then a larger
// update than any before) and still takes everything back; row-sized saves
// and chunk-sized ones mix in one log.
TEST(Optimizer, UndoLogGrowsMidUpdateAndMixesSmallAndLargeSaves) {
  constexpr int64_t kSmall = 100, kLarge = 5 * 4096 + 3;
  auto momentum = MomentumOptimizer::Create(kLarge, Lr(0.1)).value();
  std::vector<float> params(kLarge), grad(kLarge);
  for (int64_t i = 0; i < kLarge; ++i) {
    params[i] = std::sin(0.2f * i);
    grad[i] = std::cos(0.3f * i);
  }
  UndoLog log;
  ASSERT_EQ(momentum->ApplyFinite(0, grad.data(), kSmall, 0, &params, 0, &log),
            -1);
  const std::vector<float> before = params;
  const std::vector<NamedTensor> state = momentum->State("");
  grad[kLarge - 1] = std::numeric_limits<float>::infinity();
  EXPECT_EQ(momentum->ApplyFinite(0, grad.data(), kLarge, 1, &params, 0, &log),
            kLarge - 1);
  EXPECT_EQ(params, before);
  EXPECT_EQ(momentum->State("")[0].f32, state[0].f32);
  // Rows saved by hand: small ranges, then a large one, all taken back.
  for (int64_t at : {int64_t{10}, int64_t{500}}) {
    momentum->Save(at, 7, &params, at, &log);
    momentum->Apply(at, grad.data() + at, 7, 2, params.data() + at);
  }
  momentum->Save(1000, 3000, &params, 1000, &log);
  momentum->Apply(1000, grad.data() + 1000, 3000, 2, params.data() + 1000);
  EXPECT_NE(params, before);
  momentum->Undo(&log);
  EXPECT_EQ(params, before);
  EXPECT_EQ(momentum->State("")[0].f32, state[0].f32);
}

TEST(AdamOptimizer, GrowKeepsOldStateAndZeroesNew) {
  auto grown = AdamOptimizer::Create(1, Lr(0.1)).value();
  auto steady = AdamOptimizer::Create(1, Lr(0.1)).value();
  float a = 1.0f, b = 1.0f;
  const float g1 = 0.5f, g2 = -0.25f;
  grown->Apply(0, &g1, 1, 0, &a);
  steady->Apply(0, &g1, 1, 0, &b);
  grown->Grow(3);
  float row[2] = {2.0f, 2.0f};
  const float g_row[2] = {g2, g2};
  grown->Apply(1, g_row, 2, 1, row);
  grown->Apply(0, &g2, 1, 1, &a);
  steady->Apply(0, &g2, 1, 1, &b);
  EXPECT_FLOAT_EQ(a, b);  // old state survived Grow
  auto fresh = AdamOptimizer::Create(1, Lr(0.1)).value();
  float expected = 2.0f;
  fresh->Apply(0, &g2, 1, 0, &expected);
  EXPECT_FLOAT_EQ(row[0], expected);  // new state starts at zero, step 1
  EXPECT_FLOAT_EQ(row[1], expected);
  grown->Grow(2);  // never shrinks
  grown->Apply(2, &g2, 1, 2, &row[1]);
}

TEST(Optimizers, GrowZeroInitsEveryStatefulRule) {
  std::vector<std::unique_ptr<Optimizer>> optimizers;
  optimizers.push_back(Momentum(0.1, false));
  optimizers.push_back(AdagradOptimizer::Create(1, Lr(0.1)).value());
  optimizers.push_back(RmspropOptimizer::Create(1, Lr(0.1)).value());
  optimizers.push_back(FtrlOptimizer::Create(1, Lr(0.1)).value());
  std::vector<std::unique_ptr<Optimizer>> fresh;
  fresh.push_back(Momentum(0.1, false));
  fresh.push_back(AdagradOptimizer::Create(1, Lr(0.1)).value());
  fresh.push_back(RmspropOptimizer::Create(1, Lr(0.1)).value());
  fresh.push_back(FtrlOptimizer::Create(1, Lr(0.1)).value());
  const float g = 0.7f;
  for (size_t k = 0; k < optimizers.size(); ++k) {
    float p = 0.0f;
    optimizers[k]->Apply(0, &g, 1, 0, &p);
    optimizers[k]->Grow(kSize + 1);
    float grown = 0.0f, expected = 0.0f;
    optimizers[k]->Apply(kSize, &g, 1, 1, &grown);
    fresh[k]->Apply(0, &g, 1, 1, &expected);
    EXPECT_FLOAT_EQ(grown, expected) << "optimizer " << k;
  }
}

TEST(AdagradOptimizer, GrowUsesInitialAccumulator) {
  AdagradOptions options;
  options.initial_accumulator_value = 16.0;
  auto adagrad = AdagradOptimizer::Create(0, Lr(1.0), options).value();
  adagrad->Grow(1);
  float p = 0.0f;
  const float g = 3.0f;
  adagrad->Apply(0, &g, 1, 0, &p);
  EXPECT_NEAR(p, -3.0 / 5.0, 1e-6);  // sqrt(16 + 3^2) = 5
}

// --- schedules drive the rate at `version` --------------------------------

TEST(MomentumOptimizer, TakesLearningRateFromScheduleAtVersion) {
  ScheduleSpec spec;
  spec.kind = ScheduleSpec::Kind::kStepDecay;
  spec.learning_rate = 1.0;
  spec.step_size = 10;
  spec.gamma = 0.5;
  MomentumOptions options;
  options.momentum = 0;
  auto sgd = MomentumOptimizer::Create(1, CreateSchedule(spec).value(), options)
                 .value();
  float p = 0.0f;
  const float g = 1.0f;
  sgd->Apply(0, &g, 1, /*version=*/25, &p);
  EXPECT_FLOAT_EQ(p, -0.25f);
}

// --- validation and the existing API ----------------------------------------

TEST(Optimizers, CreateRejectsBadOptionsNamingTheField) {
  MomentumOptions momentum;
  momentum.momentum = 1.0;
  AdagradOptions adagrad;
  adagrad.eps = 0;
  RmspropOptions rmsprop;
  rmsprop.alpha = -0.1;
  AdamOptions adam;
  adam.beta2 = 1.0;
  FtrlOptions ftrl;
  ftrl.l1 = -1;
  struct Case {
    std::optional<FieldProblem> problem;
    absl::Status status;
    std::string message;
  } cases[] = {
      {FindProblem(momentum),
       MomentumOptimizer::Create(1, Lr(0.1), momentum).status(),
       "momentum: must be in [0, 1), got 1"},
      {FindProblem(adagrad),
       AdagradOptimizer::Create(1, Lr(0.1), adagrad).status(),
       "eps: must be a finite number > 0, got 0"},
      {FindProblem(rmsprop),
       RmspropOptimizer::Create(1, Lr(0.1), rmsprop).status(),
       "alpha: must be in [0, 1), got -0.1"},
      {FindProblem(adam), AdamOptimizer::Create(1, Lr(0.1), adam).status(),
       "beta2: must be in [0, 1), got 1"},
      {FindProblem(ftrl), FtrlOptimizer::Create(1, Lr(0.1), ftrl).status(),
       "l1: must be a finite number >= 0, got -1"},
  };
  for (const auto& c : cases) {
    ASSERT_TRUE(c.problem.has_value()) << c.message;
    EXPECT_EQ(c.problem->field + ": " + c.problem->problem, c.message);
    EXPECT_EQ(c.status.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(c.status.message(), c.message);
  }
  EXPECT_EQ(FindProblem(MomentumOptions()), std::nullopt);
  EXPECT_EQ(FindProblem(AdamOptions::AdamW()), std::nullopt);
}

// A config's problems name the field by its path in the JobConfig, once.
TEST(FindOptimizerProblem, NamesTheConfigPath) {
  v1::OptimizerConfig none;
  v1::OptimizerConfig momentum;
  momentum.mutable_momentum()->set_momentum(1.5);
  v1::OptimizerConfig rate;
  rate.mutable_adam()->set_learning_rate(0);
  v1::OptimizerConfig schedule;
  schedule.mutable_sgd();
  schedule.mutable_schedule()->set_kind(v1::ScheduleConfig::COSINE);
  schedule.mutable_schedule()->set_period(0);
  const std::pair<v1::OptimizerConfig, std::string> cases[] = {
      {none, "optimizer: none chosen"},
      {momentum, "optimizer.momentum.momentum: must be in [0, 1), got 1.5"},
      {rate,
       "optimizer.adam.learning_rate: must be a finite number > 0, got 0"},
      {schedule, "optimizer.schedule.period: must be > 0, got 0"},
  };
  for (const auto& [config, message] : cases) {
    std::optional<FieldProblem> problem = FindOptimizerProblem(config);
    ASSERT_TRUE(problem.has_value()) << message;
    EXPECT_EQ(problem->field + ": " + problem->problem, message);
    EXPECT_EQ(CreateOptimizer(config, 1).status().message(), message);
    EXPECT_EQ(LearningRateScheduleOf(config).status().message(), message);
  }
}

// Unset fields take job.proto's defaults even in a config that never went
// through ApplyDefaults: momentum {} is heavy ball at 0.1 with mu 0.9.
TEST(CreateOptimizer, UnsetFieldsTakeTheDocumentedDefaults) {
  v1::OptimizerConfig config;
  config.mutable_momentum();
  EXPECT_EQ(FindOptimizerProblem(config), std::nullopt);
  ExpectClose(
      RunDense(*CreateOptimizer(config, kSize).value()),
      RunDense(*MomentumOptimizer::Create(kSize, Lr(0.1), MomentumOptions())
                    .value()),
      1e-7);
  EXPECT_DOUBLE_EQ(MomentumOptions().momentum, 0.9);
  EXPECT_DOUBLE_EQ(LearningRateScheduleOf(config).value().At(0), 0.1);
}

TEST(CreateOptimizer, StillBuildsSgdFromConfig) {
  v1::OptimizerConfig config;
  config.mutable_sgd()->set_learning_rate(0.5);
  auto sgd = CreateOptimizer(config, 1).value();
  float p = 1.0f;
  const float g = 2.0f;
  sgd->Apply(0, &g, 1, 0, &p);
  EXPECT_FLOAT_EQ(p, 0.0f);
  EXPECT_EQ(CreateOptimizer(v1::OptimizerConfig(), 1).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace descent
