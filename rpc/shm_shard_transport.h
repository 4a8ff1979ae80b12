// ShmShardTransport: the ShardTransport (common/transport.h) to a shard on
// the same host, over its shared-memory endpoint (rpc/shm_server.h,
// protocol in rpc/shm_channel.h). A request is serialized once, straight
// into a region the shard maps, and parsed by the shard from there; the
// answer comes back the same way: no TCP, HTTP/2 or kernel copies.
//
// Each call takes an idle connection, or opens one (up to 8); each
// connection has a thread that waits for its answer and runs `done`. A
// call that finds no connection it can use goes over the fallback
// transport (gRPC to the same shard), so nothing waits on a slot. A call
// not answered by its deadline ends DEADLINE_EXCEEDED and its connection
// is closed (the next call opens a fresh one); a connection the shard
// closed ends its call UNAVAILABLE. Both may be retried, as over gRPC.
// Thread-safe.
#ifndef DESCENT_RPC_SHM_SHARD_TRANSPORT_H_
#define DESCENT_RPC_SHM_SHARD_TRANSPORT_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/transport.h"
#include "rpc/security.h"

namespace descent {

class ShmShardTransport final : public ShardTransport {
 public:
  // Opens a first connection to the abstract socket `socket_name` and says
  // hello with `token`, answered within `patience`: UNAVAILABLE when
  // nothing listens there (another host, or another network namespace),
  // UNAUTHENTICATED when the shard refuses the token.
  static absl::StatusOr<std::unique_ptr<ShmShardTransport>> Connect(
      std::string socket_name, std::string token,
      std::unique_ptr<ShardTransport> fallback,
      absl::Duration patience = absl::Seconds(5));
  ~ShmShardTransport() override;

  void Pull(const v1::PullRequest& request, v1::PullResponse* response,
            absl::Duration deadline, Done done) override;
  void PushPull(const v1::PushRequest& request, v1::PushPullResponse* response,
                absl::Duration deadline, Done done) override;
  // Over the fallback: small, rare calls that wait at the shard's barrier.
  void SecureAggregation(const v1::SecureAggregationRequest& request,
                         v1::SecureAggregationResponse* response,
                         absl::Duration deadline, Done done) override {
    fallback_->SecureAggregation(request, response, deadline, std::move(done));
  }

  // Calls that went over the fallback so far.
  int64_t fallback_calls() const;

 private:
  class Connection;
  ShmShardTransport(std::string socket_name, std::string token,
                    std::unique_ptr<ShardTransport> fallback);
  // An idle connection, else a new one (hello within `patience`), else
  // null.
  std::shared_ptr<Connection> Take(absl::Duration patience);
  // Back to the idle ones, unless broken (then dropped).
  void Give(const std::shared_ptr<Connection>& connection, bool broken);
  absl::StatusOr<std::shared_ptr<Connection>> Open(absl::Duration patience);

  const std::string socket_name_;
  const std::string token_;
  const std::unique_ptr<ShardTransport> fallback_;
  mutable absl::Mutex mu_;
  std::vector<std::shared_ptr<Connection>> idle_ ABSL_GUARDED_BY(mu_);
  std::vector<std::shared_ptr<Connection>> all_ ABSL_GUARDED_BY(mu_);
  int64_t fallback_calls_ ABSL_GUARDED_BY(mu_) = 0;
};

// The transport descent's roles use: shared memory to a shard that
// advertises a local socket reachable from here (when `shared_memory` and
// no TLS), else gRPC (GrpcShardTransport). Says which in the log.
ShardTransportFactory ShardTransportFactoryFor(RpcSecurity security,
                                               bool shared_memory);

}  // namespace descent

#endif  // DESCENT_RPC_SHM_SHARD_TRANSPORT_H_
