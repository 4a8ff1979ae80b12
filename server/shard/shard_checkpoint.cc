#include "server/shard/shard_checkpoint.h"

#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "common/storage/atomic_file.h"

namespace descent {
namespace {

NamedTensor F32(std::string name, std::vector<float> values) {
  NamedTensor t;
  t.name = std::move(name);
  t.dtype = "F32";
  t.shape = {static_cast<int64_t>(values.size())};
  t.f32 = std::move(values);
  return t;
}

NamedTensor U64(std::string name, std::vector<uint64_t> values) {
  NamedTensor t;
  t.name = std::move(name);
  t.dtype = "U64";
  t.shape = {static_cast<int64_t>(values.size())};
  t.u64 = std::move(values);
  return t;
}

}  // namespace

std::string EncodeShardState(const ShardState& state) {
  std::vector<NamedTensor> tensors;
  tensors.push_back(U64("version", {static_cast<uint64_t>(state.version)}));
  tensors.push_back(F32("params", state.params));
  tensors.insert(tensors.end(), state.optimizer.begin(), state.optimizer.end());
  tensors.push_back(U64("sparse/keys", state.keys));
  tensors.push_back(F32("sparse/rows", state.rows));
  tensors.insert(tensors.end(), state.row_optimizer.begin(),
                 state.row_optimizer.end());
  tensors.push_back(
      U64("left", std::vector<uint64_t>(state.left.begin(), state.left.end())));
  if (state.clip_norm > 0) {
    tensors.push_back(F32("privacy/clip_norm", {state.clip_norm}));
  }
  return EncodeSafetensors(tensors, {{"format", "descent shard checkpoint 1"}});
}

absl::StatusOr<ShardState> DecodeShardState(const std::string& bytes,
                                            const std::string& path) {
  ASSIGN_OR_RETURN(std::vector<NamedTensor> tensors,
                   DecodeSafetensors(bytes, path));
  auto find = [&](const std::string& name,
                  const char* dtype) -> absl::StatusOr<NamedTensor*> {
    for (NamedTensor& t : tensors) {
      if (t.name == name && t.dtype == dtype) return &t;
    }
    return absl::DataLossError(absl::StrCat(path,
                                            ": not a shard checkpoint: no ",
                                            dtype, " tensor \"", name, "\""));
  };
  ShardState state;
  ASSIGN_OR_RETURN(NamedTensor * version, find("version", "U64"));
  if (version->u64.size() != 1) {
    return absl::DataLossError(
        absl::StrCat(path, ": tensor \"version\" must hold one value"));
  }
  state.version = static_cast<int64_t>(version->u64[0]);
  ASSIGN_OR_RETURN(NamedTensor * params, find("params", "F32"));
  state.params = std::move(params->f32);
  ASSIGN_OR_RETURN(NamedTensor * keys, find("sparse/keys", "U64"));
  state.keys = std::move(keys->u64);
  ASSIGN_OR_RETURN(NamedTensor * rows, find("sparse/rows", "F32"));
  state.rows = std::move(rows->f32);
  ASSIGN_OR_RETURN(NamedTensor * left, find("left", "U64"));
  for (uint64_t w : left->u64) state.left.push_back(static_cast<int32_t>(w));
  for (const NamedTensor& t : tensors) {
    if (t.name != "privacy/clip_norm") continue;
    if (t.dtype != "F32" || t.f32.size() != 1 || !std::isfinite(t.f32[0]) ||
        t.f32[0] <= 0) {
      return absl::DataLossError(absl::StrCat(
          path, ": tensor \"privacy/clip_norm\" must hold one F32 > 0"));
    }
    state.clip_norm = t.f32[0];
  }
  for (NamedTensor& t : tensors) {
    if (absl::StartsWith(t.name, "optimizer/")) {
      state.optimizer.push_back(std::move(t));
    } else if (absl::StartsWith(t.name, "row_optimizer/")) {
      state.row_optimizer.push_back(std::move(t));
    }
  }
  return state;
}

absl::StatusOr<FileDigest> WriteShardCheckpoint(const std::string& path,
                                                const ShardState& state) {
  const std::string bytes = EncodeShardState(state);
  RETURN_IF_ERROR(WriteFileAtomically(path, bytes));
  return FileDigest{static_cast<int64_t>(bytes.size()), Crc32(bytes)};
}

absl::StatusOr<ShardState> ReadShardCheckpoint(const std::string& path,
                                               const FileDigest& expected) {
  ASSIGN_OR_RETURN(std::string bytes, ReadWholeFile(path));
  if (static_cast<int64_t>(bytes.size()) != expected.bytes) {
    return absl::DataLossError(
        absl::StrCat(path, ": holds ", bytes.size(),
                     " bytes; the checkpoint's manifest says ", expected.bytes,
                     " (truncated or replaced)"));
  }
  const uint32_t crc = Crc32(bytes);
  if (crc != expected.crc32) {
    return absl::DataLossError(
        absl::StrCat(path, ": CRC-32 ", crc, " differs from the manifest's ",
                     expected.crc32, " (the file was altered)"));
  }
  return DecodeShardState(bytes, path);
}

}  // namespace descent
