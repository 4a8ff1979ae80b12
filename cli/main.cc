// descent: one binary, one subcommand per role. This file only reads flags
// into each role's options struct and maps the outcome to an exit code
// (README, "Exit codes").
#include <malloc.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "cli/local.h"
#include "common/config/config.h"
#include "common/exit_codes.h"
#include "glog/logging.h"
#include "roles/coordinator_role.h"
#include "roles/server_role.h"
#include "roles/worker_role.h"

ABSL_FLAG(std::string, config, "", "Job config file (protobuf text format).");
ABSL_FLAG(std::string, output_dir, "",
          "Where the job's files go (default: runs/<job id>).");
ABSL_FLAG(std::string, listen, "127.0.0.1:0",
          "gRPC address to serve on; port 0 picks a free port.");
ABSL_FLAG(std::string, metrics_listen, "127.0.0.1:0",
          "Address serving Prometheus /metrics; port 0 picks a free port.");
ABSL_FLAG(std::string, advertise_address, "",
          "Server: the host:port workers dial, if not the --listen address.");
ABSL_FLAG(std::string, coordinator, "", "The coordinator's host:port.");
ABSL_FLAG(int, shard, -1, "This server's shard index, 0..S-1.");
ABSL_FLAG(std::string, ready_file, "",
          "Coordinator: write the gRPC address here once serving.");
ABSL_FLAG(std::string, prometheus_sd_file, "",
          "Local: keep this file listing the job's metrics endpoints as "
          "Prometheus file_sd JSON (its directory must exist).");
ABSL_FLAG(absl::Duration, metrics_linger, absl::Seconds(15),
          "Coordinator: after the job ends, keep serving /metrics this long "
          "so Prometheus scrapes the final state (at least two scrape "
          "intervals). Local: the same, with --prometheus_sd_file only.");
ABSL_FLAG(bool, insecure, false,
          "Allow serving gRPC without TLS on a non-loopback address.");

