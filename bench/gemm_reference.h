// The ceiling a Network training step is measured against: a GemmPlan's
// matrix products (bench_models.h) run on plain Eigen, with Eigen::Map over
// row-major float buffers and noalias products, as common/model/layers.cc
// writes them, and nothing else: no bias, activation, im2col/col2im,
// pooling, softmax or gradient sum.
//
// The batch is split into `threads` contiguous chunks exactly as Network
// splits it (EvenPart; one OpenMP thread per chunk, each with its own
// buffers and weight gradients, Eigen single-threaded inside), so the two
// do the same GEMMs on the same shapes. Buffers hold fixed random values
// and are allocated at construction. Not thread-safe.
#ifndef DESCENT_BENCH_GEMM_REFERENCE_H_
#define DESCENT_BENCH_GEMM_REFERENCE_H_

#include <cstdint>
#include <vector>

#include "bench/bench_models.h"

namespace descent {
namespace bench {

class GemmReference {
 public:
  // batch >= 1, 1 <= threads <= batch.
  GemmReference(std::vector<GemmLayer> plan, int batch, int threads);

  // Every layer's forward GEMM, then, last layer first, its weight-gradient
  // and input-gradient GEMMs, over the whole batch.
  void Step();

 private:
  // One layer's buffers in one chunk (see GemmLayer for the shapes).
  struct LayerBuffers {
    std::vector<float> input;     // dense: X; conv: the columns C (and dC)
    std::vector<float> output;    // Y, all of the chunk's examples
    std::vector<float> d_output;  // dY, likewise
    std::vector<float> d_weights;
    std::vector<float> d_input;  // dense only: dX
  };
  struct Chunk {
    int64_t rows = 0;
    std::vector<LayerBuffers> layers;
  };

  void Forward(size_t l, Chunk* chunk) const;
  void Backward(size_t l, Chunk* chunk) const;

  const std::vector<GemmLayer> plan_;
  const int threads_;
  std::vector<std::vector<float>> weights_;  // per layer, shared read-only
  std::vector<Chunk> chunks_;
};

}  // namespace bench
}  // namespace descent

#endif  // DESCENT_BENCH_GEMM_REFERENCE_H_
