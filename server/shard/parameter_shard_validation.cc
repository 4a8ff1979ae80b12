// ParameterShard's validation: of its options (Create), and every rule a
// push or pull must meet before it may touch the shard's state, each
// refusal tagged with the reason RejectReason reports.
#include <cmath>
#include <cstring>
#include <string>

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "common/value_codec.h"
#include "common/wire.h"
#include "server/shard/parameter_shard.h"

namespace descent {
namespace {

constexpr char kReasonUrl[] = "type.googleapis.com/descent.RejectReason";

absl::Status Malformed(std::string message) {
  return Refuse(absl::InvalidArgumentError(message), "malformed");
}

absl::Status NonFinite(std::string message) {
  return Refuse(absl::InvalidArgumentError(message), "non_finite");
}

std::string RangeText(int64_t begin, int64_t end) {
  return absl::StrCat("[", begin, ", ", end, ")");
}

// True if [offset, offset + n) lies inside `range`, without overflow.
bool Contains(const IndexRange& range, uint64_t offset, uint64_t n) {
  const uint64_t begin = range.begin, end = range.end;
  return offset >= begin && offset <= end && n <= end - offset;
}

// The encoding a push or pull asks its answer's params in.
absl::Status CheckParamsEncoding(v1::ValueEncoding encoding) {
  if (ValueBytes(encoding) != 0) return absl::OkStatus();
  return Malformed(absl::StrCat("params encoding ", static_cast<int>(encoding),
                                " is not FLOAT32, FLOAT16 or BFLOAT16"));
}

}  // namespace

absl::Status Refuse(absl::Status status, const char* reason) {
  status.SetPayload(kReasonUrl, absl::Cord(reason));
  return status;
}

std::string RejectReason(const absl::Status& status) {
  auto reason = status.GetPayload(kReasonUrl);
  return reason.has_value() ? std::string(*reason) : "other";
}

absl::StatusOr<std::unique_ptr<ParameterShard>> ParameterShard::Create(
    ParameterShardOptions options) {
  const IndexRange& r = options.range;
  if (r.begin < 0 || r.begin > r.end || r.end > options.layout.size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "shard range ", RangeText(r.begin, r.end), " is outside the model's ",
        options.layout.size(), " parameters"));
  }
  if (options.num_workers < 1) {
    return absl::InvalidArgumentError("num_workers must be >= 1");
  }
  if (options.staleness < 0 || options.backup_workers < 0 ||
      options.backup_workers >= options.num_workers) {
    return absl::InvalidArgumentError(absl::StrCat(
        "staleness ", options.staleness, " and backup workers ",
        options.backup_workers, " must be >= 0, and backup workers < ",
        options.num_workers, " workers"));
  }
  if (options.max_sparse_rows < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "max_sparse_rows must be >= 1, got ", options.max_sparse_rows));
  }
  if (options.norm_every < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("norm_every must be >= 0, got ", options.norm_every));
  }
  if (options.shard < 0 || options.shard >= options.num_shards) {
    return absl::InvalidArgumentError(absl::StrCat(
        "shard ", options.shard, " is not in [0, ", options.num_shards, ")"));
  }
  const SparseTableSpec& table = options.table;
  if (table.row_width < 0 ||
      table.column_stddev.size() != static_cast<size_t>(table.row_width)) {
    return absl::InvalidArgumentError(
        absl::StrCat("sparse table rows of width ", table.row_width, " with ",
                     table.column_stddev.size(), " column specs"));
  }
  ASSIGN_OR_RETURN(std::unique_ptr<Optimizer> optimizer,
                   CreateOptimizer(options.optimizer, r.size()));
  ASSIGN_OR_RETURN(std::unique_ptr<Optimizer> row_optimizer,
                   CreateOptimizer(options.optimizer, 0));
  return std::unique_ptr<ParameterShard>(new ParameterShard(
      std::move(options), std::move(optimizer), std::move(row_optimizer)));
}

