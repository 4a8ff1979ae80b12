#include "worker/secure_client.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "glog/logging.h"

namespace descent {
namespace {

using Request = v1::SecureAggregationRequest;
using Response = v1::SecureAggregationResponse;
using secagg::AppendWords;
using secagg::BytesOf;
using secagg::Key;
using secagg::KeyOf;

struct ClientState {
  secagg::KeyPair cipher;
  secagg::KeyPair mask;
  Key seed;
  std::vector<Key> seed_shares;
  std::vector<Key> key_shares;
};

std::string Associated(int64_t round, int64_t from, int64_t to) {
  return absl::StrCat("descent secagg v1 round ", round, " share from ", from,
                      " to ", to);
}

// The first response's failure, if any shard's round failed.
bool Failed(const std::vector<Response>& responses,
            SecureClients::Outcome* outcome) {
  for (const Response& r : responses) {
    if (!r.failed()) continue;
    outcome->failed = true;
    outcome->reason = r.reason();
    return true;
  }
  return false;
}

std::vector<int64_t> ClientsOf(const Response& r) {
  return std::vector<int64_t>(r.clients().begin(), r.clients().end());
}

absl::Status Disagree(const char* what) {
  return absl::InternalError(
      absl::StrCat("the shards disagree on the round's ", what));
}

}  // namespace

SecureClients::SecureClients(PsClient* ps, SecureOptions options, int threads)
    : ps_(ps), options_(options), threads_(std::max(1, threads)) {
  CHECK(secagg::Init().ok());
}

absl::StatusOr<SecureClients::Outcome> SecureClients::Run(
    int64_t round, double weight_bound, absl::Span<const Input> inputs,
    PsClient::Transfer* transfer) {
  // A shard starts a round over when a worker taking part is replaced: the
  // clients begin again with fresh keys.
  constexpr int kMaxStarts = 5;
  for (int start = 1;; ++start) {
    absl::StatusOr<Outcome> outcome =
        RunOnce(round, weight_bound, inputs, transfer);
    if (outcome.ok() || !absl::IsAborted(outcome.status()) ||
        start == kMaxStarts) {
      return outcome;
    }
    LOG(WARNING) << "round " << round << ": " << outcome.status().message()
                 << "; the clients start the round over";
  }
}

absl::StatusOr<SecureClients::Outcome> SecureClients::RunOnce(
    int64_t round, double weight_bound, absl::Span<const Input> inputs,
    PsClient::Transfer* transfer) {
  const std::vector<v1::ShardInfo>& shards = ps_->shards();
  const size_t num_shards = shards.size();
  const int64_t p = ps_->num_parameters();
  const int n_mine = static_cast<int>(inputs.size());
  Outcome outcome;
  std::vector<Request> requests;
  std::vector<Response> responses;

  // Phase 1: fresh keys and seed for each client.
  std::vector<ClientState> states(n_mine);
  Request advertise;
  advertise.set_phase(Request::ADVERTISE_KEYS);
  advertise.set_weight_bound(weight_bound);
  for (int i = 0; i < n_mine; ++i) {
    states[i].cipher = secagg::NewKeyPair();
    states[i].mask = secagg::NewKeyPair();
    states[i].seed = secagg::RandomSeed();
    v1::SecureClientMessage* c = advertise.add_clients();
    c->set_client(inputs[i].client);
    c->set_cipher_public_key(BytesOf(states[i].cipher.public_key));
    c->set_mask_public_key(BytesOf(states[i].mask.public_key));
  }
  requests.assign(num_shards, advertise);
  RETURN_IF_ERROR(
      ps_->SecureAggregation(round, &requests, &responses, transfer));
  if (Failed(responses, &outcome)) return outcome;
  std::map<int64_t, v1::SecureClientKeys> keys;
  std::vector<int64_t> u1;
  for (const v1::SecureClientKeys& k : responses[0].keys()) {
    keys[k.client()] = k;
    u1.push_back(k.client());
  }
  for (const Response& r : responses) {
    if (r.keys_size() != responses[0].keys_size() ||
        r.threshold() != responses[0].threshold()) {
      return Disagree("clients or threshold");
    }
    for (int i = 0; i < r.keys_size(); ++i) {
      if (r.keys(i).SerializeAsString() !=
          responses[0].keys(i).SerializeAsString()) {
        return Disagree("keys");
      }
    }
  }
  const int n = static_cast<int>(u1.size());
  const int t = responses[0].threshold();
  if (t < 1 || t > n || n > secagg::kMaxClients) {
    return absl::InternalError(absl::StrCat("the shards answer threshold ", t,
                                            " for ", n, " clients"));
  }
  const auto x_of = [&u1](int64_t client) {
    return static_cast<int>(std::lower_bound(u1.begin(), u1.end(), client) -
                            u1.begin());
  };
  for (int i = 0; i < n_mine; ++i) {
    if (keys.count(inputs[i].client) == 0) {
      return absl::InternalError(absl::StrCat("the shards did not list client ",
                                              inputs[i].client, "'s keys"));
    }
  }

  // Phase 2: each client's seed and mask key, Shamir-split t of n, sealed
  // for each other client.
  Request share;
  share.set_phase(Request::SHARE_KEYS);
  for (int i = 0; i < n_mine; ++i)
    share.add_clients()->set_client(inputs[i].client);
  absl::Status sealing;
#pragma omp parallel for num_threads(std::min(threads_, std::max(1, n_mine))) \
    schedule(dynamic, 1)
  for (int i = 0; i < n_mine; ++i) {
    ClientState& s = states[i];
    const int64_t u = inputs[i].client;
    s.seed_shares = secagg::Split(s.seed, n, t);
    s.key_shares = secagg::Split(s.mask.secret_key, n, t);
    v1::SecureClientMessage* c = share.mutable_clients(i);
    for (int64_t v : u1) {
      if (v == u) continue;
      absl::StatusOr<Key> key = secagg::AgreeKey(
          s.cipher.secret_key, KeyOf(keys.at(v).cipher_public_key()),
          secagg::kSharePurpose, round, u, v);
      if (!key.ok()) {
#pragma omp critical
        sealing = key.status();
        continue;
      }
      const int x = x_of(v);
      const std::string plaintext =
          BytesOf(s.seed_shares[x]) + BytesOf(s.key_shares[x]);
      v1::SealedShare* sealed = c->add_shares();
      sealed->set_from(u);
      sealed->set_to(v);
      sealed->set_sealed(
          secagg::Seal(*key, plaintext, Associated(round, u, v)));
    }
  }
  RETURN_IF_ERROR(sealing);
  // Shard 0 routes the sealed shares; the others need only who shared.
  requests.assign(num_shards, share);
  for (size_t s = 1; s < num_shards; ++s) {
    for (v1::SecureClientMessage& c : *requests[s].mutable_clients()) {
      c.clear_shares();
    }
  }
  RETURN_IF_ERROR(
      ps_->SecureAggregation(round, &requests, &responses, transfer));
  if (Failed(responses, &outcome)) return outcome;
  const std::vector<int64_t> u2 = ClientsOf(responses[0]);
  for (const Response& r : responses) {
    if (ClientsOf(r) != u2) return Disagree("clients that shared keys");
  }
  // The sealed shares each of this worker's clients received (from shard
  // 0), by sender.
  std::map<std::pair<int64_t, int64_t>, std::string> received;  // (to, from)
  for (const v1::SealedShare& s : responses[0].shares()) {
    received[{s.to(), s.from()}] = s.sealed();
  }

  // Phase 3: the masked inputs of the clients that do not drop.
  const std::set<int64_t> shared(u2.begin(), u2.end());
  std::vector<int> sending;
  for (int i = 0; i < n_mine; ++i) {
    if (!inputs[i].drops && shared.count(inputs[i].client) > 0) {
      sending.push_back(i);
    }
  }
  requests.assign(num_shards, Request());
  for (Request& r : requests) {
    r.set_phase(Request::MASKED_INPUT);
    for (int i : sending) r.add_clients()->set_client(inputs[i].client);
  }
  const secagg::Quantizer quantizer(options_.clip_range, weight_bound);
  std::vector<int64_t> clamped(sending.size(), 0);
  absl::Status masking;
  const int mask_threads =
      std::min(threads_, std::max(1, static_cast<int>(sending.size())));
#pragma omp parallel for num_threads(mask_threads) schedule(dynamic, 1)
  for (int j = 0; j < static_cast<int>(sending.size()); ++j) {
    const Input& in = inputs[sending[j]];
    const ClientState& s = states[sending[j]];
    std::vector<uint32_t> words(p);
    for (int64_t i = 0; i < p; ++i) {
      words[i] = quantizer.Encode(in.values[i], in.weight, &clamped[j]);
    }
    uint32_t tail[2] = {static_cast<uint32_t>(std::llround(in.weight)),
                        static_cast<uint32_t>(in.unclipped)};
    const absl::Span<uint32_t> all(words), end(tail, 2);
    secagg::AddMask(s.seed, round, 0, +1, all);
    secagg::AddMask(s.seed, round, p, +1, end);
    for (int64_t v : u2) {
      if (v == in.client) continue;
      absl::StatusOr<Key> key = secagg::AgreeKey(
          s.mask.secret_key, KeyOf(keys.at(v).mask_public_key()),
          secagg::kMaskPurpose, round, in.client, v);
      if (!key.ok()) {
#pragma omp critical
        masking = key.status();
        continue;
      }
      const int sign = in.client < v ? +1 : -1;
      secagg::AddMask(*key, round, 0, sign, all);
      secagg::AddMask(*key, round, p, sign, end);
    }
    for (size_t shard = 0; shard < num_shards; ++shard) {
      const int64_t begin = shards[shard].begin();
      std::string* out =
          requests[shard].mutable_clients(j)->mutable_masked_input();
      out->reserve(4 * (shards[shard].end() - begin + 2));
      AppendWords(absl::MakeConstSpan(words).subspan(
                      begin, shards[shard].end() - begin),
                  out);
      AppendWords(end, out);
    }
  }
  RETURN_IF_ERROR(masking);
  for (int64_t c : clamped) outcome.clamped += c;
  RETURN_IF_ERROR(
      ps_->SecureAggregation(round, &requests, &responses, transfer));
  if (Failed(responses, &outcome)) return outcome;
  const std::vector<int64_t> u3 = ClientsOf(responses[0]);
  for (const Response& r : responses) {
    if (ClientsOf(r) != u3) return Disagree("clients that sent masked inputs");
  }
  const std::set<int64_t> survivors(u3.begin(), u3.end());

  // Phase 4: each surviving client reveals, of every client that shared,
  // its share of the seed (survivors) or of the mask key (dropped ones).
  Request unmask;
  unmask.set_phase(Request::UNMASK);
  for (int i : sending) {
    const int64_t u = inputs[i].client;
    if (survivors.count(u) == 0) continue;
    const ClientState& s = states[i];
    v1::SecureClientMessage* c = unmask.add_clients();
    c->set_client(u);
    for (int64_t v : u2) {
      v1::RevealedShare* r = nullptr;
      if (v == u) {
        r = c->add_revealed();
        r->set_owner(u);
        r->set_share(BytesOf(s.seed_shares[x_of(u)]));
        continue;
      }
      const auto it = received.find({u, v});
      absl::StatusOr<Key> key =
          it == received.end()
              ? absl::NotFoundError("no share")
              : secagg::AgreeKey(s.cipher.secret_key,
                                 KeyOf(keys.at(v).cipher_public_key()),
                                 secagg::kSharePurpose, round, u, v);
      absl::StatusOr<std::string> plain =
          key.ok() ? secagg::Open(*key, it->second, Associated(round, v, u))
                   : absl::StatusOr<std::string>(key.status());
      if (!plain.ok() || plain->size() != 2 * secagg::kKeyBytes) {
        LOG(WARNING) << "round " << round << ": client " << u
                     << " holds no readable share of client " << v << ": "
                     << (plain.ok() ? "wrong size" : plain.status().message());
        continue;
      }
      const bool dropped = survivors.count(v) == 0;
      r = c->add_revealed();
      r->set_owner(v);
      r->set_mask_key(dropped);
      r->set_share(
          plain->substr(dropped ? secagg::kKeyBytes : 0, secagg::kKeyBytes));
    }
  }
  requests.assign(num_shards, unmask);
  RETURN_IF_ERROR(
      ps_->SecureAggregation(round, &requests, &responses, transfer));
  if (Failed(responses, &outcome)) return outcome;
  outcome.aggregated = static_cast<int64_t>(u3.size());
  outcome.survivors = u3;
  outcome.dropped = static_cast<int64_t>(u2.size() - u3.size());
  return outcome;
}

}  // namespace descent
