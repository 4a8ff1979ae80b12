#include "worker/push_pipeline.h"

#include <utility>

namespace descent {

PushPipeline::PushPipeline(PsClient* ps, bool overlap, OnPushed on_pushed)
    : ps_(ps), overlap_(overlap), on_pushed_(std::move(on_pushed)) {
  if (overlap_) incoming_.resize(ps->num_parameters());
}

absl::Status PushPipeline::Await() {
  const Step step = *in_flight_;
  in_flight_.reset();
  PsClient::Transfer transfer;
  absl::Status status = ps_->AwaitPushPull(&transfer);
  if (status.ok()) on_pushed_(step, transfer);
  return status;
}

absl::Status PushPipeline::Push(const Step& step, const float* grad,
                                std::vector<float>* params,
                                const PsClient::Rows* rows) {
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

absl::Status PushPipeline::Finish() {
  if (!in_flight_.has_value()) return absl::OkStatus();
  return Await();
}

}  // namespace descent
