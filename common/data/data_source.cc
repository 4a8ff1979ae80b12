#include "common/data/data_source.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/data/class_labels.h"
#include "common/data/csv_reader.h"
#include "common/data/idx_reader.h"
#include "common/data/libsvm_reader.h"
#include "common/data/scaling.h"
#include "common/data/synthetic.h"
#include "common/data/triples_reader.h"
#include "common/eval/roc.h"
#include "common/partition.h"
#include "common/status_macros.h"
#include "glog/logging.h"

namespace descent {

const Dataset& Examples::dense() const {
  CHECK(!is_sparse()) << "dense examples asked of sparse ones";
  return std::get<Dataset>(data_);
}
Dataset& Examples::dense() {
  CHECK(!is_sparse()) << "dense examples asked of sparse ones";
  return std::get<Dataset>(data_);
}
const SparseDataset& Examples::sparse() const {
  CHECK(is_sparse()) << "sparse examples asked of dense ones";
  return std::get<SparseDataset>(data_);
}
SparseDataset& Examples::sparse() {
  CHECK(is_sparse()) << "sparse examples asked of dense ones";
  return std::get<SparseDataset>(data_);
}
namespace {

// Keys of ratings rows: users even, items odd, so they share one table.
constexpr uint64_t kMaxRatingId = (uint64_t{1} << 62) - 1;

// Rows i with i % test_every == test_every - 1 go to the test split.
struct HoldOut {
  std::vector<int64_t> train;
  std::vector<int64_t> test;
};

HoldOut SplitHoldOut(int64_t n, int32_t test_every) {
  HoldOut split;
  for (int64_t i = 0; i < n; ++i) {
    (i % test_every == test_every - 1 ? split.test : split.train).push_back(i);
  }
  return split;
}

std::vector<int64_t> Iota(IndexRange range) {
  std::vector<int64_t> rows(range.size());
  std::iota(rows.begin(), rows.end(), range.begin);
  return rows;
}

Dataset SelectRows(const Dataset& data, const std::vector<int64_t>& rows) {
  Dataset out;
  out.num_examples = static_cast<int64_t>(rows.size());
  out.num_features = data.num_features;
  out.num_classes = data.num_classes;
  out.class_names = data.class_names;
  out.features.reserve(rows.size() * data.num_features);
  for (int64_t row : rows) {
    const float* x = data.example(row);
    out.features.insert(out.features.end(), x, x + data.num_features);
    if (!data.labels.empty()) out.labels.push_back(data.labels[row]);
    if (!data.targets.empty()) out.targets.push_back(data.targets[row]);
  }
  return out;
}

SparseDataset SelectRows(const SparseDataset& data,
                         const std::vector<int64_t>& rows) {
  SparseDataset out;
  out.num_examples = static_cast<int64_t>(rows.size());
  out.num_features = data.num_features;
  out.num_classes = data.num_classes;
  out.class_names = data.class_names;
  for (int64_t row : rows) {
    const int64_t begin = data.row_offsets[row];
    const int64_t end = data.row_offsets[row + 1];
    out.indices.insert(out.indices.end(), data.indices.begin() + begin,
                       data.indices.begin() + end);
    out.values.insert(out.values.end(), data.values.begin() + begin,
                      data.values.begin() + end);
    out.row_offsets.push_back(static_cast<int64_t>(out.indices.size()));
    if (!data.labels.empty()) out.labels.push_back(data.labels[row]);
    if (!data.targets.empty()) out.targets.push_back(data.targets[row]);
  }
  return out;
}

// Splits `all` by the hold-out rule.
template <typename Data>
std::pair<Data, Data> HoldOutSplit(const Data& all, int32_t test_every) {
  const HoldOut split = SplitHoldOut(all.num_examples, test_every);
  return {SelectRows(all, split.train), SelectRows(all, split.test)};
}

// DataConfig.validation_fraction: example i of n is held out when
// floor((i + 1) f) > floor(i f), evenly spread over the file.
template <typename Data>
std::pair<Data, Data> FractionSplit(const Data& all, double fraction) {
  HoldOut split;
  for (int64_t i = 0; i < all.num_examples; ++i) {
    const bool held = std::floor((i + 1) * fraction) > std::floor(i * fraction);
    (held ? split.test : split.train).push_back(i);
  }
  return {SelectRows(all, split.train), SelectRows(all, split.test)};
}

// The validation split: the file `file` read with `read` if it is named,
// else `fraction` of splits->first (the training split) held out of it.
template <typename Data, typename Read>
absl::Status TakeValidation(double fraction, const std::string& file,
                            const Read& read, std::pair<Data, Data>* splits,
                            Data* validation) {
  if (!file.empty()) {
    absl::StatusOr<Data> read_file = read(file);
    if (!read_file.ok()) return read_file.status();
    *validation = *std::move(read_file);
    return absl::OkStatus();
  }
  if (fraction <= 0) return absl::OkStatus();
  const int64_t n = splits->first.num_examples;
  std::pair<Data, Data> held = FractionSplit(splits->first, fraction);
  if (held.second.num_examples == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "data.validation_fraction: ", fraction, " of the ", n,
        " training examples holds out none; raise it or add examples"));
  }
  splits->first = std::move(held.first);
  *validation = std::move(held.second);
  return absl::OkStatus();
}

