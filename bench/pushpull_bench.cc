// Dense PushPull as workers call it: S shards (ParameterShard behind
// ParameterServerService, each its own gRPC server and shared-memory
// endpoint, SGD, ASP) in this process and W client threads, each its own
// PsClient and worker id, calling PushPull back to back on a model of B
// bytes for --seconds, over each transport of --transports: "grpc"
// (loopback TCP) or "shm" (rpc/shm_shard_transport.h, what descent's roles
// choose on one host). One line per configuration:
//
//   pushpull transport=grpc bytes=4194304 shards=1 workers=1 calls=812
//     p50_ms=2.41 p90_ms=2.6 p99_ms=3.1 gbps=3.45
//
// gbps counts the bytes each call moves both ways (2 * B) over the wall
// time of all W workers together. The co-located limit is measured in the
// same run:
//
//   memcpy bytes=4194304 gbps=...    (2 * B copied per "call")
//
// bench/pushpull.sh adds iperf3's loopback TCP bandwidth and prints ratios.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "common/heap.h"
#include "common/metrics.h"
#include "common/ps_client.h"
#include "glog/logging.h"
#include "rpc/parameter_server_service.h"
#include "rpc/rpc.h"
#include "rpc/shm_server.h"
#include "rpc/shm_shard_transport.h"
#include "server/shard/parameter_shard.h"

ABSL_FLAG(std::string, bytes, "4096,65536,1048576,4194304,16777216,67108864",
          "model sizes in bytes, comma-separated (multiples of 4 * shards)");
ABSL_FLAG(std::string, shards, "1,2", "shard counts, comma-separated");
ABSL_FLAG(std::string, workers, "1,2,4", "worker counts, comma-separated");
ABSL_FLAG(double, seconds, 2, "timed seconds per configuration");
ABSL_FLAG(std::string, transports, "shm,grpc",
          "transports, comma-separated: shm, grpc");

namespace descent {
namespace bench {
namespace {

using Clock = std::chrono::steady_clock;

std::vector<int64_t> Numbers(const std::string& list) {
  std::vector<int64_t> out;
  for (absl::string_view item : absl::StrSplit(list, ',', absl::SkipEmpty())) {
    int64_t n;
    CHECK(absl::SimpleAtoi(item, &n) && n > 0) << "bad number: " << item;
    out.push_back(n);
  }
  return out;
}

double Percentile(std::vector<double> values, double q) {
  std::sort(values.begin(), values.end());
  const size_t i =
      std::min(values.size() - 1, static_cast<size_t>(q * values.size()));
  return values[i];
}

// S shards of a P-parameter model, each behind its own gRPC server and,
// with `shm`, its shared-memory endpoint (which the clients then use).
class Cluster {
 public:
  Cluster(int64_t params, int shards, int workers, bool shm) : shm_(shm) {
    registry_ = MetricsRegistry::Create({{"role", "server"}});
    metrics_ = std::make_unique<ServerMetrics>(*registry_);
    for (int s = 0; s < shards; ++s) {
      const int64_t begin = params * s / shards;
      const int64_t end = params * (s + 1) / shards;
      ParameterShardOptions options;
      options.job_id = "bench";
      options.num_workers = workers;
      options.range = {begin, end};
      options.layout.Add({"w", {params}, InitRule::kZeros, 1, 1});
      options.optimizer.mutable_sgd()->set_learning_rate(1e-6);
      options.shard = s;
      options.num_shards = shards;
      shards_.push_back(*ParameterShard::Create(std::move(options)));
      services_.push_back(
          std::make_unique<ParameterServerService>(metrics_.get(), ""));
      auto running =
          StartRpcServer("127.0.0.1:0", {services_.back().get()}, security_,
                         services_.back()->ServerOptions());
      CHECK(running.ok()) << running.status();
      servers_.push_back(*std::move(running));
      services_.back()->Attach(shards_.back().get(), s, "");
      v1::ShardInfo& info = map_.emplace_back();
      if (shm) {
        auto local = ShmServer::Start(services_.back().get());
        CHECK(local.ok()) << local.status();
        info.set_local_socket((*local)->name());
        locals_.push_back(*std::move(local));
      }
      info.set_shard(s);
      info.set_address(servers_.back().address);
      info.set_begin(begin);
      info.set_end(end);
    }
  }

  ~Cluster() {
    for (auto& service : services_) service->Close();
    for (auto& local : locals_) local->Stop();
    for (RunningServer& server : servers_) server.server->Shutdown();
  }

  std::unique_ptr<PsClient> Client(int32_t worker_id) const {
    PsClient::Options options;
    options.job_id = "bench";
    options.worker_id = worker_id;
    options.shards = map_;
    options.deadline = absl::Seconds(30);
    options.connect = ShardTransportFactoryFor(security_, shm_);
    return *PsClient::Create(std::move(options));
  }

