// The area under the ROC curve of binary scores: the probability that a
// random positive example scores above a random negative one, ties counting
// one half (the Mann-Whitney U statistic over n_pos * n_neg). Pure function;
// thread-safe.
#ifndef DESCENT_COMMON_EVAL_ROC_H_
#define DESCENT_COMMON_EVAL_ROC_H_

#include <cstdint>

namespace descent {

// `labels` are 0 or 1 (anything else counts as 1). Returns 0.5 when either
// class is absent. O(n log n).
double AreaUnderRoc(const float* scores, const int32_t* labels, int64_t n);

}  // namespace descent

#endif  // DESCENT_COMMON_EVAL_ROC_H_
