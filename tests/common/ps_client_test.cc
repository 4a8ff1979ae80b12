// PsClient against fake shard transports that answer at once with fixed
// figures, in process: what a PushPull reports in its Transfer, how it
// splits and reassembles the parameters, and its retries.
#include "common/ps_client.h"

#include <memory>
#include <vector>

#include "common/faulty_transport.h"
#include "common/wire.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace descent {
namespace {

using ::testing::HasSubstr;

// Answers every call with its range filled with `value`, version 1, and as
// held_seconds the value it was made with; counts the calls.
class FakeShard final : public ShardTransport {
 public:
  FakeShard(uint64_t begin, uint64_t end, double held, float value)
      : begin_(begin), end_(end), held_(held), value_(value) {}

  void Pull(const v1::PullRequest& /*request*/, v1::PullResponse* response,
            absl::Duration /*deadline*/, Done done) override {
    ++pulls;
    Fill(response->mutable_params());
    response->set_version(1);
    done(absl::OkStatus());
  }
  void PushPull(const v1::PushRequest& request, v1::PushPullResponse* response,
                absl::Duration /*deadline*/, Done done) override {
    ++pushes;
    last_request_id = request.header().request_id();
    Fill(response->mutable_params());
    response->set_version(1);
    response->set_held_seconds(held_);
    done(absl::OkStatus());
  }

  int pulls = 0, pushes = 0;
  uint64_t last_request_id = 0;

 private:
  void Fill(v1::DenseSlice* slice) const {
    const std::vector<float> values(end_ - begin_, value_);
    slice->set_offset(begin_);
    EncodeFloats(values.data(), values.size(), slice->mutable_values());
  }

  const uint64_t begin_, end_;
  const double held_;
  const float value_;
};

// Three shards of two parameters each; shard s answers with s + 1.
class PsClientTest : public ::testing::Test {
 protected:
  std::unique_ptr<PsClient> Client(int max_attempts = 3) {
    const std::vector<double> held = {0.25, 1.5, 0.0};
    PsClient::Options options;
    options.job_id = "job";
    options.max_attempts = max_attempts;
    options.retry_backoff = absl::ZeroDuration();
    for (size_t s = 0; s < held.size(); ++s) {
      v1::ShardInfo& info = options.shards.emplace_back();
      info.set_shard(static_cast<int32_t>(s));
      info.set_address("fake");
      info.set_begin(2 * s);
      info.set_end(2 * s + 2);
    }
    options.connect = FaultyShardTransport::Wrap(
        [this, held](const v1::ShardInfo& info)
            -> absl::StatusOr<std::unique_ptr<ShardTransport>> {
          auto shard = std::make_unique<FakeShard>(
              info.begin(), info.end(), held[info.shard()],
              static_cast<float>(info.shard() + 1));
          fakes_.push_back(shard.get());
          return std::unique_ptr<ShardTransport>(std::move(shard));
        },
        &faulty_);
    auto client = PsClient::Create(std::move(options));
    EXPECT_TRUE(client.ok()) << client.status();
    return *std::move(client);
  }

