#include "common/data/synthetic.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <random>
#include <unordered_set>
#include <vector>

#include "glog/logging.h"

namespace descent {
namespace {

constexpr double kZipfExponent = 1.1;
constexpr float kCtrBias = -1.0f;

std::vector<float> Normals(int64_t count, double stddev, std::mt19937_64& rng) {
  std::normal_distribution<double> normal(0.0, stddev);
  std::vector<float> values(count);
  for (float& value : values) value = static_cast<float>(normal(rng));
  return values;
}

double Dot(const float* a, const float* b, int64_t n) {
  double sum = 0;
  for (int64_t j = 0; j < n; ++j) sum += double{a[j]} * b[j];
  return sum;
}

double Sigmoid(double z) { return 1.0 / (1.0 + std::exp(-z)); }

// Standard-normal features for n examples, with the planted linear model.
PlantedLinear DrawLinear(int64_t n, int64_t features, double weight_stddev,
                         double bias_stddev, std::mt19937_64& rng) {
  CHECK_GE(n, 0) << "negative example count";
  CHECK_GE(features, 1) << "need at least one feature";
  PlantedLinear planted;
  planted.weights = Normals(features, weight_stddev, rng);
  planted.bias = Normals(1, bias_stddev, rng)[0];
  planted.data.num_examples = n;
  planted.data.num_features = features;
  planted.data.features = Normals(n * features, 1.0, rng);
  return planted;
}

double LinearScore(const PlantedLinear& planted, int64_t i) {
  return Dot(planted.data.example(i), planted.weights.data(),
             planted.data.num_features) +
         planted.bias;
}

// Draws feature ids from the power law MakeCtr documents.
class PowerLawIds {
 public:
  PowerLawIds(int64_t num_features, std::mt19937_64& rng)
      : cumulative_(num_features), ids_(num_features) {
    double total = 0;
    for (int64_t r = 0; r < num_features; ++r) {
      total += std::pow(static_cast<double>(r + 1), -kZipfExponent);
      cumulative_[r] = total;
    }
    std::iota(ids_.begin(), ids_.end(), int64_t{0});
    std::shuffle(ids_.begin(), ids_.end(), rng);
  }

  // `count` distinct ids, sorted.
  std::vector<int64_t> DrawDistinct(int count, std::mt19937_64& rng) const {
    std::uniform_real_distribution<double> uniform(0.0, cumulative_.back());
    std::vector<int64_t> drawn;
    while (static_cast<int>(drawn.size()) < count) {
      const auto rank = std::upper_bound(cumulative_.begin(), cumulative_.end(),
                                         uniform(rng)) -
                        cumulative_.begin();
      const int64_t id = ids_[std::min<int64_t>(rank, ids_.size() - 1)];
      if (std::find(drawn.begin(), drawn.end(), id) == drawn.end()) {
        drawn.push_back(id);
      }
    }
    std::sort(drawn.begin(), drawn.end());
    return drawn;
  }

