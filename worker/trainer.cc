#include "worker/trainer.h"

#include <algorithm>
#include <utility>

#include "absl/time/clock.h"
#include "common/exit_codes.h"
#include "common/status_macros.h"

namespace descent {
namespace {

double SecondsSince(absl::Time start) {
  return absl::ToDoubleSeconds(absl::Now() - start);
}

int ResolvedBatch(const TrainerOptions& options, int64_t examples) {
  return options.batch_size > 0
             ? options.batch_size
             : static_cast<int>(std::max<int64_t>(1, examples));
}

StepCheckOptions CheckOptions(const TrainerOptions& options) {
  StepCheckOptions checks;
  checks.worker_id = options.worker_id;
  checks.max_loss_factor = options.max_loss_factor;
  checks.clip_value = options.clip_value;
  checks.clip_norm = options.clip_norm;
  return checks;
}

}  // namespace

Trainer::Trainer(TrainerOptions options, Model* model, PsClient* ps,
                 const Dataset* data, WorkerMetrics* metrics)
    : Trainer(options,
              DenseStepKernel(model, data,
                              ResolvedBatch(options, data->num_examples),
                              options.example_clip_norm),
              ps, nullptr, FixedEpochs({data, nullptr}, options.epochs),
              metrics) {}

Trainer::Trainer(TrainerOptions options, SparseModel* model, PsClient* ps,
                 const SparseDataset* data, WorkerMetrics* metrics)
    : Trainer(options, SparseStepKernel(model, data), ps, nullptr,
              FixedEpochs({nullptr, data}, options.epochs), metrics) {}

Trainer::Trainer(TrainerOptions options, Model* model, PsClient* ps,
                 EpochSource* epochs, const Dataset* first,
                 WorkerMetrics* metrics)
    : Trainer(options,
              DenseStepKernel(model, first,
                              ResolvedBatch(options, first->num_examples),
                              options.example_clip_norm),
              ps, epochs, nullptr, metrics) {}

Trainer::Trainer(TrainerOptions options, SparseModel* model, PsClient* ps,
                 EpochSource* epochs, const SparseDataset* first,
                 WorkerMetrics* metrics)
    : Trainer(options, SparseStepKernel(model, first), ps, epochs, nullptr,
              metrics) {}

Trainer::Trainer(TrainerOptions options, std::unique_ptr<StepKernel> kernel,
                 PsClient* ps, EpochSource* epochs,
                 std::unique_ptr<EpochSource> owned, WorkerMetrics* metrics)
    : options_(options),
      kernel_(std::move(kernel)),
      owned_epochs_(std::move(owned)),
      epochs_(epochs != nullptr ? epochs : owned_epochs_.get()),
      ps_(ps),
      metrics_(metrics),
      checks_(CheckOptions(options), kernel_->layout(), kernel_->has_rows(),
              metrics),
      pipeline_(ps, options.overlap && !kernel_->has_rows(),
                [this](const PushPipeline::Step& step,
                       const PsClient::Transfer* transfer) {
                  Pushed(step, transfer);
                },
                {kernel_->has_rows() ? 1 : options.push_every,
                 options.local_learning_rate}),
      params_(ps->num_parameters()),
      grad_(ps->num_parameters()) {
  {
    absl::MutexLock lock(&mu_);
    for (const std::string& layer : checks_.layers()) {
      progress_.add_gradient_norm_layers(layer);
      progress_.add_gradient_norm_sums(0);
    }
  }
  positioned_ = Position();
}

absl::StatusOr<Trainer::Span> Trainer::SpanFrom(int epoch, int64_t first_step) {
  for (;; ++epoch) {
    ASSIGN_OR_RETURN(std::optional<EpochData> data, epochs_->Epoch(epoch));
    Span span;
    span.first_step = first_step;
    if (!data.has_value()) return span;  // epoch -1: past the last
    if (data->size() == 0) continue;     // no examples for it this epoch
    span.epoch = epoch;
    span.data = *data;
    span.order = std::make_unique<BatchOrder>(data->size(), options_.batch_size,
                                              epoch + 1, options_.seed,
                                              options_.worker_id);
    span.steps = span.order->steps_per_epoch();
    return span;
  }
}

absl::Status Trainer::Position() {
  int64_t remaining = std::max<int64_t>(0, options_.start_step);
  int64_t examples = 0;
  ASSIGN_OR_RETURN(current_, SpanFrom(options_.first_epoch, 0));
  while (current_.epoch >= 0 && remaining >= current_.steps) {
    remaining -= current_.steps;
    examples += current_.data.size();
    ASSIGN_OR_RETURN(current_, SpanFrom(current_.epoch + 1,
                                        current_.first_step + current_.steps));
  }
  if (current_.epoch < 0) remaining = 0;
  local_ = remaining;
  if (current_.epoch >= 0) {
    kernel_->SetData(current_.data);
    examples += std::min<int64_t>(local_ * current_.order->batch_size(),
                                  current_.data.size());
  }
  absl::MutexLock lock(&mu_);
  progress_.set_steps(current_.first_step + local_);
  progress_.set_examples(examples);
  return absl::OkStatus();
}

absl::Status Trainer::PullFirst() {
  const absl::Time start = absl::Now();
  PsClient::Transfer transfer;
  if (current_.epoch >= 0) kernel_->SetNext(current_.Batch(local_));
  absl::Status pulled =
      ps_->Pull(options_.clock_offset + current_.first_step + local_,
                params_.data(), &transfer, kernel_->PullRows());
  if (!pulled.ok()) return pulled;
  if (metrics_ != nullptr) {
    metrics_->pull_duration.Observe(SecondsSince(start));
    metrics_->pull_bytes.Increment(transfer.bytes_received);
  }
  absl::MutexLock lock(&mu_);
  progress_.set_bytes_pulled(progress_.bytes_pulled() +
                             transfer.bytes_received);
  return absl::OkStatus();
}

absl::Status Trainer::Run(const std::function<bool()>& should_stop) {
  if (!positioned_.ok()) return positioned_;
  absl::Status pulled = PullFirst();
  if (!pulled.ok()) return pulled;
  absl::Status trained = Train(should_stop);
  absl::Status last = pipeline_.Finish();
  if (trained.ok()) trained = last;
  if (!trained.ok()) return trained;
  absl::MutexLock lock(&mu_);
  progress_.set_done(true);
  return absl::OkStatus();
}

absl::Status Trainer::Train(const std::function<bool()>& should_stop) {
  while (current_.epoch >= 0) {
    for (; local_ < current_.steps; ++local_) {
      if (should_stop()) return absl::CancelledError("training stopped");
      absl::Status status = Step(local_);
      if (!status.ok()) return status;
    }
    current_ = std::move(next_);
    next_ = Span();
    local_ = 0;
  }
  return absl::OkStatus();
}

absl::Status Trainer::Step(int64_t i) {
  const absl::Time start = absl::Now();
  const int n = current_.Batch(i).size;
  const float loss = kernel_->Compute(params_.data(), grad_.data());
  bool last = false;
  if (i + 1 < current_.steps) {
    kernel_->SetNext(current_.Batch(i + 1));
  } else {
    // The epoch's last step: the next epoch's examples, so that this push
    // fetches its first batch's rows and knows whether it is the last.
    ASSIGN_OR_RETURN(next_, SpanFrom(current_.epoch + 1,
                                     current_.first_step + current_.steps));
    last = next_.epoch < 0;
    if (last) {
      kernel_->SetNext(BatchSpan{});
    } else {
      kernel_->SetData(next_.data);
      kernel_->SetNext(next_.Batch(0));
    }
  }
  const double compute_seconds = SecondsSince(start);
  const int64_t step = current_.first_step + i;
  const GradientSpan dense{grad_.data(), static_cast<int64_t>(grad_.size())};
  const GradientSpan rows = kernel_->RowGradient();
  absl::StatusOr<double> norm = checks_.Check(step, loss, dense, rows);
  if (!norm.ok()) {
    absl::MutexLock lock(&mu_);
    progress_.set_divergence(std::string(norm.status().message()));
    return norm.status();
  }
  RecordNorms(*norm);
  checks_.Clip(dense, rows, *norm);
  return pipeline_.Push(
      {options_.clock_offset + step, n, loss, compute_seconds, last},
      grad_.data(), &params_, kernel_->PushRows());
}

void Trainer::RecordNorms(double total) {
  const std::vector<double>& norms = checks_.norms();
  absl::MutexLock lock(&mu_);
  for (size_t i = 0; i < norms.size(); ++i) {
    progress_.set_gradient_norm_sums(
        static_cast<int>(i), progress_.gradient_norm_sums(i) + norms[i]);
  }
  progress_.set_gradient_norm_total_sum(progress_.gradient_norm_total_sum() +
                                        total);
  progress_.set_gradient_norm_count(progress_.gradient_norm_count() + 1);
}

void Trainer::Pushed(const PushPipeline::Step& step,
                     const PsClient::Transfer* transfer) {
  rate_.Add(absl::Now(), step.examples);
  if (metrics_ != nullptr) {
    metrics_->compute_duration.Observe(step.compute_seconds);
    if (transfer != nullptr) {
      metrics_->push_duration.Observe(transfer->seconds);
      metrics_->wait_duration.Observe(transfer->held_seconds);
      metrics_->push_bytes.Increment(transfer->bytes_sent);
      metrics_->pull_bytes.Increment(transfer->bytes_received);
    }
    metrics_->steps.Increment();
    metrics_->examples.Increment(step.examples);
    metrics_->train_loss.Set(step.loss);
    metrics_->steps_per_second.Set(rate_.steps_per_second());
    metrics_->examples_per_second.Set(rate_.examples_per_second());
  }
  absl::MutexLock lock(&mu_);
  progress_.set_steps(progress_.steps() + 1);
  progress_.set_examples(progress_.examples() + step.examples);
  progress_.set_loss_sum(progress_.loss_sum() + step.loss);
  progress_.set_loss_count(progress_.loss_count() + 1);
  if (transfer != nullptr) {
    progress_.set_bytes_pushed(progress_.bytes_pushed() + transfer->bytes_sent);
    progress_.set_bytes_pulled(progress_.bytes_pulled() +
                               transfer->bytes_received);
  }
}

v1::WorkerProgress Trainer::Progress() const {
  absl::MutexLock lock(&mu_);
  return progress_;
}

}  // namespace descent
