#include "server/shard/secure_aggregator.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "glog/logging.h"

namespace descent {
namespace {

using Request = v1::SecureAggregationRequest;

constexpr size_t kMaxSealedBytes = 512;

absl::Status Malformed(std::string message) {
  return absl::InvalidArgumentError(std::move(message));
}

const char* PhaseName(int phase) {
  switch (phase) {
    case Request::ADVERTISE_KEYS:
      return "ADVERTISE_KEYS";
    case Request::SHARE_KEYS:
      return "SHARE_KEYS";
    case Request::MASKED_INPUT:
      return "MASKED_INPUT";
    case Request::UNMASK:
      return "UNMASK";
  }
  return "unknown";
}

}  // namespace

SecureAggregator::SecureAggregator(SecureAggregatorOptions options,
                                   Deliver deliver)
    : options_(std::move(options)),
      deliver_(std::move(deliver)),
      lost_(std::max(0, options_.num_workers), false),
      incarnation_(std::max(0, options_.num_workers), 0) {
  CHECK(secagg::Init().ok());
}

SecureAggregator::~SecureAggregator() { Close(); }

int SecureAggregator::XOf(int64_t client) const {
  return 1 + static_cast<int>(std::lower_bound(u1_.begin(), u1_.end(), client) -
                              u1_.begin());
}

void SecureAggregator::StartRoundLocked(int64_t round,
                                        std::vector<Answer>* aborted) {
  for (auto& [worker, held] : held_) {
    aborted->push_back({held,
                        {},
                        absl::AbortedError(absl::StrCat(
                            "secure aggregation of round ", round_,
                            " abandoned: a worker started round ", round))});
  }
  held_.clear();
  answered_.clear();
  keys_.clear();
  host_.clear();
  u1_.clear();
  shares_for_.clear();
  u2_.clear();
  u3_.clear();
  revealed_.clear();
  revealers_.clear();
  sum_.assign(options_.size + 2, 0);
  round_ = round;
  phase_ = Request::ADVERTISE_KEYS;
  failed_ = false;
  reason_.clear();
  weight_bound_ = -1;
  threshold_ = 0;
}

bool SecureAggregator::TookPartLocked(int32_t worker) const {
  if (held_.count(worker) > 0) return true;
  for (const auto& [client, host] : host_) {
    if (host == worker) return true;
  }
  for (const auto& [at, answer] : answered_) {
    if (at.second == worker) return true;
  }
  return false;
}

void SecureAggregator::RestartRoundLocked(int32_t worker,
                                          std::vector<Answer>* aborted) {
  LOG(WARNING) << "secure aggregation of round " << round_
               << " starts over: worker " << worker << " was replaced";
  for (auto& [w, held] : held_) {
    aborted->push_back(
        {held,
         {},
         absl::AbortedError(absl::StrCat("secure aggregation of round ", round_,
                                         " started over: worker ", worker,
                                         " was replaced"))});
  }
  held_.clear();
  const int64_t round = round_;
  StartRoundLocked(round, aborted);
  ++restarts_;
}

void SecureAggregator::Handle(const Request& request,
                              v1::SecureAggregationResponse* response,
                              Done done) {
  std::vector<Answer> answers;
  std::optional<SecureSum> delivered;
  absl::Status refused;
  bool held = false;
  {
    absl::MutexLock lock(&mu_);
    const int phase = request.phase();
    const int64_t round = request.header().step();
    const int32_t worker = request.header().worker_id();
    if (closed_) {
      refused = absl::UnavailableError("the shard is closing");
    } else if (phase < Request::ADVERTISE_KEYS || phase > Request::UNMASK) {
      refused = Malformed(absl::StrCat("secure aggregation phase ", phase,
                                       " is not one of 1..4"));
    } else if (worker < 0 || worker >= options_.num_workers) {
      refused = absl::FailedPreconditionError(absl::StrCat(
          "worker ", worker, " takes no part in secure aggregation"));
    } else if (round < round_) {
      refused = absl::FailedPreconditionError(
          absl::StrCat("secure aggregation of round ", round,
                       " is over: the shard is at round ", round_));
    } else if (request.header().incarnation() < incarnation_[worker]) {
      refused = absl::FailedPreconditionError(absl::StrCat(
          "worker ", worker, " incarnation ", request.header().incarnation(),
          " was replaced by incarnation ", incarnation_[worker]));
    } else {
      if (round > round_) StartRoundLocked(round, &answers);
      if (request.header().incarnation() > incarnation_[worker]) {
        incarnation_[worker] = request.header().incarnation();
        // A replacement: its predecessor's keys and shares died with it.
        // A round still collecting starts over from its keys (the calls
        // held are answered ABORTED, and every worker begins again); one
        // already over keeps its outcome.
        if (phase_ <= Request::UNMASK && TookPartLocked(worker)) {
          RestartRoundLocked(worker, &answers);
        }
      }
      const auto done_before = answered_.find({phase, worker});
      if (done_before != answered_.end()) {
        *response = done_before->second;  // a retry of an answered call
      } else if (failed_) {
        response->set_failed(true);
        response->set_reason(reason_);
      } else if (phase > phase_) {
        // Ahead of the shard: the round started over under the caller.
        refused = absl::AbortedError(absl::StrCat(
            "secure aggregation of round ", round, " started over: phase ",
            PhaseName(phase), " before ", PhaseName(phase_)));
      } else if (phase != phase_) {
        refused = absl::FailedPreconditionError(absl::StrCat(
            "secure aggregation of round ", round, ": phase ", PhaseName(phase),
            " out of turn (collecting ", PhaseName(phase_), ")"));
      } else {
        const auto before = held_.find(worker);
        if (before != held_.end()) {
          // A retry: the worker stopped waiting for its earlier call.
          answers.push_back(
              {before->second, {}, absl::AbortedError("replaced by a retry")});
          before->second = {response, std::move(done)};
          held = true;
        } else {
          refused = AddLocked(worker, request);
          if (refused.ok()) {
            held_[worker] = {response, std::move(done)};
            held = true;
          }
        }
        if (held) MaybeCompleteLocked(&answers, &delivered);
      }
    }
  }
  if (!held) {
    Finish(std::move(answers), std::move(delivered));
    done(refused);
    return;
  }
  Finish(std::move(answers), std::move(delivered));
}

absl::Status SecureAggregator::AddLocked(int32_t worker,
                                         const Request& request) {
  const auto ours = [&](int64_t client) {
    const auto it = host_.find(client);
    return it != host_.end() && it->second == worker;
  };
  std::set<int64_t> seen;
  switch (phase_) {
    case Request::ADVERTISE_KEYS: {
      const double bound = request.weight_bound();
      if (!std::isfinite(bound) || bound < 0 || bound >= 2147483648.0) {
        return Malformed(
            absl::StrCat("weight_bound must be in [0, 2^31), got ", bound));
      }
      if (weight_bound_ >= 0 && bound != weight_bound_) {
        return Malformed(absl::StrCat("weight_bound ", bound,
                                      " differs from the other workers' ",
                                      weight_bound_));
      }
      for (const v1::SecureClientMessage& c : request.clients()) {
        if (c.client() < 0 || c.client() >= options_.clients) {
          return Malformed(absl::StrCat(
              "client ", c.client(), " is not in [0, ", options_.clients, ")"));
        }
        if (keys_.count(c.client()) > 0 || !seen.insert(c.client()).second) {
          return Malformed(
              absl::StrCat("client ", c.client(), " advertised keys twice"));
        }
        if (c.cipher_public_key().size() != secagg::kKeyBytes ||
            c.mask_public_key().size() != secagg::kKeyBytes) {
          return Malformed(absl::StrCat("client ", c.client(),
                                        ": public keys must be 32 bytes"));
        }
      }
      if (keys_.size() + seen.size() > secagg::kMaxClients) {
        return Malformed(absl::StrCat("more than ", secagg::kMaxClients,
                                      " clients in one round"));
      }
      weight_bound_ = bound;
      for (const v1::SecureClientMessage& c : request.clients()) {
        v1::SecureClientKeys& keys = keys_[c.client()];
        keys.set_client(c.client());
        keys.set_cipher_public_key(c.cipher_public_key());
        keys.set_mask_public_key(c.mask_public_key());
        host_[c.client()] = worker;
      }
      return absl::OkStatus();
    }
    case Request::SHARE_KEYS: {
      for (const v1::SecureClientMessage& c : request.clients()) {
        if (!ours(c.client()) || !seen.insert(c.client()).second) {
          return Malformed(absl::StrCat(
              "client ", c.client(),
              " did not advertise keys through this worker, or shares twice"));
        }
        if (!options_.routes_shares) {
          if (c.shares_size() > 0) {
            return Malformed(absl::StrCat(
                "client ", c.client(),
                " sends sealed shares to a shard that does not route them "
                "(shard 0 does)"));
          }
          continue;
        }
        if (static_cast<size_t>(c.shares_size()) + 1 != u1_.size()) {
          return Malformed(absl::StrCat("client ", c.client(), " sends ",
                                        c.shares_size(), " shares for ",
                                        u1_.size() - 1, " other clients"));
        }
        std::set<int64_t> to;
        for (const v1::SealedShare& s : c.shares()) {
          if (s.from() != c.client() || s.to() == c.client() ||
              keys_.count(s.to()) == 0 || !to.insert(s.to()).second ||
              s.sealed().size() > kMaxSealedBytes) {
            return Malformed(absl::StrCat(
                "client ", c.client(), "'s share for client ", s.to(),
                ": from another client, for itself, for a client not of the "
                "round, a second one, or over ",
                kMaxSealedBytes, " bytes"));
          }
        }
      }
      for (const v1::SecureClientMessage& c : request.clients()) {
        for (const v1::SealedShare& s : c.shares())
          shares_for_[s.to()].push_back(s);
        u2_.insert(c.client());
      }
      return absl::OkStatus();
    }
    case Request::MASKED_INPUT: {
      const size_t bytes = 4 * static_cast<size_t>(options_.size + 2);
      for (const v1::SecureClientMessage& c : request.clients()) {
        if (!ours(c.client()) || u2_.count(c.client()) == 0 ||
            !seen.insert(c.client()).second) {
          return Malformed(absl::StrCat(
              "client ", c.client(),
              " sent no shares through this worker, or masks twice"));
        }
        if (c.masked_input().size() != bytes) {
          return Malformed(
              absl::StrCat("client ", c.client(), "'s masked input is ",
                           c.masked_input().size(), " bytes, not ", bytes,
                           " (the slice, weight, unclipped)"));
        }
      }
      std::vector<uint32_t> words(options_.size + 2);
      for (const v1::SecureClientMessage& c : request.clients()) {
        secagg::ReadWords(c.masked_input(), absl::MakeSpan(words));
        for (size_t i = 0; i < words.size(); ++i) sum_[i] += words[i];
        if (options_.on_masked_input)
          options_.on_masked_input(c.client(), words);
        u3_.insert(c.client());
      }
      return absl::OkStatus();
    }
    case Request::UNMASK: {
      for (const v1::SecureClientMessage& c : request.clients()) {
        if (!ours(c.client()) || u3_.count(c.client()) == 0 ||
            !seen.insert(c.client()).second) {
          return Malformed(absl::StrCat(
              "client ", c.client(),
              "'s masked input did not arrive through this worker, or it "
              "reveals twice"));
        }
        std::set<int64_t> owners;
        for (const v1::RevealedShare& r : c.revealed()) {
          const bool dropped = u3_.count(r.owner()) == 0;
          if (u2_.count(r.owner()) == 0 || !owners.insert(r.owner()).second ||
              r.share().size() != secagg::kKeyBytes) {
            return Malformed(absl::StrCat(
                "client ", c.client(), " reveals a share of client ", r.owner(),
                " that sent no shares, a second one, or not of 32 bytes"));
          }
          if (r.mask_key() != dropped) {
            // Both secrets of one client would unmask its input.
            return Malformed(absl::StrCat(
                "client ", c.client(), " reveals client ", r.owner(), "'s ",
                r.mask_key() ? "mask key, but its input arrived"
                             : "seed, but its input did not arrive"));
          }
        }
      }
      for (const v1::SecureClientMessage& c : request.clients()) {
        for (const v1::RevealedShare& r : c.revealed()) {
          Shares& s = revealed_[r.owner()];
          s.xs.push_back(static_cast<uint8_t>(XOf(c.client())));
          s.shares.push_back(secagg::KeyOf(r.share()));
        }
        revealers_.insert(c.client());
      }
      return absl::OkStatus();
    }
  }
  return Malformed("no phase");
}

void SecureAggregator::MaybeCompleteLocked(
    std::vector<Answer>* out, std::optional<SecureSum>* delivered) {
  for (int32_t w = 0; w < options_.num_workers; ++w) {
    if (!lost_[w] && held_.count(w) == 0) return;
  }
  std::optional<std::string> failure;
  const auto too_few = [&](size_t have, const char* what) {
    return absl::StrCat("round ", round_, ": ", have, " of ", u1_.size(),
                        " clients ", what, ", fewer than the threshold ",
                        threshold_);
  };
  switch (phase_) {
    case Request::ADVERTISE_KEYS:
      u1_.clear();
      for (const auto& [client, keys] : keys_) u1_.push_back(client);
      threshold_ =
          secagg::Threshold(options_.threshold, static_cast<int>(u1_.size()));
      if (u1_.empty()) failure = absl::StrCat("round ", round_, ": no client");
      break;
    case Request::SHARE_KEYS:
      if (u2_.size() < static_cast<size_t>(threshold_)) {
        failure = too_few(u2_.size(), "sent shares");
      }
      break;
    case Request::MASKED_INPUT:
      if (u3_.size() < static_cast<size_t>(threshold_)) {
        failure = too_few(u3_.size(), "sent masked inputs");
      }
      break;
    case Request::UNMASK: {
      absl::StatusOr<SecureSum> sum = UnmaskLocked();
      if (sum.ok()) {
        *delivered = std::move(*sum);
      } else {
        failure = std::string(sum.status().message());
      }
      break;
    }
  }
  if (failure.has_value()) {
    LOG(WARNING) << "secure aggregation failed: " << *failure;
    failed_ = true;
    reason_ = *failure;
    ++failed_rounds_;
  }
  for (auto& [worker, held] : held_) {
    v1::SecureAggregationResponse answer;
    if (failed_) {
      answer.set_failed(true);
      answer.set_reason(reason_);
    } else if (phase_ == Request::ADVERTISE_KEYS) {
      for (int64_t client : u1_) *answer.add_keys() = keys_[client];
      answer.set_threshold(threshold_);
    } else if (phase_ == Request::SHARE_KEYS) {
      for (const auto& [client, host] : host_) {
        if (host != worker) continue;
        for (const v1::SealedShare& s : shares_for_[client]) {
          *answer.add_shares() = s;
        }
      }
      for (int64_t client : u2_) answer.add_clients(client);
    } else if (phase_ == Request::MASKED_INPUT) {
      for (int64_t client : u3_) answer.add_clients(client);
    }
    answered_[{phase_, worker}] = answer;
    out->push_back({held, std::move(answer), absl::OkStatus()});
  }
  held_.clear();
  if (failed_) {
    phase_ = Request::UNMASK + 1;
    return;
  }
  if (phase_ == Request::UNMASK) ++unmasked_;
  ++phase_;
}

absl::StatusOr<SecureSum> SecureAggregator::UnmaskLocked() {
  const int64_t n = options_.size;
  std::vector<uint32_t> total = sum_;
  const absl::Span<uint32_t> slice(total.data(), n);
  const absl::Span<uint32_t> tail(total.data() + n, 2);
  const size_t t = static_cast<size_t>(threshold_);
  for (int64_t owner : u2_) {
    const bool survived = u3_.count(owner) > 0;
    const Shares& s = revealed_[owner];
    if (s.xs.size() < t) {
      return absl::FailedPreconditionError(absl::StrCat(
          "round ", round_, ": ", s.xs.size(), " shares of client ", owner,
          survived ? "'s seed" : "'s mask key",
          " revealed, fewer than the threshold ", t));
    }
    const secagg::Key secret =
        secagg::Combine(absl::MakeConstSpan(s.xs).subspan(0, t),
                        absl::MakeConstSpan(s.shares).subspan(0, t));
    if (survived) {
      secagg::AddMask(secret, round_, options_.begin, -1, slice);
      secagg::AddMask(secret, round_, options_.num_parameters, -1, tail);
      continue;
    }
    if (secagg::PublicKeyOf(secret) !=
        secagg::KeyOf(keys_[owner].mask_public_key())) {
      return absl::FailedPreconditionError(
          absl::StrCat("round ", round_, ": the shares of client ", owner,
                       "'s mask key do not rebuild it"));
    }
    for (int64_t u : u3_) {
      ASSIGN_OR_RETURN(
          const secagg::Key key,
          secagg::AgreeKey(secret, secagg::KeyOf(keys_[u].mask_public_key()),
                           secagg::kMaskPurpose, round_, owner, u));
      // u added sign(u, owner) PRG(key): +1 if u < owner.
      const int sign = u < owner ? -1 : 1;
      secagg::AddMask(key, round_, options_.begin, sign, slice);
      secagg::AddMask(key, round_, options_.num_parameters, sign, tail);
    }
  }
  const secagg::Quantizer quantizer(options_.clip_range, weight_bound_);
  SecureSum out;
  out.round = round_;
  out.sum.resize(n);
  for (int64_t i = 0; i < n; ++i) {
    out.sum[i] = static_cast<float>(quantizer.Decode(total[i]));
  }
  out.weight = static_cast<double>(total[n]);
  out.unclipped = total[n + 1];
  out.clients = static_cast<int64_t>(u3_.size());
  return out;
}

void SecureAggregator::Finish(std::vector<Answer> answers,
                              std::optional<SecureSum> sum) {
  if (sum.has_value()) deliver_(std::move(*sum));
  for (Answer& a : answers) {
    if (a.status.ok()) *a.held.response = std::move(a.answer);
    a.held.done(a.status);
  }
}

void SecureAggregator::WorkerLost(int32_t worker) {
  std::vector<Answer> answers;
  std::optional<SecureSum> delivered;
  {
    absl::MutexLock lock(&mu_);
    if (worker < 0 || worker >= options_.num_workers || lost_[worker]) return;
    lost_[worker] = true;
    if (!held_.empty()) MaybeCompleteLocked(&answers, &delivered);
  }
  Finish(std::move(answers), std::move(delivered));
}

void SecureAggregator::Close() {
  std::vector<Answer> answers;
  {
    absl::MutexLock lock(&mu_);
    closed_ = true;
    for (auto& [worker, held] : held_) {
      answers.push_back(
          {held, {}, absl::UnavailableError("the shard is closing")});
    }
    held_.clear();
  }
  Finish(std::move(answers), std::nullopt);
}

int64_t SecureAggregator::rounds_unmasked() const {
  absl::MutexLock lock(&mu_);
  return unmasked_;
}

int64_t SecureAggregator::restarts() const {
  absl::MutexLock lock(&mu_);
  return restarts_;
}

int64_t SecureAggregator::rounds_failed() const {
  absl::MutexLock lock(&mu_);
  return failed_rounds_;
}

}  // namespace descent
