#include "common/transport.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/backoff.h"
#include "glog/logging.h"

namespace descent {
namespace {

// While waiting on the coordinator, says so at once and then every this
// often, so that a process whose coordinator is unreachable is not silent.
constexpr absl::Duration kWaitingReportEvery = absl::Seconds(5);

// Calls `call` until it succeeds, fails with something other than
// UNAVAILABLE, or `patience` has passed. `what` ("to register as a worker")
// goes into the waiting messages.
template <typename Call>
auto RetryWhileUnavailable(const std::string& address, const char* what,
                           absl::Duration patience, Call call)
    -> decltype(call()) {
  const absl::Time start = absl::Now();
  const absl::Time give_up = start + patience;
  absl::Time next_report = start;
  for (int attempt = 1;; ++attempt) {
    auto result = call();
    const absl::Duration backoff =
        Backoff(absl::Milliseconds(20), attempt, absl::Seconds(1));
    if (!absl::IsUnavailable(result.status()) ||
        absl::Now() + backoff > give_up) {
      return result;
    }
    if (absl::Now() >= next_report) {
      next_report = absl::Now() + kWaitingReportEvery;
      LOG(WARNING) << "waiting for the coordinator at " << address << " "
                   << what << " ("
                   << absl::FormatDuration(
                          absl::Trunc(absl::Now() - start, absl::Seconds(1)))
                   << " of " << absl::FormatDuration(patience)
                   << "): " << result.status().message();
    }
    absl::SleepFor(backoff);
  }
}

}  // namespace

void ShardTransport::SecureAggregation(
    const v1::SecureAggregationRequest& /*request*/,
    v1::SecureAggregationResponse* /*response*/, absl::Duration /*deadline*/,
    Done done) {
  done(absl::UnimplementedError(
      "this transport does not carry secure aggregation"));
}

absl::StatusOr<v1::RegisterServerResponse> CoordinatorClient::RegisterServer(
    const v1::RegisterServerRequest& request, absl::Duration patience) {
  return RetryWhileUnavailable(address(), "to register this server", patience,
                               [&] { return TryRegisterServer(request); });
}

absl::StatusOr<v1::RegisterWorkerResponse> CoordinatorClient::RegisterWorker(
    const v1::RegisterWorkerRequest& request, absl::Duration patience) {
  return RetryWhileUnavailable(address(), "to register this worker", patience,
                               [&] { return TryRegisterWorker(request); });
}

absl::StatusOr<v1::JobStatus> CoordinatorClient::WaitUntilRunning(
    absl::Duration patience) {
  const absl::Time start = absl::Now();
  const absl::Time give_up = start + patience;
  absl::Time next_report = start + kWaitingReportEvery;
  while (true) {
    absl::StatusOr<v1::JobStatus> status = GetJobStatus();
    if (!status.ok()) return status.status();
    if (status->state() == v1::RUNNING) return status;
    if (absl::Now() >= next_report) {
      next_report = absl::Now() + kWaitingReportEvery;
      LOG(INFO) << "waiting for the job to start: " << status->members_size()
                << " members registered so far";
    }
    if (status->state() == v1::SUCCEEDED || status->state() == v1::FAILED ||
        status->state() == v1::INTERRUPTED) {
      return absl::FailedPreconditionError(
          absl::StrCat("the job ended before it started: ", status->error()));
    }
    if (absl::Now() > give_up) {
      return absl::DeadlineExceededError(absl::StrCat(
          "the job did not start within ", absl::FormatDuration(patience)));
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
}

}  // namespace descent
