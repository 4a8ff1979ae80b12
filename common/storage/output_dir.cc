#include "common/storage/output_dir.h"

#include <filesystem>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace descent {

std::vector<std::string> JobResultEntries() {
  return {"summary.json", "evals.csv", "evals.svg", "best_params.bin",
          "labels.json",  "model",     "best_model"};
}

std::vector<std::string> LocalJobEntries() {
  std::vector<std::string> entries = JobResultEntries();
  entries.insert(entries.end(), {"config.textproto", "processes.txt",
                                 "coordinator.addr", "logs"});
  return entries;
}

absl::Status ClaimOutputDir(const std::string& dir,
                            const std::vector<std::string>& entries,
                            bool overwrite) {
  namespace fs = std::filesystem;
  std::error_code error;
  std::vector<std::string> found;
  for (const std::string& entry : entries) {
    if (fs::exists(fs::path(dir) / entry, error)) found.push_back(entry);
  }
  if (!found.empty() && !overwrite) {
    return absl::FailedPreconditionError(absl::StrCat(
        "output directory ", dir, " holds another job's results (",
        absl::StrJoin(found, ", "),
        "); choose another --output_dir, or pass --overwrite to delete "
        "them"));
  }
  for (const std::string& entry : found) {
    fs::remove_all(fs::path(dir) / entry, error);
    if (error) {
      return absl::PermissionDeniedError(
          absl::StrCat(dir, "/", entry,
                       ": cannot delete for --overwrite: ", error.message()));
    }
  }
  fs::create_directories(dir, error);
  if (error) {
    return absl::PermissionDeniedError(absl::StrCat(
        dir, ": cannot create output directory: ", error.message()));
  }
  return absl::OkStatus();
}

std::vector<std::string> RemoveStaleTemporaries(
    const std::string& dir, const std::vector<std::string>& entries) {
  namespace fs = std::filesystem;
  std::vector<std::string> removed;
  std::error_code error;
  fs::directory_iterator it(dir, error);
  if (error) return removed;
  for (const fs::directory_entry& file : it) {
    const std::string name = file.path().filename().string();
    for (const std::string& entry : entries) {
      if (!absl::StartsWith(name, absl::StrCat(entry, ".tmp"))) continue;
      if (file.is_regular_file(error) && fs::remove(file.path(), error)) {
        removed.push_back(name);
      }
      break;
    }
  }
  return removed;
}

}  // namespace descent