// No file: for sources without validation files.
template <typename Data>
struct NoValidationFile {
  absl::StatusOr<Data> operator()(const std::string&) const {
    return absl::InternalError("no validation file");
  }
};

// Ratings as two-entry rows, users and items in one key space.
absl::StatusOr<SparseDataset> RatingRows(const RatingTriples& triples,
                                         const std::string& source) {
  SparseDataset rows;
  rows.num_examples = triples.size();
  uint64_t widest = 0;
  for (int64_t k = 0; k < triples.size(); ++k) {
    const uint64_t user = triples.users[k];
    const uint64_t item = triples.items[k];
    if (user > kMaxRatingId || item > kMaxRatingId) {
      return absl::InvalidArgumentError(
          absl::StrCat(source, ": rating ", k + 1, ": ids above ", kMaxRatingId,
                       " are not supported"));
    }
    rows.indices.push_back(static_cast<int64_t>(2 * user));
    rows.indices.push_back(static_cast<int64_t>(2 * item + 1));
    rows.values.insert(rows.values.end(), {1.0f, 1.0f});
    rows.row_offsets.push_back(static_cast<int64_t>(rows.indices.size()));
    rows.targets.push_back(triples.ratings[k]);
    widest = std::max({widest, 2 * user + 1, 2 * item + 2});
  }
  rows.num_features = static_cast<int64_t>(widest);
  return rows;
}

int32_t MaxLabel(const std::vector<int32_t>& labels) {
  return labels.empty() ? -1 : *std::max_element(labels.begin(), labels.end());
}

// Gives both splits of a classification set one class count: the largest
// either declares or needs.
template <typename Data>
void MergeClasses(std::pair<Data, Data>* splits) {
  Data& a = splits->first;
  Data& b = splits->second;
  if (a.num_classes == 0 && b.num_classes == 0) return;
  a.num_classes = b.num_classes =
      std::max({a.num_classes, b.num_classes, MaxLabel(a.labels) + 1,
                MaxLabel(b.labels) + 1});
}

// Indices one higher: a file read as 1-based, as 0-based.
void ShiftIndicesUp(SparseDataset* data) {
  for (int64_t& index : data->indices) ++index;
  ++data->num_features;
}

// The same over the validation split too (if it has examples).
template <typename Data>
void MergeClasses(std::pair<Data, Data>* splits, Data* validation) {
  MergeClasses(splits);
  Data& train = splits->first;
  if (validation->num_examples == 0 ||
      (train.num_classes == 0 && validation->num_classes == 0)) {
    return;
  }
  train.num_classes = splits->second.num_classes = validation->num_classes =
      std::max({train.num_classes, validation->num_classes,
                MaxLabel(validation->labels) + 1});
}

