#include "common/privacy/rdp_accountant.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>
#include <vector>

#include "glog/logging.h"

namespace descent {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kPi = 3.14159265358979323846;

// The fractional series stops after a term below exp(kLogTermCutoff), as
// TF Privacy's does.
constexpr double kLogTermCutoff = -30;

// log(exp(x) + exp(y)); -infinity stands for 0.
double LogAdd(double x, double y) {
  const double a = std::min(x, y);
  const double b = std::max(x, y);
  if (a == -kInf) return b;
  return std::log1p(std::exp(a - b)) + b;
}

// log(exp(x) - exp(y)) for x >= y.
double LogSub(double x, double y) {
  if (y == -kInf) return x;
  if (x == y) return -kInf;
  const double d = std::expm1(x - y);
  // exp(y) is below x's precision (TF Privacy's OverflowError branch).
  if (std::isinf(d)) return x;
  return std::log(d) + y;
}

void CheckOrders(absl::Span<const double> orders) {
  for (const double a : orders) CHECK(a > 1) << "RDP order " << a;
}

// The RDP of one step at order alpha (TF Privacy's _compute_rdp).
double RdpOfOneStep(double q, double sigma, double alpha) {
  if (q == 0) return 0;
  if (sigma == 0) return kInf;
  if (q == 1) return alpha / (2 * sigma * sigma);
  if (std::isinf(alpha)) return kInf;
  const double log_a =
      std::floor(alpha) == alpha
          ? internal::LogAInt(q, sigma, static_cast<int64_t>(alpha))
          : internal::LogAFrac(q, sigma, alpha);
  return log_a / (alpha - 1);
}

void CheckConversionArguments(absl::Span<const double> orders,
                              absl::Span<const double> rdp, double delta) {
  CHECK_EQ(orders.size(), rdp.size());
  CHECK(delta > 0 && delta < 1) << "delta " << delta;
  CheckOrders(orders);
  for (const double r : rdp) CHECK(!(r < 0)) << "RDP " << r;
}

}  // namespace

namespace internal {

double LogErfc(double x) {
  // Below 25, erfc(x) > 1e-274 is a normal double that std::erfc gets to
  // full precision; beyond, it heads for subnormals and underflow (past
  // 26.5), while the Laurent series at infinity that TF Privacy falls back
  // on, erfc(x) ~ exp(-x^2 - 1/(2x^2) + 5/(8x^4) - ...) / (x sqrt(pi)), is
  // exact to double precision.
  if (x < 25) return std::log(std::erfc(x));
  const double x2 = x * x;
  const double r = 1 / x2;
  return -0.5 * std::log(kPi) - std::log(x) - x2 - 0.5 * r +
         r * r * (0.625 + r * (-37.0 / 24.0 + r * (353.0 / 64.0)));
}

double LogAInt(double q, double sigma, int64_t alpha) {
  CHECK_GE(alpha, 1);
  const double log_q = std::log(q);
  const double log_1mq = std::log1p(-q);
  const double a = static_cast<double>(alpha);
  // log C(alpha, i), from C(alpha, i - 1) (alpha - i + 1) / i: no lgamma,
  // whose signgam makes it unsafe in threads.
  double log_binom = 0;
  double log_a = -kInf;
  for (int64_t k = 0; k <= alpha; ++k) {
    const double i = static_cast<double>(k);
    if (k > 0) log_binom += std::log((a - i + 1) / i);
    const double s = log_binom + i * log_q + (a - i) * log_1mq +
                     (i * i - i) / (2 * sigma * sigma);
    log_a = LogAdd(log_a, s);
  }
  return log_a;
}

double LogAFrac(double q, double sigma, double alpha) {
  const double log_q = std::log(q);
  const double log_1mq = std::log1p(-q);
  const double two_var = 2 * sigma * sigma;
  const double erfc_scale = std::sqrt(2.0) * sigma;
  // A_alpha splits at z0 into integrals over (-inf, z0] and [z0, inf),
  // each a series in the generalized binomial coefficients C(alpha, i).
  const double z0 = sigma * sigma * std::log(1 / q - 1) + 0.5;
  double log_a0 = -kInf;
  double log_a1 = -kInf;
  double log_coef = 0;  // log |C(alpha, i)|
  bool coef_positive = true;
  for (int64_t k = 0;; ++k) {
    const double i = static_cast<double>(k);
    if (k > 0) {
      const double ratio = (alpha - i + 1) / i;
      log_coef += std::log(std::abs(ratio));
      if (ratio < 0) coef_positive = !coef_positive;
    }
    const double j = alpha - i;
    const double log_t0 = log_coef + i * log_q + j * log_1mq;
    const double log_t1 = log_coef + j * log_q + i * log_1mq;
    const double log_e0 = std::log(0.5) + LogErfc((i - z0) / erfc_scale);
    const double log_e1 = std::log(0.5) + LogErfc((z0 - j) / erfc_scale);
    const double log_s0 = log_t0 + (i * i - i) / two_var + log_e0;
    const double log_s1 = log_t1 + (j * j - j) / two_var + log_e1;
    if (coef_positive) {
      log_a0 = LogAdd(log_a0, log_s0);
      log_a1 = LogAdd(log_a1, log_s1);
    } else {
      // TF Privacy raises where a partial sum would turn negative (lost to
      // rounding); here the order gives no bound instead.
      if (log_a0 < log_s0 || log_a1 < log_s1) return kInf;
      log_a0 = LogSub(log_a0, log_s0);
      log_a1 = LogSub(log_a1, log_s1);
    }
    if (std::max(log_s0, log_s1) < kLogTermCutoff) break;
  }
  return LogAdd(log_a0, log_a1);
}

}  // namespace internal

