// A grpc.health.v1 client: what `descent health ADDRESS` asks, for
// container and Kubernetes probes and for tests.
#ifndef DESCENT_RPC_HEALTH_CHECK_H_
#define DESCENT_RPC_HEALTH_CHECK_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "rpc/security.h"

namespace descent {

// Asks the process at `address` whether `service` ("" for the process as a
// whole, as every descent role reports) is SERVING, within `timeout`.
// Returns the status's name ("SERVING", "NOT_SERVING", ...); UNAVAILABLE or
// DEADLINE_EXCEEDED, naming the address, if nothing answered; NOT_FOUND for
// a service the process does not report.
absl::StatusOr<std::string> CheckHealth(const std::string& address,
                                        const RpcSecurity& security,
                                        const std::string& service,
                                        absl::Duration timeout);

}  // namespace descent

#endif  // DESCENT_RPC_HEALTH_CHECK_H_
