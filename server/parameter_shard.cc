#include "server/parameter_shard.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <utility>

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "common/wire.h"

namespace descent {
namespace {

constexpr char kReasonUrl[] = "type.googleapis.com/descent.RejectReason";

// `status` tagged with the rule it reports, for RejectReason.
absl::Status Refuse(absl::Status status, const char* reason) {
  status.SetPayload(kReasonUrl, absl::Cord(reason));
  return status;
}

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

// The first non-finite float of `bytes` (n floats), or -1.
int64_t FirstNonFinite(const std::string& bytes, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    float value;
    std::memcpy(&value, bytes.data() + i * sizeof(float), sizeof(float));
    if (!std::isfinite(value)) return i;
  }
  return -1;
}

}  // namespace

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

ParameterShard::ParameterShard(ParameterShardOptions options,
                               std::unique_ptr<Optimizer> optimizer,
                               std::unique_ptr<Optimizer> row_optimizer)
    : options_(std::move(options)),
      params_(options_.range.size()),
      gradient_(
          std::max<int64_t>(options_.range.size(), options_.table.row_width)),
      before_(options_.norm_every > 0 ? options_.range.size() : 0),
      optimizer_(std::move(optimizer)),
      row_optimizer_(std::move(row_optimizer)),
      gate_(ConsistencyGateOptions{options_.consistency, options_.num_workers,
                                   options_.staleness,
                                   options_.backup_workers}) {
  options_.layout.Initialize(options_.seed, options_.range.begin,
                             options_.range.end, params_.data());
  if (options_.consistency == v1::BSP) {
    sum_ = std::make_unique<GradientSum>(
        options_.range.begin, options_.range.size(), options_.table.row_width);
  }
}

