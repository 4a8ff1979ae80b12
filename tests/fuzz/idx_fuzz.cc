// The IDX reader (Fashion-MNIST's format, plain or gzip'd) on any bytes:
// the first byte says where the image file ends and the label file begins
// (as a share of the input); both are then read as a data set, and the
// images alone and each header on their own.
#include <cstddef>
#include <cstdint>

#include "common/data/idx_reader.h"
#include "tests/fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const size_t rest = size - 1;
  const size_t images = rest * data[0] / 255;
  const std::string images_path =
      descent::WriteFuzzFile("images.idx", data + 1, images);
  const std::string labels_path =
      descent::WriteFuzzFile("labels.idx", data + 1 + images, rest - images);
  (void)descent::ReadIdxCount(images_path);
  (void)descent::ReadIdxCount(labels_path);
  (void)descent::ReadIdx(images_path, labels_path, 10);
  (void)descent::ReadIdxImages(images_path, descent::IndexRange{0, 3});
  return 0;
}
