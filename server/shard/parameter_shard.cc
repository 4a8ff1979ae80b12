#include "server/shard/parameter_shard.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "common/value_codec.h"
#include "common/wire.h"

namespace descent {

namespace {

// A compressed push (float16, bfloat16 or top-k gradient) as the plain
// float32 push every later step reads; alive while the pointer is.
absl::StatusOr<std::shared_ptr<const v1::PushRequest>> Decompressed(
    const v1::PushRequest& request, int64_t max_elements) {
  auto plain = std::make_shared<v1::PushRequest>(request);
  absl::Status decoded = DecompressSlice(request.gradient(), max_elements,
                                         plain->mutable_gradient());
  if (!decoded.ok()) {
    return Refuse(absl::InvalidArgumentError(
                      absl::StrCat("gradient ", decoded.message())),
                  "malformed");
  }
  return plain;
}

// For a compressed push: decodes it and hands `forward` the plain push and
// a `done` that keeps it alive until it runs, or fails *done; true. False
// for a plain push, which is left to the caller.
bool ForwardDecompressed(
    const v1::PushRequest& request, int64_t max_elements,
    ParameterShard::Done* done,
    const std::function<void(const v1::PushRequest&, ParameterShard::Done)>&
        forward) {
  if (!IsCompressed(request.gradient())) return false;
  absl::StatusOr<std::shared_ptr<const v1::PushRequest>> plain =
      Decompressed(request, max_elements);
  if (!plain.ok()) {
    (*done)(plain.status());
    return true;
  }
  const v1::PushRequest& decoded = **plain;
  forward(decoded, [plain = *std::move(plain), done = std::move(*done)](
                       absl::Status status) { done(std::move(status)); });
  return true;
}

int32_t Capacity(const ParameterShardOptions& shard) {
  return std::max({0, shard.num_workers, shard.max_workers});
}

ConsistencyGateOptions GateOptionsOf(const ParameterShardOptions& shard) {
  ConsistencyGateOptions gate;
  gate.consistency = shard.consistency;
  gate.num_workers = Capacity(shard);
  gate.live_workers = shard.num_workers;
  gate.staleness = shard.staleness;
  gate.backup_workers = shard.backup_workers;
  return gate;
}

}  // namespace

ParameterShard::ParameterShard(ParameterShardOptions options,
                               std::unique_ptr<Optimizer> optimizer,
                               std::unique_ptr<Optimizer> row_optimizer)
    : options_(std::move(options)),
      params_(options_.range.size()),
      before_(options_.norm_every > 0 ? options_.range.size() : 0),
      optimizer_(std::move(optimizer)),
      row_optimizer_(std::move(row_optimizer)),
      gate_(GateOptionsOf(options_)),
      incarnation_(Capacity(options_), 0),
      lost_(Capacity(options_), false),
      worker_steps_(Capacity(options_), 0),
      admitted_(Capacity(options_), false),
      joined_(Capacity(options_), false) {
  for (int32_t w = 0; w < options_.num_workers; ++w) admitted_[w] = true;
  clip_norm_ = static_cast<float>(options_.privacy.clip_norm);
  options_.layout.Initialize(options_.seed, options_.range.begin,
                             options_.range.end, params_.data());
  if (options_.consistency == v1::BSP) {
    sum_ = std::make_unique<GradientSum>(
        options_.range.begin, options_.range.size(), options_.table.row_width);
  }
  if (options_.secure.enabled) {
    SecureAggregatorOptions secure;
    secure.num_workers = options_.num_workers;
    secure.clients = options_.clients;
    secure.threshold = options_.secure.threshold;
    secure.clip_range = options_.secure.clip_range;
    secure.begin = options_.range.begin;
    secure.size = options_.range.size();
    secure.num_parameters = options_.layout.size();
    secure.routes_shares = options_.shard == 0;
    secure.on_masked_input = options_.on_masked_input;
    secure_ = std::make_unique<SecureAggregator>(std::move(secure),
                                                 [this](SecureSum sum) {
                                                   absl::MutexLock lock(&mu_);
                                                   secure_sum_ = std::move(sum);
                                                 });
  }
}

void ParameterShard::SecureAggregation(
    const v1::SecureAggregationRequest& request,
    v1::SecureAggregationResponse* response, Done done) {
  if (secure_ == nullptr) {
    done(Refuse(
        absl::FailedPreconditionError("this job has no secure aggregation "
                                      "(federated.secure_aggregation)"),
        "malformed"));
    return;
  }
  absl::Status valid = ValidateHeader(request.header(), false);
  if (valid.ok()) {
    absl::MutexLock lock(&mu_);
    if (lost_[request.header().worker_id()]) {
      valid = Refuse(
          absl::FailedPreconditionError(absl::StrCat(
              "worker ", request.header().worker_id(), " was declared lost")),
          "lost");
    }
  }
  if (!valid.ok()) {
    done(valid);
    return;
  }
  secure_->Handle(request, response, std::move(done));
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

absl::Status ParameterShard::CompleteStepLocked(PushRecord* record) {
  if (sum_ == nullptr || sum_->contributors() == 0 ||
      sum_->contributors() < gate_.RoundSize()) {
    return absl::OkStatus();
  }
  absl::Status applied = ApplySumLocked(record);
  for (int32_t worker : leaving_) gate_.Leave(worker);
  leaving_.clear();
  return applied;
}

absl::Status ParameterShard::AdmitIncarnationLocked(
    const v1::RequestHeader& header) {
  const int32_t worker = header.worker_id();
  if (!admitted_[worker]) {
    return Refuse(absl::FailedPreconditionError(absl::StrCat(
                      "unknown worker ", worker, ": the job has workers 0..",
                      options_.num_workers - 1,
                      " and this shard has not heard of it joining")),
                  "unknown_worker");
  }
  if (lost_[worker]) {
    return Refuse(absl::FailedPreconditionError(absl::StrCat(
                      "worker ", worker,
                      " was declared lost; the job goes on without it")),
                  "lost");
  }
  if (header.incarnation() < incarnation_[worker]) {
    return Refuse(absl::FailedPreconditionError(absl::StrCat(
                      "worker ", worker, " incarnation ", header.incarnation(),
                      " was replaced by incarnation ", incarnation_[worker])),
                  "superseded");
  }
  incarnation_[worker] = header.incarnation();
  return absl::OkStatus();
}

void ParameterShard::WorkerLost(int32_t worker) {
  Release release;
  // BSP: the answers of a step the worker's leaving completed but that
  // could not be applied.
  std::vector<ConsistencyGate::Held> refused;
  absl::Status applied;
  {
    absl::MutexLock lock(&mu_);
    if (worker < 0 || worker >= Capacity(options_) || lost_[worker]) return;
    lost_[worker] = true;
    if (sum_ != nullptr && sum_->Contains(worker)) {
      leaving_.push_back(worker);
    } else {
      gate_.Leave(worker);
    }
    PushRecord record;
    record.worker = worker;
    applied = CompleteStepLocked(&record);
    if (!applied.ok()) refused = gate_.TakeAll();
    CheckPendingLocked();
    release = ReleaseLocked(options_.clock());
  }
  for (ConsistencyGate::Held& held : refused) held.done(applied);
  Finish(std::move(release));
  FinishCaptures();
  if (secure_ != nullptr) secure_->WorkerLost(worker);
}

void ParameterShard::WorkerJoined(int32_t worker) {
  absl::MutexLock lock(&mu_);
  if (worker < options_.num_workers || worker >= Capacity(options_)) return;
  admitted_[worker] = true;
}

void ParameterShard::Submit(const v1::PushRequest& request,
                            std::function<void(absl::Duration held)> answer,
                            v1::PushPullResponse* slice_to, Done done) {
  absl::Status status = ValidatePush(request);
  Release release;
  // BSP: the answers of a step that could not be applied.
  std::vector<ConsistencyGate::Held> refused;
  {
    absl::MutexLock lock(&mu_);
    if (status.ok()) status = CheckAdmissibleLocked(request);
    if (status.ok()) status = AdmitIncarnationLocked(request.header());
    if (status.ok()) {
      const v1::RequestHeader& header = request.header();
      bool step_refused = false;
      if (recent_.Insert(header.worker_id(), header.request_id())) {
        status = AdmitLocked(request, &step_refused);
        if (!status.ok() && !step_refused) {
          recent_.Erase(header.worker_id(), header.request_id());
        }
      } else if (options_.observer) {
        PushRecord record;
        record.worker = header.worker_id();
        record.step = header.step();
        record.duplicate = true;
        options_.observer(record);
      }
      if (step_refused) {
        refused = gate_.TakeAll();
      } else if (status.ok()) {
        // Held from here (validated and, ASP and SSP, applied) to release.
        const absl::Time now = options_.clock();
        gate_.Hold({header.worker_id(), header.step(), request.base_version(),
                    now, std::move(answer), slice_to, std::move(done)});
        release = ReleaseLocked(now);
      }
    }
  }
  if (!status.ok()) {
    for (ConsistencyGate::Held& held : refused) held.done(status);
    return done(status);
  }
  Finish(std::move(release));
  FinishCaptures();
}

absl::Status ParameterShard::CheckAdmissibleLocked(
    const v1::PushRequest& request) const {
  if (closed_) {
    return Refuse(absl::UnavailableError("the shard is shutting down"),
                  "closed");
  }
  if (request.base_version() > version_) {
    return Refuse(absl::InvalidArgumentError(absl::StrCat(
                      "base version ", request.base_version(),
                      " is ahead of this shard's version ", version_)),
                  "future_version");
  }
  const int32_t worker = request.header().worker_id();
  if (gate_.held(worker) >= kMaxHeldPerWorker) {
    return Refuse(absl::ResourceExhaustedError(absl::StrCat(
                      "worker ", worker, " already has ", kMaxHeldPerWorker,
                      " pushes waiting at this shard's consistency gate")),
                  "too_many_held");
  }
  return absl::OkStatus();
}

ParameterShard::Release ParameterShard::ReleaseLocked(absl::Time now) {
  Release release;
  release.answers = gate_.TakeReady(version_);
  bool slice_taken = false;
  for (ConsistencyGate::Held& held : release.answers) {
    held.answer(now - held.arrived);
    slice_taken |= held.slice_to != nullptr;
  }
  if (slice_taken) {
    EncodeFloats(params_.data(), params_.size(), &release.slice);
    ++slice_encodings_;
  }
  return release;
}

void ParameterShard::Finish(Release release) const {
  // Answers that asked for float16 or bfloat16 are encoded from the float32
  // slice first, then the float32 ones take copies of it (the last takes
  // the slice itself).
  auto takes_floats = [](const ConsistencyGate::Held& held) {
    return held.slice_to != nullptr &&
           held.slice_to->params().encoding() == v1::FLOAT32;
  };
  for (ConsistencyGate::Held& held : release.answers) {
    if (held.slice_to == nullptr || takes_floats(held)) continue;
    v1::DenseSlice* params = held.slice_to->mutable_params();
    params->set_offset(options_.range.begin);
    EncodeValues(reinterpret_cast<const float*>(release.slice.data()),
                 FloatCount(release.slice), params->encoding(),
                 params->mutable_values());
  }
  int64_t copies = std::count_if(release.answers.begin(), release.answers.end(),
                                 takes_floats);
  for (ConsistencyGate::Held& held : release.answers) {
    if (!takes_floats(held)) continue;
    v1::DenseSlice* params = held.slice_to->mutable_params();
    params->set_offset(options_.range.begin);
    if (--copies > 0) {
      params->set_values(release.slice);
    } else {
      params->set_values(std::move(release.slice));
    }
  }
  for (ConsistencyGate::Held& held : release.answers) {
    held.done(absl::OkStatus());
  }
}

void ParameterShard::Push(const v1::PushRequest& request,
                          v1::PushResponse* response, Done done) {
  if (ForwardDecompressed(
          request, options_.range.size(), &done,
          [this, response](const v1::PushRequest& plain, Done keep) {
            Push(plain, response, std::move(keep));
          })) {
    return;
  }
  Submit(
      request,
      [this, response](absl::Duration held) ABSL_NO_THREAD_SAFETY_ANALYSIS {
        if (response == nullptr) return;
        response->set_version(version_);
        response->set_held_seconds(absl::ToDoubleSeconds(held));
      },
      /*slice_to=*/nullptr, std::move(done));
}

void ParameterShard::PushPull(const v1::PushRequest& request,
                              v1::PushPullResponse* response, Done done) {
  if (ForwardDecompressed(
          request, options_.range.size(), &done,
          [this, response](const v1::PushRequest& plain, Done keep) {
            PushPull(plain, response, std::move(keep));
          })) {
    return;
  }
  Submit(
      request,
      [this, &request, response](absl::Duration held)
          ABSL_NO_THREAD_SAFETY_ANALYSIS {
            response->set_version(version_);
            response->mutable_params()->set_encoding(request.params_encoding());
            response->set_held_seconds(absl::ToDoubleSeconds(held));
            if (options_.privacy.adaptive()) {
              response->set_clip_norm(clip_norm_);
            }
            if (gate_.consistency() == v1::BSP) {
              response->mutable_step_workers()->Assign(step_workers_.begin(),
                                                       step_workers_.end());
            }
            if (!request.pull_keys().empty()) {
              ReadRowsLocked(request.pull_keys(), response->mutable_rows());
            }
          },
      response, std::move(done));
}

ShardState ParameterShard::CaptureLocked() const {
  ShardState state;
  state.version = version_;
  state.params = params_;
  state.optimizer = optimizer_->State("optimizer/");
  if (row_optimizer_ != nullptr) {
    state.row_optimizer = row_optimizer_->State("row_optimizer/");
  }
  state.keys.resize(row_of_.size());
  for (const auto& [key, row] : row_of_) state.keys[row] = key;
  state.rows = table_;
  if (gate_.consistency() != v1::BSP) state.worker_steps = worker_steps_;
  if (options_.privacy.adaptive()) state.clip_norm = clip_norm_;
  // Only configured workers: a joiner's slot starts left in every shard.
  for (int32_t w = 0; w < options_.num_workers; ++w) {
    if (gate_.left(w)) state.left.push_back(w);
  }
  return state;
}

void ParameterShard::CheckPendingLocked() {
  const int64_t every = options_.snapshot_every;
  const bool boundary =
      every > 0 && version_ > 0 && version_ % every == 0 &&
      (!snapshot_.has_value() || snapshot_->version != version_);
  if (boundary && options_.on_snapshot) options_.on_snapshot();
  if (!pending_.has_value()) {
    if (boundary) snapshot_ = CaptureLocked();
    return;
  }
  if (version_ == pending_->at_version) {
    // The capture takes the boundary's copy: it is not kept.
    if (boundary) snapshot_.reset();
    completed_.emplace_back(std::move(pending_->captured), CaptureLocked());
    pending_.reset();
    return;
  }
  if (boundary) snapshot_ = CaptureLocked();
  if (gate_.live() == 0) {
    completed_.emplace_back(
        std::move(pending_->captured),
        absl::AbortedError(absl::StrCat(
            "every worker has left; the shard stays at version ", version_,
            ", before checkpoint version ", pending_->at_version)));
    pending_.reset();
  }
}

void ParameterShard::FinishCaptures() {
  std::vector<std::pair<Captured, absl::StatusOr<ShardState>>> completed;
  {
    absl::MutexLock lock(&mu_);
    completed.swap(completed_);
  }
  for (auto& [captured, state] : completed) captured(std::move(state));
}

void ParameterShard::Capture(int64_t at_version, Captured captured,
                             int64_t* version_now) {
  absl::Status refused;
  {
    absl::MutexLock lock(&mu_);
    if (version_now != nullptr) *version_now = version_;
    if (closed_) {
      refused = absl::UnavailableError("the shard is shutting down");
    } else if (at_version == 0 || (gate_.consistency() != v1::BSP &&
                                   options_.snapshot_every == 0)) {
      completed_.emplace_back(std::move(captured), CaptureLocked());
    } else if (at_version < version_ && snapshot_.has_value() &&
               snapshot_->version == at_version) {
      completed_.emplace_back(std::move(captured), *std::move(snapshot_));
      snapshot_.reset();
    } else if (at_version < version_) {
      if (version_now != nullptr && snapshot_.has_value() &&
          snapshot_->version > at_version) {
        *version_now = snapshot_->version;
      }
      refused = absl::FailedPreconditionError(
          absl::StrCat("the shard is at version ", version_,
                       ", past checkpoint version ", at_version));
    } else {
      // A capture still pending is one its requester gave up on.
      if (pending_.has_value()) {
        completed_.emplace_back(
            std::move(pending_->captured),
            absl::AbortedError(absl::StrCat(
                "superseded by a checkpoint at version ", at_version)));
      }
      pending_ = Pending{at_version, std::move(captured)};
      CheckPendingLocked();
    }
  }
  if (!refused.ok()) return captured(refused);
  FinishCaptures();
}

absl::Status ParameterShard::Restore(ShardState state) {
  absl::MutexLock lock(&mu_);
  const int width = options_.table.row_width;
  if (state.params.size() != params_.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("the checkpoint's slice holds ", state.params.size(),
                     " parameters; this shard's range holds ", params_.size()));
  }
  if (state.rows.size() != state.keys.size() * width) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the checkpoint holds ", state.keys.size(), " sparse keys and ",
        state.rows.size(), " row values; rows here are ", width, " wide"));
  }
  absl::flat_hash_map<uint64_t, int64_t> row_of;
  for (size_t i = 0; i < state.keys.size(); ++i) {
    if (ShardOfKey(state.keys[i], options_.num_shards) != options_.shard ||
        !row_of.try_emplace(state.keys[i], static_cast<int64_t>(i)).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("sparse key ", state.keys[i],
                       " of the checkpoint is repeated or not placed on shard ",
                       options_.shard, " of ", options_.num_shards));
    }
  }
  for (int32_t w : state.left) {
    if (w < 0 || w >= options_.num_workers) {
      return absl::InvalidArgumentError(absl::StrCat(
          "the checkpoint names worker ", w, " of ", options_.num_workers));
    }
  }
  if (state.version < 0) {
    return absl::InvalidArgumentError("the checkpoint's version is negative");
  }
  // Restore into fresh optimizers first, so that a failure changes nothing.
  ASSIGN_OR_RETURN(std::unique_ptr<Optimizer> optimizer,
                   CreateOptimizer(options_.optimizer, 0));
  RETURN_IF_ERROR(optimizer->Restore(state.optimizer, "optimizer/"));
  std::unique_ptr<Optimizer> row_optimizer;
  if (row_optimizer_ != nullptr) {
    ASSIGN_OR_RETURN(row_optimizer, CreateOptimizer(options_.optimizer, 0));
    RETURN_IF_ERROR(
        row_optimizer->Restore(state.row_optimizer, "row_optimizer/"));
  }
  if (optimizer->state_bytes() > 0 &&
      optimizer->State("")[0].shape[0] !=
          static_cast<int64_t>(params_.size())) {
    return absl::InvalidArgumentError(
        "the checkpoint's optimizer state does not fit the slice");
  }
  if (row_optimizer != nullptr && row_optimizer->state_bytes() > 0 &&
      row_optimizer->State("")[0].shape[0] !=
          static_cast<int64_t>(state.rows.size())) {
    return absl::InvalidArgumentError(
        "the checkpoint's sparse-row optimizer state does not fit its rows");
  }
  params_ = std::move(state.params);
  optimizer_ = std::move(optimizer);
  if (row_optimizer != nullptr) row_optimizer_ = std::move(row_optimizer);
  row_of_ = std::move(row_of);
  table_ = std::move(state.rows);
  version_ = state.version;
  unclipped_ = 0;
  if (options_.privacy.adaptive() && state.clip_norm > 0) {
    clip_norm_ = state.clip_norm;
  }
  for (int32_t w : state.left) gate_.Leave(w);
  return absl::OkStatus();
}

