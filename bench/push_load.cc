// Load on one parameter-server shard: CLIENTS concurrent clients send
// PushPull as fast as the shard answers, for SECONDS, while a probe (a
// well-formed reader of this job: its token and job id) pulls the shard's
// whole slice every 10 ms. Prints the probe's latency percentiles before
// the load (unloaded) and under it, how many hammer calls were answered and
// with which codes, and the shard process's resident memory (peak of the
// samples and VmHWM at the end).
//
// The hammer pushes are what a stranger holding the token can send: a full
// slice of gradient for a worker id the job does not have, so the shard
// parses and refuses each one (nothing may change). bench/push_load.sh
// starts the job and runs this.
//
//   descent_push_load --server HOST:PORT --pid PID --job_id ID
//     --floats N [--clients 50] [--seconds 60] [--unloaded_seconds 10]
// The token comes from DESCENT_JOB_TOKEN, as for every descent process.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "descent/v1/ps.grpc.pb.h"
#include "rpc/rpc.h"
#include "rpc/security.h"

ABSL_FLAG(std::string, server, "", "the shard's gRPC address");
ABSL_FLAG(int, pid, 0, "the shard's process id (for its memory)");
ABSL_FLAG(std::string, job_id, "", "the job's id (the probe's pulls)");
ABSL_FLAG(int64_t, floats, 0, "floats in the shard's slice");
ABSL_FLAG(int, clients, 50, "concurrent hammering clients");
ABSL_FLAG(double, seconds, 60, "seconds of load");
ABSL_FLAG(double, unloaded_seconds, 10, "seconds of probing before the load");

namespace descent {
namespace {

using Clock = std::chrono::steady_clock;

// VmRSS or VmHWM of `pid` in KiB; 0 if unreadable.
int64_t StatusKib(int pid, const std::string& field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(field + ":", 0) == 0)
      return std::stoll(line.substr(field.size() + 1));
  }
  return 0;
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * v.size()))];
}

void Report(const char* phase, const std::vector<double>& ms, int failed) {
  std::printf(
      "%s: %zu probe pulls (%d failed), p50 %.3f ms, p99 %.3f ms, "
      "max %.3f ms\n",
      phase, ms.size(), failed, Percentile(ms, 0.5), Percentile(ms, 0.99),
      Percentile(ms, 1.0));
}

int Run() {
  absl::StatusOr<RpcSecurity> security = LoadRpcSecurity({});
  if (!security.ok()) {
    std::fprintf(stderr, "push_load: %s\n",
                 std::string(security.status().message()).c_str());
    return 1;
  }
  const std::string server = absl::GetFlag(FLAGS_server);
  const int pid = absl::GetFlag(FLAGS_pid);
  const int64_t floats = absl::GetFlag(FLAGS_floats);

  std::atomic<bool> loaded{false}, stop{false};
  std::mutex mu;
  std::vector<double> unloaded_ms, loaded_ms;
  int unloaded_failed = 0, loaded_failed = 0;
  std::thread probe([&] {
    auto stub = v1::ParameterServer::NewStub(MakeChannel(server, *security));
    v1::PullRequest pull;
    pull.mutable_header()->set_job_id(absl::GetFlag(FLAGS_job_id));
    pull.set_offset(0);
    pull.set_length(0);  // the whole slice
    while (!stop.load()) {
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() +
                           std::chrono::seconds(5));
      v1::PullResponse response;
      const auto start = Clock::now();
      const grpc::Status status = stub->Pull(&context, pull, &response);
      const double ms =
          std::chrono::duration<double, std::milli>(Clock::now() - start)
              .count();
      const bool under_load = loaded.load();
      std::lock_guard<std::mutex> lock(mu);
      if (!status.ok()) {
        (under_load ? loaded_failed : unloaded_failed)++;
      } else {
        (under_load ? loaded_ms : unloaded_ms).push_back(ms);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  });

  int64_t rss_peak = 0;
  const auto sample_for = [&](double seconds) {
    const auto until = Clock::now() + std::chrono::duration<double>(seconds);
    while (Clock::now() < until) {
      rss_peak = std::max(rss_peak, StatusKib(pid, "VmRSS"));
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  };
  sample_for(absl::GetFlag(FLAGS_unloaded_seconds));
  const int64_t rss_before = StatusKib(pid, "VmRSS");
  loaded.store(true);

  std::atomic<bool> hammer_stop{false};
  std::mutex codes_mu;
  std::map<std::string, int64_t> codes;
  std::vector<std::thread> hammers;
  std::string gradient(static_cast<size_t>(floats) * 4, '\0');
  for (int c = 0; c < absl::GetFlag(FLAGS_clients); ++c) {
    hammers.emplace_back([&, c] {
      auto stub = v1::ParameterServer::NewStub(MakeChannel(server, *security));
      v1::PushRequest push;
      push.mutable_header()->set_job_id(absl::GetFlag(FLAGS_job_id));
      push.mutable_header()->set_worker_id(1000 + c);  // no such worker
      push.mutable_header()->set_step(1);
      push.mutable_gradient()->set_values(gradient);
      push.set_examples(1);
      std::map<std::string, int64_t> mine;
      for (uint64_t id = 1; !hammer_stop.load(); ++id) {
        push.mutable_header()->set_request_id(id);
        grpc::ClientContext context;
        context.set_deadline(std::chrono::system_clock::now() +
                             std::chrono::seconds(5));
        v1::PushPullResponse response;
        const grpc::Status status = stub->PushPull(&context, push, &response);
        ++mine[status.ok() ? "OK" : std::to_string(status.error_code())];
      }
      std::lock_guard<std::mutex> lock(codes_mu);
      for (const auto& [code, n] : mine) codes[code] += n;
    });
  }
  sample_for(absl::GetFlag(FLAGS_seconds));
  hammer_stop.store(true);
  for (std::thread& t : hammers) t.join();
  stop.store(true);
  probe.join();

  Report("unloaded", unloaded_ms, unloaded_failed);
  Report("loaded", loaded_ms, loaded_failed);
  std::printf("p99 ratio loaded/unloaded: %.2f\n",
              Percentile(loaded_ms, 0.99) /
                  std::max(1e-9, Percentile(unloaded_ms, 0.99)));
  int64_t calls = 0;
  std::printf("hammer calls by gRPC code:");
  for (const auto& [code, n] : codes) {
    std::printf(" %s=%lld", code.c_str(), static_cast<long long>(n));
    calls += n;
  }
  std::printf(" (%lld in all, %.0f/s)\n", static_cast<long long>(calls),
              calls / absl::GetFlag(FLAGS_seconds));
  std::printf(
      "shard memory: RSS %lld KiB before the load, peak %lld KiB "
      "(sampled every 100 ms), VmHWM %lld KiB, %lld KiB after\n",
      static_cast<long long>(rss_before), static_cast<long long>(rss_peak),
      static_cast<long long>(StatusKib(pid, "VmHWM")),
      static_cast<long long>(StatusKib(pid, "VmRSS")));
  const bool alive = StatusKib(pid, "VmRSS") > 0;
  std::printf("shard %s\n", alive ? "still up" : "GONE");
  return alive ? 0 : 1;
}

}  // namespace
}  // namespace descent

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return descent::Run();
}
