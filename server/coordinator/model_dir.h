// A model directory (model/ and best_model/ in a job's output directory;
// README "The trained model"):
//
//   model.safetensors  the parameters in the safetensors format: 8 bytes
//                      little-endian N, N bytes of JSON header
//                      {"name": {"dtype", "shape", "data_offsets": [b, e]},
//                      ..., "__metadata__": {...}} padded with spaces to a
//                      multiple of 8, then the tensors' little-endian bytes
//                      (offsets relative to the end of the header). Dense
//                      models: one F32 tensor per ParamLayout tensor, with
//                      its name and shape. Sparse models: sparse/keys (U64,
//                      [K], increasing) and sparse/rows (F32, [K, W]) as
//                      well.
//   manifest.json      a ModelManifest (proto/descent/v1/model.proto) as
//                      ProtoJson.
//
// WriteModelDir writes both into a temporary sibling directory, fsyncs
// each file and the directory, and renames it over the target: a reader
// sees the old directory or the new one, never part of one.
#ifndef DESCENT_SERVER_COORDINATOR_MODEL_DIR_H_
#define DESCENT_SERVER_COORDINATOR_MODEL_DIR_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/model/param_layout.h"
#include "common/storage/safetensors.h"
#include "descent/v1/model.pb.h"
#include "server/coordinator/job_output.h"

namespace descent {

inline constexpr char kModelTensorsFile[] = "model.safetensors";
inline constexpr char kModelManifestFile[] = "manifest.json";

// The tensors of `params` under `layout`'s names and shapes; sparse rows
// (row_width > 0) as sparse/keys and sparse/rows. INVALID_ARGUMENT if the
// sizes do not fit the layout.
absl::StatusOr<std::vector<NamedTensor>> ModelTensors(
    const ParamLayout& layout, const SavedParameters& params);

// The inverse of ModelTensors for the dense parameters: the flat vector
// of `layout` (its tensors in layout order, wherever they are in the
// file), taken from `tensors` by name. DATA_LOSS naming `path` and the
// tensor if one is missing, not F32, or of another shape.
absl::StatusOr<std::vector<float>> FlatParameters(
    const ParamLayout& layout, const std::vector<NamedTensor>& tensors,
    const std::string& path);

// The manifest's data_fingerprint: 16 hex digits of FNV-1a 64 over, for
// each training file of `data` (IDX images and labels, or the CSV, LIBSVM
// or ratings train file), "basename byte-size\n" (a missing file counts as
// size -1), or for synthetic data the generator's config as text; then
// "train_examples N".
std::string DataFingerprint(const v1::DataConfig& data, int64_t train_examples);

struct ModelDir {
  v1::ModelManifest manifest;
  std::vector<NamedTensor> tensors;
};

// Writes `model` to directory `dir` atomically (see above), replacing
// whatever was there. Errors name the path and the step that failed.
absl::Status WriteModelDir(const std::string& dir, const ModelDir& model);

// Reads a directory WriteModelDir wrote. NOT_FOUND naming the file if one
// is missing; DATA_LOSS naming the file if it is damaged (a bad header,
// JSON that is not a ModelManifest).
absl::StatusOr<ModelDir> ReadModelDir(const std::string& dir);

}  // namespace descent

#endif  // DESCENT_SERVER_COORDINATOR_MODEL_DIR_H_
