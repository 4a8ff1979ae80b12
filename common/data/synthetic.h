// Synthetic data sets drawn from a planted model, so tests and benchmarks
// know the right answer: each generator returns the data together with the
// parameters that produced it.
//
// Determinism: every generator draws from its own std::mt19937_64 seeded
// with `seed`, so the same arguments give the same data, bit for bit, with
// the same standard library (the std:: distributions' algorithms are
// implementation-defined, so another library may give other data). Nothing
// is shared between calls: thread-safe.
//
// Arguments out of range (negative counts, more distinct draws than there
// are to draw) are programming errors and CHECK-fail.
#ifndef DESCENT_COMMON_DATA_SYNTHETIC_H_
#define DESCENT_COMMON_DATA_SYNTHETIC_H_

#include <cstdint>
#include <vector>

#include "common/data/dataset.h"
#include "common/data/sparse_dataset.h"
#include "common/data/triples_reader.h"

namespace descent {

// A dense data set and the linear model planted in it: score(x) =
// x . weights + bias.
struct PlantedLinear {
  Dataset data;
  std::vector<float> weights;  // data.num_features
  float bias = 0;
};

// Regression: features x_ij ~ N(0, 1), weights w_j ~ N(0, 1), bias
// b ~ N(0, 1), and target y_i = x_i . w + b + e_i with e_i ~
// N(0, noise_stddev^2). Fills data.targets; num_classes 0. Requires n >= 0,
// features >= 1, noise_stddev >= 0.
PlantedLinear MakeLinearRegression(int64_t n, int64_t features,
                                   float noise_stddev, uint64_t seed);

// Binary classification: x_ij ~ N(0, 1), w_j ~ N(0, 4 / features) so the
// logit x . w has standard deviation about 2 whatever the width (the classes
// overlap: the data are not separable), b ~ N(0, 0.25), and label
// y_i ~ Bernoulli(sigmoid(x_i . w + b)) in {0, 1}. Fills data.labels;
// num_classes 2. Requires n >= 0, features >= 1.
PlantedLinear MakeLogistic(int64_t n, int64_t features, uint64_t seed);

// Click-through-rate data for a factorization machine (FM), with the FM
// planted:
//   score(x) = bias + sum_i linear[i] x_i
//              + sum_{i<j} <factors[i], factors[j]> x_i x_j
// where factors[i] is row i of `factors` (num_features x dim, row-major).
struct SyntheticCtr {
  SparseDataset data;
  std::vector<float> linear;   // num_features
  std::vector<float> factors;  // num_features * dim
  int dim = 0;
  float bias = 0;
};

// Each example holds nnz_per_row distinct feature ids with value 1. Ids
// follow a power law: the feature of popularity rank r (1-based) is drawn
// with probability proportional to r^-1.1 (Zipf-like), and the ranks are
// assigned to ids by a random permutation, so popular ids are scattered over
// [0, num_features) as hashed ids are. Planted parameters: linear[i] ~
// N(0, 1 / nnz_per_row), factor entries ~ N(0, 1 / (nnz_per_row *
// sqrt(dim))), bias = -1: over draws of the parameters, the score has
// variance about 1.5 for any nnz_per_row and dim (within one data set, the
// shared popular ids make it a little less and shift its mean). Label ~
// Bernoulli(sigmoid(score)) in {0, 1}; num_classes 2. Requires n >= 0,
// 1 <= nnz_per_row <= num_features, factor_dim >= 1. Distinct ids are drawn
// by rejection, so keep nnz_per_row well below num_features.
SyntheticCtr MakeCtr(int64_t n, int64_t num_features, int nnz_per_row,
                     int factor_dim, uint64_t seed);

// The planted FM score (the logit) of example i of ctr.data; requires
// 0 <= i < ctr.data.num_examples. O(row size * dim).
float CtrScore(const SyntheticCtr& ctr, int64_t i);

// Ratings from a planted low-rank matrix: rating(u, i) = <user u's factors,
// item i's factors> + noise.
struct SyntheticRatings {
  RatingTriples triples;
  int64_t num_users = 0;
  int64_t num_items = 0;
  int rank = 0;
  float noise_stddev = 0;
  std::vector<float> user_factors;  // num_users * rank, row-major
  std::vector<float> item_factors;  // num_items * rank, row-major
};

// n ratings of distinct (user, item) pairs, drawn uniformly from users x
// items, in draw order. Factor entries ~ N(0, 1 / sqrt(rank)) (that is the
// variance), so the noise-free rating has variance 1 for any rank; noise ~
// N(0, noise_stddev^2). Requires users, items, rank >= 1, noise_stddev >= 0,
// 0 <= n <= users * items. Pairs are drawn by rejection: n close to users *
// items is slow.
SyntheticRatings MakeLowRankRatings(int64_t users, int64_t items, int rank,
                                    int64_t n, float noise_stddev,
                                    uint64_t seed);

// The noise-free planted rating of (user, item); requires user < num_users
// and item < num_items.
float PlantedRating(const SyntheticRatings& ratings, uint64_t user,
                    uint64_t item);

}  // namespace descent

#endif  // DESCENT_COMMON_DATA_SYNTHETIC_H_
