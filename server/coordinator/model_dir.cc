#include "server/coordinator/model_dir.h"

#include <fcntl.h>  // AT_FDCWD
#include <stdio.h>  // renameat2

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/data/input_files.h"
#include "common/hashed_random.h"
#include "common/status_macros.h"
#include "common/storage/atomic_file.h"
#include "common/wire.h"  // little-endian host
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "server/coordinator/proto_json.h"

namespace descent {
namespace {

namespace fs = std::filesystem;

absl::StatusOr<std::string> Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot open"));
  std::stringstream bytes;
  bytes << in.rdbuf();
  return bytes.str();
}

// Renames directory `from` over `to`: an exchange where `to` exists (then
// the old one is removed), else a plain rename.
absl::Status RenameDirectoryOver(const std::string& from,
                                 const std::string& to) {
  auto failed = [&](const char* step) {
    return absl::InternalError(
        absl::StrCat(to, ": ", step, " failed: ", std::strerror(errno)));
  };
  std::error_code error;
  if (!fs::exists(to, error)) {
    if (std::rename(from.c_str(), to.c_str()) != 0) return failed("rename");
    return absl::OkStatus();
  }
  if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(),
                  RENAME_EXCHANGE) != 0) {
    // No exchange on this file system: move the old one aside first (a
    // reader may then briefly find no directory, never a partial one).
    const std::string aside = from + ".old";
    fs::remove_all(aside, error);
    if (std::rename(to.c_str(), aside.c_str()) != 0) {
      return failed("rename aside");
    }
    if (std::rename(from.c_str(), to.c_str()) != 0) return failed("rename");
    fs::remove_all(aside, error);
    return absl::OkStatus();
  }
  fs::remove_all(from, error);  // now the old directory
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::vector<NamedTensor>> ModelTensors(
    const ParamLayout& layout, const SavedParameters& params) {
  if (static_cast<int64_t>(params.dense.size()) != layout.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("the model's layout has ", layout.size(),
                     " dense parameters, got ", params.dense.size()));
  }
  if (params.rows.size() != params.keys.size() * params.row_width) {
    return absl::InvalidArgumentError(
        absl::StrCat(params.keys.size(), " sparse rows of ", params.row_width,
                     " floats need ", params.keys.size() * params.row_width,
                     ", got ", params.rows.size()));
  }
  std::vector<NamedTensor> tensors;
  for (size_t i = 0; i < layout.tensors().size(); ++i) {
    const TensorSpec& spec = layout.tensors()[i];
    NamedTensor t;
    t.name = spec.name;
    t.dtype = "F32";
    t.shape = spec.shape;
    const auto begin = params.dense.begin() + layout.offset(i);
    t.f32.assign(begin, begin + ShapeElements(spec.shape));
    tensors.push_back(std::move(t));
  }
  if (params.row_width > 0) {
    NamedTensor keys;
    keys.name = "sparse/keys";
    keys.dtype = "U64";
    keys.shape = {static_cast<int64_t>(params.keys.size())};
    keys.u64 = params.keys;
    NamedTensor rows;
    rows.name = "sparse/rows";
    rows.dtype = "F32";
    rows.shape = {static_cast<int64_t>(params.keys.size()), params.row_width};
    rows.f32 = params.rows;
    tensors.push_back(std::move(keys));
    tensors.push_back(std::move(rows));
  }
  return tensors;
}

absl::StatusOr<std::vector<float>> FlatParameters(
    const ParamLayout& layout, const std::vector<NamedTensor>& tensors,
    const std::string& path) {
  std::vector<float> flat(layout.size());
  for (size_t i = 0; i < layout.tensors().size(); ++i) {
    const TensorSpec& spec = layout.tensors()[i];
    const auto found =
        std::find_if(tensors.begin(), tensors.end(),
                     [&](const NamedTensor& t) { return t.name == spec.name; });
    if (found == tensors.end()) {
      return absl::DataLossError(absl::StrCat(path, ": no tensor \"", spec.name,
                                              "\", which the model needs"));
    }
    if (found->dtype != "F32" || found->shape != spec.shape) {
      return absl::DataLossError(absl::StrCat(
          path, ": tensor \"", spec.name, "\" is ", found->dtype, " [",
          absl::StrJoin(found->shape, ","), "], the model needs F32 [",
          absl::StrJoin(spec.shape, ","), "]"));
    }
    std::copy(found->f32.begin(), found->f32.end(),
              flat.begin() + layout.offset(i));
  }
  return flat;
}

absl::Status WriteModelDir(const std::string& dir, const ModelDir& model) {
  const fs::path target(dir);
  const std::string temp =
      (target.parent_path() /
       absl::StrCat(".", target.filename().string(), ".tmp"))
          .string();
  std::error_code error;
  fs::remove_all(temp, error);
  fs::create_directories(temp, error);
  if (error) {
    return absl::InternalError(
        absl::StrCat(temp, ": cannot create: ", error.message()));
  }
  const std::map<std::string, std::string> metadata = {
      {"producer", "descent"},
      {"evaluation", model.manifest.evaluation()},
      {"global_step", absl::StrCat(model.manifest.global_step())}};
  absl::Status status =
      WriteFileSynced(absl::StrCat(temp, "/", kModelTensorsFile),
                      EncodeSafetensors(model.tensors, metadata));
  if (status.ok()) {
    status = WriteFileSynced(absl::StrCat(temp, "/", kModelManifestFile),
                             ProtoJson(model.manifest));
  }
  if (status.ok()) status = SyncDirectory(temp);
  if (status.ok()) status = RenameDirectoryOver(temp, dir);
  if (!status.ok()) {
    fs::remove_all(temp, error);
    return status;
  }
  const std::string parent = target.parent_path().string();
  return SyncDirectory(parent.empty() ? "." : parent);
}

std::string DataFingerprint(const v1::DataConfig& data,
                            int64_t train_examples) {
  std::string text;
  if (data.has_synthetic()) {
    text = data.synthetic().ShortDebugString() + "\n";
  }
  // The training files (not test or validation), in the config's order.
  for (const auto& [field, file] : InputFiles(data)) {
    if (!absl::EndsWith(field, ".train") &&
        !absl::StrContains(field, ".train_")) {
      continue;
    }
    std::error_code error;
    const uintmax_t size = fs::file_size(file, error);
    absl::StrAppend(&text, fs::path(file).filename().string(), " ",
                    error ? int64_t{-1} : static_cast<int64_t>(size), "\n");
  }
  absl::StrAppend(&text, "train_examples ", train_examples);
  return absl::StrFormat("%016x", Fnv1a64(text));
}

absl::StatusOr<ModelDir> ReadModelDir(const std::string& dir) {
  ModelDir model;
  const std::string manifest_path = absl::StrCat(dir, "/", kModelManifestFile);
  ASSIGN_OR_RETURN(const std::string manifest, Slurp(manifest_path));
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = true;  // written by a later version
  const auto parsed = google::protobuf::util::JsonStringToMessage(
      manifest, &model.manifest, options);
  if (!parsed.ok()) {
    return absl::DataLossError(absl::StrCat(
        manifest_path,
        ": not a model manifest: ", std::string(parsed.message())));
  }
  const std::string tensors_path = absl::StrCat(dir, "/", kModelTensorsFile);
  ASSIGN_OR_RETURN(const std::string bytes, Slurp(tensors_path));
  ASSIGN_OR_RETURN(model.tensors, DecodeSafetensors(bytes, tensors_path));
  return model;
}

}  // namespace descent
