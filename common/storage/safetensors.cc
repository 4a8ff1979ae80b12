#include "common/storage/safetensors.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "common/wire.h"  // little-endian host
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"

namespace descent {
namespace {

size_t ElementSize(const std::string& dtype) {
  return dtype == "U64" ? sizeof(uint64_t) : sizeof(float);
}

}  // namespace

int64_t ShapeElements(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (const int64_t d : shape) {
    if (d < 0 || (d > 0 && n > (int64_t{1} << 60) / d)) return -1;
    n *= d;
  }
  return n;
}

namespace {

// A JSON number that is a non-negative integer below 2^53, or -1.
int64_t NonNegativeInteger(const google::protobuf::Value& value) {
  if (value.kind_case() != google::protobuf::Value::kNumberValue) return -1;
  const double d = value.number_value();
  if (!(d >= 0) || d >= 9007199254740992.0 || std::floor(d) != d) return -1;
  return static_cast<int64_t>(d);
}

// One tensor's header entry, checked: the tensor without its data, and its
// byte range.
struct Entry {
  NamedTensor tensor;
  int64_t begin = 0;
  int64_t end = 0;
};

absl::StatusOr<Entry> ParseEntry(const std::string& name,
                                 const google::protobuf::Value& value,
                                 const std::string& path) {
  auto bad = [&](const std::string& why) {
    return absl::DataLossError(
        absl::StrCat(path, ": tensor \"", name, "\": ", why));
  };
  if (value.kind_case() != google::protobuf::Value::kStructValue) {
    return bad("not a JSON object");
  }
  const auto& fields = value.struct_value().fields();
  Entry entry;
  entry.tensor.name = name;
  const auto dtype = fields.find("dtype");
  if (dtype == fields.end() || (dtype->second.string_value() != "F32" &&
                                dtype->second.string_value() != "U64")) {
    return bad("dtype must be \"F32\" or \"U64\"");
  }
  entry.tensor.dtype = dtype->second.string_value();
  const auto shape = fields.find("shape");
  if (shape == fields.end() ||
      shape->second.kind_case() != google::protobuf::Value::kListValue) {
    return bad("no shape list");
  }
  for (const google::protobuf::Value& dim :
       shape->second.list_value().values()) {
    const int64_t d = NonNegativeInteger(dim);
    if (d < 0) return bad("a shape dimension is not a non-negative integer");
    entry.tensor.shape.push_back(d);
  }
  const auto offsets = fields.find("data_offsets");
  if (offsets == fields.end() ||
      offsets->second.kind_case() != google::protobuf::Value::kListValue ||
      offsets->second.list_value().values_size() != 2) {
    return bad("data_offsets must be [begin, end]");
  }
  entry.begin = NonNegativeInteger(offsets->second.list_value().values(0));
  entry.end = NonNegativeInteger(offsets->second.list_value().values(1));
  if (entry.begin < 0 || entry.end < entry.begin) {
    return bad("data_offsets must be integers with 0 <= begin <= end");
  }
  const int64_t elements = ShapeElements(entry.tensor.shape);
  if (elements < 0 ||
      entry.end - entry.begin !=
          elements * static_cast<int64_t>(ElementSize(entry.tensor.dtype))) {
    return bad(absl::StrCat("shape [", absl::StrJoin(entry.tensor.shape, ","),
                            "] of ", entry.tensor.dtype, " does not fit ",
                            entry.end - entry.begin, " bytes of data_offsets"));
  }
  return entry;
}

}  // namespace

std::string JsonString(const std::string& text) {
  std::string out = "\"";
  for (const char ch : text) {
    const unsigned char c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(ch);
    } else if (c < 0x20) {
      absl::StrAppendFormat(&out, "\\u%04x", c);
    } else {
      out.push_back(ch);
    }
  }
  return out + "\"";
}

