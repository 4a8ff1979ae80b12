#include "common/model/network.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "common/model/layers.h"
#include "glog/logging.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace descent {
namespace {

using ::testing::HasSubstr;

LayerSpec Dense(int units, Activation activation) {
  LayerSpec spec;
  spec.units = units;
  spec.activation = activation;
  return spec;
}

LayerSpec Conv(int out_channels, int kernel, int stride, int padding,
               Activation activation) {
  LayerSpec spec;
  spec.kind = LayerSpec::kConv2D;
  spec.out_channels = out_channels;
  spec.kernel = kernel;
  spec.stride = stride;
  spec.padding = padding;
  spec.activation = activation;
  return spec;
}

LayerSpec Pool(int kernel, int stride) {
  LayerSpec spec;
  spec.kind = LayerSpec::kMaxPool2D;
  spec.kernel = kernel;
  spec.stride = stride;
  return spec;
}

// ---- The naive double-precision reference. ----

using Values = std::vector<double>;

int64_t SizeOf(const InputShape& s) {
  return int64_t{s.channels} * s.height * s.width;
}

double Activate(Activation activation, double x) {
  switch (activation) {
    case Activation::kNone:
      return x;
    case Activation::kRelu:
      return x > 0 ? x : 0;
    case Activation::kTanh:
      return std::tanh(x);
    case Activation::kSigmoid:
      return 1 / (1 + std::exp(-x));
  }
  return x;
}

// Cross-correlation with zero padding; w is {oc, c, k, k}, then bias b.
Values NaiveConv(const Values& x, InputShape* s, const LayerSpec& spec,
                 const double* w, const double* b) {
  const int k = spec.kernel, st = spec.stride, p = spec.padding;
  const int oh = (s->height + 2 * p - k) / st + 1;
  const int ow = (s->width + 2 * p - k) / st + 1;
  Values y(int64_t{spec.out_channels} * oh * ow);
  for (int o = 0; o < spec.out_channels; ++o)
    for (int oy = 0; oy < oh; ++oy)
      for (int ox = 0; ox < ow; ++ox) {
        double sum = b[o];
        for (int c = 0; c < s->channels; ++c)
          for (int ky = 0; ky < k; ++ky)
            for (int kx = 0; kx < k; ++kx) {
              const int iy = oy * st - p + ky, ix = ox * st - p + kx;
              if (iy < 0 || iy >= s->height || ix < 0 || ix >= s->width)
                continue;
              sum += w[((o * s->channels + c) * k + ky) * k + kx] *
                     x[(c * s->height + iy) * s->width + ix];
            }
        y[(o * oh + oy) * ow + ox] = sum;
      }
  *s = InputShape{spec.out_channels, oh, ow};
  return y;
}

// Max-pooling; *argmax (if set) gets each max's position in x.
Values NaivePool(const Values& x, InputShape* s, int k, int st,
                 std::vector<int32_t>* argmax = nullptr) {
  const int oh = (s->height - k) / st + 1, ow = (s->width - k) / st + 1;
  Values y;
  for (int c = 0; c < s->channels; ++c)
    for (int oy = 0; oy < oh; ++oy)
      for (int ox = 0; ox < ow; ++ox) {
        int best = -1;
        for (int ky = 0; ky < k; ++ky)
          for (int kx = 0; kx < k; ++kx) {
            const int i =
                (c * s->height + oy * st + ky) * s->width + ox * st + kx;
            if (best < 0 || x[i] > x[best]) best = i;
          }
        y.push_back(x[best]);
        if (argmax != nullptr) argmax->push_back(best);
      }
  *s = InputShape{s->channels, oh, ow};
  return y;
}

Values NaiveDense(const Values& x, int units, const double* w,
                  const double* b) {
  Values y(b, b + units);
  for (size_t f = 0; x.size() > f; ++f)
    for (int u = 0; u < units; ++u) y[u] += x[f] * w[f * units + u];
  return y;
}

// The network under test, evaluated naively in double. Parameters are read
// in the documented layout order.
class Reference {
 public:
  Reference(InputShape input, std::vector<LayerSpec> hidden, int classes,
            double l2)
      : input_(input), layers_(std::move(hidden)), l2_(l2) {
    layers_.push_back(Dense(classes, Activation::kNone));
  }

