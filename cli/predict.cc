#include "cli/predict.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <memory>
#include <optional>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/config/config.h"
#include "common/config/job_options.h"
#include "common/data/class_labels.h"
#include "common/data/csv_reader.h"
#include "common/data/data_source.h"
#include "common/data/idx_reader.h"
#include "common/data/libsvm_reader.h"
#include "common/exit_codes.h"
#include "common/model/model_factory.h"
#include "common/status_macros.h"
#include "google/protobuf/util/message_differencer.h"
#include "server/coordinator/evaluator.h"
#include "server/coordinator/model_dir.h"

namespace descent {
namespace {

// The model directory with its dense model built. Sparse models:
// UNIMPLEMENTED (exit 1) for evaluate --data, which reads dense files.
absl::StatusOr<LoadedModel> LoadModel(const std::string& dir, int max_batch,
                                      int threads) {
  ASSIGN_OR_RETURN(ModelDir model_dir, ReadModelDir(dir));
  const v1::ModelManifest& m = model_dir.manifest;
  if (m.sparse()) {
    return WithExitCode(
        absl::UnimplementedError(absl::StrCat(
            dir, " holds a sparse model (", m.model().ShortDebugString(),
            "): evaluate --data takes dense models only (linear, logistic, "
            "softmax, SVM, MLP, CNN); descent evaluate --config measures a "
            "sparse model on its job's test split, and descent predict "
            "predicts with it")),
        kExitUsage);
  }
  return BuildDenseModel(std::move(model_dir), dir, max_batch, threads);
}

// The examples of options.data, as the model reads them.
absl::StatusOr<Dataset> ReadData(const PredictOptions& options,
                                 const std::string& format,
                                 const v1::ModelManifest& m) {
  const std::string& path = options.data;
  if (format == "idx") {
    std::optional<IndexRange> range;
    if (options.max_examples > 0) {
      ASSIGN_OR_RETURN(const int64_t count, ReadIdxCount(path));
      range = IndexRange{0, std::min(count, options.max_examples)};
    }
    if (options.labels.empty()) return ReadIdxImages(path, range);
    return ReadIdx(path, options.labels, std::max(m.num_classes(), 1), range);
  }
  Dataset data;
  if (format == "csv") {
    // As the job read its files, where the manifest says how.
    CsvOptions csv = m.has_csv() ? CsvOptionsOf(m.csv()) : CsvOptions();
    csv.regression = m.regression();
    csv.num_classes = 0;  // any labels: they are not used
    ASSIGN_OR_RETURN(data, ReadCsv(path, csv));
  } else {
    LibsvmOptions libsvm =
        m.has_libsvm() ? LibsvmOptionsOf(m.libsvm()) : LibsvmOptions();
    libsvm.regression = m.regression();
    libsvm.num_classes = 0;
    libsvm.num_features = m.num_features();
    absl::StatusOr<Dataset> read = ReadLibsvmDense(path, libsvm);
    if (!read.ok()) {  // an index beyond the model's width, most likely
      return absl::Status(read.status().code(),
                          absl::StrCat(read.status().message(),
                                       " (read as libsvm; the model "
                                       "takes ",
                                       m.num_features(), " features)"));
    }
    data = *std::move(read);
  }
  if (options.max_examples > 0 && options.max_examples < data.num_examples) {
    data = SliceRows(data, IndexRange{0, options.max_examples});
  }
  return data;
}

// "class,label,p0,...": the header for `m`'s predictions.
std::string Header(const v1::ModelManifest& m, bool probabilities) {
  if (m.regression()) return "value\n";
  std::string header = "class,label";
  if (probabilities) {
    for (int c = 0; c < m.num_classes(); ++c) absl::StrAppend(&header, ",p", c);
  }
  return header + "\n";
}

std::string Row(const v1::ModelManifest& m, const Prediction& p) {
  if (m.regression()) return absl::StrFormat("%.9g\n", p.value);
  const std::vector<std::string> labels(m.labels().begin(), m.labels().end());
  std::string row =
      absl::StrCat(p.class_id, ",", LabelOfClass(labels, p.class_id));
  for (const float q : p.probabilities) absl::StrAppendFormat(&row, ",%.6g", q);
  return row + "\n";
}

absl::Status WriteOutput(const std::string& path, const std::string& text) {
  if (path.empty()) {
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fflush(stdout);
    return absl::OkStatus();
  }
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  if (!out) {
    return WithExitCode(
        absl::InternalError(absl::StrCat("--output=", path, ": cannot write")),
        kExitJobFailed);
  }
  return absl::OkStatus();
}

// A sparse model's predictions on a LIBSVM file: each example's score
// (SparseModel::Evaluate) from the model directory's rows, a key it has no
// row for taking the row's initial value; a binary classifier's class is
// score > 0 and p1 = sigmoid(score), a regression's value the score.
absl::Status PredictSparse(const PredictOptions& options,
                           const std::string& format, ModelDir dir) {
  const v1::ModelManifest& m = dir.manifest;
  if (format != "libsvm") {
    return WithExitCode(
        absl::InvalidArgumentError(absl::StrCat(
            options.data, ": read as ", format, "; a sparse model (",
            m.model().ShortDebugString(), ") takes LIBSVM files")),
        kExitUsage);
  }
  const DataShape shape{m.num_features(), m.num_classes()};
  ASSIGN_OR_RETURN(std::unique_ptr<SparseModel> model,
                   CreateSparseModel(m.model(), shape, /*max_batch=*/1));
  const std::string path =
      absl::StrCat(options.model_dir, "/", kModelTensorsFile);
  ASSIGN_OR_RETURN(const std::vector<float> dense,
                   FlatParameters(model->dense_layout(), dir.tensors, path));
  std::vector<uint64_t> keys;
  std::vector<float> saved;
  for (NamedTensor& t : dir.tensors) {
    if (t.name == "sparse/keys") keys = std::move(t.u64);
    if (t.name == "sparse/rows") saved = std::move(t.f32);
  }
  const int width = model->table().row_width;
  if (saved.size() != keys.size() * width) {
    return absl::DataLossError(absl::StrCat(
        path, ": sparse/rows does not hold ", width, " floats per key"));
  }
  LibsvmOptions libsvm =
      m.has_libsvm() ? LibsvmOptionsOf(m.libsvm()) : LibsvmOptions();
  libsvm.regression = m.regression();
  libsvm.num_classes = 0;
  libsvm.num_features = m.num_features();
  ASSIGN_OR_RETURN(SparseDataset data, ReadLibsvm(options.data, libsvm));
  if (options.max_examples > 0 && options.max_examples < data.num_examples) {
    data.num_examples = options.max_examples;
  }
  std::string text = Header(m, /*probabilities=*/true);
  std::vector<uint64_t> example_keys;
  std::vector<int32_t> slots;
  std::vector<float> rows;
  for (int64_t i = 0; i < data.num_examples; ++i) {
    const int64_t begin = data.row_offsets[i], end = data.row_offsets[i + 1];
    example_keys.assign(data.indices.begin() + begin,
                        data.indices.begin() + end);
    std::sort(example_keys.begin(), example_keys.end());
    example_keys.erase(std::unique(example_keys.begin(), example_keys.end()),
                       example_keys.end());
    rows.resize(example_keys.size() * width);
    for (size_t k = 0; k < example_keys.size(); ++k) {
      auto at = std::lower_bound(keys.begin(), keys.end(), example_keys[k]);
      if (at != keys.end() && *at == example_keys[k]) {
        std::copy_n(saved.begin() + (at - keys.begin()) * width, width,
                    rows.begin() + k * width);
      } else {
        model->table().InitializeRow(m.seed(), example_keys[k],
                                     rows.data() + k * width);
      }
    }
    slots.clear();
    for (int64_t e = begin; e < end; ++e) {
      slots.push_back(static_cast<int32_t>(
          std::lower_bound(example_keys.begin(), example_keys.end(),
                           static_cast<uint64_t>(data.indices[e])) -
          example_keys.begin()));
    }
    const int64_t offsets[2] = {0, end - begin};
    const int32_t label = 0;
    const float target = 0;
    SparseBatch batch{1,      offsets, slots.data(), data.values.data() + begin,
                      &label, &target};
    float score = 0;
    model->Evaluate(dense.data(), rows.data(),
                    static_cast<int64_t>(example_keys.size()), batch, &score);
    Prediction p;
    if (m.regression()) {
      p.value = score;
    } else {
      p.class_id = score > 0 ? 1 : 0;
      const float p1 = 1.0f / (1.0f + std::exp(-score));
      p.probabilities = {1.0f - p1, p1};
    }
    text += Row(m, p);
  }
  return WriteOutput(options.output, text);
}

absl::Status PredictAll(const PredictOptions& options) {
  absl::StatusOr<std::string> format = DataFormat(options.data, options.format);
  if (!format.ok()) return WithExitCode(format.status(), kExitUsage);
  {
    ASSIGN_OR_RETURN(ModelDir dir, ReadModelDir(options.model_dir));
    if (dir.manifest.sparse()) {
      return PredictSparse(options, *format, std::move(dir));
    }
  }
  ASSIGN_OR_RETURN(LoadedModel loaded,
                   LoadModel(options.model_dir, /*max_batch=*/1,
                             /*threads=*/1));
  const v1::ModelManifest& m = loaded.dir.manifest;
  ASSIGN_OR_RETURN(Dataset data, ReadData(options, *format, m));
  RETURN_IF_ERROR(PrepareFeatures(m, options.data, *format, &data));
  const bool probabilities = !m.model().has_linear_svm();
  ASSIGN_OR_RETURN(
      const std::vector<Prediction> predictions,
      Predict(*loaded.model, loaded.params, data,
              m.regression() ? 0 : m.num_classes(), probabilities));
  std::string text = Header(m, probabilities);
  for (const Prediction& p : predictions) text += Row(m, p);
  return WriteOutput(options.output, text);
}

// What the job printed of `e`, in its formats (FormatResult in
// cli/progress.cc: accuracy and loss to 4 digits, RMSE and AUC to 6).
std::string Figures(const v1::Evaluation& e) {
  std::string text;
  if (e.has_test_accuracy()) {
    absl::StrAppendFormat(&text, "test_accuracy: %.4f\n", e.test_accuracy());
  }
  if (e.has_test_loss()) {
    absl::StrAppendFormat(&text, "test_loss: %.4f\n", e.test_loss());
  }
  if (e.has_test_rmse()) {
    absl::StrAppendFormat(&text, "test_rmse: %.6f\n", e.test_rmse());
  }
  if (e.has_test_auc()) {
    absl::StrAppendFormat(&text, "test_auc: %.6f\n", e.test_auc());
  }
  return text;
}

// descent evaluate's figures: the job's test split at the model
// directory's parameters, through the coordinator's Evaluator.
absl::StatusOr<v1::Evaluation> EvaluateModelDir(
    const EvaluateOptions& options) {
  absl::StatusOr<v1::JobConfig> config = LoadJobConfig(options.config, {});
  if (!config.ok()) return WithExitCode(config.status(), kExitBadConfig);
  ASSIGN_OR_RETURN(const ModelDir dir, ReadModelDir(options.model_dir));
  const v1::ModelManifest& m = dir.manifest;
  if (!google::protobuf::util::MessageDifferencer::Equals(config->model(),
                                                          m.model())) {
    return WithExitCode(
        absl::InvalidArgumentError(absl::StrCat(
            "--config=", options.config, ": its model {",
            config->model().ShortDebugString(), "} is not the one in ",
            options.model_dir, "/", kModelManifestFile, " {",
            m.model().ShortDebugString(), "}")),
        kExitBadConfig);
  }
  ASSIGN_OR_RETURN(Examples test, DataSource(*config).LoadTest());
  if (test.num_features() != m.num_features()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--config=", options.config, ": its test split has ",
        test.num_features(), " features; the model takes ", m.num_features()));
  }
  const std::string path =
      absl::StrCat(options.model_dir, "/", kModelTensorsFile);
  const DataShape shape{m.num_features(), m.num_classes()};
  const ResolvedEval eval = ResolveEval(*config);
  std::unique_ptr<Evaluator> evaluator;
  std::vector<float> dense;
  if (test.is_sparse()) {
    ASSIGN_OR_RETURN(std::unique_ptr<SparseModel> model,
                     CreateSparseModel(m.model(), shape, eval.max_batch));
    ASSIGN_OR_RETURN(dense,
                     FlatParameters(model->dense_layout(), dir.tensors, path));
    evaluator =
        std::make_unique<Evaluator>(std::move(model), std::move(test.sparse()));
  } else {
    ASSIGN_OR_RETURN(
        std::unique_ptr<Model> model,
        CreateModel(
            m.model(), shape, eval.max_batch,
            ResolveThreads(eval.threads, config->cluster().num_workers())));
    ASSIGN_OR_RETURN(dense, FlatParameters(model->layout(), dir.tensors, path));
    evaluator =
        std::make_unique<Evaluator>(std::move(model), std::move(test.dense()));
  }
  v1::Evaluation evaluation;
  RETURN_IF_ERROR(evaluator->Evaluate(ModelDirPull(std::move(dense), dir, path),
                                      &evaluation));
  return evaluation;
}