namespace descent {
namespace {

constexpr char kUsage[] = R"(descent: distributed parameter-server training

usage:
  descent local --config FILE [--set PATH=VALUE]... [--output_dir DIR]
        [--prometheus_sd_file FILE [--metrics_linger DURATION]]
  descent coordinator --config FILE [--set PATH=VALUE]... [--output_dir DIR]
        [--listen HOST:PORT] [--metrics_listen HOST:PORT] [--ready_file FILE]
        [--metrics_linger DURATION]
  descent server --coordinator HOST:PORT --shard I [--listen HOST:PORT]
        [--advertise_address HOST:PORT] [--metrics_listen HOST:PORT]
  descent worker --coordinator HOST:PORT [--metrics_listen HOST:PORT]
  descent version

Servers refuse a non-loopback --listen address unless --insecure is given.
--prometheus_sd_file keeps FILE listing the local job's /metrics endpoints
for a Prometheus with file_sd_configs (deploy/prometheus/). The coordinator
serves its final metrics for --metrics_linger (default 15s; local: only
with --prometheus_sd_file) after the job ends, then exits.

--set PATH=VALUE overrides one field of the config (e.g. train.epochs=1)
and may be repeated. Exit codes: 0 ok, 1 usage, 2 bad config, 3 data
error, 4 peer lost, 5 job failed, 6 training diverged, 130 interrupted.)";

int UsageError(const std::string& message) {
  std::fprintf(stderr, "descent: %s\n\n%s\n", message.c_str(), kUsage);
  return kExitUsage;
}

// Removes every `--set X` / `--set=X` from argv (absl flags keep only the
// last value of a repeated flag) and returns the values in order.
std::vector<std::string> TakeSetFlags(std::vector<char*>* args) {
  std::vector<std::string> values;
  std::vector<char*> rest;
  for (size_t i = 0; i < args->size(); ++i) {
    const std::string arg = (*args)[i];
    if (absl::StartsWith(arg, "--set=")) {
      values.push_back(arg.substr(6));
    } else if (arg == "--set" && i + 1 < args->size()) {
      values.push_back((*args)[++i]);
    } else {
      rest.push_back((*args)[i]);
    }
  }
  *args = rest;
  return values;
}

std::string SelfPath() {
  std::vector<char> buffer(4096);
  const ssize_t n =
      ::readlink("/proc/self/exe", buffer.data(), buffer.size() - 1);
  return n > 0 ? std::string(buffer.data(), n) : "descent";
}

// An empty string if `path` may name the service-discovery file: its
// directory exists and the path is not itself a directory.
std::string CheckSdFile(const std::string& path) {
  std::error_code error;
  if (std::filesystem::is_directory(path, error)) {
    return absl::StrCat("--prometheus_sd_file=", path, " is a directory");
  }
  std::string dir = std::filesystem::path(path).parent_path().string();
  if (dir.empty()) dir = ".";
  if (!std::filesystem::is_directory(dir, error)) {
    return absl::StrCat("--prometheus_sd_file=", path, ": directory ", dir,
                        " does not exist");
  }
  return "";
}

int Local(const std::vector<std::string>& overrides) {
  if (absl::GetFlag(FLAGS_config).empty())
    return UsageError("local needs --config");
  LocalOptions options;
  options.config_path = absl::GetFlag(FLAGS_config);
  options.overrides = overrides;
  options.output_dir = absl::GetFlag(FLAGS_output_dir);
  options.binary = SelfPath();
  options.prometheus_sd_file = absl::GetFlag(FLAGS_prometheus_sd_file);
  if (!options.prometheus_sd_file.empty()) {
    options.metrics_linger = absl::GetFlag(FLAGS_metrics_linger);
    const std::string problem = CheckSdFile(options.prometheus_sd_file);
    if (!problem.empty()) return UsageError(problem);
  }
  return RunLocal(options);
}

int Coordinator(const std::vector<std::string>& overrides) {
  if (absl::GetFlag(FLAGS_config).empty()) {
    return UsageError("coordinator needs --config");
  }
  absl::StatusOr<v1::JobConfig> config =
      LoadJobConfig(absl::GetFlag(FLAGS_config), overrides);
  if (!config.ok()) {
    LOG(ERROR) << config.status().message();
    return kExitBadConfig;
  }
  CoordinatorRoleOptions options;
  options.config = *std::move(config);
  options.output_dir = absl::GetFlag(FLAGS_output_dir);
  options.listen = absl::GetFlag(FLAGS_listen);
  options.metrics_listen = absl::GetFlag(FLAGS_metrics_listen);
  options.ready_file = absl::GetFlag(FLAGS_ready_file);
  options.insecure = absl::GetFlag(FLAGS_insecure);
  options.metrics_linger = absl::GetFlag(FLAGS_metrics_linger);
  return RunCoordinator(options);
}

int Server() {
  if (absl::GetFlag(FLAGS_coordinator).empty()) {
    return UsageError("server needs --coordinator");
  }
  if (absl::GetFlag(FLAGS_shard) < 0)
    return UsageError("server needs --shard >= 0");
  ServerRoleOptions options;
  options.coordinator = absl::GetFlag(FLAGS_coordinator);
  options.shard = absl::GetFlag(FLAGS_shard);
  options.listen = absl::GetFlag(FLAGS_listen);
  options.advertise_address = absl::GetFlag(FLAGS_advertise_address);
  options.metrics_listen = absl::GetFlag(FLAGS_metrics_listen);
  options.insecure = absl::GetFlag(FLAGS_insecure);
  return RunServer(options);
}

int Worker() {
  if (absl::GetFlag(FLAGS_coordinator).empty()) {
    return UsageError("worker needs --coordinator");
  }
  WorkerRoleOptions options;
  options.coordinator = absl::GetFlag(FLAGS_coordinator);
  options.metrics_listen = absl::GetFlag(FLAGS_metrics_listen);
  return RunWorker(options);
}

int Dispatch(const std::string& command, const std::vector<std::string>& sets) {
  if (!sets.empty() && command != "local" && command != "coordinator") {
    return UsageError("--set applies to local and coordinator only");
  }
  if (!absl::GetFlag(FLAGS_prometheus_sd_file).empty() && command != "local") {
    return UsageError("--prometheus_sd_file applies to local only");
  }
  if (absl::GetFlag(FLAGS_metrics_linger) < absl::ZeroDuration()) {
    return UsageError(
        absl::StrCat("--metrics_linger=",
                     absl::FormatDuration(absl::GetFlag(FLAGS_metrics_linger)),
                     ": must not be negative"));
  }
  if (command == "local") return Local(sets);
  if (command == "coordinator") return Coordinator(sets);
  if (command == "server") return Server();
  if (command == "worker") return Worker();
  if (command == "version") {
    std::printf("descent %s (%s)\n", DESCENT_VERSION, DESCENT_GIT_REVISION);
    return kExitOk;
  }
  return UsageError(absl::StrCat("unknown command \"", command, "\""));
}

}  // namespace
}  // namespace descent

int main(int argc, char** argv) {
  // Parameter slices and gradients are megabytes per RPC, and gRPC and
  // protobuf allocate a fresh buffer for each. Above glibc's mmap threshold
  // each such buffer would be mmap'd, page-faulted in byte by byte and
  // unmapped per call (most of a server's time, measured with perf); keep
  // them in the heap, where freed pages are reused.
  mallopt(M_MMAP_THRESHOLD, 1 << 30);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  std::vector<char*> args(argv, argv + argc);
  std::vector<std::string> sets = descent::TakeSetFlags(&args);
  absl::SetProgramUsageMessage(descent::kUsage);
  std::vector<char*> positional =
      absl::ParseCommandLine(static_cast<int>(args.size()), args.data());
  FLAGS_logtostderr = true;
  google::InitGoogleLogging(argv[0]);
  if (positional.size() != 2) {
    return descent::UsageError(positional.size() < 2 ? "no command given"
                                                     : "too many arguments");
  }
  return descent::Dispatch(positional[1], sets);
}
