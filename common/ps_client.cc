#include "common/ps_client.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <iterator>
#include <numeric>
#include <random>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/backoff.h"
#include "common/partition.h"
#include "common/status_macros.h"
#include "common/value_codec.h"
#include "common/wire.h"
#include "glog/logging.h"

namespace descent {
namespace {

bool Retryable(const absl::Status& status) {
  return absl::IsUnavailable(status) || absl::IsDeadlineExceeded(status);
}

absl::Status CheckTiling(const std::vector<v1::ShardInfo>& shards) {
  if (shards.empty()) return absl::InvalidArgumentError("no shards");
  uint64_t expected = 0;
  for (const v1::ShardInfo& s : shards) {
    if (s.begin() != expected || s.end() < s.begin() || s.address().empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("shard map is not contiguous at shard ", s.shard(),
                       ": [", s.begin(), ", ", s.end(), ") at \"", s.address(),
                       "\", expected begin ", expected));
    }
    expected = s.end();
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<PsClient>> PsClient::Create(Options options) {
  RETURN_IF_ERROR(CheckTiling(options.shards));
  if (options.connect == nullptr) {
    return absl::InvalidArgumentError("PsClient: no transport factory");
  }
  if (ValueBytes(options.encoding) == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "PsClient: unknown encoding ", static_cast<int>(options.encoding)));
  }
  if (!(options.top_k_fraction >= 0 && options.top_k_fraction < 1)) {
    return absl::InvalidArgumentError(
        absl::StrCat("PsClient: top_k_fraction must be in [0, 1), got ",
                     options.top_k_fraction));
  }
  std::vector<std::unique_ptr<ShardTransport>> transports;
  for (const v1::ShardInfo& shard : options.shards) {
    ASSIGN_OR_RETURN(std::unique_ptr<ShardTransport> transport,
                     options.connect(shard));
    transports.push_back(std::move(transport));
  }
  return std::unique_ptr<PsClient>(
      new PsClient(std::move(options), std::move(transports)));
}

PsClient::PsClient(Options options,
                   std::vector<std::unique_ptr<ShardTransport>> transports)
    : options_(std::move(options)),
      num_parameters_(options_.shards.back().end()),
      transports_(std::move(transports)),
      next_request_id_(std::random_device{}() * uint64_t{0x9E3779B97F4A7C15}),
      versions_(options_.shards.size(), 0),
      push_requests_(options_.shards.size()),
      push_responses_(options_.shards.size()),
      pull_requests_(options_.shards.size()),
      pull_responses_(options_.shards.size()),
      push_positions_(options_.shards.size()),
      pull_positions_(options_.shards.size()),
      all_shards_(options_.shards.size()),
      results_(options_.shards.size()) {
  std::iota(all_shards_.begin(), all_shards_.end(), 0);
  if (options_.top_k_fraction > 0) residual_.assign(num_parameters_, 0.0f);
}

void PsClient::FillHeader(int64_t step, v1::RequestHeader* header) {
  header->set_job_id(options_.job_id);  // reuses the string's capacity
  header->set_worker_id(options_.worker_id);
  header->set_incarnation(options_.incarnation);
  header->set_step(step);
  header->set_request_id(next_request_id_++);
}

void PsClient::StartRound(const std::vector<int>& shards,
                          const StartCall& start) {
  {
    absl::MutexLock lock(&round_mu_);
    round_shards_ = shards;
    outstanding_ = shards.size();
  }
  for (int shard : shards) {
    start(shard, [this, shard](absl::Status status) {
      absl::MutexLock lock(&round_mu_);
      results_[shard] = std::move(status);
      last_answer_ = absl::Now();
      --outstanding_;
    });
  }
}

void PsClient::AwaitRound() {
  absl::MutexLock lock(&round_mu_);
  round_mu_.Await(absl::Condition(
      +[](size_t* n) { return *n == 0; }, &outstanding_));
}

absl::Status PsClient::FinishCalls(const StartCall& start) {
  for (int attempt = 1;; ++attempt) {
    AwaitRound();
    std::vector<int> retry;
    {
      absl::MutexLock lock(&round_mu_);
      for (int shard : round_shards_) {
        const absl::Status& result = results_[shard];
        if (result.ok()) continue;
        if (!Retryable(result) || attempt >= options_.max_attempts) {
          return absl::Status(result.code(),
                              absl::StrCat("shard ", shard, " at ",
                                           options_.shards[shard].address(),
                                           ": ", result.message()));
        }
        retry.push_back(shard);
      }
    }
    if (retry.empty()) return absl::OkStatus();
    absl::SleepFor(Backoff(options_.retry_backoff, attempt, absl::Seconds(2)));
    StartRound(retry, start);
  }
}

absl::Status PsClient::SecureAggregation(
    int64_t round, std::vector<v1::SecureAggregationRequest>* requests,
    std::vector<v1::SecureAggregationResponse>* responses, Transfer* transfer) {
  const absl::Time start = absl::Now();
  responses->resize(transports_.size());
  for (size_t s = 0; s < transports_.size(); ++s) {
    FillHeader(round, (*requests)[s].mutable_header());
    transfer->bytes_sent += static_cast<int64_t>((*requests)[s].ByteSizeLong());
  }
  const StartCall start_call = [&](int s, ShardTransport::Done done) {
    (*responses)[s].Clear();
    transports_[s]->SecureAggregation((*requests)[s], &(*responses)[s],
                                      options_.deadline, std::move(done));
  };
  StartRound(all_shards_, start_call);
  RETURN_IF_ERROR(FinishCalls(start_call));
  for (const v1::SecureAggregationResponse& response : *responses) {
    transfer->bytes_received += static_cast<int64_t>(response.ByteSizeLong());
  }
  transfer->seconds += absl::ToDoubleSeconds(absl::Now() - start);
  return absl::OkStatus();
}

absl::Status PsClient::Unpack(int shard, const v1::DenseSlice& slice,
                              float* params) {
  const v1::ShardInfo& info = options_.shards[shard];
  const int width = ValueBytes(slice.encoding());
  const int64_t n = info.end() - info.begin();
  if (slice.offset() != info.begin() || width == 0 ||
      slice.values().size() != static_cast<uint64_t>(n) * width) {
    return absl::InternalError(absl::StrCat(
        "shard ", shard, " answered ", slice.values().size(), " bytes of ",
        v1::ValueEncoding_Name(slice.encoding()), " at offset ", slice.offset(),
        ", expected [", info.begin(), ", ", info.end(), ")"));
  }
  DecodeValues(slice.values().data(), n, slice.encoding(),
               params + info.begin());
  return absl::OkStatus();
}

void PsClient::SplitKeys(const std::vector<uint64_t>& keys,
                         std::vector<std::vector<int64_t>>* positions) const {
  for (std::vector<int64_t>& shard : *positions) shard.clear();
  const int shards = static_cast<int>(transports_.size());
  for (size_t i = 0; i < keys.size(); ++i) {
    (*positions)[ShardOfKey(keys[i], shards)].push_back(
        static_cast<int64_t>(i));
  }
}

absl::Status PsClient::UnpackRows(int shard, const v1::SparseRows& answer,
                                  const Rows& rows) {
  const std::vector<int64_t>& positions = pull_positions_[shard];
  const int64_t width = rows.width;
  if (answer.keys_size() != static_cast<int>(positions.size()) ||
      FloatCount(answer.values()) !=
          static_cast<int64_t>(positions.size()) * width) {
    return absl::InternalError(
        absl::StrCat("shard ", shard, " answered ", answer.keys_size(),
                     " rows in ", answer.values().size(), " bytes, expected ",
                     positions.size(), " rows of width ", width));
  }
  const auto* values = reinterpret_cast<const float*>(answer.values().data());
  for (size_t j = 0; j < positions.size(); ++j) {
    std::copy(values + j * width, values + (j + 1) * width,
              rows.pulled + positions[j] * width);
  }
  return absl::OkStatus();
}

absl::Status PsClient::Pull(int64_t step, float* params, Transfer* transfer,
                            const Rows* rows) {
  if (rows != nullptr) SplitKeys(*rows->pull_keys, &pull_positions_);
  for (size_t s = 0; s < transports_.size(); ++s) {
    v1::PullRequest& request = pull_requests_[s];
    FillHeader(step, request.mutable_header());
    request.set_offset(options_.shards[s].begin());
    request.set_length(options_.shards[s].end() - options_.shards[s].begin());
    request.set_params_encoding(options_.encoding);
    request.clear_keys();
    if (rows == nullptr) continue;
    for (int64_t i : pull_positions_[s])
      request.add_keys((*rows->pull_keys)[i]);
  }
  const StartCall start = [this](int s, ShardTransport::Done done) {
    transports_[s]->Pull(pull_requests_[s], &pull_responses_[s],
                         options_.deadline, std::move(done));
  };
  StartRound(all_shards_, start);
  RETURN_IF_ERROR(FinishCalls(start));
  for (size_t s = 0; s < transports_.size(); ++s) {
    RETURN_IF_ERROR(Unpack(s, pull_responses_[s].params(), params));
    versions_[s] = pull_responses_[s].version();
    transfer->clip_norm =
        std::max(transfer->clip_norm, pull_responses_[s].clip_norm());
    if (rows != nullptr) {
      RETURN_IF_ERROR(UnpackRows(s, pull_responses_[s].rows(), *rows));
    }
    transfer->bytes_received += pull_responses_[s].params().values().size() +
                                pull_responses_[s].rows().values().size();
  }
  return absl::OkStatus();
}

absl::Status PsClient::PushPull(const Step& step, const float* grad,
                                float* params, Transfer* transfer,
                                const Rows* rows) {
  StartPushPull(step, grad, params, rows);
  return AwaitPushPull(transfer);
}

void PsClient::FillPushRequests(const Step& step, const float* grad,
                                const Rows* rows) {
  push_bytes_sent_ = 0;
  if (rows != nullptr) {
    SplitKeys(*rows->push_keys, &push_positions_);
    SplitKeys(*rows->pull_keys, &pull_positions_);
  }
  for (size_t s = 0; s < transports_.size(); ++s) {
    v1::PushRequest& request = push_requests_[s];
    FillHeader(step.step, request.mutable_header());
    request.set_base_version(versions_[s]);
    request.set_examples(step.examples);
    request.set_last(step.last);
    request.set_params_encoding(options_.encoding);
    request.set_empty(step.empty);
    request.set_unclipped(step.unclipped);
    request.set_clients(step.clients);
    if (step.empty) {
      request.mutable_gradient()->Clear();
    } else if (step.clients > 0) {
      EncodeClientUpdates(s, step.clients, grad, request.mutable_gradient());
    } else {
      EncodeGradient(s, grad, request.mutable_gradient());
    }
    push_bytes_sent_ += request.gradient().values().size() +
                        request.gradient().indices().size();
    v1::SparseRows* row_grads = request.mutable_row_gradients();
    row_grads->clear_keys();
    row_grads->clear_values();
    request.clear_pull_keys();
    if (rows == nullptr) continue;
    row_grads->set_width(rows->width);
    std::string* values = row_grads->mutable_values();
    values->resize(push_positions_[s].size() * rows->width * sizeof(float));
    auto* out = reinterpret_cast<float*>(values->data());
    for (int64_t i : push_positions_[s]) {
      row_grads->add_keys((*rows->push_keys)[i]);
      out = std::copy(rows->push_grads + i * rows->width,
                      rows->push_grads + (i + 1) * rows->width, out);
    }
    for (int64_t i : pull_positions_[s]) {
      request.add_pull_keys((*rows->pull_keys)[i]);
    }
    push_bytes_sent_ += values->size();
  }
}

void PsClient::EncodeGradient(int shard, const float* grad,
                              v1::DenseSlice* slice) {
  const v1::ShardInfo& info = options_.shards[shard];
  const int64_t n = info.end() - info.begin();
  slice->set_offset(info.begin());
  slice->set_encoding(options_.encoding);
  if (options_.top_k_fraction <= 0) {
    EncodeValues(grad + info.begin(), n, options_.encoding,
                 slice->mutable_values());
    return;
  }
  // Error feedback: send the largest of gradient + residual, keep the rest
  // (and what rounding to the encoding loses) for the next push.
  float* residual = residual_.data() + info.begin();
  const float* g = grad + info.begin();
  for (int64_t i = 0; i < n; ++i) residual[i] += g[i];
  const int64_t k = std::max<int64_t>(
      1, static_cast<int64_t>(std::ceil(options_.top_k_fraction * n)));
  TopK(residual, n, k, &top_positions_, &top_scratch_);
  top_values_.resize(top_positions_.size());
  for (size_t j = 0; j < top_positions_.size(); ++j) {
    top_values_[j] = residual[top_positions_[j]];
  }
  RoundValues(top_values_.data(), top_values_.size(), options_.encoding);
  for (size_t j = 0; j < top_positions_.size(); ++j) {
    residual[top_positions_[j]] -= top_values_[j];
  }
  EncodeValues(top_values_.data(), top_values_.size(), options_.encoding,
               slice->mutable_values());
  slice->mutable_indices()->assign(
      reinterpret_cast<const char*>(top_positions_.data()),
      top_positions_.size() * sizeof(uint32_t));
  slice->set_length(n);
}

void PsClient::EncodeClientUpdates(int shard, int clients, const float* grad,
                                   v1::DenseSlice* slice) {
  const v1::ShardInfo& info = options_.shards[shard];
  const int64_t n = info.end() - info.begin();
  slice->set_offset(info.begin());
  slice->set_encoding(v1::FLOAT32);
  std::string* bytes = slice->mutable_values();
  bytes->resize(static_cast<size_t>(clients) * n * sizeof(float));
  for (int c = 0; c < clients; ++c) {
    std::memcpy(bytes->data() + static_cast<size_t>(c) * n * sizeof(float),
                grad + static_cast<int64_t>(c) * num_parameters_ + info.begin(),
                n * sizeof(float));
  }
}

void PsClient::StartPush(int s, ShardTransport::Done done) {
  transports_[s]->PushPull(push_requests_[s], &push_responses_[s],
                           options_.deadline, std::move(done));
}

void PsClient::StartPushPull(const Step& step, const float* grad, float* params,
                             const Rows* rows) {
  CHECK(push_params_ == nullptr) << "StartPushPull twice without an Await";
  push_start_ = absl::Now();
  FillPushRequests(step, grad, rows);
  push_params_ = params;
  push_rows_ = rows;
  StartRound(all_shards_, [this](int s, ShardTransport::Done done) {
    StartPush(s, std::move(done));
  });
}

absl::Status PsClient::AwaitPushPull(Transfer* transfer) {
  CHECK(push_params_ != nullptr) << "AwaitPushPull without a StartPushPull";
  float* const params = push_params_;
  const Rows* const rows = push_rows_;
  push_params_ = nullptr;
  push_rows_ = nullptr;
  transfer->bytes_sent += push_bytes_sent_;
  RETURN_IF_ERROR(FinishCalls([this](int s, ShardTransport::Done done) {
    StartPush(s, std::move(done));
  }));
  {
    absl::MutexLock lock(&round_mu_);
    transfer->seconds = absl::ToDoubleSeconds(last_answer_ - push_start_);
  }
  for (size_t s = 0; s < transports_.size(); ++s) {
    RETURN_IF_ERROR(Unpack(s, push_responses_[s].params(), params));
    versions_[s] = push_responses_[s].version();
    // Empty: all of them, nothing to intersect (a step always holds its
    // caller's push, so a listed set is never empty).
    const auto& workers = push_responses_[s].step_workers();
    if (!workers.empty() && transfer->step_workers.empty()) {
      transfer->step_workers.assign(workers.begin(), workers.end());
    } else if (!workers.empty()) {
      std::vector<int32_t> both;
      std::set_intersection(transfer->step_workers.begin(),
                            transfer->step_workers.end(), workers.begin(),
                            workers.end(), std::back_inserter(both));
      transfer->step_workers = std::move(both);
    }
    transfer->held_seconds =
        std::max(transfer->held_seconds, push_responses_[s].held_seconds());
    transfer->clip_norm =
        std::max(transfer->clip_norm, push_responses_[s].clip_norm());
    if (rows != nullptr) {
      RETURN_IF_ERROR(UnpackRows(s, push_responses_[s].rows(), *rows));
    }
    transfer->bytes_received += push_responses_[s].params().values().size() +
                                push_responses_[s].rows().values().size();
  }
  return absl::OkStatus();
}

}  // namespace descent
