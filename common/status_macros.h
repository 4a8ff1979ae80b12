// Status propagation helpers. Abseil 20220623 (Debian 12) ships absl::Status
// but not its macros, so descent defines the two it needs, once, here.
//
//   RETURN_IF_ERROR(WriteHeader(file));
//   ASSIGN_OR_RETURN(Dataset train, LoadIdx(images, labels));
//
// Both evaluate their argument exactly once and return the error unchanged:
// the caller decides whether to log, wrap or retry.
#ifndef DESCENT_COMMON_STATUS_MACROS_H_
#define DESCENT_COMMON_STATUS_MACROS_H_

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define DESCENT_STATUS_CONCAT_INNER_(x, y) x##y
#define DESCENT_STATUS_CONCAT_(x, y) DESCENT_STATUS_CONCAT_INNER_(x, y)

// Returns from the enclosing function if `expr` (an absl::Status) is not OK.
#define RETURN_IF_ERROR(expr)                          \
  do {                                                 \
    ::absl::Status descent_status_ = (expr);           \
    if (!descent_status_.ok()) return descent_status_; \
  } while (false)

// Evaluates `rexpr` (an absl::StatusOr<T>); on error returns its status,
// otherwise moves the value into `lhs`, which may be a declaration.
#define ASSIGN_OR_RETURN(lhs, rexpr) \
  DESCENT_ASSIGN_OR_RETURN_IMPL_(    \
      DESCENT_STATUS_CONCAT_(descent_statusor_, __LINE__), lhs, rexpr)

#define DESCENT_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, rexpr) \
  auto statusor = (rexpr);                                   \
  if (!statusor.ok()) return std::move(statusor).status();   \
  lhs = std::move(statusor).value()

#endif  // DESCENT_COMMON_STATUS_MACROS_H_
