// The job config parser, defaults and validation, and --set overrides: any
// text either gives a valid config or an error, never a crash. Input: the
// config text, then optionally "\n--set\n" and one override per line.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "common/config/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  const size_t split = input.find("\n--set\n");
  const std::string text = input.substr(0, split);
  std::vector<std::string> overrides;
  if (split != std::string::npos) {
    overrides = absl::StrSplit(input.substr(split + 7), '\n');
  }
  auto config = descent::ParseJobConfig(text, "fuzz.textproto", overrides);
  if (config.ok()) {
    // A valid config survives every override, applied or refused.
    for (const std::string& assignment : overrides) {
      (void)descent::ApplyOverride(assignment, &*config);
    }
  }
  return 0;
}
