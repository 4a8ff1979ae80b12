// FaultyShardTransport: each fault hits exactly the call it names and
// passes every other call through.
#include "common/faulty_transport.h"

#include <memory>
#include <vector>

#include "gtest/gtest.h"

namespace descent {
namespace {

using Method = FaultyShardTransport::Method;

// Answers OK at once and counts what reached it.
class CountingTransport final : public ShardTransport {
 public:
  explicit CountingTransport(int* reached) : reached_(reached) {}
  void Pull(const v1::PullRequest&, v1::PullResponse* response, absl::Duration,
            Done done) override {
    ++*reached_;
    response->set_version(7);
    done(absl::OkStatus());
  }
  void PushPull(const v1::PushRequest&, v1::PushPullResponse* response,
                absl::Duration, Done done) override {
    ++*reached_;
    response->set_version(7);
    done(absl::OkStatus());
  }

 private:
  int* const reached_;
};

class FaultyTransportTest : public ::testing::Test {
 protected:
  // Makes a call and returns its status (UNKNOWN if done has not run).
  absl::Status Call(Method method) {
    absl::Status result = absl::UnknownError("not answered");
    auto done = [&result](absl::Status s) { result = s; };
    if (method == Method::kPull) {
      faulty_.Pull(pull_, &pull_answer_, absl::Seconds(1), done);
    } else {
      faulty_.PushPull(push_, &push_answer_, absl::Seconds(1), done);
    }
    return result;
  }

  int reached_ = 0;
  FaultyShardTransport faulty_{std::make_unique<CountingTransport>(&reached_)};
  v1::PullRequest pull_;
  v1::PullResponse pull_answer_;
  v1::PushRequest push_;
  v1::PushPullResponse push_answer_;
};

TEST_F(FaultyTransportTest, PassesCallsWithoutAFaultThrough) {
  EXPECT_TRUE(Call(Method::kPull).ok());
  EXPECT_TRUE(Call(Method::kPushPull).ok());
  EXPECT_EQ(reached_, 2);
  EXPECT_EQ(pull_answer_.version(), 7);
}

TEST_F(FaultyTransportTest, FailsTheNthCallWithoutForwardingIt) {
  faulty_.Fail(Method::kPushPull, 2, absl::InternalError("boom"));
  EXPECT_TRUE(Call(Method::kPushPull).ok());
  EXPECT_EQ(Call(Method::kPushPull), absl::InternalError("boom"));
  EXPECT_TRUE(Call(Method::kPushPull).ok());
  EXPECT_EQ(reached_, 2);
  // Calls are counted per method.
  EXPECT_TRUE(Call(Method::kPull).ok());
  EXPECT_EQ(faulty_.calls(Method::kPushPull), 3);
  EXPECT_EQ(faulty_.calls(Method::kPull), 1);
}

TEST_F(FaultyTransportTest, DropLooksLikeAnExpiredDeadline) {
  faulty_.Drop(Method::kPull, 1);
  EXPECT_TRUE(absl::IsDeadlineExceeded(Call(Method::kPull)));
  EXPECT_EQ(reached_, 0);
}

TEST_F(FaultyTransportTest, LoseAnswerForwardsThenReportsUnavailable) {
  faulty_.LoseAnswer(Method::kPushPull, 1);
  EXPECT_TRUE(absl::IsUnavailable(Call(Method::kPushPull)));
  EXPECT_EQ(reached_, 1);
  EXPECT_EQ(push_answer_.version(), 7);  // the shard did answer
}

TEST_F(FaultyTransportTest, HoldKeepsTheCallUntilRelease) {
  faulty_.Hold(Method::kPushPull, 1);
  absl::Status result = absl::UnknownError("not answered");
  faulty_.PushPull(push_, &push_answer_, absl::Seconds(1),
                   [&result](absl::Status s) { result = s; });
  EXPECT_EQ(faulty_.held(), 1);
  EXPECT_EQ(reached_, 0);
  EXPECT_TRUE(absl::IsUnknown(result));
  EXPECT_EQ(faulty_.Release(), 1);
  EXPECT_EQ(reached_, 1);
  EXPECT_TRUE(result.ok());
  EXPECT_EQ(faulty_.held(), 0);
}

}  // namespace
}  // namespace descent
