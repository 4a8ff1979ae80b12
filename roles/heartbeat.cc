#include "roles/heartbeat.h"

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/exit_codes.h"

namespace descent {

HeartbeatLoop::HeartbeatLoop(Options options)
    : options_(std::move(options)),
      last_success_(absl::Now()),
      thread_([this] { Run(); }) {}

HeartbeatLoop::~HeartbeatLoop() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  thread_.join();
}

void HeartbeatLoop::BeatNow() {
  absl::MutexLock lock(&mu_);
  wake_ = true;
}

bool HeartbeatLoop::ended() const {
  absl::MutexLock lock(&mu_);
  return ended_;
}

absl::Status HeartbeatLoop::WaitForEnd() {
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(&ended_));
  return outcome_;
}

bool HeartbeatLoop::AwaitEnd(absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  return mu_.AwaitWithTimeout(absl::Condition(&ended_), timeout);
}

void HeartbeatLoop::Run() {
  while (true) {
    Beat();
    absl::MutexLock lock(&mu_);
    auto woken = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return stop_ || wake_ || ended_;
    };
    mu_.AwaitWithTimeout(absl::Condition(&woken), options_.interval);
    wake_ = false;
    if (stop_ || ended_) return;
  }
}

v1::HeartbeatRequest HeartbeatLoop::Request() const {
  v1::HeartbeatRequest request;
  request.set_job_id(options_.job_id);
  request.set_role(options_.role);
  request.set_id(options_.id);
  if (options_.progress) {
    if (std::optional<v1::WorkerProgress> p = options_.progress()) {
      *request.mutable_progress() = *std::move(p);
    }
  }
  if (options_.version) request.set_version(options_.version());
  request.set_incarnation(options_.incarnation);
  return request;
}

absl::Status HeartbeatLoop::Leave() {
  v1::HeartbeatRequest request = Request();
  request.set_leaving(true);
  absl::StatusOr<v1::HeartbeatResponse> answer =
      options_.client->Heartbeat(request);
  Record(answer);
  return answer.status();
}

absl::StatusOr<v1::DataShare> HeartbeatLoop::AskShare(int32_t epoch) {
  v1::HeartbeatRequest request = Request();
  request.set_share_epoch(epoch);
  absl::StatusOr<v1::HeartbeatResponse> answer =
      options_.client->Heartbeat(request);
  Record(answer);
  if (!answer.ok()) return answer.status();
  return answer->share();
}

void HeartbeatLoop::Beat() { Record(options_.client->Heartbeat(Request())); }

void HeartbeatLoop::Record(
    const absl::StatusOr<v1::HeartbeatResponse>& response) {
  absl::MutexLock lock(&mu_);
  const absl::Time now = absl::Now();
  if (absl::IsFailedPrecondition(response.status())) {
    ended_ = true;
    outcome_ = WithExitCode(response.status(), kExitPeerLost);
    return;
  }
  if (!response.ok()) {
    if (now - last_success_ > options_.lost_after) {
      ended_ = true;
      outcome_ =
          WithExitCode(absl::UnavailableError(absl::StrCat(
                           "lost the coordinator: no heartbeat answered for ",
                           absl::FormatDuration(now - last_success_),
                           "; last error: ", response.status().message())),
                       kExitCoordinatorLost);
    }
    return;
  }
  last_success_ = now;
  if (options_.on_answer) options_.on_answer(*response);
  if (response->state() == v1::SUCCEEDED) {
    ended_ = true;
    outcome_ = absl::OkStatus();
  } else if (response->state() == v1::FAILED ||
             response->state() == v1::INTERRUPTED) {
    ended_ = true;
    outcome_ = absl::AbortedError(absl::StrCat(
        "the coordinator reports the job ",
        v1::JobState_Name(response->state()), ": ",
        response->error().empty() ? "no reason given" : response->error()));
    // This process exits with the job's code, so that whichever process of
    // the job exits first, `descent local` reports the same code.
    if (response->exit_code() != 0) {
      outcome_ = WithExitCode(outcome_, response->exit_code());
    }
  }
}

}  // namespace descent
