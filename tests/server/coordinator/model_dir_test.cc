// model/: the safetensors file in the documented layout, the manifest, the
// atomic write, and ReadModelDir's checks (damaged files are DATA_LOSS
// naming the file).
#include "server/coordinator/model_dir.h"

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace descent {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream bytes;
  bytes << in.rdbuf();
  return bytes.str();
}

void Spit(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

std::string FreshDir(const std::string& name) {
  const std::string dir = ::testing::TempDir() + "/model_dir_test/" + name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

NamedTensor F32(const std::string& name, std::vector<int64_t> shape,
                std::vector<float> values) {
  NamedTensor t;
  t.name = name;
  t.dtype = "F32";
  t.shape = std::move(shape);
  t.f32 = std::move(values);
  return t;
}

uint64_t HeaderLength(const std::string& bytes) {
  uint64_t n;
  std::memcpy(&n, bytes.data(), 8);
  return n;
}

TEST(SafetensorsTest, LayoutIsTheDocumentedOne) {
  const std::string bytes = EncodeSafetensors(
      {F32("weights", {2, 2}, {1, 2, 3, 4}), F32("bias", {2}, {-1.5f, 0.5f})},
      {{"format", "pt"}});
  const uint64_t n = HeaderLength(bytes);
  EXPECT_EQ(n % 8, 0u);
  ASSERT_EQ(bytes.size(), 8 + n + 6 * 4);
  const std::string header = bytes.substr(8, n);
  EXPECT_THAT(header,
              HasSubstr("\"weights\":{\"dtype\":\"F32\",\"shape\":[2,2],"
                        "\"data_offsets\":[0,16]}"));
  EXPECT_THAT(header, HasSubstr("\"bias\":{\"dtype\":\"F32\",\"shape\":[2],"
                                "\"data_offsets\":[16,24]}"));
  EXPECT_THAT(header, HasSubstr("\"__metadata__\":{\"format\":\"pt\"}"));
  EXPECT_EQ(header.find_last_not_of(' ') + 1, header.rfind('}') + 1);
  float bias[2];
  std::memcpy(bias, bytes.data() + 8 + n + 16, 8);
  EXPECT_EQ(bias[0], -1.5f);
  EXPECT_EQ(bias[1], 0.5f);
}

TEST(SafetensorsTest, RoundTripsF32AndU64) {
  NamedTensor keys;
  keys.name = "sparse/keys";
  keys.dtype = "U64";
  keys.shape = {3};
  keys.u64 = {1, 7, uint64_t{1} << 60};
  const std::string bytes = EncodeSafetensors(
      {F32("w", {1, 3}, {1, 2, 3}), keys, F32("empty", {0, 4}, {})}, {});
  absl::StatusOr<std::vector<NamedTensor>> read =
      DecodeSafetensors(bytes, "x.safetensors");
  ASSERT_TRUE(read.ok()) << read.status();
  ASSERT_EQ(read->size(), 3u);
  EXPECT_EQ((*read)[0].name, "w");
  EXPECT_THAT((*read)[0].shape, ElementsAre(1, 3));
  EXPECT_THAT((*read)[0].f32, ElementsAre(1, 2, 3));
  EXPECT_EQ((*read)[1].dtype, "U64");
  EXPECT_THAT((*read)[1].u64, ElementsAre(1, 7, uint64_t{1} << 60));
  EXPECT_THAT((*read)[2].shape, ElementsAre(0, 4));
}

// Each damage is DATA_LOSS naming the file and saying what is wrong.
TEST(SafetensorsTest, DamagedFilesAreDataLossNamingTheFile) {
  const std::string good = EncodeSafetensors({F32("w", {2}, {1, 2})}, {});
  const uint64_t n = HeaderLength(good);
  const std::string header = good.substr(8, n);
  auto with_header = [](std::string h) {
    while (h.size() % 8 != 0) h += ' ';
    std::string out(8, '\0');
    const uint64_t size = h.size();
    std::memcpy(out.data(), &size, 8);
    return out + h + std::string(8, '\0');
  };
  const std::pair<std::string, std::string> cases[] = {
      {"short", good.substr(0, 5)},
      {"truncated data", good.substr(0, good.size() - 1)},
      {"header length",
       std::string("\xff\xff\xff\xff\0\0\0\0", 8) + good.substr(8)},
      {"not JSON", with_header("{\"w\": ")},
      {"dtype", with_header("{\"w\":{\"dtype\":\"F16\",\"shape\":[2],"
                            "\"data_offsets\":[0,8]}}")},
      {"offsets out of range",
       with_header("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],"
                   "\"data_offsets\":[0,16]}}")},
      {"shape", with_header("{\"w\":{\"dtype\":\"F32\",\"shape\":[3],"
                            "\"data_offsets\":[0,8]}}")},
      {"negative shape", with_header("{\"w\":{\"dtype\":\"F32\",\"shape\":[-2],"
                                     "\"data_offsets\":[0,8]}}")},
      {"overlap", with_header("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],"
                              "\"data_offsets\":[0,8]},"
                              "\"b\":{\"dtype\":\"F32\",\"shape\":[1],"
                              "\"data_offsets\":[4,8]}}")},
  };
  for (const auto& [what, bytes] : cases) {
    absl::StatusOr<std::vector<NamedTensor>> read =
        DecodeSafetensors(bytes, "dir/model.safetensors");
    ASSERT_FALSE(read.ok()) << what;
    EXPECT_EQ(read.status().code(), absl::StatusCode::kDataLoss) << what;
    EXPECT_THAT(read.status().message(), HasSubstr("dir/model.safetensors"))
        << what;
  }
  EXPECT_TRUE(DecodeSafetensors(good, "ok").ok());
  EXPECT_FALSE(header.empty());
}

TEST(ModelTensorsTest, DenseTensorsTakeTheLayoutsNamesAndShapes) {
  ParamLayout layout;
  layout.Add({.name = "layer0/weights", .shape = {2, 3}});
  layout.Add({.name = "layer0/bias", .shape = {3}});
  SavedParameters params;
  params.dense = {0, 1, 2, 3, 4, 5, 6, 7, 8};
  absl::StatusOr<std::vector<NamedTensor>> tensors =
      ModelTensors(layout, params);
  ASSERT_TRUE(tensors.ok()) << tensors.status();
  ASSERT_EQ(tensors->size(), 2u);
  EXPECT_EQ((*tensors)[0].name, "layer0/weights");
  EXPECT_THAT((*tensors)[0].shape, ElementsAre(2, 3));
  EXPECT_THAT((*tensors)[0].f32, ElementsAre(0, 1, 2, 3, 4, 5));
  EXPECT_EQ((*tensors)[1].name, "layer0/bias");
  EXPECT_THAT((*tensors)[1].f32, ElementsAre(6, 7, 8));

  params.dense.pop_back();
  EXPECT_EQ(ModelTensors(layout, params).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(FlatParametersTest, InvertsModelTensorsInLayoutOrder) {
  ParamLayout layout;
  layout.Add({.name = "layer0/weights", .shape = {2, 3}});
  layout.Add({.name = "layer0/bias", .shape = {3}});
  // In file order, bias first: the layout's order decides.
  const std::vector<NamedTensor> tensors = {
      F32("layer0/bias", {3}, {6, 7, 8}),
      F32("layer0/weights", {2, 3}, {0, 1, 2, 3, 4, 5})};
  absl::StatusOr<std::vector<float>> flat =
      FlatParameters(layout, tensors, "m/model.safetensors");
  ASSERT_TRUE(flat.ok()) << flat.status();
  EXPECT_THAT(*flat, ElementsAre(0, 1, 2, 3, 4, 5, 6, 7, 8));

  const absl::Status missing =
      FlatParameters(layout, {tensors[1]}, "m/model.safetensors").status();
  EXPECT_EQ(missing.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(missing.message(), HasSubstr("m/model.safetensors"));
  EXPECT_THAT(missing.message(), HasSubstr("layer0/bias"));
  const absl::Status shape =
      FlatParameters(layout,
                     {F32("layer0/bias", {3}, {6, 7, 8}),
                      F32("layer0/weights", {3, 2}, {0, 1, 2, 3, 4, 5})},
                     "m/model.safetensors")
          .status();
  EXPECT_EQ(shape.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(shape.message(), HasSubstr("[3,2]"));
  EXPECT_THAT(shape.message(), HasSubstr("[2,3]"));
}

TEST(ModelTensorsTest, SparseRowsBecomeKeysAndRows) {
  ParamLayout layout;
  layout.Add({.name = "bias", .shape = {1}});
  SavedParameters params;
  params.dense = {0.5f};
  params.keys = {3, 9};
  params.row_width = 2;
  params.rows = {1, 2, 3, 4};
  absl::StatusOr<std::vector<NamedTensor>> tensors =
      ModelTensors(layout, params);
  ASSERT_TRUE(tensors.ok()) << tensors.status();
  ASSERT_EQ(tensors->size(), 3u);
  EXPECT_EQ((*tensors)[1].name, "sparse/keys");
  EXPECT_EQ((*tensors)[1].dtype, "U64");
  EXPECT_THAT((*tensors)[1].u64, ElementsAre(3, 9));
  EXPECT_EQ((*tensors)[2].name, "sparse/rows");
  EXPECT_THAT((*tensors)[2].shape, ElementsAre(2, 2));
  EXPECT_THAT((*tensors)[2].f32, ElementsAre(1, 2, 3, 4));
}

ModelDir SmallModel(float value) {
  ModelDir model;
  model.manifest.set_format_version(1);
  model.manifest.set_evaluation("final");
  model.manifest.set_global_step(120);
  model.manifest.set_num_features(2);
  model.manifest.set_num_classes(2);
  model.manifest.add_labels("no");
  model.manifest.add_labels("yes");
  model.manifest.mutable_scaling()->set_kind(v1::STANDARDIZE);
  model.manifest.mutable_scaling()->add_offset(1.5f);
  model.manifest.mutable_scaling()->add_scale(2.0f);
  model.manifest.set_test_accuracy(0.875);
  model.tensors = {F32("weights", {2}, {value, 2})};
  return model;
}

TEST(ModelDirTest, WritesAtomicallyAndReadsBack) {
  const std::string out = FreshDir("roundtrip");
  const std::string dir = out + "/model";
  ASSERT_TRUE(WriteModelDir(dir, SmallModel(1)).ok());
  // Replacing it leaves the new one and nothing beside it.
  ASSERT_TRUE(WriteModelDir(dir, SmallModel(7)).ok());
  std::vector<std::string> entries;
  for (const auto& e : std::filesystem::directory_iterator(out)) {
    entries.push_back(e.path().filename().string());
  }
  EXPECT_THAT(entries, ElementsAre("model"));
  absl::StatusOr<ModelDir> read = ReadModelDir(dir);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->manifest.global_step(), 120);
  EXPECT_THAT(read->manifest.labels(), ElementsAre("no", "yes"));
  EXPECT_EQ(read->manifest.scaling().kind(), v1::STANDARDIZE);
  EXPECT_THAT(read->manifest.scaling().scale(), ElementsAre(2.0f));
  EXPECT_EQ(read->manifest.test_accuracy(), 0.875);
  ASSERT_EQ(read->tensors.size(), 1u);
  EXPECT_THAT(read->tensors[0].f32, ElementsAre(7, 2));
  // The manifest is JSON with the proto's field names.
  EXPECT_THAT(Slurp(dir + "/manifest.json"), HasSubstr("\"global_step\": 120"));
}

TEST(ModelDirTest, DamagedOrMissingFilesAreNamed) {
  const std::string dir = FreshDir("damaged") + "/model";
  ASSERT_TRUE(WriteModelDir(dir, SmallModel(1)).ok());
  const std::string tensors = dir + "/model.safetensors";
  const std::string bytes = Slurp(tensors);
  Spit(tensors, bytes.substr(0, bytes.size() - 3));
  absl::StatusOr<ModelDir> read = ReadModelDir(dir);
  EXPECT_EQ(read.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(read.status().message(), HasSubstr(tensors));

  Spit(tensors, bytes);
  Spit(dir + "/manifest.json", "{\"global_step\": ");
  read = ReadModelDir(dir);
  EXPECT_EQ(read.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(read.status().message(), HasSubstr(dir + "/manifest.json"));

  std::filesystem::remove(dir + "/manifest.json");
  read = ReadModelDir(dir);
  EXPECT_EQ(read.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(read.status().message(), HasSubstr(dir + "/manifest.json"));
}

TEST(DataFingerprintTest, FollowsTheTrainingFilesAndTheExampleCount) {
  const std::string dir = FreshDir("fingerprint");
  Spit(dir + "/train.csv", "1,2\n3,4\n");
  v1::DataConfig data;
  data.mutable_csv()->set_train(dir + "/train.csv");
  const std::string first = DataFingerprint(data, 2);
  EXPECT_EQ(first.size(), 16u);
  EXPECT_EQ(DataFingerprint(data, 2), first);
  EXPECT_NE(DataFingerprint(data, 1), first);
  Spit(dir + "/train.csv", "1,2\n3,4\n5,6\n");
  EXPECT_NE(DataFingerprint(data, 2), first);
}

}  // namespace
}  // namespace descent
