// SecureAggregator: a shard's side of secure aggregation (Bonawitz et al.
// 2017; common/secagg/secure_aggregation.h has the protocol), the server
// of one round at a time for the shard's slice. It routes the clients'
// public keys and (shard 0 only) sealed shares, sums their masked inputs in
// Z_(2^32), and, once the survivors have revealed their shares, rebuilds the
// secrets it needs (Shamir, t of n), removes the masks and hands the
// round's sum to the shard (Deliver). It never holds an unmasked input:
// only masked ones and their sum.
//
// Each phase of a round is a barrier: every worker the aggregator waits
// for (the job's workers, less those declared lost) calls it once, with
// its own clients of the round, and all are answered together when the
// last arrives (or a loss leaves none missing). No thread waits: held
// calls are callbacks. A phase with fewer than t clients fails the round:
// every held call is answered `failed`, and so is every later phase of the
// round at once; the shard applies no update for it. Invalid calls
// (INVALID_ARGUMENT: a client not of the round, a key or share of the
// wrong size, a share for a client twice, a masked input of the wrong
// length, a reveal the protocol forbids) change nothing.
//
// A worker replaced mid-round (a later incarnation calls) takes its
// clients' keys and shares with it: a round still collecting starts over
// from phase 1, every held call answered ABORTED (SecureClients then
// begins the round again); a round already over keeps its outcome, and the
// replacement's calls get its predecessor's answers.
//
// Thread-safe. Deliver runs without the aggregator's lock, before the
// UNMASK answers go out.
#ifndef DESCENT_SERVER_SHARD_SECURE_AGGREGATOR_H_
#define DESCENT_SERVER_SHARD_SECURE_AGGREGATOR_H_

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "common/secagg/secure_aggregation.h"
#include "descent/v1/ps.pb.h"

namespace descent {

struct SecureAggregatorOptions {
  int32_t num_workers = 1;
  int64_t clients = 0;  // K: ids in [0, K)
  double threshold = 0.5;
  double clip_range = 1;
  // The shard's slice of the P parameters: [begin, begin + size).
  int64_t begin = 0;
  int64_t size = 0;
  int64_t num_parameters = 0;
  // Whether this shard routes the clients' sealed shares (shard 0 does;
  // the others learn only who shared, and refuse shares).
  bool routes_shares = true;
  // Tests: sees every masked input the shard receives.
  std::function<void(int64_t client, absl::Span<const uint32_t> masked)>
      on_masked_input;
};

// The unmasked sum of a round: the slice's summed weighted inputs, the
// summed weights and unclipped counts, and the clients summed.
struct SecureSum {
  int64_t round = 0;
  std::vector<float> sum;
  double weight = 0;
  int64_t unclipped = 0;
  int64_t clients = 0;
};

class SecureAggregator {
 public:
  using Done = std::function<void(absl::Status)>;
  using Deliver = std::function<void(SecureSum)>;

  SecureAggregator(SecureAggregatorOptions options, Deliver deliver);
  ~SecureAggregator();

  // One phase call of a worker whose header the shard has checked.
  // `response` must stay alive until `done` runs.
  void Handle(const v1::SecureAggregationRequest& request,
              v1::SecureAggregationResponse* response, Done done);

  // The worker is not waited for from now on.
  void WorkerLost(int32_t worker);
  // Answers every held call UNAVAILABLE and refuses later ones.
  void Close();

  // The rounds unmasked, and failed, so far; rounds started over because a
  // worker taking part was replaced (a later incarnation called).
  int64_t rounds_unmasked() const;
  int64_t rounds_failed() const;
  int64_t restarts() const;

 private:
  using Phase = v1::SecureAggregationRequest::Phase;
  struct Held {
    v1::SecureAggregationResponse* response;
    Done done;
  };
  struct Answer {
    Held held;
    v1::SecureAggregationResponse answer;
    absl::Status status;
  };

  // Validates and records one worker's part of the current phase.
  absl::Status AddLocked(int32_t worker,
                         const v1::SecureAggregationRequest& request)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // If no awaited worker is missing, ends the phase: computes each
  // worker's answer and moves the held calls to *out.
  void MaybeCompleteLocked(std::vector<Answer>* out,
                           std::optional<SecureSum>* delivered)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // UNMASK: the sum without its masks, or the reason it cannot be had.
  absl::StatusOr<SecureSum> UnmaskLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void StartRoundLocked(int64_t round, std::vector<Answer>* aborted)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Whether `worker` has a part in the current round: a call held or
  // answered, or a client.
  bool TookPartLocked(int32_t worker) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Starts the current round over (its held calls answered ABORTED).
  void RestartRoundLocked(int32_t worker, std::vector<Answer>* aborted)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  int XOf(int64_t client) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Finish(std::vector<Answer> answers, std::optional<SecureSum> sum);

  const SecureAggregatorOptions options_;
  const Deliver deliver_;

  mutable absl::Mutex mu_;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<bool> lost_ ABSL_GUARDED_BY(mu_);
  // Per worker: the latest incarnation that called.
  std::vector<int32_t> incarnation_ ABSL_GUARDED_BY(mu_);
  int64_t restarts_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t unmasked_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t failed_rounds_ ABSL_GUARDED_BY(mu_) = 0;

  // The current round.
  int64_t round_ ABSL_GUARDED_BY(mu_) = -1;
  int phase_ ABSL_GUARDED_BY(mu_) = 0;  // being collected, 1..4; 5: over
  bool failed_ ABSL_GUARDED_BY(mu_) = false;
  std::string reason_ ABSL_GUARDED_BY(mu_);
  double weight_bound_ ABSL_GUARDED_BY(mu_) = -1;
  // Who has called the phase being collected, and their held calls.
  std::map<int32_t, Held> held_ ABSL_GUARDED_BY(mu_);
  // The answers of the phases already over, per worker (for retries).
  std::map<std::pair<int, int32_t>, v1::SecureAggregationResponse> answered_
      ABSL_GUARDED_BY(mu_);
  // Phase 1: each client's keys and worker; U1 ascending; t.
  std::map<int64_t, v1::SecureClientKeys> keys_ ABSL_GUARDED_BY(mu_);
  std::map<int64_t, int32_t> host_ ABSL_GUARDED_BY(mu_);
  std::vector<int64_t> u1_ ABSL_GUARDED_BY(mu_);
  int threshold_ ABSL_GUARDED_BY(mu_) = 0;
  // Phase 2: shares by recipient; U2.
  std::map<int64_t, std::vector<v1::SealedShare>> shares_for_
      ABSL_GUARDED_BY(mu_);
  std::set<int64_t> u2_ ABSL_GUARDED_BY(mu_);
  // Phase 3: the masked sum (slice, weight, unclipped); U3.
  std::vector<uint32_t> sum_ ABSL_GUARDED_BY(mu_);
  std::set<int64_t> u3_ ABSL_GUARDED_BY(mu_);
  // Phase 4: per owner, the revealed shares (x, share) and who revealed.
  struct Shares {
    std::vector<uint8_t> xs;
    std::vector<secagg::Key> shares;
  };
  std::map<int64_t, Shares> revealed_ ABSL_GUARDED_BY(mu_);
  std::set<int64_t> revealers_ ABSL_GUARDED_BY(mu_);
};

}  // namespace descent

#endif  // DESCENT_SERVER_SHARD_SECURE_AGGREGATOR_H_
