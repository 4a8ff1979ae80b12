// Network::LossAndGradient (one forward + backward) against the same GEMMs
// on plain Eigen (gemm_reference.h), pairwise:
//   BM_MlpStep/<batch>/<threads>  vs  BM_EigenMlpGemms/<batch>/<threads>
//   BM_CnnStep/<batch>/<threads>  vs  BM_EigenCnnGemms/<batch>/<threads>
// Both report GFLOPS over the same count, the GEMM FLOPs of a step:
// 2 * rows * k * n per product; per dense or conv layer a forward and a
// weight-gradient product, plus an input-gradient product except for the
// first layer (Network skips it). Bias, activation, im2col, pooling and
// softmax are not counted, so the Network's GFLOPS / the reference's is the
// fraction of the GEMM ceiling it reaches. items_per_second = examples/s.
//
// Times are wall-clock (UseRealTime): the step runs on OpenMP threads.
// Run through bench/run_kernels.sh, which pins OMP_NUM_THREADS and
// OMP_WAIT_POLICY and prints the ratios.
#include <cstdint>
#include <memory>
#include <random>
#include <vector>

#include "bench/bench_models.h"
#include "bench/gemm_reference.h"
#include "benchmark/benchmark.h"
#include "common/model/model.h"
#include "common/model/network.h"
#include "glog/logging.h"

namespace descent {
namespace bench {
namespace {

void SetCounters(benchmark::State& state, int batch, double flops_per_step) {
  state.SetItemsProcessed(state.iterations() * batch);
  state.counters["GFLOPS"] = benchmark::Counter(
      flops_per_step * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

// args: batch, threads.
void RunNetworkStep(benchmark::State& state, const ModelSpec& spec) {
  const int batch = static_cast<int>(state.range(0));
  const int threads = static_cast<int>(state.range(1));
  std::unique_ptr<Network> network =
      Network::Create(spec.input, spec.hidden, spec.num_classes, batch, threads)
          .value();
  const int64_t size = network->layout().size();
  std::vector<float> params(size), grad(size);
  network->layout().Initialize(/*seed=*/1, 0, size, params.data());

  // Pixel-like inputs in [0, 1) and uniform labels.
  const int64_t features =
      int64_t{spec.input.channels} * spec.input.height * spec.input.width;
  std::mt19937 random(2);
  std::uniform_real_distribution<float> pixel(0.0f, 1.0f);
  std::vector<float> x(batch * features);
  for (float& v : x) v = pixel(random);
  std::vector<int32_t> labels(batch);
  for (int32_t& y : labels) y = random() % spec.num_classes;
  const Batch b{x.data(), labels.data(), batch};

  for (auto _ : state) {
    benchmark::DoNotOptimize(
        network->LossAndGradient(params.data(), b, grad.data()));
    benchmark::ClobberMemory();
  }
  SetCounters(state, batch, batch * GemmFlopsPerExample(GemmPlan(spec)));
}

void RunEigenGemms(benchmark::State& state, const ModelSpec& spec) {
  const int batch = static_cast<int>(state.range(0));
  const int threads = static_cast<int>(state.range(1));
  const std::vector<GemmLayer> plan = GemmPlan(spec);
  GemmReference reference(plan, batch, threads);
  for (auto _ : state) {
    reference.Step();
    benchmark::ClobberMemory();
  }
  SetCounters(state, batch, batch * GemmFlopsPerExample(plan));
}

void BM_MlpStep(benchmark::State& state) { RunNetworkStep(state, Mlp()); }
void BM_EigenMlpGemms(benchmark::State& state) { RunEigenGemms(state, Mlp()); }
void BM_CnnStep(benchmark::State& state) { RunNetworkStep(state, Cnn()); }
void BM_EigenCnnGemms(benchmark::State& state) { RunEigenGemms(state, Cnn()); }

BENCHMARK(BM_MlpStep)
    ->ArgsProduct({{64, 256}, {1, 2}})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_EigenMlpGemms)
    ->ArgsProduct({{64, 256}, {1, 2}})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_CnnStep)
    ->ArgsProduct({{64}, {1, 2}})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_EigenCnnGemms)
    ->ArgsProduct({{64}, {1, 2}})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace bench
}  // namespace descent

int main(int argc, char** argv) {
  google::InitGoogleLogging(argv[0]);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
