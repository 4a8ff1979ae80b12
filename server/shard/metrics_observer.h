// MetricsObserver: a ParameterShardOptions::observer that records each
// push's PushRecord in a shard's ServerMetrics: staleness, BSP's dropped
// gradients, each update's apply time and measured norms, and the shard's
// memory. Duplicates (retries) are not recorded. Thread-safe as the
// metrics are; `metrics` must outlive the observer.
#ifndef DESCENT_SERVER_SHARD_METRICS_OBSERVER_H_
#define DESCENT_SERVER_SHARD_METRICS_OBSERVER_H_

#include <functional>

#include "common/metrics.h"
#include "server/shard/parameter_shard.h"

namespace descent {

std::function<void(const PushRecord&)> MetricsObserver(ServerMetrics* metrics);

}  // namespace descent

#endif  // DESCENT_SERVER_SHARD_METRICS_OBSERVER_H_
