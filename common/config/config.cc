#include "common/config/config.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/status_macros.h"
#include "google/protobuf/io/tokenizer.h"
#include "google/protobuf/text_format.h"

namespace descent {
namespace {

namespace pb = google::protobuf;

// Collects the text parser's first error as "source:line:column: message"
// (1-based, as editors count).
class FirstErrorCollector : public pb::io::ErrorCollector {
 public:
  explicit FirstErrorCollector(std::string source)
      : source_(std::move(source)) {}

  void AddError(int line, pb::io::ColumnNumber column,
                const std::string& message) override {
    if (error_.empty()) {
      error_ =
          absl::StrCat(source_, ":", line + 1, ":", column + 1, ": ", message);
    }
  }
  void AddWarning(int line, pb::io::ColumnNumber column,
                  const std::string& message) override {
    AddError(line, column, message);  // unknown-field warnings are errors
  }
  const std::string& error() const { return error_; }

 private:
  const std::string source_;
  std::string error_;
};

// Where the field at dotted `path` was written in the parsed text, or
// nullopt if it was not written there.
std::optional<pb::TextFormat::ParseLocation> FindLocation(
    const pb::TextFormat::ParseInfoTree& tree, const pb::Descriptor* type,
    const std::string& path) {
  const pb::TextFormat::ParseInfoTree* node = &tree;
  std::vector<std::string> parts = absl::StrSplit(path, '.');
  for (size_t i = 0; i < parts.size(); ++i) {
    const pb::FieldDescriptor* field =
        type == nullptr ? nullptr : type->FindFieldByName(parts[i]);
    if (field == nullptr) return std::nullopt;
    if (i + 1 == parts.size()) {
      pb::TextFormat::ParseLocation location = node->GetLocation(field, -1);
      if (location.line < 0) return std::nullopt;
      return location;
    }
    node = node->GetTreeForNested(field, -1);
    if (node == nullptr) return std::nullopt;
    type = field->message_type();
  }
  return std::nullopt;
}

bool PathWithin(const std::string& path, const std::string& prefix) {
  return path == prefix || absl::StartsWith(path, prefix + ".");
}

// Walks `path` to the message holding its last field, creating parents.
absl::StatusOr<std::pair<pb::Message*, const pb::FieldDescriptor*>> ResolvePath(
    pb::Message* root, const std::string& path) {
  pb::Message* message = root;
  std::vector<std::string> parts = absl::StrSplit(path, '.');
  for (size_t i = 0; i < parts.size(); ++i) {
    const pb::Descriptor* type = message->GetDescriptor();
    const pb::FieldDescriptor* field = type->FindFieldByName(parts[i]);
    if (field == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(
          type->full_name(), " has no field named \"", parts[i], "\""));
    }
    if (field->is_repeated()) {
      return absl::InvalidArgumentError(
          absl::StrCat(field->full_name(), " is repeated; set it in the file"));
    }
    if (i + 1 == parts.size()) return std::make_pair(message, field);
    if (field->cpp_type() != pb::FieldDescriptor::CPPTYPE_MESSAGE) {
      return absl::InvalidArgumentError(
          absl::StrCat(field->full_name(), " is not a message"));
    }
    message = message->GetReflection()->MutableMessage(message, field);
  }
  return absl::InvalidArgumentError("empty field path");
}

absl::Status SetFieldFromText(pb::Message* message,
                              const pb::FieldDescriptor* field,
                              const std::string& value) {
  const pb::Reflection* reflection = message->GetReflection();
  if (field->cpp_type() == pb::FieldDescriptor::CPPTYPE_STRING) {
    reflection->SetString(message, field, value);
    return absl::OkStatus();
  }
  if (field->cpp_type() == pb::FieldDescriptor::CPPTYPE_MESSAGE) {
    pb::Message* sub = reflection->MutableMessage(message, field);
    if (!pb::TextFormat::ParseFromString(value, sub)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "cannot parse \"", value, "\" as ", field->message_type()->name()));
    }
    return absl::OkStatus();
  }
  if (!pb::TextFormat::ParseFieldValueFromString(value, field, message)) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot parse \"", value, "\" as ", field->type_name()));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    return absl::NotFoundError(
        absl::StrCat(path, ": cannot open config file: ", strerror(errno)));
  }
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

}  // namespace

absl::Status ApplyOverride(const std::string& assignment,
                           v1::JobConfig* config) {
  const size_t eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--set ", assignment, ": expected PATH=VALUE, e.g. train.epochs=3"));
  }
  v1::JobConfig updated = *config;
  auto resolved = ResolvePath(&updated, assignment.substr(0, eq));
  absl::Status status =
      resolved.ok() ? SetFieldFromText(resolved->first, resolved->second,
                                       assignment.substr(eq + 1))
                    : resolved.status();
  if (!status.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--set ", assignment, ": ", status.message()));
  }
  *config = std::move(updated);
  return absl::OkStatus();
}

absl::StatusOr<v1::JobConfig> ParseJobConfig(
    const std::string& text, const std::string& source_name,
    const std::vector<std::string>& overrides) {
  v1::JobConfig config;
  pb::TextFormat::Parser parser;
  FirstErrorCollector errors(source_name);
  pb::TextFormat::ParseInfoTree locations;
  parser.RecordErrorsTo(&errors);
  parser.WriteLocationsTo(&locations);
  if (!parser.ParseFromString(text, &config)) {
    return absl::InvalidArgumentError(errors.error());
  }
  std::vector<std::string> overridden;
  for (const std::string& assignment : overrides) {
    RETURN_IF_ERROR(ApplyOverride(assignment, &config));
    overridden.push_back(assignment);
  }
  ApplyDefaults(&config);
  std::optional<FieldProblem> issue = FindConfigIssue(config);
  if (!issue.has_value()) return config;
  // Blame the last override that touched the field, else the file.
  for (auto it = overridden.rbegin(); it != overridden.rend(); ++it) {
    if (PathWithin(issue->field, it->substr(0, it->find('=')))) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--set ", *it, ": ", issue->field, ": ", issue->problem));
    }
  }
  std::string where = source_name;
  auto location =
      FindLocation(locations, v1::JobConfig::descriptor(), issue->field);
  if (location.has_value()) {
    absl::StrAppend(&where, ":", location->line + 1, ":", location->column + 1);
  }
  return absl::InvalidArgumentError(
      absl::StrCat(where, ": ", issue->field, ": ", issue->problem));
}

absl::StatusOr<v1::JobConfig> LoadJobConfig(
    const std::string& path, const std::vector<std::string>& overrides) {
  ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  return ParseJobConfig(text, path, overrides);
}

std::string NewJobId() {
  std::random_device random;
  return absl::StrCat(
      absl::FormatTime("job-%Y%m%d-%H%M%S-", absl::Now(), absl::UTCTimeZone()),
      absl::Hex(random() & 0xffff, absl::kZeroPad4));
}

std::string JobConfigToText(const v1::JobConfig& config) {
  std::string text;
  pb::TextFormat::PrintToString(config, &text);
  return text;
}

std::string ConfigHash(const v1::JobConfig& config) {
  v1::JobConfig job = config;
  job.clear_job_id();
  // 64-bit FNV-1a: stable across builds and machines, unlike std::hash.
  uint64_t hash = 0xcbf29ce484222325u;
  for (unsigned char c : JobConfigToText(job)) {
    hash = (hash ^ c) * 0x100000001b3u;
  }
  return absl::StrCat(absl::Hex(hash, absl::kZeroPad16));
}

}  // namespace descent
