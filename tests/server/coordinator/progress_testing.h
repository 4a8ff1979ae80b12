// Worker progress for coordinator tests: `steps` steps of 10 examples each,
// every step with batch loss `loss` and gradient norms `weights` and `bias`
// on the two layers of those names.
#ifndef DESCENT_TESTS_SERVER_COORDINATOR_PROGRESS_TESTING_H_
#define DESCENT_TESTS_SERVER_COORDINATOR_PROGRESS_TESTING_H_

#include <cmath>
#include <cstdint>

#include "descent/v1/coordinator.pb.h"

namespace descent {

inline v1::WorkerProgress StepsOfProgress(int64_t steps, double loss = 0.5,
                                          double weights = 0, double bias = 0,
                                          bool done = false) {
  v1::WorkerProgress p;
  p.set_steps(steps);
  p.set_examples(steps * 10);
  p.set_loss_sum(steps * loss);
  p.set_loss_count(steps);
  p.set_done(done);
  p.add_gradient_norm_layers("weights");
  p.add_gradient_norm_layers("bias");
  p.add_gradient_norm_sums(steps * weights);
  p.add_gradient_norm_sums(steps * bias);
  p.set_gradient_norm_total_sum(steps *
                                std::sqrt(weights * weights + bias * bias));
  p.set_gradient_norm_count(steps);
  return p;
}

}  // namespace descent

#endif  // DESCENT_TESTS_SERVER_COORDINATOR_PROGRESS_TESTING_H_
