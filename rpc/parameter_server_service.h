// The gRPC face of a ParameterShard: the descent.v1.ParameterServer
// service on gRPC's callback API. Requests are handed to the shard as they
// are; a push that waits at the consistency gate holds no thread, since the
// reactor finishes from the shard's completion callback. Counts traffic and
// timings in ServerMetrics.
//
// The service starts serving before its shard exists (the shard's range is
// known only once the server has registered, with the address it serves
// on); until Attach() every call is answered UNAVAILABLE, which clients
// retry (rejection reason "not_registered"). Thread-safe; the shard and metrics
// must outlive it.
#ifndef DESCENT_RPC_PARAMETER_SERVER_SERVICE_H_
#define DESCENT_RPC_PARAMETER_SERVER_SERVICE_H_

#include <atomic>

#include "common/metrics.h"
#include "descent/v1/ps.grpc.pb.h"
#include "server/shard/parameter_shard.h"

namespace descent {

class ParameterServerService final
    : public v1::ParameterServer::CallbackService {
 public:
  explicit ParameterServerService(ServerMetrics* metrics) : metrics_(metrics) {}

  // Starts answering calls from `shard`. Call at most once.
  void Attach(ParameterShard* shard) { shard_.store(shard); }

  grpc::ServerUnaryReactor* Pull(grpc::CallbackServerContext* context,
                                 const v1::PullRequest* request,
                                 v1::PullResponse* response) override;
  grpc::ServerUnaryReactor* Push(grpc::CallbackServerContext* context,
                                 const v1::PushRequest* request,
                                 v1::PushResponse* response) override;
  grpc::ServerUnaryReactor* PushPull(grpc::CallbackServerContext* context,
                                     const v1::PushRequest* request,
                                     v1::PushPullResponse* response) override;

 private:
  // The attached shard, or null after finishing the call UNAVAILABLE.
  ParameterShard* ShardOrRefuse(grpc::ServerUnaryReactor* reactor);
  // Records a finished push in the metrics and finishes the call.
  void FinishPush(const ParameterShard* shard,
                  grpc::ServerUnaryReactor* reactor, const absl::Status& status,
                  const v1::PushRequest& request, int64_t pulled_bytes,
                  int64_t version, absl::Time start);

  std::atomic<ParameterShard*> shard_{nullptr};
  ServerMetrics* const metrics_;
};

}  // namespace descent

#endif  // DESCENT_RPC_PARAMETER_SERVER_SERVICE_H_
