// descent: one binary, one subcommand per role. This file only reads flags
// (CLI11) into each role's options struct and maps the outcome to an exit
// code (common/exit_codes.h; README, "Exit codes").
#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "cli/local.h"
#include "cli/onnx_export.h"
#include "cli/predict.h"
#include "common/config/config.h"
#include "common/exit_codes.h"
#include "common/heap.h"
#include "common/host_port.h"
#include "common/privacy/rdp_accountant.h"
#include "glog/logging.h"
#include "roles/checkpointer.h"
#include "roles/coordinator_role.h"
#include "roles/server_role.h"
#include "roles/worker_role.h"
#include "rpc/health_check.h"
#include "rpc/rpc.h"
#include "rpc/security.h"

namespace descent {
namespace {

constexpr char kCommandNames[][12] = {
    "local",  "coordinator", "server",  "worker",  "predict", "evaluate",
    "export", "health",      "privacy", "version", "help"};

std::string VersionLine() {
  return absl::StrCat("descent ", DESCENT_VERSION, " (git ",
                      DESCENT_GIT_REVISION, ", ", DESCENT_BUILD_TYPE,
                      " build)");
}

std::string ExitCodesText() {
  std::string text = "Exit codes:\n";
  for (const ExitCodeRow& row : kExitCodeTable) {
    absl::StrAppendFormat(&text, "  %-8s %s\n", row.code, row.meaning);
  }
  return text;
}

// Every flag of every subcommand lands here; each subcommand declares only
// its own.
struct Flags {
  std::string config;
  std::vector<std::string> sets;
  std::string output_dir;
  bool overwrite = false;
  std::string listen = "127.0.0.1:0";
  std::string metrics_listen = "127.0.0.1:0";
  std::string advertise_address;
  std::string coordinator;
  int shard = -1;
  std::string ready_file;
  std::string prometheus_sd_file;
  std::string metrics_linger = "15s";
  bool insecure = false;
  std::string token_file;
  std::string tls_cert;
  std::string tls_key;
  std::string tls_ca;
  int local_workers = 0;
  int worker_id = -1;
  std::string help_topic;
  std::string model_dir;
  std::string data;
  std::string format;
  std::string labels;
  std::string output;
  int64_t max_examples = 0;
  std::string resume;
  int server_restarts = 0;
  int64_t steps_lost = 0;
  std::string address;
  double timeout_seconds = 5;
  std::string service;
  double sampling_rate = -1;
  int64_t steps = -1;
  double delta = -1;
  double noise_multiplier = -1;
  double target_epsilon = -1;
};

void AddJobFlags(CLI::App* command, Flags& flags) {
  command
      ->add_option("--config", flags.config,
                   "Job config file (protobuf text format); required unless "
                   "--resume")
      ->type_name("FILE");
  command
      ->add_option("--set", flags.sets,
                   "Override one config field after the file is read, e.g. "
                   "train.epochs=3, model.mlp.hidden=[32,16] or "
                   "'optimizer.adam={learning_rate: 0.01}'; repeatable")
      ->type_name("PATH=VALUE")
      ->allow_extra_args(false);
  command
      ->add_option("--output_dir", flags.output_dir,
                   "Where the job's files go (default: runs/<job id>)")
      ->type_name("DIR");
  command->add_flag("--overwrite", flags.overwrite,
                    "Reuse an --output_dir that holds another job's results, "
                    "deleting them");
  command
      ->add_option("--resume", flags.resume,
                   "Continue the job whose output directory is DIR, in DIR, "
                   "from its newest complete checkpoint (its own config; "
                   "--set may change epochs, evaluation and checkpoint "
                   "settings)")
      ->type_name("DIR");
}

// The problem with --config, --resume, --output_dir and --overwrite
// together, or "": exactly one of --config and --resume, and --resume
// with neither of the others.
// `descent coordinator` takes both (as `descent local` starts a resumed
// one): then the file's config, checked against the checkpoint's.
std::string CheckJobSource(const Flags& flags, bool config_and_resume) {
  if (flags.config.empty() && flags.resume.empty()) {
    return "--config FILE is required (or --resume DIR)";
  }
  if (!config_and_resume && !flags.config.empty() && !flags.resume.empty()) {
    return "--config and --resume exclude each other: a resumed job runs "
           "with its own config (change it with --set)";
  }
  if (!flags.resume.empty() && (flags.overwrite || !flags.output_dir.empty())) {
    return "--resume DIR continues the job in DIR: --output_dir and "
           "--overwrite do not apply";
  }
  return "";
}

void AddLingerFlag(CLI::App* command, Flags& flags, const char* help) {
  command->add_option("--metrics_linger", flags.metrics_linger, help)
      ->type_name("DURATION")
      ->capture_default_str();
}

// --metrics_linger as a duration; a usage error names a bad one.
absl::StatusOr<absl::Duration> Linger(const Flags& flags) {
  absl::Duration linger;
  if (!absl::ParseDuration(flags.metrics_linger, &linger)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--metrics_linger=", flags.metrics_linger,
                     ": not a duration (e.g. 15s, 1m, 0s)"));
  }
  if (linger < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--metrics_linger=", flags.metrics_linger, ": must not be negative"));
  }
  return linger;
}

