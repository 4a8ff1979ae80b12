// Each optimizer's update of a dense slice against the machine's memory
// bandwidth, measured in the same run:
//   BM_Triad/<n>              STREAM's triad a = b + s * c on n floats,
//                             12 bytes per element (STREAM's count)
//   BM_Apply/<rule>/<n>       Optimizer::ApplyFinite, the shard's path (all
//                             or nothing: saved, applied, checked)
//   BM_ApplyOnly/<rule>/<n>   Optimizer::Apply alone
// bytes_per_second counts the least traffic an update needs, STREAM's way:
// the gradient read, the parameter and each per-parameter state value
// read and written (Adam: 4 + 8 + 3 * 8 = 36 bytes per parameter), so
// BM_Apply's bytes_per_second / BM_Triad's is the fraction of the STREAM
// bound the update reaches. bench/optimizers.sh runs it and prints those
// ratios.
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "common/optim/optimizer.h"
#include "descent/v1/job.pb.h"
#include "glog/logging.h"

namespace descent {
namespace bench {
namespace {

std::vector<float> Uniform(int64_t n, float low, float high, uint32_t seed) {
  std::mt19937 random(seed);
  std::uniform_real_distribution<float> value(low, high);
  std::vector<float> out(n);
  for (float& x : out) x = value(random);
  return out;
}

void BM_Triad(benchmark::State& state) {
  const int64_t n = state.range(0);
  std::vector<float> a(n, 0.0f), b = Uniform(n, -1, 1, 1),
                                 c = Uniform(n, -1, 1, 2);
  for (auto _ : state) {
    float* __restrict pa = a.data();
    const float* __restrict pb = b.data();
    const float* __restrict pc = c.data();
    for (int64_t i = 0; i < n; ++i) pa[i] = pb[i] + 0.5f * pc[i];
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(state.iterations() * n * 12);
}

v1::OptimizerConfig ConfigOf(const std::string& rule) {
  v1::OptimizerConfig config;
  if (rule == "sgd") config.mutable_sgd();
  if (rule == "momentum") config.mutable_momentum();
  if (rule == "nesterov") config.mutable_momentum()->set_nesterov(true);
  if (rule == "adagrad") config.mutable_adagrad();
  if (rule == "rmsprop") config.mutable_rmsprop();
  if (rule == "adam") config.mutable_adam();
  if (rule == "adamw") config.mutable_adamw();
  if (rule == "ftrl") config.mutable_ftrl();
  ApplyOptimizerDefaults(&config);
  return config;
}

// args: n. `finite`: through ApplyFinite (the shard's path) or Apply.
void RunApply(benchmark::State& state, const std::string& rule, bool finite) {
  const int64_t n = state.range(0);
  std::unique_ptr<Optimizer> optimizer =
      CreateOptimizer(ConfigOf(rule), n).value();
  const int64_t buffers = static_cast<int64_t>(optimizer->State("").size());
  std::vector<float> params = Uniform(n, -0.1f, 0.1f, 3);
  // Small gradients, so that thousands of updates stay finite.
  const std::vector<float> grad = Uniform(n, -1e-3f, 1e-3f, 4);
  UndoLog log;
  int64_t version = 0;
  // One untimed update first: a shard keeps its undo log, so its spares
  // are allocated and touched once per job, not once per update (without
  // this, short repetitions of 8M parameters timed mostly page faults).
  if (finite) {
    optimizer->ApplyFinite(0, grad.data(), n, version, &params, 0, &log);
  } else {
    optimizer->Apply(0, grad.data(), n, version, params.data());
  }
  ++version;
  for (auto _ : state) {
    if (finite) {
      const int64_t bad =
          optimizer->ApplyFinite(0, grad.data(), n, version, &params, 0, &log);
      if (bad >= 0) {
        state.SkipWithError("an update was not finite");
        break;
      }
    } else {
      optimizer->Apply(0, grad.data(), n, version, params.data());
    }
    ++version;
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(state.iterations() * n * (12 + 8 * buffers));
  state.counters["bytes_per_parameter"] = 12 + 8 * buffers;
}

const char* const kRules[] = {"sgd",     "momentum", "nesterov", "adagrad",
                              "rmsprop", "adam",     "adamw",    "ftrl"};

void Register() {
  for (int64_t n : {int64_t{1} << 20, int64_t{1} << 23}) {
    benchmark::RegisterBenchmark("BM_Triad", BM_Triad)->Arg(n);
    for (const char* rule : kRules) {
      benchmark::RegisterBenchmark(
          (std::string("BM_Apply/") + rule).c_str(),
          [rule](benchmark::State& s) { RunApply(s, rule, true); })
          ->Arg(n);
      benchmark::RegisterBenchmark(
          (std::string("BM_ApplyOnly/") + rule).c_str(),
          [rule](benchmark::State& s) { RunApply(s, rule, false); })
          ->Arg(n);
    }
  }
}

}  // namespace
}  // namespace bench
}  // namespace descent

int main(int argc, char** argv) {
  google::InitGoogleLogging(argv[0]);
  descent::bench::Register();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  return 0;
}