absl::Status ParameterShard::ValidateHeader(const v1::RequestHeader& header,
                                            bool allow_coordinator) const {
  if (header.job_id() != options_.job_id) {
    return Refuse(
        absl::FailedPreconditionError(absl::StrCat(
            "job id \"", header.job_id(), "\" is not this shard's job")),
        "wrong_job");
  }
  const int32_t id = header.worker_id();
  const bool coordinator = allow_coordinator && id == kCoordinatorWorkerId;
  if (!coordinator &&
      (id < 0 || id >= std::max(options_.num_workers, options_.max_workers))) {
    return Refuse(absl::FailedPreconditionError(absl::StrCat(
                      "unknown worker ", id, ": the job has workers 0..",
                      options_.num_workers - 1)),
                  "unknown_worker");
  }
  if (header.step() < 0 || header.step() > kMaxStep) {
    return Malformed(absl::StrCat("step must be in [0, ", kMaxStep, "], got ",
                                  header.step()));
  }
  return absl::OkStatus();
}

absl::Status ParameterShard::ValidateCheckpoint(
    const v1::CheckpointRequest& request) const {
  RETURN_IF_ERROR(ValidateHeader(request.header(), /*allow_coordinator=*/true));
  if (request.header().worker_id() != kCoordinatorWorkerId) {
    return Refuse(absl::PermissionDeniedError(
                      "only the coordinator (worker id -1) may checkpoint"),
                  "unknown_worker");
  }
  if (request.at_version() < 0) {
    return Malformed(
        absl::StrCat("at_version must be >= 0, got ", request.at_version()));
  }
  return absl::OkStatus();
}

absl::Status ParameterShard::ValidateKeys(
    const google::protobuf::RepeatedField<uint64_t>& keys,
    const char* what) const {
  if (keys.empty()) return absl::OkStatus();
  if (options_.table.row_width == 0) {
    return Malformed(
        absl::StrCat(what, ": this job's model has no sparse table"));
  }
  for (int i = 0; i < keys.size(); ++i) {
    if (i > 0 && keys[i] <= keys[i - 1]) {
      return Malformed(
          absl::StrCat(what, ": keys must be strictly increasing, but key ", i,
                       " (", keys[i], ") follows ", keys[i - 1]));
    }
    const int shard = ShardOfKey(keys[i], options_.num_shards);
    if (shard != options_.shard) {
      return Malformed(absl::StrCat(what, ": key ", keys[i],
                                    " belongs on shard ", shard,
                                    ", not on shard ", options_.shard));
    }
  }
  return absl::OkStatus();
}

absl::Status ParameterShard::ValidateRows(const v1::SparseRows& rows) const {
  RETURN_IF_ERROR(ValidateKeys(rows.keys(), "row gradients"));
  if (rows.keys().empty()) return absl::OkStatus();
  const int64_t width = options_.table.row_width;
  const int64_t n = FloatCount(rows.values());
  if (rows.width() != width || n != rows.keys().size() * width) {
    return Malformed(
        absl::StrCat("row gradients: ", rows.keys().size(), " rows of width ",
                     rows.width(), " in ", rows.values().size(),
                     " bytes; this table's rows are ", width, " floats wide"));
  }
  const int64_t bad = FirstNonFiniteFloat(rows.values().data(), n);
  if (bad >= 0) {
    return NonFinite(absl::StrCat("row gradient of key ",
                                  rows.keys(bad / width),
                                  " is not finite at column ", bad % width));
  }
  return absl::OkStatus();
}

