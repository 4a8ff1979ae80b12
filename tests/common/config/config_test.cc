#include "common/config/config.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/config/job_options.h"
#include "common/optim/optimizer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace descent {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// Columns in the expectations below count from this exact layout.
// clang-format off
constexpr char kValid[] = R"pb(cluster { num_servers: 2 num_workers: 2 }
model { softmax_regression {} }
data {
  idx {
    train_images: "train-images.gz"
    train_labels: "train-labels.gz"
    test_images: "test-images.gz"
    test_labels: "test-labels.gz"
  }
}
train { epochs: 3 batch_size: 64 }
optimizer { sgd { learning_rate: 0.05 } }
)pb";
// clang-format on

absl::StatusOr<v1::JobConfig> Parse(const std::string& text,
                                    std::vector<std::string> overrides = {}) {
  return ParseJobConfig(text, "job.textproto", overrides);
}

TEST(ConfigTest, ParsesValidConfigAndAppliesDefaults) {
  absl::StatusOr<v1::JobConfig> config = Parse(kValid);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->cluster().num_servers(), 2);
  EXPECT_EQ(config->train().epochs(), 3);
  EXPECT_DOUBLE_EQ(config->optimizer().sgd().learning_rate(), 0.05);
  // Absent optional fields get their documented defaults.
  EXPECT_EQ(config->train().seed(), 1u);
  // Unset: the coordinator derives it from the job's total steps.
  EXPECT_FALSE(config->train().has_eval_every_steps());
  EXPECT_EQ(config->data().idx().num_classes(), 10);
  EXPECT_DOUBLE_EQ(config->cluster().heartbeat_timeout_seconds(), 10);
  EXPECT_EQ(config->train().consistency(), v1::ASP);
  EXPECT_EQ(config->model().softmax_regression().weight_init(),
            v1::XAVIER_UNIFORM);
}

TEST(ConfigTest, UnknownFieldNamesFileLineAndColumn) {
  std::string text = kValid;
  // Line 11 becomes "train { epochs: 3 batch_size: 64 epoch: 3 }".
  text.replace(text.find("64"), 2, "64 epoch: 3");
  absl::StatusOr<v1::JobConfig> config = Parse(text);
  ASSERT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(
      std::string(config.status().message()),
      HasSubstr("job.textproto:11:39"));  // protobuf points past the name
  EXPECT_THAT(std::string(config.status().message()),
              HasSubstr("no field named \"epoch\""));
}

TEST(ConfigTest, UnknownFieldListsTheValidNamesAndTheNearest) {
  std::string text = kValid;
  text.replace(text.find("64"), 2, "64 epoch: 3");
  absl::StatusOr<v1::JobConfig> config = Parse(text);
  ASSERT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  const std::string message(config.status().message());
  EXPECT_THAT(message, HasSubstr("did you mean \"epochs\"?")) << message;
  EXPECT_THAT(message, HasSubstr("batch_size")) << message;
  EXPECT_THAT(message, HasSubstr("eval_every_steps")) << message;
}

TEST(ConfigTest, UnknownEnumValueListsTheValidNamesAndTheNearest) {
  std::string text = kValid;
  text.replace(text.find("epochs: 3"), 9, "consistency: BPS");
  absl::StatusOr<v1::JobConfig> config = Parse(text);
  ASSERT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  const std::string message(config.status().message());
  EXPECT_THAT(message, HasSubstr("job.textproto:11:")) << message;
  EXPECT_THAT(message, HasSubstr("did you mean \"BSP\"?")) << message;
  EXPECT_THAT(message, HasSubstr("ASP, BSP, SSP")) << message;
  // The proto3 zero value is a placeholder, not a choice.
  EXPECT_THAT(message, Not(HasSubstr("UNSPECIFIED"))) << message;
}

// A far-off name gets the list but no guess.
TEST(ConfigTest, NoGuessForAFarOffName) {
  absl::StatusOr<v1::JobConfig> config = Parse(kValid, {"train.xyzzy=1"});
  ASSERT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  const std::string message(config.status().message());
  EXPECT_THAT(message, Not(HasSubstr("did you mean"))) << message;
  EXPECT_THAT(message, HasSubstr("epochs")) << message;
}

TEST(ConfigTest, SyntaxErrorNamesLineAndColumn) {
  absl::StatusOr<v1::JobConfig> config = Parse("train { epochs: }\n");
  ASSERT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(config.status().message(), HasSubstr("job.textproto:1:17"));
}

