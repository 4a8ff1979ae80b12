#include "server/coordinator/proto_json.h"

#include <charconv>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "google/protobuf/descriptor.h"

namespace descent {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

void AppendString(const std::string& text, std::string* out) {
  out->push_back('"');
  for (const char c : text) {
    switch (c) {
      case '"':
        out->append("\\\"");
        break;
      case '\\':
        out->append("\\\\");
        break;
      case '\n':
        out->append("\\n");
        break;
      case '\r':
        out->append("\\r");
        break;
      case '\t':
        out->append("\\t");
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          absl::StrAppendFormat(out, "\\u%04x", static_cast<int>(c));
        } else {
          out->push_back(c);
        }
    }
  }
  out->push_back('"');
}

// The shortest text that reads back as `value`; JSON has no NaN or
// infinities, so those are protobuf's strings for them.
template <typename Float>
void AppendFloat(Float value, std::string* out) {
  if (std::isnan(value)) {
    out->append("\"NaN\"");
  } else if (std::isinf(value)) {
    out->append(value > 0 ? "\"Infinity\"" : "\"-Infinity\"");
  } else {
    char buffer[64];
    const std::to_chars_result end =
        std::to_chars(buffer, buffer + sizeof(buffer), value);
    out->append(buffer, end.ptr);
  }
}

void AppendMessage(const Message& message, int depth, std::string* out);

// Element `index` of a repeated field, or the singular field if index < 0.
void AppendValue(const Message& message, const FieldDescriptor* field,
                 int index, int depth, std::string* out) {
  const Reflection* r = message.GetReflection();
  const bool repeated = index >= 0;
  switch (field->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32:
      absl::StrAppend(out, repeated ? r->GetRepeatedInt32(message, field, index)
                                    : r->GetInt32(message, field));
      break;
    case FieldDescriptor::CPPTYPE_INT64:
      absl::StrAppend(out, repeated ? r->GetRepeatedInt64(message, field, index)
                                    : r->GetInt64(message, field));
      break;
    case FieldDescriptor::CPPTYPE_UINT32:
      absl::StrAppend(out, repeated
                               ? r->GetRepeatedUInt32(message, field, index)
                               : r->GetUInt32(message, field));
      break;
    case FieldDescriptor::CPPTYPE_UINT64:
      absl::StrAppend(out, repeated
                               ? r->GetRepeatedUInt64(message, field, index)
                               : r->GetUInt64(message, field));
      break;
    case FieldDescriptor::CPPTYPE_DOUBLE:
      AppendFloat(repeated ? r->GetRepeatedDouble(message, field, index)
                           : r->GetDouble(message, field),
                  out);
      break;
    case FieldDescriptor::CPPTYPE_FLOAT:
      AppendFloat(repeated ? r->GetRepeatedFloat(message, field, index)
                           : r->GetFloat(message, field),
                  out);
      break;
    case FieldDescriptor::CPPTYPE_BOOL:
      out->append((repeated ? r->GetRepeatedBool(message, field, index)
                            : r->GetBool(message, field))
                      ? "true"
                      : "false");
      break;
    case FieldDescriptor::CPPTYPE_ENUM: {
      const int number = repeated
                             ? r->GetRepeatedEnumValue(message, field, index)
                             : r->GetEnumValue(message, field);
      const auto* value = field->enum_type()->FindValueByNumber(number);
      if (value != nullptr) {
        AppendString(std::string(value->name()), out);
      } else {
        absl::StrAppend(out, number);
      }
      break;
    }
    case FieldDescriptor::CPPTYPE_STRING: {
      const std::string text = repeated
                                   ? r->GetRepeatedString(message, field, index)
                                   : r->GetString(message, field);
      AppendString(field->type() == FieldDescriptor::TYPE_BYTES
                       ? absl::Base64Escape(text)
                       : text,
                   out);
      break;
    }
    case FieldDescriptor::CPPTYPE_MESSAGE:
      AppendMessage(repeated ? r->GetRepeatedMessage(message, field, index)
                             : r->GetMessage(message, field),
                    depth, out);
      break;
  }
}

void Indent(int depth, std::string* out) {
  out->push_back('\n');
  out->append(depth, ' ');
}

bool Applies(const Message& message, const FieldDescriptor* field) {
  const Reflection* r = message.GetReflection();
  if (field->is_repeated()) return r->FieldSize(message, field) > 0;
  if (field->has_presence()) return r->HasField(message, field);
  return true;
}

void AppendMessage(const Message& message, int depth, std::string* out) {
  const google::protobuf::Descriptor* descriptor = message.GetDescriptor();
  const Reflection* r = message.GetReflection();
  std::vector<const FieldDescriptor*> fields;
  for (int i = 0; i < descriptor->field_count(); ++i) {
    if (Applies(message, descriptor->field(i))) {
      fields.push_back(descriptor->field(i));
    }
  }
  if (fields.empty()) {
    out->append("{}");
    return;
  }
  out->push_back('{');
  for (size_t i = 0; i < fields.size(); ++i) {
    const FieldDescriptor* field = fields[i];
    Indent(depth + 1, out);
    AppendString(std::string(field->name()), out);
    out->append(": ");
    if (!field->is_repeated()) {
      AppendValue(message, field, -1, depth + 1, out);
    } else {
      out->push_back('[');
      const int size = r->FieldSize(message, field);
      for (int k = 0; k < size; ++k) {
        Indent(depth + 2, out);
        AppendValue(message, field, k, depth + 2, out);
        if (k + 1 < size) out->push_back(',');
      }
      Indent(depth + 1, out);
      out->push_back(']');
    }
    if (i + 1 < fields.size()) out->push_back(',');
  }
  Indent(depth, out);
  out->push_back('}');
}

}  // namespace

std::string ProtoJson(const Message& message) {
  std::string out;
  AppendMessage(message, 0, &out);
  out.push_back('\n');
  return out;
}

}  // namespace descent