// The classes of `data`'s labels as `m` numbers them: string labels by
// their place in m.labels(). INVALID_ARGUMENT naming `path` and a label the
// model does not know.
absl::Status MapLabels(const v1::ModelManifest& m, const std::string& path,
                       Dataset* data) {
  if (m.regression()) return absl::OkStatus();
  if (!data->class_names.empty()) {
    std::vector<int32_t> to(data->class_names.size(), -1);
    for (size_t c = 0; c < data->class_names.size(); ++c) {
      for (int k = 0; k < m.labels_size(); ++k) {
        if (m.labels(k) == data->class_names[c]) to[c] = k;
      }
      if (to[c] < 0) {
        return absl::InvalidArgumentError(absl::StrCat(
            path, ": label \"", data->class_names[c],
            "\" is none of the model's ", m.num_classes(), " classes"));
      }
    }
    for (int32_t& label : data->labels) label = to[label];
    data->class_names.clear();
  }
  for (int32_t label : data->labels) {
    if (label < 0 || label >= m.num_classes()) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": class ", label, " is outside the model's ",
                       m.num_classes(), " classes"));
    }
  }
  data->num_classes = m.num_classes();
  return absl::OkStatus();
}

// descent evaluate --data: the file's examples at the model directory's
// parameters.
absl::StatusOr<v1::Evaluation> EvaluateFile(const EvaluateOptions& options) {
  ASSIGN_OR_RETURN(const std::string format,
                   DataFormat(options.data, options.format));
  if (format == "idx" && options.labels.empty()) {
    return WithExitCode(
        absl::InvalidArgumentError(
            "--data as IDX images needs --labels, their label file"),
        kExitUsage);
  }
  ASSIGN_OR_RETURN(LoadedModel loaded,
                   LoadModel(options.model_dir, /*max_batch=*/256,
                             /*threads=*/1));
  const v1::ModelManifest& m = loaded.dir.manifest;
  PredictOptions read;
  read.data = options.data;
  read.labels = options.labels;
  ASSIGN_OR_RETURN(Dataset data, ReadData(read, format, m));
  if (!m.regression() &&
      data.labels.size() != static_cast<size_t>(data.num_examples)) {
    return absl::InvalidArgumentError(
        absl::StrCat(options.data, ": no class labels to measure against"));
  }
  RETURN_IF_ERROR(MapLabels(m, options.data, &data));
  RETURN_IF_ERROR(PrepareFeatures(m, options.data, format, &data));
  Evaluator evaluator(std::move(loaded.model), std::move(data));
  const std::vector<float> params = std::move(loaded.params);
  v1::Evaluation evaluation;
  RETURN_IF_ERROR(evaluator.Evaluate(
      [&params](float* out, const PsClient::Rows*) {
        std::copy(params.begin(), params.end(), out);
        return absl::OkStatus();
      },
      &evaluation));
  return evaluation;
}

}  // namespace