TEST(ConfigTest, TypeErrorNamesLineAndColumn) {
  absl::StatusOr<v1::JobConfig> config =
      Parse("train {\n  epochs: \"three\"\n}\n");
  ASSERT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(config.status().message(), HasSubstr("job.textproto:2:"));
}

// A value that parses but breaks a rule is reported where it was written.
TEST(ConfigTest, BadValueNamesItsLocation) {
  struct Case {
    std::string replace, with, location, path;
  };
  const std::vector<Case> cases = {
      {"epochs: 3", "epochs: 0", "job.textproto:11:9", "train.epochs"},
      {"batch_size: 64", "batch_size: -1", "job.textproto:11:19",
       "train.batch_size"},
      {"learning_rate: 0.05", "learning_rate: nan", "job.textproto:12:19",
       "optimizer.sgd.learning_rate"},
      {"num_servers: 2", "num_servers: 0", "job.textproto:1:11",
       "cluster.num_servers"},
  };
  for (const Case& c : cases) {
    std::string text = kValid;
    text.replace(text.find(c.replace), c.replace.size(), c.with);
    absl::StatusOr<v1::JobConfig> config = Parse(text);
    ASSERT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument)
        << c.with;
    EXPECT_THAT(config.status().message(), HasSubstr(c.location)) << c.with;
    EXPECT_THAT(config.status().message(), HasSubstr(c.path)) << c.with;
  }
}

TEST(ConfigTest, MissingSectionsAreReported) {
  absl::StatusOr<v1::JobConfig> config = Parse("train { epochs: 1 }\n");
  ASSERT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(config.status().message(), HasSubstr("model"));
}

TEST(ConfigTest, OverridesApplyAfterTheFile) {
  absl::StatusOr<v1::JobConfig> config =
      Parse(kValid, {"train.epochs=1", "cluster.num_workers=4",
                     "optimizer.sgd.learning_rate=0.5",
                     "data.idx.train_images=/data/x y.gz", "job_id=run-7",
                     "model.softmax_regression.weight_init=ZEROS"});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->train().epochs(), 1);
  EXPECT_EQ(config->cluster().num_workers(), 4);
  EXPECT_DOUBLE_EQ(config->optimizer().sgd().learning_rate(), 0.5);
  EXPECT_EQ(config->data().idx().train_images(), "/data/x y.gz");
  EXPECT_EQ(config->job_id(), "run-7");
  EXPECT_EQ(config->model().softmax_regression().weight_init(), v1::ZEROS);
}

TEST(ConfigTest, LaterOverrideWins) {
  absl::StatusOr<v1::JobConfig> config =
      Parse(kValid, {"train.epochs=1", "train.epochs=5"});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->train().epochs(), 5);
}

TEST(ConfigTest, OverrideErrorsNameTheFlag) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"train.epochs=x", "cannot parse \"x\""},
      {"train.epoch=1", "no field named \"epoch\""},
      {"train.epoch=1", "did you mean \"epochs\"?"},
      {"train.consistency=SOMETIMES", "valid values: ASP, BSP, SSP"},
      {"train.consistency=BPS", "did you mean \"BSP\"?"},
      {"optimizer.sgd={learning_rate: x}", "learning_rate"},
      {"train.epochs.deep=1", "is not a message"},
      {"train.epochs", "expected PATH=VALUE"},
      {"=3", "expected PATH=VALUE"},
      {"train.consistency=SOMETIMES", "cannot parse"},
  };
  for (const auto& [flag, expected] : cases) {
    absl::StatusOr<v1::JobConfig> config = Parse(kValid, {flag});
    ASSERT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument)
        << flag;
    EXPECT_THAT(config.status().message(), HasSubstr("--set " + flag)) << flag;
    EXPECT_THAT(config.status().message(), HasSubstr(expected)) << flag;
  }
}

constexpr char kMlp[] = R"pb(model { mlp { hidden: [ 256, 128 ] } }
                             data {
                               idx {
                                 train_images: "a"
                                 train_labels: "b"
                                 test_images: "c"
                                 test_labels: "d"
                               }
                             }
                             optimizer { sgd { learning_rate: 0.05 } }
)pb";

