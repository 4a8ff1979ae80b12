// The LIBSVM reader on any bytes (plain or gzip'd): examples or an error.
// The first byte picks the options (index base, regression, a cap).
#include <cstddef>
#include <cstdint>

#include "common/data/libsvm_reader.h"
#include "tests/fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  descent::LibsvmOptions options;
  const uint8_t choice = data[0];
  if (choice & 1) options.zero_based = (choice & 2) != 0;
  options.regression = (choice & 4) != 0;
  options.max_features = (choice & 8) ? 1 << 20 : 0;
  if (choice & 16) options.num_features = 64;
  const std::string path = descent::WriteFuzzFile("in.svm", data + 1, size - 1);
  auto sparse = descent::ReadLibsvm(path, options);
  // Divided, not multiplied: a file can declare ~2^62 features (the
  // product overflowed, a harness bug the fuzzer found).
  if (sparse.ok() && sparse->num_features > 0 &&
      sparse->num_examples < (1 << 20) / sparse->num_features) {
    (void)descent::ReadLibsvmDense(path, options);
  }
  return 0;
}
