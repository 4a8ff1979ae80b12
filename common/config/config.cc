#include "common/config/config.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <limits>
#include <memory>
#include <random>
#include <set>
#include <sstream>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/federated/client_privacy.h"
#include "common/hashed_random.h"
#include "common/status_macros.h"
#include "google/protobuf/io/tokenizer.h"
#include "google/protobuf/text_format.h"

namespace descent {
namespace {

namespace pb = google::protobuf;

// Levenshtein distance between `a` and `b` (insertions, deletions and
// substitutions each cost 1).
size_t EditDistance(absl::string_view a, absl::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1,
                         diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

}  // namespace

std::string NamesHint(absl::string_view name,
                      const std::vector<std::string>& names,
                      absl::string_view what) {
  const std::string* nearest = nullptr;
  size_t best = std::numeric_limits<size_t>::max();
  for (const std::string& candidate : names) {
    const size_t distance = EditDistance(name, candidate);
    if (distance < best) {
      best = distance;
      nearest = &candidate;
    }
  }
  std::string hint;
  if (nearest != nullptr && best <= std::max<size_t>(2, name.size() / 3)) {
    absl::StrAppend(&hint, " (did you mean \"", *nearest, "\"?)");
  }
  absl::StrAppend(&hint, "; valid ", what, ": ", absl::StrJoin(names, ", "));
  return hint;
}

namespace {

std::vector<std::string> FieldNames(const pb::Descriptor* type) {
  std::vector<std::string> names;
  for (int i = 0; i < type->field_count(); ++i) {
    names.push_back(type->field(i)->name());
  }
  return names;
}

// An enum's value names, less the proto3 zero placeholder *_UNSPECIFIED
// (it means "the default", which the README names).
std::vector<std::string> EnumNames(const pb::EnumDescriptor* type) {
  std::vector<std::string> names;
  for (int i = 0; i < type->value_count(); ++i) {
    if (!absl::EndsWith(type->value(i)->name(), "_UNSPECIFIED")) {
      names.push_back(type->value(i)->name());
    }
  }
  return names;
}

// The enum types of fields named `name` in messages reachable from `root`.
void CollectEnumsOfField(const pb::Descriptor* type, absl::string_view name,
                         std::set<const pb::Descriptor*>* seen,
                         std::set<const pb::EnumDescriptor*>* enums) {
  if (!seen->insert(type).second) return;
  for (int i = 0; i < type->field_count(); ++i) {
    const pb::FieldDescriptor* field = type->field(i);
    if (field->enum_type() != nullptr && field->name() == name) {
      enums->insert(field->enum_type());
    }
    if (field->message_type() != nullptr) {
      CollectEnumsOfField(field->message_type(), name, seen, enums);
    }
  }
}

// The text between the first `open` in `text` and the next `close`, or ""
// if absent.
std::string Between(const std::string& text, const std::string& open,
                    const std::string& close) {
  const size_t begin = text.find(open);
  if (begin == std::string::npos) return "";
  const size_t first = begin + open.size();
  const size_t end = text.find(close, first);
  return end == std::string::npos ? "" : text.substr(first, end - first);
}

// Adds the valid names to protobuf's "no field named" and "unknown
// enumeration value" messages (the types looked up from `root`).
std::string ExplainParseError(const std::string& message,
                              const pb::Descriptor* root) {
  const std::string type_name =
      Between(message, "Message type \"", "\" has no field named");
  if (!type_name.empty()) {
    const pb::Descriptor* type =
        pb::DescriptorPool::generated_pool()->FindMessageTypeByName(type_name);
    const std::string name = Between(message, "has no field named \"", "\"");
    if (type == nullptr) return message;
    return absl::StrCat(absl::StripSuffix(message, "."),
                        NamesHint(name, FieldNames(type), "fields"));
  }
  const std::string value =
      Between(message, "Unknown enumeration value of \"", "\"");
  if (value.empty()) return message;
  const std::string field = Between(message, "for field \"", "\"");
  std::set<const pb::Descriptor*> seen;
  std::set<const pb::EnumDescriptor*> enums;
  CollectEnumsOfField(root, field, &seen, &enums);
  if (enums.size() != 1) return message;
  return absl::StrCat(absl::StripSuffix(message, "."),
                      NamesHint(value, EnumNames(*enums.begin()), "values"));
}

// Collects the text parser's first error as "source:line:column: message"
// (1-based, as editors count; `source` empty: the message alone), with the
// valid names added to unknown-name errors (ExplainParseError). Installed
// on every parser, it also keeps protobuf from logging the error itself.
class FirstErrorCollector : public pb::io::ErrorCollector {
 public:
  FirstErrorCollector(std::string source, const pb::Descriptor* root)
      : source_(std::move(source)), root_(root) {}

  void AddError(int line, pb::io::ColumnNumber column,
                const std::string& message) override {
    if (!error_.empty()) return;
    error_ = ExplainParseError(message, root_);
    if (!source_.empty()) {
      error_ =
          absl::StrCat(source_, ":", line + 1, ":", column + 1, ": ", error_);
    }
  }
  void AddWarning(int line, pb::io::ColumnNumber column,
                  const std::string& message) override {
    AddError(line, column, message);  // unknown-field warnings are errors
  }
  const std::string& error() const { return error_; }