TEST(ConfigTest, OverrideReplacesARepeatedField) {
  absl::StatusOr<v1::JobConfig> config =
      Parse(kMlp, {"model.mlp.hidden=[32,16]"});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_THAT(config->model().mlp().hidden(), ::testing::ElementsAre(32, 16));

  config = Parse(kMlp, {"model.mlp.hidden=64"});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_THAT(config->model().mlp().hidden(), ::testing::ElementsAre(64));

  config = Parse(kMlp, {"model.mlp.hidden=[]"});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_TRUE(config->model().mlp().hidden().empty());

  config = Parse(kMlp, {"model.mlp.hiden=[3]"});
  ASSERT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(config.status().message(), HasSubstr("did you mean \"hidden\"?"));

  config = Parse(kMlp, {"model.mlp.layers.units=3"});
  ASSERT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(config.status().message(),
              HasSubstr("model.mlp.layers is repeated; give the whole list, "
                        "e.g. --set model.mlp.layers=[{units: 3}]"));

  config = Parse(kMlp, {"model.mlp.hidden=[32,x]"});
  ASSERT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(config.status().message(),
              HasSubstr("--set model.mlp.hidden=[32,x]: "));
}

TEST(ConfigTest, OverrideOfARepeatedMessageField) {
  absl::StatusOr<v1::JobConfig> config = Parse(
      kMlp, {"model.mlp.hidden=[]",
             "model.mlp.layers=[{units: 8 activation: TANH}, {units: 4}]"});
  ASSERT_TRUE(config.ok()) << config.status();
  ASSERT_EQ(config->model().mlp().layers_size(), 2);
  EXPECT_EQ(config->model().mlp().layers(0).units(), 8);
  EXPECT_EQ(config->model().mlp().layers(0).activation(), v1::TANH);
  EXPECT_EQ(config->model().mlp().layers(1).units(), 4);
}

// Setting one field of a oneof member that is not the chosen one would
// silently switch the member (and drop the chosen one's settings).
TEST(ConfigTest, OverrideInsideAnotherOneofMemberIsRefused) {
  absl::StatusOr<v1::JobConfig> config =
      Parse(kValid, {"optimizer.adam.learning_rate=0.01"});
  ASSERT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  const std::string message(config.status().message());
  EXPECT_THAT(message, HasSubstr("--set optimizer.adam.learning_rate=0.01: "))
      << message;
  EXPECT_THAT(message, HasSubstr("optimizer.sgd")) << message;
  EXPECT_THAT(message, HasSubstr("optimizer.adam={learning_rate: 0.01}"))
      << message;

  // The chosen member's own fields are fine.
  config = Parse(kValid, {"optimizer.sgd.learning_rate=0.01"});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_DOUBLE_EQ(config->optimizer().sgd().learning_rate(), 0.01);
}

TEST(ConfigTest, OverrideOfAWholeOneofMemberSwitchesIt) {
  absl::StatusOr<v1::JobConfig> config = Parse(
      kValid,
      {"optimizer.adam={learning_rate: 0.01}", "model.logistic_regression={}"});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_TRUE(config->optimizer().has_adam());
  EXPECT_FALSE(config->optimizer().has_sgd());
  EXPECT_DOUBLE_EQ(config->optimizer().adam().learning_rate(), 0.01);
  EXPECT_TRUE(config->model().has_logistic_regression());
  // A member given whole, then one of its fields.
  config = Parse(kValid,
                 {"optimizer.momentum={}", "optimizer.momentum.momentum=0.5"});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_DOUBLE_EQ(config->optimizer().momentum().momentum(), 0.5);
}

// Errors are reported once, in the returned status: protobuf's own
// "[libprotobuf ERROR ...]" line must not reach stderr as well.
TEST(ConfigTest, ParseErrorsDoNotAlsoGoToStderr) {
  std::string bad_file = kValid;
  bad_file.replace(bad_file.find("epochs: 3"), 9, "consistency: BPS");
  for (const std::vector<std::string>& overrides :
       std::vector<std::vector<std::string>>{
           {"model.logistic_regression={x}"},
           {"train.consistency=BPS"},
           {"optimizer.sgd={learning_rate: x}"},
           {"model.softmax_regression.weight_init=NOPE"}}) {
    ::testing::internal::CaptureStderr();
    EXPECT_FALSE(Parse(kValid, overrides).ok());
    EXPECT_EQ(::testing::internal::GetCapturedStderr(), "") << overrides[0];
  }
  ::testing::internal::CaptureStderr();
  EXPECT_FALSE(Parse(bad_file).ok());
  EXPECT_EQ(::testing::internal::GetCapturedStderr(), "");
}

