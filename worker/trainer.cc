#include "worker/trainer.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <random>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/exit_codes.h"
#include "common/optim/clipping.h"
#include "common/optim/gradient_norms.h"

namespace descent {
namespace {

double SecondsSince(absl::Time start) {
  return absl::ToDoubleSeconds(absl::Now() - start);
}

// `options` with batch size 0 (the whole shard) made the shard's size.
TrainerOptions WholeShardBatch(TrainerOptions options, int64_t examples) {
  if (options.batch_size == 0) {
    options.batch_size = static_cast<int>(std::max<int64_t>(1, examples));
  }
  return options;
}

// Steps in `epochs` passes over `examples` in batches of `batch_size`.
int64_t TotalSteps(const TrainerOptions& options, int64_t examples) {
  return options.epochs *
         ((examples + options.batch_size - 1) / options.batch_size);
}

}  // namespace

Trainer::Trainer(TrainerOptions options, Model* model, PsClient* ps,
                 const Dataset* data, WorkerMetrics* metrics)
    : options_(WholeShardBatch(options, data->num_examples)),
      total_steps_(TotalSteps(options_, data->num_examples)),
      model_(model),
      data_(data),
      ps_(ps),
      metrics_(metrics),
      params_(ps->num_parameters()),
      grad_(ps->num_parameters()),
      batch_features_(static_cast<size_t>(options_.batch_size) *
                      data->num_features),
      batch_labels_(options_.batch_size),
      batch_targets_(options_.batch_size),
      order_(data->num_examples) {
  if (options_.overlap) {
    incoming_.resize(params_.size());
    sending_.resize(grad_.size());
  }
}

Trainer::Trainer(TrainerOptions options, SparseModel* model, PsClient* ps,
                 const SparseDataset* data, WorkerMetrics* metrics)
    : options_(WholeShardBatch(options, data->num_examples)),
      total_steps_(TotalSteps(options_, data->num_examples)),
      sparse_model_(model),
      sparse_data_(data),
      ps_(ps),
      metrics_(metrics),
      params_(ps->num_parameters()),
      grad_(ps->num_parameters()),
      order_(data->num_examples) {}

int64_t Trainer::num_examples() const {
  return data_ != nullptr ? data_->num_examples : sparse_data_->num_examples;
}

void Trainer::Shuffle(int epoch) {
  std::iota(order_.begin(), order_.end(), 0);
  std::seed_seq seed{options_.seed, uint64_t(options_.worker_id),
                     uint64_t(epoch)};
  std::mt19937_64 random(seed);
  std::shuffle(order_.begin(), order_.end(), random);
}

void Trainer::GatherSparse(int64_t first, int n, SparseBuffers* batch) const {
  const SparseDataset& data = *sparse_data_;
  batch->entry_keys.clear();
  batch->values.clear();
  batch->labels.clear();
  batch->targets.clear();
  batch->row_offsets.assign(1, 0);
  for (int i = 0; i < n; ++i) {
    const int64_t example = order_[first + i];
    for (int64_t k = data.row_offsets[example];
         k < data.row_offsets[example + 1]; ++k) {
      batch->entry_keys.push_back(static_cast<uint64_t>(data.indices[k]));
      batch->values.push_back(data.values[k]);
    }
    batch->row_offsets.push_back(
        static_cast<int64_t>(batch->entry_keys.size()));
    if (!data.labels.empty()) batch->labels.push_back(data.labels[example]);
    if (!data.targets.empty()) batch->targets.push_back(data.targets[example]);
  }
  batch->keys = batch->entry_keys;
  std::sort(batch->keys.begin(), batch->keys.end());
  batch->keys.erase(std::unique(batch->keys.begin(), batch->keys.end()),
                    batch->keys.end());
  batch->slots.resize(batch->entry_keys.size());
  for (size_t k = 0; k < batch->entry_keys.size(); ++k) {
    batch->slots[k] = static_cast<int32_t>(
        std::lower_bound(batch->keys.begin(), batch->keys.end(),
                         batch->entry_keys[k]) -
        batch->keys.begin());
  }
  const size_t floats = batch->keys.size() * sparse_model_->table().row_width;
  batch->rows.resize(floats);
  batch->row_grads.resize(floats);
}

absl::Status Trainer::PullFirst() {
  const absl::Time start = absl::Now();
  PsClient::Transfer transfer;
  PsClient::Rows rows;
  if (sparse_model_ != nullptr) {
    GatherSparse(0,
                 static_cast<int>(
                     std::min<int64_t>(options_.batch_size, num_examples())),
                 &sparse_[0]);
    rows.width = sparse_model_->table().row_width;
    rows.pull_keys = &sparse_[0].keys;
    rows.pulled = sparse_[0].rows.data();
  }
  absl::Status pulled = ps_->Pull(0, params_.data(), &transfer,
                                  sparse_model_ != nullptr ? &rows : nullptr);
  if (!pulled.ok()) return pulled;
  if (metrics_ != nullptr) {
    metrics_->pull_duration.Observe(SecondsSince(start));
    metrics_->pull_bytes.Increment(transfer.bytes_received);
  }
  return absl::OkStatus();
}

absl::Status Trainer::Run(const std::function<bool()>& should_stop) {
  Shuffle(0);
  SetUpGradientNorms();
  absl::Status pulled = PullFirst();
  if (!pulled.ok()) return pulled;
  const bool overlap = options_.overlap && sparse_model_ == nullptr;
  std::thread push_thread;
  if (overlap) push_thread = std::thread([this] { PushLoop(); });
  absl::Status trained = Train(should_stop);
  if (overlap) {
    absl::Status last = WaitForPush();
    if (trained.ok()) trained = last;
    {
      absl::MutexLock lock(&mu_);
      push_thread_exit_ = true;
    }
    push_thread.join();
  }
  if (!trained.ok()) return trained;
  absl::MutexLock lock(&mu_);
  progress_.set_done(true);
  return absl::OkStatus();
}

absl::Status Trainer::Train(const std::function<bool()>& should_stop) {
  const int64_t n_examples = num_examples();
  const int batch_size = options_.batch_size;
  int64_t step = 0;
  int current = 0;
  for (int epoch = 0; epoch < options_.epochs; ++epoch) {
    // Sparse models shuffle one batch ahead, when they gather the next.
    if (epoch > 0 && sparse_model_ == nullptr) Shuffle(epoch);
    for (int64_t first = 0; first < n_examples; first += batch_size) {
      if (should_stop()) return absl::CancelledError("training stopped");
      const int n =
          static_cast<int>(std::min<int64_t>(batch_size, n_examples - first));
      SparseBuffers* this_batch = nullptr;
      SparseBuffers* next_batch = nullptr;
      if (sparse_model_ != nullptr) {
        this_batch = &sparse_[current];
        next_batch = &sparse_[1 - current];
        current = 1 - current;
        int64_t next_first = first + batch_size;
        if (next_first >= n_examples) {
          next_first = epoch + 1 < options_.epochs ? 0 : -1;
          if (next_first == 0) Shuffle(epoch + 1);
        }
        if (next_first >= 0) {
          GatherSparse(next_first,
                       static_cast<int>(std::min<int64_t>(
                           batch_size, n_examples - next_first)),
                       next_batch);
        } else {
          next_batch->keys.clear();
        }
      }
      absl::Status status = Step(step++, first, n, this_batch, next_batch);
      if (!status.ok()) return status;
    }
  }
  return absl::OkStatus();
}

void Trainer::PushLoop() {
  absl::MutexLock lock(&mu_);
  while (true) {
    mu_.Await(absl::Condition(
        +[](Trainer* t) ABSL_EXCLUSIVE_LOCKS_REQUIRED(t->mu_) {
          return t->push_task_ != nullptr || t->push_thread_exit_;
        },
        this));
    if (push_task_ == nullptr) return;  // asked to exit, nothing pending
    std::function<absl::Status()> task = std::move(push_task_);
    push_task_ = nullptr;
    mu_.Unlock();
    absl::Status status = task();
    mu_.Lock();
    push_status_ = status;
    push_busy_ = false;
  }
}

absl::Status Trainer::WaitForPush() {
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(
      +[](Trainer* t)
           ABSL_EXCLUSIVE_LOCKS_REQUIRED(t->mu_) { return !t->push_busy_; },
      this));
  return push_status_;
}