 private:
  const bool shm_;
  const RpcSecurity security_{};
  std::unique_ptr<MetricsRegistry> registry_;
  std::unique_ptr<ServerMetrics> metrics_;
  std::vector<std::unique_ptr<ParameterShard>> shards_;
  std::vector<std::unique_ptr<ParameterServerService>> services_;
  std::vector<RunningServer> servers_;
  std::vector<std::unique_ptr<ShmServer>> locals_;
  std::vector<v1::ShardInfo> map_;
};

void RunPushPull(const std::string& transport, int64_t bytes, int shards,
                 int workers, double seconds) {
  const int64_t params = bytes / 4;
  Cluster cluster(params, shards, workers, transport == "shm");
  std::vector<std::vector<double>> latencies(workers);
  std::vector<int64_t> calls(workers, 0);
  const auto until = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                        std::chrono::duration<double>(seconds));
  const auto start = Clock::now();
  std::vector<std::thread> threads;
  for (int w = 0; w < workers; ++w) {
    threads.emplace_back([&, w] {
      std::unique_ptr<PsClient> client = cluster.Client(w);
      std::vector<float> grad(params, 1e-3f), out(params);
      PsClient::Transfer transfer;
      int64_t step = 0;
      // At least 5 calls, so that even 64 MB gives percentiles.
      while (Clock::now() < until || calls[w] < 5) {
        const auto t0 = Clock::now();
        const absl::Status status = client->PushPull(
            {step++, 64, false}, grad.data(), out.data(), &transfer);
        CHECK(status.ok()) << status;
        latencies[w].push_back(
            std::chrono::duration<double, std::milli>(Clock::now() - t0)
                .count());
        ++calls[w];
      }
    });
  }
  for (std::thread& t : threads) t.join();
  const double wall =
      std::chrono::duration<double>(Clock::now() - start).count();
  std::vector<double> all;
  int64_t total = 0;
  for (int w = 0; w < workers; ++w) {
    all.insert(all.end(), latencies[w].begin(), latencies[w].end());
    total += calls[w];
  }
  std::printf(
      "pushpull transport=%s bytes=%lld shards=%d workers=%d calls=%lld "
      "p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f gbps=%.3f\n",
      transport.c_str(), static_cast<long long>(bytes), shards, workers,
      static_cast<long long>(total), Percentile(all, 0.50),
      Percentile(all, 0.90), Percentile(all, 0.99),
      2.0 * bytes * total / wall / 1e9);
  std::fflush(stdout);
}

void RunMemcpy(int64_t bytes, double seconds) {
  std::vector<char> a(bytes, 1), b(bytes), c(bytes);
  int64_t calls = 0;
  const auto start = Clock::now();
  double wall = 0;
  while (wall < seconds || calls < 5) {
    std::memcpy(b.data(), a.data(), bytes);  // the push
    std::memcpy(c.data(), b.data(), bytes);  // the pull
    ++calls;
    wall = std::chrono::duration<double>(Clock::now() - start).count();
  }
  CHECK_EQ(c[bytes - 1], 1);
  std::printf("memcpy bytes=%lld gbps=%.3f\n", static_cast<long long>(bytes),
              2.0 * bytes * calls / wall / 1e9);
  std::fflush(stdout);
}

}  // namespace
}  // namespace bench
}  // namespace descent

int main(int argc, char** argv) {
  descent::KeepTensorBuffersInHeap();  // as the roles do (cli/main.cc)
  google::InitGoogleLogging(argv[0]);
  absl::ParseCommandLine(argc, argv);
  const double seconds = absl::GetFlag(FLAGS_seconds);
  const std::vector<std::string> transports =
      absl::StrSplit(absl::GetFlag(FLAGS_transports), ',', absl::SkipEmpty());
  for (const std::string& transport : transports) {
    CHECK(transport == "shm" || transport == "grpc")
        << "--transports: " << transport << " is not shm or grpc";
  }
  for (int64_t bytes : descent::bench::Numbers(absl::GetFlag(FLAGS_bytes))) {
    descent::bench::RunMemcpy(bytes, seconds / 4);
    for (int64_t shards :
         descent::bench::Numbers(absl::GetFlag(FLAGS_shards))) {
      for (int64_t workers :
           descent::bench::Numbers(absl::GetFlag(FLAGS_workers))) {
        for (const std::string& transport : transports) {
          descent::bench::RunPushPull(transport, bytes,
                                      static_cast<int>(shards),
                                      static_cast<int>(workers), seconds);
        }
      }
    }
  }
  return 0;
}