int Fail(const std::string& command, const absl::Status& status) {
  std::fprintf(stderr, "descent %s: %s\n", command.c_str(),
               std::string(status.message()).c_str());
  return ExitCodeFor(status);
}

absl::StatusOr<LoadedModel> BuildDenseModel(ModelDir dir,
                                            const std::string& path,
                                            int max_batch, int threads) {
  LoadedModel loaded;
  loaded.dir = std::move(dir);
  const v1::ModelManifest& m = loaded.dir.manifest;
  const DataShape shape{m.num_features(), m.num_classes()};
  absl::StatusOr<std::unique_ptr<Model>> model =
      CreateModel(m.model(), shape, max_batch, threads);
  if (!model.ok()) {
    return absl::DataLossError(
        absl::StrCat(path, "/", kModelManifestFile,
                     ": its model does not build: ", model.status().message()));
  }
  loaded.model = *std::move(model);
  ASSIGN_OR_RETURN(loaded.params,
                   FlatParameters(loaded.model->layout(), loaded.dir.tensors,
                                  absl::StrCat(path, "/", kModelTensorsFile)));
  return loaded;
}

absl::StatusOr<std::vector<Prediction>> Predict(
    Model& model, const std::vector<float>& params, const Dataset& data,
    int32_t num_classes, bool probabilities) {
  if (static_cast<int64_t>(params.size()) != model.layout().size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        params.size(), " parameters for a model of ", model.layout().size()));
  }
  if (data.features.size() !=
      static_cast<size_t>(data.num_examples * data.num_features)) {
    return absl::InvalidArgumentError("features do not fill the examples");
  }
  std::vector<Prediction> out(data.num_examples);
  for (int64_t i = 0; i < data.num_examples; ++i) {
    Prediction& p = out[i];
    const float* x = data.example(i);
    const float* w = params.data();
    if (num_classes == 0) {  // the squared error against 0, -1 and +1
      const auto loss = [&](float target) {
        return model.Evaluate(w, Batch{x, nullptr, 1, &target}).loss_sum;
      };
      const double magnitude = std::sqrt(loss(0));
      p.value = static_cast<float>(loss(1) < loss(-1) ? magnitude : -magnitude);
      continue;
    }
    if (probabilities) p.probabilities.resize(num_classes);
    for (int32_t c = 0; c < num_classes; ++c) {
      const EvalResult r = model.Evaluate(w, Batch{x, &c, 1});
      if (r.correct > 0) p.class_id = c;
      if (probabilities) {
        p.probabilities[c] = static_cast<float>(std::exp(-r.loss_sum));
      }
    }
  }
  return out;
}

