// Loading and checking a JobConfig.
//
// A job is described by one protobuf text-format file plus optional
// `--set PATH=VALUE` overrides (PATH is a dotted field path such as
// `train.epochs`). LoadJobConfig reads the file, applies the overrides in
// order, fills in defaults for absent optional fields and validates the
// result. Every error names where it came from:
//
//   examples/job.textproto:7:3: Message type "descent.v1.TrainConfig" has no
//       field named "epoch".
//   examples/job.textproto:9:13: train.batch_size: must be in [1, 1048576],
//       got 0
//   --set train.epochs=x: cannot parse "x" as int32
//
// Errors are INVALID_ARGUMENT (NOT_FOUND for a missing file); on error no
// config is returned. All functions are thread-compatible.
#ifndef DESCENT_COMMON_CONFIG_CONFIG_H_
#define DESCENT_COMMON_CONFIG_CONFIG_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/field_problem.h"
#include "descent/v1/job.pb.h"

namespace descent {

// Reads `path`, applies `overrides` ("PATH=VALUE" each), applies defaults,
// validates.
absl::StatusOr<v1::JobConfig> LoadJobConfig(
    const std::string& path, const std::vector<std::string>& overrides);

// As LoadJobConfig, with the file's contents given as `text`; `source_name`
// is used in error messages in place of the file name.
absl::StatusOr<v1::JobConfig> ParseJobConfig(
    const std::string& text, const std::string& source_name,
    const std::vector<std::string>& overrides);

// " (did you mean "epochs"?); valid fields: a, b, c" for an unknown `name`:
// the valid `names` (`what` says of what), and the nearest one when it is
// close enough to be a typo.
std::string NamesHint(absl::string_view name,
                      const std::vector<std::string>& names,
                      absl::string_view what);

// Sets the field at dotted `path` of `config` from `value` (protobuf
// text-format syntax for the field's type; strings need no quotes; a
// message field takes a text-format message body such as "{}" or
// "{learning_rate: 0.01}" and replaces the whole message; a repeated field
// takes a list, "[32, 16]" or a single element, and replaces the list).
// A path may not lead through a repeated field, nor through a oneof member
// other than the one `config` chose (that would switch members silently).
// On error leaves `config` unchanged.
absl::Status ApplyOverride(const std::string& assignment,
                           v1::JobConfig* config);

// Fills every absent optional field with its documented default (listed in
// common/defaults.h).
void ApplyDefaults(v1::JobConfig* config);

// Whether a worker may overlap a push with its next gradient under
// `consistency`: ASP only (BSP and SSP wait for each push's answer). It is
// train.overlap_communication's default, and validation refuses true where
// it is false.
bool CanOverlapPushes(v1::Consistency consistency);

// Returns the first rule `config` breaks (its field a dotted path from the
// JobConfig, e.g. "train.epochs"), or nullopt if it is valid. Expects
// defaults to have been applied.
std::optional<FieldProblem> FindConfigIssue(const v1::JobConfig& config);

// A fresh job id: "job-YYYYMMDD-HHMMSS-xxxx" (UTC, 4 random hex digits).
std::string NewJobId();

// The config as text format, as LoadJobConfig reads it back.
std::string JobConfigToText(const v1::JobConfig& config);

// 16 lowercase hex digits identifying `config` (a hash of its text format
// with job_id cleared, so reruns of one config share it): the
// descent_job_config_info metric's label and summary.json's config_hash.
std::string ConfigHash(const v1::JobConfig& config);

}  // namespace descent

#endif  // DESCENT_COMMON_CONFIG_CONFIG_H_
