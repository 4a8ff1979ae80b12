// A shard's secure aggregator fed any sequence of phase calls and worker
// losses, as hostile or broken workers could send them: 2 workers, 8
// clients, a slice of 4 of 8 parameters. Every call is validated before it
// touches the round; nothing may crash, and every held call is answered by
// Close at the end.
#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>

#include "descent/v1/ps.pb.h"
#include "server/shard/secure_aggregator.h"
#include "tests/fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace descent;
  SecureAggregatorOptions options;
  options.num_workers = 2;
  options.clients = 8;
  options.threshold = 0.5;
  options.clip_range = 1;
  options.begin = 0;
  options.size = 4;
  options.num_parameters = 8;
  SecureAggregator aggregator(options, [](SecureSum) {});
  // A held call's request and response outlive its answer, as a gRPC
  // call's do.
  std::deque<v1::SecureAggregationRequest> requests;
  std::deque<v1::SecureAggregationResponse> responses;
  ForEachRecord(data, size, [&](uint8_t kind, const std::string& payload) {
    switch (kind & 3) {
      case 0: {
        v1::SecureAggregationRequest& request = requests.emplace_back();
        if (!request.ParseFromString(payload)) break;
        // Bit 2: a real worker (bit 3), bit 4: its second incarnation, so
        // that fuzzing reaches past the first checks.
        if (kind & 4) {
          request.mutable_header()->set_worker_id((kind >> 3) & 1);
          request.mutable_header()->set_incarnation((kind >> 4) & 1);
        }
        aggregator.Handle(request, &responses.emplace_back(),
                          [](absl::Status) {});
        break;
      }
      case 1:
        aggregator.WorkerLost(payload.empty() ? 0 : payload[0] % 3);
        break;
      default:
        (void)aggregator.rounds_unmasked();
    }
  });
  aggregator.Close();
  return 0;
}
