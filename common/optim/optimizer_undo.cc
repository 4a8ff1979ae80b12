// Optimizer's all-or-nothing updates: saving what an update changes,
// checking its result, and taking it back (optimizer.h, UndoLog).
#include <algorithm>
#include <cstring>

#include "common/optim/optimizer.h"
#include "common/wire.h"

namespace descent {
namespace {

// An update is saved (or written out of place), applied and checked this
// many elements at a time, so that the check reads what the update just
// wrote while it is in cache.
constexpr int64_t kChunk = 4096;

template <typename T>
int64_t Bytes(const std::vector<T>& v) {
  return static_cast<int64_t>(v.capacity() * sizeof(T));
}

}  // namespace

void UndoLog::Clear() {
  ranges_.clear();
  f32_.clear();
  i32_.clear();
  swapped_ = nullptr;
}

int64_t UndoLog::bytes() const {
  int64_t bytes = Bytes(f32_) + Bytes(i32_) + Bytes(ranges_) +
                  Bytes(spare_params_) + Bytes(spare_f32_) + Bytes(spare_i32_);
  for (const std::vector<float>& v : spare_f32_) bytes += Bytes(v);
  for (const std::vector<int32_t>& v : spare_i32_) bytes += Bytes(v);
  return bytes;
}

const std::vector<Optimizer::Buffer>& Optimizer::CachedBuffers() const {
  if (!buffers_cached_) {
    buffers_ = const_cast<Optimizer*>(this)->Buffers();
    buffers_cached_ = true;
  }
  return buffers_;
}

void Optimizer::Save(int64_t position, int64_t n, std::vector<float>* params,
                     int64_t index, UndoLog* log) {
  log->ranges_.push_back({params, index, position, n});
  log->f32_.insert(log->f32_.end(), params->begin() + index,
                   params->begin() + index + n);
  for (const Buffer& buffer : CachedBuffers()) {
    if (buffer.f32 != nullptr) {
      log->f32_.insert(log->f32_.end(), buffer.f32->begin() + position,
                       buffer.f32->begin() + position + n);
    } else {
      log->i32_.insert(log->i32_.end(), buffer.i32->begin() + position,
                       buffer.i32->begin() + position + n);
    }
  }
}

void Optimizer::Undo(UndoLog* log) {
  size_t f32_end = log->f32_.size(), i32_end = log->i32_.size();
  const std::vector<Buffer>& buffers = CachedBuffers();
  for (auto range = log->ranges_.rbegin(); range != log->ranges_.rend();
       ++range) {
    // Each range saved the parameters, then the buffers in order: take
    // them back from the end.
    for (auto buffer = buffers.rbegin(); buffer != buffers.rend(); ++buffer) {
      if (buffer->f32 != nullptr) {
        f32_end -= range->n;
        std::copy_n(log->f32_.begin() + f32_end, range->n,
                    buffer->f32->begin() + range->position);
      } else {
        i32_end -= range->n;
        std::copy_n(log->i32_.begin() + i32_end, range->n,
                    buffer->i32->begin() + range->position);
      }
    }
    f32_end -= range->n;
    std::copy_n(log->f32_.begin() + f32_end, range->n,
                range->params->begin() + range->index);
  }
  // An out-of-place update (before any range saved since): the log holds
  // the state as it was.
  if (log->swapped_ != nullptr) SwapIn(log);
  log->Clear();
}

int64_t Optimizer::FirstNonFinite(int64_t position, int64_t n,
                                  const float* params) const {
  int64_t first = FirstNonFiniteFloat(params, n);
  for (const Buffer& buffer : CachedBuffers()) {
    if (buffer.f32 == nullptr) continue;
    const int64_t bad = FirstNonFiniteFloat(buffer.f32->data() + position, n);
    if (bad >= 0 && (first < 0 || bad < first)) first = bad;
  }
  return first;
}

int64_t Optimizer::ApplyFinite(int64_t position, const float* grad, int64_t n,
                               int64_t version, std::vector<float>* params,
                               int64_t index, UndoLog* log) {
  log->Clear();
  if (position == 0 && index == 0 &&
      n == static_cast<int64_t>(params->size()) &&
      (StateSize() < 0 || n == StateSize())) {
    return ApplyOutOfPlace(grad, n, version, params, log);
  }
  for (int64_t begin = 0; begin < n; begin += kChunk) {
    const int64_t k = std::min(kChunk, n - begin);
    Save(position + begin, k, params, index + begin, log);
    float* out = params->data() + index + begin;
    Apply(position + begin, grad + begin, k, version, out);
    const int64_t bad = FirstNonFinite(position + begin, k, out);
    if (bad >= 0) {
      Undo(log);
      return begin + bad;
    }
  }
  return -1;
}

int64_t Optimizer::StateSize() const {
  for (const Buffer& buffer : CachedBuffers()) {
    return static_cast<int64_t>(buffer.f32 != nullptr ? buffer.f32->size()
                                                      : buffer.i32->size());
  }
  return -1;
}

int64_t Optimizer::ApplyOutOfPlace(const float* grad, int64_t n,
                                   int64_t version, std::vector<float>* params,
                                   UndoLog* log) {
  const std::vector<Buffer>& buffers = CachedBuffers();
  log->spare_params_.resize(n);
  log->spare_f32_.resize(buffers.size());
  log->spare_i32_.resize(buffers.size());
  std::vector<Buffer> next = buffers;
  for (size_t b = 0; b < buffers.size(); ++b) {
    if (buffers[b].f32 != nullptr) {
      log->spare_f32_[b].resize(n);
      next[b].f32 = &log->spare_f32_[b];
    } else {
      log->spare_i32_[b].resize(n);
      next[b].i32 = &log->spare_i32_[b];
    }
  }
  for (int64_t begin = 0; begin < n; begin += kChunk) {
    const int64_t k = std::min(kChunk, n - begin);
    float* out = log->spare_params_.data() + begin;
    ApplyInto(begin, grad + begin, k, version, params->data() + begin, out,
              next);
    int64_t bad = FirstNonFiniteFloat(out, k);
    for (const Buffer& buffer : next) {
      if (buffer.f32 == nullptr) continue;
      const int64_t at = FirstNonFiniteFloat(buffer.f32->data() + begin, k);
      if (at >= 0 && (bad < 0 || at < bad)) bad = at;
    }
    // Nothing of this optimizer or of *params was written yet.
    if (bad >= 0) return begin + bad;
  }
  log->swapped_ = params;
  SwapIn(log);
  return -1;
}

void Optimizer::SwapIn(UndoLog* log) {
  log->swapped_->swap(log->spare_params_);
  const std::vector<Buffer>& buffers = CachedBuffers();
  for (size_t b = 0; b < buffers.size(); ++b) {
    if (buffers[b].f32 != nullptr) buffers[b].f32->swap(log->spare_f32_[b]);
    if (buffers[b].i32 != nullptr) buffers[b].i32->swap(log->spare_i32_[b]);
  }
}

void Optimizer::Truncate(int64_t size) {
  for (const Buffer& buffer : CachedBuffers()) {
    if (buffer.f32 != nullptr && buffer.f32->size() > size_t(size)) {
      buffer.f32->resize(size);
    } else if (buffer.i32 != nullptr && buffer.i32->size() > size_t(size)) {
      buffer.i32->resize(size);
    }
  }
}

}  // namespace descent
