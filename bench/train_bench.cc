// descent's in-process training step, for comparison with PyTorch
// (bench/pytorch_compare.py prints the same lines): Fashion-MNIST's training
// set in memory, then Network::LossAndGradient plus a plain SGD update
// (params -= lr * grad) over consecutive batches, wrapping at the end of the
// set. A warm-up, then a timed run of --seconds (default 3 for the MLP, 5
// for the CNN); one line per config:
//
//   model=mlp batch=64 threads=1 samples_per_second=12345.6 steps=... ...
//
// Without flags it runs mlp b64, mlp b256 and cnn b64, each with 1 and 2
// threads; --model, --batch and --threads pick a subset. Pin
// OMP_NUM_THREADS and OMP_WAIT_POLICY=passive in the environment (see
// bench/compare_pytorch.sh).
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "Eigen/Core"
#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "bench/bench_models.h"
#include "common/data/dataset.h"
#include "common/data/idx_reader.h"
#include "common/model/network.h"
#include "glog/logging.h"

ABSL_FLAG(std::string, model, "", "mlp or cnn; empty: both");
ABSL_FLAG(int, batch, 0, "batch size; 0: 64 and 256 for mlp, 64 for cnn");
ABSL_FLAG(int, threads, 0, "Network threads; 0: 1 and 2");
ABSL_FLAG(double, seconds, 0, "timed seconds per config; 0: mlp 3, cnn 5");
ABSL_FLAG(double, warmup_seconds, 0.5, "untimed seconds before each run");
ABSL_FLAG(double, learning_rate, 0.05, "SGD step size");
ABSL_FLAG(std::string, data_dir, "/usr/share/datasets/fashion-mnist",
          "holds train-images-idx3-ubyte.gz and train-labels-idx1-ubyte.gz");

namespace descent {
namespace bench {
namespace {

using Clock = std::chrono::steady_clock;

struct RunConfig {
  ModelSpec model;
  int batch = 64;
  int threads = 1;
  double seconds = 3;
};

// What one timed run measured.
struct RunResult {
  int64_t steps = 0;
  double seconds = 0;
  float last_loss = 0;
};

// Steps over consecutive batches of `data`, for `seconds`.
class SgdLoop {
 public:
  SgdLoop(const RunConfig& config, const Dataset* data, float learning_rate)
      : config_(config), data_(data), learning_rate_(learning_rate) {
    network_ =
        Network::Create(config.model.input, config.model.hidden,
                        config.model.num_classes, config.batch, config.threads)
            .value();
    const int64_t size = network_->layout().size();
    params_.resize(size);
    grad_.resize(size);
    network_->layout().Initialize(/*seed=*/1, 0, size, params_.data());
  }

  RunResult Run(double seconds) {
    RunResult result;
    const Clock::time_point start = Clock::now();
    do {
      result.last_loss = Step();
      ++result.steps;
      result.seconds =
          std::chrono::duration<double>(Clock::now() - start).count();
    } while (result.seconds < seconds);
    return result;
  }

 private:
  float Step() {
    if (next_ + config_.batch > data_->num_examples) next_ = 0;
    const Batch batch{data_->example(next_), data_->labels.data() + next_,
                      config_.batch};
    next_ += config_.batch;
    const float loss =
        network_->LossAndGradient(params_.data(), batch, grad_.data());
    Eigen::Map<Eigen::VectorXf>(params_.data(), params_.size()) -=
        learning_rate_ *
        Eigen::Map<const Eigen::VectorXf>(grad_.data(), grad_.size());
    return loss;
  }

  const RunConfig config_;
  const Dataset* const data_;
  const float learning_rate_;
  std::unique_ptr<Network> network_;
  std::vector<float> params_;
  std::vector<float> grad_;
  int64_t next_ = 0;  // first example of the next batch
};

// The configs the flags select.
std::vector<RunConfig> SelectedConfigs() {
  const std::string model = absl::GetFlag(FLAGS_model);
  const int batch = absl::GetFlag(FLAGS_batch);
  const int threads = absl::GetFlag(FLAGS_threads);
  const double seconds = absl::GetFlag(FLAGS_seconds);
  std::vector<RunConfig> configs;
  for (const ModelSpec& spec : {Mlp(), Cnn()}) {
    if (!model.empty() && model != spec.name) continue;
    std::vector<int> batches = {64};
    if (batch > 0) {
      batches = {batch};
    } else if (spec.name == "mlp") {
      batches = {64, 256};
    }
    for (int b : batches) {
      for (int t : {1, 2}) {
        if (threads > 0 && t != 1) break;
        configs.push_back(RunConfig{spec, b, threads > 0 ? threads : t,
                                    seconds > 0          ? seconds
                                    : spec.name == "mlp" ? 3.0
                                                         : 5.0});
      }
    }
  }
  return configs;
}

int Main() {
  const std::vector<RunConfig> configs = SelectedConfigs();
  if (configs.empty()) {
    std::fprintf(stderr, "no config: --model must be mlp or cnn\n");
    return 2;
  }
  const std::string dir = absl::GetFlag(FLAGS_data_dir);
  absl::StatusOr<Dataset> data =
      ReadIdx(dir + "/train-images-idx3-ubyte.gz",
              dir + "/train-labels-idx1-ubyte.gz", /*num_classes=*/10);
  if (!data.ok()) {
    std::fprintf(stderr, "%s\n", data.status().ToString().c_str());
    return 1;
  }
  for (const RunConfig& config : configs) {
    SgdLoop loop(config, &*data, absl::GetFlag(FLAGS_learning_rate));
    loop.Run(absl::GetFlag(FLAGS_warmup_seconds));
    const RunResult r = loop.Run(config.seconds);
    std::printf(
        "model=%s batch=%d threads=%d samples_per_second=%.1f steps=%lld "
        "seconds=%.3f loss=%.4f\n",
        config.model.name.c_str(), config.batch, config.threads,
        r.steps * config.batch / r.seconds, static_cast<long long>(r.steps),
        r.seconds, r.last_loss);
    std::fflush(stdout);
  }
  return 0;
}

}  // namespace
}  // namespace bench
}  // namespace descent

int main(int argc, char** argv) {
  google::InitGoogleLogging(argv[0]);
  absl::ParseCommandLine(argc, argv);
  return descent::bench::Main();
}
