// best_params.bin: what WriteParameters writes, ReadParameters reads back,
// byte for byte in the documented layout; corrupt files are DATA_LOSS.
// evals.svg: EvalLog redraws it beside evals.csv after each row.
#include "server/coordinator/job_output.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>

#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"

namespace descent {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream bytes;
  bytes << in.rdbuf();
  return bytes.str();
}

class ParametersFileTest : public ::testing::Test {
 protected:
  std::string Path(const std::string& name) {
    const std::string dir = ::testing::TempDir() + "/job_output_test";
    std::filesystem::create_directories(dir);
    return dir + "/" + name;
  }
};

// labels.json: the label of class c at index c, as JSON strings.
TEST_F(ParametersFileTest, LabelsFileListsEachClassLabelInOrder) {
  const std::string path = Path("labels.json");
  ASSERT_TRUE(WriteLabels(path, {"setosa", "say \"hi\"", "a\\b\tc"}).ok());
  EXPECT_EQ(Slurp(path),
            "{\n  \"labels\": [\"setosa\", \"say \\\"hi\\\"\", "
            "\"a\\\\b\\u0009c\"]\n}\n");
}

TEST_F(ParametersFileTest, DenseParametersRoundTripInTheDocumentedLayout) {
  SavedParameters saved;
  saved.step = 1200;
  saved.dense = {1.5f, -2.0f, 0.25f};
  const std::string path = Path("dense.bin");
  ASSERT_TRUE(WriteParameters(path, saved).ok());

  const std::string bytes = Slurp(path);
  ASSERT_EQ(bytes.size(), 40u + 3 * 4);
  EXPECT_EQ(bytes.substr(0, 8), "DSCTPRM1");
  uint64_t header[4];
  std::memcpy(header, bytes.data() + 8, sizeof(header));
  EXPECT_THAT(header, ElementsAre(1200, 3, 0, 0));  // step, P, K, W
  float second;
  std::memcpy(&second, bytes.data() + 44, 4);
  EXPECT_EQ(second, -2.0f);

  absl::StatusOr<SavedParameters> read = ReadParameters(path);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->step, 1200);
  EXPECT_EQ(read->dense, saved.dense);
  EXPECT_TRUE(read->keys.empty());
  EXPECT_EQ(read->row_width, 0);
}

TEST_F(ParametersFileTest, SparseRowsRoundTrip) {
  SavedParameters saved;
  saved.step = 7;
  saved.dense = {0.5f};
  saved.keys = {3, 90, uint64_t{1} << 60};
  saved.row_width = 2;
  saved.rows = {1, 2, 3, 4, 5, 6};
  const std::string path = Path("sparse.bin");
  ASSERT_TRUE(WriteParameters(path, saved).ok());
  EXPECT_EQ(Slurp(path).size(), 40u + 4 + 3 * 8 + 6 * 4);
  absl::StatusOr<SavedParameters> read = ReadParameters(path);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->dense, saved.dense);
  EXPECT_EQ(read->keys, saved.keys);
  EXPECT_EQ(read->row_width, 2);
  EXPECT_EQ(read->rows, saved.rows);
}

