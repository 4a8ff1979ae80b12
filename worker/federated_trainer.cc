#include "worker/federated_trainer.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/status_macros.h"
#include "glog/logging.h"

namespace descent {
namespace {

double SecondsSince(absl::Time start) {
  return absl::ToDoubleSeconds(absl::Now() - start);
}

// The examples `order[begin, begin + n)` of `data`, gathered into a batch.
Batch Gather(const Dataset& data, absl::Span<const int32_t> order,
             std::vector<float>* features, std::vector<int32_t>* labels,
             std::vector<float>* targets) {
  const int64_t f = data.num_features;
  const int n = static_cast<int>(order.size());
  features->resize(static_cast<size_t>(n) * f);
  for (int i = 0; i < n; ++i) {
    std::copy_n(data.example(order[i]), f, features->data() + i * f);
  }
  Batch batch{features->data(), nullptr, n};
  if (!data.labels.empty()) {
    labels->resize(n);
    for (int i = 0; i < n; ++i) (*labels)[i] = data.labels[order[i]];
    batch.labels = labels->data();
  }
  if (!data.targets.empty()) {
    targets->resize(n);
    for (int i = 0; i < n; ++i) (*targets)[i] = data.targets[order[i]];
    batch.targets = targets->data();
  }
  return batch;
}

// The q-quantile of `values` (sorted in place), linearly interpolated.
double Quantile(std::vector<double>& values, double q) {
  std::sort(values.begin(), values.end());
  const double at = q * static_cast<double>(values.size() - 1);
  const size_t low = static_cast<size_t>(at);
  const size_t high = std::min(values.size() - 1, low + 1);
  return values[low] +
         (at - static_cast<double>(low)) * (values[high] - values[low]);
}

}  // namespace

int FederatedTrainer::MaxLocalBatch(const FederatedOptions& options,
                                    const ClientData& clients) {
  int64_t largest = 1;
  for (int64_t n : clients.train_sizes) largest = std::max(largest, n);
  if (options.local_batch_size > 0) {
    largest = std::min<int64_t>(largest, options.local_batch_size);
  }
  return static_cast<int>(largest);
}

FederatedTrainer::FederatedTrainer(FederatedTrainerOptions options,
                                   std::vector<Model*> models, PsClient* ps,
                                   const Dataset* train,
                                   const ClientData* clients,
                                   const Dataset* test, WorkerMetrics* metrics,
                                   Model* evaluator)
    : options_(std::move(options)),
      models_(std::move(models)),
      evaluator_(evaluator != nullptr ? evaluator : models_[0]),
      ps_(ps),
      train_(train),
      clients_(clients),
      test_(test),
      metrics_(metrics),
      num_parameters_(ps->num_parameters()),
      global_(num_parameters_),
      next_(num_parameters_),
      sum_(num_parameters_),
      slots_(models_.size()),
      clip_norm_(static_cast<float>(options_.federated.privacy.clip_norm)),
      attackers_(Attackers(options_.federated.attack, clients->clients(),
                           options_.federated.seed)) {
  if (std::find(attackers_.begin(), attackers_.end(), true) ==
      attackers_.end()) {
    attackers_.clear();
  }
  if (options_.federated.secure.enabled) {
    secure_ = std::make_unique<SecureClients>(ps_, options_.federated.secure,
                                              static_cast<int>(models_.size()));
  }
  for (Slot& slot : slots_) {
    slot.local.resize(num_parameters_);
    slot.grad.resize(num_parameters_);
    if (options_.federated.local_momentum > 0) {
      slot.velocity.resize(num_parameters_);
    }
  }
}

float FederatedTrainer::TrainClient(int slot_index, int64_t round,
                                    int64_t client) {
  const FederatedOptions& o = options_.federated;
  Slot& slot = slots_[slot_index];
  Model* model = models_[slot_index];
  const absl::Span<const int32_t> examples = clients_->train(client);
  slot.order.assign(examples.begin(), examples.end());
  std::copy(global_.begin(), global_.end(), slot.local.begin());
  std::fill(slot.velocity.begin(), slot.velocity.end(), 0.0f);
  std::mt19937_64 rng(LocalSeed(o, round, client));
  const int64_t n = static_cast<int64_t>(slot.order.size());
  const int64_t batch =
      o.local_batch_size > 0 ? std::min<int64_t>(o.local_batch_size, n) : n;
  const int64_t p = num_parameters_;
  float* w = slot.local.data();
  float* g = slot.grad.data();
  float* v = slot.velocity.data();
  const float* w0 = global_.data();
  const float lr = o.local_learning_rate, mu = o.proximal_mu,
              momentum = o.local_momentum;
  double loss_sum = 0;
  int64_t steps = 0;
  const bool flip_labels = o.attack.kind == AttackKind::kLabelFlip &&
                           !attackers_.empty() && attackers_[client] &&
                           train_->num_classes > 0;
  for (int e = 0; e < o.local_epochs; ++e) {
    std::shuffle(slot.order.begin(), slot.order.end(), rng);
    for (int64_t begin = 0; begin < n; begin += batch) {
      const int64_t size = std::min(batch, n - begin);
      const Batch b =
          Gather(*train_, absl::MakeConstSpan(slot.order).subspan(begin, size),
                 &slot.features, &slot.labels, &slot.targets);
      if (flip_labels) {
        for (int32_t& label : slot.labels) {
          label = train_->num_classes - 1 - label;
        }
      }
      ++steps;
      if (mu == 0 && momentum == 0) {
        // Plain SGD: the model may fuse the update into its backward pass.
        loss_sum += model->LossAndSgdStep(w, b, lr, g);
        continue;
      }
      loss_sum += model->LossAndGradient(w, b, g);
      if (mu > 0) {
        for (int64_t i = 0; i < p; ++i) g[i] += mu * (w[i] - w0[i]);
      }
      if (momentum > 0) {
        // torch.optim.SGD: v = momentum v + g; w -= lr v.
        for (int64_t i = 0; i < p; ++i) {
          v[i] = momentum * v[i] + g[i];
          w[i] -= lr * v[i];
        }
      } else {
        for (int64_t i = 0; i < p; ++i) w[i] -= lr * g[i];
      }
    }
  }
  for (int64_t i = 0; i < p; ++i) w[i] -= w0[i];  // the delta
  return steps > 0 ? static_cast<float>(loss_sum / steps) : 0.0f;
}

absl::Status FederatedTrainer::Round(int64_t round,
                                     const std::function<bool()>& should_stop,
                                     v1::FederatedRound* record) {
  const absl::Time start = absl::Now();
  const FederatedOptions& o = options_.federated;
  const RoundPlan plan = PlanRound(o, clients_->train_sizes, round);
  // This worker's clients of the round (an empty client has nothing to
  // train on or report).
  std::vector<int64_t> mine;
  for (int64_t k : plan.participants) {
    if (k % options_.num_workers == options_.worker_id &&
        clients_->train_sizes[k] > 0) {
      mine.push_back(k);
    }
  }
  std::fill(sum_.begin(), sum_.end(), 0.0f);
  const bool secure = o.secure.enabled;
  if (o.robust.per_client() || secure) {
    updates_.resize(std::max<size_t>(1, mine.size()) * num_parameters_);
  }
  secure_inputs_.clear();
  std::vector<int64_t> secure_drops;
  if (secure) {
    std::vector<int64_t> clients;
    for (int64_t k : plan.participants) {
      if (clients_->train_sizes[k] > 0) clients.push_back(k);
    }
    secure_drops = SecureDropouts(o.secure, o.seed, round, clients);
  }
  // With privacy every client weighs 1 (DP-FedAvg's unweighted mean of
  // clipped deltas); else its examples.
  const PrivacyOptions& privacy = o.privacy;
  int64_t weight = 0, trained = 0, unclipped = 0;
  double loss_sum = 0;
  const int threads = static_cast<int>(slots_.size());
  std::vector<float> losses(threads);
  for (size_t first = 0; first < mine.size(); first += threads) {
    if (should_stop()) return absl::CancelledError("training stopped");
    const int count =
        static_cast<int>(std::min<size_t>(threads, mine.size() - first));
#pragma omp parallel for num_threads(count) schedule(static, 1)
    for (int t = 0; t < count; ++t) {
      losses[t] = TrainClient(t, round, mine[first + t]);
    }
    // In client order, whatever the threads' timing.
    for (int t = 0; t < count; ++t) {
      const int64_t k = mine[first + t];
      float* delta = slots_[t].local.data();
      trained += clients_->train_sizes[k];
      loss_sum += losses[t];
      const absl::Span<float> values(delta, num_parameters_);
      if (!attackers_.empty() && attackers_[k]) {
        Tamper(o.attack, o.seed, round, k, values);
      }
      if (o.robust.norm_bound > 0) BoundNorm(o.robust.norm_bound, values);
      if (o.robust.per_client()) {
        // The shards aggregate each client's pseudo-gradient, -delta.
        float* update = updates_.data() + weight * num_parameters_;
        for (int64_t i = 0; i < num_parameters_; ++i) update[i] = -delta[i];
        ++weight;
        continue;
      }
      int client_unclipped = 0;
      if (privacy.enabled) {
        client_unclipped = ClipToNorm(clip_norm_, values) <= clip_norm_;
        unclipped += client_unclipped;
        if (privacy.local) {
          AddGaussianNoise(ClientNoiseSeed(privacy, round, k),
                           privacy.noise_multiplier * clip_norm_, values);
        }
      }
      if (secure) {
        // The shards get only the masked pseudo-gradient, weighted in the
        // masked sum by its examples (1 with privacy).
        float* update =
            updates_.data() + secure_inputs_.size() * num_parameters_;
        for (int64_t i = 0; i < num_parameters_; ++i) update[i] = -delta[i];
        SecureClients::Input input;
        input.client = k;
        input.values = update;
        input.weight = privacy.enabled
                           ? 1.0
                           : static_cast<double>(clients_->train_sizes[k]);
        input.unclipped = client_unclipped;
        input.drops =
            std::binary_search(secure_drops.begin(), secure_drops.end(), k);
        secure_inputs_.push_back(input);
        continue;
      }
      if (privacy.enabled) {
        for (int64_t i = 0; i < num_parameters_; ++i) sum_[i] += delta[i];
        ++weight;
        continue;
      }
      const auto n = static_cast<float>(clients_->train_sizes[k]);
      for (int64_t i = 0; i < num_parameters_; ++i) sum_[i] += n * delta[i];
      weight += clients_->train_sizes[k];
    }
  }
  const double compute_seconds = SecondsSince(start);
  PsClient::Transfer secure_transfer;
  SecureClients::Outcome secure_outcome;
  if (secure) {
    double weight_bound = 0;
    for (int64_t k : plan.participants) {
      if (clients_->train_sizes[k] == 0) continue;
      weight_bound +=
          privacy.enabled ? 1.0 : static_cast<double>(clients_->train_sizes[k]);
    }
    ASSIGN_OR_RETURN(
        secure_outcome,
        secure_->Run(round, weight_bound, secure_inputs_, &secure_transfer));
    if (secure_outcome.clamped > 0) {
      LOG_FIRST_N(WARNING, 3)
          << "round " << round << ": " << secure_outcome.clamped
          << " update values of this worker's clients were outside "
             "federated.secure_aggregation.clip_range ("
          << o.secure.clip_range << ") and were clamped to it";
    }
    if (secure_outcome.failed && options_.worker_id == 0) {
      LOG(WARNING) << "round " << round
                   << ": secure aggregation failed, no update: "
                   << secure_outcome.reason;
    }
    // The round's sum is the shards' own: every push is empty.
    weight = 0;
    unclipped = 0;
  }
  PsClient::Step step;
  step.step = round;
  step.last = round + 1 == o.rounds;
  step.examples = static_cast<int>(weight);
  step.empty = weight == 0;
  if (privacy.adaptive()) step.unclipped = static_cast<int>(unclipped);
  if (o.robust.per_client()) step.clients = static_cast<int>(weight);
  if (weight > 0 && !o.robust.per_client()) {
    const float scale = -1.0f / static_cast<float>(weight);
    for (float& x : sum_) x *= scale;
  }
  PsClient::Transfer transfer;
  RETURN_IF_ERROR(
      ps_->PushPull(step, o.robust.per_client() ? updates_.data() : sum_.data(),
                    next_.data(), &transfer));
  transfer.bytes_sent += secure_transfer.bytes_sent;
  transfer.bytes_received += secure_transfer.bytes_received;
  const float round_clip_norm = clip_norm_;
  if (privacy.adaptive() && transfer.clip_norm > 0) {
    clip_norm_ = transfer.clip_norm;
  }
  if (privacy.local) CountReports(plan);
  double norm = 0;
  for (int64_t i = 0; i < num_parameters_; ++i) {
    const double d = static_cast<double>(next_[i]) - global_[i];
    norm += d * d;
  }
  std::swap(global_, next_);
  if (metrics_ != nullptr) {
    metrics_->compute_duration.Observe(compute_seconds);
    metrics_->push_duration.Observe(transfer.seconds);
    metrics_->wait_duration.Observe(transfer.held_seconds);
    metrics_->push_bytes.Increment(transfer.bytes_sent);
    metrics_->pull_bytes.Increment(transfer.bytes_received);
    metrics_->steps.Increment();
    metrics_->examples.Increment(static_cast<double>(trained));
    if (!mine.empty()) {
      metrics_->train_loss.Set(loss_sum / static_cast<double>(mine.size()));
    }
  }
  {
    absl::MutexLock lock(&mu_);
    progress_.set_steps(round + 1);
    progress_.set_examples(progress_.examples() + trained);
    if (!mine.empty()) {
      progress_.set_loss_sum(progress_.loss_sum() +
                             loss_sum / static_cast<double>(mine.size()));
      progress_.set_loss_count(progress_.loss_count() + 1);
    }
    progress_.set_bytes_pushed(progress_.bytes_pushed() + transfer.bytes_sent);
    progress_.set_bytes_pulled(progress_.bytes_pulled() +
                               transfer.bytes_received);
  }
  if (record == nullptr) return absl::OkStatus();
  record->set_round(round);
  record->set_attempts(plan.attempts);
  record->set_sampled(plan.sampled);
  record->set_dropped(plan.dropped);
  record->set_late(plan.late);
  // The plan's participants whose node's push the step applied: a node
  // lost mid-round (cluster.on_worker_failure CONTINUE) takes its clients'
  // reports with it.
  const std::vector<int32_t>& nodes = transfer.step_workers;  // empty: all
  int64_t participants = 0, examples = 0;
  if (secure) {
    record->set_secure_clients(
        secure_outcome.failed ? 0 : secure_outcome.aggregated);
    record->set_secure_dropped(secure_outcome.failed
                                   ? static_cast<int64_t>(secure_drops.size())
                                   : secure_outcome.dropped);
  }
  for (int64_t k : plan.participants) {
    if (secure && !std::binary_search(secure_outcome.survivors.begin(),
                                      secure_outcome.survivors.end(), k)) {
      continue;  // dropped, or the round failed
    }
    const auto node = static_cast<int32_t>(k % options_.num_workers);
    if (!nodes.empty() &&
        !std::binary_search(nodes.begin(), nodes.end(), node)) {
      continue;
    }
    ++participants;
    examples += clients_->train_sizes[k];
  }
  record->set_participants(participants);
  record->set_examples(examples);
  record->set_update_norm(std::sqrt(norm));
  record->set_train_loss(
      mine.empty() ? 0 : loss_sum / static_cast<double>(mine.size()));
  record->set_simulated_seconds(plan.simulated_seconds);
  if (privacy.enabled) {
    // CENTRAL: every round composes the sampled mechanism; LOCAL: the
    // client that has reported most often so far.
    const Epsilon spent =
        SpentAfter(privacy, privacy.local ? most_reports_ : round + 1);
    record->set_epsilon(spent.classic);
    record->set_epsilon_tight(spent.tight);
    record->set_clip_norm(round_clip_norm);
  }
  const bool due = step.last || (o.eval_every_rounds > 0 &&
                                 (round + 1) % o.eval_every_rounds == 0);
  if (due) Evaluate(record);
  record->set_seconds(SecondsSince(start));
  return absl::OkStatus();
}

void FederatedTrainer::CountReports(const RoundPlan& plan) {
  if (reports_.empty()) reports_.assign(clients_->clients(), 0);
  for (int64_t k : plan.participants) {
    most_reports_ = std::max<int64_t>(most_reports_, ++reports_[k]);
  }
}

void FederatedTrainer::Evaluate(v1::FederatedRound* record) {
  Model* model = evaluator_;
  if (test_ != nullptr && test_->num_examples > 0) {
    Batch all{test_->features.data(),
              test_->labels.empty() ? nullptr : test_->labels.data(),
              static_cast<int>(test_->num_examples),
              test_->targets.empty() ? nullptr : test_->targets.data()};
    const EvalResult r = model->Evaluate(global_.data(), all);
    record->set_test_loss(r.loss_sum / static_cast<double>(r.count));
    if (model->is_classifier()) {
      record->set_test_accuracy(static_cast<double>(r.correct) /
                                static_cast<double>(r.count));
    }
  }
  if (options_.federated.client_eval_fraction <= 0 || !model->is_classifier()) {
    return;
  }
  std::vector<double> accuracies;
  Slot& slot = slots_[0];
  for (int64_t k = 0; k < clients_->clients(); ++k) {
    const absl::Span<const int32_t> held = clients_->held_out(k);
    if (held.empty()) continue;
    const Batch b =
        Gather(*train_, held, &slot.features, &slot.labels, &slot.targets);
    const EvalResult r = model->Evaluate(global_.data(), b);
    accuracies.push_back(static_cast<double>(r.correct) /
                         static_cast<double>(r.count));
  }
  if (accuracies.empty()) return;
  double mean = 0;
  for (double a : accuracies) mean += a;
  record->set_client_accuracy_mean(mean /
                                   static_cast<double>(accuracies.size()));
  record->set_client_accuracy_p10(Quantile(accuracies, 0.1));
}

absl::Status FederatedTrainer::Run(const std::function<bool()>& should_stop) {
  const absl::Time start = absl::Now();
  PsClient::Transfer transfer;
  int64_t round = std::max<int64_t>(0, options_.start_round);
  RETURN_IF_ERROR(ps_->Pull(round, global_.data(), &transfer));
  for (int64_t version : ps_->versions()) round = std::max(round, version);
  if (options_.federated.privacy.adaptive() && transfer.clip_norm > 0) {
    clip_norm_ = transfer.clip_norm;
  }
  if (metrics_ != nullptr) {
    metrics_->pull_duration.Observe(SecondsSince(start));
    metrics_->pull_bytes.Increment(transfer.bytes_received);
  }
  // A replacement's steps and examples go on from its predecessor's (its
  // sums and counts start from zero, as the coordinator expects): the
  // rounds before `round`, as their plans say.
  int64_t examples = 0;
  for (int64_t r = 0; r < round; ++r) {
    const RoundPlan plan =
        PlanRound(options_.federated, clients_->train_sizes, r);
    for (int64_t k : plan.participants) {
      if (k % options_.num_workers == options_.worker_id) {
        examples += clients_->train_sizes[k];
      }
    }
    if (options_.federated.privacy.local) CountReports(plan);
  }
  {
    absl::MutexLock lock(&mu_);
    progress_.set_steps(round);
    progress_.set_examples(examples);
  }
  for (; round < options_.federated.rounds; ++round) {
    if (should_stop()) return absl::CancelledError("training stopped");
    v1::FederatedRound record;
    bool records;
    {
      absl::MutexLock lock(&mu_);
      records = recorder_ == options_.worker_id;
    }
    RETURN_IF_ERROR(Round(round, should_stop, records ? &record : nullptr));
    if (records) {
      absl::MutexLock lock(&mu_);
      // Named recorder mid-round or not: the coordinator keeps the
      // recorder's only.
      if (recorder_ == options_.worker_id)
        pending_.push_back(std::move(record));
    }
  }
  absl::MutexLock lock(&mu_);
  finished_ = true;
  return absl::OkStatus();
}

v1::WorkerProgress FederatedTrainer::Progress() const {
  absl::MutexLock lock(&mu_);
  v1::WorkerProgress progress = progress_;
  int sent = 0;
  for (const v1::FederatedRound& r : pending_) {
    if (r.round() < recorded_) continue;
    if (sent == kMaxRoundsPerReport) break;
    *progress.add_rounds() = r;
    ++sent;
  }
  // Recorded() keeps only rounds not yet recorded.
  progress.set_done(finished_ && pending_.size() <= kMaxRoundsPerReport);
  return progress;
}

void FederatedTrainer::SetRecorder(int32_t worker) {
  absl::MutexLock lock(&mu_);
  if (worker == recorder_) return;
  LOG(INFO) << "worker " << options_.worker_id << ": worker " << worker
            << " records the rounds from now on";
  recorder_ = worker;
  if (worker != options_.worker_id) pending_.clear();
}

void FederatedTrainer::Recorded(int64_t rounds) {
  absl::MutexLock lock(&mu_);
  recorded_ = std::max(recorded_, rounds);
  while (!pending_.empty() && pending_.front().round() < recorded_) {
    pending_.pop_front();
  }
}

}  // namespace descent