// Reads `train` with `read`, then `test`, or without one, holds out every
// test_every-th example of train.
template <typename Data, typename Read>
absl::StatusOr<std::pair<Data, Data>> ReadSplits(const std::string& train,
                                                 const std::string& test,
                                                 int32_t test_every,
                                                 const Read& read) {
  absl::StatusOr<Data> all = read(train);
  if (!all.ok()) return all.status();
  if (test.empty()) return HoldOutSplit(*all, test_every);
  absl::StatusOr<Data> held = read(test);
  if (!held.ok()) return held.status();
  return std::make_pair(*std::move(all), *std::move(held));
}

Examples Dense(Dataset data) {
  Examples examples(std::move(data));
  return examples;
}

Examples Sparse(SparseDataset data) {
  Examples examples(std::move(data));
  return examples;
}

absl::Status CheckShapesAgree(const Examples& train, const Examples& test) {
  if (train.is_sparse() || train.num_features() == test.num_features()) {
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(
      absl::StrCat("data: training examples have ", train.num_features(),
                   " features but test examples have ", test.num_features()));
}

PlantedLinear GenerateLinear(const v1::SyntheticDataConfig& s) {
  const int64_t n = s.train_examples() + s.test_examples();
  if (s.kind() == v1::SyntheticDataConfig::LOGISTIC) {
    return MakeLogistic(n, s.features(), s.seed());
  }
  return MakeLinearRegression(n, s.features(),
                              static_cast<float>(s.noise_stddev()), s.seed());
}

SyntheticCtr GenerateCtr(const v1::SyntheticDataConfig& s) {
  return MakeCtr(s.train_examples() + s.test_examples(), s.features(),
                 s.nnz_per_row(), s.factor_dim(), s.seed());
}

SyntheticRatings GenerateRatings(const v1::SyntheticDataConfig& s) {
  return MakeLowRankRatings(s.users(), s.items(), s.rank(),
                            s.train_examples() + s.test_examples(),
                            static_cast<float>(s.noise_stddev()), s.seed());
}

IndexRange TrainRange(const v1::SyntheticDataConfig& s) {
  return {0, s.train_examples()};
}
IndexRange TestRange(const v1::SyntheticDataConfig& s) {
  return {s.train_examples(), s.train_examples() + s.test_examples()};
}

// The examples of an IDX pair to read: the first `max` (0: all).
absl::StatusOr<IndexRange> IdxRange(const std::string& images, int64_t max) {
  ASSIGN_OR_RETURN(int64_t count, ReadIdxCount(images));
  return IndexRange{0, max > 0 ? std::min(count, max) : count};
}

absl::StatusOr<Dataset> ReadIdxTrain(const v1::IdxDataConfig& idx,
                                     std::optional<IndexRange> part) {
  ASSIGN_OR_RETURN(IndexRange all,
                   IdxRange(idx.train_images(), idx.max_train_examples()));
  return ReadIdx(idx.train_images(), idx.train_labels(), idx.num_classes(),
                 part.value_or(all));
}

absl::StatusOr<Dataset> ReadIdxTest(const v1::IdxDataConfig& idx) {
  ASSIGN_OR_RETURN(IndexRange all,
                   IdxRange(idx.test_images(), idx.max_test_examples()));
  return ReadIdx(idx.test_images(), idx.test_labels(), idx.num_classes(), all);
}

absl::StatusOr<Dataset> ReadIdxValidation(const v1::IdxDataConfig& idx) {
  ASSIGN_OR_RETURN(int64_t count, ReadIdxCount(idx.validation_images()));
  return ReadIdx(idx.validation_images(), idx.validation_labels(),
                 idx.num_classes(), IndexRange{0, count});
}

// "a.svm" or "a.svm and b.svm".
// One label encoding over the splits read from different files (a test
// file, a validation file; without either, the one file's own encoding
// stands). A held-out split shares the file's encoding and is re-encoded
// with it.
template <typename Data>
absl::Status UnifyFiles(int32_t num_classes, const std::string& source,
                        const std::string& test_file,
                        const std::string& validation_file,
                        std::pair<Data, Data>* splits, Data* validation) {
  if (test_file.empty() && validation_file.empty()) return absl::OkStatus();
  std::vector<Data*> sets = {&splits->first, &splits->second};
  if (validation->num_examples > 0) sets.push_back(validation);
  return UnifyClasses<Data>(num_classes, source, sets);
}

std::string FileNames(const v1::LibsvmDataConfig& libsvm) {
  std::vector<std::string> names = {libsvm.train()};
  if (!libsvm.test().empty()) names.push_back(libsvm.test());
  if (!libsvm.validation().empty()) names.push_back(libsvm.validation());
  return absl::StrJoin(names, ", ");
}

// Both LIBSVM splits, and the validation file's examples if one is named,
// with one index base: as configured or, unset, 0-based if index 0 occurs
// in any file (logged).
absl::StatusOr<std::pair<SparseDataset, SparseDataset>> ReadLibsvmSplits(
    const v1::LibsvmDataConfig& libsvm, SparseDataset* validation) {
  const LibsvmOptions options = LibsvmOptionsOf(libsvm);
  std::vector<std::pair<std::string, LibsvmIndexBase>> bases;
  const auto read =
      [&](const std::string& path) -> absl::StatusOr<SparseDataset> {
    LibsvmIndexBase base;
    ASSIGN_OR_RETURN(SparseDataset data, ReadLibsvm(path, options, &base));
    bases.emplace_back(path, base);
    return data;
  };
  ASSIGN_OR_RETURN(auto splits,
                   (ReadSplits<SparseDataset>(libsvm.train(), libsvm.test(),
                                              libsvm.test_every(), read)));
  // Each file read, in the order read, with what it became.
  std::vector<SparseDataset*> files = {&splits.first};
  if (!libsvm.test().empty()) files.push_back(&splits.second);
  if (!libsvm.validation().empty()) {
    ASSIGN_OR_RETURN(*validation, read(libsvm.validation()));
    files.push_back(validation);
  }
  if (options.zero_based.has_value()) return splits;
  const auto zero = std::find_if(bases.begin(), bases.end(), [](const auto& b) {
    return b.second.zero_line > 0;
  });
  if (zero == bases.end()) {
    LOG(INFO) << "data.libsvm: indices are taken as 1-based (LIBSVM's "
                 "convention): index 0 occurs nowhere in "
              << FileNames(libsvm)
              << " (set data.libsvm.zero_based: true to read them as 0-based)";
    return splits;
  }
  LOG(INFO) << "data.libsvm: indices are taken as 0-based: index 0 occurs at "
            << zero->first << ":" << zero->second.zero_line
            << " (set data.libsvm.zero_based: false to read them as 1-based)";
  // A file without index 0 was read as 1-based: move it back up. (A split
  // held out of a file shares its base.)
  for (size_t i = 0; i < files.size(); ++i) {
    if (bases[i].second.zero_line != 0) continue;
    ShiftIndicesUp(files[i]);
    if (i == 0 && libsvm.test().empty()) ShiftIndicesUp(&splits.second);
  }
  return splits;
}

}  // namespace