TEST(ConfigTest, InvalidOverriddenValueBlamesTheFlag) {
  absl::StatusOr<v1::JobConfig> config = Parse(kValid, {"train.epochs=0"});
  ASSERT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(config.status().message(),
              HasSubstr("--set train.epochs=0: train.epochs: must be in"));
}

TEST(ConfigTest, FailedOverrideLeavesConfigUnchanged) {
  v1::JobConfig config;
  config.mutable_train()->set_epochs(3);
  EXPECT_FALSE(ApplyOverride("train.epochs=oops", &config).ok());
  EXPECT_EQ(config.train().epochs(), 3);
}

TEST(ConfigTest, MissingFileIsNotFoundAndNamed) {
  absl::StatusOr<v1::JobConfig> config =
      LoadJobConfig("/nonexistent/job.textproto", {});
  ASSERT_EQ(config.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(config.status().message(),
              HasSubstr("/nonexistent/job.textproto"));
}

TEST(ConfigTest, TextRoundTrips) {
  absl::StatusOr<v1::JobConfig> config = Parse(kValid, {"job_id=abc"});
  ASSERT_TRUE(config.ok());
  absl::StatusOr<v1::JobConfig> again = Parse(JobConfigToText(*config));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->SerializeAsString(), config->SerializeAsString());
}

TEST(ConfigTest, ConfigHashIgnoresTheJobIdAndNothingElse) {
  absl::StatusOr<v1::JobConfig> a = Parse(kValid, {"job_id=a"});
  absl::StatusOr<v1::JobConfig> b = Parse(kValid, {"job_id=b"});
  absl::StatusOr<v1::JobConfig> c = Parse(kValid, {"train.epochs=4"});
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  const std::string hash = ConfigHash(*a);
  EXPECT_THAT(hash, ::testing::MatchesRegex("[0-9a-f]{16}"));
  EXPECT_EQ(ConfigHash(*b), hash);
  EXPECT_NE(ConfigHash(*c), hash);
  // FNV-1a of the text, as written down: a change of function would change
  // every dashboard's hashes.
  v1::JobConfig empty;
  EXPECT_EQ(ConfigHash(empty), "cbf29ce484222325");  // FNV-1a of ""
}

// Replaces the model and data sections of kValid.
std::string WithModelAndData(const std::string& model,
                             const std::string& data) {
  return "cluster { num_servers: 2 num_workers: 2 }\nmodel { " + model +
         " }\ndata { " + data +
         " }\ntrain { epochs: 1 }\noptimizer { sgd {} }\n";
}

constexpr char kIdx[] =
    "idx { train_images: \"a\" train_labels: \"b\" test_images: \"c\" "
    "test_labels: \"d\" }";

TEST(ConfigTest, ModelDefaults) {
  absl::StatusOr<v1::JobConfig> mlp =
      Parse(WithModelAndData("mlp { hidden: [256, 128] }", kIdx));
  ASSERT_TRUE(mlp.ok()) << mlp.status();
  EXPECT_EQ(mlp->model().mlp().activation(), v1::RELU);
  EXPECT_EQ(mlp->model().mlp().init(), v1::HE_NORMAL);
  absl::StatusOr<v1::JobConfig> layered = Parse(WithModelAndData(
      "mlp { activation: TANH layers { units: 4 } layers { units: 2 "
      "activation: SIGMOID } }",
      kIdx));
  ASSERT_TRUE(layered.ok()) << layered.status();
  EXPECT_EQ(layered->model().mlp().layers(0).activation(), v1::TANH);
  EXPECT_EQ(layered->model().mlp().layers(1).activation(), v1::SIGMOID);

  absl::StatusOr<v1::JobConfig> cnn = Parse(
      WithModelAndData("cnn { layers { conv { out_channels: 4 kernel: 3 } } "
                       "layers { max_pool { size: 2 } } }",
                       kIdx));
  ASSERT_TRUE(cnn.ok()) << cnn.status();
  EXPECT_EQ(cnn->model().cnn().layers(0).conv().stride(), 1);
  EXPECT_EQ(cnn->model().cnn().layers(0).conv().activation(), v1::RELU);
  EXPECT_EQ(cnn->model().cnn().layers(1).max_pool().stride(), 2);

  absl::StatusOr<v1::JobConfig> fm = Parse(WithModelAndData(
      "factorization_machine {}", "synthetic { kind: CTR features: 100 }"));
  ASSERT_TRUE(fm.ok()) << fm.status();
  EXPECT_EQ(fm->model().factorization_machine().factor_dim(), 8);
  EXPECT_EQ(fm->data().synthetic().nnz_per_row(), 10);
  EXPECT_EQ(fm->data().synthetic().train_examples(), 10000);

  absl::StatusOr<v1::JobConfig> mf = Parse(
      WithModelAndData("matrix_factorization {}", "ratings { train: \"r\" }"));
  ASSERT_TRUE(mf.ok()) << mf.status();
  EXPECT_EQ(mf->model().matrix_factorization().rank(), 8);
  EXPECT_TRUE(mf->model().matrix_factorization().biases());
  EXPECT_EQ(mf->data().ratings().test_every(), 5);

  absl::StatusOr<v1::JobConfig> csv =
      Parse(WithModelAndData("logistic_regression {}", "csv { train: \"t\" }"));
  ASSERT_TRUE(csv.ok()) << csv.status();
  EXPECT_FALSE(csv->data().csv().has_header());  // detected from the file
  EXPECT_EQ(csv->data().csv().label_index(), -1);
  EXPECT_EQ(csv->data().csv().test_every(), 5);
}

