// CoordinatorClient's helpers over its one-attempt calls: registration is
// retried while the coordinator is UNAVAILABLE (and only then), and
// WaitUntilRunning polls until the job runs, has ended, or patience runs
// out.
#include "common/transport.h"

#include <deque>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace descent {
namespace {

using ::testing::HasSubstr;

// Answers each call with the next scripted status or job state.
class ScriptedClient final : public CoordinatorClient {
 public:
  std::string address() const override { return "scripted"; }
  absl::StatusOr<v1::RegisterServerResponse> TryRegisterServer(
      const v1::RegisterServerRequest&) override {
    ++calls;
    absl::Status next = registrations.front();
    if (registrations.size() > 1) registrations.pop_front();
    if (!next.ok()) return next;
    v1::RegisterServerResponse response;
    response.set_end(3);
    return response;
  }
  absl::StatusOr<v1::RegisterWorkerResponse> TryRegisterWorker(
      const v1::RegisterWorkerRequest&) override {
    return absl::UnimplementedError("not scripted");
  }
  absl::StatusOr<v1::HeartbeatResponse> Heartbeat(
      const v1::HeartbeatRequest&) override {
    return absl::UnimplementedError("not scripted");
  }
  absl::StatusOr<v1::JobStatus> GetJobStatus() override {
    ++calls;
    v1::JobStatus status;
    status.set_state(states.front());
    status.set_error("boom");
    if (states.size() > 1) states.pop_front();
    return status;
  }

  int calls = 0;
  std::deque<absl::Status> registrations;
  std::deque<v1::JobState> states;
};

TEST(CoordinatorClientTest, RegistrationIsRetriedWhileUnavailable) {
  ScriptedClient client;
  client.registrations = {absl::UnavailableError("not yet"),
                          absl::UnavailableError("not yet"), absl::OkStatus()};
  auto response = client.RegisterServer({}, absl::Seconds(10));
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->end(), 3u);
  EXPECT_EQ(client.calls, 3);
}

TEST(CoordinatorClientTest, ARefusalIsNotRetried) {
  ScriptedClient client;
  client.registrations = {absl::InvalidArgumentError("shard taken")};
  auto response = client.RegisterServer({}, absl::Seconds(10));
  EXPECT_TRUE(absl::IsInvalidArgument(response.status()));
  EXPECT_EQ(client.calls, 1);
}

TEST(CoordinatorClientTest, RegistrationGivesUpAfterItsPatience) {
  ScriptedClient client;
  client.registrations = {absl::UnavailableError("never")};
  auto response = client.RegisterServer({}, absl::ZeroDuration());
  EXPECT_TRUE(absl::IsUnavailable(response.status()));
  EXPECT_EQ(client.calls, 1);
}

TEST(CoordinatorClientTest, WaitUntilRunningPollsUntilTheJobRuns) {
  ScriptedClient client;
  client.states = {v1::REGISTERING, v1::REGISTERING, v1::RUNNING};
  auto status = client.WaitUntilRunning(absl::Seconds(10));
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(status->state(), v1::RUNNING);
  EXPECT_EQ(client.calls, 3);
}

TEST(CoordinatorClientTest, WaitUntilRunningReportsAJobThatEnded) {
  ScriptedClient client;
  client.states = {v1::FAILED};
  auto status = client.WaitUntilRunning(absl::Seconds(10));
  EXPECT_TRUE(absl::IsFailedPrecondition(status.status()));
  EXPECT_THAT(status.status().message(),
              HasSubstr("ended before it started: boom"));
}

TEST(CoordinatorClientTest, WaitUntilRunningGivesUp) {
  ScriptedClient client;
  client.states = {v1::REGISTERING};
  auto status = client.WaitUntilRunning(absl::ZeroDuration());
  EXPECT_TRUE(absl::IsDeadlineExceeded(status.status()));
}

}  // namespace
}  // namespace descent
