// The gRPC face of the Coordinator: the descent.v1.Coordinator service on
// gRPC's callback API. Every handler is a quick call into the Coordinator
// and a conversion of its Status. Thread-safe; the coordinator must outlive it.
#ifndef DESCENT_RPC_COORDINATOR_SERVICE_H_
#define DESCENT_RPC_COORDINATOR_SERVICE_H_

#include <string>
#include <utility>

#include "common/metrics.h"
#include "descent/v1/coordinator.grpc.pb.h"
#include "rpc/security.h"
#include "server/coordinator/coordinator.h"

namespace descent {

class CoordinatorService final : public v1::Coordinator::CallbackService {
 public:
  // Every call must carry `token` (rpc/security.h; empty: none needed).
  CoordinatorService(Coordinator* coordinator, CoordinatorMetrics* metrics,
                     std::string token)
      : coordinator_(coordinator),
        metrics_(metrics),
        guard_(std::move(token)) {}

  grpc::ServerUnaryReactor* RegisterServer(
      grpc::CallbackServerContext* context,
      const v1::RegisterServerRequest* request,
      v1::RegisterServerResponse* response) override;
  grpc::ServerUnaryReactor* RegisterWorker(
      grpc::CallbackServerContext* context,
      const v1::RegisterWorkerRequest* request,
      v1::RegisterWorkerResponse* response) override;
  grpc::ServerUnaryReactor* Heartbeat(grpc::CallbackServerContext* context,
                                      const v1::HeartbeatRequest* request,
                                      v1::HeartbeatResponse* response) override;
  grpc::ServerUnaryReactor* GetJobStatus(grpc::CallbackServerContext* context,
                                         const v1::GetJobStatusRequest* request,
                                         v1::JobStatus* response) override;

 private:
  Coordinator* const coordinator_;
  CoordinatorMetrics* const metrics_;
  const TokenGuard guard_;
};

}  // namespace descent

#endif  // DESCENT_RPC_COORDINATOR_SERVICE_H_