 private:
  std::vector<double> cumulative_;  // by rank: sum of weights of ranks <= r
  std::vector<int64_t> ids_;        // by rank: the id that has that rank
};

}  // namespace

PlantedLinear MakeLinearRegression(int64_t n, int64_t features,
                                   float noise_stddev, uint64_t seed) {
  CHECK_GE(noise_stddev, 0) << "negative noise";
  std::mt19937_64 rng(seed);
  PlantedLinear planted = DrawLinear(n, features, 1.0, 1.0, rng);
  // N(0, 0) is not a valid std::normal_distribution: scale N(0, 1).
  std::normal_distribution<double> standard(0.0, 1.0);
  planted.data.targets.resize(n);
  for (int64_t i = 0; i < n; ++i) {
    const double e = noise_stddev * standard(rng);
    planted.data.targets[i] = static_cast<float>(LinearScore(planted, i) + e);
  }
  return planted;
}

PlantedLinear MakeLogistic(int64_t n, int64_t features, uint64_t seed) {
  std::mt19937_64 rng(seed);
  PlantedLinear planted = DrawLinear(
      n, features, 2.0 / std::sqrt(static_cast<double>(features)), 0.5, rng);
  planted.data.num_classes = 2;
  planted.data.labels.resize(n);
  for (int64_t i = 0; i < n; ++i) {
    std::bernoulli_distribution label(Sigmoid(LinearScore(planted, i)));
    planted.data.labels[i] = label(rng) ? 1 : 0;
  }
  return planted;
}

SyntheticCtr MakeCtr(int64_t n, int64_t num_features, int nnz_per_row,
                     int factor_dim, uint64_t seed) {
  CHECK_GE(n, 0) << "negative example count";
  CHECK(nnz_per_row >= 1 && nnz_per_row <= num_features)
      << "need 1 <= nnz_per_row (" << nnz_per_row << ") <= num_features ("
      << num_features << ")";
  CHECK_GE(factor_dim, 1) << "need a positive factor dimension";
  std::mt19937_64 rng(seed);
  SyntheticCtr ctr;
  ctr.dim = factor_dim;
  ctr.bias = kCtrBias;
  ctr.linear = Normals(num_features, 1.0 / std::sqrt(nnz_per_row), rng);
  ctr.factors =
      Normals(num_features * factor_dim,
              1.0 / std::sqrt(nnz_per_row * std::sqrt(factor_dim)), rng);
  const PowerLawIds ids(num_features, rng);
  SparseDataset& data = ctr.data;
  data.num_features = num_features;
  data.num_classes = 2;
  for (int64_t i = 0; i < n; ++i) {
    const std::vector<int64_t> row = ids.DrawDistinct(nnz_per_row, rng);
    data.indices.insert(data.indices.end(), row.begin(), row.end());
    data.values.insert(data.values.end(), row.size(), 1.0f);
    data.row_offsets.push_back(static_cast<int64_t>(data.indices.size()));
    data.num_examples = i + 1;
    std::bernoulli_distribution label(Sigmoid(CtrScore(ctr, i)));
    data.labels.push_back(label(rng) ? 1 : 0);
  }
  return ctr;
}

// FM's pairwise term in O(nnz * dim): sum_{i<j} <v_i, v_j> x_i x_j =
// 1/2 sum_f [(sum_i v_if x_i)^2 - sum_i v_if^2 x_i^2].
float CtrScore(const SyntheticCtr& ctr, int64_t i) {
  const SparseDataset& data = ctr.data;
  double score = ctr.bias;
  std::vector<double> sum(ctr.dim, 0.0), sum_squares(ctr.dim, 0.0);
  for (int64_t k = data.row_offsets[i]; k < data.row_offsets[i + 1]; ++k) {
    const double x = data.values[k];
    score += ctr.linear[data.indices[k]] * x;
    const float* v = &ctr.factors[data.indices[k] * ctr.dim];
    for (int f = 0; f < ctr.dim; ++f) {
      sum[f] += v[f] * x;
      sum_squares[f] += v[f] * x * v[f] * x;
    }
  }
  for (int f = 0; f < ctr.dim; ++f) {
    score += 0.5 * (sum[f] * sum[f] - sum_squares[f]);
  }
  return static_cast<float>(score);
}

SyntheticRatings MakeLowRankRatings(int64_t users, int64_t items, int rank,
                                    int64_t n, float noise_stddev,
                                    uint64_t seed) {
  CHECK(users >= 1 && items >= 1 && rank >= 1)
      << "need users, items and rank >= 1";
  CHECK_LE(users, std::numeric_limits<int64_t>::max() / items);
  CHECK(n >= 0 && n <= users * items)
      << "cannot draw " << n << " distinct pairs from " << users << " x "
      << items;
  CHECK_GE(noise_stddev, 0) << "negative noise";
  std::mt19937_64 rng(seed);
  SyntheticRatings out{{}, users, items, rank, noise_stddev, {}, {}};
  const double factor_stddev = std::pow(static_cast<double>(rank), -0.25);
  out.user_factors = Normals(users * rank, factor_stddev, rng);
  out.item_factors = Normals(items * rank, factor_stddev, rng);
  std::uniform_int_distribution<uint64_t> user(0, users - 1),
      item(0, items - 1);
  std::normal_distribution<double> standard(0.0, 1.0);
  std::unordered_set<uint64_t> seen;  // user * items + item
  while (out.triples.size() < n) {
    const uint64_t u = user(rng), i = item(rng);
    if (!seen.insert(u * items + i).second) continue;
    const double e = noise_stddev * standard(rng);
    out.triples.users.push_back(u);
    out.triples.items.push_back(i);
    out.triples.ratings.push_back(
        static_cast<float>(PlantedRating(out, u, i) + e));
  }
  return out;
}

float PlantedRating(const SyntheticRatings& ratings, uint64_t user,
                    uint64_t item) {
  return static_cast<float>(Dot(&ratings.user_factors[user * ratings.rank],
                                &ratings.item_factors[item * ratings.rank],
                                ratings.rank));
}

}  // namespace descent
