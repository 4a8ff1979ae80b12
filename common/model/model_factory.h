// Turns a job's ModelConfig and its data's shape into a model. Nothing is
// compiled per model: every process builds the same layout from the config
// the coordinator handed it, so all agree on P and on the initial values.
#ifndef DESCENT_COMMON_MODEL_MODEL_FACTORY_H_
#define DESCENT_COMMON_MODEL_MODEL_FACTORY_H_

#include <cstdint>
#include <memory>

#include "absl/status/statusor.h"
#include "common/model/model.h"
#include "common/model/param_layout.h"
#include "descent/v1/job.pb.h"

namespace descent {

struct DataShape {
  int64_t num_features = 0;
  int32_t num_classes = 0;
};

// The parameter layout of the model `config` describes for `shape`.
// INVALID_ARGUMENT if no model is chosen or the shape does not fit it.
absl::StatusOr<ParamLayout> BuildLayout(const v1::ModelConfig& config,
                                        const DataShape& shape);

// The model itself, with buffers for batches of up to `max_batch` examples
// and `threads` OpenMP threads (0: one per core).
absl::StatusOr<std::unique_ptr<Model>> CreateModel(
    const v1::ModelConfig& config, const DataShape& shape, int max_batch,
    int threads);

}  // namespace descent

#endif  // DESCENT_COMMON_MODEL_MODEL_FACTORY_H_
