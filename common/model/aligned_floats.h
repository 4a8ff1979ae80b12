// AlignedFloats: a float vector whose data starts on Eigen's largest packet
// alignment (32 bytes with AVX). The models' kernels are Eigen loops, and
// where a buffer starts decides which of its elements a vectorized loop
// peels off into scalar code, and so the rounding of sums and of exp(): a
// model's results are the same bits every run only if its buffers start at
// the same alignment every run, and heap addresses vary (gRPC's threads
// allocate beside the trainer). Parameters, gradients and the models' own
// scratch live in these.
#ifndef DESCENT_COMMON_MODEL_ALIGNED_FLOATS_H_
#define DESCENT_COMMON_MODEL_ALIGNED_FLOATS_H_

#include <vector>

#include "Eigen/Core"

namespace descent {

using AlignedFloats = std::vector<float, Eigen::aligned_allocator<float>>;

}  // namespace descent

#endif  // DESCENT_COMMON_MODEL_ALIGNED_FLOATS_H_
