// What the libFuzzer targets share: the fuzzer's bytes as a file for the
// readers (which read paths), and as a sequence of length-prefixed records
// for the targets that feed several requests to one server.
#ifndef DESCENT_TESTS_FUZZ_FUZZ_INPUT_H_
#define DESCENT_TESTS_FUZZ_FUZZ_INPUT_H_

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <set>
#include <string>

namespace descent {

// The temporary files WriteFuzzFile made, deleted at exit.
inline std::set<std::string>& FuzzFiles() {
  static auto* files = new std::set<std::string>;
  return *files;
}

// Writes `size` bytes to this process's temporary file `name` (replacing
// it; under $TMPDIR, deleted at exit) and returns its path. Aborts if it
// cannot: a broken fuzzing setup is not a finding.
inline std::string WriteFuzzFile(const std::string& name, const uint8_t* data,
                                 size_t size) {
  const char* dir = std::getenv("TMPDIR");
  const std::string path = std::string(dir != nullptr ? dir : "/tmp") +
                           "/descent-fuzz-" + std::to_string(::getpid()) + "-" +
                           name;
  if (FuzzFiles().insert(path).second && FuzzFiles().size() == 1) {
    std::atexit([] {
      for (const std::string& file : FuzzFiles()) std::remove(file.c_str());
    });
  }
  std::FILE* file = std::fopen(path.c_str(), "wb");
  if (file == nullptr || std::fwrite(data, 1, size, file) != size ||
      std::fclose(file) != 0) {
    std::perror(path.c_str());
    std::abort();
  }
  return path;
}

// Calls `record(kind, payload)` for each record "<kind byte><length
// byte><length bytes>" of `data`, until it runs out; a short last record
// takes what is left.
inline void ForEachRecord(
    const uint8_t* data, size_t size,
    const std::function<void(uint8_t kind, const std::string& payload)>&
        record) {
  size_t at = 0;
  while (at < size) {
    const uint8_t kind = data[at++];
    size_t length = at < size ? data[at++] : 0;
    if (length > size - at) length = size - at;
    record(kind, std::string(reinterpret_cast<const char*>(data + at), length));
    at += length;
  }
}

}  // namespace descent

#endif  // DESCENT_TESTS_FUZZ_FUZZ_INPUT_H_