absl::Status ParameterShard::WarmStart(const std::vector<float>& slice,
                                       const std::vector<uint64_t>& keys,
                                       const std::vector<float>& rows) {
  absl::MutexLock lock(&mu_);
  const int width = options_.table.row_width;
  if (slice.size() != params_.size() || rows.size() != keys.size() * width) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the warm start has ", slice.size(), " parameters and ", keys.size(),
        " rows of ",
        width > 0 ? rows.size() / std::max<size_t>(1, keys.size()) : 0,
        "; this shard holds ", params_.size(), " parameters, rows of ", width));
  }
  params_ = slice;
  for (size_t i = 0; i < keys.size(); ++i) {
    if (ShardOfKey(keys[i], options_.num_shards) != options_.shard) continue;
    auto [it, created] =
        row_of_.try_emplace(keys[i], static_cast<int64_t>(row_of_.size()));
    if (created) {
      table_.resize(table_.size() + width);
      row_optimizer_->Grow(static_cast<int64_t>(table_.size()));
    }
    std::copy_n(rows.begin() + i * width, width,
                table_.begin() + it->second * width);
  }
  return absl::OkStatus();
}

void ParameterShard::Close() {
  std::vector<ConsistencyGate::Held> held;
  {
    absl::MutexLock lock(&mu_);
    closed_ = true;
    held = gate_.TakeAll();
    if (pending_.has_value()) {
      completed_.emplace_back(
          std::move(pending_->captured),
          absl::UnavailableError("the shard is shutting down"));
      pending_.reset();
    }
  }
  FinishCaptures();
  for (ConsistencyGate::Held& h : held) {
    h.done(
        Refuse(absl::UnavailableError("the shard is shutting down"), "closed"));
  }
  if (secure_ != nullptr) secure_->Close();
}

absl::Status ParameterShard::Pull(const v1::PullRequest& request,
                                  v1::PullResponse* response) {
  uint64_t begin, length;
  RETURN_IF_ERROR(ValidatePull(request, &begin, &length));
  const IndexRange& r = options_.range;
  absl::MutexLock lock(&mu_);
  response->set_version(version_);
  if (options_.privacy.adaptive()) response->set_clip_norm(clip_norm_);
  response->mutable_params()->set_offset(begin);
  response->mutable_params()->set_encoding(request.params_encoding());
  EncodeValues(params_.data() + (begin - r.begin), length,
               request.params_encoding(),
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

int64_t ParameterShard::slice_encodings() const {
  absl::MutexLock lock(&mu_);
  return slice_encodings_;
}

std::vector<float> ParameterShard::Snapshot() const {
  absl::MutexLock lock(&mu_);
  return params_;
}

}  // namespace descent
