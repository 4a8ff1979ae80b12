#include "common/ps_client.h"

#include <algorithm>
#include <random>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/partition.h"
#include "common/rpc.h"
#include "common/status_macros.h"
#include "common/wire.h"

namespace descent {
namespace {

bool Retryable(const grpc::Status& status) {
  return status.error_code() == grpc::StatusCode::UNAVAILABLE ||
         status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED;
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
  absl::Status tiling = CheckTiling(options.shards);
  if (!tiling.ok()) return tiling;
  return std::unique_ptr<PsClient>(new PsClient(std::move(options)));
}

PsClient::PsClient(Options options)
    : options_(std::move(options)),
      num_parameters_(options_.shards.back().end()),
      next_request_id_(std::random_device{}() * uint64_t{0x9E3779B97F4A7C15}),
      versions_(options_.shards.size(), 0),
      push_requests_(options_.shards.size()),
      push_responses_(options_.shards.size()),
      pull_requests_(options_.shards.size()),
      pull_responses_(options_.shards.size()),
      push_positions_(options_.shards.size()),
      pull_positions_(options_.shards.size()) {
  for (const v1::ShardInfo& shard : options_.shards) {
    stubs_.push_back(
        v1::ParameterServer::NewStub(MakeChannel(shard.address())));
  }
}

void PsClient::FillHeader(int64_t step, v1::RequestHeader* header) {
  header->set_job_id(options_.job_id);  // reuses the string's capacity
  header->set_worker_id(options_.worker_id);
  header->set_step(step);
  header->set_request_id(next_request_id_++);
}

void PsClient::RunRound(const std::vector<int>& shards, const StartCall& start,
                        std::vector<grpc::Status>* results) {
  absl::Mutex mu;
  size_t outstanding = shards.size();
  std::vector<std::unique_ptr<grpc::ClientContext>> contexts;
  for (int shard : shards) {
    contexts.push_back(std::make_unique<grpc::ClientContext>());
    SetDeadline(contexts.back().get(), options_.deadline);
    start(shard, contexts.back().get(), [&, shard](grpc::Status status) {
      absl::MutexLock lock(&mu);
      (*results)[shard] = std::move(status);
      --outstanding;
    });
  }
  absl::MutexLock lock(&mu);
  mu.Await(absl::Condition(
      +[](size_t* n) { return *n == 0; }, &outstanding));
}

absl::Status PsClient::CallAllShards(const StartCall& start) {
  std::vector<int> pending;
  for (size_t i = 0; i < stubs_.size(); ++i) pending.push_back(i);
  std::vector<grpc::Status> results(stubs_.size());
  for (int attempt = 1; !pending.empty(); ++attempt) {
    if (attempt > 1) absl::SleepFor(absl::Milliseconds(50) * (attempt - 1));
    RunRound(pending, start, &results);
    std::vector<int> retry;
    for (int shard : pending) {
      if (results[shard].ok()) continue;
      if (!Retryable(results[shard]) || attempt >= options_.max_attempts) {
        absl::Status error = FromGrpcStatus(results[shard]);
        return absl::Status(error.code(),
                            absl::StrCat("shard ", shard, " at ",
                                         options_.shards[shard].address(), ": ",
                                         error.message()));
      }
      retry.push_back(shard);
    }
    pending = std::move(retry);
  }
  return absl::OkStatus();
}

absl::Status PsClient::Unpack(int shard, const v1::DenseSlice& slice,
                              float* params) {
  const v1::ShardInfo& info = options_.shards[shard];
  if (slice.offset() != info.begin() ||
      FloatCount(slice.values()) !=
          static_cast<int64_t>(info.end() - info.begin())) {
    return absl::InternalError(
        absl::StrCat("shard ", shard, " answered ", slice.values().size(),
                     " bytes at offset ", slice.offset(), ", expected [",
                     info.begin(), ", ", info.end(), ")"));
  }
  DecodeFloats(slice.values(), params + info.begin());
  return absl::OkStatus();
}

void PsClient::SplitKeys(const std::vector<uint64_t>& keys,
                         std::vector<std::vector<int64_t>>* positions) const {
  for (std::vector<int64_t>& shard : *positions) shard.clear();
  const int shards = static_cast<int>(stubs_.size());
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
  for (size_t s = 0; s < stubs_.size(); ++s) {
    v1::PullRequest& request = pull_requests_[s];
    FillHeader(step, request.mutable_header());
    request.set_offset(options_.shards[s].begin());
    request.set_length(options_.shards[s].end() - options_.shards[s].begin());
    request.clear_keys();
    if (rows == nullptr) continue;
    for (int64_t i : pull_positions_[s])
      request.add_keys((*rows->pull_keys)[i]);
  }
  absl::Status status =
      CallAllShards([&](int s, grpc::ClientContext* context,
                        std::function<void(grpc::Status)> done) {
        stubs_[s]->async()->Pull(context, &pull_requests_[s],
                                 &pull_responses_[s], std::move(done));
      });
  if (!status.ok()) return status;
  for (size_t s = 0; s < stubs_.size(); ++s) {
    RETURN_IF_ERROR(Unpack(s, pull_responses_[s].params(), params));
    versions_[s] = pull_responses_[s].version();
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
  if (rows != nullptr) {
    SplitKeys(*rows->push_keys, &push_positions_);
    SplitKeys(*rows->pull_keys, &pull_positions_);
  }
  for (size_t s = 0; s < stubs_.size(); ++s) {
    const v1::ShardInfo& info = options_.shards[s];
    v1::PushRequest& request = push_requests_[s];
    FillHeader(step.step, request.mutable_header());
    request.set_base_version(versions_[s]);
    request.set_examples(step.examples);
    request.set_last(step.last);
    request.mutable_gradient()->set_offset(info.begin());
    EncodeFloats(grad + info.begin(), info.end() - info.begin(),
                 request.mutable_gradient()->mutable_values());
    transfer->bytes_sent += request.gradient().values().size();
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
    transfer->bytes_sent += values->size();
  }
  absl::Status status =
      CallAllShards([&](int s, grpc::ClientContext* context,
                        std::function<void(grpc::Status)> done) {
        stubs_[s]->async()->PushPull(context, &push_requests_[s],
                                     &push_responses_[s], std::move(done));
      });
  if (!status.ok()) return status;
  for (size_t s = 0; s < stubs_.size(); ++s) {
    RETURN_IF_ERROR(Unpack(s, push_responses_[s].params(), params));
    versions_[s] = push_responses_[s].version();
    transfer->held_seconds =
        std::max(transfer->held_seconds, push_responses_[s].held_seconds());
    if (rows != nullptr) {
      RETURN_IF_ERROR(UnpackRows(s, push_responses_[s].rows(), *rows));
    }
    transfer->bytes_received += push_responses_[s].params().values().size() +
                                push_responses_[s].rows().values().size();
  }
  return absl::OkStatus();
}

}  // namespace descent
