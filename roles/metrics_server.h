// MetricsServer: serves a process's MetricsRegistry on /metrics over HTTP
// (prometheus-cpp's Exposer, on civetweb), for the roles. The registry must
// outlive the server. Thread-safe.
#ifndef DESCENT_ROLES_METRICS_SERVER_H_
#define DESCENT_ROLES_METRICS_SERVER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/metrics.h"
#include "prometheus/exposer.h"

namespace descent {

class MetricsServer {
 public:
  // Serves `registry` on `listen` ("host:port"; port 0 picks a free one).
  // Returns UNAVAILABLE if the address cannot be bound.
  static absl::StatusOr<std::unique_ptr<MetricsServer>> Start(
      const MetricsRegistry& registry, const std::string& listen);

  // Stops serving. civetweb's listener notices a stop only between polls
  // of 2 s, so the destructor connects to it until it has stopped:
  // processes and tests end at once instead of up to 2 s later.
  ~MetricsServer();

  // host:port actually serving /metrics.
  const std::string& address() const { return address_; }

 private:
  MetricsServer() = default;

  std::unique_ptr<prometheus::Exposer> exposer_;
  std::string address_;
};

}  // namespace descent

#endif  // DESCENT_ROLES_METRICS_SERVER_H_