absl::Status ParameterShard::ValidateHeader(const v1::RequestHeader& header,
                                            bool allow_coordinator) const {
  if (header.job_id() != options_.job_id) {
    return Refuse(absl::FailedPreconditionError(absl::StrCat(
                      "job id \"", header.job_id(),
                      "\" is not this shard's job \"", options_.job_id, "\"")),
                  "wrong_job");
  }
  const int32_t id = header.worker_id();
  const bool coordinator = allow_coordinator && id == kCoordinatorWorkerId;
  if (!coordinator && (id < 0 || id >= options_.num_workers)) {
    return Refuse(absl::FailedPreconditionError(absl::StrCat(
                      "unknown worker ", id, ": the job has workers 0..",
                      options_.num_workers - 1)),
                  "unknown_worker");
  }
  if (header.step() < 0) {
    return Malformed(absl::StrCat("step must be >= 0, got ", header.step()));
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
  const int64_t bad = FirstNonFinite(rows.values(), n);
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
  if (!Contains(r, offset, n)) {
    return Malformed(absl::StrCat("gradient slice of ", n, " values at offset ",
                                  offset, " is outside this shard's range ",
                                  RangeText(r.begin, r.end)));
  }
  const int64_t bad = FirstNonFinite(slice.values(), n);
  if (bad >= 0) {
    return NonFinite(absl::StrCat("gradient value at index ", offset + bad,
                                  " is not finite"));
  }
  return absl::OkStatus();
}

void ParameterShard::ApplyLocked(const v1::PushRequest& request,
                                 PushRecord* record) {
  const v1::DenseSlice& gradient = request.gradient();
  const int64_t n = FloatCount(gradient.values());
  const int64_t position =
      n > 0 ? static_cast<int64_t>(gradient.offset()) - options_.range.begin
            : 0;
  bool measure;
  const absl::Time start = BeginUpdateLocked(position, n, &measure);
  if (n > 0) {
    DecodeFloats(gradient.values(), gradient_.data());
    optimizer_->Apply(position, gradient_.data(), n, version_,
                      params_.data() + position);
  }
  const v1::SparseRows& rows = request.row_gradients();
  const int width = options_.table.row_width;
  for (int i = 0; i < rows.keys().size(); ++i) {
    std::memcpy(gradient_.data(),
                rows.values().data() + i * width * sizeof(float),
                width * sizeof(float));
    ApplyRowLocked(rows.keys(i), gradient_.data());
  }
  EndUpdateLocked(start, position, n, measure, record);
  ++version_;
}

void ParameterShard::ApplySumLocked(PushRecord* record) {
  bool measure;
  const absl::Time start = BeginUpdateLocked(0, sum_->dense_size(), &measure);
  sum_->TakeMean();
  if (sum_->dense_size() > 0) {
    std::memcpy(gradient_.data(), sum_->dense(),
                sum_->dense_size() * sizeof(float));
    optimizer_->Apply(0, gradient_.data(), sum_->dense_size(), version_,
                      params_.data());
  }
  const int width = options_.table.row_width;
  for (size_t i = 0; i < sum_->keys().size(); ++i) {
    std::memcpy(gradient_.data(), sum_->row(i), width * sizeof(float));
    ApplyRowLocked(sum_->keys()[i], gradient_.data());
  }
  sum_->Clear();
  EndUpdateLocked(start, 0, sum_->dense_size(), measure, record);
  ++version_;
}

void ParameterShard::ApplyRowLocked(uint64_t key, const float* grad) {
  const int width = options_.table.row_width;
  auto [it, created] =
      row_of_.try_emplace(key, static_cast<int64_t>(row_of_.size()));
  if (created) {
    table_.resize(table_.size() + width);
    row_optimizer_->Grow(static_cast<int64_t>(table_.size()));
    options_.table.InitializeRow(options_.seed, key,
                                 table_.data() + it->second * width);
  }
  row_optimizer_->Apply(it->second * width, grad, width, version_,
                        table_.data() + it->second * width);
}

void ParameterShard::ReadRowsLocked(
    const google::protobuf::RepeatedField<uint64_t>& keys,
    v1::SparseRows* rows) {
  const int width = options_.table.row_width;
  *rows->mutable_keys() = keys;
  rows->set_width(width);
  std::string* values = rows->mutable_values();
  values->resize(keys.size() * width * sizeof(float));
  auto* out = reinterpret_cast<float*>(values->data());
  for (int i = 0; i < keys.size(); ++i) {
    auto it = row_of_.find(keys[i]);
    if (it == row_of_.end()) {
      options_.table.InitializeRow(options_.seed, keys[i], out + i * width);
    } else {
      std::memcpy(out + i * width, table_.data() + it->second * width,
                  width * sizeof(float));
    }
  }
}

void ParameterShard::AdmitLocked(const v1::PushRequest& request) {
  const v1::RequestHeader& header = request.header();
  PushRecord record;
  record.worker = header.worker_id();
  record.step = header.step();
  record.staleness = version_ - request.base_version();
  const bool summed =
      gate_.consistency() == v1::BSP && request.base_version() == version_;
  if (gate_.consistency() != v1::BSP) {
    ApplyLocked(request, &record);
  } else if (summed) {
    sum_->Add(request, std::max(1, request.examples()));
  } else {
    record.dropped = true;
  }
  gate_.Arrived(header.worker_id(), header.step());
  record.clock_lag = gate_.ClockLag(header.step());
  if (request.last()) {
    // A worker whose last gradient is in the current step's sum still
    // counts toward that step; it leaves once the step is applied.
    if (summed) {
      leaving_.push_back(header.worker_id());
    } else {
      gate_.Leave(header.worker_id());
    }
  }
  // A push, or a worker leaving, may complete the step.
  if (sum_ != nullptr && sum_->contributors() > 0 &&
      sum_->contributors() >= gate_.RoundSize()) {
    ApplySumLocked(&record);
    for (int32_t worker : leaving_) gate_.Leave(worker);
    leaving_.clear();
  }
  if (options_.observer) {
    record.memory_bytes = MemoryBytesLocked();
    options_.observer(record);
  }
}

void ParameterShard::Submit(const v1::PushRequest& request,
                            std::function<void(absl::Duration held)> answer,
                            Done done) {
  absl::Status status = ValidatePush(request);
  std::vector<ConsistencyGate::Held> ready;
  {
    absl::MutexLock lock(&mu_);
    if (status.ok() && closed_) {
      status = Refuse(absl::UnavailableError("the shard is shutting down"),
                      "closed");
    }
    if (status.ok() && request.base_version() > version_) {
      status = Refuse(absl::InvalidArgumentError(absl::StrCat(
                          "base version ", request.base_version(),
                          " is ahead of this shard's version ", version_)),
                      "future_version");
    }
    if (status.ok()) {
      const v1::RequestHeader& header = request.header();
      if (recent_.Insert(header.worker_id(), header.request_id())) {
        AdmitLocked(request);
      } else if (options_.observer) {
        PushRecord record;
        record.worker = header.worker_id();
        record.step = header.step();
        record.duplicate = true;
        options_.observer(record);
      }
      // Held from here (validated and, ASP and SSP, applied) to release.
      const absl::Time now = options_.clock();
      gate_.Hold({header.worker_id(), header.step(), request.base_version(),
                  now, std::move(answer), std::move(done)});
      ready = gate_.TakeReady(version_);
      for (ConsistencyGate::Held& held : ready) held.answer(now - held.arrived);
    }
  }
  if (!status.ok()) return done(status);
  for (ConsistencyGate::Held& held : ready) held.done(absl::OkStatus());
}

void ParameterShard::Push(const v1::PushRequest& request,
                          v1::PushResponse* response, Done done) {
  Submit(
      request,
      [this, response](absl::Duration held) ABSL_NO_THREAD_SAFETY_ANALYSIS {
        if (response == nullptr) return;
        response->set_version(version_);
        response->set_held_seconds(absl::ToDoubleSeconds(held));
      },
      std::move(done));
}

void ParameterShard::PushPull(const v1::PushRequest& request,
                              v1::PushPullResponse* response, Done done) {
  Submit(
      request,
      [this, &request, response](absl::Duration held)
          ABSL_NO_THREAD_SAFETY_ANALYSIS {
            response->set_version(version_);
            response->set_held_seconds(absl::ToDoubleSeconds(held));
            response->mutable_params()->set_offset(options_.range.begin);
            EncodeFloats(params_.data(), params_.size(),
                         response->mutable_params()->mutable_values());
            if (!request.pull_keys().empty()) {
              ReadRowsLocked(request.pull_keys(), response->mutable_rows());
            }
          },
      std::move(done));
}

void ParameterShard::Close() {
  std::vector<ConsistencyGate::Held> held;
  {
    absl::MutexLock lock(&mu_);
    closed_ = true;
    held = gate_.TakeAll();
  }
  for (ConsistencyGate::Held& h : held) {
    h.done(
        Refuse(absl::UnavailableError("the shard is shutting down"), "closed"));
  }
}

absl::Status ParameterShard::Pull(const v1::PullRequest& request,
                                  v1::PullResponse* response) {
  RETURN_IF_ERROR(ValidateHeader(request.header(), /*allow_coordinator=*/true));
  RETURN_IF_ERROR(ValidateKeys(request.keys(), "pull keys"));
  const IndexRange& r = options_.range;
  const uint64_t begin = request.offset();
  const uint64_t length = request.length() == 0 && begin <= uint64_t(r.end)
                              ? r.end - begin
                              : request.length();
  if (!Contains(r, begin, length)) {
    return Malformed(absl::StrCat(
        "pull of ", request.length(), " values at offset ", begin,
        " is outside this shard's range ", RangeText(r.begin, r.end)));
  }
  absl::MutexLock lock(&mu_);
  response->set_version(version_);
  response->mutable_params()->set_offset(begin);
  EncodeFloats(params_.data() + (begin - r.begin), length,
               response->mutable_params()->mutable_values());
  if (!request.keys().empty()) {
    ReadRowsLocked(request.keys(), response->mutable_rows());
  }
  return absl::OkStatus();
}

int64_t ParameterShard::version() const {
  absl::MutexLock lock(&mu_);
  return version_;
}

int64_t ParameterShard::sparse_rows() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int64_t>(row_of_.size());
}

std::vector<float> ParameterShard::Snapshot() const {
  absl::MutexLock lock(&mu_);
  return params_;
}

}  // namespace descent