bool IsSparseModel(const v1::ModelConfig& model) {
  return model.has_sparse_logistic_regression() ||
         model.has_factorization_machine() || model.has_matrix_factorization();
}

CsvOptions CsvOptionsOf(const v1::CsvDataConfig& csv) {
  CsvOptions options;
  if (csv.has_header()) options.header = csv.header();
  // Validated (FindConfigIssue): a delimiter ParseCsvDelimiter accepts.
  options.delimiter = ParseCsvDelimiter(csv.delimiter()).value_or(',');
  options.skip_lines = csv.skip_lines();
  options.label_column = csv.label_column();
  options.label_index = csv.label_index();
  options.regression = csv.regression();
  options.num_classes = csv.num_classes();
  return options;
}

LibsvmOptions LibsvmOptionsOf(const v1::LibsvmDataConfig& libsvm) {
  LibsvmOptions options;
  if (libsvm.has_zero_based()) options.zero_based = libsvm.zero_based();
  options.regression = libsvm.regression();
  options.num_classes = libsvm.num_classes();
  options.max_features = libsvm.max_features();
  options.max_features_field = "data.libsvm.max_features";
  return options;
}

Dataset SliceRows(const Dataset& data, IndexRange range) {
  return SelectRows(data, Iota(range));
}

SparseDataset SliceRows(const SparseDataset& data, IndexRange range) {
  return SelectRows(data, Iota(range));
}

