// The two networks descent's benchmarks measure, and the matrix products
// one training step of each performs.
//
//   mlp: input 784, dense 256 relu, dense 128 relu, 10 classes.
//   cnn: the McMahan et al. 2017 CNN: input {1, 28, 28}, conv 5x5x32 pad 2
//        relu, pool 2/2, conv 5x5x64 pad 2 relu, pool 2/2, dense 512 relu,
//        10 classes.
//
// GemmPlan lists each dense and conv layer's GEMMs the way
// common/model/layers.cc computes them, so a plain-Eigen reference
// (gemm_reference.h) can run exactly those shapes and both sides can count
// the same FLOPs. Pure functions; thread-safe.
#ifndef DESCENT_BENCH_BENCH_MODELS_H_
#define DESCENT_BENCH_BENCH_MODELS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "common/model/network.h"

namespace descent {
namespace bench {

// A network as Network::Create takes it.
struct ModelSpec {
  std::string name;  // "mlp" or "cnn"
  InputShape input;
  std::vector<LayerSpec> hidden;
  int num_classes = 10;
};

ModelSpec Mlp();
ModelSpec Cnn();

// The GEMMs of one dense or conv layer, all row-major:
//   dense, once per chunk of `rows` examples: forward Y = X W with
//     X (rows x k), W (k x n); weight gradient dW = X^T dY; input gradient
//     dX = dY W^T. `m` is unused (0).
//   conv, once per example: forward Y = W C with filters W (m x k) and
//     im2col columns C (k x n); weight gradient dW += dY C^T; input gradient
//     dC = W^T dY (then col2im).
// The first layer has no input gradient; pools have no GEMM.
struct GemmLayer {
  bool conv = false;
  int64_t m = 0;
  int64_t k = 0;
  int64_t n = 0;
  bool input_gradient = true;

  // Multiply-adds x 2 of this layer's forward and backward GEMMs for one
  // example.
  double FlopsPerExample() const;
};

// The plan for `spec`'s hidden layers and its output layer, in order.
std::vector<GemmLayer> GemmPlan(const ModelSpec& spec);

// Sum of FlopsPerExample over the plan: what one example of a training
// step costs in GEMM FLOPs (forward + weight gradient + input gradient).
double GemmFlopsPerExample(const std::vector<GemmLayer>& plan);

}  // namespace bench
}  // namespace descent

#endif  // DESCENT_BENCH_BENCH_MODELS_H_
