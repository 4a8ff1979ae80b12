// Gradient norms layer by layer, so that vanishing or exploding gradients
// show where they happen: the L2 norm of each named tensor of a model's
// ParamLayout within its flat gradient, and the band check the coordinator
// applies to them at each evaluation.
//
// Norms are summed in float over blocks of 4096 values (vectorized by
// Eigen) and over blocks in double: O(P), cheap next to computing the
// gradient. A norm is not finite if any value is not finite, or if the
// squares overflow float (|value| above ~1.8e19): a gradient that large
// has exploded. Pure functions on caller-owned buffers; thread-compatible.
#ifndef DESCENT_COMMON_OPTIM_GRADIENT_NORMS_H_
#define DESCENT_COMMON_OPTIM_GRADIENT_NORMS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/model/param_layout.h"
#include "descent/v1/coordinator.pb.h"
#include "descent/v1/job.pb.h"

namespace descent {

// The L2 norm of values[0, size).
double L2Norm(const float* values, int64_t size);

// Writes the L2 norm of tensor i of `layout` within grad[0, layout.size())
// to norms[i], for every tensor (layout.tensors().size() entries).
void TensorNorms(const ParamLayout& layout, const float* grad, double* norms);

// The norm of a whole made of parts with these norms: sqrt(sum of squares).
double CombinedNorm(const std::vector<double>& norms);

// Why `norm` lies outside `band` ("1e-09 is below the band's min 1e-06:
// vanishing gradients", "... above ...: exploding gradients", "nan is not
// finite"), or nullopt if it lies inside. A bound of 0 leaves its side open.
std::optional<std::string> OutsideNormBand(double norm,
                                           const v1::GradientNormBand& band);

// One warning per layer of `evaluation.gradient_norms` outside `band`,
// naming the layer and the step, in layer order.
std::vector<std::string> GradientNormWarnings(const v1::Evaluation& evaluation,
                                              const v1::GradientNormBand& band);

}  // namespace descent

#endif  // DESCENT_COMMON_OPTIM_GRADIENT_NORMS_H_