// A HOST:PORT flag's check (common/host_port.h): a usage error naming the
// flag rather than a port taken modulo 65536. `listen`: port 0 allowed.
CLI::Validator HostPortFlag(bool listen) {
  return CLI::Validator(
      [listen](std::string& value) -> std::string {
        const absl::Status status = CheckHostPort(value, listen);
        return status.ok() ? "" : std::string(status.message());
      },
      "HOST:PORT");
}

// The job token and TLS: every role, and descent local (for its children).
void AddSecurityFlags(CLI::App* command, Flags& flags) {
  command
      ->add_option("--token_file", flags.token_file,
                   "Read the job token from FILE (default: the environment "
                   "variable DESCENT_JOB_TOKEN); every process of a job needs "
                   "the same one")
      ->type_name("FILE");
  command
      ->add_option("--tls_cert", flags.tls_cert,
                   "This process's TLS certificate (PEM): it serves TLS, and "
                   "presents it to the servers it calls")
      ->type_name("FILE");
  command->add_option("--tls_key", flags.tls_key, "Its private key (PEM)")
      ->type_name("FILE");
  command
      ->add_option("--tls_ca", flags.tls_ca,
                   "The CA (PEM) that signs the job's certificates: calls "
                   "use TLS and trust it, and servers require clients to "
                   "present a certificate it signed (mTLS)")
      ->type_name("FILE");
}

void AddListenFlags(CLI::App* command, Flags& flags, bool grpc) {
  if (grpc) {
    command
        ->add_option("--listen", flags.listen,
                     "gRPC address to serve on; port 0 picks a free port")
        ->type_name("HOST:PORT")
        ->check(HostPortFlag(/*listen=*/true))
        ->capture_default_str();
    command->add_flag("--insecure", flags.insecure,
                      "Allow serving gRPC without TLS, and /metrics, on a "
                      "non-loopback address, and a job without a token");
    AddSecurityFlags(command, flags);
  }
  command
      ->add_option("--metrics_listen", flags.metrics_listen,
                   "Address serving Prometheus /metrics; port 0 picks a "
                   "free port")
      ->type_name("HOST:PORT")
      ->check(HostPortFlag(/*listen=*/true))
      ->capture_default_str();
}

void AddCoordinatorFlag(CLI::App* command, Flags& flags) {
  command
      ->add_option("--coordinator", flags.coordinator,
                   "The coordinator's gRPC address")
      ->required()
      ->type_name("HOST:PORT")
      ->check(HostPortFlag(/*listen=*/false));
}

void AddLocalWorkersFlag(CLI::App* command, Flags& flags) {
  command
      ->add_option("--local_workers", flags.local_workers,
                   "Workers of this job on this host; with train.threads "
                   "unset each gets cores / this many threads (default: "
                   "1 for a worker, the job's workers for a coordinator)")
      ->type_name("N")
      ->check(CLI::Range(0, std::numeric_limits<int>::max()));
}

void AddModelFlag(CLI::App* command, Flags& flags) {
  command
      ->add_option("--model", flags.model_dir,
                   "A model directory: a job's model/ or best_model/")
      ->required()
      ->type_name("DIR");
}

