#include "worker/trainer.h"

#include <algorithm>
#include <utility>

#include "absl/time/clock.h"
#include "common/exit_codes.h"

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
                              ResolvedBatch(options, data->num_examples)),
              ps, metrics) {}

Trainer::Trainer(TrainerOptions options, SparseModel* model, PsClient* ps,
                 const SparseDataset* data, WorkerMetrics* metrics)
    : Trainer(options, SparseStepKernel(model, data), ps, metrics) {}

Trainer::Trainer(TrainerOptions options, std::unique_ptr<StepKernel> kernel,
                 PsClient* ps, WorkerMetrics* metrics)
    : options_(options),
      kernel_(std::move(kernel)),
      order_(kernel_->num_examples(), options.batch_size, options.epochs,
             options.seed, options.worker_id),
      ps_(ps),
      metrics_(metrics),
      checks_(CheckOptions(options), kernel_->layout(), kernel_->has_rows(),
              metrics),
      pipeline_(ps, options.overlap && !kernel_->has_rows(),
                order_.total_steps(),
                [this](const PushPipeline::Step& step,
                       const PsClient::Transfer& transfer) {
                  Pushed(step, transfer);
                }),
      params_(ps->num_parameters()),
      grad_(ps->num_parameters()) {
  absl::MutexLock lock(&mu_);
  const int64_t start = std::min(options_.start_step, order_.total_steps());
  progress_.set_steps(start);
  progress_.set_examples(order_.ExamplesBefore(start));
  for (const std::string& layer : checks_.layers()) {
    progress_.add_gradient_norm_layers(layer);
    progress_.add_gradient_norm_sums(0);
  }
}

int64_t Trainer::FirstStep() const {
  return std::clamp<int64_t>(options_.start_step, 0, order_.total_steps());
}

absl::Status Trainer::PullFirst() {
  const absl::Time start = absl::Now();
  PsClient::Transfer transfer;
  const int64_t first = FirstStep();
  if (first < order_.total_steps()) kernel_->SetNext(order_.Batch(first));
  absl::Status pulled =
      ps_->Pull(first, params_.data(), &transfer, kernel_->PullRows());
  if (!pulled.ok()) return pulled;
  if (metrics_ != nullptr) {
    metrics_->pull_duration.Observe(SecondsSince(start));
    metrics_->pull_bytes.Increment(transfer.bytes_received);
  }
  return absl::OkStatus();
}

absl::Status Trainer::Run(const std::function<bool()>& should_stop) {
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
  for (int64_t step = FirstStep(); step < order_.total_steps(); ++step) {
    if (should_stop()) return absl::CancelledError("training stopped");
    absl::Status status = Step(step);
    if (!status.ok()) return status;
  }
  return absl::OkStatus();
}

absl::Status Trainer::Step(int64_t step) {
  const absl::Time start = absl::Now();
  const int n = order_.Batch(step).size;
  const float loss = kernel_->Compute(params_.data(), grad_.data());
  kernel_->SetNext(step + 1 < order_.total_steps() ? order_.Batch(step + 1)
                                                   : BatchSpan{});
  const double compute_seconds = SecondsSince(start);
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
  return pipeline_.Push({step, n, loss, compute_seconds}, grad_.data(),
                        &params_, kernel_->PushRows());
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
                     const PsClient::Transfer& transfer) {
  rate_.Add(absl::Now(), step.examples);
  if (metrics_ != nullptr) {
    metrics_->compute_duration.Observe(step.compute_seconds);
    metrics_->push_duration.Observe(transfer.seconds);
    metrics_->wait_duration.Observe(transfer.held_seconds);
    metrics_->push_bytes.Increment(transfer.bytes_sent);
    metrics_->pull_bytes.Increment(transfer.bytes_received);
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
}

v1::WorkerProgress Trainer::Progress() const {
  absl::MutexLock lock(&mu_);
  return progress_;
}

}  // namespace descent
