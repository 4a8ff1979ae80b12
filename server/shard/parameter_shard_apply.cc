// ParameterShard's updates: admitting a validated push to the gate, and
// applying gradients all or nothing. An update whose result would not be
// finite (parameters or optimizer state, dense or rows), or that would
// create a sparse row past the shard's limit, is taken back whole
// (Optimizer::Save / Undo) and refused.
#include <algorithm>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "common/wire.h"
#include "server/shard/parameter_shard.h"

namespace descent {
namespace {

// "worker 3's push (step 17)".
std::string PushName(const v1::RequestHeader& header) {
  return absl::StrCat("worker ", header.worker_id(), "'s push (step ",
                      header.step(), ")");
}

absl::Status NonFiniteResult(const std::string& who, const std::string& what) {
  return Refuse(absl::InvalidArgumentError(absl::StrCat(
                    who, " would make ", what,
                    " infinite or NaN; refused, nothing of it applied")),
                "non_finite_result");
}

// `status` with `who` before its message, its reason kept.
absl::Status Prefixed(const std::string& who, const absl::Status& status) {
  return Refuse(
      absl::Status(status.code(), absl::StrCat(who, status.message())),
      RejectReason(status).c_str());
}

}  // namespace

std::string ParameterShard::ParameterName(int64_t index) const {
  const ParamLayout& layout = options_.layout;
  const size_t tensor = layout.TensorOf(index);
  return absl::StrCat(
      "parameter ", index, " (tensor ", layout.tensors()[tensor].name,
      " element ", index - layout.offset(tensor), ") or its optimizer state");
}

absl::Status ParameterShard::RowLimitError(uint64_t key) const {
  return Refuse(absl::ResourceExhaustedError(absl::StrCat(
                    ": shard ", options_.shard, " holds its limit of ",
                    options_.max_sparse_rows,
                    " sparse rows (cluster.max_sparse_rows_per_shard); key ",
                    key, " would be a new row. Rows it holds still train")),
                "row_limit");
}

absl::Status ParameterShard::ApplyRowsLocked(
    int64_t count, absl::FunctionRef<uint64_t(int64_t)> key_of,
    absl::FunctionRef<const float*(int64_t)> grad_of) {
  const int width = options_.table.row_width;
  const size_t rows_before = row_of_.size();
  row_undo_.Clear();
  new_keys_.clear();
  absl::Status refused;
  for (int64_t i = 0; i < count && refused.ok(); ++i) {
    const uint64_t key = key_of(i);
    auto [it, created] =
        row_of_.try_emplace(key, static_cast<int64_t>(row_of_.size()));
    if (created) {
      new_keys_.push_back(key);
      if (static_cast<int64_t>(row_of_.size()) > options_.max_sparse_rows) {
        refused = RowLimitError(key);
        break;
      }
      table_.resize(table_.size() + width);
      row_optimizer_->Grow(static_cast<int64_t>(table_.size()));
      options_.table.InitializeRow(options_.seed, key,
                                   table_.data() + it->second * width);
    }
    const int64_t at = it->second * width;
    row_optimizer_->Save(at, width, &table_, at, &row_undo_);
    row_optimizer_->Apply(at, grad_of(i), width, version_, table_.data() + at);
    const int64_t bad =
        row_optimizer_->FirstNonFinite(at, width, table_.data() + at);
    if (bad >= 0) {
      refused = NonFiniteResult(
          "", absl::StrCat("column ", bad, " of the row of key ", key,
                           " (or its optimizer state)"));
    }
  }
  if (refused.ok()) return refused;
  row_optimizer_->Undo(&row_undo_);
  for (uint64_t key : new_keys_) row_of_.erase(key);
  table_.resize(rows_before * width);
  row_optimizer_->Truncate(static_cast<int64_t>(table_.size()));
  return refused;
}

absl::Status ParameterShard::ApplyLocked(const v1::PushRequest& request,
                                         PushRecord* record) {
  const v1::DenseSlice& gradient = request.gradient();
  const int64_t n = FloatCount(gradient.values());
  const int64_t position =
      n > 0 ? static_cast<int64_t>(gradient.offset()) - options_.range.begin
            : 0;
  bool measure;
  const absl::Time start = BeginUpdateLocked(position, n, &measure);
  undo_.Clear();
  if (n > 0) {
    const int64_t bad = optimizer_->ApplyFinite(
        position, FloatsOf(gradient.values(), &scratch_), n, version_, &params_,
        position, &undo_);
    if (bad >= 0) {
      return NonFiniteResult(
          PushName(request.header()),
          ParameterName(options_.range.begin + position + bad));
    }
  }
  const v1::SparseRows& rows = request.row_gradients();
  if (!rows.keys().empty()) {
    const int width = options_.table.row_width;
    const float* grads = FloatsOf(rows.values(), &row_scratch_);
    absl::Status applied = ApplyRowsLocked(
        rows.keys().size(), [&rows](int64_t i) { return rows.keys(i); },
        [grads, width](int64_t i) { return grads + i * width; });
    if (!applied.ok()) {
      optimizer_->Undo(&undo_);
      return Prefixed(PushName(request.header()), applied);
    }
  }
  EndUpdateLocked(start, position, n, measure, record);
  ++version_;
  return absl::OkStatus();
}

absl::Status ParameterShard::ApplySumLocked(PushRecord* record) {
  // Listed only when a configured worker's push is missing (a worker
  // lost): nothing to build or send on the steps of a healthy job.
  step_workers_.clear();
  for (int32_t w = 0; w < options_.num_workers; ++w) {
    if (sum_->Contains(w)) continue;
    for (int32_t v = 0; v < options_.num_workers; ++v) {
      if (sum_->Contains(v)) step_workers_.push_back(v);
    }
    break;
  }
  int64_t unclipped = unclipped_;
  unclipped_ = 0;
  double weight = sum_->weight();
  std::optional<SecureSum> secure;
  if (options_.secure.enabled) {
    // The pushes are empty: the step applies the round's unmasked sum, or
    // nothing if its secure aggregation failed.
    if (secure_sum_.has_value() && secure_sum_->round == version_) {
      secure = std::move(secure_sum_);
    }
    secure_sum_.reset();
    weight = secure.has_value() ? secure->weight : 0;
    unclipped = secure.has_value() ? secure->unclipped : 0;
  }
  if (weight == 0) {
    // Every push of the step was empty (a federated round none of whose
    // clients reported): no update, but the step is over.
    sum_->Clear();
    pending_keys_.clear();
    ++version_;
    return absl::OkStatus();
  }
  bool measure;
  const absl::Time start = BeginUpdateLocked(0, sum_->dense_size(), &measure);
  if (secure.has_value()) {
    sum_->SetMean(secure->sum, weight);
  } else if (options_.robust.per_client()) {
    sum_->TakeAggregate(options_.robust);
  } else {
    sum_->TakeMean();
  }
  const PrivacyOptions& privacy = options_.privacy;
  float next_clip_norm = clip_norm_;
  if (privacy.enabled) {
    // The mean of m clipped deltas: N(0, (z C)^2) on their sum is
    // N(0, (z C / m)^2) on the mean.
    const double m = sum_->weight();
    if (!privacy.local) {
      AddGaussianNoise(
          ShardNoiseSeed(privacy, version_, options_.range.begin),
          DeltaNoiseMultiplier(privacy) * clip_norm_ / m,
          absl::MakeSpan(sum_->mutable_dense(), sum_->dense_size()));
    }
    if (privacy.adaptive()) {
      next_clip_norm = NextClipNorm(privacy, clip_norm_, unclipped,
                                    static_cast<int64_t>(m), version_);
    }
  }
  const std::string who =
      absl::StrCat("the mean gradient of step ", version_, " (workers ",
                   absl::StrJoin(sum_->workers(), ", "), ")");
  undo_.Clear();
  if (sum_->dense_size() > 0) {
    const int64_t bad = optimizer_->ApplyFinite(
        0, sum_->dense(), sum_->dense_size(), version_, &params_, 0, &undo_);
    if (bad >= 0) {
      sum_->Clear();
      pending_keys_.clear();
      return NonFiniteResult(who, ParameterName(options_.range.begin + bad));
    }
  }
  absl::Status applied = ApplyRowsLocked(
      static_cast<int64_t>(sum_->keys().size()),
      [this](int64_t i)
          ABSL_NO_THREAD_SAFETY_ANALYSIS { return sum_->keys()[i]; },
      [this](int64_t i)
          ABSL_NO_THREAD_SAFETY_ANALYSIS { return sum_->row(i); });
  const int64_t dense_size = sum_->dense_size();
  sum_->Clear();
  pending_keys_.clear();
  if (!applied.ok()) {
    optimizer_->Undo(&undo_);
    return Prefixed(who, applied);
  }
  EndUpdateLocked(start, 0, dense_size, measure, record);
  clip_norm_ = next_clip_norm;
  ++version_;
  return absl::OkStatus();
}

absl::Status ParameterShard::ReserveRowsLocked(const v1::PushRequest& request) {
  const auto& keys = request.row_gradients().keys();
  int64_t fresh = 0;
  for (uint64_t key : keys) {
    fresh += !row_of_.contains(key) && !pending_keys_.contains(key);
  }
  const int64_t held =
      static_cast<int64_t>(row_of_.size() + pending_keys_.size());
  if (held + fresh > options_.max_sparse_rows) {
    for (uint64_t key : keys) {
      if (!row_of_.contains(key) && !pending_keys_.contains(key)) {
        return Prefixed(PushName(request.header()), RowLimitError(key));
      }
    }
  }
  for (uint64_t key : keys) {
    if (!row_of_.contains(key)) pending_keys_.insert(key);
  }
  return absl::OkStatus();
}

absl::Status ParameterShard::AdmitLocked(const v1::PushRequest& request,
                                         bool* step_refused) {
  *step_refused = false;
  const v1::RequestHeader& header = request.header();
  if (!joined_[header.worker_id()] &&
      header.worker_id() >= options_.num_workers) {
    // A worker that joined the running job counts from its first push
    // (under BSP from the step after, if this one is late).
    joined_[header.worker_id()] = true;
    gate_.Join(header.worker_id());
  }
  PushRecord record;
  record.worker = header.worker_id();
  record.step = header.step();
  record.staleness = version_ - request.base_version();
  // A worker's second gradient for the step (a restarted worker repeating
  // the step its dead predecessor had pushed) is dropped: the first counts.
  const bool summed = gate_.consistency() == v1::BSP &&
                      request.base_version() == version_ &&
                      !sum_->Contains(header.worker_id());
  if (gate_.consistency() != v1::BSP) {
    RETURN_IF_ERROR(ApplyLocked(request, &record));
    int64_t& steps = worker_steps_[header.worker_id()];
    steps = std::max(steps, header.step() + 1);
  } else if (summed) {
    RETURN_IF_ERROR(ReserveRowsLocked(request));
    sum_->Add(request, request.empty() ? 0 : std::max(1, request.examples()));
    if (!request.empty()) unclipped_ += request.unclipped();
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
  absl::Status applied = CompleteStepLocked(&record);
  if (!applied.ok()) {
    *step_refused = true;
    return applied;
  }
  CheckPendingLocked();
  if (options_.observer) {
    record.memory_bytes = MemoryBytesLocked();
    options_.observer(record);
  }
  return absl::OkStatus();
}

}  // namespace descent
