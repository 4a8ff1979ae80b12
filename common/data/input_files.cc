#include "common/data/input_files.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace descent {
namespace {

namespace pb = google::protobuf;

bool NamesAFile(const std::string& field) {
  return field == "train" || field == "test" || field == "validation" ||
         absl::EndsWith(field, "_images") || absl::EndsWith(field, "_labels") ||
         absl::EndsWith(field, "_file");
}

}  // namespace

std::vector<std::pair<std::string, std::string>> InputFiles(
    const v1::DataConfig& data) {
  std::vector<std::pair<std::string, std::string>> files;
  const pb::OneofDescriptor* source =
      data.GetDescriptor()->FindOneofByName("source");
  const pb::Reflection* reflection = data.GetReflection();
  const pb::FieldDescriptor* chosen =
      reflection->GetOneofFieldDescriptor(data, source);
  if (chosen == nullptr) return files;
  const pb::Message& config = reflection->GetMessage(data, chosen);
  const pb::Descriptor* type = config.GetDescriptor();
  for (int i = 0; i < type->field_count(); ++i) {
    const pb::FieldDescriptor* field = type->field(i);
    if (field->is_repeated() ||
        field->cpp_type() != pb::FieldDescriptor::CPPTYPE_STRING ||
        !NamesAFile(field->name())) {
      continue;
    }
    const std::string path = config.GetReflection()->GetString(config, field);
    if (path.empty()) continue;
    files.emplace_back(
        absl::StrCat("data.", chosen->name(), ".", field->name()), path);
  }
  return files;
}

absl::Status CheckInputFiles(const v1::DataConfig& data) {
  std::vector<std::string> problems;
  bool denied = false;
  for (const auto& [field, path] : InputFiles(data)) {
    std::error_code error;
    if (!std::filesystem::exists(path, error)) {
      problems.push_back(absl::StrCat(field, ": ", path, ": no such file"));
    } else if (std::filesystem::is_directory(path, error)) {
      problems.push_back(absl::StrCat(field, ": ", path, ": is a directory"));
    } else if (!std::ifstream(path).is_open()) {
      denied = true;
      problems.push_back(absl::StrCat(field, ": ", path,
                                      ": cannot open: ", std::strerror(errno)));
    }
  }
  if (problems.empty()) return absl::OkStatus();
  const std::string message = absl::StrJoin(problems, "; ");
  return denied ? absl::PermissionDeniedError(message)
                : absl::NotFoundError(message);
}

}  // namespace descent
