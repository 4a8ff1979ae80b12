#include "server/shard/consistency_gate.h"

#include <algorithm>
#include <limits>
#include <utility>

namespace descent {

ConsistencyGate::ConsistencyGate(ConsistencyGateOptions options)
    : options_(options),
      clock_(options.num_workers, 0),
      left_(options.num_workers, false),
      live_(options.num_workers),
      held_by_(options.num_workers, 0) {
  for (int32_t w = options.live_workers > 0 ? options.live_workers
                                            : options.num_workers;
       w < options.num_workers; ++w) {
    Leave(w);
  }
}

void ConsistencyGate::Join(int32_t worker) {
  if (!left_[worker]) return;
  left_[worker] = false;
  ++live_;
}

void ConsistencyGate::Arrived(int32_t worker, int64_t step) {
  clock_[worker] = std::max(clock_[worker], step + 1);
  latest_step_ = std::max(latest_step_, step);
}

void ConsistencyGate::Leave(int32_t worker) {
  if (left_[worker]) return;
  left_[worker] = true;
  --live_;
}

int ConsistencyGate::RoundSize() const {
  return std::max(1, live_ - options_.backup_workers);
}

int64_t ConsistencyGate::ClockLag(int64_t step) const {
  return std::max<int64_t>(0, latest_step_ - step);
}

void ConsistencyGate::Hold(Held held) {
  ++held_by_[held.worker];
  held_.push_back(std::move(held));
}

std::vector<ConsistencyGate::Held> ConsistencyGate::TakeReady(int64_t version) {
  std::vector<Held> ready;
  auto waiting = held_.begin();
  for (auto it = held_.begin(); it != held_.end(); ++it) {
    if (Ready(*it, version)) {
      --held_by_[it->worker];
      ready.push_back(std::move(*it));
    } else {
      *waiting++ = std::move(*it);
    }
  }
  held_.erase(waiting, held_.end());
  return ready;
}

std::vector<ConsistencyGate::Held> ConsistencyGate::TakeAll() {
  std::fill(held_by_.begin(), held_by_.end(), 0);
  return std::exchange(held_, {});
}

bool ConsistencyGate::Ready(const Held& held, int64_t version) const {
  switch (options_.consistency) {
    case v1::BSP:
      return version > held.base_version;
    case v1::SSP:
      return SlowestLiveClock() >= held.step + 1 - options_.staleness;
    default:
      return true;
  }
}

int64_t ConsistencyGate::SlowestLiveClock() const {
  int64_t slowest = std::numeric_limits<int64_t>::max();
  for (size_t w = 0; w < clock_.size(); ++w) {
    if (!left_[w]) slowest = std::min(slowest, clock_[w]);
  }
  return slowest;
}

}  // namespace descent