absl::Status ParameterShard::ValidatePush(
    const v1::PushRequest& request) const {
  RETURN_IF_ERROR(
      ValidateHeader(request.header(), /*allow_coordinator=*/false));
  if (request.base_version() < 0) {
    return Malformed(absl::StrCat("base version must be >= 0, got ",
                                  request.base_version()));
  }
  if (request.examples() < 0 || request.examples() > kMaxExamples) {
    return Malformed(absl::StrCat("examples must be in [0, ", kMaxExamples,
                                  "], got ", request.examples()));
  }
  if (request.unclipped() < 0 ||
      request.unclipped() > std::max(1, request.examples())) {
    return Malformed(absl::StrCat("unclipped must be in [0, examples (",
                                  request.examples(), ")], got ",
                                  request.unclipped()));
  }
  if (request.unclipped() > 0 && !options_.privacy.adaptive()) {
    return Malformed("unclipped counts only for adaptive clipping");
  }
  RETURN_IF_ERROR(CheckParamsEncoding(request.params_encoding()));
  if (options_.robust.per_client() != (request.clients() > 0) &&
      !request.empty()) {
    return Malformed(options_.robust.per_client()
                         ? "robust aggregation takes each client's update: "
                           "clients must be >= 1"
                         : "clients counts only for robust aggregation");
  }
  if (request.clients() < 0 ||
      (request.clients() > 0 && request.clients() != request.examples())) {
    return Malformed(absl::StrCat("clients must equal examples (",
                                  request.examples(), "), got ",
                                  request.clients()));
  }
  if (request.empty()) {
    if (options_.consistency != v1::BSP) {
      return Malformed("an empty push counts only for a BSP step's barrier");
    }
    if (!request.gradient().values().empty() ||
        !request.row_gradients().keys().empty() ||
        !request.row_gradients().values().empty()) {
      return Malformed("an empty push must carry no gradient and no rows");
    }
    return ValidateKeys(request.pull_keys(), "pull keys");
  }
  RETURN_IF_ERROR(ValidateRows(request.row_gradients()));
  RETURN_IF_ERROR(ValidateKeys(request.pull_keys(), "pull keys"));
  const v1::DenseSlice& slice = request.gradient();
  const int64_t n = FloatCount(slice.values());
  const bool may_be_empty =
      options_.range.size() == 0 || !request.row_gradients().keys().empty();
  if (n < 0 || (n == 0 && !may_be_empty)) {
    return Malformed(absl::StrCat(
        "gradient values must be a non-empty multiple of 4 bytes, got ",
        slice.values().size()));
  }
  if (n == 0) return absl::OkStatus();
  const IndexRange& r = options_.range;
  const uint64_t offset = slice.offset();
  if (request.clients() > 0) {
    if (offset != static_cast<uint64_t>(r.begin) ||
        n != int64_t{request.clients()} * r.size() ||
        slice.encoding() != v1::FLOAT32 || !slice.indices().empty()) {
      return Malformed(absl::StrCat(
          "a push of ", request.clients(), " clients' updates must hold ",
          int64_t{request.clients()} * r.size(), " float32 values at offset ",
          r.begin, " (the whole slice each), got ", n, " at ", offset));
    }
    const int64_t bad = FirstNonFiniteFloat(slice.values().data(), n);
    if (bad >= 0) {
      return NonFinite(
          absl::StrCat("client ", bad / r.size(), "'s update value at index ",
                       r.begin + bad % r.size(), " is not finite"));
    }
    return absl::OkStatus();
  }
  if (!Contains(r, offset, n)) {
    return Malformed(absl::StrCat("gradient slice of ", n, " values at offset ",
                                  offset, " is outside this shard's range ",
                                  RangeText(r.begin, r.end)));
  }
  const int64_t bad = FirstNonFiniteFloat(slice.values().data(), n);
  if (bad >= 0) {
    return NonFinite(absl::StrCat("gradient value at index ", offset + bad,
                                  " is not finite"));
  }
  return absl::OkStatus();
}

absl::Status ParameterShard::ValidatePull(const v1::PullRequest& request,
                                          uint64_t* begin,
                                          uint64_t* length) const {
  RETURN_IF_ERROR(ValidateHeader(request.header(), /*allow_coordinator=*/true));
  RETURN_IF_ERROR(ValidateKeys(request.keys(), "pull keys"));
  RETURN_IF_ERROR(CheckParamsEncoding(request.params_encoding()));
  const IndexRange& r = options_.range;
  *begin = request.offset();
  *length = request.length() == 0 && *begin <= uint64_t(r.end)
                ? r.end - *begin
                : request.length();
  if (!Contains(r, *begin, *length)) {
    return Malformed(absl::StrCat(
        "pull of ", request.length(), " values at offset ", *begin,
        " is outside this shard's range ", RangeText(r.begin, r.end)));
  }
  return absl::OkStatus();
}

}  // namespace descent
