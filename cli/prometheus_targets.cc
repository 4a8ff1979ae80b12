#include "cli/prometheus_targets.h"

#include "absl/strings/str_cat.h"

namespace descent {
namespace {

// A JSON string literal. Addresses are host:port, but a host name given by
// a person may hold anything.
std::string Quote(const std::string& text) {
  std::string out = "\"";
  for (const char c : text) {
    if (c == '"' || c == '\\') {
      absl::StrAppend(&out, "\\", std::string(1, c));
    } else if (static_cast<unsigned char>(c) < 0x20) {
      absl::StrAppend(&out, "\\u00",
                      absl::Hex(static_cast<unsigned>(c), absl::kZeroPad2));
    } else {
      out.push_back(c);
    }
  }
  return out + "\"";
}

// The labels of one member of job `job_id`, as its own metrics carry them.
std::string Labels(const std::string& job_id, const v1::Member& member) {
  const std::string job = absl::StrCat("\"job_id\": ", Quote(job_id), ", ");
  switch (member.role()) {
    case v1::SERVER:
      return absl::StrCat("{", job, "\"role\": \"server\", \"shard\": \"",
                          member.id(), "\"}");
    case v1::WORKER:
      return absl::StrCat("{", job, "\"role\": \"worker\", \"worker\": \"",
                          member.id(), "\"}");
    default:
      return absl::StrCat("{", job, "\"role\": \"coordinator\"}");
  }
}

}  // namespace

std::string PrometheusTargets(const v1::JobStatus& status) {
  std::string groups;
  for (const v1::Member& member : status.members()) {
    if (member.metrics_address().empty()) continue;
    absl::StrAppend(&groups, groups.empty() ? "" : ",\n", "  {\"targets\": [",
                    Quote(member.metrics_address()),
                    "], \"labels\": ", Labels(status.job_id(), member), "}");
  }
  return groups.empty() ? "[]\n" : absl::StrCat("[\n", groups, "\n]\n");
}

}  // namespace descent