 private:
  const std::string source_;
  const pb::Descriptor* const root_;
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

// `{b {c: value}}` for the path parts [b, c]: the text of a whole message
// that sets one nested field.
std::string NestedText(const std::vector<std::string>& parts, size_t from,
                       const std::string& value) {
  if (from + 1 == parts.size()) {
    return absl::StrCat("{", parts[from], ": ", value, "}");
  }
  return absl::StrCat("{", parts[from], " ", NestedText(parts, from + 1, value),
                      "}");
}

// Walks `path` to the message holding its last field, creating parents.
// Refuses to walk into a oneof member other than the one already chosen:
// that would switch the member silently, dropping the chosen one's fields.
absl::StatusOr<std::pair<pb::Message*, const pb::FieldDescriptor*>> ResolvePath(
    pb::Message* root, const std::string& path, const std::string& value) {
  pb::Message* message = root;
  std::vector<std::string> parts = absl::StrSplit(path, '.');
  for (size_t i = 0; i < parts.size(); ++i) {
    const pb::Descriptor* type = message->GetDescriptor();
    const pb::FieldDescriptor* field = type->FindFieldByName(parts[i]);
    const std::string prefix =
        absl::StrJoin(parts.begin(), parts.begin() + i + 1, ".");
    if (field == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat(type->full_name(), " has no field named \"", parts[i],
                       "\"", NamesHint(parts[i], FieldNames(type), "fields")));
    }
    if (i + 1 == parts.size()) return std::make_pair(message, field);
    if (field->is_repeated()) {
      return absl::InvalidArgumentError(
          absl::StrCat(prefix, " is repeated; give the whole list, e.g. --set ",
                       prefix, "=[", NestedText(parts, i + 1, value), "]"));
    }
    if (field->cpp_type() != pb::FieldDescriptor::CPPTYPE_MESSAGE) {
      return absl::InvalidArgumentError(
          absl::StrCat(field->full_name(), " is not a message"));
    }
    const pb::Reflection* reflection = message->GetReflection();
    const pb::OneofDescriptor* oneof = field->real_containing_oneof();
    if (oneof != nullptr) {
      const pb::FieldDescriptor* chosen =
          reflection->GetOneofFieldDescriptor(*message, oneof);
      if (chosen != nullptr && chosen != field) {
        const std::string base =
            absl::StrJoin(parts.begin(), parts.begin() + i, ".");
        const std::string chosen_path =
            base.empty() ? chosen->name()
                         : absl::StrCat(base, ".", chosen->name());
        return absl::InvalidArgumentError(absl::StrCat(
            "the config chose ", chosen_path, "; setting a field of ", prefix,
            " would switch to it and drop ", chosen_path,
            "'s settings; to switch, give the whole member: --set ", prefix,
            "=", NestedText(parts, i + 1, value)));
      }
    }
    message = reflection->MutableMessage(message, field);
  }
  return absl::InvalidArgumentError("empty field path");
}

// Replaces `field` of `message` with `value`, in text-format syntax for the
// field ("3", "RELU", "{learning_rate: 0.1}", "[32, 16]"; a message may
// also be its fields alone, "learning_rate: 0.1"; a single string needs no
// quotes).
absl::Status SetFieldFromText(pb::Message* message,
                              const pb::FieldDescriptor* field,
                              const std::string& value) {
  const pb::Reflection* reflection = message->GetReflection();
  if (field->cpp_type() == pb::FieldDescriptor::CPPTYPE_STRING &&
      !field->is_repeated()) {
    reflection->SetString(message, field, value);
    return absl::OkStatus();
  }
  std::unique_ptr<pb::Message> parsed(message->New());
  pb::TextFormat::Parser parser;
  FirstErrorCollector errors("", v1::JobConfig::descriptor());
  parser.RecordErrorsTo(&errors);
  // A message may also be given as its fields alone: "learning_rate: 0.1".
  const absl::string_view trimmed = absl::StripLeadingAsciiWhitespace(value);
  const bool bare_message =
      field->message_type() != nullptr && !absl::StartsWith(trimmed, "{") &&
      !absl::StartsWith(trimmed, "[") && !absl::StartsWith(trimmed, "<");
  const std::string text = bare_message
                               ? absl::StrCat(field->name(), " {", value, "}")
                               : absl::StrCat(field->name(), ": ", value);
  if (!parser.ParseFromString(text, parsed.get())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cannot parse \"", value, "\" as ",
        field->is_repeated() ? "a list of " : "",
        field->message_type() != nullptr ? field->message_type()->name()
        : field->enum_type() != nullptr  ? field->enum_type()->name()
                                         : field->type_name(),
        ": ", errors.error()));
  }
  reflection->ClearField(message, field);
  message->MergeFrom(*parsed);
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
  auto resolved = ResolvePath(&updated, assignment.substr(0, eq),
                              assignment.substr(eq + 1));
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
  FirstErrorCollector errors(source_name, v1::JobConfig::descriptor());
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
  if (!issue.has_value()) {
    LimitRoundsToBudget(&config);
    return config;
  }
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
  return absl::StrCat(
      absl::Hex(Fnv1a64(JobConfigToText(job)), absl::kZeroPad16));
}

}  // namespace descent