SparseDataset ToSparse(const Dataset& dense) {
  SparseDataset sparse;
  sparse.num_examples = dense.num_examples;
  sparse.num_features = dense.num_features;
  sparse.num_classes = dense.num_classes;
  for (int64_t i = 0; i < dense.num_examples; ++i) {
    const float* x = dense.example(i);
    for (int64_t f = 0; f < dense.num_features; ++f) {
      if (x[f] == 0) continue;
      sparse.indices.push_back(f);
      sparse.values.push_back(x[f]);
    }
    sparse.row_offsets.push_back(static_cast<int64_t>(sparse.indices.size()));
  }
  sparse.labels = dense.labels;
  sparse.targets = dense.targets;
  sparse.class_names = dense.class_names;
  return sparse;
}

DataSource::DataSource(const v1::JobConfig& config)
    : data_(config.data()), sparse_(IsSparseModel(config.model())) {}

bool DataSource::ReadsIdxDirectly() const {
  return data_.has_idx() && !sparse_ && data_.scaling() == v1::NO_SCALING &&
         data_.validation_fraction() <= 0;
}

absl::StatusOr<DataSource::Splits> DataSource::ReadDense() const {
  std::pair<Dataset, Dataset> splits;
  Dataset validation;
  const double fraction = data_.validation_fraction();
  if (data_.has_idx()) {
    const v1::IdxDataConfig& idx = data_.idx();
    ASSIGN_OR_RETURN(splits.first, ReadIdxTrain(idx, std::nullopt));
    ASSIGN_OR_RETURN(splits.second, ReadIdxTest(idx));
    RETURN_IF_ERROR(TakeValidation(
        fraction, idx.validation_images(),
        [&](const std::string&) { return ReadIdxValidation(idx); }, &splits,
        &validation));
  } else if (data_.has_csv()) {
    const v1::CsvDataConfig& csv = data_.csv();
    const CsvOptions options = CsvOptionsOf(csv);
    const auto read = [&](const std::string& path) {
      return ReadCsv(path, options);
    };
    ASSIGN_OR_RETURN(splits, (ReadSplits<Dataset>(csv.train(), csv.test(),
                                                  csv.test_every(), read)));
    RETURN_IF_ERROR(
        TakeValidation(fraction, csv.validation(), read, &splits, &validation));
    if (!csv.regression()) {
      RETURN_IF_ERROR(UnifyFiles(csv.num_classes(), "data.csv", csv.test(),
                                 csv.validation(), &splits, &validation));
    }
  } else if (data_.has_libsvm()) {
    ASSIGN_OR_RETURN(Splits sparse, ReadSparse());
    const int64_t floats =
        (sparse.train.size() + sparse.test.size() + sparse.validation.size()) *
        sparse.train.num_features();
    if (floats > kMaxDenseLibsvmFloats) {
      return absl::ResourceExhaustedError(absl::StrCat(
          data_.libsvm().train(), ": ", floats,
          " floats in dense form is too many; use a sparse model"));
    }
    splits = {ToDense(sparse.train.sparse()), ToDense(sparse.test.sparse())};
    if (sparse.validation.size() > 0) {
      validation = ToDense(sparse.validation.sparse());
    }
  } else if (data_.synthetic().kind() == v1::SyntheticDataConfig::CTR) {
    const v1::SyntheticDataConfig& s = data_.synthetic();
    const Dataset all = ToDense(GenerateCtr(s).data);
    splits = {SliceRows(all, TrainRange(s)), SliceRows(all, TestRange(s))};
    RETURN_IF_ERROR(TakeValidation(fraction, "", NoValidationFile<Dataset>(),
                                   &splits, &validation));
  } else if (data_.has_synthetic()) {
    const v1::SyntheticDataConfig& s = data_.synthetic();
    const Dataset all = GenerateLinear(s).data;
    splits = {SliceRows(all, TrainRange(s)), SliceRows(all, TestRange(s))};
    RETURN_IF_ERROR(TakeValidation(fraction, "", NoValidationFile<Dataset>(),
                                   &splits, &validation));
  } else {
    return absl::InvalidArgumentError(
        "data: this source needs a sparse model (matrix_factorization)");
  }
  MergeClasses(&splits, &validation);
  std::vector<float> offset, scale;
  if (data_.scaling() != v1::NO_SCALING) {
    const FeatureScaler scaler =
        FeatureScaler::Fit(splits.first, data_.scaling() == v1::STANDARDIZE
                                             ? ScalingMode::kStandardize
                                             : ScalingMode::kMinMax);
    scaler.Apply(&splits.first);
    scaler.Apply(&splits.second);
    if (validation.num_examples > 0) scaler.Apply(&validation);
    offset = scaler.offset();
    scale = scaler.scale();
  }
  return Splits{Dense(std::move(splits.first)), Dense(std::move(splits.second)),
                Dense(std::move(validation)), std::move(offset),
                std::move(scale)};
}

