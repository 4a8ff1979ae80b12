// FieldProblem: a rule that a setting breaks, kept as the field that breaks
// it and what is wrong, so that whoever reports it can put the field in
// context once. An optimizer's options say {"momentum", "must be in [0, 1),
// got 1.5"}; the config that chose the optimizer reports it as
// "optimizer.momentum.momentum: must be in [0, 1), got 1.5".
#ifndef DESCENT_COMMON_FIELD_PROBLEM_H_
#define DESCENT_COMMON_FIELD_PROBLEM_H_

#include <initializer_list>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace descent {

struct FieldProblem {
  // A dotted path, relative to what was checked.
  std::string field;
  // What is wrong with its value, e.g. "must be in [0, 1), got 1.5".
  std::string problem;
};

// {field, "must be <rule>, got <value>"}.
inline FieldProblem MustBe(absl::string_view field, absl::string_view rule,
                           double value) {
  return FieldProblem{std::string(field),
                      absl::StrCat("must be ", rule, ", got ", value)};
}

// nullopt if `ok`, else MustBe(field, rule, value).
inline std::optional<FieldProblem> Require(bool ok, absl::string_view field,
                                           absl::string_view rule,
                                           double value) {
  if (ok) return std::nullopt;
  return MustBe(field, rule, value);
}

// The first of `problems` that is set, or nullopt.
inline std::optional<FieldProblem> First(
    std::initializer_list<std::optional<FieldProblem>> problems) {
  for (const std::optional<FieldProblem>& problem : problems) {
    if (problem.has_value()) return problem;
  }
  return std::nullopt;
}

// `problem` with `prefix` and a dot in front of its field; nullopt stays.
inline std::optional<FieldProblem> Within(absl::string_view prefix,
                                          std::optional<FieldProblem> problem) {
  if (problem.has_value()) {
    problem->field = absl::StrCat(prefix, ".", problem->field);
  }
  return problem;
}

// INVALID_ARGUMENT "field: problem".
inline absl::Status InvalidArgument(const FieldProblem& problem) {
  return absl::InvalidArgumentError(
      absl::StrCat(problem.field, ": ", problem.problem));
}

}  // namespace descent

#endif  // DESCENT_COMMON_FIELD_PROBLEM_H_
