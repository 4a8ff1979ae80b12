#include "server/coordinator/job_output.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status_macros.h"
#include "common/storage/atomic_file.h"
#include "common/wire.h"  // little-endian host
#include "glog/logging.h"
#include "server/coordinator/proto_json.h"

namespace descent {
namespace {

constexpr char kParametersMagic[] = "DSCTPRM1";  // 8 bytes, no terminator
constexpr size_t kParametersHeader = 40;

void AppendRaw(const void* data, size_t bytes, std::string* out) {
  if (bytes > 0) out->append(static_cast<const char*>(data), bytes);
}

void AppendU64(uint64_t value, std::string* out) {
  AppendRaw(&value, sizeof(value), out);
}

uint64_t ReadU64(const std::string& bytes, size_t offset) {
  uint64_t value;
  std::memcpy(&value, bytes.data() + offset, sizeof(value));
  return value;
}

constexpr double kAbsent = std::numeric_limits<double>::quiet_NaN();

EvalRow ToRow(const v1::Evaluation& e) {
  EvalRow row;
  row.step = e.step();
  row.epoch = e.epoch();
  row.wall_seconds = e.wall_seconds();
  row.train_loss = e.train_loss();
  row.test_loss = e.has_test_loss() ? e.test_loss() : kAbsent;
  row.test_accuracy = e.has_test_accuracy() ? e.test_accuracy() : kAbsent;
  row.test_rmse = e.has_test_rmse() ? e.test_rmse() : kAbsent;
  row.test_auc = e.has_test_auc() ? e.test_auc() : kAbsent;
  row.validation_loss = e.has_validation_loss() ? e.validation_loss() : kAbsent;
  row.validation_accuracy =
      e.has_validation_accuracy() ? e.validation_accuracy() : kAbsent;
  row.validation_rmse = e.has_validation_rmse() ? e.validation_rmse() : kAbsent;
  row.validation_auc = e.has_validation_auc() ? e.validation_auc() : kAbsent;
  return row;
}

// Replaces the chart at `path` for readers at once (a temporary file
// renamed over it) but without WriteFileAtomically's fsyncs: the chart is
// redrawn after every evaluation, is rebuilt from evals.csv at will, and two
// fsyncs on a busy disk held the coordinator's loop for tens of
// milliseconds, long enough for a small job to pass its boundaries unseen.
absl::Status ReplaceChart(const std::string& path, const std::string& svg) {
  const std::string temp = path + ".tmp";
  {
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    out << svg;
    if (!out.flush()) {
      const int error = errno;
      out.close();
      std::remove(temp.c_str());
      return absl::InternalError(
          absl::StrCat(temp, ": cannot write: ", std::strerror(error)));
    }
  }
  if (std::rename(temp.c_str(), path.c_str()) != 0) {
    const int error = errno;
    std::remove(temp.c_str());
    return absl::InternalError(
        absl::StrCat(path, ": cannot replace: ", std::strerror(error)));
  }
  return absl::OkStatus();
}

// ",0.123456", or "," if the figure is absent.
std::string Cell(bool has, double value) {
  return has ? absl::StrFormat(",%.6f", value) : ",";
}

}  // namespace

absl::StatusOr<std::unique_ptr<EvalLog>> EvalLog::Create(
    const std::string& path) {
  std::FILE* file = std::fopen(path.c_str(), "w");
  if (file == nullptr) {
    return absl::InternalError(
        absl::StrCat(path, ": cannot create: ", std::strerror(errno)));
  }
  std::string chart_path =
      std::filesystem::path(path).replace_extension(".svg").string();
  std::unique_ptr<EvalLog> log(new EvalLog(path, std::move(chart_path), file));
  if (std::fprintf(file, "%s\n", kEvalsCsvHeader) < 0 ||
      std::fflush(file) != 0) {
    return absl::InternalError(
        absl::StrCat(path, ": cannot write: ", std::strerror(errno)));
  }
  log->DrawChart();
  return log;
}

EvalLog::~EvalLog() { std::fclose(file_); }

absl::Status EvalLog::Append(const v1::Evaluation& e) {
  const std::string row = absl::StrCat(
      absl::StrFormat("%d,%.6f,%.3f,%.6f", e.step(), e.epoch(),
                      e.wall_seconds(), e.train_loss()),
      Cell(e.has_test_loss(), e.test_loss()),
      Cell(e.has_test_accuracy(), e.test_accuracy()),
      Cell(e.has_test_rmse(), e.test_rmse()),
      Cell(e.has_test_auc(), e.test_auc()),
      absl::StrFormat(",%d,%d", e.parameter_version(), e.due_step()),
      Cell(e.has_validation_loss(), e.validation_loss()),
      Cell(e.has_validation_accuracy(), e.validation_accuracy()),
      Cell(e.has_validation_rmse(), e.validation_rmse()),
      Cell(e.has_validation_auc(), e.validation_auc()), "\n");
  if (std::fputs(row.c_str(), file_) < 0 || std::fflush(file_) != 0) {
    return absl::InternalError(
        absl::StrCat(path_, ": cannot write: ", std::strerror(errno)));
  }
  rows_.push_back(ToRow(e));
  DrawChart();
  return absl::OkStatus();
}

void EvalLog::DrawChart() {
  const absl::Status drawn = ReplaceChart(chart_path_, RenderEvalChart(rows_));
  if (drawn.ok()) {
    if (!chart_ok_) LOG(INFO) << chart_path_ << ": drawn again";
    chart_ok_ = true;
  } else if (chart_ok_) {
    LOG(WARNING) << drawn.message() << " (the chart is skipped; evals.csv "
                 << "holds every row, and the next evaluation tries again)";
    chart_ok_ = false;
  }
}

absl::Status WriteSummary(const std::string& path,
                          const v1::JobSummary& summary) {
  return WriteFileAtomically(path, ProtoJson(summary));
}

absl::Status WriteLabels(const std::string& path,
                         const std::vector<std::string>& labels) {
  std::string json = "{\n  \"labels\": [";
  for (size_t c = 0; c < labels.size(); ++c) {
    absl::StrAppend(&json, c == 0 ? "" : ", ", JsonString(labels[c]));
  }
  return WriteFileAtomically(path, json + "]\n}\n");
}

absl::Status WriteRounds(const std::string& path,
                         const std::vector<v1::FederatedRound>& rounds) {
  std::string csv = absl::StrCat(kRoundsCsvHeader, "\n");
  auto optional = [](bool has, double value) {
    return has ? absl::StrFormat("%.6g", value) : std::string();
  };
  std::vector<EvalRow> chart;
  for (const v1::FederatedRound& r : rounds) {
    absl::StrAppend(
        &csv, r.round(), ",", r.attempts(), ",", r.sampled(), ",",
        r.participants(), ",", r.dropped(), ",", r.late(), ",", r.examples(),
        ",", absl::StrFormat("%.6g,%.6g", r.update_norm(), r.train_loss()), ",",
        optional(r.has_test_accuracy(), r.test_accuracy()), ",",
        optional(r.has_test_loss(), r.test_loss()), ",",
        optional(r.has_client_accuracy_mean(), r.client_accuracy_mean()), ",",
        optional(r.has_client_accuracy_p10(), r.client_accuracy_p10()), ",",
        absl::StrFormat("%.6f,%.6g", r.seconds(), r.simulated_seconds()), ",",
        optional(r.has_epsilon(), r.epsilon()), ",",
        optional(r.has_epsilon_tight(), r.epsilon_tight()), ",",
        optional(r.has_clip_norm(), r.clip_norm()), ",",
        r.has_secure_clients() ? absl::StrCat(r.secure_clients()) : "", ",",
        r.has_secure_dropped() ? absl::StrCat(r.secure_dropped()) : "", "\n");
    EvalRow row;
    row.step = r.round() + 1;
    row.epoch = static_cast<double>(r.round() + 1);
    row.train_loss = r.train_loss();
    if (r.has_test_loss()) row.test_loss = r.test_loss();
    if (r.has_test_accuracy()) row.test_accuracy = r.test_accuracy();
    chart.push_back(row);
  }
  RETURN_IF_ERROR(WriteFileAtomically(path, csv));
  std::string chart_path = path;
  chart_path.replace(chart_path.size() - 4, 4, ".svg");
  return WriteFileAtomically(chart_path, RenderEvalChart(chart));
}

absl::Status WriteParameters(const std::string& path,
                             const SavedParameters& params) {
  if (params.rows.size() != params.keys.size() * params.row_width) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": ", params.keys.size(), " rows of ", params.row_width,
        " floats need ", params.keys.size() * params.row_width, ", got ",
        params.rows.size()));
  }
  std::string bytes(kParametersMagic, 8);
  AppendU64(params.step, &bytes);
  AppendU64(params.dense.size(), &bytes);
  AppendU64(params.keys.size(), &bytes);
  AppendU64(params.row_width, &bytes);
  AppendRaw(params.dense.data(), params.dense.size() * sizeof(float), &bytes);
  AppendRaw(params.keys.data(), params.keys.size() * sizeof(uint64_t), &bytes);
  AppendRaw(params.rows.data(), params.rows.size() * sizeof(float), &bytes);
  return WriteFileAtomically(path, bytes);
}

