// The coordinator's handlers fed any sequence of calls, as hostile or broken
// peers could make them: server and worker registrations, heartbeats with
// any progress, and ticks of a fake clock (so that timeouts fire). The
// first byte picks the worker-failure policy. Nothing may crash; the job's
// state stays one the coordinator can report.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "descent/v1/coordinator.pb.h"
#include "server/coordinator/coordinator.h"
#include "tests/fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace descent;
  if (size == 0) return 0;
  absl::Time now = absl::FromUnixSeconds(1000);
  CoordinatorOptions options;
  options.config.set_job_id("job");
  options.config.mutable_cluster()->set_num_servers(2);
  options.config.mutable_cluster()->set_num_workers(2);
  options.config.mutable_cluster()->set_heartbeat_timeout_seconds(10);
  options.config.mutable_cluster()->set_registration_timeout_seconds(60);
  const v1::WorkerFailurePolicy policies[] = {v1::RESTART, v1::CONTINUE,
                                              v1::FAIL};
  options.config.mutable_cluster()->set_on_worker_failure(
      policies[data[0] % 3]);
  options.config.mutable_train()->set_epochs(2);
  options.config.mutable_train()->set_batch_size(10);
  options.config.mutable_train()->set_eval_every_steps(5);
  const v1::Consistency consistency[] = {v1::ASP, v1::SSP, v1::BSP};
  options.config.mutable_train()->set_consistency(
      consistency[(data[0] / 3) % 3]);
  options.num_parameters = 7;
  options.train_examples = 1000;
  options.clock = [&now] { return now; };
  Coordinator coordinator(std::move(options));
  ForEachRecord(data + 1, size - 1,
                [&](uint8_t kind, const std::string& payload) {
                  switch (kind & 3) {
                    case 0: {
                      v1::RegisterServerRequest request;
                      if (!request.ParseFromString(payload)) break;
                      (void)coordinator.RegisterServer(request);
                      break;
                    }
                    case 1: {
                      v1::RegisterWorkerRequest request;
                      if (!request.ParseFromString(payload)) break;
                      (void)coordinator.RegisterWorker(request);
                      break;
                    }
                    case 2: {
                      v1::HeartbeatRequest request;
                      if (!request.ParseFromString(payload)) break;
                      if (kind & 4) request.set_job_id("job");
                      (void)coordinator.Heartbeat(request);
                      break;
                    }
                    default:
                      now += absl::Seconds(kind >> 2);
                      coordinator.Tick();
                      (void)coordinator.Status();
                  }
                });
  return 0;
}