  std::vector<FakeShard*> fakes_;
  std::vector<FaultyShardTransport*> faulty_;
  std::vector<float> grad_ = std::vector<float>(6, 1.0f);
  std::vector<float> params_ = std::vector<float>(6, 9.0f);
  const std::vector<float> answer_ = {1, 1, 2, 2, 3, 3};
};

TEST_F(PsClientTest, PushPullReportsTheLongestHoldOfAnyShard) {
  auto client = Client();
  PsClient::Transfer transfer;
  ASSERT_TRUE(
      client->PushPull({0, 1, false}, grad_.data(), params_.data(), &transfer)
          .ok());
  EXPECT_EQ(transfer.held_seconds, 1.5);
  EXPECT_EQ(params_, answer_);
  EXPECT_EQ(transfer.bytes_sent, 6 * 4);
  EXPECT_EQ(transfer.bytes_received, 6 * 4);
}

TEST_F(PsClientTest, PullAssemblesEveryShardsSlice) {
  auto client = Client();
  PsClient::Transfer transfer;
  ASSERT_TRUE(client->Pull(0, params_.data(), &transfer).ok());
  EXPECT_EQ(params_, answer_);
  for (FakeShard* fake : fakes_) EXPECT_EQ(fake->pulls, 1);
}

TEST_F(PsClientTest, TheTwoHalvesOfAPushPullLetTheCallerWorkInBetween) {
  auto client = Client();
  faulty_[1]->Hold(FaultyShardTransport::Method::kPushPull, 1);
  client->StartPushPull({0, 1, false}, grad_.data(), params_.data());
  EXPECT_TRUE(client->push_in_flight());
  // The gradient was encoded at the start: the caller may reuse it.
  std::fill(grad_.begin(), grad_.end(), -1.0f);
  EXPECT_EQ(faulty_[1]->held(), 1);
  EXPECT_EQ(params_, std::vector<float>(6, 9.0f));  // nothing unpacked yet
  EXPECT_EQ(faulty_[1]->Release(), 1);
  PsClient::Transfer transfer;
  ASSERT_TRUE(client->AwaitPushPull(&transfer).ok());
  EXPECT_FALSE(client->push_in_flight());
  EXPECT_EQ(params_, answer_);
}

TEST_F(PsClientTest, RetriesALostAnswerWithTheSameRequestId) {
  auto client = Client();
  faulty_[2]->LoseAnswer(FaultyShardTransport::Method::kPushPull, 1);
  PsClient::Transfer transfer;
  ASSERT_TRUE(
      client->PushPull({0, 1, false}, grad_.data(), params_.data(), &transfer)
          .ok());
  EXPECT_EQ(fakes_[2]->pushes, 2);  // the lost one and its retry
  EXPECT_EQ(fakes_[0]->pushes, 1);  // the others are not called again
  EXPECT_EQ(params_, answer_);
  const uint64_t retried = fakes_[2]->last_request_id;
  // The next push gets a new id.
  ASSERT_TRUE(
      client->PushPull({1, 1, false}, grad_.data(), params_.data(), &transfer)
          .ok());
  EXPECT_NE(fakes_[2]->last_request_id, retried);
}

TEST_F(PsClientTest, RetriesADroppedCallUntilAttemptsRunOut) {
  auto client = Client(/*max_attempts=*/2);
  faulty_[0]->Drop(FaultyShardTransport::Method::kPull, 1);
  faulty_[0]->Drop(FaultyShardTransport::Method::kPull, 2);
  PsClient::Transfer transfer;
  absl::Status status = client->Pull(0, params_.data(), &transfer);
  EXPECT_TRUE(absl::IsDeadlineExceeded(status)) << status;
  EXPECT_THAT(status.message(), HasSubstr("shard 0 at fake"));
  EXPECT_EQ(fakes_[0]->pulls, 0);
  EXPECT_EQ(faulty_[0]->calls(FaultyShardTransport::Method::kPull), 2);
}

TEST_F(PsClientTest, DoesNotRetryARefusal) {
  auto client = Client();
  faulty_[1]->Fail(FaultyShardTransport::Method::kPushPull, 1,
                   absl::InvalidArgumentError("bad gradient"));
  PsClient::Transfer transfer;
  absl::Status status =
      client->PushPull({0, 1, false}, grad_.data(), params_.data(), &transfer);
  EXPECT_TRUE(absl::IsInvalidArgument(status)) << status;
  EXPECT_THAT(status.message(), HasSubstr("shard 1 at fake: bad gradient"));
  EXPECT_EQ(faulty_[1]->calls(FaultyShardTransport::Method::kPushPull), 1);
}

TEST(PsClientCreateTest, RefusesAMapWithAGapOrNoTransport) {
  PsClient::Options options;
  options.connect = [](const v1::ShardInfo&)
      -> absl::StatusOr<std::unique_ptr<ShardTransport>> { return nullptr; };
  v1::ShardInfo& a = options.shards.emplace_back();
  a.set_address("a");
  a.set_end(2);
  v1::ShardInfo& b = options.shards.emplace_back();
  b.set_address("b");
  b.set_begin(3);
  b.set_end(4);
  EXPECT_TRUE(absl::IsInvalidArgument(PsClient::Create(options).status()));
  options.shards.pop_back();
  options.connect = nullptr;
  EXPECT_TRUE(absl::IsInvalidArgument(PsClient::Create(options).status()));
}

}  // namespace
}  // namespace descent
