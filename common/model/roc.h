// Moved: AreaUnderRoc is now in common/eval/roc.h, beside the other metrics
// of a model on data. This forwarding header stays only until its last user,
// server/evaluator.cc, includes common/eval/roc.h; then delete it. Nothing in
// common/ may include it.
#ifndef DESCENT_COMMON_MODEL_ROC_H_
#define DESCENT_COMMON_MODEL_ROC_H_

#include "common/eval/roc.h"  // IWYU pragma: export

#endif  // DESCENT_COMMON_MODEL_ROC_H_
