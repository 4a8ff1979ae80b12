// Federated partitioners: the training split's examples assigned to K
// simulated clients, each example to exactly one client, as the federated
// learning literature splits data:
//
// - IID: a seeded shuffle cut into K parts whose sizes differ by at most 1.
// - DIRICHLET (label skew; Hsu et al. 2019): for each class, proportions
//   p ~ Dir(alpha, ..., alpha) over the K clients, and the class's
//   (shuffled) examples cut by them; drawn again (up to kMaxDirichletDraws
//   times) until every client holds at least min_client_size examples.
//   Small alpha: few classes per client; large alpha: close to IID.
// - PATHOLOGICAL (McMahan et al. 2017): examples sorted by label, cut into
//   shards_per_client * K shards of equal size, each client given
//   shards_per_client of them at random; where shards are single-label,
//   pairs are exchanged so that no client holds two shards of one label
//   (with 2 per client: exactly two labels each), when that is possible.
// - QUANTITY_SKEW: IID labels, power-law sizes: client k's share is
//   proportional to u_k^(-1 / exponent), u_k uniform in (0, 1] (a Pareto
//   draw with that tail index; smaller exponent, heavier tail), on top of
//   min_client_size each.
//
// A client holds indices into its node's data, not a copy: the partition
// is one array of example indices and K + 1 offsets (4 bytes per example
// and 8 per client). The same labels, options and seed give the same
// partition.
#ifndef DESCENT_COMMON_DATA_CLIENT_PARTITION_H_
#define DESCENT_COMMON_DATA_CLIENT_PARTITION_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace descent {

enum class PartitionKind { kIid, kDirichlet, kPathological, kQuantitySkew };

struct PartitionOptions {
  PartitionKind kind = PartitionKind::kIid;
  int64_t clients = 0;
  double alpha = 0.5;           // DIRICHLET
  int64_t min_client_size = 1;  // DIRICHLET, QUANTITY_SKEW
  int shards_per_client = 2;    // PATHOLOGICAL
  double exponent = 1.5;        // QUANTITY_SKEW: the Pareto tail index
  uint64_t seed = 1;
};

inline constexpr int kMaxDirichletDraws = 1000;

// Client k's examples are indices[offsets[k], offsets[k + 1]), ascending.
struct ClientPartition {
  std::vector<int64_t> offsets;  // clients + 1 entries, offsets[0] = 0
  std::vector<int32_t> indices;  // a permutation of 0 .. N-1

  int64_t clients() const { return static_cast<int64_t>(offsets.size()) - 1; }
  int64_t size(int64_t k) const { return offsets[k + 1] - offsets[k]; }
  absl::Span<const int32_t> examples(int64_t k) const {
    return absl::MakeConstSpan(indices).subspan(offsets[k], size(k));
  }
};

// Partitions the examples whose labels are `labels` (each in
// [0, num_classes)). INVALID_ARGUMENT, naming the option, where the options
// cannot be met: no clients, more clients than examples (allowed for
// DIRICHLET and QUANTITY_SKEW with min_client_size 0: some clients are then
// empty), alpha or exponent
// not positive, min_client_size * clients above the examples, fewer shards'
// worth of examples than shards, or no Dirichlet draw in
// kMaxDirichletDraws that gives every client min_client_size.
absl::StatusOr<ClientPartition> PartitionClients(
    absl::Span<const int32_t> labels, int num_classes,
    const PartitionOptions& options);

// The partition's summary as CSV: a header `client,examples,labels,
// class_0,...`, then per client its size, how many distinct labels it
// holds, and its examples per class.
std::string PartitionSummaryCsv(const ClientPartition& partition,
                                absl::Span<const int32_t> labels,
                                int num_classes);

}  // namespace descent

#endif  // DESCENT_COMMON_DATA_CLIENT_PARTITION_H_