  // Logits of one example; adds sum of squared weights to *sum_squares.
  Values Logits(const Values& params, const float* features,
                double* sum_squares = nullptr) const {
    InputShape s = input_;
    Values x(features, features + SizeOf(s));
    const double* p = params.data();
    double squares = 0;
    for (const LayerSpec& spec : layers_) {
      const double* w = p;
      if (spec.kind == LayerSpec::kMaxPool2D) {
        x = NaivePool(x, &s, spec.kernel, spec.stride);
        continue;
      }
      const int64_t in = SizeOf(s);
      if (spec.kind == LayerSpec::kDense) {
        p += in * spec.units;
        x = NaiveDense(x, spec.units, w, p);
        s = InputShape{spec.units, 1, 1};
      } else {
        p +=
            int64_t{spec.out_channels} * s.channels * spec.kernel * spec.kernel;
        x = NaiveConv(x, &s, spec, w, p);
      }
      for (const double* q = w; q < p; ++q) squares += *q * *q;
      p += s.channels;
      for (double& v : x) v = Activate(spec.activation, v);
    }
    if (sum_squares != nullptr) *sum_squares = squares;
    return x;
  }

  // Sum of cross-entropies over n examples.
  double LossSum(const Values& params, const float* x, const int32_t* y,
                 int n) const {
    double total = 0;
    for (int i = 0; i < n; ++i) {
      const Values z = Logits(params, x + i * SizeOf(input_));
      const double max = *std::max_element(z.begin(), z.end());
      double sum = 0;
      for (double v : z) sum += std::exp(v - max);
      total += std::log(sum) + max - z[y[i]];
    }
    return total;
  }

  double MeanLoss(const Values& params, const float* x, const int32_t* y,
                  int n) const {
    double squares = 0;
    Logits(params, x, &squares);  // any example's pass sums the weights
    return LossSum(params, x, y, n) / n + 0.5 * l2_ * squares;
  }

  int64_t features() const { return SizeOf(input_); }