absl::StatusOr<std::string> DataFormat(const std::string& path,
                                       const std::string& flag) {
  if (!flag.empty()) {
    if (flag == "csv" || flag == "libsvm" || flag == "idx") return flag;
    return absl::InvalidArgumentError(absl::StrCat(
        "--format=", flag, ": not a format; use csv, libsvm or idx"));
  }
  std::string name = absl::AsciiStrToLower(path);
  if (absl::EndsWith(name, ".gz")) name.resize(name.size() - 3);
  if (absl::EndsWith(name, ".csv") || absl::EndsWith(name, ".tsv")) {
    return std::string("csv");
  }
  for (const char* ext : {".svm", ".libsvm", ".svmlight"}) {
    if (absl::EndsWith(name, ext)) return std::string("libsvm");
  }
  const std::string base = name.substr(name.find_last_of('/') + 1);
  if (absl::StrContains(base, "idx") || absl::StrContains(base, "ubyte")) {
    return std::string("idx");
  }
  return absl::InvalidArgumentError(
      absl::StrCat("--data=", path,
                   ": cannot tell its format from the name; pass --format "
                   "csv, libsvm or idx"));
}

absl::Status PrepareFeatures(const v1::ModelManifest& manifest,
                             const std::string& path, const std::string& format,
                             Dataset* data) {
  if (data->num_features != manifest.num_features()) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": read as ", format, ", it has ", data->num_features,
        " features", format == "csv" ? " (one column is the label)" : "",
        "; the model takes ", manifest.num_features()));
  }
  const v1::FeatureScaling& scaling = manifest.scaling();
  if (scaling.kind() == v1::NO_SCALING) return absl::OkStatus();
  const int64_t d = data->num_features;
  if (scaling.offset_size() != d || scaling.scale_size() != d) {
    return absl::DataLossError(absl::StrCat(
        "the manifest's scaling has ", scaling.offset_size(), " offsets and ",
        scaling.scale_size(), " scales for ", d, " features"));
  }
  for (int64_t i = 0; i < data->num_examples; ++i) {
    float* x = data->features.data() + i * d;
    for (int64_t j = 0; j < d; ++j) {
      x[j] = (x[j] - scaling.offset(j)) / scaling.scale(j);
    }
  }
  return absl::OkStatus();
}

