// A parameter-server shard fed any sequence of requests, as a hostile or
// broken client could send them: pushes (dense and sparse), pulls, and lost
// workers, under ASP, SSP or BSP (the first byte), on a shard of 2 workers
// owning a dense tensor and a sparse table. Every request is validated
// before it touches state; nothing may crash, and the shard is closed (its
// held answers released) at the end.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <memory>
#include <string>

#include "descent/v1/ps.pb.h"
#include "server/shard/parameter_shard.h"
#include "tests/fuzz/fuzz_input.h"

namespace descent {
namespace {

std::unique_ptr<ParameterShard> MakeShard(uint8_t choice) {
  ParameterShardOptions options;
  options.job_id = "job";
  options.num_workers = 2;
  options.layout.Add({"w", {16}, InitRule::kZeros});
  options.range = {0, 16};
  options.table = SparseTableSpec{2, {0.1f, 0.1f}};
  options.max_sparse_rows = 64;
  const v1::Consistency consistency[] = {v1::ASP, v1::SSP, v1::BSP};
  options.consistency = consistency[choice % 3];
  options.staleness = options.consistency == v1::SSP ? 1 : 0;
  if (choice & 4) {
    options.optimizer.mutable_adam()->set_learning_rate(0.01);
  } else {
    options.optimizer.mutable_sgd()->set_learning_rate(0.5);
  }
  auto shard = ParameterShard::Create(std::move(options));
  if (!shard.ok()) {  // the fixed options are valid: a broken target
    std::fprintf(stderr, "shard_fuzz: %s\n",
                 std::string(shard.status().message()).c_str());
    std::abort();
  }
  return *std::move(shard);
}

// Gives a parsed request this job's id and a real worker where the record
// asks (bit 2 of its kind), so that fuzzing reaches past the first checks.
void MaybeOurs(uint8_t kind, v1::RequestHeader* header) {
  if ((kind & 4) == 0) return;
  header->set_job_id("job");
  header->set_worker_id((kind >> 3) & 1);
}

}  // namespace
}  // namespace descent

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace descent;
  if (size == 0) return 0;
  std::unique_ptr<ParameterShard> shard = MakeShard(data[0]);
  // A held push's request and response must outlive its answer (as a
  // gRPC call's do): both live until the shard is closed.
  std::deque<v1::PushRequest> pushes;
  std::deque<v1::PushPullResponse> answers;
  ForEachRecord(
      data + 1, size - 1, [&](uint8_t kind, const std::string& payload) {
        switch (kind & 3) {
          case 0: {
            v1::PushRequest& push = pushes.emplace_back();
            if (!push.ParseFromString(payload)) break;
            MaybeOurs(kind, push.mutable_header());
            shard->PushPull(push, &answers.emplace_back(), [](absl::Status) {});
            break;
          }
          case 1: {
            v1::PullRequest pull;
            if (!pull.ParseFromString(payload)) break;
            MaybeOurs(kind, pull.mutable_header());
            v1::PullResponse response;
            (void)shard->Pull(pull, &response);
            break;
          }
          case 2:
            shard->WorkerLost(payload.empty() ? 0 : payload[0] % 3);
            break;
          default:
            (void)shard->version();
        }
      });
  shard->Close();
  return 0;
}
