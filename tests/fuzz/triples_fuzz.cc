// The rating-triples reader on any bytes: ratings or an error.
#include <cstddef>
#include <cstdint>

#include "common/data/triples_reader.h"
#include "tests/fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = descent::WriteFuzzFile("in.tsv", data, size);
  (void)descent::ReadTriples(path);
  return 0;
}