absl::StatusOr<DataSource::Splits> DataSource::ReadSparse() const {
  std::pair<SparseDataset, SparseDataset> splits;
  SparseDataset validation;
  const double fraction = data_.validation_fraction();
  if (data_.has_libsvm()) {
    const v1::LibsvmDataConfig& libsvm = data_.libsvm();
    ASSIGN_OR_RETURN(splits, ReadLibsvmSplits(libsvm, &validation));
    if (!libsvm.regression()) {
      RETURN_IF_ERROR(UnifyFiles(libsvm.num_classes(), "data.libsvm",
                                 libsvm.test(), libsvm.validation(), &splits,
                                 &validation));
    }
    RETURN_IF_ERROR(TakeValidation(
        fraction, "", NoValidationFile<SparseDataset>(), &splits, &validation));
  } else if (data_.has_ratings()) {
    const v1::RatingsDataConfig& ratings = data_.ratings();
    const auto read =
        [](const std::string& path) -> absl::StatusOr<SparseDataset> {
      ASSIGN_OR_RETURN(RatingTriples triples, ReadTriples(path));
      return RatingRows(triples, path);
    };
    ASSIGN_OR_RETURN(splits,
                     (ReadSplits<SparseDataset>(ratings.train(), ratings.test(),
                                                ratings.test_every(), read)));
    RETURN_IF_ERROR(TakeValidation(fraction, ratings.validation(), read,
                                   &splits, &validation));
  } else if (data_.synthetic().kind() == v1::SyntheticDataConfig::CTR) {
    const v1::SyntheticDataConfig& s = data_.synthetic();
    const SparseDataset all = GenerateCtr(s).data;
    splits = {SliceRows(all, TrainRange(s)), SliceRows(all, TestRange(s))};
    RETURN_IF_ERROR(TakeValidation(
        fraction, "", NoValidationFile<SparseDataset>(), &splits, &validation));
  } else if (data_.synthetic().kind() == v1::SyntheticDataConfig::RATINGS) {
    const v1::SyntheticDataConfig& s = data_.synthetic();
    ASSIGN_OR_RETURN(const SparseDataset all,
                     RatingRows(GenerateRatings(s).triples, "synthetic"));
    splits = {SliceRows(all, TrainRange(s)), SliceRows(all, TestRange(s))};
    RETURN_IF_ERROR(TakeValidation(
        fraction, "", NoValidationFile<SparseDataset>(), &splits, &validation));
  } else {
    ASSIGN_OR_RETURN(Splits dense, ReadDense());
    return Splits{
        Sparse(ToSparse(dense.train.dense())),
        Sparse(ToSparse(dense.test.dense())),
        dense.validation.size() > 0 ? Sparse(ToSparse(dense.validation.dense()))
                                    : Sparse(SparseDataset()),
        std::move(dense.scaling_offset), std::move(dense.scaling_scale)};
  }
  // One key space for every split.
  const int64_t width =
      std::max({splits.first.num_features, splits.second.num_features,
                validation.num_features});
  splits.first.num_features = splits.second.num_features = width;
  if (validation.num_examples > 0) validation.num_features = width;
  MergeClasses(&splits, &validation);
  return Splits{Sparse(std::move(splits.first)),
                Sparse(std::move(splits.second)),
                Sparse(std::move(validation)),
                {},
                {}};
}

