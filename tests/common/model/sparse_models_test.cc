#include "common/model/sparse_models.h"

#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <memory>
#include <new>
#include <numeric>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "common/model/sparse_model.h"
#include "gtest/gtest.h"

// Counts every allocation through the global operator new, so a test can
// check that LossAndGradient makes none.
namespace {
std::atomic<int64_t> g_allocations{0};
}  // namespace

// None of these is inlined, so that GCC never pairs a malloc() it sees
// with a delete, or an operator new with a free().
__attribute__((noinline)) void* operator new(std::size_t size) {
  ++g_allocations;
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
__attribute__((noinline)) void operator delete(void* p) noexcept {
  std::free(p);
}
__attribute__((noinline)) void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}

namespace descent {
namespace {

// A batch of random examples and the parameters it is scored with, all
// owned here.
struct Problem {
  int width = 0;  // row width
  int64_t num_rows = 0;
  std::vector<int64_t> offsets = {0};
  std::vector<int32_t> slots;
  std::vector<float> values;
  std::vector<int32_t> labels;
  std::vector<float> targets;
  std::vector<float> dense;  // the one bias
  std::vector<float> rows;   // num_rows x width

  int size() const { return static_cast<int>(offsets.size()) - 1; }
  SparseBatch AsBatch() const {
    return SparseBatch{size(),        offsets.data(), slots.data(),
                       values.data(), labels.data(),  targets.data()};
  }
};

void FillParams(std::mt19937& rng, Problem* p) {
  std::normal_distribution<float> normal(0, 0.5f);
  p->dense = {normal(rng)};
  p->rows.resize(p->num_rows * p->width);
  for (float& v : p->rows) v = normal(rng);
}

// `size` examples of 0 to 5 entries with distinct slots each (slots repeat
// across examples), values in [-1, 1], labels 0 or 1.
Problem RandomClassification(uint32_t seed, int size, int width) {
  std::mt19937 rng(seed);
  Problem p;
  p.width = width;
  p.num_rows = 5 + rng() % 16;
  std::vector<int32_t> all(p.num_rows);
  std::iota(all.begin(), all.end(), 0);
  std::uniform_real_distribution<float> uniform(-1, 1);
  for (int i = 0; i < size; ++i) {
    std::shuffle(all.begin(), all.end(), rng);
    const int entries = rng() % 6;
    for (int k = 0; k < entries; ++k) {
      p.slots.push_back(all[k]);
      p.values.push_back(uniform(rng));
    }
    p.offsets.push_back(p.slots.size());
    p.labels.push_back(rng() % 2);
  }
  FillParams(rng, &p);
  return p;
}

// `size` (user, item) ratings: users are rows [0, users), items the rows
// after them; targets ~ N(0, 4).
Problem RandomRatings(uint32_t seed, int size, int width) {
  std::mt19937 rng(seed);
  Problem p;
  p.width = width;
  const int users = 2 + rng() % 6;
  const int items = 2 + rng() % 6;
  p.num_rows = users + items;
  std::normal_distribution<float> normal(0, 2);
  for (int i = 0; i < size; ++i) {
    p.slots.push_back(rng() % users);
    p.slots.push_back(users + rng() % items);
    p.values.insert(p.values.end(), {1.0f, 1.0f});
    p.offsets.push_back(p.slots.size());
    p.targets.push_back(normal(rng));
  }
  FillParams(rng, &p);
  return p;
}

// What LossAndGradient and Evaluate should report, in double.
struct Reference {
  double mean_loss = 0;  // mean data loss plus the penalty
  double loss_sum = 0;   // Evaluate's: unpenalized
  int64_t correct = 0;
  std::vector<double> scores;
};

using Params = std::vector<double>;
using NaiveModel = std::function<Reference(const Problem&, const Params& dense,
                                           const Params& rows)>;

// (l2 / 2) ||row||^2 over the first `penalized` columns of each row some
// entry names, each counted once.
double NaivePenalty(const Problem& p, const Params& rows, int penalized,
                    double l2) {
  const std::set<int32_t> touched(p.slots.begin(), p.slots.end());
  double squares = 0;
  for (int32_t r : touched) {
    for (int c = 0; c < penalized; ++c) {
      squares += rows[r * p.width + c] * rows[r * p.width + c];
    }
  }
  return 0.5 * l2 * squares;
}

// -log P(label | z) by the textbook formula; for moderate z only.
double NaiveCrossEntropy(double z, int label) {
  const double p1 = 1 / (1 + std::exp(-z));
  return label == 1 ? -std::log(p1) : -std::log(1 - p1);
}

// An order-2 FM with `factors` factors, by explicit pairs of entries;
// factors = 0 is sparse logistic regression.
Reference NaiveFm(const Problem& p, const Params& dense, const Params& rows,
                  int factors, double l2) {
  Reference ref;
  for (int i = 0; i < p.size(); ++i) {
    double z = dense[0];
    for (int64_t a = p.offsets[i]; a < p.offsets[i + 1]; ++a) {
      const double* va = &rows[p.slots[a] * p.width];
      z += va[0] * p.values[a];
      for (int64_t b = a + 1; b < p.offsets[i + 1]; ++b) {
        const double* vb = &rows[p.slots[b] * p.width];
        for (int f = 1; f <= factors; ++f) {
          z += va[f] * vb[f] * p.values[a] * p.values[b];
        }
      }
    }
    ref.scores.push_back(z);
    ref.loss_sum += NaiveCrossEntropy(z, p.labels[i]);
    ref.correct += (z > 0) == (p.labels[i] == 1);
  }
  ref.mean_loss =
      ref.loss_sum / p.size() + NaivePenalty(p, rows, 1 + factors, l2);
  return ref;
}

Reference NaiveMf(const Problem& p, const Params& dense, const Params& rows,
                  int rank, bool biases, double l2) {
  Reference ref;
  double half_squares = 0;
  for (int i = 0; i < p.size(); ++i) {
    const double* user = &rows[p.slots[2 * i] * p.width];
    const double* item = &rows[p.slots[2 * i + 1] * p.width];
    double prediction = dense[0];
    for (int c = 0; c < rank; ++c) prediction += user[c] * item[c];
    if (biases) prediction += user[rank] + item[rank];
    const double err = prediction - p.targets[i];
    ref.scores.push_back(prediction);
    ref.loss_sum += err * err;
    half_squares += 0.5 * err * err;
  }
  ref.mean_loss = half_squares / p.size() + NaivePenalty(p, rows, rank, l2);
  return ref;
}

// One model configuration with everything the table-driven tests need.
struct ModelCase {
  std::string name;
  int width;
  int penalized;  // leading columns the L2 penalty covers
  std::function<std::unique_ptr<SparseModel>(int max_batch, float l2)> make;
  std::function<Problem(uint32_t seed, int size)> problem;
  std::function<Reference(const Problem&, const Params&, const Params&,
                          double l2)>
      naive;
};

ModelCase LogisticCase() {
  return {"SparseLogisticRegression",
          1,
          1,
          [](int max_batch, float l2) {
            return std::make_unique<SparseLogisticRegression>(max_batch, l2);
          },
          [](uint32_t seed, int size) {
            return RandomClassification(seed, size, 1);
          },
          [](const Problem& p, const Params& d, const Params& r, double l2) {
            return NaiveFm(p, d, r, 0, l2);
          }};
}

ModelCase FmCase(int k) {
  return {"FactorizationMachine k=" + std::to_string(k),
          1 + k,
          1 + k,
          [k](int max_batch, float l2) {
            return std::make_unique<FactorizationMachine>(k, max_batch, l2);
          },
          [k](uint32_t seed, int size) {
            return RandomClassification(seed, size, 1 + k);
          },
          [k](const Problem& p, const Params& d, const Params& r, double l2) {
            return NaiveFm(p, d, r, k, l2);
          }};
}

ModelCase MfCase(int rank, bool biases) {
  const int width = rank + (biases ? 1 : 0);
  return {
      "MatrixFactorization rank=" + std::to_string(rank) +
          (biases ? " with biases" : ""),
      width,
      rank,
      [rank, biases](int max_batch, float l2) {
        return std::make_unique<MatrixFactorization>(rank, biases, max_batch,
                                                     l2);
      },
      [width](uint32_t seed, int size) {
        return RandomRatings(seed, size, width);
      },
      [rank, biases](const Problem& p, const Params& d, const Params& r,
                     double l2) { return NaiveMf(p, d, r, rank, biases, l2); }};
}

std::vector<ModelCase> AllCases() {
  return {LogisticCase(),   FmCase(1),       FmCase(4),
          MfCase(1, false), MfCase(3, true), MfCase(2, false)};
}

Params ToDouble(const std::vector<float>& v) {
  return Params(v.begin(), v.end());
}

// Central differences of the naive mean loss in double, dense parameters
// first, then the rows.
std::vector<double> NumericGradient(const ModelCase& c, const Problem& p,
                                    double l2) {
  const double h = 1e-4;
  Params dense = ToDouble(p.dense);
  Params rows = ToDouble(p.rows);
  std::vector<double> grad;
  for (Params* params : {&dense, &rows}) {
    for (double& x : *params) {
      const double saved = x;
      x = saved + h;
      const double up = c.naive(p, dense, rows, l2).mean_loss;
      x = saved - h;
      const double down = c.naive(p, dense, rows, l2).mean_loss;
      x = saved;
      grad.push_back((up - down) / (2 * h));
    }
  }
  return grad;
}

// Runs LossAndGradient on buffers filled with garbage first (they must be
// overwritten, not added to); *grad gets the dense gradient then the rows'.
float ModelLoss(SparseModel& model, const Problem& p,
                std::vector<float>* grad) {
  std::vector<float> dense_grad(1, -7.0f);
  std::vector<float> row_grad(p.rows.size(), -7.0f);
  const float loss =
      model.LossAndGradient(p.dense.data(), p.rows.data(), p.num_rows,
                            p.AsBatch(), dense_grad.data(), row_grad.data());
  *grad = dense_grad;
  grad->insert(grad->end(), row_grad.begin(), row_grad.end());
  return loss;
}

TEST(SparseModels, LossAndGradientMatchCentralDifferences) {
  for (const ModelCase& c : AllCases()) {
    for (float l2 : {0.0f, 0.3f}) {
      for (uint32_t seed = 1; seed <= 4; ++seed) {
        const int size = 1 + (seed * 7919) % 12;
        SCOPED_TRACE(testing::Message() << c.name << ", l2 " << l2 << ", seed "
                                        << seed << ", batch " << size);
        const Problem p = c.problem(seed, size);
        std::unique_ptr<SparseModel> model = c.make(/*max_batch=*/12, l2);
        std::vector<float> grad;
        const float loss = ModelLoss(*model, p, &grad);
        const double expected =
            c.naive(p, ToDouble(p.dense), ToDouble(p.rows), l2).mean_loss;
        EXPECT_NEAR(loss, expected, 1e-5 * (1 + std::abs(expected)));
        const std::vector<double> numeric = NumericGradient(c, p, l2);
        ASSERT_EQ(grad.size(), numeric.size());
        for (size_t j = 0; j < grad.size(); ++j) {
          ASSERT_NEAR(grad[j], numeric[j], 1e-5 + 1e-3 * std::abs(numeric[j]))
              << "parameter " << j << " (0 is the bias, then row-major rows)";
        }
      }
    }
  }
}

TEST(SparseModels, EvaluateMatchesNaiveSumsAndScores) {
  for (const ModelCase& c : AllCases()) {
    for (uint32_t seed = 11; seed <= 13; ++seed) {
      SCOPED_TRACE(testing::Message() << c.name << ", seed " << seed);
      // 200 examples through a model built for batches of 4: Evaluate has
      // no batch limit. The penalty must not show up in Evaluate.
      const Problem p = c.problem(seed, 200);
      std::unique_ptr<SparseModel> model = c.make(/*max_batch=*/4, 0.5f);
      std::vector<float> scores(p.size(), -7.0f);
      const EvalResult result =
          model->Evaluate(p.dense.data(), p.rows.data(), p.num_rows,
                          p.AsBatch(), scores.data());
      const Reference ref =
          c.naive(p, ToDouble(p.dense), ToDouble(p.rows), 0.0);
      EXPECT_EQ(result.count, 200);
      EXPECT_EQ(result.correct, ref.correct);
      if (model->is_classifier()) {
        EXPECT_GT(result.correct, 0);
      }
      EXPECT_NEAR(result.loss_sum, ref.loss_sum, 1e-5 * ref.loss_sum);
      for (int i = 0; i < p.size(); ++i) {
        ASSERT_NEAR(scores[i], ref.scores[i], 1e-5 * (1 + std::abs(scores[i])))
            << "example " << i;
      }
      const EvalResult no_scores = model->Evaluate(
          p.dense.data(), p.rows.data(), p.num_rows, p.AsBatch(), nullptr);
      EXPECT_EQ(no_scores.loss_sum, result.loss_sum);
      EXPECT_EQ(no_scores.correct, result.correct);
      const EvalResult empty = model->Evaluate(
          p.dense.data(), p.rows.data(), p.num_rows, SparseBatch{}, nullptr);
      EXPECT_EQ(empty.count, 0);
      EXPECT_EQ(empty.loss_sum, 0);
    }
  }
}

TEST(SparseModels, L2PenaltyCoversOnlyTouchedRows) {
  const float l2 = 0.5f;
  for (const ModelCase& c : AllCases()) {
    SCOPED_TRACE(c.name);
    Problem p = c.problem(21, 6);
    // Three more rows that no entry names, with nonzero values.
    const int64_t touched_rows = p.num_rows;
    p.num_rows += 3;
    p.rows.resize(p.num_rows * p.width, 1.5f);
    std::vector<float> plain, penalized;
    const float plain_loss = ModelLoss(*c.make(8, 0), p, &plain);
    const float penalized_loss = ModelLoss(*c.make(8, l2), p, &penalized);

    const std::set<int32_t> touched(p.slots.begin(), p.slots.end());
    double penalty = 0;
    EXPECT_EQ(penalized[0], plain[0]) << "the bias is not penalized";
    for (int64_t r = 0; r < p.num_rows; ++r) {
      for (int col = 0; col < c.width; ++col) {
        const size_t j = 1 + r * c.width + col;
        const float w = p.rows[r * c.width + col];
        if (r >= touched_rows || touched.count(r) == 0) {
          EXPECT_EQ(penalized[j], 0) << "row " << r << " is untouched";
          EXPECT_EQ(plain[j], 0) << "row " << r << " is untouched";
        } else if (col < c.penalized) {
          penalty += 0.5 * l2 * w * w;
          EXPECT_NEAR(penalized[j] - plain[j], l2 * w, 1e-6)
              << "row " << r << ", column " << col;
        } else {
          EXPECT_EQ(penalized[j], plain[j]) << "bias column of row " << r;
        }
      }
    }
    EXPECT_GT(penalty, 0);
    EXPECT_NEAR(penalized_loss - plain_loss, penalty, 1e-5 * (1 + penalty));
  }
}

TEST(SparseModels, LossAndGradientAllocateNothing) {
  for (const ModelCase& c : AllCases()) {
    SCOPED_TRACE(c.name);
    const Problem p = c.problem(5, 10);
    std::unique_ptr<SparseModel> model = c.make(10, 0.1f);
    std::vector<float> dense_grad(1), row_grad(p.rows.size());
    const SparseBatch batch = p.AsBatch();
    const int64_t before = g_allocations;
    model->LossAndGradient(p.dense.data(), p.rows.data(), p.num_rows, batch,
                           dense_grad.data(), row_grad.data());
    model->Evaluate(p.dense.data(), p.rows.data(), p.num_rows, batch, nullptr);
    EXPECT_EQ(g_allocations - before, 0);
  }
}

TEST(SparseModels, TablesAndLayoutsMatchTheirContracts) {
  SparseLogisticRegression logistic(4);
  EXPECT_EQ(logistic.table().row_width, 1);
  EXPECT_EQ(logistic.table().column_stddev, std::vector<float>({0}));
  EXPECT_TRUE(logistic.is_classifier());

  FactorizationMachine fm(3, 4, 0, 0.02f);
  EXPECT_EQ(fm.table().row_width, 4);
  EXPECT_EQ(fm.table().column_stddev,
            std::vector<float>({0, 0.02f, 0.02f, 0.02f}));
  EXPECT_TRUE(fm.is_classifier());

  MatrixFactorization mf(2, /*biases=*/true, 4, 0, 0.3f);
  EXPECT_EQ(mf.table().row_width, 3);
  EXPECT_EQ(mf.table().column_stddev, std::vector<float>({0.3f, 0.3f, 0}));
  EXPECT_FALSE(mf.is_classifier());
  EXPECT_EQ(MatrixFactorization(2, false, 4).table().row_width, 2);

  const std::pair<const SparseModel*, const char*> dense[] = {
      {&logistic, "bias"}, {&fm, "bias"}, {&mf, "global_bias"}};
  for (const auto& [model, name] : dense) {
    const ParamLayout& layout = model->dense_layout();
    ASSERT_EQ(layout.tensors().size(), 1u);
    EXPECT_EQ(layout.tensors()[0].name, name);
    EXPECT_EQ(layout.tensors()[0].shape, std::vector<int64_t>({1}));
    EXPECT_EQ(layout.InitialValue(7, 0), 0);
  }
}

TEST(SparseLogisticRegression, LargeLogitsStayFinite) {
  Problem p = RandomClassification(3, 8, 1);
  for (float& w : p.rows) w *= 5000;
  SparseLogisticRegression model(8);
  std::vector<float> grad;
  EXPECT_TRUE(std::isfinite(ModelLoss(model, p, &grad)));
  for (float g : grad) ASSERT_TRUE(std::isfinite(g));
}

TEST(SparseTableSpec, InitialValuesAreDeterministicAndScaled) {
  SparseTableSpec spec;
  spec.row_width = 3;
  spec.column_stddev = {0.5f, 0, 2};
  EXPECT_EQ(spec.InitialValue(1, 42, 0), spec.InitialValue(1, 42, 0));
  EXPECT_NE(spec.InitialValue(1, 42, 0), spec.InitialValue(1, 43, 0));
  EXPECT_NE(spec.InitialValue(1, 42, 0), spec.InitialValue(2, 42, 0));
  EXPECT_NE(spec.InitialValue(1, 42, 0), spec.InitialValue(1, 42, 2) / 4);

  const int keys = 20000;
  double sum[3] = {0, 0, 0}, squares[3] = {0, 0, 0};
  float row[3];
  for (uint64_t key = 0; key < keys; ++key) {
    // Keys far apart in the high bits too, as hashed feature ids are.
    const uint64_t k = key * 0x9E3779B97F4A7C15ULL;
    spec.InitializeRow(7, k, row);
    for (int col = 0; col < 3; ++col) {
      ASSERT_EQ(row[col], spec.InitialValue(7, k, col));
      sum[col] += row[col];
      squares[col] += row[col] * row[col];
    }
  }
  EXPECT_EQ(squares[1], 0) << "a stddev-0 column starts at exactly 0";
  for (int col : {0, 2}) {
    const double mean = sum[col] / keys;
    const double stddev = std::sqrt(squares[col] / keys - mean * mean);
    EXPECT_NEAR(stddev, spec.column_stddev[col],
                0.05 * spec.column_stddev[col]);
    EXPECT_NEAR(mean, 0, 0.05 * spec.column_stddev[col]);
  }
}

TEST(MatrixFactorization, SgdFitsPlantedRankTwoRatings) {
  const int users = 30, items = 30, ratings = 400, batch = 20;
  std::mt19937 rng(5);
  std::normal_distribution<float> normal(0, 1);
  std::vector<float> planted((users + items) * 2);
  for (float& v : planted) v = normal(rng);
  // Slots index the whole table: users first, then items.
  Problem data;
  data.width = 3;
  data.num_rows = users + items;
  for (int i = 0; i < ratings; ++i) {
    const int u = rng() % users, v = users + rng() % items;
    data.slots.insert(data.slots.end(), {u, v});
    data.offsets.push_back(data.slots.size());
    data.targets.push_back(3 + planted[2 * u] * planted[2 * v] +
                           planted[2 * u + 1] * planted[2 * v + 1] +
                           0.05f * normal(rng));
  }
  MatrixFactorization model(2, /*biases=*/true, batch, /*l2=*/1e-4f);
  data.dense = {0};
  data.rows.resize(data.num_rows * 3);
  for (int r = 0; r < data.num_rows; ++r) {
    model.table().InitializeRow(/*seed=*/9, 1000 + r, &data.rows[r * 3]);
  }
  auto rmse = [&] {
    const EvalResult e = model.Evaluate(data.dense.data(), data.rows.data(),
                                        data.num_rows, data.AsBatch(), nullptr);
    return std::sqrt(e.loss_sum / e.count);
  };
  const double initial = rmse();
  std::vector<float> dense_grad(1), row_grad(data.rows.size());
  std::vector<int64_t> offsets(batch + 1);  // every minibatch's: 0, 2, 4, ...
  for (int i = 0; i <= batch; ++i) offsets[i] = 2 * i;
  for (int epoch = 0; epoch < 150; ++epoch) {
    for (int start = 0; start < ratings; start += batch) {
      const SparseBatch b{batch,   offsets.data(), &data.slots[2 * start],
                          nullptr, nullptr,        &data.targets[start]};
      model.LossAndGradient(data.dense.data(), data.rows.data(), data.num_rows,
                            b, dense_grad.data(), row_grad.data());
      data.dense[0] -= 0.5f * dense_grad[0];
      for (size_t j = 0; j < data.rows.size(); ++j) {
        data.rows[j] -= 1.0f * row_grad[j];
      }
    }
  }
  const double final_rmse = rmse();
  EXPECT_GT(initial, 2.5);
  EXPECT_LT(final_rmse, 0.1 * initial) << "initial RMSE " << initial;
  EXPECT_LT(final_rmse, 0.15) << "the noise is 0.05";
}

TEST(SparseModelsDeathTest, ConstructorsRejectBadArguments) {
  EXPECT_DEATH(SparseLogisticRegression(0), "max_batch >= 1");
  EXPECT_DEATH(SparseLogisticRegression(4, -1), "l2 >= 0");
  EXPECT_DEATH(FactorizationMachine(0, 4), "factor_dim >= 1");
  EXPECT_DEATH(FactorizationMachine(2, 0), "max_batch >= 1");
  EXPECT_DEATH(FactorizationMachine(2, 4, -1), "l2 >= 0");
  EXPECT_DEATH(FactorizationMachine(2, 4, 0, -1), "init_stddev >= 0");
  EXPECT_DEATH(MatrixFactorization(0, true, 4), "rank >= 1");
  EXPECT_DEATH(MatrixFactorization(2, true, 0), "max_batch >= 1");
  EXPECT_DEATH(MatrixFactorization(2, true, 4, -1), "l2 >= 0");
  EXPECT_DEATH(MatrixFactorization(2, true, 4, 0, -1), "init_stddev >= 0");
}

TEST(SparseModelsDeathTest, RejectBadBatches) {
  for (const ModelCase& c : AllCases()) {
    SCOPED_TRACE(c.name);
    const Problem good = c.problem(31, 5);
    std::unique_ptr<SparseModel> model = c.make(/*max_batch=*/5, 0.1f);
    std::vector<float> dense_grad(1), row_grad(good.rows.size());
    auto loss = [&](const Problem& p, const SparseBatch& b) {
      model->LossAndGradient(p.dense.data(), p.rows.data(), p.num_rows, b,
                             dense_grad.data(), row_grad.data());
    };
    auto evaluate = [&](const Problem& p) {
      model->Evaluate(p.dense.data(), p.rows.data(), p.num_rows, p.AsBatch(),
                      nullptr);
    };
    SparseBatch batch = good.AsBatch();
    batch.size = 0;
    EXPECT_DEATH(loss(good, batch), "batch of 0 \\(max 5\\)");
    Problem bigger = c.problem(31, 6);
    EXPECT_DEATH(loss(bigger, bigger.AsBatch()), "batch of 6 \\(max 5\\)");

    Problem bad_slot = good;
    bad_slot.slots[1] = static_cast<int32_t>(good.num_rows);
    EXPECT_DEATH(loss(bad_slot, bad_slot.AsBatch()), "slot .* outside");
    EXPECT_DEATH(evaluate(bad_slot), "slot .* outside");
    bad_slot.slots[1] = -1;
    EXPECT_DEATH(loss(bad_slot, bad_slot.AsBatch()), "slot -1 of example");

    Problem backwards = good;
    backwards.offsets[2] = backwards.offsets[1] - 1;
    EXPECT_DEATH(loss(backwards, backwards.AsBatch()), "run backwards");

    if (model->is_classifier()) {
      Problem bad_label = good;
      bad_label.labels[3] = 2;
      EXPECT_DEATH(loss(bad_label, bad_label.AsBatch()),
                   "label 2 of example 3");
      EXPECT_DEATH(evaluate(bad_label), "label 2 of example 3");
      batch = good.AsBatch();
      batch.labels = nullptr;
      EXPECT_DEATH(loss(good, batch), "needs labels");
      batch = good.AsBatch();
      batch.values = nullptr;
      EXPECT_DEATH(loss(good, batch), "entries need values");
    } else {
      Problem triple = good;
      triple.slots.insert(triple.slots.begin() + 2, 0);
      triple.values.insert(triple.values.begin() + 2, 1.0f);
      for (size_t i = 2; i < triple.offsets.size(); ++i) ++triple.offsets[i];
      EXPECT_DEATH(loss(triple, triple.AsBatch()),
                   "example 1 needs exactly 2 entries");
      EXPECT_DEATH(evaluate(triple), "example 1 needs exactly 2 entries");
      batch = good.AsBatch();
      batch.targets = nullptr;
      EXPECT_DEATH(loss(good, batch), "needs targets");
    }
  }
}

TEST(SparseTableSpecDeathTest, RejectsColumnsOutsideTheRow) {
  SparseTableSpec spec;
  spec.row_width = 3;
  spec.column_stddev = {1, 1, 1};
  EXPECT_DEATH(spec.InitialValue(1, 2, 3), "column 3 outside \\[0, 3\\)");
  EXPECT_DEATH(spec.InitialValue(1, 2, -1), "column -1 outside");
  spec.column_stddev.pop_back();
  EXPECT_DEATH(spec.InitialValue(1, 2, 0), "column_stddev.size()");
}

}  // namespace
}  // namespace descent
