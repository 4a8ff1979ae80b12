// descent export --format onnx: a dense model directory (model/ or
// best_model/, server/coordinator/model_dir.h) as an ONNX model (README
// "Exporting to ONNX"), built with the ONNX protobuf schema of Debian's
// libonnx-dev (onnx/onnx_pb.h), opset 13, IR version 7.
//
// The graph computes what `descent predict` prints, from the same input:
//   input          float [N, num_features], N symbolic: the features as the
//                  readers give them (IDX pixels already divided by 255),
//                  before the manifest's scaling, which the graph applies
//                  itself ((x - offset) / scale: Sub, then Div).
//   probabilities  float [N, C]: softmax of the logits for softmax
//                  regression, MLPs and CNNs; for logistic regression
//                  sigmoid(-z), sigmoid(z) of its logit z (C = 2).
//   scores         float [N, C]: a linear SVM's x W + b, in their place.
//   class          int64 [N]: the index of the highest logit or score, the
//                  first on a tie (ArgMax), which is descent's class.
//   value          float [N]: a linear regression's x . w + b, alone.
// The parameters are initializers named as in model.safetensors
// ("weights", "layer0/bias", ...), in their shapes: dense weights [in,
// out] feed MatMul as they are, conv weights [out_channels, in_channels,
// k, k] are ONNX's Conv layout. A CNN reshapes its input to [N, C, H, W]
// (CHW order, as descent reads examples) and a dense layer after a conv or
// pool reshapes back to [N, C*H*W].
#ifndef DESCENT_CLI_ONNX_EXPORT_H_
#define DESCENT_CLI_ONNX_EXPORT_H_

#include <string>

#include "absl/status/statusor.h"
#include "onnx/onnx_pb.h"
#include "server/coordinator/model_dir.h"

namespace descent {

inline constexpr int64_t kOnnxOpset = 13;
inline constexpr int64_t kOnnxIrVersion = 7;  // ONNX 1.8, opset 13's release

// The ONNX model of `dir` (read from directory `path`, which errors name).
// INVALID_ARGUMENT (exit 1) naming the model kind for a sparse model;
// DATA_LOSS as BuildDenseModel (cli/predict.h) for a directory whose model
// does not build or whose tensors do not fit it.
absl::StatusOr<onnx::ModelProto> OnnxModel(ModelDir dir,
                                           const std::string& path);

struct ExportOptions {
  std::string model_dir;
  std::string format = "onnx";  // the only one
  std::string output;           // empty: model_dir/model.onnx
};

// Writes the model directory's ONNX model to options.output, atomically
// (common/storage/atomic_file.h). Returns the exit code: 0; 1 for a sparse
// model or another format; 3 for a missing or damaged model directory; 5
// if the output cannot be written.
int RunExport(const ExportOptions& options);

}  // namespace descent

#endif  // DESCENT_CLI_ONNX_EXPORT_H_
