// PsClient: one process's connection to every shard of a job's parameter
// servers. It splits the flat parameter vector by the shard map, talks to
// all shards in parallel through their ShardTransports (common/transport.h:
// gRPC in a cluster, direct calls in tests) and reassembles their answers.
//
// Every call has a deadline. Calls that fail with UNAVAILABLE or
// DEADLINE_EXCEEDED are retried (same request id, so a shard applies a
// retried push at most once) up to max_attempts, with jittered exponential
// backoff; other errors are returned
// as they are. On error, `params` may hold a mix of old and new slices.
//
// PushPull also comes in two halves: StartPushPull sends and returns at
// once, AwaitPushPull waits for the answers (retrying as above) and fills
// the parameters. A worker computes its next gradient in between.
// Not thread-safe: one training loop uses one client, one call at a time.
#ifndef DESCENT_COMMON_PS_CLIENT_H_
#define DESCENT_COMMON_PS_CLIENT_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/transport.h"
#include "descent/v1/coordinator.pb.h"
#include "descent/v1/ps.pb.h"

namespace descent {

class PsClient {
 public:
  struct Options {
    std::string job_id;
    // The caller's id in request headers (-1 for the coordinator).
    int32_t worker_id = 0;
    // RegisterWorkerResponse.incarnation, sent in every request header.
    int32_t incarnation = 0;
    // In shard order; must tile [0, P) without gaps.
    std::vector<v1::ShardInfo> shards;
    // Makes each shard's transport (GrpcShardTransport::Factory() in a
    // cluster); required.
    ShardTransportFactory connect;
    absl::Duration deadline = absl::Seconds(10);
    int max_attempts = 3;
    // Wait before the k-th retry: this times 2^(k-1), at most 2 s, with
    // jitter (common/backoff.h).
    absl::Duration retry_backoff = absl::Milliseconds(50);
    // Compressed communication (train.communication): the element type of
    // dense gradients pushed and parameters received, and top-k
    // sparsification with error feedback of each shard's dense gradient
    // slice (0: off; else in (0, 1)). The residual of what top-k did not
    // send (and of its rounding) is kept here and added to the next push.
    v1::ValueEncoding encoding = v1::FLOAT32;
    double top_k_fraction = 0;
  };

  // Payload bytes moved by one call, and how long it waited, for metrics.
  struct Transfer {
    int64_t bytes_sent = 0;
    int64_t bytes_received = 0;
    // PushPull: the longest any shard's consistency gate held its answer
    // (the responses' held_seconds); 0 for Pull.
    double held_seconds = 0;
    // PushPull: from the start of the call until the last shard answered,
    // retries included (not the time the caller spent before awaiting).
    double seconds = 0;
    // PushPull under BSP: the configured workers whose pushes every shard's
    // step applied, ascending, if some shard's step lacked one; empty when
    // every shard's step had them all (PushPullResponse.step_workers).
    std::vector<int32_t> step_workers;
    // Federated jobs with adaptive clipping: the clip norm the shards
    // answered with (PullResponse and PushPullResponse clip_norm; the
    // largest, and they agree), 0 without.
    float clip_norm = 0;
  };

  // Sparse-table rows moved in the same call as the dense parameters.
  // Keys are sorted and unique; the client sends each to the shard
  // ShardOfKey places it on and puts the answers back in key order.
  struct Rows {
    int width = 0;
    // PushPull: row gradients, push_keys[i]'s at push_grads[i * width].
    const std::vector<uint64_t>* push_keys = nullptr;
    const float* push_grads = nullptr;
    // Rows to fetch (after the push, for PushPull): pull_keys[i]'s row lands
    // at pulled[i * width].
    const std::vector<uint64_t>* pull_keys = nullptr;
    float* pulled = nullptr;
  };

  // What a push says about the step it comes from.
  struct Step {
    int64_t step = 0;   // the worker's clock
    int examples = 0;   // batch size, BSP's weight
    bool last = false;  // the worker's final push
    // BSP: nothing to contribute (PushRequest.empty): `grad` is not read.
    bool empty = false;
    // Federated adaptive clipping: PushRequest.unclipped.
    int unclipped = 0;
    // Federated robust aggregation: `grad` holds this many updates of P
    // floats back to back (PushRequest.clients); 0: one.
    int clients = 0;
  };

  // INVALID_ARGUMENT if the shard map does not tile [0, P) or there is no
  // `connect`; the factory's error if a transport cannot be made.
  static absl::StatusOr<std::unique_ptr<PsClient>> Create(Options options);

  int64_t num_parameters() const { return num_parameters_; }
  // The shard map, in shard order.
  const std::vector<v1::ShardInfo>& shards() const { return options_.shards; }
  // Per shard: the version (updates applied) of the parameters received
  // last, by Pull or PushPull; 0 before any.
  const std::vector<int64_t>& versions() const { return versions_; }

  // Fills params[0, P) with every shard's slice, and, if `rows` is not
  // null, rows->pulled with the rows of rows->pull_keys.
  absl::Status Pull(int64_t step, float* params, Transfer* transfer,
                    const Rows* rows = nullptr);