// The command line: every subcommand with its own flags, help and examples.
void Define(CLI::App& app, Flags& flags) {
  app.set_help_flag("-h,--help", "Print this help and exit");
  app.set_version_flag("--version", VersionLine(),
                       "Print the version and exit");
  app.require_subcommand(0, 1);
  app.footer(absl::StrCat(
      "Run 'descent help COMMAND' or 'descent COMMAND --help' for a "
      "command's flags and examples.\n\n",
      ExitCodesText()));

  CLI::App* local = app.add_subcommand(
      "local",
      "Run a whole job on this machine: coordinator, servers, workers");
  AddJobFlags(local, flags);
  AddSecurityFlags(local, flags);
  local
      ->add_option("--prometheus_sd_file", flags.prometheus_sd_file,
                   "Keep FILE listing the job's /metrics endpoints as "
                   "Prometheus file_sd JSON (its directory must exist)")
      ->type_name("FILE");
  AddLingerFlag(local, flags,
                "With --prometheus_sd_file: after the job ends, the "
                "coordinator keeps serving /metrics this long, so Prometheus "
                "scrapes the final state (at least two scrape intervals)");
  local->footer(
      "Examples:\n"
      "  descent local --config examples/fashion_mnist_softmax.textproto\n"
      "  descent local --config job.textproto --set train.epochs=1 \\\n"
      "      --set optimizer.sgd.learning_rate=0.05 --output_dir runs/try1\n"
      "  descent local --resume runs/try1 --set train.epochs=4");

  CLI::App* coordinator = app.add_subcommand(
      "coordinator",
      "Serve a job's coordinator (for a cluster started by hand)");
  AddJobFlags(coordinator, flags);
  AddListenFlags(coordinator, flags, /*grpc=*/true);
  coordinator
      ->add_option("--ready_file", flags.ready_file,
                   "Write the gRPC address here once serving")
      ->type_name("FILE");
  AddLocalWorkersFlag(coordinator, flags);
  coordinator
      ->add_option("--server_restarts", flags.server_restarts,
                   "With --resume: the times this job was already rolled "
                   "back to a checkpoint because a server died (descent "
                   "local sets it; summary.json server_restarts)")
      ->type_name("N")
      ->check(CLI::Range(0, 1000000));
  coordinator
      ->add_option("--steps_lost", flags.steps_lost,
                   "With --resume: global steps those rollbacks undid "
                   "(descent local sets it; summary.json steps_lost)")
      ->type_name("N")
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 50));
  AddLingerFlag(coordinator, flags,
                "After the job ends, keep serving /metrics this long, so "
                "Prometheus scrapes the final state (at least two scrape "
                "intervals); SIGTERM ends it early");
  coordinator->footer(
      "Example:\n"
      "  descent coordinator --config job.textproto --listen 10.0.0.1:7000 "
      "--insecure\n"
      "  descent coordinator --resume runs/job-1 --listen 10.0.0.1:7000 "
      "--insecure");

  CLI::App* server =
      app.add_subcommand("server", "Serve one parameter-server shard of a job");
  AddCoordinatorFlag(server, flags);
  server
      ->add_option("--shard", flags.shard, "This server's shard index, 0..S-1")
      ->required()
      ->type_name("I")
      ->check(CLI::Range(0, std::numeric_limits<int>::max()));
  AddListenFlags(server, flags, /*grpc=*/true);
  server
      ->add_option("--advertise_address", flags.advertise_address,
                   "The address workers dial, if not the --listen address; "
                   "port 0 means the port actually bound")
      ->type_name("HOST:PORT")
      ->check(HostPortFlag(/*listen=*/true));
  server->footer(
      "Example:\n"
      "  descent server --coordinator 10.0.0.1:7000 --shard 0 "
      "--listen 10.0.0.2:7001 --insecure");

  CLI::App* worker =
      app.add_subcommand("worker", "Train as one worker of a job");
  AddCoordinatorFlag(worker, flags);
  AddListenFlags(worker, flags, /*grpc=*/true);
  AddLocalWorkersFlag(worker, flags);
  worker
      ->add_option("--worker_id", flags.worker_id,
                   "Ask the coordinator for this worker id, 0..W-1 "
                   "(default: the lowest free one)")
      ->type_name("I")
      ->check(CLI::Range(0, std::numeric_limits<int>::max()));
  worker->footer("Example:\n  descent worker --coordinator 10.0.0.1:7000");

  CLI::App* predict = app.add_subcommand(
      "predict", "Predict with a job's trained model (model/ or best_model/)");
  AddModelFlag(predict, flags);
  predict
      ->add_option("--data", flags.data,
                   "Examples to predict: CSV or TSV (a label column last, "
                   "as the job's files), LIBSVM, or an IDX image file")
      ->required()
      ->type_name("FILE");
  predict
      ->add_option("--format", flags.format,
                   "The data's format (default: by the file name)")
      ->type_name("csv|libsvm|idx")
      ->check(CLI::IsMember({"csv", "libsvm", "idx"}));
  predict
      ->add_option("--labels", flags.labels,
                   "IDX only: the images' label file, checked against them")
      ->type_name("FILE");
  predict
      ->add_option("--output", flags.output,
                   "Write the predictions here (default: stdout)")
      ->type_name("FILE");
  predict
      ->add_option("--max_examples", flags.max_examples,
                   "Only the first N examples (as data.idx.max_test_examples)")
      ->type_name("N")
      ->check(CLI::Range(int64_t{0}, std::numeric_limits<int64_t>::max()));
  predict->footer(
      "Writes a header, then one row per example: class,label,p0,...,pK-1 "
      "for\nclassifiers (label: the data's own label of the class; an SVM "
      "has no\nprobabilities), value for regression. Dense models only.\n\n"
      "Examples:\n"
      "  descent predict --model runs/job1/model --data test.csv "
      "--output preds.csv\n"
      "  descent predict --model runs/mlp/model \\\n"
      "      --data t10k-images-idx3-ubyte.gz --max_examples 1000");

  CLI::App* evaluate = app.add_subcommand(
      "evaluate",
      "Measure a trained model on its job's test split, as the job did");
  AddModelFlag(evaluate, flags);
  evaluate
      ->add_option("--config", flags.config,
                   "The job's config (its output directory's "
                   "config.textproto): measure on its test split")
      ->type_name("FILE");
  evaluate
      ->add_option("--data", flags.data,
                   "Or measure on these labelled examples (dense models): "
                   "CSV or TSV, LIBSVM, or IDX images with --labels")
      ->type_name("FILE");
  evaluate
      ->add_option("--format", flags.format,
                   "--data's format (default: by the file name)")
      ->type_name("csv|libsvm|idx")
      ->check(CLI::IsMember({"csv", "libsvm", "idx"}));
  evaluate
      ->add_option("--labels", flags.labels,
                   "IDX --data: the images' label file")
      ->type_name("FILE");
  evaluate->footer(
      "Prints test_accuracy, test_loss (and test_rmse, test_auc where they "
      "apply)\nas the job printed them.\n\n"
      "Example:\n"
      "  descent evaluate --model runs/job1/model "
      "--config runs/job1/config.textproto\n"
      "  descent evaluate --model runs/job1/model --data more.csv");

  CLI::App* export_command = app.add_subcommand(
      "export", "Write a trained dense model as an ONNX model");
  AddModelFlag(export_command, flags);
  export_command
      ->add_option("--format", flags.format, "The model file's format")
      ->required()
      ->type_name("onnx")
      ->check(CLI::IsMember({"onnx"}));
  export_command
      ->add_option("--output", flags.output,
                   "Write the model here (default: DIR/model.onnx)")
      ->type_name("FILE");
  export_command->footer(
      "Writes an ONNX model (opset 13): input \"input\" float [N, features] "
      "(as\ndescent predict reads them; the graph applies the manifest's "
      "scaling),\noutputs \"probabilities\" (an SVM: \"scores\") and "
      "\"class\", or \"value\" for\nregression. Dense models only "
      "(linear, logistic, softmax, SVM, MLP, CNN).\n\n"
      "Example:\n"
      "  descent export --model runs/job1/model --format onnx "
      "--output job1.onnx");

  CLI::App* health = app.add_subcommand(
      "health",
      "Ask a descent process (or any gRPC server) whether it is SERVING "
      "(grpc.health.v1): for container and Kubernetes probes");
  health->add_option("address", flags.address, "The process's gRPC address")
      ->required()
      ->type_name("HOST:PORT")
      ->check(HostPortFlag(/*listen=*/false));
  health
      ->add_option("--timeout", flags.timeout_seconds,
                   "Seconds to wait for the answer")
      ->type_name("SECONDS")
      ->check(CLI::Range(0.001, 3600.0))
      ->capture_default_str();
  health
      ->add_option("--service", flags.service,
                   "The service to ask about (default: the whole process)")
      ->type_name("NAME");
  AddSecurityFlags(health, flags);
  health->footer(
      "Prints the status and exits 0 if SERVING, 5 if the process answers "
      "another\nstatus (NOT_SERVING: a shard that refuses work, a worker "
      "not yet registered),\n4 if nothing answered within --timeout. No "
      "token is needed; give --tls_ca\n(and --tls_cert, --tls_key for mTLS) "
      "to reach a TLS server.\n\n"
      "Example:\n"
      "  descent health 127.0.0.1:7000 --timeout 2");

  CLI::App* privacy = app.add_subcommand(
      "privacy",
      "What DP-SGD or DP-FedAvg spends: epsilon of the subsampled Gaussian "
      "mechanism by the RDP accountant, or the noise a budget needs");
  privacy
      ->add_option("--sampling_rate", flags.sampling_rate,
                   "q: the batch over the examples (DP-SGD), or the clients "
                   "a round samples over the clients (DP-FedAvg)")
      ->required()
      ->type_name("Q")
      ->check(CLI::Range(0.0, 1.0));
  privacy->add_option("--steps", flags.steps, "Steps (rounds) composed")
      ->required()
      ->type_name("N")
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 40));
  privacy->add_option("--delta", flags.delta, "delta of (epsilon, delta)")
      ->required()
      ->type_name("DELTA")
      ->check(CLI::Range(1e-300, 0.999999));
  CLI::Option* noise =
      privacy
          ->add_option("--noise_multiplier", flags.noise_multiplier,
                       "z: the noise's standard deviation over the clip norm")
          ->type_name("Z")
          ->check(CLI::Range(0.0, 1e6));
  privacy
      ->add_option("--target_epsilon", flags.target_epsilon,
                   "Instead of --noise_multiplier: find the smallest one "
                   "that spends at most this")
      ->type_name("EPSILON")
      ->check(CLI::Range(1e-6, 1e6))
      ->excludes(noise);
  privacy->footer(
      "Prints noise_multiplier, epsilon (the classic conversion, as TF "
      "Privacy\npublishes it) and epsilon_tight (Balle et al. 2020), each "
      "with its RDP order.\nOrders 1.1..10.9 by 0.1 and 12..63; Poisson "
      "sampling at rate q.\n\n"
      "Example (TF Privacy's MNIST tutorial, 60 epochs at batch 256):\n"
      "  descent privacy --sampling_rate 0.0042667 --steps 14063 --delta "
      "1e-5 --noise_multiplier 1.12");

  app.add_subcommand("version", "Print the version and exit");
  CLI::App* help = app.add_subcommand("help", "Print help for a command");
  help->add_option("command", flags.help_topic, "The command")
      ->type_name("COMMAND");
}

