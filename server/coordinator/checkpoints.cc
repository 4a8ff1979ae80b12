#include "server/coordinator/checkpoints.h"

#include <algorithm>
#include <filesystem>
#include <system_error>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status_macros.h"
#include "common/storage/atomic_file.h"
#include "google/protobuf/util/json_util.h"
#include "server/coordinator/proto_json.h"

namespace descent {
namespace {

namespace fs = std::filesystem;

// The checkpoint directories under `root`, newest (highest step) first.
std::vector<std::pair<int64_t, std::string>> StepDirs(const std::string& root) {
  std::vector<std::pair<int64_t, std::string>> dirs;
  std::error_code error;
  for (const fs::directory_entry& entry : fs::directory_iterator(root, error)) {
    const std::string name = entry.path().filename().string();
    int64_t step;
    if (!entry.is_directory() || !absl::StartsWith(name, "step-") ||
        !absl::SimpleAtoi(name.substr(5), &step)) {
      continue;
    }
    dirs.emplace_back(step, entry.path().string());
  }
  std::sort(dirs.rbegin(), dirs.rend());
  return dirs;
}

absl::Status CheckFile(const std::string& dir, const v1::CheckpointFile& file) {
  if (file.name().empty() || absl::StrContains(file.name(), "/")) {
    return absl::DataLossError(absl::StrCat(dir, "/", kCheckpointManifestFile,
                                            ": bad file name \"", file.name(),
                                            "\""));
  }
  const std::string path = absl::StrCat(dir, "/", file.name());
  absl::StatusOr<std::string> bytes = ReadWholeFile(path);
  if (!bytes.ok()) {
    return absl::DataLossError(absl::StrCat(path, ": missing"));
  }
  if (static_cast<int64_t>(bytes->size()) != file.bytes()) {
    return absl::DataLossError(absl::StrCat(path, ": ", bytes->size(),
                                            " bytes, the manifest lists ",
                                            file.bytes(), " (truncated?)"));
  }
  if (Crc32(*bytes) != file.crc32()) {
    return absl::DataLossError(
        absl::StrCat(path, ": CRC-32 differs from the manifest's (altered)"));
  }
  return absl::OkStatus();
}

}  // namespace

std::string CheckpointDirName(int64_t global_step) {
  return absl::StrFormat("step-%09d", global_step);
}

absl::Status WriteCheckpointManifest(const std::string& dir,
                                     const v1::CheckpointManifest& manifest) {
  return WriteFileAtomically(absl::StrCat(dir, "/", kCheckpointManifestFile),
                             ProtoJson(manifest));
}

absl::StatusOr<v1::CheckpointManifest> ReadCompleteCheckpoint(
    const std::string& dir) {
  const std::string path = absl::StrCat(dir, "/", kCheckpointManifestFile);
  absl::StatusOr<std::string> text = ReadWholeFile(path);
  if (!text.ok()) {
    return absl::DataLossError(
        absl::StrCat(path, ": missing (the checkpoint was not finished)"));
  }
  v1::CheckpointManifest manifest;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = true;
  const auto parsed =
      google::protobuf::util::JsonStringToMessage(*text, &manifest, options);
  if (!parsed.ok()) {
    return absl::DataLossError(absl::StrCat(
        path, ": not a checkpoint manifest: ", std::string(parsed.message())));
  }
  if (manifest.shards().empty()) {
    return absl::DataLossError(absl::StrCat(path, ": lists no shard"));
  }
  for (const v1::ShardCheckpoint& shard : manifest.shards()) {
    RETURN_IF_ERROR(CheckFile(dir, shard.file()));
  }
  if (!manifest.best().name().empty()) {
    RETURN_IF_ERROR(CheckFile(dir, manifest.best()));
  }
  return manifest;
}

absl::StatusOr<FoundCheckpoint> FindLatestCheckpoint(const std::string& root) {
  const auto dirs = StepDirs(root);
  if (dirs.empty()) {
    return absl::NotFoundError(
        absl::StrCat(root, ": no checkpoint (step-N directory)"));
  }
  FoundCheckpoint found;
  for (const auto& [step, dir] : dirs) {
    absl::StatusOr<v1::CheckpointManifest> manifest =
        ReadCompleteCheckpoint(dir);
    if (manifest.ok()) {
      found.dir = fs::absolute(dir).lexically_normal().string();
      found.step = step;
      found.manifest = *std::move(manifest);
      return found;
    }
    found.damaged.push_back(manifest.status());
  }
  std::string all;
  for (const absl::Status& damaged : found.damaged) {
    absl::StrAppend(&all, all.empty() ? "" : "; ", damaged.message());
  }
  return absl::DataLossError(
      absl::StrCat(root, ": no complete checkpoint: ", all));
}

absl::Status PruneCheckpoints(const std::string& root, int keep) {
  absl::Status result;
  int complete = 0;
  bool past_newest_complete = false;
  for (const auto& [step, dir] : StepDirs(root)) {
    const bool ok = ReadCompleteCheckpoint(dir).ok();
    if (ok) ++complete;
    // Keep the newest `keep` complete ones, and anything newer than the
    // newest complete one (it may be being written).
    const bool keep_it = ok ? complete <= keep : !past_newest_complete;
    if (ok) past_newest_complete = true;
    if (keep_it) continue;
    std::error_code error;
    fs::remove_all(dir, error);
    if (error && result.ok()) {
      result = absl::InternalError(
          absl::StrCat(dir, ": cannot delete: ", error.message()));
    }
  }
  return result;
}

}  // namespace descent
