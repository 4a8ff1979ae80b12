// HeartbeatLoop learns the job's end from any heartbeat's answer: its own,
// AskShare's and Leave's. The coordinator counts a member as told by
// whichever of them it answers first (and then stops waiting for it).
#include "roles/heartbeat.h"

#include <atomic>

#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace descent {
namespace {

using ::testing::HasSubstr;

// Answers the loop's own heartbeats RUNNING, and the first one that asks
// for a share or leaves with `state`.
class FakeCoordinator final : public CoordinatorClient {
 public:
  explicit FakeCoordinator(v1::JobState state) : state_(state) {}
  std::string address() const override { return "fake"; }
  absl::StatusOr<v1::RegisterServerResponse> TryRegisterServer(
      const v1::RegisterServerRequest&) override {
    return absl::UnimplementedError("no");
  }
  absl::StatusOr<v1::RegisterWorkerResponse> TryRegisterWorker(
      const v1::RegisterWorkerRequest&) override {
    return absl::UnimplementedError("no");
  }
  absl::StatusOr<v1::HeartbeatResponse> Heartbeat(
      const v1::HeartbeatRequest& request) override {
    v1::HeartbeatResponse response;
    response.set_state(v1::RUNNING);
    if (request.has_share_epoch() || request.leaving()) {
      response.set_state(state_);
      response.set_error("interrupted by Terminated");
      response.set_exit_code(130);
    } else {
      ++own_beats;
    }
    return response;
  }
  absl::StatusOr<v1::JobStatus> GetJobStatus() override {
    return absl::UnimplementedError("no");
  }

  std::atomic<int> own_beats{0};

 private:
  const v1::JobState state_;
};

HeartbeatLoop::Options Slow(CoordinatorClient* client) {
  HeartbeatLoop::Options options;
  options.client = client;
  options.job_id = "job-1";
  options.role = v1::WORKER;
  options.interval = absl::Hours(1);  // one beat of its own, at start
  return options;
}

TEST(HeartbeatLoopTest, AShareAnswerThatTheJobEndedEndsTheLoop) {
  FakeCoordinator coordinator(v1::INTERRUPTED);
  HeartbeatLoop loop(Slow(&coordinator));
  EXPECT_FALSE(loop.AwaitEnd(absl::Milliseconds(50)));
  EXPECT_TRUE(loop.AskShare(3).ok());
  EXPECT_TRUE(loop.AwaitEnd(absl::Milliseconds(10)));
  const absl::Status outcome = loop.WaitForEnd();
  EXPECT_TRUE(absl::IsAborted(outcome)) << outcome;
  EXPECT_THAT(outcome.message(), HasSubstr("interrupted by Terminated"));
  EXPECT_EQ(coordinator.own_beats.load(), 1);
}

TEST(HeartbeatLoopTest, ALeaveAnswerThatTheJobSucceededEndsTheLoop) {
  FakeCoordinator coordinator(v1::SUCCEEDED);
  HeartbeatLoop loop(Slow(&coordinator));
  EXPECT_FALSE(loop.AwaitEnd(absl::Milliseconds(50)));
  EXPECT_TRUE(loop.Leave().ok());
  EXPECT_TRUE(loop.AwaitEnd(absl::Milliseconds(10)));
  EXPECT_TRUE(loop.WaitForEnd().ok());
}

TEST(HeartbeatLoopTest, ARunningShareAnswerEndsNothing) {
  FakeCoordinator coordinator(v1::RUNNING);
  HeartbeatLoop loop(Slow(&coordinator));
  EXPECT_TRUE(loop.AskShare(1).ok());
  EXPECT_FALSE(loop.AwaitEnd(absl::Milliseconds(50)));
}

}  // namespace
}  // namespace descent