float Trainer::ComputeDense(int64_t first, int n) {
  const int64_t features = data_->num_features;
  for (int i = 0; i < n; ++i) {
    const int64_t example = order_[first + i];
    std::memcpy(&batch_features_[i * features], data_->example(example),
                features * sizeof(float));
    if (!data_->labels.empty()) batch_labels_[i] = data_->labels[example];
    if (!data_->targets.empty()) batch_targets_[i] = data_->targets[example];
  }
  return model_->LossAndGradient(
      params_.data(),
      Batch{batch_features_.data(), batch_labels_.data(), n,
            batch_targets_.data()},
      grad_.data());
}

absl::Status Trainer::Step(int64_t step, int64_t first, int n,
                           SparseBuffers* current, SparseBuffers* next) {
  const absl::Time start = absl::Now();
  float loss;
  PsClient::Rows rows;
  if (current == nullptr) {
    loss = ComputeDense(first, n);
  } else {
    SparseBatch batch;
    batch.size = n;
    batch.row_offsets = current->row_offsets.data();
    batch.slots = current->slots.data();
    batch.values = current->values.data();
    batch.labels = current->labels.empty() ? nullptr : current->labels.data();
    batch.targets =
        current->targets.empty() ? nullptr : current->targets.data();
    loss = sparse_model_->LossAndGradient(
        params_.data(), current->rows.data(),
        static_cast<int64_t>(current->keys.size()), batch, grad_.data(),
        current->row_grads.data());
    rows.width = sparse_model_->table().row_width;
    rows.push_keys = &current->keys;
    rows.push_grads = current->row_grads.data();
    rows.pull_keys = &next->keys;
    rows.pulled = next->rows.data();
  }
  const double compute_seconds = SecondsSince(start);
  double norm;
  absl::Status checked = CheckStep(step, loss, current, &norm);
  if (!checked.ok()) return checked;
  const GradientSpan dense{grad_.data(), static_cast<int64_t>(grad_.size())};
  const GradientSpan sparse{
      current == nullptr ? nullptr : current->row_grads.data(),
      current == nullptr ? 0 : static_cast<int64_t>(current->row_grads.size())};
  if (options_.clip_value > 0) {
    ClipByValue({dense, sparse}, options_.clip_value);
    if (options_.clip_norm > 0) norm = GlobalNorm({dense, sparse});
  }
  // Without clipping by value, CheckStep's norm is the gradient's.
  if (options_.clip_norm > 0)
    ScaleToNorm({dense, sparse}, norm, options_.clip_norm);
  if (incoming_.empty()) {
    return Push(step, n, loss, compute_seconds, grad_.data(), params_.data(),
                current != nullptr ? &rows : nullptr);
  }
  // Overlap: the previous push's parameters become the ones the next
  // gradient reads, and this step's gradient goes out while it is computed.
  absl::Status previous = WaitForPush();
  if (!previous.ok()) return previous;
  if (step > 0) params_.swap(incoming_);
  sending_.swap(grad_);
  absl::MutexLock lock(&mu_);
  push_busy_ = true;
  push_task_ = [this, step, n, loss, compute_seconds] {
    return Push(step, n, loss, compute_seconds, sending_.data(),
                incoming_.data(), nullptr);
  };
  return absl::OkStatus();
}