TEST(ConfigTest, ModelAndDataRulesNameTheField) {
  struct Case {
    std::string model, data, path;
  };
  const std::vector<Case> cases = {
      {"mlp { hidden: [0] }", kIdx, "model.mlp.hidden[0]"},
      {"mlp { layers { units: 0 } }", kIdx, "model.mlp.layers[0].units"},
      {"mlp { hidden: [3] layers { units: 3 } }", kIdx, "model.mlp"},
      {"cnn {}", kIdx, "model.cnn"},
      {"cnn { preset: LENET5 layers { dense { units: 3 } } }", kIdx,
       "model.cnn"},
      {"cnn { layers { conv { out_channels: 4 } } }", kIdx,
       "model.cnn.layers[0].conv.kernel"},
      {"cnn { layers {} }", kIdx, "model.cnn.layers[0]"},
      {"cnn { preset: LENET5 }", "csv { train: \"t\" }", "model.cnn"},
      {"softmax_regression {} l1: 0.1", kIdx, "model.l1"},
      {"softmax_regression {} l2: -1", kIdx, "model.l2"},
      {"factorization_machine { factor_dim: 0 }",
       "synthetic { kind: CTR features: 100 }",
       "model.factorization_machine.factor_dim"},
      {"matrix_factorization {}", kIdx, "model.matrix_factorization"},
      {"linear_regression {}", "ratings { train: \"r\" }", "data.ratings"},
      {"linear_regression {}", "synthetic { kind: RATINGS }",
       "data.synthetic.kind"},
      {"linear_regression {}", "synthetic {}", "data.synthetic.kind"},
      {"factorization_machine {}", "synthetic { kind: CTR features: 10 }",
       "data.synthetic.nnz_per_row"},
      {"matrix_factorization {}",
       "synthetic { kind: RATINGS users: 10 items: 10 }",
       "data.synthetic.train_examples + test_examples"},
      {"linear_regression {}", "csv {}", "data.csv.train"},
      {"linear_regression {}", "csv { train: \"t\" delimiter: \";;\" }",
       "data.csv.delimiter"},
      {"linear_regression {}", "csv { train: \"t\" delimiter: \"\\\"\" }",
       "data.csv.delimiter"},
      {"linear_regression {}", "csv { train: \"t\" test_every: 1 }",
       "data.csv.test_every"},
      {"logistic_regression {}", "libsvm { train: \"t\" num_classes: -1 }",
       "data.libsvm.num_classes"},
      {"softmax_regression {}",
       "idx { train_images: \"a\" train_labels: \"b\" test_images: \"c\" "
       "test_labels: \"d\" max_train_examples: -5 }",
       "data.idx.max_train_examples"},
      {"linear_regression {}",
       "csv { train: \"t\" validation: \"v\" } validation_fraction: 0.1",
       "data.validation_fraction: holds out part of the training data, but "
       "data.csv.validation already names a validation file"},
      {"softmax_regression {}",
       "idx { train_images: \"a\" train_labels: \"b\" test_images: \"c\" "
       "test_labels: \"d\" validation_images: \"e\" }",
       "data.idx.validation_labels: validation images and labels go "
       "together"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<v1::JobConfig> config =
        Parse(WithModelAndData(c.model, c.data));
    ASSERT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument)
        << c.model << " / " << c.data;
    EXPECT_THAT(config.status().message(), HasSubstr(c.path))
        << c.model << " / " << c.data;
  }
}

