// Compressed communication end to end in process: a PsClient with a
// float16 / bfloat16 encoding or top-k sparsification pushing to real
// shards (ASP and BSP), what the shards apply and keep, the bytes each way,
// error feedback sending every part of the gradient in the end, and the
// shard's refusal of malformed compressed pushes, which changes nothing.
#include <algorithm>
#include <cmath>
#include <memory>
#include <random>
#include <vector>

#include "common/ps_client.h"
#include "common/value_codec.h"
#include "common/wire.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/shard/in_process_transport.h"
#include "server/shard/parameter_shard.h"

namespace descent {
namespace {

using ::testing::HasSubstr;

// Two shards: [0, 5) and [5, 8).
constexpr int64_t kParams = 8;
constexpr int64_t kSplit = 5;

class CompressedPushTest : public ::testing::Test {
 protected:
  void Build(v1::Consistency consistency = v1::ASP, int workers = 1,
             int64_t params = kParams, int64_t split = kSplit) {
    params_count_ = params;
    split_ = split;
    shards_.clear();
    for (auto [begin, end] :
         {std::pair{int64_t{0}, split}, std::pair{split, params}}) {
      ParameterShardOptions options;
      options.job_id = "job";
      options.num_workers = workers;
      options.consistency = consistency;
      options.range = {begin, end};
      options.layout.Add({"w", {params}, InitRule::kZeros, 1, 1});
      options.optimizer.mutable_sgd()->set_learning_rate(1.0);
      shards_.push_back(*ParameterShard::Create(std::move(options)));
    }
  }

  std::unique_ptr<PsClient> Client(v1::ValueEncoding encoding, double top_k = 0,
                                   int32_t worker = 0) {
    PsClient::Options client;
    client.job_id = "job";
    client.worker_id = worker;
    client.encoding = encoding;
    client.top_k_fraction = top_k;
    int64_t begin = 0;
    for (size_t s = 0; s < shards_.size(); ++s) {
      v1::ShardInfo& info = client.shards.emplace_back();
      info.set_shard(static_cast<int32_t>(s));
      info.set_address("in-process");
      info.set_begin(begin);
      begin = s == 0 ? split_ : params_count_;
      info.set_end(begin);
    }
    client.connect =
        InProcessShardTransport::Factory({shards_[0].get(), shards_[1].get()});
    return *PsClient::Create(std::move(client));
  }

  // Both shards' parameters, in order.
  std::vector<float> ShardParams() const {
    std::vector<float> all = shards_[0]->Snapshot();
    const std::vector<float> second = shards_[1]->Snapshot();
    all.insert(all.end(), second.begin(), second.end());
    return all;
  }

  static std::vector<float> Rounded(std::vector<float> v,
                                    v1::ValueEncoding encoding) {
    RoundValues(v.data(), v.size(), encoding);
    return v;
  }

