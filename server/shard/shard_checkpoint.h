// A parameter shard's checkpoint file: its ShardState (parameter_shard.h)
// as one safetensors file (common/storage/safetensors.h) with the tensors
//
//   version                U64 [1]  updates applied
//   params                 F32 [n]  the slice
//   optimizer/<buffer>     the slice's optimizer state (Optimizer::State)
//   sparse/keys            U64 [K]  sparse rows, in creation order
//   sparse/rows            F32 [K * row_width]
//   row_optimizer/<buffer> the rows' optimizer state
//   left                   U64 [L]  workers that had pushed their last
//
// written atomically (temp, fsync, rename, fsync of the directory), so a
// reader finds the old file, the new one or none, never part of one.
#ifndef DESCENT_SERVER_SHARD_SHARD_CHECKPOINT_H_
#define DESCENT_SERVER_SHARD_SHARD_CHECKPOINT_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "server/shard/parameter_shard.h"

namespace descent {

// What a written checkpoint file is: its size and CRC-32.
struct FileDigest {
  int64_t bytes = 0;
  uint32_t crc32 = 0;
};

std::string EncodeShardState(const ShardState& state);

// DATA_LOSS naming `path` if `bytes` is not a shard checkpoint: not
// safetensors, or a tensor missing or of the wrong dtype.
absl::StatusOr<ShardState> DecodeShardState(const std::string& bytes,
                                            const std::string& path);

// Writes `state` to `path` atomically; its digest.
absl::StatusOr<FileDigest> WriteShardCheckpoint(const std::string& path,
                                                const ShardState& state);

// Reads the checkpoint at `path`, which must have digest `expected` (as the
// checkpoint's manifest lists it): DATA_LOSS naming the file and what
// differs (size or CRC-32) otherwise, NOT_FOUND if it is missing.
absl::StatusOr<ShardState> ReadShardCheckpoint(const std::string& path,
                                               const FileDigest& expected);

}  // namespace descent

#endif  // DESCENT_SERVER_SHARD_SHARD_CHECKPOINT_H_