  // Sends grad[0, P) to the shards, split by range (and, if `rows` is not
  // null, the row gradients), and fills params[0, P) (and rows->pulled)
  // as they stand when each shard's consistency gate answers. Each shard's
  // request carries, as its base version, the version of that shard's
  // parameters the client received last.
  absl::Status PushPull(const Step& step, const float* grad, float* params,
                        Transfer* transfer, const Rows* rows = nullptr);

  // PushPull in two halves. StartPushPull encodes grad (and the row
  // gradients) into the requests and sends them; `grad` and rows->push_grads
  // may be reused as soon as it returns, while `params`, `rows` and
  // rows->pulled must stay alive until AwaitPushPull, which waits for every
  // shard, retries, fills them, and returns PushPull's status. Every
  // StartPushPull must be followed by one AwaitPushPull before any other
  // call.
  void StartPushPull(const Step& step, const float* grad, float* params,
                     const Rows* rows = nullptr);
  absl::Status AwaitPushPull(Transfer* transfer);
  // Secure aggregation: sends (*requests)[s] to shard s, every shard at
  // once, each header filled here (step: `round`), retried as above;
  // fills (*responses)[s]. Counts the messages' bytes in *transfer.
  absl::Status SecureAggregation(
      int64_t round, std::vector<v1::SecureAggregationRequest>* requests,
      std::vector<v1::SecureAggregationResponse>* responses,
      Transfer* transfer);

  // True between StartPushPull and AwaitPushPull.
  bool push_in_flight() const { return push_params_ != nullptr; }

 private:
  // Starts the call to `shard`; `done` must run when it ends.
  using StartCall = std::function<void(int shard, ShardTransport::Done done)>;

  PsClient(Options options,
           std::vector<std::unique_ptr<ShardTransport>> transports);

  // Writes the next request header in place (no allocation once warm).
  void FillHeader(int64_t step, v1::RequestHeader* header);
  // Starts the calls to `shards` at once; AwaitRound waits for them.
  void StartRound(const std::vector<int>& shards, const StartCall& start);
  void AwaitRound();
  // Waits for the round started last and retries as documented until
  // every shard has answered or one has failed for good.
  absl::Status FinishCalls(const StartCall& start);
  // Encodes the PushPull requests.
  void FillPushRequests(const Step& step, const float* grad, const Rows* rows);
  // The PushPull call to shard s.
  void StartPush(int shard, ShardTransport::Done done);
  // Writes shard `shard`'s dense gradient slice (s's range of grad) into
  // `slice`: in the configured encoding, and top-k with error feedback.
  void EncodeGradient(int shard, const float* grad, v1::DenseSlice* slice);
  // The shard's slice of each of `clients` updates of P floats at `grad`,
  // back to back, in float32.
  void EncodeClientUpdates(int shard, int clients, const float* grad,
                           v1::DenseSlice* slice);
  // Copies a shard's answer into params after checking it matches the map.
  absl::Status Unpack(int shard, const v1::DenseSlice& slice, float* params);
  // Sets positions[s] to the indices of the keys ShardOfKey places on s.
  void SplitKeys(const std::vector<uint64_t>& keys,
                 std::vector<std::vector<int64_t>>* positions) const;
  // Copies shard `shard`'s answer rows into rows.pulled.
  absl::Status UnpackRows(int shard, const v1::SparseRows& answer,
                          const Rows& rows);

  const Options options_;
  const int64_t num_parameters_;
  const std::vector<std::unique_ptr<ShardTransport>> transports_;
  uint64_t next_request_id_;
  // Per shard: the version of the parameters received last.
  std::vector<int64_t> versions_;
  // Per-shard request and response buffers, reused across steps.
  std::vector<v1::PushRequest> push_requests_;
  std::vector<v1::PushPullResponse> push_responses_;
  std::vector<v1::PullRequest> pull_requests_;
  std::vector<v1::PullResponse> pull_responses_;
  // Per shard: positions of its keys in the caller's push and pull keys.
  std::vector<std::vector<int64_t>> push_positions_;
  std::vector<std::vector<int64_t>> pull_positions_;
  // The PushPull in flight: where its answers go (null when none).
  float* push_params_ = nullptr;
  const Rows* push_rows_ = nullptr;
  int64_t push_bytes_sent_ = 0;
  absl::Time push_start_;

  // Top-k: what has not been sent yet, P floats; the positions and values
  // sent for one shard, and TopK's scratch.
  std::vector<float> residual_;
  std::vector<uint32_t> top_positions_;
  std::vector<float> top_values_;
  std::vector<float> top_scratch_;

  // 0 .. S-1: the shards every first round calls (no allocation per step).
  std::vector<int> all_shards_;

  // The round of calls in flight: shards still to answer, and per shard
  // the outcome of its last call.
  absl::Mutex round_mu_;
  std::vector<int> round_shards_ ABSL_GUARDED_BY(round_mu_);
  size_t outstanding_ ABSL_GUARDED_BY(round_mu_) = 0;
  std::vector<absl::Status> results_ ABSL_GUARDED_BY(round_mu_);
  absl::Time last_answer_ ABSL_GUARDED_BY(round_mu_);
};

}  // namespace descent

#endif  // DESCENT_COMMON_PS_CLIENT_H_