  int64_t params_count_ = kParams;
  int64_t split_ = kSplit;
  std::vector<std::unique_ptr<ParameterShard>> shards_;
};

// Values no 16-bit encoding holds exactly.
std::vector<float> Awkward(int64_t n) {
  std::vector<float> g(n);
  for (int64_t i = 0; i < n; ++i) g[i] = 1.0f / 3.0f + 0.01f * i;
  return g;
}

TEST_F(CompressedPushTest, HalfEncodingsTravelBothWaysAndTheShardsKeepFloats) {
  for (v1::ValueEncoding encoding : {v1::FLOAT16, v1::BFLOAT16}) {
    SCOPED_TRACE(v1::ValueEncoding_Name(encoding));
    Build();
    auto ps = Client(encoding);
    const std::vector<float> g = Awkward(kParams);
    std::vector<float> params(kParams, 7.0f);
    PsClient::Transfer first;
    ASSERT_TRUE(
        ps->PushPull({0, 1, false}, g.data(), params.data(), &first).ok());
    std::vector<float> applied = Rounded(g, encoding);
    for (float& v : applied) v = -v;
    EXPECT_EQ(ShardParams(), applied);
    EXPECT_EQ(params, Rounded(applied, encoding));
    EXPECT_EQ(first.bytes_sent, 2 * kParams);
    EXPECT_EQ(first.bytes_received, 2 * kParams);
    // A second push: the shards add in float32, which the 16-bit answer
    // then rounds.
    PsClient::Transfer second;
    ASSERT_TRUE(
        ps->PushPull({1, 1, false}, g.data(), params.data(), &second).ok());
    const std::vector<float> shard = ShardParams();
    for (int64_t i = 0; i < kParams; ++i) EXPECT_EQ(shard[i], 2 * applied[i]);
    EXPECT_EQ(params, Rounded(shard, encoding));
    std::vector<float> pulled(kParams);
    PsClient::Transfer pull;
    ASSERT_TRUE(ps->Pull(2, pulled.data(), &pull).ok());
    EXPECT_EQ(pulled, Rounded(shard, encoding));
    EXPECT_EQ(pull.bytes_received, 2 * kParams);
  }
}

TEST_F(CompressedPushTest, Float16SaturatesInsteadOfSendingAnInfinity) {
  Build();
  auto ps = Client(v1::FLOAT16);
  std::vector<float> g(kParams, 1e6f);
  g[3] = -1e9f;
  std::vector<float> params(kParams);
  PsClient::Transfer transfer;
  ASSERT_TRUE(
      ps->PushPull({0, 1, false}, g.data(), params.data(), &transfer).ok());
  std::vector<float> expected(kParams, -65504.0f);
  expected[3] = 65504.0f;
  EXPECT_EQ(ShardParams(), expected);
}

TEST_F(CompressedPushTest, TopKSendsKPerShardAndErrorFeedbackSendsTheRest) {
  // 1000 parameters over two shards of 600 and 400: k = 60 and 40.
  Build(v1::ASP, 1, 1000, 600);
  auto ps = Client(v1::FLOAT32, 0.1);
  std::mt19937 rng(5);
  std::normal_distribution<float> normal(0, 1);
  std::vector<float> g(1000);
  for (float& v : g) v = normal(rng);
  std::vector<float> params(1000);
  PsClient::Transfer first;
  ASSERT_TRUE(
      ps->PushPull({0, 1, false}, g.data(), params.data(), &first).ok());
  // 100 values and their uint32 indices.
  EXPECT_EQ(first.bytes_sent, 100 * (4 + 4));
  std::vector<float> shard = ShardParams();
  EXPECT_EQ(std::count_if(shard.begin(), shard.begin() + 600,
                          [](float v) { return v != 0; }),
            60);
  EXPECT_EQ(std::count_if(shard.begin() + 600, shard.end(),
                          [](float v) { return v != 0; }),
            40);
  // What was sent is the largest 60 of the first shard's slice.
  float smallest_sent = 1e30f, largest_kept = 0;
  for (int64_t i = 0; i < 600; ++i) {
    if (shard[i] != 0) {
      EXPECT_EQ(shard[i], -g[i]);
      smallest_sent = std::min(smallest_sent, std::fabs(g[i]));
    } else {
      largest_kept = std::max(largest_kept, std::fabs(g[i]));
    }
  }
  EXPECT_GT(smallest_sent, largest_kept);
  // Four more pushes of g, then zeros until the residual is empty: each
  // push sends the largest tenth of what is left, so ten flush it all and
  // the shards hold -5 g.
  for (int64_t step = 1; step < 5; ++step) {
    PsClient::Transfer t;
    ASSERT_TRUE(
        ps->PushPull({step, 1, false}, g.data(), params.data(), &t).ok());
  }
  const std::vector<float> zeros(1000, 0.0f);
  for (int64_t step = 5; step < 15; ++step) {
    PsClient::Transfer t;
    ASSERT_TRUE(
        ps->PushPull({step, 1, false}, zeros.data(), params.data(), &t).ok());
  }
  shard = ShardParams();
  for (int64_t i = 0; i < 1000; ++i) {
    EXPECT_NEAR(shard[i], -5 * g[i], 1e-5f * (1 + std::fabs(g[i]))) << i;
  }
  EXPECT_EQ(params, shard);
}

TEST_F(CompressedPushTest, TopKWithBFloat16KeepsTheRoundingInTheResidual) {
  Build(v1::ASP, 1, 1000, 600);
  auto ps = Client(v1::BFLOAT16, 0.1);
  const std::vector<float> g = Awkward(1000);
  std::vector<float> params(1000);
  PsClient::Transfer first;
  ASSERT_TRUE(
      ps->PushPull({0, 1, false}, g.data(), params.data(), &first).ok());
  EXPECT_EQ(first.bytes_sent, 100 * (2 + 4));
  EXPECT_EQ(first.bytes_received, 1000 * 2);
  const std::vector<float> zeros(1000, 0.0f);
  for (int64_t step = 1; step < 40; ++step) {
    PsClient::Transfer t;
    ASSERT_TRUE(
        ps->PushPull({step, 1, false}, zeros.data(), params.data(), &t).ok());
  }
  // Rounding errors too went back into the residual and were sent: what
  // the shards hold is much closer to -g than bfloat16 rounding of g.
  const std::vector<float> shard = ShardParams();
  const std::vector<float> rounded = Rounded(g, v1::BFLOAT16);
  double feedback_error = 0, rounding_error = 0;
  for (int64_t i = 0; i < 1000; ++i) {
    feedback_error += std::fabs(shard[i] + g[i]);
    rounding_error += std::fabs(rounded[i] - g[i]);
  }
  EXPECT_LT(feedback_error, rounding_error / 10);
}

TEST_F(CompressedPushTest, BspSumsTheDecodedPushesOfEveryWorker) {
  Build(v1::BSP, 2);
  auto a = Client(v1::BFLOAT16, 0, 0);
  auto b = Client(v1::BFLOAT16, 0, 1);
  const std::vector<float> ga = Awkward(kParams);
  std::vector<float> gb = Awkward(kParams);
  for (float& v : gb) v *= -3;
  std::vector<float> pa(kParams), pb(kParams);
  a->StartPushPull({0, 1, false}, ga.data(), pa.data());
  // Held at the gate until worker 1's push for step 0 arrives.
  EXPECT_EQ(shards_[0]->version(), 0);
  b->StartPushPull({0, 1, false}, gb.data(), pb.data());
  PsClient::Transfer ta, tb;
  ASSERT_TRUE(a->AwaitPushPull(&ta).ok());
  ASSERT_TRUE(b->AwaitPushPull(&tb).ok());
  EXPECT_EQ(shards_[0]->version(), 1);
  const std::vector<float> ra = Rounded(ga, v1::BFLOAT16);
  const std::vector<float> rb = Rounded(gb, v1::BFLOAT16);
  const std::vector<float> shard = ShardParams();
  for (int64_t i = 0; i < kParams; ++i) {
    EXPECT_FLOAT_EQ(shard[i], -(ra[i] + rb[i]) / 2) << i;
  }
  EXPECT_EQ(pa, Rounded(shard, v1::BFLOAT16));
  EXPECT_EQ(pb, pa);
}

v1::PushRequest SparsePush(std::vector<uint32_t> indices, uint64_t length) {
  v1::PushRequest push;
  push.mutable_header()->set_job_id("job");
  push.mutable_header()->set_request_id(1);
  v1::DenseSlice* slice = push.mutable_gradient();
  slice->set_encoding(v1::BFLOAT16);
  const std::vector<float> values(indices.size(), 1.0f);
  EncodeValues(values.data(), values.size(), v1::BFLOAT16,
               slice->mutable_values());
  slice->set_indices(std::string(reinterpret_cast<const char*>(indices.data()),
                                 indices.size() * sizeof(uint32_t)));
  slice->set_length(length);
  return push;
}

TEST_F(CompressedPushTest, AMalformedCompressedPushIsRefusedAndChangesNothing) {
  Build();
  ParameterShard& shard = *shards_[0];
  struct Case {
    const char* what;
    v1::PushRequest push;
    const char* message;
  };
  v1::PushRequest bad_params = SparsePush({0, 2}, kSplit);
  bad_params.set_params_encoding(static_cast<v1::ValueEncoding>(5));
  v1::PushRequest outside = SparsePush({0}, kSplit);
  outside.mutable_gradient()->set_offset(kSplit);
  const std::vector<Case> cases = {
      {"decreasing indices", SparsePush({3, 1}, kSplit), "index 1 is 1"},
      {"index past length", SparsePush({0, 5}, kSplit), "index 1 is 5"},
      {"length past the shard", SparsePush({0}, kSplit + 1), "length 6"},
      {"unknown params encoding", bad_params, "params encoding 5"},
      {"outside the shard", outside, "outside this shard's range"},
  };
  for (const Case& c : cases) {
    v1::PushPullResponse response;
    absl::Status status = absl::UnknownError("not answered");
    shard.PushPull(c.push, &response,
                   [&status](absl::Status s) { status = std::move(s); });
    EXPECT_TRUE(absl::IsInvalidArgument(status)) << c.what << ": " << status;
    EXPECT_THAT(std::string(status.message()), HasSubstr(c.message)) << c.what;
    EXPECT_EQ(RejectReason(status), "malformed") << c.what;
    EXPECT_EQ(shard.version(), 0) << c.what;
    EXPECT_EQ(shard.Snapshot(), std::vector<float>(kSplit, 0.0f)) << c.what;
  }
  // The same push well-formed is applied, through Push as through PushPull.
  v1::PushResponse response;
  absl::Status status = absl::UnknownError("not answered");
  shard.Push(SparsePush({1, 4}, kSplit), &response,
             [&status](absl::Status s) { status = std::move(s); });
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_EQ(shard.Snapshot(), (std::vector<float>{0, -1, 0, 0, -1}));
}

TEST(PsClientCompressionTest, RefusesAnUnknownEncodingOrTopKOutOfRange) {
  PsClient::Options options;
  v1::ShardInfo& info = options.shards.emplace_back();
  info.set_address("x");
  info.set_end(4);
  options.connect = [](const v1::ShardInfo&)
      -> absl::StatusOr<std::unique_ptr<ShardTransport>> { return nullptr; };
  PsClient::Options bad_encoding = options;
  bad_encoding.encoding = static_cast<v1::ValueEncoding>(3);
  EXPECT_THAT(PsClient::Create(bad_encoding).status().message(),
              HasSubstr("unknown encoding 3"));
  for (double top_k : {-0.1, 1.0, std::nan("")}) {
    PsClient::Options bad_top_k = options;
    bad_top_k.top_k_fraction = top_k;
    EXPECT_THAT(PsClient::Create(bad_top_k).status().message(),
                HasSubstr("top_k_fraction must be in [0, 1)"));
  }
}

}  // namespace
}  // namespace descent
