// ParameterShard: one contiguous slice [begin, end) of a job's flat dense
// parameter vector, the optimizer state of that slice, and the consistency
// gate that decides when a pushed gradient is applied. For sparse models it
// also holds its part of the sparse table: the rows of the keys that
// ShardOfKey places here, each created on its first push from the table's
// deterministic initial value (a pull of a row never pushed reads that
// value and stores nothing).
//
// Transport-neutral: it speaks protobuf messages and absl::Status, and the
// gRPC adapter (server/rpc/parameter_server_service.h) converts at the edge.
//
// Every request is validated before it touches state; an invalid one gets
// INVALID_ARGUMENT (malformed: bad slice, out of range, non-finite values,
// negative step) or FAILED_PRECONDITION (wrong job id, unknown worker) and
// leaves parameters, optimizer state and version unchanged. A push whose
// (worker id, request id) was seen recently is not applied again; it is
// answered as if it had been (with the current parameters).
//
// Thread-safe.
#ifndef DESCENT_SERVER_PARAMETER_SHARD_H_
#define DESCENT_SERVER_PARAMETER_SHARD_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "common/model/param_layout.h"
#include "common/model/sparse_model.h"
#include "common/optim/optimizer.h"
#include "common/partition.h"
#include "descent/v1/ps.pb.h"
#include "server/recent_request_ids.h"

namespace descent {

struct ParameterShardOptions {
  std::string job_id;
  // Requests from worker ids outside [0, num_workers) are refused.
  int32_t num_workers = 1;
  // The slice of the flat parameter vector this shard owns.
  IndexRange range;
  // Initial values come from layout.Initialize(seed, range...).
  ParamLayout layout;
  uint64_t seed = 1;
  v1::OptimizerConfig optimizer;
  // This shard's index among num_shards (for key placement), and the
  // sparse table's rows (row_width 0: the model has no table, and requests
  // that name keys are refused).
  int shard = 0;
  int num_shards = 1;
  SparseTableSpec table;
};

// Id the coordinator uses in request headers; it may pull, never push.
inline constexpr int32_t kCoordinatorWorkerId = -1;

class ParameterShard {
 public:
  // Called exactly once with the outcome of a push; possibly later and on
  // another thread, when the consistency gate lets the push through.
  using Done = std::function<void(absl::Status)>;

  // INVALID_ARGUMENT if the options are inconsistent (range outside the
  // layout, no optimizer).
  static absl::StatusOr<std::unique_ptr<ParameterShard>> Create(
      ParameterShardOptions options);

  // Applies the gradient in `request` once the gate admits it, fills
  // `response` (if not null) with the shard's version and then calls `done`.
  // The gate is asynchronous (ASP): a valid push is applied before
  // Push returns.
  void Push(const v1::PushRequest& request, v1::PushResponse* response,
            Done done);

  // As Push, and `response` also receives the shard's whole slice as it is
  // right after this push was applied.
  void PushPull(const v1::PushRequest& request, v1::PushPullResponse* response,
                Done done);

  // Copies the requested part of the slice into `response`. On error
  // leaves `response` unchanged.
  absl::Status Pull(const v1::PullRequest& request, v1::PullResponse* response);

  IndexRange range() const { return options_.range; }
  int64_t version() const;

  // A copy of the whole slice, for tests and checkpoints.
  std::vector<float> Snapshot() const;
  // Rows of the sparse table created so far (by pushes).
  int64_t sparse_rows() const;

 private:
  ParameterShard(ParameterShardOptions options,
                 std::unique_ptr<Optimizer> optimizer,
                 std::unique_ptr<Optimizer> row_optimizer);

  absl::Status ValidateHeader(const v1::RequestHeader& header,
                              bool allow_coordinator) const;
  absl::Status ValidatePush(const v1::PushRequest& request) const;
  // OK if `keys` are strictly increasing and all placed on this shard.
  absl::Status ValidateKeys(
      const google::protobuf::RepeatedField<uint64_t>& keys,
      const char* what) const;
  absl::Status ValidateRows(const v1::SparseRows& rows) const;

  // Applies a validated push unless it is a duplicate; then, with the lock
  // still held, lets `answer` read the state the push produced.
  void ApplyAndAnswer(const v1::PushRequest& request,
                      const std::function<void()>& answer);
  void ApplyLocked(const v1::PushRequest& request)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Writes the rows of `keys` (validated) into *rows.
  void ReadRowsLocked(const google::protobuf::RepeatedField<uint64_t>& keys,
                      v1::SparseRows* rows) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Constant after construction.
  const ParameterShardOptions options_;

  mutable absl::Mutex mu_;
  // Protected by mu_:
  std::vector<float> params_ ABSL_GUARDED_BY(mu_);
  std::vector<float> gradient_ ABSL_GUARDED_BY(mu_);  // decode buffer
  std::unique_ptr<Optimizer> optimizer_ ABSL_GUARDED_BY(mu_);
  int64_t version_ ABSL_GUARDED_BY(mu_) = 0;
  RecentRequestIds recent_ ABSL_GUARDED_BY(mu_);
  // The sparse table: key -> index of its row in table_, which holds
  // row_width floats per row in creation order. The row optimizer's slice
  // is table_ (position = row index * row_width).
  absl::flat_hash_map<uint64_t, int64_t> row_of_ ABSL_GUARDED_BY(mu_);
  std::vector<float> table_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<Optimizer> row_optimizer_ ABSL_GUARDED_BY(mu_);
};

}  // namespace descent

#endif  // DESCENT_SERVER_PARAMETER_SHARD_H_
