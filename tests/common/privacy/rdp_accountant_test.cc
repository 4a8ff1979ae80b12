// The RDP accountant: TF Privacy's published DP-SGD MNIST epsilons, the
// closed forms at q = 0, q = 1 and no noise, a numerically integrated A_a
// as a naive reference, additive composition, monotonicity, and the tight
// conversion against the classic one.
#include "common/privacy/rdp_accountant.h"

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "gtest/gtest.h"

namespace descent {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kDelta = 1e-5;
constexpr double kPi = 3.14159265358979323846;

// The MNIST tutorial's sampling: batches of 256 of 60000 examples, and
// steps as compute_dp_sgd_privacy counts them, ceil(epochs * n / batch).
constexpr double kMnistQ = 256.0 / 60000;
int64_t MnistSteps(int epochs) {
  return static_cast<int64_t>(std::ceil(epochs * 60000.0 / 256));
}

PrivacySpent Classic(double q, double z, int64_t steps) {
  const std::vector<double> orders = DefaultRdpOrders();
  return EpsilonClassic(orders, ComputeRdp(q, z, steps, orders), kDelta);
}

PrivacySpent Tight(double q, double z, int64_t steps) {
  const std::vector<double> orders = DefaultRdpOrders();
  return EpsilonTight(orders, ComputeRdp(q, z, steps, orders), kDelta);
}

// log(A_a) by Simpson's rule on E_{z ~ N(0, s^2)} [(1 - q + q exp((2z - 1)
// / (2 s^2)))^a], the likelihood ratio of the sampled mixture to N(0, s^2).
double NaiveLogA(double q, double s, double a) {
  const double lo = -20 * s;
  const double hi = a + 20 * s;
  const int n = 200000;
  const double h = (hi - lo) / n;
  double sum = 0;
  for (int k = 0; k <= n; ++k) {
    const double z = lo + k * h;
    const double weight = k == 0 || k == n ? 1 : (k % 2 == 1 ? 4 : 2);
    const double density =
        std::exp(-z * z / (2 * s * s)) / (s * std::sqrt(2 * kPi));
    sum += weight * density *
           std::pow(1 - q + q * std::exp((2 * z - 1) / (2 * s * s)), a);
  }
  return std::log(sum * h / 3);
}

TEST(DefaultRdpOrdersTest, AreTfPrivacysTutorialOrders) {
  const std::vector<double> orders = DefaultRdpOrders();
  ASSERT_EQ(orders.size(), 99u + 52u);
  EXPECT_DOUBLE_EQ(orders.front(), 1.1);
  EXPECT_DOUBLE_EQ(orders[98], 10.9);
  EXPECT_EQ(orders[99], 12);
  EXPECT_EQ(orders.back(), 63);
}

// tutorials/README.md of TF Privacy: the epsilons at delta = 1e-5.
TEST(RdpAccountantTest, MatchesTfPrivacyMnistTutorial) {
  struct Case {
    double noise;
    int epochs;
    double epsilon;
  };
  for (const Case& c :
       {Case{1.12, 60, 2.92}, Case{0.6, 30, 9.74}, Case{1.2, 10, 1.20}}) {
    SCOPED_TRACE(testing::Message() << "noise " << c.noise);
    const int64_t steps = MnistSteps(c.epochs);
    const PrivacySpent classic = Classic(kMnistQ, c.noise, steps);
    EXPECT_NEAR(classic.epsilon, c.epsilon, 0.01 * c.epsilon);
    EXPECT_LT(Tight(kMnistQ, c.noise, steps).epsilon, classic.epsilon);
  }
}

TEST(RdpAccountantTest, MatchesNumericalIntegrationAtFractionalOrders) {
  struct Case {
    double q, sigma, order;
  };
  for (const Case& c :
       {Case{kMnistQ, 0.6, 2.9}, Case{kMnistQ, 1.12, 9.1}, Case{0.01, 0.8, 1.5},
        Case{0.1, 2.0, 4.3}, Case{0.5, 1.0, 2.5}}) {
    SCOPED_TRACE(testing::Message() << c.q << " " << c.sigma << " " << c.order);
    const double expected = NaiveLogA(c.q, c.sigma, c.order) / (c.order - 1);
    const double rdp = ComputeRdp(c.q, c.sigma, 1, {c.order})[0];
    EXPECT_NEAR(rdp, expected, 1e-7 * expected);
  }
}

TEST(RdpAccountantTest, FractionalFormulaAgreesWithIntegerAtIntegers) {
  for (const double q : {0.001, kMnistQ, 0.05, 0.3, 0.9}) {
    for (const double sigma : {0.7, 1.0, 1.12, 4.0}) {
      for (const int64_t order : {2, 3, 5, 8}) {
        SCOPED_TRACE(testing::Message() << q << " " << sigma << " " << order);
        const double by_int = internal::LogAInt(q, sigma, order);
        const double by_frac = internal::LogAFrac(q, sigma, order);
        EXPECT_NEAR(by_frac, by_int, 1e-9 * by_int);
      }
    }
  }
}

TEST(RdpAccountantTest, FullBatchIsTheGaussianMechanism) {
  const std::vector<double> orders = DefaultRdpOrders();
  const std::vector<double> rdp = ComputeRdp(1.0, 1.5, 7, orders);
  for (size_t k = 0; k < orders.size(); ++k) {
    EXPECT_DOUBLE_EQ(rdp[k], orders[k] / (2 * 1.5 * 1.5) * 7);
  }
}

TEST(RdpAccountantTest, NoSamplingCostsNothing) {
  const std::vector<double> orders = DefaultRdpOrders();
  for (const double rdp : ComputeRdp(0.0, 1.0, 1000, orders)) {
    EXPECT_EQ(rdp, 0);
  }
  EXPECT_EQ(Tight(0.0, 1.0, 1000).epsilon, 0);
  // The classic conversion pays log(1 / delta) / (a - 1) even then.
  const PrivacySpent classic = Classic(0.0, 1.0, 1000);
  EXPECT_EQ(classic.order, 63);
  EXPECT_DOUBLE_EQ(classic.epsilon, std::log(1 / kDelta) / 62);
}

TEST(RdpAccountantTest, NoNoiseIsNoPrivacy) {
  for (const double rdp : ComputeRdp(0.01, 0.0, 1, DefaultRdpOrders())) {
    EXPECT_EQ(rdp, kInf);
  }
  for (const PrivacySpent spent :
       {Classic(0.01, 0.0, 1), Tight(0.01, 0.0, 1), Classic(1.0, 0.0, 1)}) {
    EXPECT_EQ(spent.epsilon, kInf);
    EXPECT_TRUE(std::isnan(spent.order));
  }
  // No step, no cost, even without noise.
  EXPECT_EQ(ComputeRdp(0.01, 0.0, 0, {2.0})[0], 0);
}

TEST(RdpAccountantTest, ComposesByAddition) {
  RdpAccountant twice;
  twice.Compose(kMnistQ, 1.1, 500);
  twice.Compose(kMnistQ, 1.1, 500);
  RdpAccountant once;
  once.Compose(kMnistQ, 1.1, 1000);
  EXPECT_DOUBLE_EQ(twice.EpsilonClassic(kDelta).epsilon,
                   once.EpsilonClassic(kDelta).epsilon);
  EXPECT_DOUBLE_EQ(twice.EpsilonTight(kDelta).epsilon,
                   once.EpsilonTight(kDelta).epsilon);
  EXPECT_DOUBLE_EQ(once.EpsilonClassic(kDelta).epsilon,
                   Classic(kMnistQ, 1.1, 1000).epsilon);
  EXPECT_GT(once.EpsilonClassic(kDelta).epsilon,
            Classic(kMnistQ, 1.1, 500).epsilon);

  // Phases of different rates and noise compose too.
  RdpAccountant phases;
  phases.Compose(0.01, 1.0, 100);
  phases.Compose(0.02, 2.0, 300);
  const std::vector<double> orders = DefaultRdpOrders();
  std::vector<double> sum = ComputeRdp(0.01, 1.0, 100, orders);
  const std::vector<double> second = ComputeRdp(0.02, 2.0, 300, orders);
  for (size_t k = 0; k < sum.size(); ++k) sum[k] += second[k];
  EXPECT_DOUBLE_EQ(phases.EpsilonTight(kDelta).epsilon,
                   EpsilonTight(orders, sum, kDelta).epsilon);
}

TEST(RdpAccountantTest, MoreNoiseLessEpsilon) {
  double previous = kInf;
  for (const double noise : {0.5, 0.7, 1.0, 1.5, 3.0, 10.0}) {
    const double epsilon = Classic(kMnistQ, noise, 5000).epsilon;
    EXPECT_LT(epsilon, previous) << noise;
    EXPECT_LT(Tight(kMnistQ, noise, 5000).epsilon, epsilon) << noise;
    previous = epsilon;
  }
}

TEST(RdpAccountantTest, HigherSamplingRateMoreEpsilon) {
  double previous = 0;
  for (const double q : {0.0001, 0.001, 0.01, 0.1, 0.5, 1.0}) {
    const double epsilon = Classic(q, 1.0, 1000).epsilon;
    EXPECT_GT(epsilon, previous) << q;
    previous = epsilon;
  }
}

TEST(RdpAccountantTest, TightNeverAboveClassic) {
  for (const double q : {0.0, 1e-4, 0.004, 0.05, 0.5, 1.0}) {
    for (const double noise : {0.3, 0.8, 1.1, 5.0, 50.0}) {
      for (const int64_t steps : {1, 100, 10000}) {
        SCOPED_TRACE(testing::Message() << q << " " << noise << " " << steps);
        const double tight = Tight(q, noise, steps).epsilon;
        EXPECT_GE(tight, 0);
        EXPECT_LE(tight, Classic(q, noise, steps).epsilon);
      }
    }
  }
}

TEST(NoiseForEpsilonTest, InvertsTheAccountant) {
  // TF Privacy's MNIST figure backwards: 2.92 after 60 epochs at batch 256
  // takes noise 1.12.
  const double q = 256.0 / 60000;
  const int64_t steps = 14063;
  const double z = NoiseForEpsilon(q, steps, 1e-5, 2.92);
  EXPECT_NEAR(z, 1.12, 0.005);
  const std::vector<double> orders = DefaultRdpOrders();
  auto spends = [&](double noise) {
    return EpsilonClassic(orders, ComputeRdp(q, noise, steps, orders), 1e-5)
        .epsilon;
  };
  EXPECT_LE(spends(z), 2.92);
  EXPECT_GT(spends(z * 0.999), 2.92);
  EXPECT_TRUE(std::isinf(NoiseForEpsilon(1.0, 1000000, 1e-9, 1e-9)));
}

TEST(LogErfcTest, SeriesContinuesErfcPastItsUnderflow) {
  for (const double x : {-3.0, 0.0, 1.0, 10.0, 24.9, 25.0, 25.5, 26.0}) {
    const double exact = std::log(std::erfc(x));
    EXPECT_NEAR(internal::LogErfc(x), exact, 1e-14 * std::abs(exact) + 1e-16)
        << x;
  }
  // erfc(30) underflows to 0; the leading terms of the tail remain.
  const double x = 30;
  EXPECT_NEAR(internal::LogErfc(x), -x * x - std::log(x * std::sqrt(kPi)),
              1e-3);
}

TEST(RdpAccountantDeathTest, RefusesInvalidArguments) {
  const std::vector<double> orders = {2.0};
  EXPECT_DEATH(ComputeRdp(1.5, 1.0, 1, orders), "sampling rate");
  EXPECT_DEATH(ComputeRdp(-0.1, 1.0, 1, orders), "sampling rate");
  EXPECT_DEATH(ComputeRdp(0.1, -1.0, 1, orders), "noise multiplier");
  EXPECT_DEATH(ComputeRdp(0.1, 1.0, 1, {1.0}), "RDP order");
  EXPECT_DEATH(EpsilonClassic(orders, {0.1}, 0.0), "delta");
  EXPECT_DEATH(EpsilonTight(orders, {0.1, 0.2}, 1e-5), "");
}

}  // namespace
}  // namespace descent
