// The in-memory form of a labelled data set with sparse features, in
// compressed sparse row (CSR) layout, as the LIBSVM reader and the synthetic
// CTR generator produce it. Plain data like Dataset (dataset.h): its
// invariants are what the producers promise, listed below; no
// synchronization (share one across threads only for reading).
#ifndef DESCENT_COMMON_DATA_SPARSE_DATASET_H_
#define DESCENT_COMMON_DATA_SPARSE_DATASET_H_

#include <cstdint>
#include <string>
#include <vector>

#include "common/data/dataset.h"

namespace descent {

// Example i's non-zero features are indices[k] with value values[k] for k in
// [row_offsets[i], row_offsets[i + 1]); its indices are 0-based, below
// num_features and strictly increasing (so sorted and unique). Labels and
// targets follow Dataset's rules: a classification set fills labels, in
// [0, num_classes), and leaves targets empty; a regression set fills
// targets, leaves labels empty and has num_classes 0.
struct SparseDataset {
  int64_t num_examples = 0;
  int64_t num_features = 0;
  int32_t num_classes = 0;
  std::vector<int64_t> row_offsets{0};  // num_examples + 1, starts at 0
  std::vector<int64_t> indices;         // row_offsets.back() entries
  std::vector<float> values;            // row_offsets.back() entries
  std::vector<int32_t> labels;          // num_examples; classification data
  std::vector<float> targets;           // num_examples; regression data
  // Classification data whose file labels were encoded (class_labels.h):
  // class_names[c] is the label class c stands for. Empty where class c
  // is written c.
  std::vector<std::string> class_names;

  // The number of stored features of example i; requires 0 <= i <
  // num_examples.
  int64_t row_size(int64_t i) const {
    return row_offsets[i + 1] - row_offsets[i];
  }
};

// The same examples with every feature stored: num_examples * num_features
// floats, zeros where `sparse` stores nothing. Labels and targets are copied.
inline Dataset ToDense(const SparseDataset& sparse) {
  Dataset dense;
  dense.num_examples = sparse.num_examples;
  dense.num_features = sparse.num_features;
  dense.num_classes = sparse.num_classes;
  dense.features.assign(sparse.num_examples * sparse.num_features, 0.0f);
  for (int64_t i = 0; i < sparse.num_examples; ++i) {
    float* row = dense.features.data() + i * sparse.num_features;
    for (int64_t k = sparse.row_offsets[i]; k < sparse.row_offsets[i + 1];
         ++k) {
      row[sparse.indices[k]] = sparse.values[k];
    }
  }
  dense.labels = sparse.labels;
  dense.targets = sparse.targets;
  dense.class_names = sparse.class_names;
  return dense;
}

}  // namespace descent

#endif  // DESCENT_COMMON_DATA_SPARSE_DATASET_H_
