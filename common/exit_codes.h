// Process exit codes of every descent subcommand, as documented in the
// README. `descent local` exits with the code of the first role that failed.
#ifndef DESCENT_COMMON_EXIT_CODES_H_
#define DESCENT_COMMON_EXIT_CODES_H_

#include "absl/status/status.h"

namespace descent {

enum ExitCode : int {
  kExitOk = 0,
  kExitUsage = 1,          // unknown subcommand or flag, bad flag value
  kExitBadConfig = 2,      // the job config or a --set override is invalid
  kExitDataError = 3,      // a data file is missing, truncated or malformed
  kExitPeerLost = 4,       // a peer was unreachable or stopped answering
  kExitJobFailed = 5,      // training failed for another reason
  kExitInterrupted = 130,  // stopped by SIGINT or SIGTERM
};

// The exit code for a role that ended with `status`:
//   OK -> 0; INVALID_ARGUMENT, NOT_FOUND, DATA_LOSS, OUT_OF_RANGE (bad input
//   data) -> 3; UNAVAILABLE,
//   DEADLINE_EXCEEDED -> 4; CANCELLED -> 130; anything else -> 5.
// Config errors are mapped to kExitBadConfig by the caller that loads the
// config, since they too are INVALID_ARGUMENT.
inline int ExitCodeFor(const absl::Status& status) {
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
    default:
      return kExitJobFailed;
  }
}

}  // namespace descent

#endif  // DESCENT_COMMON_EXIT_CODES_H_
