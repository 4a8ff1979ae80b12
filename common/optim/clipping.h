// Gradient clipping, applied by the worker to its whole gradient (every
// shard's dense slice and every sparse row) before the push, so that the
// global-norm variant uses the norm of the whole gradient, not of one
// shard's slice. Pure functions on caller-owned buffers; thread-compatible.
#ifndef DESCENT_COMMON_OPTIM_CLIPPING_H_
#define DESCENT_COMMON_OPTIM_CLIPPING_H_

#include <cstdint>
#include <initializer_list>

namespace descent {

// A run of gradient values.
struct GradientSpan {
  float* values;
  int64_t size;
};

// Clamps every value of every span to [-limit, limit]; limit > 0.
void ClipByValue(std::initializer_list<GradientSpan> spans, float limit);

// The L2 norm of all spans together (accumulated in double).
double GlobalNorm(std::initializer_list<GradientSpan> spans);

// If `norm` (the spans' global norm, computed by the caller) exceeds
// max_norm (> 0), scales every value by max_norm / norm; otherwise leaves
// them.
void ScaleToNorm(std::initializer_list<GradientSpan> spans, double norm,
                 float max_norm);

// If the spans' global norm exceeds max_norm (> 0), scales every value by
// max_norm / norm, so the whole gradient has norm max_norm; otherwise
// leaves them. Returns the norm before clipping.
double ClipByGlobalNorm(std::initializer_list<GradientSpan> spans,
                        float max_norm);

}  // namespace descent

#endif  // DESCENT_COMMON_OPTIM_CLIPPING_H_
