#include "server/coordinator/progress_bounds.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/host_port.h"
#include "common/partition.h"

namespace descent {
namespace {

absl::Status Refuse(int worker, const char* field, int64_t value,
                    const std::string& bound) {
  return absl::InvalidArgumentError(absl::StrCat(
      "worker ", worker, ": progress.", field, " ", value, " ", bound));
}

// The bound on a count that only grows: at least `before`, at most `most`.
absl::Status CheckCount(int worker, const char* field, int64_t value,
                        int64_t before, int64_t most,
                        const std::string& most_is) {
  if (value < before) {
    return Refuse(worker, field, value,
                  absl::StrCat("is below the ", before,
                               " reported before (progress is cumulative)"));
  }
  if (value > most) {
    return Refuse(worker, field, value,
                  absl::StrCat("exceeds ", most, ", ", most_is));
  }
  return absl::OkStatus();
}

std::string ShareOf(const WorkerLimits& limits) {
  return absl::StrCat("the ", limits.steps, " steps / ", limits.examples,
                      " examples of its data shard (", limits.share,
                      " examples, batch ", limits.batch, ") over the epochs");
}

}  // namespace

WorkerLimits FederatedLimits(const v1::JobConfig& config,
                             int64_t train_examples) {
  WorkerLimits w;
  w.share = train_examples;
  w.batch = std::max<int64_t>(1, train_examples);
  w.steps = config.federated().rounds();
  w.examples = w.steps * w.batch;
  return w;
}

std::vector<WorkerLimits> WorkerLimitsOf(const v1::JobConfig& config,
                                         int64_t train_examples) {
  if (config.has_federated()) {
    return std::vector<WorkerLimits>(
        std::max(1, config.cluster().num_workers()),
        FederatedLimits(config, train_examples));
  }
  const v1::TrainConfig& train = config.train();
  const int workers = std::max(1, config.cluster().num_workers());
  const int64_t epochs = std::max(1, train.epochs());
  std::vector<WorkerLimits> limits;
  for (const IndexRange& share : SplitEvenly(train_examples, workers)) {
    WorkerLimits& w = limits.emplace_back();
    w.share = share.size();
    w.batch = train.batch_size() > 0 ? train.batch_size()
                                     : std::max<int64_t>(1, w.share);
    w.steps = (w.share + w.batch - 1) / w.batch * epochs;
    w.examples = w.share * epochs;
  }
  return limits;
}

absl::Status CheckRounds(const v1::JobConfig& config, int worker,
                         int64_t recorded, const v1::WorkerProgress& now) {
  if (now.rounds().empty()) return absl::OkStatus();
  auto refuse = [worker](int64_t round, const std::string& problem) {
    return absl::InvalidArgumentError(absl::StrCat(
        "worker ", worker, ": progress.rounds (round ", round, "): ", problem));
  };
  if (!config.has_federated()) {
    return refuse(now.rounds(0).round(),
                  "only a federated job's workers report rounds");
  }
  if (now.rounds_size() > kMaxRoundsPerReport) {
    return refuse(now.rounds(0).round(),
                  absl::StrCat(now.rounds_size(), " records exceed the ",
                               kMaxRoundsPerReport, " a report may carry"));
  }
  const v1::FederatedConfig& f = config.federated();
  int64_t previous = -1;
  for (const v1::FederatedRound& r : now.rounds()) {
    if (r.round() < 0 || r.round() >= f.rounds() || r.round() <= previous) {
      return refuse(r.round(), absl::StrCat("rounds must increase within [0, ",
                                            f.rounds(), ")"));
    }
    if (r.round() > std::max<int64_t>(recorded, now.steps())) {
      return refuse(r.round(),
                    absl::StrCat("is past the worker's steps ", now.steps()));
    }
    previous = r.round();
    const int64_t most_sampled = int64_t{f.max_round_attempts()} * f.clients();
    for (int64_t count : {r.sampled(), r.dropped(), r.late()}) {
      if (count < 0 || count > most_sampled) {
        return refuse(r.round(), absl::StrCat("client counts must be in [0, ",
                                              most_sampled, "]"));
      }
    }
    if (r.participants() < 0 || r.participants() > f.clients() ||
        r.examples() < 0 || r.attempts() < 1 ||
        r.attempts() > f.max_round_attempts()) {
      return refuse(r.round(),
                    "participants, examples or attempts out of "
                    "range");
    }
    for (double x : {r.update_norm(), r.train_loss(), r.seconds(),
                     r.simulated_seconds(), r.test_loss()}) {
      if (!std::isfinite(x) || x < 0) {
        return refuse(r.round(),
                      "norms, losses and times must be finite "
                      "and >= 0");
      }
    }
    // Infinite without noise.
    if (!(r.epsilon() >= 0) || !(r.epsilon_tight() >= 0) ||
        (r.has_clip_norm() &&
         !(std::isfinite(r.clip_norm()) && r.clip_norm() > 0))) {
      return refuse(r.round(),
                    "epsilons must be >= 0 and clip norms finite and > 0");
    }
    if (r.secure_clients() < 0 || r.secure_dropped() < 0 ||
        r.secure_clients() + r.secure_dropped() > r.sampled()) {
      return refuse(r.round(),
                    "secure aggregation counts must be >= 0 and at most the "
                    "clients sampled");
    }
    for (double a : {r.test_accuracy(), r.client_accuracy_mean(),
                     r.client_accuracy_p10()}) {
      if (!(a >= 0 && a <= 1)) {
        return refuse(r.round(), "accuracies must be in [0, 1]");
      }
    }
  }
  return absl::OkStatus();
}

absl::Status CheckProgress(int worker, const WorkerLimits& limits,
                           const v1::WorkerProgress& old,
                           const v1::WorkerProgress& now) {
  const std::string share = ShareOf(limits);
  absl::Status status =
      CheckCount(worker, "steps", now.steps(), old.steps(), limits.steps,
                 absl::StrCat("the most it can take: ", share));
  if (!status.ok()) return status;
  status = CheckCount(worker, "examples", now.examples(), old.examples(),
                      limits.examples,
                      absl::StrCat("the most it can train on: ", share));
  if (!status.ok()) return status;
  const int64_t new_steps = now.steps() - old.steps();
  if (now.examples() - old.examples() > new_steps * limits.batch) {
    return Refuse(
        worker, "examples", now.examples(),
        absl::StrCat("grew by more than its ", new_steps,
                     " new steps of at most ", limits.batch, " examples"));
  }
  status = CheckCount(worker, "loss_count", now.loss_count(), old.loss_count(),
                      now.steps(), "its steps (one loss a push)");
  if (!status.ok()) return status;
  if (now.loss_count() - old.loss_count() > new_steps) {
    return Refuse(worker, "loss_count", now.loss_count(),
                  absl::StrCat("grew by more than its ", new_steps,
                               " new steps (one loss a push)"));
  }
  status = CheckCount(worker, "gradient_norm_count", now.gradient_norm_count(),
                      old.gradient_norm_count(), limits.steps,
                      absl::StrCat("the most steps it can take: ", share));
  if (!status.ok()) return status;
  if (now.gradient_norm_layers_size() != now.gradient_norm_sums_size() ||
      now.gradient_norm_layers_size() > kMaxLayers) {
    return Refuse(
        worker, "gradient_norm_sums", now.gradient_norm_sums_size(),
        absl::StrCat("(count) does not match the ",
                     now.gradient_norm_layers_size(),
                     " gradient_norm_layers, or exceeds ", kMaxLayers));
  }
  if (now.bytes_pushed() < 0 || now.bytes_pulled() < 0) {
    return Refuse(
        worker, now.bytes_pushed() < 0 ? "bytes_pushed" : "bytes_pulled",
        std::min(now.bytes_pushed(), now.bytes_pulled()), "is negative");
  }
  if (now.divergence().size() > kMaxDivergenceBytes) {
    return Refuse(worker, "divergence", now.divergence().size(),
                  absl::StrCat("(bytes) exceeds ", kMaxDivergenceBytes));
  }
  if (now.done() && now.steps() != limits.steps) {
    return Refuse(worker, "steps", now.steps(),
                  absl::StrCat("with done: a worker is done after all its ",
                               limits.steps, " steps (", share, ")"));
  }
  return absl::OkStatus();
}

int64_t UpdatesWhenDone(v1::Consistency consistency,
                        const std::vector<int64_t>& steps,
                        const std::vector<int64_t>& start_steps,
                        int push_every) {
  int64_t sum = 0;
  int64_t most = 0;
  const int64_t every = std::max(1, push_every);
  for (size_t w = 0; w < steps.size(); ++w) {
    const int64_t start =
        w < start_steps.size() ? std::min(start_steps[w], steps[w]) : 0;
    sum += (steps[w] - start) / every;
    most = std::max(most, steps[w] - start);
  }
  return consistency == v1::BSP ? most : sum;
}

absl::Status CheckMemberFields(absl::string_view member,
                               const std::string* address,
                               absl::string_view metrics_address, int64_t pid) {
  if (address != nullptr) {
    if (absl::Status status = CheckHostPort(*address, false); !status.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(member, ": address ", status.message()));
    }
  }
  if (!metrics_address.empty()) {
    if (absl::Status status = CheckHostPort(metrics_address, false);
        !status.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(member, ": metrics_address ", status.message()));
    }
  }
  if (pid < 0 || pid > std::numeric_limits<int32_t>::max()) {
    return absl::InvalidArgumentError(
        absl::StrCat(member, ": pid ", pid, " is not a process id (0..",
                     std::numeric_limits<int32_t>::max(), ")"));
  }
  return absl::OkStatus();
}

absl::Status CheckLocalSocket(absl::string_view member,
                              absl::string_view name) {
  const bool fits =
      name.size() <= 100 && std::all_of(name.begin(), name.end(), [](char c) {
        return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '.' ||
               c == '_' || c == '-';
      });
  if (fits) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat(member, ": local_socket is not 1 to 100 of [A-Za-z0-9._-] (",
                   name.size(), " bytes)"));
}

}  // namespace descent
