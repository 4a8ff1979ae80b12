// DivergenceGuard: decides when a sequence of losses has diverged, so that a
// run with a learning rate too large for its model stops at once with a
// clear message (and exit code 6) instead of training on garbage.
//
// A loss diverges when it is not finite or, with max_factor > 0, when it
// exceeds max_factor times the reference: the mean of the first
// `reference_count` losses (the mean so far while fewer have been seen). A
// reference of 0 or less bounds nothing. The worker guards its mini-batch
// losses with the mean of its first 10 steps; the coordinator its test
// losses with the first evaluation's. Not thread-safe.
#ifndef DESCENT_COMMON_OPTIM_DIVERGENCE_GUARD_H_
#define DESCENT_COMMON_OPTIM_DIVERGENCE_GUARD_H_

namespace descent {

class DivergenceGuard {
 public:
  // max_factor: 0 (only non-finite losses diverge) or >= 1.
  // reference_count >= 1.
  DivergenceGuard(double max_factor, int reference_count);

  // True if `loss` diverges. Otherwise records it (towards the reference
  // while fewer than reference_count have been recorded) and returns false.
  bool Diverges(double loss);

  // The mean of the losses recorded towards the reference; 0 before any.
  double reference() const;
  double max_factor() const { return max_factor_; }

 private:
  const double max_factor_;
  const int reference_count_;
  double reference_sum_ = 0;
  int reference_seen_ = 0;
};

}  // namespace descent

#endif  // DESCENT_COMMON_OPTIM_DIVERGENCE_GUARD_H_
