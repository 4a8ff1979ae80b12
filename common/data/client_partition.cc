#include "common/data/client_partition.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <numeric>
#include <random>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace descent {
namespace {

using Rng = std::mt19937_64;

// Client k's examples as lists, then flattened (each sorted).
ClientPartition Flatten(std::vector<std::vector<int32_t>> clients) {
  ClientPartition partition;
  partition.offsets.reserve(clients.size() + 1);
  partition.offsets.push_back(0);
  for (std::vector<int32_t>& c : clients) {
    std::sort(c.begin(), c.end());
    partition.indices.insert(partition.indices.end(), c.begin(), c.end());
    partition.offsets.push_back(static_cast<int64_t>(partition.indices.size()));
  }
  return partition;
}

// `order` cut into consecutive runs of the given sizes, one per client.
ClientPartition Runs(std::vector<int32_t> order,
                     const std::vector<int64_t>& sizes) {
  ClientPartition partition;
  partition.indices = std::move(order);
  partition.offsets.reserve(sizes.size() + 1);
  partition.offsets.push_back(0);
  for (int64_t size : sizes) {
    const int64_t begin = partition.offsets.back();
    std::sort(partition.indices.begin() + begin,
              partition.indices.begin() + begin + size);
    partition.offsets.push_back(begin + size);
  }
  return partition;
}

std::vector<int32_t> Shuffled(int64_t n, Rng& rng) {
  std::vector<int32_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::shuffle(order.begin(), order.end(), rng);
  return order;
}

ClientPartition Iid(int64_t n, int64_t k, Rng& rng) {
  std::vector<int64_t> sizes(k);
  for (int64_t c = 0; c < k; ++c) sizes[c] = (c + 1) * n / k - c * n / k;
  return Runs(Shuffled(n, rng), sizes);
}

// One draw of Dir(alpha, ..., alpha) over k entries. Gamma draws with a
// small alpha can all underflow to 0: then all the mass goes to one entry,
// the limit of the distribution as alpha -> 0.
std::vector<double> Dirichlet(int64_t k, double alpha, Rng& rng) {
  std::gamma_distribution<double> gamma(alpha, 1.0);
  std::vector<double> p(k);
  double sum = 0;
  for (double& x : p) sum += (x = gamma(rng));
  if (!(sum > 0)) {
    std::fill(p.begin(), p.end(), 0.0);
    p[std::uniform_int_distribution<int64_t>(0, k - 1)(rng)] = 1.0;
    return p;
  }
  for (double& x : p) x /= sum;
  return p;
}

absl::StatusOr<ClientPartition> DirichletSplit(absl::Span<const int32_t> labels,
                                               int num_classes,
                                               const PartitionOptions& options,
                                               Rng& rng) {
  const int64_t k = options.clients;
  std::vector<std::vector<int32_t>> by_class(num_classes);
  for (size_t i = 0; i < labels.size(); ++i) {
    by_class[labels[i]].push_back(static_cast<int32_t>(i));
  }
  for (auto& examples : by_class) {
    std::shuffle(examples.begin(), examples.end(), rng);
  }
  // bounds[c][j]: where client j's run of class c ends.
  std::vector<std::vector<int64_t>> bounds(num_classes);
  int64_t smallest = 0;
  for (int draw = 0; draw < kMaxDirichletDraws; ++draw) {
    std::vector<int64_t> sizes(k, 0);
    for (int c = 0; c < num_classes; ++c) {
      const std::vector<double> p = Dirichlet(k, options.alpha, rng);
      const int64_t n = static_cast<int64_t>(by_class[c].size());
      bounds[c].assign(k, 0);
      double cumulative = 0;
      int64_t previous = 0;
      for (int64_t j = 0; j < k; ++j) {
        cumulative += p[j];
        const int64_t end =
            j + 1 == k
                ? n
                : std::min<int64_t>(
                      n, static_cast<int64_t>(std::llround(cumulative * n)));
        bounds[c][j] = std::max(end, previous);
        sizes[j] += bounds[c][j] - previous;
        previous = bounds[c][j];
      }
    }
    smallest = *std::min_element(sizes.begin(), sizes.end());
    if (smallest < options.min_client_size) continue;
    std::vector<std::vector<int32_t>> clients(k);
    for (int c = 0; c < num_classes; ++c) {
      int64_t begin = 0;
      for (int64_t j = 0; j < k; ++j) {
        clients[j].insert(clients[j].end(), by_class[c].begin() + begin,
                          by_class[c].begin() + bounds[c][j]);
        begin = bounds[c][j];
      }
    }
    return Flatten(std::move(clients));
  }
  return absl::InvalidArgumentError(absl::StrFormat(
      "federated.partition: no Dirichlet(alpha = %g) split of %d examples "
      "over %d clients gave every client min_client_size = %d examples in "
      "%d draws (the last gave one client %d); raise alpha, lower "
      "min_client_size or use fewer clients",
      options.alpha, labels.size(), k, options.min_client_size,
      kMaxDirichletDraws, smallest));
}

absl::StatusOr<ClientPartition> Pathological(absl::Span<const int32_t> labels,
                                             const PartitionOptions& options,
                                             Rng& rng) {
  const int64_t n = static_cast<int64_t>(labels.size());
  const int64_t per = options.shards_per_client;
  const int64_t shards = per * options.clients;
  if (shards > n) {
    return absl::InvalidArgumentError(absl::StrCat(
        "federated.partition: ", shards, " shards (", per, " per client for ",
        options.clients, " clients) but only ", n, " examples"));
  }
  std::vector<int32_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int32_t a, int32_t b) { return labels[a] < labels[b]; });
  auto shard_begin = [&](int64_t s) { return s * n / shards; };
  // A shard's label where all its examples share one, else -1 - s (unique).
  std::vector<int64_t> shard_label(shards);
  for (int64_t s = 0; s < shards; ++s) {
    const int32_t first = labels[order[shard_begin(s)]];
    const int32_t last = labels[order[shard_begin(s + 1) - 1]];
    shard_label[s] = first == last ? first : -1 - s;
  }
  std::vector<int64_t> assigned(shards);
  std::iota(assigned.begin(), assigned.end(), 0);
  std::shuffle(assigned.begin(), assigned.end(), rng);
  // Client c holds assigned[c * per, (c + 1) * per).
  auto holds_label = [&](int64_t client, int64_t label, int64_t except) {
    for (int64_t i = client * per; i < (client + 1) * per; ++i) {
      if (i != except && shard_label[assigned[i]] == label) return true;
    }
    return false;
  };
  std::uniform_int_distribution<int64_t> any_slot(0, shards - 1);
  for (int64_t slot = 0; slot < shards; ++slot) {
    const int64_t client = slot / per;
    if (!holds_label(client, shard_label[assigned[slot]], slot)) continue;
    // Exchange this shard for one of another client's, where neither then
    // holds a label twice.
    for (int attempt = 0; attempt < 100 * per; ++attempt) {
      const int64_t other = any_slot(rng);
      const int64_t other_client = other / per;
      if (other_client == client) continue;
      if (holds_label(client, shard_label[assigned[other]], slot) ||
          holds_label(other_client, shard_label[assigned[slot]], other)) {
        continue;
      }
      std::swap(assigned[slot], assigned[other]);
      break;
    }
  }
  std::vector<std::vector<int32_t>> clients(options.clients);
  for (int64_t slot = 0; slot < shards; ++slot) {
    const int64_t s = assigned[slot];
    clients[slot / per].insert(clients[slot / per].end(),
                               order.begin() + shard_begin(s),
                               order.begin() + shard_begin(s + 1));
  }
  return Flatten(std::move(clients));
}