absl::StatusOr<SavedParameters> ReadParameters(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot open"));
  std::stringstream buffer;
  buffer << in.rdbuf();
  const std::string bytes = buffer.str();
  auto corrupt = [&path](const std::string& why) {
    return absl::DataLossError(absl::StrCat(path, ": ", why));
  };
  if (bytes.size() < kParametersHeader ||
      bytes.compare(0, 8, kParametersMagic, 8) != 0) {
    return corrupt("not a descent parameters file (bad header)");
  }
  SavedParameters params;
  params.step = static_cast<int64_t>(ReadU64(bytes, 8));
  const uint64_t dense = ReadU64(bytes, 16);
  const uint64_t rows = ReadU64(bytes, 24);
  const uint64_t width = ReadU64(bytes, 32);
  // Sizes are checked in long double so that huge counts cannot wrap.
  const long double expected =
      kParametersHeader + 4.0L * dense + 8.0L * rows + 4.0L * rows * width;
  if (expected != static_cast<long double>(bytes.size())) {
    return corrupt(absl::StrCat(
        "holds ", bytes.size(), " bytes; its header (", dense, " parameters, ",
        rows, " rows of ", width, ") needs ", static_cast<double>(expected)));
  }
  params.row_width = static_cast<int64_t>(width);
  params.dense.resize(dense);
  params.keys.resize(rows);
  params.rows.resize(rows * width);
  size_t offset = kParametersHeader;
  auto take = [&](void* out, size_t size) {
    if (size > 0) std::memcpy(out, bytes.data() + offset, size);
    offset += size;
  };
  take(params.dense.data(), 4 * dense);
  take(params.keys.data(), 8 * rows);
  take(params.rows.data(), 4 * rows * width);
  return params;
}

}  // namespace descent
