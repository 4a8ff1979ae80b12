#include "server/shard/metrics_observer.h"

namespace descent {

std::function<void(const PushRecord&)> MetricsObserver(ServerMetrics* metrics) {
  return [metrics](const PushRecord& record) {
    if (record.duplicate) return;
    metrics->staleness.Observe(static_cast<double>(record.staleness));
    if (record.dropped) metrics->dropped.Increment();
    if (record.applied) metrics->apply_duration.Observe(record.apply_seconds);
    if (record.norms_measured) {
      metrics->parameter_norm.Set(record.parameter_norm);
      metrics->update_norm.Set(record.update_norm);
    }
    metrics->memory.Set(static_cast<double>(record.memory_bytes));
  };
}

}  // namespace descent
