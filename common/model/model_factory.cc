#include "common/model/model_factory.h"

#include "absl/strings/str_cat.h"
#include "common/model/softmax_regression.h"

namespace descent {
namespace {

InitRule FromProto(v1::InitRule rule) {
  switch (rule) {
    case v1::ZEROS:
      return InitRule::kZeros;
    case v1::HE_NORMAL:
      return InitRule::kHeNormal;
    default:
      return InitRule::kXavierUniform;
  }
}

absl::Status CheckShape(const DataShape& shape) {
  if (shape.num_features < 1 || shape.num_classes < 2) {
    return absl::InvalidArgumentError(
        absl::StrCat("data shape of ", shape.num_features, " features and ",
                     shape.num_classes, " classes does not fit the model"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<Model>> CreateModel(
    const v1::ModelConfig& config, const DataShape& shape, int max_batch,
    int threads) {
  absl::Status fits = CheckShape(shape);
  if (!fits.ok()) return fits;
  if (config.has_softmax_regression()) {
    return std::make_unique<SoftmaxRegression>(
        shape.num_features, shape.num_classes, max_batch, threads,
        FromProto(config.softmax_regression().weight_init()));
  }
  return absl::InvalidArgumentError("model: none chosen");
}

absl::StatusOr<ParamLayout> BuildLayout(const v1::ModelConfig& config,
                                        const DataShape& shape) {
  absl::StatusOr<std::unique_ptr<Model>> model =
      CreateModel(config, shape, /*max_batch=*/1, /*threads=*/1);
  if (!model.ok()) return model.status();
  return (*model)->layout();
}

}  // namespace descent