TEST(ConfigTest, OptimizersAndSchedulesAreValidated) {
  auto with_optimizer = [](const std::string& optimizer) {
    std::string text = WithModelAndData("softmax_regression {}", kIdx);
    const std::string sgd = "optimizer { sgd {} }";
    return text.replace(text.find(sgd), sgd.size(),
                        "optimizer { " + optimizer + " }");
  };
  for (const char* valid :
       {"adam { learning_rate: 0.01 }", "adamw {}",
        "momentum { nesterov: true }", "adagrad {}", "rmsprop {}",
        "ftrl { l1: 0.1 }",
        "sgd {} schedule { kind: COSINE period: 100 warmup_steps: 10 }"}) {
    absl::StatusOr<v1::JobConfig> config = Parse(with_optimizer(valid));
    EXPECT_TRUE(config.ok()) << valid << ": " << config.status();
  }
  // Each problem is reported once, at the field's full path.
  const std::vector<std::pair<std::string, std::string>> invalid = {
      {"adam { beta1: 1.5 }",
       "optimizer.adam.beta1: must be in [0, 1), got 1.5"},
      {"adam { learning_rate: -1 }",
       "optimizer.adam.learning_rate: must be a finite number > 0, got -1"},
      {"momentum { momentum: -0.5 }",
       "optimizer.momentum.momentum: must be in [0, 1), got -0.5"},
      {"adamw { weight_decay: -1 }",
       "optimizer.adamw.weight_decay: must be a finite number >= 0, got -1"},
      {"adagrad { eps: 0 }",
       "optimizer.adagrad.eps: must be a finite number > 0, got 0"},
      {"rmsprop { alpha: 1 }",
       "optimizer.rmsprop.alpha: must be in [0, 1), got 1"},
      {"ftrl { learning_rate_power: 0.5 }",
       "optimizer.ftrl.learning_rate_power: must be a finite number <= 0, "
       "got 0.5"},
      {"sgd {} schedule { kind: STEP_DECAY step_size: 0 }",
       "optimizer.schedule.step_size: must be > 0, got 0"},
      {"sgd {} schedule { kind: COSINE min_learning_rate: 0.5 }",
       "optimizer.schedule.min_learning_rate: must be in [0, 0.1] (at most "
       "the learning rate), got 0.5"},
  };
  for (const auto& [optimizer, message] : invalid) {
    absl::StatusOr<v1::JobConfig> config = Parse(with_optimizer(optimizer));
    ASSERT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument)
        << optimizer;
    const std::string error(config.status().message());
    EXPECT_TRUE(absl::StartsWith(error, "job.textproto:5:")) << error;
    EXPECT_TRUE(absl::EndsWith(error, ": " + message)) << error;
  }
}

// Every optimizer field job.proto gives a default is filled in, and of the
// schedule only those its kind reads.
TEST(ConfigTest, OptimizerDefaultsAreFilledIn) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"sgd {}", "sgd { learning_rate: 0.1 }"},
      {"momentum { nesterov: true }",
       "momentum { learning_rate: 0.1 momentum: 0.9 nesterov: true }"},
      {"adagrad {}", "adagrad { learning_rate: 0.01 eps: 1e-10 }"},
      {"rmsprop {}", "rmsprop { learning_rate: 0.01 alpha: 0.99 eps: 1e-08 }"},
      {"adam {}",
       "adam { learning_rate: 0.001 beta1: 0.9 beta2: 0.999 eps: 1e-08 "
       "weight_decay: 0 }"},
      {"adamw { learning_rate: 0.01 }",
       "adamw { learning_rate: 0.01 beta1: 0.9 beta2: 0.999 eps: 1e-08 "
       "weight_decay: 0.01 }"},
      {"ftrl { l1: 1 }",
       "ftrl { learning_rate: 0.1 beta: 1 l1: 1 learning_rate_power: -0.5 }"},
      {"sgd {} schedule { kind: STEP_DECAY }",
       "sgd { learning_rate: 0.1 } schedule { kind: STEP_DECAY gamma: 0.1 "
       "step_size: 1000 }"},
      {"sgd {} schedule { kind: EXPONENTIAL }",
       "sgd { learning_rate: 0.1 } schedule { kind: EXPONENTIAL gamma: 0.1 }"},
      {"sgd {} schedule { kind: COSINE restarts: true }",
       "sgd { learning_rate: 0.1 } schedule { kind: COSINE period: 1000 "
       "restarts: true period_multiplier: 1 }"},
      {"sgd {} schedule { kind: INVERSE_SQRT }",
       "sgd { learning_rate: 0.1 } schedule { kind: INVERSE_SQRT "
       "inverse_sqrt_steps: 1 }"},
  };
  for (const auto& [optimizer, resolved] : cases) {
    absl::StatusOr<v1::JobConfig> config =
        Parse(WithModelAndData("softmax_regression {}", kIdx),
              {"optimizer=" + optimizer});
    ASSERT_TRUE(config.ok()) << optimizer << ": " << config.status();
    EXPECT_EQ(config->optimizer().ShortDebugString(), resolved);
  }
}

