#include "common/data/text_lines.h"

#include <algorithm>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/data/gz_file.h"
#include "common/status_macros.h"

namespace descent {
namespace {

// Bytes decompressed (or read) per call.
constexpr int64_t kChunkBytes = 1 << 16;

}  // namespace

absl::Status ForEachLine(const std::string& path, LineVisitor visit) {
  ASSIGN_OR_RETURN(GzReader reader, GzReader::Open(path));
  // Not zeroed: a small file's lines cost no 64 KiB memset.
  const int64_t chunk_bytes = std::min(kChunkBytes, reader.buffer_bytes());
  std::unique_ptr<char[]> chunk(new char[chunk_bytes]);
  std::string pending;  // the start of a line that has not ended yet
  int64_t line_number = 0;
  auto deliver = [&](absl::string_view line) {
    absl::ConsumeSuffix(&line, "\r");
    if (++line_number == 1) absl::ConsumePrefix(&line, "\xEF\xBB\xBF");
    return visit(line_number, line);
  };
  while (true) {
    ASSIGN_OR_RETURN(const int64_t got, reader.Read(chunk.get(), chunk_bytes));
    if (got == 0) break;
    absl::string_view data(chunk.get(), static_cast<size_t>(got));
    for (size_t end = data.find('\n'); end != absl::string_view::npos;
         end = data.find('\n')) {
      if (pending.empty()) {
        RETURN_IF_ERROR(deliver(data.substr(0, end)));
      } else {
        pending.append(data.data(), end);
        RETURN_IF_ERROR(deliver(pending));
        pending.clear();
      }
      data.remove_prefix(end + 1);
    }
    pending.append(data.data(), data.size());
  }
  if (reader.truncated()) {
    return absl::DataLossError(absl::StrCat(
        path, ": truncated gzip stream (the file ends before its data does)"));
  }
  if (!pending.empty()) return deliver(pending);
  return absl::OkStatus();
}

}  // namespace descent
