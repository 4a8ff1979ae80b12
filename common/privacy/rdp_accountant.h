// Rényi differential privacy (RDP) of DP-SGD: the Poisson-subsampled
// Gaussian mechanism (each example joins a step's batch independently with
// probability q; the clipped sum gets Gaussian noise of standard deviation
// noise_multiplier times the clipping norm), composed over steps, and its
// conversion to (epsilon, delta)-DP.
//
// The RDP of one step at order a is log(A_a) / (a - 1), with A_a as in
// Mironov, Talwar and Zhang, "Rényi Differential Privacy of the Sampled
// Gaussian Mechanism" (2019): a finite binomial sum for integer a, a
// convergent series of erfc terms for fractional a, both summed in log
// space. The code follows TensorFlow Privacy's rdp_accountant.py
// (compute_rdp, _compute_log_a_int, _compute_log_a_frac) term by term, so
// its results agree with TF Privacy's to rounding. RDP composes by
// addition, so T steps have T times the RDP of one, at every order.
//
// An RDP curve gives (epsilon, delta)-DP at each order; the conversions
// return the smallest epsilon over the orders given, and the order that
// attains it. Pure functions and a plain value class; thread-compatible.
#ifndef DESCENT_COMMON_PRIVACY_RDP_ACCOUNTANT_H_
#define DESCENT_COMMON_PRIVACY_RDP_ACCOUNTANT_H_

#include <cstdint>
#include <vector>

#include "absl/types/span.h"

namespace descent {

// TF Privacy's orders for DP-SGD (its MNIST tutorial and
// compute_dp_sgd_privacy): 1.1, 1.2, ..., 10.9, then 12, 13, ..., 63.
std::vector<double> DefaultRdpOrders();

// The RDP at each of `orders` (every one > 1; +infinity allowed) of `steps`
// (>= 0) compositions of the sampled Gaussian mechanism with sampling rate
// q in [0, 1] and noise multiplier >= 0. q == 0 gives 0 and q == 1 the
// unsampled Gaussian's a / (2 z^2) per step; noise_multiplier == 0 (with
// q > 0) gives +infinity. Invalid arguments are CHECK failures.
std::vector<double> ComputeRdp(double q, double noise_multiplier, int64_t steps,
                               absl::Span<const double> orders);

// An (epsilon, delta)-DP guarantee and the RDP order it came from.
struct PrivacySpent {
  double epsilon;  // +infinity if no order bounds it
  double order;    // NaN if epsilon is +infinity
};

// The classic conversion (Mironov 2017, Proposition 3): the minimum over
// orders a of rdp(a) + log(1 / delta) / (a - 1). `orders` and `rdp` are
// parallel; delta in (0, 1).
PrivacySpent EpsilonClassic(absl::Span<const double> orders,
                            absl::Span<const double> rdp, double delta);

// The tighter conversion of Balle et al., "Hypothesis Testing
// Interpretations and Rényi Differential Privacy" (2020), Proposition 12, as
// TF Privacy and Opacus compute it: the minimum over orders a of
//   rdp(a) - (log(delta) + log(a)) / (a - 1) + log((a - 1) / a),
// clamped at 0; an order whose rdp(a) <= -log(1 - delta^2) gives 0 (the KL
// bound TF Privacy applies). Never larger than EpsilonClassic.
PrivacySpent EpsilonTight(absl::Span<const double> orders,
                          absl::Span<const double> rdp, double delta);

// The smallest noise multiplier (to 1e-6 relative) for which `steps`
// steps at sampling rate q spend at most `target_epsilon` (> 0) at `delta`
// by the classic conversion at the default orders (TF Privacy's
// compute_noise); +infinity if even 1e6 spends more.
double NoiseForEpsilon(double q, int64_t steps, double delta,
                       double target_epsilon);

// The running RDP of a training job, at a fixed set of orders: each
// Compose adds the RDP of some steps (the sampling rate and the noise may
// change between calls). The state is a pure function of the calls made,
// so a restarted job recomputes it from its step history instead of
// checkpointing it.
class RdpAccountant {
 public:
  // `orders` as for ComputeRdp.
  explicit RdpAccountant(std::vector<double> orders = DefaultRdpOrders());

  // Adds `steps` steps of sampling rate q and the given noise multiplier
  // (arguments as for ComputeRdp).
  void Compose(double q, double noise_multiplier, int64_t steps);

  // The guarantee of all steps composed so far; see the free functions.
  PrivacySpent EpsilonClassic(double delta) const;
  PrivacySpent EpsilonTight(double delta) const;

 private:
  const std::vector<double> orders_;
  std::vector<double> rdp_;  // parallel to orders_
};

namespace internal {

// log(A_a) for 0 < q < 1 and sigma > 0 (the noise multiplier), exposed for
// tests: LogAInt for integer a >= 1 (TF Privacy's _compute_log_a_int),
// LogAFrac for any finite a > 1 (_compute_log_a_frac; ComputeRdp uses it
// only for fractional a). LogAFrac returns +infinity, a valid but useless
// bound, if its alternating series loses all precision.
double LogAInt(double q, double sigma, int64_t alpha);
double LogAFrac(double q, double sigma, double alpha);

// log(erfc(x)), accurate also where erfc(x) underflows.
double LogErfc(double x);

}  // namespace internal
}  // namespace descent

#endif  // DESCENT_COMMON_PRIVACY_RDP_ACCOUNTANT_H_