TEST(ConfigTest, TrainingGuardsHaveDefaultsAndRules) {
  absl::StatusOr<v1::JobConfig> defaults = Parse(kValid);
  ASSERT_TRUE(defaults.ok()) << defaults.status();
  EXPECT_EQ(defaults->train().max_loss_factor(), 100);
  EXPECT_EQ(defaults->train().early_stopping().patience(), 0);  // off
  EXPECT_EQ(defaults->train().gradient_norm_band().max(), 0);   // off
  for (std::vector<std::string> valid : std::vector<std::vector<std::string>>{
           {"train.early_stopping.patience=3",
            "train.early_stopping.min_delta=0.01"},
           {"train.max_loss_factor=0"},
           {"train.max_loss_factor=1e6"},
           {"train.gradient_norm_band.min=1e-6",
            "train.gradient_norm_band.max=100"},
           {"train.gradient_norm_band.min=1e-6"}}) {
    absl::StatusOr<v1::JobConfig> config = Parse(kValid, valid);
    EXPECT_TRUE(config.ok()) << valid[0] << ": " << config.status();
  }
  const std::vector<std::pair<std::vector<std::string>, std::string>> invalid =
      {{{"train.early_stopping.patience=-1"},
        "train.early_stopping.patience: must be in [0, "},
       {{"train.early_stopping.patience=2",
         "train.early_stopping.min_delta=-0.1"},
        "train.early_stopping.min_delta: must be in [0, "},
       {{"train.early_stopping.min_delta=0.1"},
        "train.early_stopping.min_delta: has no effect without "
        "train.early_stopping.patience"},
       {{"train.early_stopping.patience=2", "train.eval_every_steps=0"},
        "train.early_stopping: needs periodic evaluations"},
       {{"data.validation_fraction=0.6"},
        "data.validation_fraction: must be in [0, 0.5]"},
       {{"train.max_loss_factor=0.5"},
        "train.max_loss_factor: must be 0 (off) or in [1, 1e+30], got 0.5"},
       {{"train.max_loss_factor=nan"}, "train.max_loss_factor: must be 0"},
       {{"train.gradient_norm_band.min=-1"},
        "train.gradient_norm_band.min: must be in [0, "},
       {{"train.gradient_norm_band.min=2", "train.gradient_norm_band.max=1"},
        "train.gradient_norm_band: min must be below max, got min 2 and max "
        "1"}};
  for (const auto& [overrides, message] : invalid) {
    absl::StatusOr<v1::JobConfig> config = Parse(kValid, overrides);
    ASSERT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument)
        << overrides.back();
    EXPECT_THAT(config.status().message(), HasSubstr(message))
        << overrides.back();
  }
}

TEST(ConfigTest, SparseRowLimitHasADefaultAndARange) {
  absl::StatusOr<v1::JobConfig> config = Parse(kValid);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->cluster().max_sparse_rows_per_shard(), 10'000'000);
  for (const char* value : {"0", "-1", "2000000000000"}) {
    absl::StatusOr<v1::JobConfig> bad = Parse(
        kValid, {absl::StrCat("cluster.max_sparse_rows_per_shard=", value)});
    ASSERT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument) << value;
    EXPECT_THAT(bad.status().message(),
                HasSubstr("cluster.max_sparse_rows_per_shard"));
  }
  EXPECT_EQ(
      ResolveShard(*Parse(kValid, {"cluster.max_sparse_rows_per_shard=5"}))
          .max_sparse_rows,
      5);
}

