#include "worker/push_pipeline.h"

#include <utility>

#include "Eigen/Core"
#include "glog/logging.h"

namespace descent {

PushPipeline::PushPipeline(PsClient* ps, bool overlap, OnPushed on_pushed,
                           LocalSgd local)
    : ps_(ps),
      overlap_(overlap),
      on_pushed_(std::move(on_pushed)),
      local_(local) {
  CHECK(local_.push_every <= 1 || !overlap_)
      << "local SGD does not overlap its pushes";
  if (overlap_) incoming_.resize(ps->num_parameters());
  if (local_.push_every > 1) sum_.assign(ps->num_parameters(), 0.0f);
}

absl::Status PushPipeline::Await() {
  const Step step = *in_flight_;
  in_flight_.reset();
  PsClient::Transfer transfer;
  absl::Status status = ps_->AwaitPushPull(&transfer);
  if (status.ok()) on_pushed_(step, &transfer);
  return status;
}

absl::Status PushPipeline::Push(const Step& step, const float* grad,
                                std::vector<float>* params,
                                const PsClient::Rows* rows) {
  if (local_.push_every > 1) return PushLocal(step, grad, params);
  const PsClient::Step clock{step.step, step.examples, step.last};
  if (!overlap_) {
    ps_->StartPushPull(clock, grad, params->data(), rows);
    in_flight_ = step;
    return Await();
  }
  if (in_flight_.has_value()) {
    absl::Status previous = Await();
    if (!previous.ok()) return previous;
    params->swap(incoming_);
  }
  ps_->StartPushPull(clock, grad, incoming_.data(), rows);
  in_flight_ = step;
  return absl::OkStatus();
}

absl::Status PushPipeline::PushLocal(const Step& step, const float* grad,
                                     std::vector<float>* params) {
  const int64_t n = static_cast<int64_t>(sum_.size());
  Eigen::Map<const Eigen::ArrayXf> g(grad, n);
  Eigen::Map<Eigen::ArrayXf> sum(sum_.data(), n);
  sum += g;
  sum_examples_ += step.examples;
  if (++sum_steps_ < local_.push_every && !step.last) {
    Eigen::Map<Eigen::ArrayXf>(params->data(), n) -= local_.learning_rate * g;
    on_pushed_(step, nullptr);
    return absl::OkStatus();
  }
  ps_->StartPushPull({step.step, sum_examples_, step.last}, sum_.data(),
                     params->data(), /*rows=*/nullptr);
  sum.setZero();
  sum_examples_ = 0;
  sum_steps_ = 0;
  in_flight_ = step;
  return Await();
}

absl::Status PushPipeline::Finish() {
  if (!in_flight_.has_value()) return absl::OkStatus();
  return Await();
}

}  // namespace descent
