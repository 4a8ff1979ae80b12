#include "server/parameter_shard.h"

#include <cmath>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "common/wire.h"

namespace descent {
namespace {

std::string RangeText(int64_t begin, int64_t end) {
  return absl::StrCat("[", begin, ", ", end, ")");
}

// True if [offset, offset + n) lies inside `range`, without overflow.
bool Contains(const IndexRange& range, uint64_t offset, uint64_t n) {
  const uint64_t begin = range.begin, end = range.end;
  return offset >= begin && offset <= end && n <= end - offset;
}

}  // namespace

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
  ASSIGN_OR_RETURN(std::unique_ptr<Optimizer> optimizer,
                   CreateOptimizer(options.optimizer, r.size()));
  return std::unique_ptr<ParameterShard>(
      new ParameterShard(std::move(options), std::move(optimizer)));
}

ParameterShard::ParameterShard(ParameterShardOptions options,
                               std::unique_ptr<Optimizer> optimizer)
    : options_(std::move(options)),
      params_(options_.range.size()),
      gradient_(options_.range.size()),
      optimizer_(std::move(optimizer)) {
  options_.layout.Initialize(options_.seed, options_.range.begin,
                             options_.range.end, params_.data());
}

absl::Status ParameterShard::ValidateHeader(const v1::RequestHeader& header,
                                            bool allow_coordinator) const {
  if (header.job_id() != options_.job_id) {
    return absl::FailedPreconditionError(
        absl::StrCat("job id \"", header.job_id(),
                     "\" is not this shard's job \"", options_.job_id, "\""));
  }
  const int32_t id = header.worker_id();
  const bool coordinator = allow_coordinator && id == kCoordinatorWorkerId;
  if (!coordinator && (id < 0 || id >= options_.num_workers)) {
    return absl::FailedPreconditionError(
        absl::StrCat("unknown worker ", id, ": the job has workers 0..",
                     options_.num_workers - 1));
  }
  if (header.step() < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("step must be >= 0, got ", header.step()));
  }
  return absl::OkStatus();
}

absl::Status ParameterShard::ValidatePush(
    const v1::PushRequest& request) const {
  RETURN_IF_ERROR(
      ValidateHeader(request.header(), /*allow_coordinator=*/false));
  const v1::DenseSlice& slice = request.gradient();
  const int64_t n = FloatCount(slice.values());
  if (n <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "gradient values must be a non-empty multiple of 4 bytes, got ",
        slice.values().size()));
  }
  const IndexRange& r = options_.range;
  const uint64_t offset = slice.offset();
  if (!Contains(r, offset, n)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "gradient slice of ", n, " values at offset ", offset,
        " is outside this shard's range ", RangeText(r.begin, r.end)));
  }
  const char* bytes = slice.values().data();
  for (int64_t i = 0; i < n; ++i) {
    float value;
    std::memcpy(&value, bytes + i * sizeof(float), sizeof(float));
    if (!std::isfinite(value)) {
      return absl::InvalidArgumentError(
          absl::StrCat("gradient value at index ", offset + i,
                       " is not finite (", value, ")"));
    }
  }
  return absl::OkStatus();
}

void ParameterShard::ApplyLocked(const v1::DenseSlice& gradient) {
  const int64_t n = FloatCount(gradient.values());
  const int64_t position = gradient.offset() - options_.range.begin;
  DecodeFloats(gradient.values(), gradient_.data());
  optimizer_->Apply(position, gradient_.data(), n, version_,
                    params_.data() + position);
  ++version_;
}

void ParameterShard::ApplyAndAnswer(const v1::PushRequest& request,
                                    const std::function<void()>& answer) {
  // The consistency gate: ASP admits every push on arrival. BSP and SSP
  // will hold the answer here until their condition holds.
  absl::MutexLock lock(&mu_);
  if (recent_.Insert(request.header().worker_id(),
                     request.header().request_id())) {
    ApplyLocked(request.gradient());
  }
  answer();
}

void ParameterShard::Push(const v1::PushRequest& request,
                          v1::PushResponse* response, Done done) {
  absl::Status status = ValidatePush(request);
  if (!status.ok()) return done(status);
  ApplyAndAnswer(request, [&]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
    if (response != nullptr) response->set_version(version_);
  });
  done(absl::OkStatus());
}

void ParameterShard::PushPull(const v1::PushRequest& request,
                              v1::PushPullResponse* response, Done done) {
  absl::Status status = ValidatePush(request);
  if (!status.ok()) return done(status);
  ApplyAndAnswer(request, [&]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
    response->set_version(version_);
    response->mutable_params()->set_offset(options_.range.begin);
    EncodeFloats(params_.data(), params_.size(),
                 response->mutable_params()->mutable_values());
  });
  done(absl::OkStatus());
}

absl::Status ParameterShard::Pull(const v1::PullRequest& request,
                                  v1::PullResponse* response) {
  RETURN_IF_ERROR(ValidateHeader(request.header(), /*allow_coordinator=*/true));
  const IndexRange& r = options_.range;
  const uint64_t begin = request.offset();
  const uint64_t length = request.length() == 0 && begin <= uint64_t(r.end)
                              ? r.end - begin
                              : request.length();
  if (!Contains(r, begin, length)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "pull of ", request.length(), " values at offset ", begin,
        " is outside this shard's range ", RangeText(r.begin, r.end)));
  }
  absl::MutexLock lock(&mu_);
  response->set_version(version_);
  response->mutable_params()->set_offset(begin);
  EncodeFloats(params_.data() + (begin - r.begin), length,
               response->mutable_params()->mutable_values());
  return absl::OkStatus();
}

int64_t ParameterShard::version() const {
  absl::MutexLock lock(&mu_);
  return version_;
}

std::vector<float> ParameterShard::Snapshot() const {
  absl::MutexLock lock(&mu_);
  return params_;
}

}  // namespace descent