absl::Status Trainer::Push(int64_t step, int n, float loss,
                           double compute_seconds, const float* grad,
                           float* params, const PsClient::Rows* rows) {
  const absl::Time start = absl::Now();
  PsClient::Transfer transfer;
  absl::Status pushed = ps_->PushPull({step, n, step + 1 == total_steps_}, grad,
                                      params, &transfer, rows);
  if (!pushed.ok()) return pushed;
  const absl::Time end = absl::Now();
  rate_.Add(end, n);
  if (metrics_ != nullptr) {
    metrics_->compute_duration.Observe(compute_seconds);
    metrics_->push_duration.Observe(absl::ToDoubleSeconds(end - start));
    metrics_->wait_duration.Observe(transfer.held_seconds);
    metrics_->push_bytes.Increment(transfer.bytes_sent);
    metrics_->pull_bytes.Increment(transfer.bytes_received);
    metrics_->steps.Increment();
    metrics_->examples.Increment(n);
    metrics_->train_loss.Set(loss);
    metrics_->steps_per_second.Set(rate_.steps_per_second());
    metrics_->examples_per_second.Set(rate_.examples_per_second());
  }
  absl::MutexLock lock(&mu_);
  progress_.set_steps(progress_.steps() + 1);
  progress_.set_examples(progress_.examples() + n);
  progress_.set_loss_sum(progress_.loss_sum() + loss);
  progress_.set_loss_count(progress_.loss_count() + 1);
  return absl::OkStatus();
}

