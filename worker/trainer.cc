#include "worker/trainer.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <random>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace descent {
namespace {

double SecondsSince(absl::Time start) {
  return absl::ToDoubleSeconds(absl::Now() - start);
}

}  // namespace

Trainer::Trainer(TrainerOptions options, Model* model, PsClient* ps,
                 const Dataset* data, WorkerMetrics* metrics)
    : options_(options),
      model_(model),
      ps_(ps),
      data_(data),
      metrics_(metrics),
      params_(ps->num_parameters()),
      grad_(ps->num_parameters()),
      batch_features_(static_cast<size_t>(options.batch_size) *
                      data->num_features),
      batch_labels_(options.batch_size),
      batch_targets_(options.batch_size),
      order_(data->num_examples) {}

void Trainer::Shuffle(int epoch) {
  std::iota(order_.begin(), order_.end(), 0);
  std::seed_seq seed{options_.seed, uint64_t(options_.worker_id),
                     uint64_t(epoch)};
  std::mt19937_64 random(seed);
  std::shuffle(order_.begin(), order_.end(), random);
}

absl::Status Trainer::Run(const std::function<bool()>& should_stop) {
  const absl::Time start = absl::Now();
  PsClient::Transfer transfer;
  absl::Status pulled = ps_->Pull(0, params_.data(), &transfer);
  if (!pulled.ok()) return pulled;
  if (metrics_ != nullptr) {
    metrics_->pull_duration.Observe(SecondsSince(start));
    metrics_->pull_bytes.Increment(transfer.bytes_received);
  }
  int64_t step = 0;
  for (int epoch = 0; epoch < options_.epochs; ++epoch) {
    Shuffle(epoch);
    for (int64_t first = 0; first < data_->num_examples;
         first += options_.batch_size) {
      if (should_stop()) return absl::CancelledError("training stopped");
      const int n = static_cast<int>(
          std::min<int64_t>(options_.batch_size, data_->num_examples - first));
      absl::Status status = Step(step++, first, n);
      if (!status.ok()) return status;
    }
  }
  absl::MutexLock lock(&mu_);
  progress_.set_done(true);
  return absl::OkStatus();
}

absl::Status Trainer::Step(int64_t step, int64_t first, int n) {
  const int64_t features = data_->num_features;
  for (int i = 0; i < n; ++i) {
    const int64_t example = order_[first + i];
    std::memcpy(&batch_features_[i * features], data_->example(example),
                features * sizeof(float));
    if (!data_->labels.empty()) batch_labels_[i] = data_->labels[example];
    if (!data_->targets.empty()) batch_targets_[i] = data_->targets[example];
  }
  absl::Time start = absl::Now();
  const float loss = model_->LossAndGradient(
      params_.data(),
      Batch{batch_features_.data(), batch_labels_.data(), n,
            batch_targets_.data()},
      grad_.data());
  const double compute_seconds = SecondsSince(start);
  if (!std::isfinite(loss)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "training diverged: worker ", options_.worker_id, " got loss ", loss,
        " at step ", step, "; lower optimizer.sgd.learning_rate"));
  }
  start = absl::Now();
  PsClient::Transfer transfer;
  absl::Status pushed =
      ps_->PushPull(step, grad_.data(), params_.data(), &transfer);
  if (!pushed.ok()) return pushed;
  if (metrics_ != nullptr) {
    metrics_->compute_duration.Observe(compute_seconds);
    metrics_->push_duration.Observe(SecondsSince(start));
    metrics_->push_bytes.Increment(transfer.bytes_sent);
    metrics_->pull_bytes.Increment(transfer.bytes_received);
    metrics_->steps.Increment();
    metrics_->examples.Increment(n);
    metrics_->train_loss.Set(loss);
  }
  absl::MutexLock lock(&mu_);
  progress_.set_steps(progress_.steps() + 1);
  progress_.set_examples(progress_.examples() + n);
  progress_.set_loss_sum(progress_.loss_sum() + loss);
  progress_.set_loss_count(progress_.loss_count() + 1);
  return absl::OkStatus();
}

v1::WorkerProgress Trainer::Progress() const {
  absl::MutexLock lock(&mu_);
  return progress_;
}

}  // namespace descent