absl::StatusOr<DataSource::Splits> DataSource::LoadAll() const {
  absl::StatusOr<Splits> splits = sparse_ ? ReadSparse() : ReadDense();
  if (!splits.ok()) return splits.status();
  RETURN_IF_ERROR(CheckShapesAgree(splits->train, splits->test));
  if (splits->validation.size() > 0) {
    RETURN_IF_ERROR(CheckShapesAgree(splits->train, splits->validation));
  }
  if (splits->train.size() == 0 || splits->test.size() == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("data: the training split holds ", splits->train.size(),
                     " examples and the test split ", splits->test.size(),
                     "; both need at least one"));
  }
  return splits;
}

absl::StatusOr<DataDescription> DataSource::Describe() const {
  DataDescription description;
  if (ReadsIdxDirectly()) {
    // Headers only: the coordinator need not hold the training set.
    const v1::IdxDataConfig& idx = data_.idx();
    ASSIGN_OR_RETURN(int64_t images, ReadIdxCount(idx.train_images()));
    ASSIGN_OR_RETURN(int64_t labels, ReadIdxCount(idx.train_labels()));
    if (labels != images) {
      return absl::InvalidArgumentError(
          absl::StrCat(idx.train_images(), " holds ", images, " images but ",
                       idx.train_labels(), " holds ", labels, " labels"));
    }
    ASSIGN_OR_RETURN(IndexRange train,
                     IdxRange(idx.train_images(), idx.max_train_examples()));
    description.train_examples = train.size();
    ASSIGN_OR_RETURN(Examples validation, LoadValidation());
    description.validation_examples = validation.size();
    // The test set's header too: the evaluator reads (and validates) its
    // data once, when it is made.
    ASSIGN_OR_RETURN(const IdxShape test, ReadIdxShape(idx.test_images()));
    ASSIGN_OR_RETURN(IndexRange tested,
                     IdxRange(idx.test_images(), idx.max_test_examples()));
    description.test_examples = tested.size();
    description.num_features = test.record_size;
    description.num_classes = idx.num_classes();
    description.label_min = 0;
    description.label_max = idx.num_classes() - 1;
    return description;
  }
  ASSIGN_OR_RETURN(Splits splits, LoadAll());
  description.train_examples = splits.train.size();
  description.test_examples = splits.test.size();
  description.validation_examples = splits.validation.size();
  description.num_features = splits.train.num_features();
  description.num_classes = splits.train.num_classes();
  description.scaling_offset = splits.scaling_offset;
  description.scaling_scale = splits.scaling_scale;
  Examine(splits, &description);
  return description;
}

void DataSource::Examine(const Splits& splits,
                         DataDescription* description) const {
  const std::string regression =
      data_.has_libsvm() ? "data.libsvm.regression" : "data.csv.regression";
  if (splits.train.is_sparse()) {
    const SparseDataset& train = splits.train.sparse();
    DescribeLabels(train.labels, train.targets, train.class_names, regression,
                   description);
    return;
  }
  const Dataset& train = splits.train.dense();
  DescribeLabels(train.labels, train.targets, train.class_names, regression,
                 description);
  if (data_.scaling() == v1::NO_SCALING) {
    DescribeUnscaledFeatures(train, description);
  }
}