std::string EncodeSafetensors(
    const std::vector<NamedTensor>& tensors,
    const std::map<std::string, std::string>& metadata) {
  std::string header = "{";
  std::string data;
  for (const NamedTensor& t : tensors) {
    const size_t begin = data.size();
    if (t.dtype == "U64") {
      data.append(reinterpret_cast<const char*>(t.u64.data()),
                  t.u64.size() * sizeof(uint64_t));
    } else {
      data.append(reinterpret_cast<const char*>(t.f32.data()),
                  t.f32.size() * sizeof(float));
    }
    absl::StrAppend(&header, header.size() > 1 ? "," : "", JsonString(t.name),
                    ":{\"dtype\":\"", t.dtype, "\",\"shape\":[",
                    absl::StrJoin(t.shape, ","), "],\"data_offsets\":[", begin,
                    ",", data.size(), "]}");
  }
  if (!metadata.empty()) {
    absl::StrAppend(&header, header.size() > 1 ? "," : "",
                    "\"__metadata__\":{");
    bool first = true;
    for (const auto& [key, value] : metadata) {
      absl::StrAppend(&header, first ? "" : ",", JsonString(key), ":",
                      JsonString(value));
      first = false;
    }
    header += "}";
  }
  header += "}";
  header.append((8 - header.size() % 8) % 8, ' ');
  std::string out(8, '\0');
  const uint64_t length = header.size();
  std::memcpy(out.data(), &length, sizeof(length));
  return out + header + data;
}

absl::StatusOr<std::vector<NamedTensor>> DecodeSafetensors(
    const std::string& bytes, const std::string& path) {
  auto bad = [&path](const std::string& why) {
    return absl::DataLossError(
        absl::StrCat(path, ": not a valid safetensors file: ", why));
  };
  if (bytes.size() < 8) {
    return bad(absl::StrCat("holds ", bytes.size(),
                            " bytes, under the 8 of "
                            "the header length"));
  }
  uint64_t length;
  std::memcpy(&length, bytes.data(), sizeof(length));
  if (length < 2 || length > bytes.size() - 8) {
    return bad(absl::StrCat("header length ", length, " does not fit the ",
                            bytes.size(), " bytes of the file"));
  }
  google::protobuf::Struct header;
  const auto parsed = google::protobuf::util::JsonStringToMessage(
      bytes.substr(8, length), &header);
  if (!parsed.ok()) {
    return bad(absl::StrCat("the header is not a JSON object: ",
                            std::string(parsed.message())));
  }
  const int64_t data_size = static_cast<int64_t>(bytes.size() - 8 - length);
  std::vector<Entry> entries;
  for (const auto& [name, value] : header.fields()) {
    if (name == "__metadata__") continue;
    ASSIGN_OR_RETURN(Entry entry, ParseEntry(name, value, path));
    entries.push_back(std::move(entry));
  }
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return std::tie(a.begin, a.end) < std::tie(b.begin, b.end);
  });
  // The ranges tile the data exactly: no gap, no overlap, nothing after.
  int64_t at = 0;
  for (const Entry& e : entries) {
    if (e.begin != at) {
      return bad(absl::StrCat("tensor \"", e.tensor.name, "\" starts at byte ",
                              e.begin, " of the data, expected ", at,
                              " (ranges overlap or leave a gap)"));
    }
    at = e.end;
  }
  if (at != data_size) {
    return bad(absl::StrCat("the tensors cover ", at,
                            " bytes of data; the file "
                            "holds ",
                            data_size, " (truncated or extended)"));
  }
  std::vector<NamedTensor> tensors;
  const char* data = bytes.data() + 8 + length;
  for (Entry& e : entries) {
    const size_t size = e.end - e.begin;
    if (e.tensor.dtype == "U64") {
      e.tensor.u64.resize(size / sizeof(uint64_t));
      if (size > 0) std::memcpy(e.tensor.u64.data(), data + e.begin, size);
    } else {
      e.tensor.f32.resize(size / sizeof(float));
      if (size > 0) std::memcpy(e.tensor.f32.data(), data + e.begin, size);
    }
    tensors.push_back(std::move(e.tensor));
  }
  return tensors;
}

}  // namespace descent