ClientPartition QuantitySkew(int64_t n, const PartitionOptions& options,
                             Rng& rng) {
  const int64_t k = options.clients;
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  std::vector<double> weight(k);
  double sum = 0;
  for (double& w : weight) {
    sum += (w = std::pow(1.0 - uniform(rng), -1.0 / options.exponent));
  }
  const int64_t spare = n - k * options.min_client_size;
  std::vector<int64_t> sizes(k);
  std::vector<std::pair<double, int64_t>> fractions(k);
  int64_t given = 0;
  for (int64_t j = 0; j < k; ++j) {
    const double share = spare * weight[j] / sum;
    const int64_t whole = std::min<int64_t>(spare, static_cast<int64_t>(share));
    sizes[j] = options.min_client_size + whole;
    given += whole;
    fractions[j] = {share - whole, j};
  }
  // The examples rounding left over go to the largest remainders.
  std::sort(fractions.begin(), fractions.end(), std::greater<>());
  for (int64_t i = 0; given < spare; ++i, ++given) {
    ++sizes[fractions[i % k].second];
  }
  return Runs(Shuffled(n, rng), sizes);
}

}  // namespace

absl::StatusOr<ClientPartition> PartitionClients(
    absl::Span<const int32_t> labels, int num_classes,
    const PartitionOptions& options) {
  const int64_t n = static_cast<int64_t>(labels.size());
  if (options.clients <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "federated.clients: must be positive, got ", options.clients));
  }
  const bool may_be_empty = (options.kind == PartitionKind::kDirichlet ||
                             options.kind == PartitionKind::kQuantitySkew) &&
                            options.min_client_size == 0;
  if (options.clients > n && !may_be_empty) {
    return absl::InvalidArgumentError(absl::StrCat(
        "federated.clients: ", options.clients, " clients but only ", n,
        " training examples; each client needs at least one (or a "
        "DIRICHLET or QUANTITY_SKEW partition with min_client_size 0)"));
  }
  if (n > std::numeric_limits<int32_t>::max()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "federated: ", n, " training examples; at most 2^31 - 1 supported"));
  }
  for (int32_t label : labels) {
    if (label < 0 || label >= num_classes) {
      return absl::InvalidArgumentError(absl::StrCat(
          "federated.partition: label ", label, " outside [0, ", num_classes,
          "): label-skewed partitions need class labels"));
    }
  }
  const bool sized = options.kind == PartitionKind::kDirichlet ||
                     options.kind == PartitionKind::kQuantitySkew;
  if (sized && (options.min_client_size < 0 ||
                options.min_client_size > n / options.clients)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "federated.partition.min_client_size: ", options.min_client_size,
        " for each of ", options.clients, " clients needs more than the ", n,
        " training examples (at most ", n / options.clients, ")"));
  }
  Rng rng(options.seed);
  switch (options.kind) {
    case PartitionKind::kIid:
      return Iid(n, options.clients, rng);
    case PartitionKind::kDirichlet:
      if (!(options.alpha > 0) || !std::isfinite(options.alpha)) {
        return absl::InvalidArgumentError(absl::StrCat(
            "federated.partition.alpha: must be positive and finite, got ",
            options.alpha));
      }
      return DirichletSplit(labels, num_classes, options, rng);
    case PartitionKind::kPathological:
      if (options.shards_per_client <= 0) {
        return absl::InvalidArgumentError(absl::StrCat(
            "federated.partition.shards_per_client: must be positive, got ",
            options.shards_per_client));
      }
      return Pathological(labels, options, rng);
    case PartitionKind::kQuantitySkew:
      if (!(options.exponent > 0) || !std::isfinite(options.exponent)) {
        return absl::InvalidArgumentError(absl::StrCat(
            "federated.partition.exponent: must be positive and finite, got ",
            options.exponent));
      }
      return QuantitySkew(n, options, rng);
  }
  return absl::InvalidArgumentError("federated.partition: unknown kind");
}

std::string PartitionSummaryCsv(const ClientPartition& partition,
                                absl::Span<const int32_t> labels,
                                int num_classes) {
  std::string csv = "client,examples,labels";
  for (int c = 0; c < num_classes; ++c) absl::StrAppend(&csv, ",class_", c);
  csv += "\n";
  std::vector<int64_t> counts(num_classes);
  for (int64_t k = 0; k < partition.clients(); ++k) {
    std::fill(counts.begin(), counts.end(), 0);
    for (int32_t i : partition.examples(k)) ++counts[labels[i]];
    const int64_t distinct = std::count_if(counts.begin(), counts.end(),
                                           [](int64_t n) { return n > 0; });
    absl::StrAppend(&csv, k, ",", partition.size(k), ",", distinct);
    for (int64_t n : counts) absl::StrAppend(&csv, ",", n);
    csv += "\n";
  }
  return csv;
}

}  // namespace descent