TEST_F(ParametersFileTest, MismatchedRowsAreRefused) {
  SavedParameters saved;
  saved.keys = {1, 2};
  saved.row_width = 3;
  saved.rows = {1, 2, 3};
  const std::string path = Path("refused.bin");
  EXPECT_EQ(WriteParameters(path, saved).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(std::filesystem::exists(path));
}

TEST_F(ParametersFileTest, CorruptFilesAreDataLossNamingThePath) {
  SavedParameters saved;
  saved.dense = {1, 2, 3, 4};
  const std::string path = Path("corrupt.bin");
  ASSERT_TRUE(WriteParameters(path, saved).ok());
  const std::string bytes = Slurp(path);
  const std::vector<std::pair<std::string, std::string>> cases = {
      {bytes.substr(0, bytes.size() - 1), "needs 56"},  // truncated
      {bytes + "x", "holds 57 bytes"},                  // trailing data
      {"XSCTPRM1" + bytes.substr(8), "bad header"},
      {bytes.substr(0, 20), "bad header"}};
  for (const auto& [contents, message] : cases) {
    std::ofstream(path, std::ios::binary | std::ios::trunc) << contents;
    absl::StatusOr<SavedParameters> read = ReadParameters(path);
    ASSERT_EQ(read.status().code(), absl::StatusCode::kDataLoss) << message;
    EXPECT_THAT(read.status().message(), HasSubstr(path));
    EXPECT_THAT(read.status().message(), HasSubstr(message));
  }
  EXPECT_EQ(ReadParameters(Path("missing.bin")).status().code(),
            absl::StatusCode::kNotFound);
}

// The points of the polyline `id` in the SVG `chart` (-1: no such line).
int PolylinePoints(const std::string& chart, const std::string& id) {
  const size_t line = chart.find("<polyline id=\"" + id + "\"");
  if (line == std::string::npos) return -1;
  const size_t start = chart.find("points=\"", line) + 8;
  const std::string points =
      chart.substr(start, chart.find('"', start) - start);
  return std::count(points.begin(), points.end(), ',');
}

TEST(EvalLogTest, RedrawsTheChartBesideTheCsvAfterEachRow) {
  const std::string dir = ::testing::TempDir() + "/job_output_test_evals";
  std::filesystem::create_directories(dir);
  absl::StatusOr<std::unique_ptr<EvalLog>> log =
      EvalLog::Create(dir + "/evals.csv");
  ASSERT_TRUE(log.ok()) << log.status();
  EXPECT_THAT(Slurp(dir + "/evals.svg"), HasSubstr("no evaluations yet"));
  v1::Evaluation evaluation;
  for (int step : {100, 200}) {
    evaluation.set_step(step);
    evaluation.set_test_loss(1.0 / step);
    evaluation.set_test_accuracy(0.5 + step / 1000.0);
    ASSERT_TRUE((*log)->Append(evaluation).ok());
  }
  const std::string chart = Slurp(dir + "/evals.svg");
  EXPECT_EQ(PolylinePoints(chart, "test_accuracy"), 2);
  EXPECT_EQ(PolylinePoints(chart, "test_loss"), 2);
  EXPECT_EQ(PolylinePoints(chart, "test_rmse"), -1);  // a classifier's job
  EXPECT_THAT(chart, HasSubstr("2 evaluations, last at step 200"));
}

// The chart is a view of evals.csv: one that cannot be written (here
// evals.svg is a directory the rename cannot replace, as a full disk would
// fail the write) fails neither Create nor Append, leaves no temporary
// file, and is drawn again once it can be.
TEST(EvalLogTest, AChartThatCannotBeWrittenIsSkippedNotAnError) {
  const std::string dir = ::testing::TempDir() + "/job_output_test_nochart";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir + "/evals.svg");
  std::ofstream(dir + "/evals.svg/keep") << "x";
  absl::StatusOr<std::unique_ptr<EvalLog>> log =
      EvalLog::Create(dir + "/evals.csv");
  ASSERT_TRUE(log.ok()) << log.status();
  v1::Evaluation evaluation;
  evaluation.set_step(100);
  evaluation.set_test_accuracy(0.5);
  EXPECT_TRUE((*log)->Append(evaluation).ok());
  EXPECT_FALSE(std::filesystem::exists(dir + "/evals.svg.tmp"));
  EXPECT_THAT(Slurp(dir + "/evals.csv"), HasSubstr("\n100,"));
  std::filesystem::remove_all(dir + "/evals.svg");
  evaluation.set_step(200);
  EXPECT_TRUE((*log)->Append(evaluation).ok());
  EXPECT_THAT(Slurp(dir + "/evals.svg"),
              HasSubstr("2 evaluations, last at step 200"));
}

// A regression job's summary.json: int64 fields are JSON numbers, not
// strings; fields that do not apply are absent, not 0; the file reads back
// as the same message.
TEST(SummaryFileTest, NumbersAsNumbersAndOnlyTheFieldsThatApply) {
  const std::string dir = ::testing::TempDir() + "/job_output_test_summary";
  std::filesystem::create_directories(dir);
  v1::JobSummary summary;
  summary.set_state("SUCCEEDED");
  summary.mutable_config()->mutable_train()->set_eval_every_steps(1000);
  summary.mutable_config()
      ->mutable_data()
      ->mutable_synthetic()
      ->set_train_examples(8000000000);
  summary.mutable_config()->mutable_model()->mutable_mlp()->add_hidden(32);
  summary.set_test_loss(3400.5);
  summary.set_test_rmse(58.3);
  summary.set_steps(138);
  summary.set_selected_step(120);
  summary.set_eval_every_steps(6);
  summary.set_selected_on("test \"quoted\"\n");
  v1::Evaluation* row = summary.add_history();
  row->set_step(120);
  row->set_parameter_version(118);
  row->set_test_loss(std::numeric_limits<double>::quiet_NaN());
  const std::string path = dir + "/summary.json";
  ASSERT_TRUE(WriteSummary(path, summary).ok());
  const std::string json = Slurp(path);
  EXPECT_THAT(json, HasSubstr("\"eval_every_steps\": 1000"));
  EXPECT_THAT(json, HasSubstr("\"train_examples\": 8000000000"));
  EXPECT_THAT(json, HasSubstr("\"selected_step\": 120"));
  EXPECT_THAT(json, HasSubstr("\"parameter_version\": 118"));
  EXPECT_THAT(json, HasSubstr("\"steps\": 138"));
  EXPECT_THAT(json, HasSubstr("\"test_rmse\": 58.3"));
  EXPECT_THAT(json, Not(HasSubstr("test_accuracy")));
  EXPECT_THAT(json, Not(HasSubstr("test_auc")));
  EXPECT_THAT(json, Not(HasSubstr("planted_")));
  EXPECT_THAT(json, Not(HasSubstr("best_step")));
  EXPECT_THAT(json, Not(HasSubstr("stopped_early")));
  EXPECT_THAT(json, Not(HasSubstr("\"error\"")));
  EXPECT_THAT(json, Not(HasSubstr("\"1000\"")));
  v1::JobSummary read;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(json, &read).ok())
      << json;
  EXPECT_TRUE(std::isnan(read.history(0).test_loss()));
  read.mutable_history(0)->clear_test_loss();
  summary.mutable_history(0)->clear_test_loss();
  EXPECT_EQ(read.SerializeAsString(), summary.SerializeAsString()) << json;
}

}  // namespace
}  // namespace descent
