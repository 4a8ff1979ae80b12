#include "server/coordinator/epoch_plans.h"

#include <algorithm>

namespace descent {

EpochPlans::EpochPlans(int64_t examples, int epochs, int workers, bool split)
    : examples_(std::max<int64_t>(0, examples)),
      epochs_(std::max(1, epochs)),
      workers_(workers),
      split_(split) {
  for (int32_t w = 0; w < workers; ++w) active_.push_back(w);
}

void EpochPlans::Restore(const std::vector<v1::EpochPlan>& plans) {
  plans_.clear();
  for (const v1::EpochPlan& plan : plans) {
    if (plan.epoch() != next_epoch() || next_epoch() >= epochs_) break;
    plans_.push_back(plan);
  }
  if (!plans_.empty()) {
    active_.clear();
    for (int32_t w : plans_.back().members()) {
      if (w < workers_) active_.push_back(w);
    }
  }
}

void EpochPlans::Join(int32_t worker) {
  auto at = std::lower_bound(active_.begin(), active_.end(), worker);
  if (at == active_.end() || *at != worker) active_.insert(at, worker);
}

void EpochPlans::Remove(int32_t worker) {
  if (!split_) return;
  auto at = std::lower_bound(active_.begin(), active_.end(), worker);
  if (at != active_.end() && *at == worker) active_.erase(at);
}

void EpochPlans::FixNext() {
  v1::EpochPlan& plan = plans_.emplace_back();
  plan.set_epoch(next_epoch() - 1);
  for (int32_t w : active_) plan.add_members(w);
}

std::optional<IndexRange> EpochPlans::ShareOf(int32_t worker, int epoch) {
  if (epoch < 0 || epoch >= epochs_) return std::nullopt;
  while (next_epoch() <= epoch) FixNext();
  const auto& members = plans_[epoch].members();
  auto at = std::find(members.begin(), members.end(), worker);
  if (at == members.end()) return std::nullopt;
  return EvenPart(examples_, members.size(),
                  static_cast<int>(at - members.begin()));
}

IndexRange EpochPlans::PartOf(int32_t worker, int epoch) const {
  if (epoch < 0 || epoch >= next_epoch()) return {0, 0};
  const auto& members = plans_[epoch].members();
  auto at = std::find(members.begin(), members.end(), worker);
  if (at == members.end()) return {0, 0};
  return EvenPart(examples_, members.size(),
                  static_cast<int>(at - members.begin()));
}

WorkerLimits EpochPlans::LimitsOf(int32_t worker, int batch_size,
                                  bool projected) const {
  WorkerLimits limits;
  limits.batch = batch_size;
  auto add = [&](int64_t part) {
    if (part == 0) return;
    const int64_t batch =
        batch_size > 0 ? batch_size : std::max<int64_t>(1, part);
    limits.batch = std::max<int64_t>(limits.batch, batch);
    limits.share = part;
    limits.steps += (part + batch - 1) / batch;
    limits.examples += part;
  };
  for (int e = 0; e < next_epoch(); ++e) add(PartOf(worker, e).size());
  auto at = std::find(active_.begin(), active_.end(), worker);
  if (projected && at != active_.end()) {
    const IndexRange part = EvenPart(examples_, active_.size(),
                                     static_cast<int>(at - active_.begin()));
    for (int e = next_epoch(); e < epochs_; ++e) add(part.size());
  }
  limits.batch = std::max<int64_t>(1, limits.batch);
  return limits;
}

}  // namespace descent