int RunPredict(const PredictOptions& options) {
  const absl::Status status = PredictAll(options);
  if (status.ok()) return kExitOk;
  return Fail("predict", status);
}

ModelDirPull::ModelDirPull(std::vector<float> dense, const ModelDir& dir,
                           std::string path)
    : dense_(std::move(dense)), path_(std::move(path)) {
  for (const NamedTensor& t : dir.tensors) {
    if (t.name == "sparse/keys") keys_ = &t.u64;
    if (t.name == "sparse/rows") rows_ = &t.f32;
  }
}

absl::Status ModelDirPull::operator()(float* params,
                                      const PsClient::Rows* rows) const {
  std::copy(dense_.begin(), dense_.end(), params);
  if (rows == nullptr) return absl::OkStatus();
  if (keys_ == nullptr || rows_ == nullptr ||
      rows_->size() != keys_->size() * rows->width) {
    return absl::DataLossError(
        absl::StrCat(path_, ": no sparse/keys and sparse/rows of ", rows->width,
                     " floats a row, which the sparse model needs"));
  }
  const size_t width = rows->width;
  for (size_t i = 0; i < rows->pull_keys->size(); ++i) {
    const uint64_t key = (*rows->pull_keys)[i];
    const auto at = std::lower_bound(keys_->begin(), keys_->end(), key);
    if (at == keys_->end() || *at != key) {
      return absl::DataLossError(absl::StrCat(
          path_, ": no row for key ", key,
          ", which the test split uses (a model directory holds the rows "
          "its job's evaluations used)"));
    }
    const auto row = rows_->begin() + (at - keys_->begin()) * width;
    std::copy(row, row + width, rows->pulled + i * width);
  }
  return absl::OkStatus();
}

int RunEvaluate(const EvaluateOptions& options) {
  absl::StatusOr<v1::Evaluation> evaluation =
      options.data.empty() ? EvaluateModelDir(options) : EvaluateFile(options);
  if (!evaluation.ok()) {
    return Fail("evaluate", evaluation.status());
  }
  const std::string text = Figures(*evaluation);
  std::fwrite(text.data(), 1, text.size(), stdout);
  return kExitOk;
}

}  // namespace descent
