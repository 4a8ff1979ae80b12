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

size_t ElementSize(const std::string& dtype) {
  return dtype == "U64" ? sizeof(uint64_t) : sizeof(float);
}

// Product of the dims; -1 if one is negative (or the product overflows).
int64_t Elements(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (const int64_t d : shape) {
    if (d < 0 || (d > 0 && n > (int64_t{1} << 60) / d)) return -1;
    n *= d;
  }
  return n;
}

// A JSON number that is a non-negative integer below 2^53, or -1.
int64_t NonNegativeInteger(const google::protobuf::Value& value) {
  if (value.kind_case() != google::protobuf::Value::kNumberValue) return -1;
  const double d = value.number_value();
  if (!(d >= 0) || d >= 9007199254740992.0 || std::floor(d) != d) return -1;
  return static_cast<int64_t>(d);
}

absl::StatusOr<std::string> Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot open"));
  std::stringstream bytes;
  bytes << in.rdbuf();
  return bytes.str();
}

// One tensor's header entry, checked: the tensor without its data, and its
// byte range.
struct Entry {
  NamedTensor tensor;
  int64_t begin = 0;
  int64_t end = 0;
};

absl::StatusOr<Entry> ParseEntry(const std::string& name,
                                 const google::protobuf::Value& value,
                                 const std::string& path) {
  auto bad = [&](const std::string& why) {
    return absl::DataLossError(
        absl::StrCat(path, ": tensor \"", name, "\": ", why));
  };
  if (value.kind_case() != google::protobuf::Value::kStructValue) {
    return bad("not a JSON object");
  }
  const auto& fields = value.struct_value().fields();
  Entry entry;
  entry.tensor.name = name;
  const auto dtype = fields.find("dtype");
  if (dtype == fields.end() || (dtype->second.string_value() != "F32" &&
                                dtype->second.string_value() != "U64")) {
    return bad("dtype must be \"F32\" or \"U64\"");
  }
  entry.tensor.dtype = dtype->second.string_value();
  const auto shape = fields.find("shape");
  if (shape == fields.end() ||
      shape->second.kind_case() != google::protobuf::Value::kListValue) {
    return bad("no shape list");
  }
  for (const google::protobuf::Value& dim :
       shape->second.list_value().values()) {
    const int64_t d = NonNegativeInteger(dim);
    if (d < 0) return bad("a shape dimension is not a non-negative integer");
    entry.tensor.shape.push_back(d);
  }
  const auto offsets = fields.find("data_offsets");
  if (offsets == fields.end() ||
      offsets->second.kind_case() != google::protobuf::Value::kListValue ||
      offsets->second.list_value().values_size() != 2) {
    return bad("data_offsets must be [begin, end]");
  }
  entry.begin = NonNegativeInteger(offsets->second.list_value().values(0));
  entry.end = NonNegativeInteger(offsets->second.list_value().values(1));
  if (entry.begin < 0 || entry.end < entry.begin) {
    return bad("data_offsets must be integers with 0 <= begin <= end");
  }
  const int64_t elements = Elements(entry.tensor.shape);
  if (elements < 0 ||
      entry.end - entry.begin !=
          elements * static_cast<int64_t>(ElementSize(entry.tensor.dtype))) {
    return bad(absl::StrCat("shape [", absl::StrJoin(entry.tensor.shape, ","),
                            "] of ", entry.tensor.dtype, " does not fit ",
                            entry.end - entry.begin, " bytes of data_offsets"));
  }
  return entry;
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

std::string EncodeSafetensors(
    const std::vector<NamedTensor>& tensors,
    const std::map<std::string, std::string>& metadata) {
  std::string header = "{";
  std::string data;
  for (const NamedTensor& t : tensors) {
    const size_t begin = data.size();
    if (t.dtype == "U64") {
      data.append(reinterpret_cast<const char*>(t.u64.data()),
                  t.u64.size() * sizeof(uint64_t));
    } else {
      data.append(reinterpret_cast<const char*>(t.f32.data()),
                  t.f32.size() * sizeof(float));
    }
    absl::StrAppend(&header, header.size() > 1 ? "," : "", JsonString(t.name),
                    ":{\"dtype\":\"", t.dtype, "\",\"shape\":[",
                    absl::StrJoin(t.shape, ","), "],\"data_offsets\":[", begin,
                    ",", data.size(), "]}");
  }
  if (!metadata.empty()) {
    absl::StrAppend(&header, header.size() > 1 ? "," : "",
                    "\"__metadata__\":{");
    bool first = true;
    for (const auto& [key, value] : metadata) {
      absl::StrAppend(&header, first ? "" : ",", JsonString(key), ":",
                      JsonString(value));
      first = false;
    }
    header += "}";
  }
  header += "}";
  header.append((8 - header.size() % 8) % 8, ' ');
  std::string out(8, '\0');
  const uint64_t length = header.size();
  std::memcpy(out.data(), &length, sizeof(length));
  return out + header + data;
}

absl::StatusOr<std::vector<NamedTensor>> DecodeSafetensors(
    const std::string& bytes, const std::string& path) {
  auto bad = [&path](const std::string& why) {
    return absl::DataLossError(
        absl::StrCat(path, ": not a valid safetensors file: ", why));
  };
  if (bytes.size() < 8) {
    return bad(absl::StrCat("holds ", bytes.size(),
                            " bytes, under the 8 of "
                            "the header length"));
  }
  uint64_t length;
  std::memcpy(&length, bytes.data(), sizeof(length));
  if (length < 2 || length > bytes.size() - 8) {
    return bad(absl::StrCat("header length ", length, " does not fit the ",
                            bytes.size(), " bytes of the file"));
  }
  google::protobuf::Struct header;
  const auto parsed = google::protobuf::util::JsonStringToMessage(
      bytes.substr(8, length), &header);
  if (!parsed.ok()) {
    return bad(absl::StrCat("the header is not a JSON object: ",
                            std::string(parsed.message())));
  }
  const int64_t data_size = static_cast<int64_t>(bytes.size() - 8 - length);
  std::vector<Entry> entries;
  for (const auto& [name, value] : header.fields()) {
    if (name == "__metadata__") continue;
    ASSIGN_OR_RETURN(Entry entry, ParseEntry(name, value, path));
    entries.push_back(std::move(entry));
  }
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return std::tie(a.begin, a.end) < std::tie(b.begin, b.end);
  });
  // The ranges tile the data exactly: no gap, no overlap, nothing after.
  int64_t at = 0;
  for (const Entry& e : entries) {
    if (e.begin != at) {
      return bad(absl::StrCat("tensor \"", e.tensor.name, "\" starts at byte ",
                              e.begin, " of the data, expected ", at,
                              " (ranges overlap or leave a gap)"));
    }
    at = e.end;
  }
  if (at != data_size) {
    return bad(absl::StrCat("the tensors cover ", at,
                            " bytes of data; the file "
                            "holds ",
                            data_size, " (truncated or extended)"));
  }
  std::vector<NamedTensor> tensors;
  const char* data = bytes.data() + 8 + length;
  for (Entry& e : entries) {
    const size_t size = e.end - e.begin;
    if (e.tensor.dtype == "U64") {
      e.tensor.u64.resize(size / sizeof(uint64_t));
      if (size > 0) std::memcpy(e.tensor.u64.data(), data + e.begin, size);
    } else {
      e.tensor.f32.resize(size / sizeof(float));
      if (size > 0) std::memcpy(e.tensor.f32.data(), data + e.begin, size);
    }
    tensors.push_back(std::move(e.tensor));
  }
  return tensors;
}

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
    t.f32.assign(begin, begin + Elements(spec.shape));
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