int UsageError(const std::string& message, const std::string& command) {
  std::fprintf(stderr, "descent: %s\nRun 'descent %s--help' for usage.\n",
               message.c_str(), command.empty() ? "" : (command + " ").c_str());
  return kExitUsage;
}

// An unknown command, told apart before CLI11 (which would call it an
// unexpected argument), with the nearest name.
std::string UnknownCommand(const std::string& name) {
  std::vector<std::string> names(std::begin(kCommandNames),
                                 std::end(kCommandNames));
  return absl::StrCat("unknown command \"", name, "\"",
                      NamesHint(name, names, "commands"));
}

// An unknown flag of `command` in args[first...], with the nearest name
// (CLI11 would first complain of a missing required flag, and suggests
// nothing); empty if there is none.
std::string UnknownFlag(const CLI::App& command, int argc, char** argv,
                        int first) {
  std::vector<std::string> names;
  for (const CLI::Option* option : command.get_options()) {
    names.push_back(option->get_name());
  }
  for (int i = first; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.size() < 2 || arg[0] != '-') continue;
    const std::string name = arg.substr(0, arg.find('='));
    const CLI::Option* option = command.get_option_no_throw(name);
    if (option == nullptr) {
      return absl::StrCat("unknown flag ", name,
                          NamesHint(name, names, "flags"));
    }
    // A value in the next argument is not a flag, whatever it looks like.
    if (arg.find('=') == std::string::npos && option->get_type_size() > 0) ++i;
  }
  return "";
}

