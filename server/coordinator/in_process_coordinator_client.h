// InProcessCoordinatorClient: the CoordinatorClient (common/transport.h)
// that calls a Coordinator in the same process, for tests. Answers are the
// coordinator's own, errors as it returns them. Thread-safe; the
// coordinator must outlive the client.
#ifndef DESCENT_SERVER_COORDINATOR_IN_PROCESS_COORDINATOR_CLIENT_H_
#define DESCENT_SERVER_COORDINATOR_IN_PROCESS_COORDINATOR_CLIENT_H_

#include <string>

#include "common/transport.h"
#include "server/coordinator/coordinator.h"

namespace descent {

class InProcessCoordinatorClient final : public CoordinatorClient {
 public:
  explicit InProcessCoordinatorClient(Coordinator* coordinator)
      : coordinator_(coordinator) {}

  std::string address() const override { return "in-process"; }

  absl::StatusOr<v1::RegisterServerResponse> TryRegisterServer(
      const v1::RegisterServerRequest& request) override {
    return coordinator_->RegisterServer(request);
  }
  absl::StatusOr<v1::RegisterWorkerResponse> TryRegisterWorker(
      const v1::RegisterWorkerRequest& request) override {
    return coordinator_->RegisterWorker(request);
  }
  absl::StatusOr<v1::HeartbeatResponse> Heartbeat(
      const v1::HeartbeatRequest& request) override {
    return coordinator_->Heartbeat(request);
  }
  absl::StatusOr<v1::JobStatus> GetJobStatus() override {
    return coordinator_->Status();
  }

 private:
  Coordinator* const coordinator_;
};

}  // namespace descent

#endif  // DESCENT_SERVER_COORDINATOR_IN_PROCESS_COORDINATOR_CLIENT_H_
