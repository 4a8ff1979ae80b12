// A job's checkpoints on disk (README "Checkpoints and resume"):
//
//   <output_dir>/checkpoints/step-<global step, 9+ digits>/
//       shard-<i>.safetensors   each shard's state (server/shard/
//                               shard_checkpoint.h), written by the shard
//       best.safetensors        with early stopping: the best parameters,
//                               in model.safetensors' layout
//       manifest.json           a CheckpointManifest (checkpoint.proto),
//                               written last by the coordinator, atomically
//
// A checkpoint is complete when its manifest parses and every file it lists
// has the listed size and CRC-32. Files are written atomically, and the
// manifest only after every file it lists, so a crash at any moment leaves
// the newest checkpoint complete or visibly incomplete, never torn.
#ifndef DESCENT_SERVER_COORDINATOR_CHECKPOINTS_H_
#define DESCENT_SERVER_COORDINATOR_CHECKPOINTS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "descent/v1/checkpoint.pb.h"

namespace descent {

inline constexpr char kCheckpointsDir[] = "checkpoints";
inline constexpr char kCheckpointManifestFile[] = "manifest.json";

// "step-000000120" for global step 120.
std::string CheckpointDirName(int64_t global_step);

// Writes `manifest` as `dir`/manifest.json, atomically.
absl::Status WriteCheckpointManifest(const std::string& dir,
                                     const v1::CheckpointManifest& manifest);

// OK if `dir` holds a complete checkpoint, which it returns; DATA_LOSS
// naming the file otherwise: a missing or unparsable manifest, a listed
// file missing, or of another size or CRC-32 than listed.
absl::StatusOr<v1::CheckpointManifest> ReadCompleteCheckpoint(
    const std::string& dir);

// A complete checkpoint found under `root` (<output_dir>/checkpoints).
struct FoundCheckpoint {
  std::string dir;   // absolute
  int64_t step = 0;  // N of its name step-N
  v1::CheckpointManifest manifest;
  // The newer checkpoints passed over, each as ReadCompleteCheckpoint's
  // DATA_LOSS error.
  std::vector<absl::Status> damaged;
};

// The newest complete checkpoint under `root`. NOT_FOUND if `root` holds
// no checkpoint directory; DATA_LOSS listing every damaged one if none is
// complete.
absl::StatusOr<FoundCheckpoint> FindLatestCheckpoint(const std::string& root);

// Deletes the checkpoint directories under `root` other than the newest
// `keep` complete ones, except incomplete ones newer than all of those (a
// checkpoint being written). Returns the first error, having tried all.
absl::Status PruneCheckpoints(const std::string& root, int keep);

}  // namespace descent

#endif  // DESCENT_SERVER_COORDINATOR_CHECKPOINTS_H_