bool IsCommand(const std::string& name) {
  for (const char* command : kCommandNames) {
    if (name == command) return true;
  }
  return false;
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

// Serving gRPC unencrypted, or /metrics (plain HTTP, no authentication),
// beyond this host must be asked for.
std::string CheckListen(const Flags& flags) {
  if (flags.insecure) return "";
  if (!IsLoopbackAddress(flags.listen) && flags.tls_cert.empty()) {
    return absl::StrCat("--listen=", flags.listen,
                        " is not a loopback address and gRPC here is "
                        "unencrypted; give --tls_cert and --tls_key, or pass "
                        "--insecure to serve on it anyway");
  }
  if (!IsLoopbackAddress(flags.metrics_listen)) {
    return absl::StrCat("--metrics_listen=", flags.metrics_listen,
                        " is not a loopback address and /metrics is served "
                        "without TLS or authentication; pass --insecure to "
                        "serve it there anyway");
  }
  return "";
}

RpcSecuritySources SecuritySources(const Flags& flags) {
  return {.token_file = flags.token_file,
          .tls_cert = flags.tls_cert,
          .tls_key = flags.tls_key,
          .tls_ca = flags.tls_ca,
          .insecure = flags.insecure};
}

// The flags that hand this process's security sources to a child.
std::vector<std::string> SecurityFlags(const Flags& flags) {
  std::vector<std::string> out;
  auto add = [&out](const char* name, const std::string& path) {
    if (path.empty()) return;
    std::error_code error;
    const std::filesystem::path absolute =
        std::filesystem::absolute(path, error);
    out.push_back(absl::StrCat(name, "=", error ? path : absolute.string()));
  };
  add("--token_file", flags.token_file);
  add("--tls_cert", flags.tls_cert);
  add("--tls_key", flags.tls_key);
  add("--tls_ca", flags.tls_ca);
  return out;
}

int Local(const Flags& flags) {
  const std::string source_problem =
      CheckJobSource(flags, /*config_and_resume=*/false);
  if (!source_problem.empty()) return UsageError(source_problem, "local");
  LocalOptions options;
  options.resume_dir = flags.resume;
  options.config_path = flags.config;
  options.overrides = flags.sets;
  options.output_dir = flags.output_dir;
  options.overwrite = flags.overwrite;
  options.binary = SelfPath();
  options.prometheus_sd_file = flags.prometheus_sd_file;
  // Without a token of the user's, the job gets a fresh one, which the
  // children inherit.
  const char* env_token = std::getenv(kTokenEnv);
  if (flags.token_file.empty() && (env_token == nullptr || !*env_token)) {
    absl::StatusOr<std::string> token = NewJobToken();
    if (!token.ok()) {
      std::fprintf(stderr, "descent local: %s\n",
                   std::string(token.status().message()).c_str());
      return kExitJobFailed;
    }
    setenv(kTokenEnv, token->c_str(), 1);
  }
  absl::StatusOr<RpcSecurity> security =
      LoadRpcSecurity(SecuritySources(flags));
  if (!security.ok()) {
    return UsageError(std::string(security.status().message()), "local");
  }
  options.security = *std::move(security);
  options.security_flags = SecurityFlags(flags);
  absl::StatusOr<absl::Duration> linger = Linger(flags);
  if (!linger.ok()) {
    return UsageError(std::string(linger.status().message()), "local");
  }
  if (!options.prometheus_sd_file.empty()) {
    options.metrics_linger = *linger;
    const std::string problem = CheckSdFile(options.prometheus_sd_file);
    if (!problem.empty()) return UsageError(problem, "local");
  }
  return RunLocal(options);
}

int Coordinator(const Flags& flags) {
  const std::string listen_problem = CheckListen(flags);
  if (!listen_problem.empty()) return UsageError(listen_problem, "coordinator");
  absl::StatusOr<RpcSecurity> security =
      LoadRpcSecurity(SecuritySources(flags));
  if (!security.ok()) {
    return UsageError(std::string(security.status().message()), "coordinator");
  }
  absl::StatusOr<absl::Duration> linger = Linger(flags);
  if (!linger.ok()) {
    return UsageError(std::string(linger.status().message()), "coordinator");
  }
  const std::string source_problem =
      CheckJobSource(flags, /*config_and_resume=*/true);
  if (!source_problem.empty()) {
    return UsageError(source_problem, "coordinator");
  }
  absl::StatusOr<v1::JobConfig> config =
      flags.config.empty() ? ResumeConfig(flags.resume, flags.sets)
                           : LoadJobConfig(flags.config, flags.sets);
  if (!config.ok()) {
    LOG(ERROR) << config.status().message();
    return flags.config.size() || absl::IsInvalidArgument(config.status())
               ? kExitBadConfig
               : ExitCodeFor(config.status());
  }
  CoordinatorRoleOptions options;
  options.resume_dir = flags.resume;
  options.config = *std::move(config);
  options.output_dir = flags.output_dir;
  options.overwrite = flags.overwrite;
  options.listen = flags.listen;
  options.metrics_listen = flags.metrics_listen;
  options.ready_file = flags.ready_file;
  options.security = *std::move(security);
  options.local_workers = flags.local_workers;
  options.metrics_linger = *linger;
  options.server_restarts = flags.server_restarts;
  options.steps_lost = flags.steps_lost;
  return RunCoordinator(options);
}

int Server(const Flags& flags) {
  const std::string listen_problem = CheckListen(flags);
  if (!listen_problem.empty()) return UsageError(listen_problem, "server");
  absl::StatusOr<RpcSecurity> security =
      LoadRpcSecurity(SecuritySources(flags));
  if (!security.ok()) {
    return UsageError(std::string(security.status().message()), "server");
  }
  ServerRoleOptions options;
  options.coordinator = flags.coordinator;
  options.shard = flags.shard;
  options.listen = flags.listen;
  options.advertise_address = flags.advertise_address;
  options.metrics_listen = flags.metrics_listen;
  options.security = *std::move(security);
  return RunServer(options);
}

int Health(const Flags& flags) {
  RpcSecuritySources sources = SecuritySources(flags);
  sources.insecure = true;  // health answers without a token
  absl::StatusOr<RpcSecurity> security = LoadRpcSecurity(sources);
  if (!security.ok()) {
    return UsageError(std::string(security.status().message()), "health");
  }
  absl::StatusOr<std::string> status =
      CheckHealth(flags.address, *security, flags.service,
                  absl::Seconds(flags.timeout_seconds));
  if (!status.ok()) {
    std::fprintf(stderr, "descent health: %s\n",
                 std::string(status.status().message()).c_str());
    return absl::IsNotFound(status.status()) ? kExitJobFailed : kExitPeerLost;
  }
  std::printf("%s\n", status->c_str());
  return *status == "SERVING" ? kExitOk : kExitJobFailed;
}

int Privacy(const Flags& flags) {
  if ((flags.noise_multiplier < 0) == (flags.target_epsilon < 0)) {
    return UsageError("give one of --noise_multiplier and --target_epsilon",
                      "privacy");
  }
  double z = flags.noise_multiplier;
  if (flags.target_epsilon > 0) {
    z = NoiseForEpsilon(flags.sampling_rate, flags.steps, flags.delta,
                        flags.target_epsilon);
  }
  const std::vector<double> orders = DefaultRdpOrders();
  const std::vector<double> rdp =
      ComputeRdp(flags.sampling_rate, z, flags.steps, orders);
  const PrivacySpent classic = EpsilonClassic(orders, rdp, flags.delta);
  const PrivacySpent tight = EpsilonTight(orders, rdp, flags.delta);
  std::printf(
      "sampling_rate: %.6g\nsteps: %lld\ndelta: %g\nnoise_multiplier: "
      "%.6g\nepsilon: %.6g (order %g)\nepsilon_tight: %.6g (order %g)\n",
      flags.sampling_rate, static_cast<long long>(flags.steps), flags.delta, z,
      classic.epsilon, classic.order, tight.epsilon, tight.order);
  return kExitOk;
}

int Worker(const Flags& flags) {
  const std::string listen_problem = CheckListen(flags);
  if (!listen_problem.empty()) return UsageError(listen_problem, "worker");
  absl::StatusOr<RpcSecurity> security =
      LoadRpcSecurity(SecuritySources(flags));
  if (!security.ok()) {
    return UsageError(std::string(security.status().message()), "worker");
  }
  WorkerRoleOptions options;
  options.coordinator = flags.coordinator;
  options.listen = flags.listen;
  options.security = *std::move(security);
  options.metrics_listen = flags.metrics_listen;
  options.local_workers = flags.local_workers;
  options.worker_id = flags.worker_id;
  return RunWorker(options);
}

int Help(const CLI::App& app, const std::string& topic) {
  // The formatter, not App::help, which would describe the chosen command:
  // `help` itself.
  const CLI::App* about = &app;
  std::string name = "descent";
  if (!topic.empty()) {
    if (!IsCommand(topic)) return UsageError(UnknownCommand(topic), "");
    about = app.get_subcommand(topic);
    name = absl::StrCat("descent ", topic);
  }
  std::printf("%s", about->get_formatter()
                        ->make_help(about, name, CLI::AppFormatMode::Normal)
                        .c_str());
  return kExitOk;
}

int Run(int argc, char** argv) {
  CLI::App app("descent: distributed parameter-server training", "descent");
  Flags flags;
  Define(app, flags);
  if (argc >= 2 && argv[1][0] != '-') {
    if (!IsCommand(argv[1])) return UsageError(UnknownCommand(argv[1]), "");
    const std::string unknown =
        UnknownFlag(*app.get_subcommand(argv[1]), argc, argv, 2);
    if (!unknown.empty()) return UsageError(unknown, argv[1]);
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    std::printf("%s", app.help().c_str());  // the chosen command's, if any
    return kExitOk;
  } catch (const CLI::CallForVersion&) {
    std::printf("%s\n", VersionLine().c_str());
    return kExitOk;
  } catch (const CLI::ParseError& e) {
    const std::vector<CLI::App*> chosen = app.get_subcommands();
    return UsageError(e.what(), chosen.empty() ? "" : chosen[0]->get_name());
  }
  FLAGS_logtostderr = true;
  google::InitGoogleLogging(argv[0]);
  const std::vector<CLI::App*> chosen = app.get_subcommands();
  if (chosen.empty()) {
    Help(app, "");
    std::fprintf(stderr, "descent: no command given\n");
    return kExitUsage;  // a command is needed
  }
  const std::string command = chosen[0]->get_name();
  if (command == "local") return Local(flags);
  if (command == "coordinator") return Coordinator(flags);
  if (command == "server") return Server(flags);
  if (command == "worker") return Worker(flags);
  if (command == "predict") {
    return RunPredict({.model_dir = flags.model_dir,
                       .data = flags.data,
                       .format = flags.format,
                       .labels = flags.labels,
                       .output = flags.output,
                       .max_examples = flags.max_examples});
  }
  if (command == "evaluate") {
    if (flags.config.empty() == flags.data.empty()) {
      return UsageError(
          "give one of --config (the job's test split) and "
          "--data (a labelled file)",
          "evaluate");
    }
    return RunEvaluate({.model_dir = flags.model_dir,
                        .config = flags.config,
                        .data = flags.data,
                        .format = flags.format,
                        .labels = flags.labels});
  }
  if (command == "export") {
    return RunExport({.model_dir = flags.model_dir,
                      .format = flags.format,
                      .output = flags.output});
  }
  if (command == "health") return Health(flags);
  if (command == "privacy") return Privacy(flags);
  if (command == "version") {
    std::printf("%s\n", VersionLine().c_str());
    return kExitOk;
  }
  return Help(app, flags.help_topic);
}

}  // namespace
}  // namespace descent

int main(int argc, char** argv) {
  // OpenMP threads waiting for work (a worker waiting on the network) must
  // sleep, not spin on cores the job's other processes need. libgomp reads
  // OMP_WAIT_POLICY once, as it loads, so an unset one is set here and the
  // process starts again; children inherit it. A user's own value stands.
  if (getenv("OMP_WAIT_POLICY") == nullptr) {
    setenv("OMP_WAIT_POLICY", "PASSIVE", 1);
    execv("/proc/self/exe", argv);  // returns only if it failed: go on
  }
  descent::KeepTensorBuffersInHeap();
  return descent::Run(argc, argv);
}
