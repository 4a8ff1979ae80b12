#include "common/transport.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace descent {
namespace {

// Calls `call` until it succeeds, fails with something other than
// UNAVAILABLE, or `patience` has passed.
template <typename Call>
auto RetryWhileUnavailable(absl::Duration patience, Call call)
    -> decltype(call()) {
  const absl::Time give_up = absl::Now() + patience;
  absl::Duration backoff = absl::Milliseconds(20);
  while (true) {
    auto result = call();
    if (!absl::IsUnavailable(result.status()) ||
        absl::Now() + backoff > give_up) {
      return result;
    }
    absl::SleepFor(backoff);
    backoff = std::min(backoff * 2, absl::Seconds(1));
  }
}

}  // namespace

absl::StatusOr<v1::RegisterServerResponse> CoordinatorClient::RegisterServer(
    const v1::RegisterServerRequest& request, absl::Duration patience) {
  return RetryWhileUnavailable(patience,
                               [&] { return TryRegisterServer(request); });
}

absl::StatusOr<v1::RegisterWorkerResponse> CoordinatorClient::RegisterWorker(
    const v1::RegisterWorkerRequest& request, absl::Duration patience) {
  return RetryWhileUnavailable(patience,
                               [&] { return TryRegisterWorker(request); });
}

absl::StatusOr<v1::JobStatus> CoordinatorClient::WaitUntilRunning(
    absl::Duration patience) {
  const absl::Time give_up = absl::Now() + patience;
  while (true) {
    absl::StatusOr<v1::JobStatus> status = GetJobStatus();
    if (!status.ok()) return status.status();
    if (status->state() == v1::RUNNING) return status;
    if (status->state() == v1::SUCCEEDED || status->state() == v1::FAILED) {
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