std::vector<double> DefaultRdpOrders() {
  std::vector<double> orders;
  for (int x = 1; x < 100; ++x) orders.push_back(1 + x / 10.0);
  for (int a = 12; a < 64; ++a) orders.push_back(a);
  return orders;
}

std::vector<double> ComputeRdp(double q, double noise_multiplier, int64_t steps,
                               absl::Span<const double> orders) {
  CHECK(q >= 0 && q <= 1) << "sampling rate " << q;
  CHECK(noise_multiplier >= 0) << "noise multiplier " << noise_multiplier;
  CHECK_GE(steps, 0);
  CheckOrders(orders);
  std::vector<double> rdp(orders.size(), 0.0);
  if (steps == 0) return rdp;  // even where one step's RDP is infinite
  for (size_t k = 0; k < orders.size(); ++k) {
    rdp[k] = RdpOfOneStep(q, noise_multiplier, orders[k]) *
             static_cast<double>(steps);
  }
  return rdp;
}

namespace {

// The least of bound(order, rdp) over the orders, and its order.
template <typename Bound>
PrivacySpent Least(absl::Span<const double> orders,
                   absl::Span<const double> rdp, double delta, Bound bound) {
  CheckConversionArguments(orders, rdp, delta);
  PrivacySpent best{kInf, kNaN};
  for (size_t k = 0; k < orders.size(); ++k) {
    const double eps = bound(orders[k], rdp[k]);
    if (eps < best.epsilon) best = {eps, orders[k]};
  }
  return best;
}

}  // namespace

PrivacySpent EpsilonClassic(absl::Span<const double> orders,
                            absl::Span<const double> rdp, double delta) {
  return Least(orders, rdp, delta, [delta](double a, double r) {
    return r - std::log(delta) / (a - 1);
  });
}

PrivacySpent EpsilonTight(absl::Span<const double> orders,
                          absl::Span<const double> rdp, double delta) {
  PrivacySpent best = Least(orders, rdp, delta, [delta](double a, double r) {
    // rdp(a) bounds the KL divergence, and KL <= -log(1 - delta^2) bounds
    // the total variation by delta.
    return delta * delta + std::expm1(-r) >= 0
               ? 0
               : r + std::log1p(-1 / a) - std::log(delta * a) / (a - 1);
  });
  best.epsilon = std::max(best.epsilon, 0.0);
  return best;
}

double NoiseForEpsilon(double q, int64_t steps, double delta,
                       double target_epsilon) {
  CHECK_GT(target_epsilon, 0);
  const std::vector<double> orders = DefaultRdpOrders();
  auto spends = [&](double z) {
    return EpsilonClassic(orders, ComputeRdp(q, z, steps, orders), delta)
        .epsilon;
  };
  double low = 0, high = 1;
  while (spends(high) > target_epsilon) {
    if (high >= 1e6) return kInf;
    low = high;
    high *= 2;
  }
  // epsilon falls as the noise grows: bisect [low, high].
  while (high - low > 1e-6 * high) {
    const double mid = (low + high) / 2;
    (spends(mid) > target_epsilon ? low : high) = mid;
  }
  return high;
}

RdpAccountant::RdpAccountant(std::vector<double> orders)
    : orders_(std::move(orders)), rdp_(orders_.size(), 0.0) {
  CheckOrders(orders_);
}

void RdpAccountant::Compose(double q, double noise_multiplier, int64_t steps) {
  const std::vector<double> rdp =
      ComputeRdp(q, noise_multiplier, steps, orders_);
  for (size_t k = 0; k < rdp_.size(); ++k) rdp_[k] += rdp[k];
}

PrivacySpent RdpAccountant::EpsilonClassic(double delta) const {
  return descent::EpsilonClassic(orders_, rdp_, delta);
}

PrivacySpent RdpAccountant::EpsilonTight(double delta) const {
  return descent::EpsilonTight(orders_, rdp_, delta);
}

}  // namespace descent
