// `descent worker`: registers with the coordinator, which assigns its
// worker id, its data shard and the job's config; loads only that shard of
// the training data; waits for the job to start; trains; and stays until
// the coordinator reports that the job has ended.
#ifndef DESCENT_ROLES_WORKER_ROLE_H_
#define DESCENT_ROLES_WORKER_ROLE_H_

#include <cstdint>
#include <string>

#include "descent/v1/job.pb.h"
#include "rpc/security.h"

namespace descent {

struct WorkerRoleOptions {
  std::string coordinator;  // host:port of the job's coordinator
  std::string metrics_listen = "127.0.0.1:0";
  // Where it serves gRPC: grpc.health.v1 and reflection only (port 0
  // picks a free one; logged). SERVING from registration until training
  // ends. A non-loopback address needs TLS or security.insecure.
  std::string listen = "127.0.0.1:0";
  // TLS and the job token, for every call and for the health server.
  RpcSecurity security;
  // Workers of this job on this host, which share its cores (0 or 1: this
  // one alone); sets the OpenMP threads when train.threads is 0.
  int local_workers = 0;
  // The worker id to ask the coordinator for; -1: the next free one.
  int worker_id = -1;
};

// Returns the process exit code (common/exit_codes.h).
int RunWorker(const WorkerRoleOptions& options);

// How many of its own steps a worker of `workers` lets pass between the
// heartbeats it sends at once: its share of train.eval_every_steps (which
// the coordinator resolves before it hands out the config) or of
// train.checkpoint.every_steps, the smaller, at least 1; 0 without either.
int64_t BeatEverySteps(const v1::JobConfig& config, int workers);

}  // namespace descent

#endif  // DESCENT_ROLES_WORKER_ROLE_H_