absl::StatusOr<Examples> DataSource::LoadTest() const {
  if (ReadsIdxDirectly()) {
    ASSIGN_OR_RETURN(Dataset test, ReadIdxTest(data_.idx()));
    return Dense(std::move(test));
  }
  ASSIGN_OR_RETURN(Splits splits, LoadAll());
  return std::move(splits.test);
}

absl::StatusOr<Examples> DataSource::LoadValidation() const {
  if (ReadsIdxDirectly()) {
    if (data_.idx().validation_images().empty()) return Examples();
    ASSIGN_OR_RETURN(Dataset validation, ReadIdxValidation(data_.idx()));
    return Dense(std::move(validation));
  }
  ASSIGN_OR_RETURN(Splits splits, LoadAll());
  return std::move(splits.validation);
}

absl::StatusOr<Examples> DataSource::LoadTrainShard(int shard,
                                                    int num_shards) const {
  return LoadTrain([&](int64_t n) {
    return absl::StatusOr<IndexRange>(SplitEvenly(n, num_shards)[shard]);
  });
}

absl::StatusOr<Examples> DataSource::LoadTrainRange(IndexRange range) const {
  return LoadTrain([range](int64_t n) -> absl::StatusOr<IndexRange> {
    if (range.begin < 0 || range.begin > range.end || range.end > n) {
      return absl::InvalidArgumentError(
          absl::StrCat("data: training examples [", range.begin, ", ",
                       range.end, ") are not within the training set's ", n));
    }
    return range;
  });
}

absl::StatusOr<Examples> DataSource::LoadTrain(
    const std::function<absl::StatusOr<IndexRange>(int64_t)>& range_of) const {
  if (ReadsIdxDirectly()) {
    const v1::IdxDataConfig& idx = data_.idx();
    ASSIGN_OR_RETURN(IndexRange all,
                     IdxRange(idx.train_images(), idx.max_train_examples()));
    ASSIGN_OR_RETURN(IndexRange range, range_of(all.size()));
    ASSIGN_OR_RETURN(Dataset train, ReadIdxTrain(idx, range));
    return Dense(std::move(train));
  }
  ASSIGN_OR_RETURN(Splits splits, LoadAll());
  ASSIGN_OR_RETURN(const IndexRange range, range_of(splits.train.size()));
  if (splits.train.is_sparse()) {
    return Sparse(SliceRows(splits.train.sparse(), range));
  }
  return Dense(SliceRows(splits.train.dense(), range));
}

PlantedModel DataSource::Planted() const {
  PlantedModel planted;
  if (!data_.has_synthetic()) return planted;
  const v1::SyntheticDataConfig& s = data_.synthetic();
  const IndexRange test = TestRange(s);
  switch (s.kind()) {
    case v1::SyntheticDataConfig::LINEAR_REGRESSION:
    case v1::SyntheticDataConfig::LOGISTIC: {
      PlantedLinear linear = GenerateLinear(s);
      planted.weights = std::move(linear.weights);
      planted.bias = linear.bias;
      break;
    }
    case v1::SyntheticDataConfig::CTR: {
      const SyntheticCtr ctr = GenerateCtr(s);
      std::vector<float> scores;
      for (int64_t i = test.begin; i < test.end; ++i) {
        scores.push_back(CtrScore(ctr, i));
      }
      planted.test_auc = AreaUnderRoc(
          scores.data(), ctr.data.labels.data() + test.begin, test.size());
      break;
    }
    case v1::SyntheticDataConfig::RATINGS: {
      const SyntheticRatings ratings = GenerateRatings(s);
      double squared = 0;
      for (int64_t k = test.begin; k < test.end; ++k) {
        const double error = ratings.triples.ratings[k] -
                             PlantedRating(ratings, ratings.triples.users[k],
                                           ratings.triples.items[k]);
        squared += error * error;
      }
      planted.test_rmse = std::sqrt(squared / test.size());
      break;
    }
    default:
      break;
  }
  return planted;
}

}  // namespace descent
