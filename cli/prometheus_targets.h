// Prometheus file-based service discovery for `descent local`: the job's
// metrics endpoints in the JSON that a `file_sd_configs` section reads, so a
// Prometheus started beside the job follows it without knowing its ports
// (deploy/prometheus/prometheus-file-sd.yml; README, "Monitoring").
//
// One target group per process, labelled like the process's own metrics:
//   [{"targets": ["127.0.0.1:41235"],
//     "labels": {"job_id": "job-...", "role": "server", "shard": "0"}}, ...]
// (job_id: JobStatus.job_id, so even `up` of a process that has not yet
// registered, or that has exited, names its job).
// The launcher writes the file atomically (Prometheus rereads it whenever it
// changes) once the job runs, and rewrites it as [] when the job ends.
#ifndef DESCENT_CLI_PROMETHEUS_TARGETS_H_
#define DESCENT_CLI_PROMETHEUS_TARGETS_H_

#include <string>

#include "descent/v1/coordinator.pb.h"

namespace descent {

// The file_sd JSON for every member of `status` that reports a metrics
// address (members without one are left out); "[]\n" if none does.
std::string PrometheusTargets(const v1::JobStatus& status);

}  // namespace descent

#endif  // DESCENT_CLI_PROMETHEUS_TARGETS_H_
