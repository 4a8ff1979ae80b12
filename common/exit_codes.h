// Process exit codes of every descent subcommand, as documented in the
// README. `descent local` exits with the code of the first role that failed.
#ifndef DESCENT_COMMON_EXIT_CODES_H_
#define DESCENT_COMMON_EXIT_CODES_H_

#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/cord.h"
#include "absl/strings/numbers.h"
#include "absl/strings/string_view.h"

namespace descent {

enum ExitCode : int {
  kExitOk = 0,
  kExitUsage = 1,            // unknown subcommand or flag, bad flag value
  kExitBadConfig = 2,        // the job config or a --set override is invalid
  kExitDataError = 3,        // a data file is missing, truncated or malformed
  kExitPeerLost = 4,         // a peer was unreachable or stopped answering
  kExitJobFailed = 5,        // training failed for another reason
  kExitDiverged = 6,         // training diverged (non-finite or exploding loss)
  kExitCoordinatorLost = 7,  // servers, workers: the coordinator went away
  kExitUnauthenticated = 8,  // a peer refused this process's token or TLS
  kExitInterrupted = 130,    // stopped by SIGINT, SIGTERM or SIGHUP
};

// The table the README's "Exit codes" section and `descent help` print (a
// test holds them equal). `code` is text because of "128 + N".
struct ExitCodeRow {
  const char* code;
  const char* meaning;
};
inline constexpr ExitCodeRow kExitCodeTable[] = {
    {"0", "the job succeeded"},
    {"1", "usage: unknown command or flag, missing or bad flag value"},
    {"2", "the job config or a --set override is invalid"},
    {"3", "a data file is missing, truncated or malformed"},
    {"4",
     "a peer was unreachable or stopped answering (registration timeout, "
     "missed heartbeats)"},
    {"5", "the job failed for another reason"},
    {"6",
     "training diverged: a non-finite or exploding loss or gradient "
     "(train.max_loss_factor)"},
    {"7",
     "servers and workers: the coordinator stopped answering (resume the "
     "job from its last checkpoint with --resume)"},
    {"8",
     "a peer refused this process's job token (UNAUTHENTICATED): "
     "DESCENT_JOB_TOKEN or --token_file differs from the job's"},
    {"130", "interrupted by SIGINT, SIGTERM or SIGHUP"},
    {"128 + N", "descent local only: a child process was killed by signal N"},
};

// A status can name its exit code explicitly, as a payload under this type
// URL (the code in decimal). It travels with the status through any layer
// that returns it unchanged; ExitCodeFor prefers it to the canonical code.
inline constexpr char kExitCodePayload[] = "type.descent/exit_code";

// `status` (not OK) carrying `code` as its exit code.
inline absl::Status WithExitCode(absl::Status status, int code) {
  status.SetPayload(kExitCodePayload, absl::Cord(std::to_string(code)));
  return status;
}

// Training diverged: FAILED_PRECONDITION with exit code kExitDiverged.
// `message` names where (worker, step) and the offending value.
inline absl::Status DivergedError(absl::string_view message) {
  return WithExitCode(absl::FailedPreconditionError(message), kExitDiverged);
}

// The exit code `status` carries as a payload, if any.
inline std::optional<int> ExplicitExitCode(const absl::Status& status) {
  const auto payload = status.GetPayload(kExitCodePayload);
  int code = 0;
  if (!payload.has_value() || !absl::SimpleAtoi(std::string(*payload), &code)) {
    return std::nullopt;
  }
  return code;
}

// The exit code for a role that ended with `status`: the code it carries
// (WithExitCode) if any; otherwise
//   OK -> 0; INVALID_ARGUMENT, NOT_FOUND, DATA_LOSS, OUT_OF_RANGE (bad input
//   data) -> 3; UNAVAILABLE,
//   DEADLINE_EXCEEDED -> 4; UNAUTHENTICATED -> 8; CANCELLED -> 130;
//   anything else -> 5.
// Config errors are mapped to kExitBadConfig by the caller that loads the
// config, since they too are INVALID_ARGUMENT.
inline int ExitCodeFor(const absl::Status& status) {
  if (status.ok()) return kExitOk;
  if (std::optional<int> code = ExplicitExitCode(status)) return *code;
  switch (status.code()) {
    case absl::StatusCode::kOk:
      return kExitOk;
    case absl::StatusCode::kNotFound:
    case absl::StatusCode::kDataLoss:
    case absl::StatusCode::kOutOfRange:
    case absl::StatusCode::kInvalidArgument:
      return kExitDataError;
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded:
      return kExitPeerLost;
    case absl::StatusCode::kCancelled:
      return kExitInterrupted;
    case absl::StatusCode::kUnauthenticated:
      return kExitUnauthenticated;
    default:
      return kExitJobFailed;
  }
}

}  // namespace descent

#endif  // DESCENT_COMMON_EXIT_CODES_H_
