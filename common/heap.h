// Process-wide allocator settings for a process that moves tensors.
#ifndef DESCENT_COMMON_HEAP_H_
#define DESCENT_COMMON_HEAP_H_

#include <malloc.h>

namespace descent {

// Parameter slices and gradients are megabytes per RPC, and gRPC and
// protobuf allocate a fresh buffer for each. Above glibc's mmap threshold
// each such buffer would be mmap'd, page-faulted in and unmapped per call
// (most of a server's time, measured with perf; a 0.94 MB PushPull took
// 3.4 ms instead of 1.0 ms in descent_pushpull_bench); keep them in the
// heap, where freed pages are reused. Call first thing in main().
inline void KeepTensorBuffersInHeap() {
  mallopt(M_MMAP_THRESHOLD, 1 << 30);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
}

}  // namespace descent

#endif  // DESCENT_COMMON_HEAP_H_