TEST(ConfigTest, ConsistencyModelsHaveDefaultsAndRules) {
  absl::StatusOr<v1::JobConfig> asp = Parse(kValid);
  ASSERT_TRUE(asp.ok()) << asp.status();
  EXPECT_TRUE(asp->train().overlap_communication());
  EXPECT_EQ(asp->train().staleness(), 2);
  EXPECT_EQ(asp->train().backup_workers(), 0);
  // BSP and SSP wait for each answer: overlap defaults to off.
  for (const char* model : {"BSP", "SSP"}) {
    absl::StatusOr<v1::JobConfig> config =
        Parse(kValid, {absl::StrCat("train.consistency=", model)});
    ASSERT_TRUE(config.ok()) << config.status();
    EXPECT_FALSE(config->train().overlap_communication()) << model;
  }
  absl::StatusOr<v1::JobConfig> whole_shard =
      Parse(kValid, {"train.batch_size=0"});
  EXPECT_TRUE(whole_shard.ok()) << whole_shard.status();
  const std::vector<std::pair<std::vector<std::string>, std::string>> bad = {
      {{"train.consistency=BSP", "train.overlap_communication=true"},
       "train.overlap_communication"},
      {{"train.consistency=BSP", "train.backup_workers=2"},
       "train.backup_workers"},  // the job has 2 workers
      {{"train.backup_workers=-1"}, "train.backup_workers"},
      {{"train.consistency=SSP", "train.staleness=-1"}, "train.staleness"},
      {{"train.batch_size=-1"}, "train.batch_size"},
  };
  for (const auto& [overrides, path] : bad) {
    absl::StatusOr<v1::JobConfig> config = Parse(kValid, overrides);
    ASSERT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument)
        << path;
    EXPECT_THAT(config.status().message(), HasSubstr(path));
  }
}

TEST(ConfigTest, CommunicationHasDefaultsAndRules) {
  absl::StatusOr<v1::JobConfig> plain = Parse(kValid);
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_EQ(plain->train().communication().encoding(), v1::FLOAT32);
  EXPECT_EQ(plain->train().communication().top_k_fraction(), 0);
  EXPECT_EQ(plain->train().communication().push_every(), 1);
  EXPECT_FALSE(plain->train().communication().has_local_learning_rate());
  // Local SGD: no overlap by default, local steps at the optimizer's rate.
  absl::StatusOr<v1::JobConfig> local =
      Parse(kValid, {"train.communication.push_every=4"});
  ASSERT_TRUE(local.ok()) << local.status();
  EXPECT_FALSE(local->train().overlap_communication());
  EXPECT_DOUBLE_EQ(local->train().communication().local_learning_rate(),
                   ChosenLearningRate(local->optimizer()));
  EXPECT_GT(local->train().communication().local_learning_rate(), 0);
  absl::StatusOr<v1::JobConfig> compressed =
      Parse(kValid, {"train.communication.encoding=BFLOAT16",
                     "train.communication.top_k_fraction=0.01"});
  ASSERT_TRUE(compressed.ok()) << compressed.status();
  EXPECT_TRUE(compressed->train().overlap_communication());
  const std::vector<std::pair<std::vector<std::string>, std::string>> bad = {
      {{"train.communication.top_k_fraction=1"}, "top_k_fraction"},
      {{"train.communication.top_k_fraction=-0.5"}, "top_k_fraction"},
      {{"train.communication.push_every=0"}, "push_every"},
      {{"train.communication.push_every=2", "train.consistency=BSP"},
       "runs under ASP only"},
      {{"train.communication.push_every=2", "train.consistency=SSP"},
       "runs under ASP only"},
      {{"train.communication.push_every=2", "train.overlap_communication=true"},
       "train.overlap_communication"},
      {{"train.communication.push_every=2",
        "train.communication.local_learning_rate=0"},
       "local_learning_rate"},
      {{"train.communication.encoding=7"}, "train.communication.encoding"},
  };
  for (const auto& [overrides, message] : bad) {
    absl::StatusOr<v1::JobConfig> config = Parse(kValid, overrides);
    ASSERT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument)
        << message;
    EXPECT_THAT(config.status().message(), HasSubstr(message));
  }
}

TEST(ConfigTest, JobIdRules) {
  EXPECT_TRUE(Parse(kValid, {"job_id=a.b-c_9"}).ok());
  EXPECT_FALSE(Parse(kValid, {"job_id=a/b"}).ok());
  EXPECT_FALSE(Parse(kValid, {"job_id=" + std::string(65, 'x')}).ok());
  EXPECT_TRUE(absl::StartsWith(NewJobId(), "job-"));
  EXPECT_NE(NewJobId(), "");
}

}  // namespace
}  // namespace descent
