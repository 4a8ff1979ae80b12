#include "common/eval/roc.h"

#include <algorithm>
#include <numeric>
#include <vector>

namespace descent {

double AreaUnderRoc(const float* scores, const int32_t* labels, int64_t n) {
  std::vector<int64_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(),
            [&](int64_t a, int64_t b) { return scores[a] < scores[b]; });
  // Sum of the positives' ranks (1-based), tied scores sharing their mean
  // rank.
  double positive_rank_sum = 0;
  int64_t positives = 0;
  for (int64_t i = 0; i < n;) {
    int64_t j = i;
    while (j < n && scores[order[j]] == scores[order[i]]) ++j;
    const double mean_rank = (i + 1 + j) / 2.0;
    for (int64_t k = i; k < j; ++k) {
      if (labels[order[k]] != 0) {
        positive_rank_sum += mean_rank;
        ++positives;
      }
    }
    i = j;
  }
  const int64_t negatives = n - positives;
  if (positives == 0 || negatives == 0) return 0.5;
  const double u = positive_rank_sum - positives * (positives + 1) / 2.0;
  return u / (static_cast<double>(positives) * negatives);
}

}  // namespace descent