void Trainer::SetUpGradientNorms() {
  const ParamLayout& layout =
      model_ != nullptr ? model_->layout() : sparse_model_->dense_layout();
  norm_layers_.clear();
  for (const TensorSpec& tensor : layout.tensors()) {
    norm_layers_.push_back(tensor.name);
  }
  if (sparse_model_ != nullptr) norm_layers_.push_back("sparse_rows");
  norms_.assign(norm_layers_.size(), 0);
  if (metrics_ != nullptr) {
    norm_gauges_.clear();
    for (const std::string& layer : norm_layers_) {
      norm_gauges_.push_back(&metrics_->gradient_norm.Add({{"layer", layer}}));
    }
    norm_gauges_.push_back(&metrics_->gradient_norm_total);
  }
  absl::MutexLock lock(&mu_);
  progress_.clear_gradient_norm_layers();
  progress_.clear_gradient_norm_sums();
  for (const std::string& layer : norm_layers_) {
    progress_.add_gradient_norm_layers(layer);
    progress_.add_gradient_norm_sums(0);
  }
}

absl::Status Trainer::CheckStep(int64_t step, float loss,
                                const SparseBuffers* current, double* norm) {
  if (loss_guard_.Diverges(loss)) {
    std::string message =
        absl::StrCat("training diverged: worker ", options_.worker_id,
                     " got loss ", loss, " at its step ", step);
    if (std::isfinite(loss)) {
      absl::StrAppend(&message, ", more than ", loss_guard_.max_factor(),
                      " times the mean loss of its first steps (",
                      loss_guard_.reference(), ")");
    }
    return Diverged(message + "; lower the learning rate");
  }
  TensorNorms(
      model_ != nullptr ? model_->layout() : sparse_model_->dense_layout(),
      grad_.data(), norms_.data());
  if (current != nullptr) {
    norms_.back() = L2Norm(current->row_grads.data(),
                           static_cast<int64_t>(current->row_grads.size()));
  }
  const double total = CombinedNorm(norms_);
  *norm = total;
  if (!std::isfinite(total)) {
    size_t layer = 0;
    while (layer + 1 < norms_.size() && std::isfinite(norms_[layer])) ++layer;
    return Diverged(
        absl::StrCat("training diverged: worker ", options_.worker_id,
                     " got a gradient of L2 norm ", norms_[layer], " in layer ",
                     norm_layers_[layer], " at its step ", step, " (loss ",
                     loss, "); lower the learning rate"));
  }
  for (size_t i = 0; i < norm_gauges_.size(); ++i) {
    norm_gauges_[i]->Set(i < norms_.size() ? norms_[i] : total);
  }
  absl::MutexLock lock(&mu_);
  for (size_t i = 0; i < norms_.size(); ++i) {
    progress_.set_gradient_norm_sums(
        static_cast<int>(i), progress_.gradient_norm_sums(i) + norms_[i]);
  }
  progress_.set_gradient_norm_total_sum(progress_.gradient_norm_total_sum() +
                                        total);
  progress_.set_gradient_norm_count(progress_.gradient_norm_count() + 1);
  return absl::OkStatus();
}

absl::Status Trainer::Diverged(const std::string& message) {
  absl::MutexLock lock(&mu_);
  progress_.set_divergence(message);
  return DivergedError(message);
}

v1::WorkerProgress Trainer::Progress() const {
  absl::MutexLock lock(&mu_);
  return progress_;
}

}  // namespace descent