 private:
  InputShape input_;
  std::vector<LayerSpec> layers_;
  double l2_;
};

// ---- Test problems. ----

struct Config {
  std::string name;
  InputShape input;
  std::vector<LayerSpec> hidden;
  int classes;
  float l2;
};

struct Problem {
  std::unique_ptr<Network> net;
  Reference ref;
  std::vector<float> x;
  std::vector<int32_t> y;
  std::vector<float> params;
  int n;
  Batch batch() const { return Batch{x.data(), y.data(), n}; }
};

std::vector<float> Uniform(int64_t size, float scale, std::mt19937* rng) {
  std::uniform_real_distribution<float> uniform(-scale, scale);
  std::vector<float> v(size);
  for (float& e : v) e = uniform(*rng);
  return v;
}

Problem MakeProblem(const Config& c, int n, int max_batch, int threads,
                    uint32_t seed) {
  auto net =
      Network::Create(c.input, c.hidden, c.classes, max_batch, threads, c.l2);
  CHECK(net.ok()) << net.status();
  std::mt19937 rng(seed);
  Problem p{std::move(net).value(),
            Reference(c.input, c.hidden, c.classes, c.l2),
            {},
            {},
            {},
            n};
  p.x = Uniform(n * p.ref.features(), 1.0f, &rng);
  std::uniform_int_distribution<int32_t> label(0, c.classes - 1);
  for (int i = 0; i < n; ++i) p.y.push_back(label(rng));
  p.params = Uniform(p.net->layout().size(), 0.5f, &rng);
  return p;
}

Values ToDouble(const std::vector<float>& v) {
  return Values(v.begin(), v.end());
}

std::vector<Config> GradientConfigs() {
  const Activation kNone = Activation::kNone, kRelu = Activation::kRelu,
                   kTanh = Activation::kTanh, kSigmoid = Activation::kSigmoid;
  return {
      {"mlp_relu", {1, 1, 6}, {Dense(5, kRelu), Dense(4, kRelu)}, 3, 0},
      {"mlp_tanh", {1, 1, 6}, {Dense(5, kTanh), Dense(4, kTanh)}, 3, 0},
      {"mlp_sigmoid", {1, 1, 6}, {Dense(5, kSigmoid)}, 3, 0},
      {"mlp_none", {1, 1, 6}, {Dense(5, kNone)}, 3, 0},
      {"cnn",
       {2, 6, 6},
       {Conv(3, 3, 1, 1, kRelu), Pool(2, 2), Dense(5, kTanh)},
       3,
       0},
      {"conv_stride2", {2, 7, 7}, {Conv(4, 3, 2, 0, kSigmoid)}, 3, 0},
      {"conv_stride2_pad", {1, 6, 5}, {Conv(2, 3, 2, 1, kTanh)}, 2, 0},
      {"overlapping_pool",
       {1, 6, 6},
       {Conv(2, 3, 1, 0, kTanh), Pool(2, 1)},
       3,
       0},
      {"two_convs",
       {1, 6, 6},
       {Conv(2, 3, 1, 1, kTanh), Conv(2, 3, 2, 1, kRelu)},
       3,
       0},
      {"pool_first", {2, 5, 5}, {Pool(3, 2), Conv(2, 2, 1, 0, kRelu)}, 3, 0},
      {"cnn_l2",
       {2, 6, 6},
       {Conv(3, 3, 1, 1, kRelu), Pool(2, 2), Dense(5, kTanh)},
       3,
       0.3f},
      {"mlp_l2", {1, 1, 6}, {Dense(5, kSigmoid)}, 4, 0.5f},
  };
}

Config ConfigNamed(const std::string& name) {
  for (const Config& c : GradientConfigs()) {
    if (c.name == name) return c;
  }
  LOG(FATAL) << "no config " << name;
}

// ---- Gradients, losses and kernels against the reference. ----

TEST(Network, GradientMatchesFiniteDifferencesOfReference) {
  for (const Config& c : GradientConfigs()) {
    SCOPED_TRACE(c.name);
    Problem p = MakeProblem(c, /*n=*/5, /*max_batch=*/6, /*threads=*/2, 7);
    std::vector<float> grad(p.params.size());
    const float loss =
        p.net->LossAndGradient(p.params.data(), p.batch(), grad.data());
    Values params = ToDouble(p.params);
    const double ref_loss = p.ref.MeanLoss(params, p.x.data(), p.y.data(), p.n);
    EXPECT_NEAR(loss, ref_loss, 1e-5 * std::max(1.0, ref_loss));
    const double h = 1e-6;
    for (size_t j = 0; j < params.size(); ++j) {
      const double saved = params[j];
      params[j] = saved + h;
      const double up = p.ref.MeanLoss(params, p.x.data(), p.y.data(), p.n);
      params[j] = saved - h;
      const double down = p.ref.MeanLoss(params, p.x.data(), p.y.data(), p.n);
      params[j] = saved;
      const double numeric = (up - down) / (2 * h);
      EXPECT_NEAR(grad[j], numeric, 1e-4 + 1e-3 * std::abs(numeric))
          << "param " << j;
    }
  }
}

TEST(Kernels, Conv2DForwardMatchesReference) {
  // {channels, height, width, kernel, stride, padding}, out_channels.
  const std::vector<std::pair<kernels::Window2D, int>> cases = {
      {{2, 5, 5, 3, 1, 1}, 3}, {{3, 7, 6, 3, 2, 0}, 2},
      {{1, 6, 6, 5, 2, 2}, 4}, {{2, 4, 4, 4, 1, 0}, 1},
      {{1, 5, 5, 3, 2, 1}, 2}, {{2, 3, 4, 1, 1, 0}, 3}};
  std::mt19937 rng(3);
  for (const auto& [w, out_channels] : cases) {
    SCOPED_TRACE(testing::Message()
                 << w.channels << "x" << w.height << "x" << w.width << " k"
                 << w.kernel << " s" << w.stride << " p" << w.padding);
    const int examples = 2;
    const int64_t patch = w.patch_size();
    const std::vector<float> x = Uniform(examples * w.in_size(), 1, &rng);
    const std::vector<float> weights = Uniform(out_channels * patch, 1, &rng);
    const std::vector<float> bias = Uniform(out_channels, 1, &rng);
    const int64_t out_size = out_channels * w.out_positions();
    std::vector<float> columns(patch * w.out_positions());
    std::vector<float> y(examples * out_size);
    kernels::Conv2DForward(w, out_channels, weights.data(), bias.data(),
                           x.data(), examples, columns.data(), y.data());
    const LayerSpec spec =
        Conv(out_channels, w.kernel, w.stride, w.padding, Activation::kNone);
    for (int e = 0; e < examples; ++e) {
      InputShape s{w.channels, w.height, w.width};
      const float* image = x.data() + e * w.in_size();
      const Values ref =
          NaiveConv(Values(image, image + w.in_size()), &s, spec,
                    ToDouble(weights).data(), ToDouble(bias).data());
      ASSERT_EQ(static_cast<int64_t>(ref.size()), out_size);
      for (int64_t i = 0; i < out_size; ++i) {
        EXPECT_NEAR(y[e * out_size + i], ref[i], 1e-5) << e << "/" << i;
      }
    }
  }
}

TEST(Kernels, MaxPoolForwardMatchesReference) {
  const std::vector<kernels::Window2D> cases = {{2, 4, 4, 2, 2, 0},
                                                {3, 5, 5, 2, 2, 0},
                                                {1, 5, 6, 3, 1, 0},
                                                {2, 6, 6, 3, 2, 0},
                                                {1, 3, 3, 3, 1, 0}};
  std::mt19937 rng(4);
  for (const kernels::Window2D& w : cases) {
    const int examples = 3;
    const int64_t out_size = w.channels * w.out_positions();
    const std::vector<float> x = Uniform(examples * w.in_size(), 1, &rng);
    std::vector<float> y(examples * out_size);
    std::vector<int32_t> argmax(y.size());
    kernels::MaxPoolForward(w, x.data(), examples, y.data(), argmax.data());
    for (int e = 0; e < examples; ++e) {
      InputShape s{w.channels, w.height, w.width};
      const float* image = x.data() + e * w.in_size();
      std::vector<int32_t> ref_argmax;
      const Values ref = NaivePool(Values(image, image + w.in_size()), &s,
                                   w.kernel, w.stride, &ref_argmax);
      ASSERT_EQ(static_cast<int64_t>(ref.size()), out_size);
      for (int64_t i = 0; i < out_size; ++i) {
        EXPECT_EQ(y[e * out_size + i], ref[i]);
        EXPECT_EQ(argmax[e * out_size + i], ref_argmax[i]);
      }
    }
  }
}

TEST(Kernels, MaxPoolPicksTheFirstMaximumOnATie) {
  const kernels::Window2D w{2, 4, 4, 2, 2, 0};
  const std::vector<float> x(2 * w.in_size(), 1.0f);
  std::vector<float> y(2 * 2 * 4);
  std::vector<int32_t> argmax(y.size());
  kernels::MaxPoolForward(w, x.data(), 2, y.data(), argmax.data());
  const std::vector<int32_t> first = {0, 2, 8, 10, 16, 18, 24, 26};
  EXPECT_EQ(std::vector<int32_t>(argmax.begin(), argmax.begin() + 8), first);
  EXPECT_EQ(std::vector<int32_t>(argmax.begin() + 8, argmax.end()), first);
}

TEST(Kernels, Col2ImIsTheAdjointOfIm2Col) {
  // <Im2Col(x), c> == <x, Col2Im(c)> for every x and c.
  const kernels::Window2D w{2, 5, 6, 3, 2, 1};
  std::mt19937 rng(5);
  const std::vector<float> x = Uniform(w.in_size(), 1, &rng);
  const std::vector<float> c =
      Uniform(w.patch_size() * w.out_positions(), 1, &rng);
  std::vector<float> columns(c.size()), image(x.size());
  kernels::Im2Col(w, x.data(), columns.data());
  kernels::Col2Im(w, c.data(), image.data());
  double lhs = 0, rhs = 0;
  for (size_t i = 0; i < c.size(); ++i) lhs += columns[i] * c[i];
  for (size_t i = 0; i < x.size(); ++i) rhs += x[i] * image[i];
  EXPECT_NEAR(lhs, rhs, 1e-4);
}

// ---- Threads, evaluation, layouts and validation. ----

TEST(Network, ThreadCountsAgree) {
  const Config c = ConfigNamed("cnn");
  for (int n : {7, 2}) {
    SCOPED_TRACE(n);
    std::vector<float> loss, grads[3];
    for (int threads : {1, 2, 3}) {
      Problem p = MakeProblem(c, n, /*max_batch=*/8, threads, 11);
      EXPECT_EQ(p.net->threads(), threads);
      grads[threads - 1].resize(p.params.size());
      loss.push_back(p.net->LossAndGradient(p.params.data(), p.batch(),
                                            grads[threads - 1].data()));
    }
    for (int t : {1, 2}) {
      EXPECT_NEAR(loss[t], loss[0], 1e-5);
      for (size_t j = 0; j < grads[0].size(); ++j) {
        EXPECT_NEAR(grads[t][j], grads[0][j], 1e-5) << t << "/" << j;
      }
    }
  }
}

// LossAndSgdStep is LossAndGradient then params -= lr * grad: fused into
// the backward pass for one-thread dense networks (up to float rounding),
// Model's default for the rest (exactly).
TEST(Network, SgdStepIsTheGradientStep) {
  for (const Config& c : GradientConfigs()) {
    for (int threads : {1, 2}) {
      SCOPED_TRACE(c.name + " threads " + std::to_string(threads));
      Problem p = MakeProblem(c, 5, /*max_batch=*/8, threads, 17);
      std::vector<float> expected = p.params, grad(p.params.size());
      const float loss =
          p.net->LossAndGradient(expected.data(), p.batch(), grad.data());
      for (size_t j = 0; j < expected.size(); ++j)
        expected[j] -= 0.3f * grad[j];
      std::vector<float> stepped = p.params, scratch(p.params.size());
      EXPECT_NEAR(p.net->LossAndSgdStep(stepped.data(), p.batch(), 0.3f,
                                        scratch.data()),
                  loss, 1e-6);
      double moved = 0;
      for (size_t j = 0; j < expected.size(); ++j) {
        EXPECT_NEAR(stepped[j], expected[j], 1e-6) << j;
        moved += std::abs(stepped[j] - p.params[j]);
      }
      EXPECT_GT(moved, 1e-3);  // the step did move the parameters
    }
  }
}

TEST(Network, ThreadsAreCappedAtMaxBatch) {
  auto net = Network::Create({1, 1, 4}, {}, 2, /*max_batch=*/3, 8);
  ASSERT_TRUE(net.ok());
  EXPECT_EQ((*net)->threads(), 3);
  net = Network::Create({1, 1, 4}, {}, 2, /*max_batch=*/64, 0);
  ASSERT_TRUE(net.ok());
  EXPECT_GE((*net)->threads(), 1);
}

TEST(Network, EvaluateMatchesReference) {
  // The l2 penalty is a training term: Evaluate leaves it out.
  const Config c = ConfigNamed("cnn_l2");
  // 11 examples through max_batch 4: chunks of 4, 4, 3 over 3 threads.
  Problem p = MakeProblem(c, /*n=*/11, /*max_batch=*/4, /*threads=*/3, 13);
  const EvalResult result = p.net->Evaluate(p.params.data(), p.batch());
  const Values params = ToDouble(p.params);
  int64_t correct = 0;
  for (int i = 0; i < p.n; ++i) {
    const Values z = p.ref.Logits(params, p.x.data() + i * p.ref.features());
    correct += std::max_element(z.begin(), z.end()) - z.begin() == p.y[i];
  }
  EXPECT_EQ(result.count, 11);
  EXPECT_EQ(result.correct, correct);
  EXPECT_NEAR(result.loss_sum,
              p.ref.LossSum(params, p.x.data(), p.y.data(), p.n), 1e-4);
  const EvalResult empty =
      p.net->Evaluate(p.params.data(), Batch{nullptr, nullptr, 0});
  EXPECT_EQ(empty.count, 0);
  EXPECT_EQ(empty.correct, 0);
  EXPECT_EQ(empty.loss_sum, 0);
}

std::vector<LayerSpec> McMahanCnn() {
  return {Conv(32, 5, 1, 2, Activation::kRelu), Pool(2, 2),
          Conv(64, 5, 1, 2, Activation::kRelu), Pool(2, 2),
          Dense(512, Activation::kRelu)};
}

TEST(Network, ParameterCountsOfKnownArchitectures) {
  const std::vector<LayerSpec> mlp = {Dense(256, Activation::kRelu),
                                      Dense(128, Activation::kRelu)};
  const std::vector<LayerSpec> lenet = {
      Conv(6, 5, 1, 2, Activation::kTanh),  Pool(2, 2),
      Conv(16, 5, 1, 0, Activation::kTanh), Pool(2, 2),
      Dense(120, Activation::kTanh),        Dense(84, Activation::kTanh)};
  const struct {
    InputShape input;
    std::vector<LayerSpec> layers;
    int64_t params;
  } cases[] = {{{1, 28, 28}, mlp, 235146},
               {{1, 1, 784}, mlp, 235146},
               {{1, 28, 28}, McMahanCnn(), 1663370},
               {{1, 28, 28}, lenet, 61706}};
  for (const auto& c : cases) {
    auto net = Network::Create(c.input, c.layers, 10, 4, 1);
    ASSERT_TRUE(net.ok()) << net.status();
    EXPECT_EQ((*net)->layout().size(), c.params);
  }
}

TEST(Network, LayoutNamesShapesAndFans) {
  auto net = Network::Create({1, 28, 28}, McMahanCnn(), 10, 4, 1);
  ASSERT_TRUE(net.ok());
  const std::vector<TensorSpec>& t = (*net)->layout().tensors();
  ASSERT_EQ(t.size(), 8u);
  const struct {
    std::string name;
    std::vector<int64_t> shape;
    InitRule init;
    int64_t fan_in, fan_out;
  } want[] = {
      {"layer0/weights", {32, 1, 5, 5}, InitRule::kHeNormal, 25, 800},
      {"layer0/bias", {32}, InitRule::kZeros, 0, 0},
      {"layer2/weights", {64, 32, 5, 5}, InitRule::kHeNormal, 800, 1600},
      {"layer2/bias", {64}, InitRule::kZeros, 0, 0},
      {"layer4/weights", {3136, 512}, InitRule::kHeNormal, 3136, 512},
      {"layer4/bias", {512}, InitRule::kZeros, 0, 0},
      {"layer5/weights", {512, 10}, InitRule::kXavierUniform, 512, 10},
      {"layer5/bias", {10}, InitRule::kZeros, 0, 0}};
  for (size_t i = 0; i < t.size(); ++i) {
    EXPECT_EQ(t[i].name, want[i].name);
    EXPECT_EQ(t[i].shape, want[i].shape) << want[i].name;
    EXPECT_EQ(t[i].init, want[i].init) << want[i].name;
    if (want[i].init == InitRule::kZeros) continue;
    EXPECT_EQ(t[i].fan_in, want[i].fan_in) << want[i].name;
    EXPECT_EQ(t[i].fan_out, want[i].fan_out) << want[i].name;
  }
}

TEST(Network, CreateRejectsShapesThatDoNotFit) {
  LayerSpec stride0 = Conv(2, 3, 1, 0, Activation::kNone);
  stride0.stride = 0;
  LayerSpec padded_pool = Pool(2, 2);
  padded_pool.padding = 1;
  LayerSpec relu_pool = Pool(2, 2);
  relu_pool.activation = Activation::kRelu;
  const Activation kNone = Activation::kNone;
  const struct {
    InputShape input;
    std::vector<LayerSpec> layers;
    std::string message;
  } cases[] = {
      {{1, 5, 5}, {Conv(2, 7, 1, 0, kNone)}, "layer 0 (conv2d)"},
      {{1, 5, 5}, {Conv(2, 8, 1, 1, kNone)}, "layer 0 (conv2d)"},
      {{1, 4, 4}, {Conv(2, 3, 1, 0, kNone), Pool(3, 1)}, "layer 1 (maxpool2d)"},
      {{1, 8, 8}, {Dense(4, kNone), Conv(2, 3, 1, 0, kNone)}, "layer 1"},
      {{1, 8, 8},
       {Dense(4, kNone), Dense(3, kNone), Dense(0, kNone)},
       "layer 2 (dense)"},
      {{1, 8, 8}, {Conv(0, 3, 1, 0, kNone)}, "layer 0"},
      {{1, 8, 8}, {Conv(2, 3, 1, -1, kNone)}, "layer 0"},
      {{1, 8, 8}, {Pool(2, 2), stride0}, "layer 1"},
      {{1, 8, 8}, {padded_pool}, "layer 0"},
      {{1, 8, 8}, {relu_pool}, "layer 0"},
      {{1, 8, 8}, {Pool(0, 1)}, "layer 0"},
      {{0, 8, 8}, {}, "input shape"},
  };
  for (const auto& c : cases) {
    auto net = Network::Create(c.input, c.layers, 10, 4, 1);
    ASSERT_FALSE(net.ok()) << c.message;
    EXPECT_EQ(net.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(net.status().message()), HasSubstr(c.message));
  }
  for (auto [classes, max_batch, l2] :
       {std::tuple{0, 4, 0.0f}, {10, 0, 0.0f}, {10, 4, -1.0f}}) {
    auto net = Network::Create({1, 8, 8}, {}, classes, max_batch, 1, l2);
    EXPECT_EQ(net.status().code(), absl::StatusCode::kInvalidArgument);
  }
}

// ---- Training. ----

// Plain SGD on separable Gaussian blobs (one center per class); returns the
// mean loss over the data before and after.
std::pair<float, float> Train(const Config& c, int steps, float lr) {
  const int n = 256, batch = 32;
  Problem p = MakeProblem(c, n, batch, /*threads=*/1, 17);
  std::mt19937 rng(19);
  const std::vector<float> centers =
      Uniform(c.classes * p.ref.features(), 1.5f, &rng);
  const int64_t f = p.ref.features();
  for (int i = 0; i < n; ++i) {
    for (int64_t j = 0; j < f; ++j)
      p.x[i * f + j] = centers[p.y[i] * f + j] + 0.3f * p.x[i * f + j];
  }
  p.net->layout().Initialize(23, 0, p.params.size(), p.params.data());
  auto mean_loss = [&] {
    return p.net->Evaluate(p.params.data(), p.batch()).loss_sum / n;
  };
  const float before = mean_loss();
  std::vector<float> grad(p.params.size());
  for (int step = 0; step < steps; ++step) {
    const int start = step * batch % n;
    const Batch b{p.x.data() + start * f, p.y.data() + start, batch};
    p.net->LossAndGradient(p.params.data(), b, grad.data());
    for (size_t j = 0; j < grad.size(); ++j) p.params[j] -= lr * grad[j];
  }
  return {before, mean_loss()};
}

TEST(Network, SgdReducesLossOnSeparableData) {
  const Config configs[] = {
      {"mlp", {1, 1, 12}, {Dense(16, Activation::kRelu)}, 4, 0},
      {"cnn",
       {2, 6, 6},
       {Conv(4, 3, 1, 1, Activation::kRelu), Pool(2, 2),
        Dense(8, Activation::kTanh)},
       4,
       1e-4f}};
  for (const Config& c : configs) {
    const auto [before, after] = Train(c, /*steps=*/300, /*lr=*/0.1f);
    EXPECT_LT(after * 5, before) << c.name << ": " << before << " -> " << after;
  }
}

}  // namespace
}  // namespace descent
